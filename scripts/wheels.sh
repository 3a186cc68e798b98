#!/usr/bin/env bash
# Builds a release wheel of ferrotypes for every supported CPython this machine has (3.11 to
# 3.15, found by scripts/pythons.sh), installs each into a fresh venv of its interpreter
# (no site-packages: the wheel and its dependency pycparser only) and runs that version's
# whole ctypes test suite there in stock, core and full mode (tests/conformance/run_all.py,
# standard library only). Prints a table: version, wheel, platform tag, and the conformance
# counts.
#
# Each wheel is built with its own interpreter, by `python -m maturin build --release`, in
# the workspace's release profile (any CARGO_PROFILE_RELEASE_* overrides in the caller's
# environment are dropped). The interpreters of the Debian root (3.14, 3.15; see
# scripts/sid-root.sh) are launchers: maturin, cargo, the venv and the test run all happen
# inside the root, on its glibc, with the work tree mounted at the same path.
#
# The platform tag is maturin's own audit: the lowest manylinux policy whose symbol
# versions the extension satisfies. This script checks it against the GLIBC_x.y versions
# the extension really imports (objdump) and fails a wheel whose tag promises an older
# glibc than it needs. The tag follows the glibc the wheel is built on: on the host
# (glibc 2.36 here) the floor is manylinux_2_34, where dlopen/dlsym and the pthread
# functions the extension uses moved into libc.so.6 with new symbol versions; in the Debian
# root (glibc 2.38+) the bundled libffi's one sscanf call also binds C23's
# __isoc23_sscanf@GLIBC_2.38, because libffi defines _GNU_SOURCE, which turns on C23's
# scanf there whatever -std says, so those wheels are manylinux_2_38. A wheel for older
# systems must be built on an older glibc (a manylinux container, or maturin --zig).
#
# Output under target/wheels/ (git-ignored): the wheels, venvs/cpXY (the test venvs),
# build/cpXY (one cargo target directory per version, kept warm), conformance-cpXY.json.
#
#   FERROTYPES_VERSIONS="3.11 3.14"   only these versions (as for pythons.sh)
#   FERROTYPES_MANYLINUX=manylinux_2_34  ask maturin for this tag (--compatibility)
#   FERROTYPES_JOBS=2                 conformance subprocesses at a time (default 2)
#
# Exit status: 0 every wheel built, installed and conforms; 1 a wheel failed to build,
# install or import, or carries a dishonest tag; 2 every wheel is fine but some version's
# conformance run has failures (the table and the list below it say which).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
top=$PWD
out=$top/target/wheels
mkdir -p "$out/venvs" "$out/build"
for var in $(compgen -e | grep '^CARGO_PROFILE_RELEASE_' || true); do
    echo "wheels.sh: ignoring $var=${!var} (wheels use the workspace's release profile)"
    unset "$var"
done
jobs=${FERROTYPES_JOBS:-2}

declare -a versions=() pythons=()
while read -r version path; do
    versions+=("$version")
    pythons+=("$path")
done < <(bash scripts/pythons.sh)
all_versions=(${FERROTYPES_VERSIONS:-3.11 3.12 3.13 3.14 3.15})

# in_python PY PROGRAM ARGS...: run PROGRAM where PY runs (inside the Debian root for its
# launchers, as is for a plain interpreter). PY execs it, so nothing else is needed.
in_python() {
    local py=$1
    shift
    "$py" -c 'import os, sys; os.execv(sys.argv[1], sys.argv[1:])' "$@"
}

# The highest GLIBC_2.N the extension in WHEEL imports, and the tag's glibc, as "2.N 2.M".
glibc_check() {
    "$1" - "$2" <<'PY'
import re, subprocess, sys, tempfile, zipfile
wheel = sys.argv[1]
tag = re.search(r"manylinux_(\d+)_(\d+)_", wheel)
with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if re.search(r"/_ctypes[^/]*\.so$", n))
    so = zf.extract(name, tmp)
    try:
        dump = subprocess.run(["objdump", "-T", so], capture_output=True, text=True).stdout
    except FileNotFoundError:
        print("? ?")
        sys.exit(0)
needed = max((tuple(map(int, m)) for m in re.findall(r"GLIBC_(\d+)\.(\d+)", dump)), default=(0, 0))
print("%d.%d %s" % (*needed, "%s.%s" % tag.groups() if tag else "-"))
PY
}

