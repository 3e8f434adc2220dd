#!/usr/bin/env bash
# bench-lock.sh -- what `make bench-lock` does: start a fresh 3-node coordd
# cluster on 127.0.0.1, .2 and .3 (free ports, temp data dirs), run
# coordlockbench with each count of contending clients in LOCK_CLIENTS
# (default "1 8 32") against all three members, print a Markdown table
# (docs/benchmarks.md, "Lock"), and stop every node by PID (also on
# failure or Ctrl-C). Raw kv lines go to $BUILD/bench-lock.txt, node logs
# to $BUILD/bench-lock-n{1,2,3}.log.
#
#   BENCH_SECONDS=10   measured window of each run (plus BENCH_WARMUP=1)
#   LOCK_CLIENTS="1 8 32"
#   BENCH_LOG_LEVEL=info   the nodes' log level
#
# It measures; it does not tune or check anything.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
COORDD=${COORDD_BIN:-$BUILD/bin/coordd}
LOCKBENCH=$BUILD/bin/coordlockbench
BENCH=$BUILD/bin/coordbench
SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-1}
CLIENTS=${LOCK_CLIENTS:-1 8 32}
OUT=$BUILD/bench-lock.txt

dir=$(mktemp -d /tmp/coord-bench-lock.XXXXXX)
pids=("" "" "" "")
stop_pid() { # $1: pid; TERM, up to 10 s, then KILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 200); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    for i in 1 2 3; do stop_pid "${pids[$i]}"; done
    for i in 1 2 3; do
        cat "$dir"/n$i.log >"$BUILD/bench-lock-n$i.log" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/cluster-addrs.sh
. scripts/cluster-addrs.sh
cluster_addrs "$BENCH"

for i in 1 2 3; do
    "$COORDD" --node-id="$i" --members="$members" \
        --data-dir="$dir/data$i" --log-level="${BENCH_LOG_LEVEL:-info}" \
        >>"$dir/n$i.log" 2>&1 &
    pids[i]=$!
done

# Every node serves a write sent to it (a coordbench round through it).
end=$(($(date +%s) + 30))
for i in 1 2 3; do
    until "$BENCH" --servers="$(addr_of "$i")" --duration=0.01 --warmup=0 \
        --keys=1 --timeout-ms=500 --format=kv --prefix=/bench-ready \
        >/dev/null 2>&1; do
        kill -0 "${pids[$i]}" 2>/dev/null ||
            { echo "node $i died"; tail -20 "$dir/n$i.log"; exit 1; }
        [ "$(date +%s)" -lt "$end" ] ||
            { echo "node $i not serving after 30 s"; exit 1; }
        sleep 0.1
    done
done

echo "3 nodes (pids ${pids[1]} ${pids[2]} ${pids[3]}) at $servers;" \
    "${SECS}s per run after ${WARMUP}s warm-up; $(nproc) CPUs;" \
    "load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "commit $(git rev-parse --short HEAD 2>/dev/null); $(date -u +%FT%TZ)"
: >"$OUT"

kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

printf '| clients | hand-offs/s | acquire p50 us | p99 us | p99.9 us |'
printf ' max us | per-client hand-offs min..max | errors |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for n in $CLIENTS; do
    line=$("$LOCKBENCH" --servers="$servers" --clients="$n" \
        --duration="$SECS" --warmup="$WARMUP" --path="/bench-lock-$n" \
        --format=kv 2> >(sed "s|^|clients=$n: |" >&2)) ||
        { echo "coordlockbench failed with $n clients"; exit 1; }
    echo "run=lock-$n $line" >>"$OUT"
    errs=$(kv "$line" errors)
    [ "$(kv "$line" token_errors)" = 0 ] ||
        errs="$errs, token_errors $(kv "$line" token_errors)"
    printf '| %s | %s | %s | %s | %s | %s | %s..%s | %s |\n' "$n" \
        "$(kv "$line" handoffs_per_s)" "$(kv "$line" p50_us)" \
        "$(kv "$line" p99_us)" "$(kv "$line" p999_us)" \
        "$(kv "$line" max_us)" "$(kv "$line" client_min_handoffs)" \
        "$(kv "$line" client_max_handoffs)" "$errs"
done
echo "raw results: $OUT"
