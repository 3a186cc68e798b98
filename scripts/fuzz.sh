#!/usr/bin/env bash
# Builds and runs every fuzz target for a bounded time; exits non-zero on any crash.
#
#   bash scripts/fuzz.sh [--seconds N] [--rust-only | --python-only] [TARGET ...]
#
# Targets (fuzz/README.md): the cargo-fuzz targets `layout` and `classify` (nightly Rust,
# libFuzzer, AddressSanitizer) and the atheris harnesses `cdef` and `convert` (the Python
# in $PYTHON, default python3, with ferrotypes installed). Each runs N seconds (default
# 20) from its committed corpus, fuzz/corpus/<target>/, and the inputs that once failed,
# fuzz/regressions/<target>/; what it adds goes to a scratch
# copy, so the committed corpus only changes by hand (fuzz/README.md: minimizing). A
# failing input is kept in $FUZZ_ARTIFACTS (default target/fuzz-artifacts/) and printed;
# each fuzzer's whole log goes there too (<target>.log).
#
# Needs `cargo +nightly` and cargo-fuzz for the Rust targets (scripts/test.sh installs
# cargo-fuzz) and atheris for the Python ones; without atheris a harness replays its
# corpus once instead, and says so. Fuzzers run under `nice -n $FUZZ_NICE` (default 19, for
# long runs beside other work; tests/test_fuzz_smoke.py sets 0: a bounded CI run at the lowest
# priority starves while other processes keep the cores busy, and its time limit is wall time). The Rust build goes to
# $FUZZ_TARGET_DIR (default ~/.cache/ferrotypes-fuzz-target, outside the clone, so CI
# reuses it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
seconds=20
which=all
targets=()
while (($#)); do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --seconds=*) seconds=${1#*=}; shift ;;
        --rust-only) which=rust; shift ;;
        --python-only) which=python; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
PYTHON=${PYTHON:-python3}
artifacts=${FUZZ_ARTIFACTS:-$root/target/fuzz-artifacts}
target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/ferrotypes-fuzz-target}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
started=$SECONDS
status=0
summary=()

wanted() {
    local t=$1 kind=$2
    if ((${#targets[@]})); then
        [[ " ${targets[*]} " == *" $t "* ]]
    else
        [[ $which == all || $which == "$kind" ]]
    fi
}

# "<executions> execs, cov <n>, ft <n>" from a libFuzzer log.
stats() {
    local log=$1 execs cov
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
    cov=$(grep -E '#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 \
        | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1, ft \2/')
    echo "${execs:-?} execs, ${cov:-no coverage line}"
}

run_fuzzer() {  # name log command...
    local name=$1 log=$2
    shift 2
    echo "== fuzz $name (${seconds} s)"
    local kept="$artifacts/${name%% *}.log"
    if nice -n "${FUZZ_NICE:-19}" "$@" >"$log" 2>&1; then
        summary+=("$name: passed, $(stats "$log") (log: $kept)")
    else
        status=1
        summary+=("$name: FAILED, $(stats "$log") (log: $kept)")
        grep -E 'panicked at|ERROR: |Error:|failing input|Test unit written|^SUMMARY' "$log" | head -20 >&2 || true
    fi
    cp "$log" "$kept"
}

# --- Rust: cargo-fuzz ------------------------------------------------------------------
rust_targets=()
for t in layout classify; do
    wanted "$t" rust && rust_targets+=("$t")
done
if ((${#rust_targets[@]})); then
    if ! cargo +nightly --version >/dev/null 2>&1 || ! cargo +nightly fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: the Rust targets need 'cargo +nightly' and cargo-fuzz (cargo install cargo-fuzz)" >&2
        exit 2
    fi
    echo "== cargo fuzz build (${rust_targets[*]})"
    # One target, or (without a name) all of them in one cargo invocation.
    build_args=()
    ((${#rust_targets[@]} == 1)) && build_args=("${rust_targets[0]}")
    (cd fuzz && nice -n "${FUZZ_NICE:-19}" cargo +nightly fuzz build -O --target-dir "$target_dir" "${build_args[@]}")
    for t in "${rust_targets[@]}"; do
        mkdir -p "$scratch/$t" "fuzz/regressions/$t"
        run_fuzzer "$t" "$scratch/$t.log" \
            bash -c 'cd fuzz && exec cargo +nightly fuzz run -O --target-dir "$1" "$2" "$3" "corpus/$2" \
                "regressions/$2" -- \
                -max_total_time="$4" -max_len=512 -timeout=10 -rss_limit_mb=2048 \
                -print_final_stats=1 -artifact_prefix="$5/$2-"' \
            _ "$target_dir" "$t" "$scratch/$t" "$seconds" "$artifacts"
    done
fi

# --- Python: atheris -------------------------------------------------------------------
for t in cdef convert; do
    wanted "$t" python || continue
    harness=$root/fuzz/python/${t}_fuzz.py
    mkdir -p "$root/fuzz/regressions/$t"
    if "$PYTHON" -c 'import atheris' >/dev/null 2>&1; then
        mkdir -p "$scratch/$t" "$scratch/$t-none"
        # Loading the committed corpus under atheris' instrumentation takes longer than a
        # short run (cdef: ~20 s of CPU for its 373 inputs): a run under 120 s replays the
        # corpus uninstrumented first and fuzzes from the regression inputs only.
        seeds=$root/fuzz/corpus/$t replay=
        if ((seconds < 120)); then
            seeds=$scratch/$t-none replay=$root/fuzz/corpus/$t
        fi
        # From a scratch directory: atheris and libFuzzer write nothing into the clone.
        run_fuzzer "$t" "$scratch/$t.log" \
            bash -c 'cd "$1" && if [[ -n ${10} ]]; then "$2" "$3" --replay "${10}" || exit; fi
                exec "$2" "$3" "$4" "$5" "$6" -max_total_time="$7" -timeout=10 \
                -rss_limit_mb=3072 -max_len=4096 -print_final_stats=1 -artifact_prefix="$8/$9-"' \
            _ "$scratch" "$PYTHON" "$harness" "$scratch/$t" "$seeds" \
            "$root/fuzz/regressions/$t" "$seconds" "$artifacts" "$t" "$replay"
    else
        echo "!!! fuzz.sh: atheris is not importable by $PYTHON: $t replays its corpus only !!!" >&2
        run_fuzzer "$t (replay only, no atheris)" "$scratch/$t.log" \
            "$PYTHON" "$harness" --replay "$root/fuzz/corpus/$t" "$root/fuzz/regressions/$t"
    fi
done

echo
echo "== fuzz summary ($((SECONDS - started)) s)"
printf '%s\n' "${summary[@]}"
if ((status)); then
    echo "fuzz.sh: FAILED (artifacts in $artifacts)" >&2
fi
exit "$status"
