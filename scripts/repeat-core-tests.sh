#!/usr/bin/env bash
# Runs the core crate's whole test suite (unit tests and integration tests, the fault-guard
# stress test included) N times in a row and counts the runs that crashed or failed.
# The evidence for "no crash by chance": run it with the machine loaded (--load starts one
# busy loop per core for the duration, beside whatever else runs).
#
#   bash scripts/repeat-core-tests.sh [--load] [N]      (default N = 1000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
load=0
if [[ ${1:-} == --load ]]; then
    load=1
    shift
fi
runs=${1:-1000}
# The stress test's length per run (ms): short, since the suite itself repeats.
export FERROTYPES_STRESS_MS=${FERROTYPES_STRESS_MS:-200}

mapfile -t binaries < <(cargo test -p ferrotypes-core --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
((${#binaries[@]})) || { echo "repeat-core-tests.sh: no test binaries built" >&2; exit 1; }

pids=()
if ((load)); then
    for _ in $(seq "$(nproc)"); do
        (while :; do :; done) &
        pids+=($!)
    done
fi
cleanup() { ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null; true; }
trap cleanup EXIT

failed=0
crashed=0
log=$(mktemp)
for ((i = 1; i <= runs; i++)); do
    for bin in "${binaries[@]}"; do
        rc=0
        "$bin" -q >"$log" 2>&1 || rc=$?
        if ((rc > 128)); then
            crashed=$((crashed + 1))
            echo "run $i: $(basename "$bin") died with signal $((rc - 128))"
            tail -5 "$log"
        elif ((rc != 0)); then
            failed=$((failed + 1))
            echo "run $i: $(basename "$bin") failed"
            grep -E "panicked|FAILED" "$log" | head -5
        fi
    done
    ((i % 100 == 0)) && echo "... $i runs, $crashed crashed, $failed failed; load average $(cut -d" " -f1-3 /proc/loadavg)"
done
rm -f "$log"
echo "$runs runs of ${#binaries[@]} test binaries (load: $load): $crashed crashed, $failed failed"
((crashed == 0 && failed == 0))
