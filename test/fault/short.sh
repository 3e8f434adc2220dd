#!/usr/bin/env bash
# short.sh -- the fault suite's short run for `make test` (mk/fault.mk):
# two schedules with a fixed seed, so CI repeats them (the processes'
# timing still varies): a 5-node cluster for about 45 s of nemesis, then a
# 3-node one for about 30 s -- with 3 voters the leader and any follower
# are a quorum, so followers commit by pair commit (docs/raft.md), which 5
# voters never do. Both: leader kills and partitions (majority/minority,
# isolated leader, bridge, one-way), leader pauses and power loss.
# Prints the runner's "check ..." lines and one "N passed, N failed" line
# summing both runs. Fails (never skips) when not root or without
# unshare/iptables.
set -u
cd "$(dirname "$0")/../.."
pass=0
fail=0
rc=0
run() { # nodes seconds
    local out
    out=$(mktemp /tmp/fault-short.XXXXXX)
    build/test/fault/runner --seed "${FAULT_SEED:-1}" --nodes "$1" \
        --duration "$2" --workers 6 --lockers 2 --eph 4 \
        --faults kill-leader,partition,pause,power --think-ms 1 \
        >"$out" 2>&1 || rc=1
    echo "=== $1 nodes, ${2}s"
    grep -vE '^[0-9]+ passed, [0-9]+ failed' "$out"
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    rm -f "$out"
    if [ -z "$line" ]; then
        echo "the $1-node run printed no result"
        fail=$((fail + 1))
        return
    fi
    pass=$((pass + ${line%% passed*}))
    line=${line#* passed, }
    fail=$((fail + ${line%% failed*}))
}
run 5 "${FAULT_DURATION:-45}"
run 3 "${FAULT_DURATION_3:-30}"
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
