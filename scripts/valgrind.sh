#!/usr/bin/env bash
# Runs part of the ferrotypes test suite under valgrind's memcheck and fails if any
# invalid read/write, invalid free or use of an uninitialised value happens in ferrotypes
# code: a frame of the ferrotypes `_ctypes.cpython-311*.so` on the stack above the
# innermost Python interpreter loop (so in ferrotypes or in something it called). Errors
# elsewhere (CPython, libc, the stdlib _ctypes) are counted and listed, not failed on.
# VALGRIND_ORIGINS=1 adds --track-origins=yes (slower): where an uninitialised value came
# from, which can be ferrotypes memory even when the use is in CPython.
#
#   bash scripts/valgrind.sh                 # the default selection (~7-17 min)
#   bash scripts/valgrind.sh --quick         # two small test files, one conformance module
#
# PYTHON (default: python3) must have ferrotypes and pytest installed (scripts/build.sh).
# The interpreter run under valgrind is the real binary (`sys.executable`): `python3` on
# PATH may be a pyenv shim script, which valgrind would trace instead of Python.
# PYTHONMALLOC=malloc routes Python's allocations through malloc, so memcheck sees them.
# Logs (one XML file per process) stay in $VALGRIND_OUT (default: a temporary directory).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

exe=$("$PYTHON" -c 'import sys; print(sys.executable)')
out=${VALGRIND_OUT:-$(mktemp -d /tmp/ferrotypes-valgrind.XXXXXX)}
mkdir -p "$out"

pytest_files=(tests/test_memory.py tests/test_structures.py tests/test_callbacks.py tests/test_scalars.py
              tests/test_fastcall.py)
conformance=(test_structures test_callbacks test_pointers test_arrays test_functions
             test_as_parameter test_cast test_memfunctions test_bitfields test_keeprefs)
if [[ ${1:-} == --quick ]]; then
    pytest_files=(tests/test_memory.py tests/test_structures.py tests/test_fastcall.py)
    conformance=(test_structures)
fi

# --show-leak-kinds=none: with --xml=yes, valgrind 3.19 reports leaks despite
# --leak-check=no (14,000 records, 250 MB of XML for the pytest run).
vg=(valgrind --tool=memcheck --leak-check=no --show-leak-kinds=none --error-limit=no --num-callers=40
    --child-silent-after-fork=yes --suppressions=scripts/valgrind-python.supp --xml=yes)
[[ ${VALGRIND_ORIGINS:-0} == 1 ]] && vg+=(--track-origins=yes)
export PYTHONMALLOC=malloc

started=$SECONDS
status=0
echo "valgrind.sh: $exe, logs in $out"
echo "== pytest ${pytest_files[*]}"
"${vg[@]}" --xml-file="$out/pytest.%p.xml" "$exe" -m pytest -q -p no:cacheprovider "${pytest_files[@]}" \
    --deselect tests/test_fastcall.py::test_gil_released_by_default_and_kept_on_request \
    || status=1
for module in "${conformance[@]}"; do
    echo "== conformance (full) $module"
    "${vg[@]}" --xml-file="$out/conformance-$module.%p.xml" \
        "$exe" tests/conformance/runner.py --mode full "$module" >"$out/$module.json" 2>"$out/$module.stderr" \
        || { echo "   failed: see $out/$module.stderr"; status=1; }
done
elapsed=$((SECONDS - started))

# Classify the errors: one <error> per distinct error, <errorcounts> says how often.
"$exe" - "$out" "$elapsed" <<'PY' || status=1
import glob, os, sys
import xml.etree.ElementTree as ET

out, elapsed = sys.argv[1], int(sys.argv[2])

def is_ferrotypes(frame):
    obj = frame.findtext("obj") or ""
    return "/ferrotypes/" in obj and "/_ctypes" in obj


def in_ferrotypes(frames):
    """A ferrotypes frame above the innermost interpreter loop: the error happened in
    ferrotypes or in what it called (libc, the C API, libffi, a test library), not in
    Python code that ferrotypes' module set-up or a callback happens to run."""
    for frame in frames:
        if is_ferrotypes(frame):
            return True
        if frame.findtext("fn") == "_PyEval_EvalFrameDefault":
            return False
    return False

total = ours = 0
listed = []
for path in sorted(glob.glob(os.path.join(out, "*.xml"))):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:          # a process killed mid-write
        print(f"valgrind.sh: unreadable {path}: {exc}")
        continue
    counts = {pair.findtext("unique"): int(pair.findtext("count"))
              for pair in root.iter("pair")}
    for error in root.iter("error"):
        if error.findtext("kind").startswith("Leak_"):
            continue                      # not asked for (--leak-check=no)
        n = counts.get(error.findtext("unique"), 1)
        total += n
        frames = error.find("stack").findall("frame") if error.find("stack") is not None else []
        mine = in_ferrotypes(frames)
        if mine:
            ours += n
        what = error.findtext("kind") + ": " + (error.findtext("what") or error.findtext("xwhat/text") or "")
        top = [f"{f.findtext('fn') or '?'} ({os.path.basename(f.findtext('obj') or '?')})" for f in frames[:8]]
        listed.append((mine, n, os.path.basename(path), what, top))

for mine, n, where, what, top in sorted(listed, key=lambda e: not e[0]):
    print(f"{'FERROTYPES' if mine else 'elsewhere '} x{n} [{where}] {what}")
    for line in top:
        print(f"      {line}")
print(f"valgrind.sh: {total} errors in total, {ours} in ferrotypes code, {elapsed} s")
sys.exit(1 if ours else 0)
PY
exit "$status"
