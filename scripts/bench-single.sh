#!/usr/bin/env bash
# bench-single.sh -- what `make bench-single` does: start a fresh
# single-node coordd on 127.0.0.1 (free port, temp data dir), run the
# coordbench series of docs/benchmarks.md "Single node (coordd)" against
# it, stop it by PID (also on failure or Ctrl-C), and print a Markdown
# table. Raw one-line results go to $BUILD/bench-single.txt.
#
#   BENCH_SECONDS=10   measured window of each run (plus BENCH_WARMUP=2)
#   BENCH_RUNS="..."   subset of run names (default: all, in order below)
#   BENCH_LOG_LEVEL=info   coordd's log level; its log is kept in
#                      $BUILD/bench-single-coordd.log
#
# It measures; it does not tune or check anything (test/bench/coordbench/
# smoke.sh is the test).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
COORDD=${COORDD_BIN:-$BUILD/bin/coordd}
BENCH=$BUILD/bin/coordbench
SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
OUT=$BUILD/bench-single.txt

# name | coordbench options
RUNS=(
    "set-1x1|--op=set --connections=1 --outstanding=1"
    "set-16x16|--op=set --connections=16 --outstanding=16"
    "set-64x16|--op=set --connections=64 --outstanding=16"
    "create-delete-64x16|--op=create-delete --connections=64 --outstanding=16"
    "get-64x16|--op=get --connections=64 --outstanding=16"
    "get-local-64x16|--op=get-local --connections=64 --outstanding=16"
    "mix-90/10-64x16|--op=mix --read-pct=90 --connections=64 --outstanding=16"
)

dir=$(mktemp -d /tmp/coord-bench-single.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 200); do # up to 10 s, then SIGKILL
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    cp "$dir/coordd.log" "$BUILD/bench-single-coordd.log" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$("$BENCH" --free-port)
"$COORDD" --client-listen=127.0.0.1:"$port" --data-dir="$dir/data" \
    --log-level="${BENCH_LOG_LEVEL:-info}" >"$dir/coordd.log" 2>&1 &
pid=$!
for _ in $(seq 200); do # poll until it serves, at most 10 s
    "$BENCH" --servers=127.0.0.1:"$port" --duration=0.01 --warmup=0 \
        --keys=1 --timeout-ms=200 --format=kv >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/coordd.log"; exit 1; }
done
echo "coordd pid $pid on 127.0.0.1:$port, data in $dir; ${SECS}s per run" \
    "after ${WARMUP}s warm-up; $(nproc) CPUs; $(date -u +%FT%TZ)"
: >"$OUT"

# value of key $2 in the kv line $1
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

printf '| run | ops/s | p50 us | p90 us | p99 us | p99.9 us | max us |'
printf ' server CPU us/op | fsyncs/op | client CPU us/op | errors |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for r in "${RUNS[@]}"; do
    name=${r%%|*}
    opts=${r#*|}
    if [ -n "${BENCH_RUNS:-}" ] && [[ " $BENCH_RUNS " != *" $name "* ]]; then
        continue
    fi
    # shellcheck disable=SC2086
    line=$("$BENCH" --servers=127.0.0.1:"$port" --server-pid="$pid" \
        --duration="$SECS" --warmup="$WARMUP" --format=kv $opts \
        2> >(sed "s|^|$name: |" >&2)) ||
        { echo "coordbench failed on $name"; exit 1; }
    echo "run=$name $line" >>"$OUT"
    extra=
    [ -n "$(kv "$line" pairs_per_s)" ] &&
        extra=" ($(kv "$line" pairs_per_s) pairs/s)"
    printf '| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$name" "$(kv "$line" ops_per_s)" "$extra" "$(kv "$line" p50_us)" \
        "$(kv "$line" p90_us)" "$(kv "$line" p99_us)" \
        "$(kv "$line" p999_us)" "$(kv "$line" max_us)" \
        "$(kv "$line" server_cpu_us_per_op)" \
        "$(kv "$line" server_fsyncs_per_op)" \
        "$(kv "$line" client_cpu_us_per_op)" "$(kv "$line" errors)"
done
echo "raw results: $OUT"