status=0
declare -A row=() problems=()
for i in "${!versions[@]}"; do
    v=${versions[$i]}
    py=${pythons[$i]}
    tag=cp${v/./}
    echo
    echo "================ CPython $v ($py)"

    # --- build ------------------------------------------------------------------------
    builder=$("$py" -c 'import sys; print(sys.executable)')
    if ! "$py" -c 'import maturin' >/dev/null 2>&1; then
        # No maturin in this interpreter: a build venv of its own (never its site-packages).
        bvenv=$out/venvs/build-$tag
        if [[ ! -x $bvenv/bin/python ]] || ! in_python "$py" "$bvenv/bin/python" -c 'import maturin' 2>/dev/null; then
            "$py" -m venv --clear "$bvenv" && in_python "$py" "$bvenv/bin/python" -m pip install -q \
                --disable-pip-version-check 'maturin>=1.5,<2' \
                || { row[$v]="FAILED: no maturin"; status=1; continue; }
        fi
        builder=$bvenv/bin/python
    fi
    rm -f "$out"/ferrotypes-*-"$tag"-"$tag"-*.whl
    compat=()
    [[ -n ${FERROTYPES_MANYLINUX:-} ]] && compat=(--compatibility "$FERROTYPES_MANYLINUX")
    log=$out/build-$tag.log
    CARGO_TARGET_DIR=$out/build/$tag in_python "$py" "$builder" -m maturin build --release \
        -i "$builder" "${compat[@]}" --out "$out" >"$log" 2>&1
    tail -1 "$log"
    wheel=$(ls "$out"/ferrotypes-*-"$tag"-"$tag"-*.whl 2>/dev/null | head -1)
    if [[ -z $wheel ]]; then
        echo "wheels.sh: CPython $v: the wheel did not build; last lines of $log:" >&2
        tail -20 "$log" >&2
        row[$v]="FAILED: build (see ${log#$top/})"
        status=1
        continue
    fi
    wheel_name=$(basename "$wheel")
    platform=${wheel_name%.whl}
    platform=${platform##*-}
    read -r needed promised < <(glibc_check "$py" "$wheel")
    echo "wheels.sh: $wheel_name: imports up to GLIBC_$needed, tag promises glibc $promised"
    if [[ $needed != "?" && $promised != "-" ]] \
            && [[ $(printf '%s\n%s\n' "$needed" "$promised" | sort -V | tail -1) != "$promised" ]]; then
        row[$v]="FAILED: $platform but needs GLIBC_$needed"
        status=1
        continue
    fi

    # --- install into a fresh venv ------------------------------------------------------
    venv=$out/venvs/$tag
    rm -rf "$venv"
    if ! "$py" -m venv "$venv" \
            || ! in_python "$py" "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"; then
        row[$v]="FAILED: install of $wheel_name"
        status=1
        continue
    fi
    # Imported in isolated mode (no script directory, PYTHONPATH or user site on the
    # path), it must be the venv's copy. (The cwd stays inside the work tree: the root's
    # launchers mount the work tree the cwd belongs to.)
    if ! where=$(cd "$out" && in_python "$py" "$venv/bin/python" -I -c \
            'import ferrotypes, ferrotypes._ctypes as m; print(m.__file__)') \
            || [[ $where != "$venv"/* ]]; then
        row[$v]="FAILED: import from the venv (got: ${where:-nothing})"
        status=1
        continue
    fi

    # --- conformance ------------------------------------------------------------------
    json=$(in_python "$py" "$venv/bin/python" tests/conformance/run_all.py --jobs "$jobs" \
        --details "$out/conformance-$tag.json" 2>"$out/conformance-$tag.txt" | tail -1)
    counts=$("$py" - "$json" "$venv" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1])
except ValueError:
    print("FAILS - - - no-result-line"); sys.exit()
def cell(m):
    c = r[m]
    return "%d/%d/%d%s" % (c["passed"], c["failed"], c["skipped"],
                           ",crashed=%d" % len(c["crashed"]) if c["crashed"] else "")
stray = [f for m in ("core", "full") for f in r[m]["ctypes_files"] if not f.startswith(sys.argv[2] + "/")]
verdict = "conforms" if r["conforms"] and not stray else "FAILS"
print(verdict, cell("core"), cell("full"),
      "%d/%d" % (r["stock"]["passed"], r["stock"]["skipped"]),
      ("stray:" + ",".join(stray)) if stray else "")
PY
)
    read -r verdict core full stock extra <<<"$counts"
    row[$v]="$wheel_name|$platform|$core|$full|$stock|$verdict${extra:+ $extra}"
    if [[ $verdict != conforms ]]; then
        problems[$v]=$(head -20 "$out/conformance-$tag.txt")
        ((status == 0)) && status=2
    fi
    echo "wheels.sh: CPython $v: $verdict (core $core, full $full, stock $stock passed/skipped)"
done

echo
echo "================ wheels (conformance: passed/failed/skipped per mode; stock: passed/skipped)"
fmt='%-7s  %-56s  %-22s  %-13s  %-13s  %-8s  %s\n'
printf "$fmt" version wheel tag core full stock verdict
for v in "${all_versions[@]}"; do
    if [[ -z ${row[$v]:-} ]]; then
        printf "$fmt" "$v" "NOT FOUND (scripts/pythons.sh)" "" "" "" "" ""
    elif [[ ${row[$v]} == FAILED* ]]; then
        printf "$fmt" "$v" "${row[$v]}" "" "" "" "" ""
    else
        IFS='|' read -r w p c f s verdict <<<"${row[$v]}"
        printf "$fmt" "$v" "$w" "$p" "$c" "$f" "$s" "$verdict"
    fi
done
for v in "${all_versions[@]}"; do
    if [[ -n ${problems[$v]:-} ]]; then
        echo
        echo "CPython $v does not conform (first lines of target/wheels/conformance-cp${v/./}.txt):"
        echo "${problems[$v]}"
    fi
done
echo "wheels in ${out#$top/}/"
exit "$status"
