#!/usr/bin/env bash
# short.sh -- the fault suite's short run for `make test` (mk/fault.mk): a
# 5-node cluster, leader kills and partitions (majority/minority, isolated
# leader, bridge, one-way), leader pauses and power loss, about 45 s of
# nemesis (under a minute in all on an idle machine), fixed seed so CI
# repeats one schedule (the processes' timing still varies).
# Prints the runner's "check ..." lines and its "N passed, N failed" line.
# Fails (never skips) when not root or without unshare/iptables.
set -u
cd "$(dirname "$0")/../.."
exec build/test/fault/runner --seed "${FAULT_SEED:-1}" --nodes 5 \
    --duration "${FAULT_DURATION:-45}" --workers 6 --lockers 2 --eph 4 \
    --faults kill-leader,partition,pause,power --think-ms 1
