#!/usr/bin/env bash
# The whole test suite on every supported CPython this machine has (3.11 to 3.15): the Rust
# unit tests of the core crate once, then for each interpreter its own build of ferrotypes
# and the whole pytest suite (feature tests, and that version's own ctypes tests in core and
# full mode). Installs what is missing first, including the Debian unstable root that holds
# 3.14 and 3.15 (scripts/sid-root.sh, cached outside the clone).
#
# Every interpreter not found is named loudly at the start and in the summary; under CI
# (CI=true) a missing one fails the run. Every interpreter runs even when an earlier one
# failed. Exits non-zero if anything failed.
#
#   FERROTYPES_VERSIONS="3.12 3.13"  only these versions
#   PYTHON=/path/to/python           only this interpreter (as before multi-version runs)
#   FERROTYPES_NO_ROOT=1             do not make the Debian root (3.14/3.15 then missing)
#   PYTEST_ARGS="-x -k fastcall"     passed to each pytest run (default: tests -q -ra)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS

# System packages: a C compiler (tests and benches compile small C libraries), zlib
# headers, and debootstrap for the Debian root. apt-get update only runs when something is
# missing.
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in zlib1g-dev debootstrap; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
fi
if ((${#missing[@]})); then
    if command -v apt-get >/dev/null 2>&1; then
        sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        $sudo apt-get update -q
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "test.sh: missing ${missing[*]} and no apt-get; install them by hand" >&2
        exit 1
    fi
fi

# --- which interpreters -------------------------------------------------------------------
declare -a versions=() pythons=()
if [[ -n ${PYTHON:-} ]]; then
    versions=("$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
    pythons=("$PYTHON")
else
    if [[ ${FERROTYPES_NO_ROOT:-0} != 1 ]]; then
        if [[ $(id -u) -eq 0 ]]; then
            bash scripts/sid-root.sh >/dev/null || echo "test.sh: could not make the Debian root (3.14/3.15)" >&2
        else
            echo "test.sh: not root: the Debian root for 3.14/3.15 cannot be made here" >&2
        fi
    fi
    while read -r version path; do
        versions+=("$version")
        pythons+=("$path")
    done < <(bash scripts/pythons.sh)
fi
all_versions=(${FERROTYPES_VERSIONS:-3.11 3.12 3.13 3.14 3.15})
not_found=()
for v in "${all_versions[@]}"; do
    [[ " ${versions[*]} " == *" $v "* ]] || not_found+=("$v")
done
if [[ -z ${PYTHON:-} ]] && ((${#not_found[@]})); then
    echo "!!! test.sh: CPython ${not_found[*]} NOT FOUND: not tested on this machine !!!" >&2
fi
echo "== interpreters: ${versions[*]}"

status=0
declare -A outcome=()
# Versions whose suite is known not to pass yet (tests/known-gaps.txt: "X.Y reason"): they
# run in full and their failures are printed, loudly, but do not fail the run. Every entry
# is an open gap, named in the issue tracker.
declare -A known_gap=()
if [[ -f tests/known-gaps.txt ]]; then
    while read -r v reason; do
        [[ -z $v || $v == \#* ]] && continue
        known_gap[$v]=$reason
    done < tests/known-gaps.txt
fi

echo "== cargo test (core crate; the PyO3 cdylib is tested through pytest)"
if cargo test --workspace --exclude ferrotypes-py; then
    outcome[cargo]="passed"
else
    outcome[cargo]="FAILED"
    status=1
fi

# Clippy over both crates (the extension's build needs an interpreter: the first one found).
# It enforces the workspace lints, among them a `// SAFETY:` comment on every unsafe block.
# A toolchain without clippy cannot get it from here: said loudly, not failed.
if ! cargo clippy --version >/dev/null 2>&1; then
    outcome[clippy]="NOT RUN (no clippy in this Rust toolchain)"
    echo "!!! test.sh: cargo clippy is not installed: the lint run is skipped !!!" >&2
elif ((${#pythons[@]} == 0)); then
    outcome[clippy]="NOT RUN (no interpreter to build the extension against)"
else
    echo "== cargo clippy (both crates, against ${versions[0]})"
    if PYO3_PYTHON=${pythons[0]} CARGO_TARGET_DIR=$PWD/target/clippy \
            cargo clippy --workspace --all-targets -- -D warnings; then
        outcome[clippy]="passed"
    else
        outcome[clippy]="FAILED"
        status=1
    fi
fi

# cargo-fuzz for the bounded fuzz runs of tests/test_fuzz_smoke.py (scripts/fuzz.sh): from
# crates.io, built once per machine (about 3 minutes); it needs the nightly toolchain, which
# cannot be installed from here when it is missing (the smoke test then says so and skips).
if cargo +nightly --version >/dev/null 2>&1; then
    if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
        echo "== installing cargo-fuzz"
        cargo install cargo-fuzz --locked || echo "!!! test.sh: cargo install cargo-fuzz failed: the Rust fuzz smoke run will be skipped !!!" >&2
    fi
else
    echo "!!! test.sh: no nightly Rust toolchain: the Rust fuzz smoke run will be skipped !!!" >&2
fi

# Python test dependencies (the `test` extra in pyproject.toml) and the build backend;
# the third-party ctypes users whose own suites tests/test_third_party.py runs are
# installed from wheels only, where the package publishes one for that version.
install_deps() {
    local py=$1
    local need
    need=$("$py" - <<'PY'
import importlib.util
wanted = {"pycparser": "pycparser>=2.21",  # runtime dependency (ferrotypes.cdef)
          "pytest": "pytest", "hypothesis": "hypothesis", "numpy": "numpy", "cffi": "cffi",
          "maturin": "maturin>=1.5,<2"}
print(" ".join(spec for name, spec in wanted.items() if importlib.util.find_spec(name) is None))
PY
)
    if [[ -n $need ]]; then
        # shellcheck disable=SC2086  # a list of requirement specs
        "$py" -m pip install -q $need
    fi
    local optional
    optional=$("$py" - <<'PY'
import importlib.util
wanted = {"llvmlite": "llvmlite", "numba": "numba", "sdl2": "pysdl2", "sdl2dll": "pysdl2-dll",
          "atheris": "atheris"}  # atheris: the coverage-guided fuzz smoke run
print(" ".join(spec for name, spec in wanted.items() if importlib.util.find_spec(name) is None))
PY
)
    # A package that does not install is told apart: no wheel on the index for this
    # interpreter (its suite is skipped as "no X wheel for CPython X.Y"), or a wheel that
    # failed to install (pip's error is shown; the suite is skipped saying so). pytest gets
    # both lists (FERROTYPES_NO_WHEEL, FERROTYPES_INSTALL_FAILED) for the skip reasons.
    no_wheel=()
    install_failed=()
    local spec version log scratch
    version=$("$py" -c 'import sys; print(sys.version.split()[0])')
    for spec in $optional; do
        log=$(mktemp)
        if ! "$py" -m pip install -q --only-binary=:all: "$spec" >"$log" 2>&1; then
            scratch=$(mktemp -d)
            if "$py" -m pip download -q --only-binary=:all: --no-deps -d "$scratch" "$spec" >/dev/null 2>&1; then
                install_failed+=("$spec")
                echo "test.sh: $spec has a wheel for CPython $version but did not install; its suite is skipped there:"
                grep -v "/opt/wheels' is ignored" "$log" | tail -5
            else
                no_wheel+=("$spec")
                echo "test.sh: $spec publishes no wheel for CPython $version; its suite is skipped there"
            fi
            rm -rf "$scratch"
        fi
        rm -f "$log"
    done
}

gating_passed=0
gating_failed=0
closing_line() {  # closing_line LOG -> pytest's closing line, or what happened instead
    local line
    line=$(grep -E '^[=]* ?[0-9]+ (passed|failed)' "$1" | tail -1 | tr -d '=' || true)
    echo "${line:-no closing line: pytest crashed or was killed, see $1}"
}
count_in() {  # count_in WORD LOG -> the number before WORD in pytest's closing line
    local n
    n=$(grep -E '^[=]* ?[0-9]+ (passed|failed)' "$2" | tail -1 | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || true)
    echo "${n:-0}"
}
fuzz_ran=""
for i in "${!versions[@]}"; do
    v=${versions[$i]}
    py=${pythons[$i]}
    echo
    echo "================ CPython $v ($py)"
    tag=cp${v/./}
    if ! install_deps "$py"; then
        outcome[$v]="FAILED (installing test dependencies)"
        status=1
        continue
    fi
    if ! PYTHON=$py CARGO_TARGET_DIR=$PWD/target/$tag bash scripts/build.sh; then
        outcome[$v]="FAILED (build)"
        status=1
        continue
    fi
    log=target/pytest-$tag.log
    # The Rust fuzz targets do not depend on the interpreter: tests/test_fuzz_smoke.py runs
    # them once, with the first interpreter whose environment can build them (libfuzzer-sys
    # needs a C++ compiler, which the Debian root of 3.14/3.15 does not have).
    if [[ -z $fuzz_ran ]] && "$py" -c 'import shutil, sys; sys.exit(shutil.which("c++") is None)'; then
        fuzz_ran=$v
        export FERROTYPES_FUZZ_RUST=1
    elif [[ -z $fuzz_ran && $i == $((${#versions[@]} - 1)) ]]; then
        export FERROTYPES_FUZZ_RUST=1  # none could: the last one reports it as not run
    else
        export FERROTYPES_FUZZ_RUST=0
    fi
    # shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
    if FERROTYPES_NO_WHEEL="${no_wheel[*]}" FERROTYPES_INSTALL_FAILED="${install_failed[*]}" \
            "$py" -m pytest ${PYTEST_ARGS:-tests -q -ra} 2>&1 | tee "$log"; then
        gating_passed=$((gating_passed + $(count_in passed "$log")))
        outcome[$v]="passed: $(closing_line "$log")"
    elif [[ -n ${known_gap[$v]:-} ]]; then
        outcome[$v]="KNOWN GAP, not failing the run (${known_gap[$v]}): $(closing_line "$log")"
    else
        outcome[$v]="FAILED: $(closing_line "$log")"
        gating_passed=$((gating_passed + $(count_in passed "$log")))
        gating_failed=$((gating_failed + $(count_in failed "$log") + $(count_in error "$log")))
        status=1
    fi
done

echo
echo "================ summary ($(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s)"
echo "cargo (core crate): ${outcome[cargo]}"
echo "clippy: ${outcome[clippy]}"
for v in "${all_versions[@]}"; do
    if [[ -n ${outcome[$v]:-} ]]; then
        echo "CPython $v: ${outcome[$v]}"
    elif [[ -z ${PYTHON:-} ]]; then
        echo "CPython $v: NOT FOUND, not tested"
    fi
done
if [[ -z ${PYTHON:-} ]] && ((${#not_found[@]})) && [[ ${CI:-} == true ]]; then
    echo "test.sh: CI must test every supported CPython; missing: ${not_found[*]}" >&2
    status=1
fi
# One closing line over every interpreter whose result decides the run (known gaps are in
# the summary above).
((status)) && ((gating_failed == 0)) && gating_failed=1
if ((status)); then
    echo "test.sh: FAILED" >&2
else
    echo "test.sh: all passed"
fi
echo "total: $gating_passed passed, $gating_failed failed"
exit "$status"
