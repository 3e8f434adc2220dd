#!/usr/bin/env bash
# long.sh -- `make fault-long`: long, varied fault schedules. Runs the
# runner with every fault kind on 5- and 3-node clusters, each with a
# fresh seed (printed; rerun one with the command the runner prints), and
# sums the results. FAULT_RUNS (default 4) runs of FAULT_DURATION seconds
# (default 300) each; FAULT_SEED fixes the first seed.
set -u
cd "$(dirname "$0")/../.."
runs=${FAULT_RUNS:-4}
duration=${FAULT_DURATION:-300}
seed=${FAULT_SEED:-$(( $(date +%s) % 1000000 ))}
pass=0
fail=0
failed=()
log=$(mktemp /tmp/coord-fault-long.XXXXXX)
trap 'rm -f "$log"' EXIT
for ((i = 0; i < runs; i++)); do
    nodes=$(( i % 2 == 0 ? 5 : 3 ))
    s=$(( seed + i ))
    echo "=== run $((i + 1))/$runs: seed $s, $nodes nodes, ${duration}s, all faults"
    build/test/fault/runner --seed "$s" --nodes "$nodes" \
        --duration "$duration" --workers 8 --lockers 2 --eph 4 \
        --faults all --fault-ms 2000-10000 --heal-ms 2000-8000 \
        --think-ms 2 >"$log" 2>&1 &
    tail -f --pid=$! "$log" | grep --line-buffered -vE '^ephemeral owner '
    wait $!
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    p=$(printf '%s' "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    [ -z "$line" ] && { p=0; f=1; }
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    pass=$((pass + p))
    fail=$((fail + f))
    [ "$f" -ne 0 ] && failed+=("seed $s ($nodes nodes)")
done
[ ${#failed[@]} -gt 0 ] && echo "failed runs: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
