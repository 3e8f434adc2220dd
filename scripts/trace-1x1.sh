#!/usr/bin/env bash
# trace-1x1.sh -- the per-hop timeline of 1x1 writes (docs/benchmarks.md
# "1x1 write latency against the floor"): starts a fresh 3-node cluster
# (free ports, temp data dirs), runs coordbench set 1x1 against the
# leader, records scheduler and syscall tracepoints of the whole machine
# for TRACE_SECONDS with `perf record -a` (needs root or
# perf_event_paranoid <= -1), stops every node by PID, and prints the
# median of each hop of a write (scripts/trace-1x1-hops.py): client send,
# leader wake, APPEND sent, follower wake, follower durable write in/out
# (the log segment's O_DIRECT pwrite64, or fdatasync), its
# worker's eventfd write, follower loop wake, APPEND_RESP sent, leader
# wake, reply sent, client wake. It measures; it changes nothing.
# The hops model a storage thread that makes each write durable (trace
# that path with COORDD_EXTRA=--log-aio=false); with log_aio on (the
# default since session 7) most writes start from the loop with
# io_submit, and scripts/trace-1x1-aio.py prints that path's steps.
#
#   BUILD=build  TRACE_SECONDS=1  TRACE_OUT=$BUILD/trace-1x1
#   COORDD_EXTRA=""  extra coordd flags for every node
#   TRACE_TARGET=leader  or follower: the member coordbench talks to
#                    (trace-1x1-hops.py and trace-1x1-aio.py follow the
#                    leader's path only; the follower's is raw in .txt)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
COORDD=${COORDD_BIN:-$BUILD/bin/coordd}
BENCH=$BUILD/bin/coordbench
CTL=$BUILD/bin/coordctl
SECS=${TRACE_SECONDS:-1}
OUT=${TRACE_OUT:-$BUILD/trace-1x1}
dir=$(mktemp -d /tmp/coord-trace.XXXXXX)
# perf writes its data to memory, not to the disk the nodes fsync on.
data=$(mktemp /dev/shm/coord-trace.XXXXXX)
pids=()
benchpid=
cleanup() {
    [ -z "$benchpid" ] || kill "$benchpid" 2>/dev/null || true
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir" "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/cluster-addrs.sh
. scripts/cluster-addrs.sh
cluster_addrs "$BENCH"
for i in 1 2 3; do
    # shellcheck disable=SC2086
    "$COORDD" --node-id="$i" --members="$members" --data-dir="$dir/d$i" \
        ${COORDD_EXTRA:-} >>"$dir/n$i.log" 2>&1 &
    pids+=($!)
done
leader=
for _ in $(seq 300); do
    leader=$("$CTL" --servers="$servers" --timeout=1000 --json status \
        2>/dev/null | grep '"role":"leader"' | head -1 |
        sed -n 's/.*"id":\([0-9]*\).*/\1/p' || true)
    [ -z "$leader" ] || break
    sleep 0.1
done
[ -n "$leader" ] || { echo "no leader"; exit 1; }
target=$leader
if [ "${TRACE_TARGET:-leader}" = follower ]; then
    target=$((leader % 3 + 1))
fi
"$BENCH" --servers="$(addr_of "$target")" --op=set --connections=1 \
    --outstanding=1 --duration=$((SECS + 3)) --warmup=1 >"$OUT.bench" &
benchpid=$!
sleep 2 # into the measured window: the trace starts mid-run
ev=sched:sched_switch,sched:sched_wakeup
for s in enter_fdatasync exit_fdatasync enter_pwrite64 exit_pwrite64 \
    enter_sendto exit_read enter_write \
    enter_futex enter_epoll_wait exit_epoll_wait enter_poll exit_poll \
    enter_io_submit exit_io_submit enter_io_getevents; do
    ev+=",syscalls:sys_$s"
done
perf record -q -a -o "$data" -e "$ev" --exclude-perf -- sleep "$SECS" \
    >/dev/null 2>&1
bpid=$benchpid
wait "$benchpid"
benchpid=
perf script -i "$data" -F comm,pid,tid,cpu,time,event,trace 2>/dev/null |
    sed 's/syscalls://; s/sched://' >"$OUT.txt"
echo "pids=${pids[*]} leader_pid=${pids[$((leader - 1))]}" \
    "bench_pid=$bpid target_pid=${pids[$((target - 1))]}" >"$OUT.env"
grep -E '^(ops_per_s|p50_us|p99_us) ' "$OUT.bench" || true
if grep -q 'sys_enter_io_submit' "$OUT.txt"; then
    python3 scripts/trace-1x1-aio.py "$OUT"
else
    python3 scripts/trace-1x1-hops.py "$OUT"
fi
