#!/usr/bin/env bash
# bench-cluster.sh -- what `make bench-cluster` does: start a fresh 3-node
# coordd cluster on 127.0.0.1, .2 and .3 (free ports, temp data dirs), run
# the coordbench series of docs/benchmarks.md "3-node cluster" against all
# three members (libcoord spreads the connections over them), then measure
# the failover window after kill -9 of the leader FAILOVERS times, and
# stop every node by PID (also on failure or Ctrl-C). Prints Markdown.
# Raw results go to $BUILD/bench-cluster.txt, node logs to
# $BUILD/bench-cluster-n{1,2,3}.log.
#
#   BENCH_SECONDS=10   measured window of each run (plus BENCH_WARMUP=2)
#   BENCH_RUNS="..."   subset of run names (default: all, in order below)
#   FAILOVERS=5        kill -9 rounds (0: none)
#   STOPS=0            SIGSTOP rounds (0: none), after the kill rounds
#   FO_TIMEOUT_MS=2000 coordctl --timeout of each try in failover rounds
#   BENCH_LOG_LEVEL=info   the nodes' log level
#   COORDD_EXTRA=""    extra coordd flags for every node (e.g.
#                      --persist-spin-us=50), printed in the header
#
# Failover window: with a light write load running (coordbench set 1x1,
# 30 s request timeout, in the background), the leader (from `coordctl
# status --json`) is killed with SIGKILL; right after, a loop of `coordctl
# --servers=<all three> --timeout=$FO_TIMEOUT_MS set /bench-fo x` runs
# until one succeeds (a try bounds connecting and the request by that
# timeout). The window is the wall time (date +%s%N) from just before the
# kill to that success's exit -- an upper bound, as it includes coordctl's
# own start, connect and session creation (see "coordctl set baseline",
# measured the same way with no kill, which is printed alongside). The
# killed node is then restarted; the next round waits until every node
# serves a write sent to it (coordbench round through that node alone)
# and `coordctl status` names a leader.
#
# SIGSTOP rounds measure the same window for a hung leader: its process
# stops but its TCP connections stay open and the kernel still accepts
# connections on its ports, so a client that reaches it (a fresh coordctl
# picks one of the three servers at random) must notice the silence by
# its own timeouts (libcoord's connect+handshake deadline of 1 s per
# server, then the next server of its shuffled list) and move on. A try
# timeout below that deadline would end every try that drew the hung
# server before libcoord gives up on it, hence 2000 ms. The stopped
# node gets SIGCONT after the round and rejoins as a follower.
#
# It measures; it does not tune or check anything.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
COORDD=${COORDD_BIN:-$BUILD/bin/coordd}
BENCH=$BUILD/bin/coordbench
CTL=$BUILD/bin/coordctl
SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
FAILOVERS=${FAILOVERS:-5}
STOPS=${STOPS:-0}
FO_TIMEOUT_MS=${FO_TIMEOUT_MS:-2000}
OUT=$BUILD/bench-cluster.txt

# name | coordbench options
# A run whose options hold --servers=LEADER or --servers=FOLLOWER talks
# to that one member only (found with coordctl status just before it).
RUNS=(
    "set-1x1|--op=set --connections=1 --outstanding=1"
    "set-1x1-leader|--op=set --connections=1 --outstanding=1 --servers=LEADER"
    "set-1x1-follower|--op=set --connections=1 --outstanding=1
        --servers=FOLLOWER"
    "set-1x1-prefer-leader|--op=set --connections=1 --outstanding=1
        --prefer-leader"
    "set-16x16|--op=set --connections=16 --outstanding=16"
    "set-64x16|--op=set --connections=64 --outstanding=16"
    "create-delete-64x16|--op=create-delete --connections=64 --outstanding=16"
    "get-64x16|--op=get --connections=64 --outstanding=16"
    "get-local-64x16|--op=get-local --connections=64 --outstanding=16"
    "mix-90/10-64x16|--op=mix --read-pct=90 --connections=64 --outstanding=16"
)

dir=$(mktemp -d /tmp/coord-bench-cluster.XXXXXX)
pids=("" "" "" "")
loadpid=
stop_pid() { # $1: pid; TERM, up to 10 s, then KILL
    [ -n "$1" ] || return 0
    kill -CONT "$1" 2>/dev/null || true # a SIGSTOP round may have stopped it
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 200); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop_pid "$loadpid"
    for i in 1 2 3; do stop_pid "${pids[$i]}"; done
    for i in 1 2 3; do
        cat "$dir"/n$i.log* >"$BUILD/bench-cluster-n$i.log" 2>/dev/null ||
            true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/cluster-addrs.sh
. scripts/cluster-addrs.sh
cluster_addrs "$BENCH"

start_node() { # $1: node id; appends to its log (restarts keep history)
    "$COORDD" --node-id="$1" --members="$members" \
        --data-dir="$dir/data$1" --log-level="${BENCH_LOG_LEVEL:-info}" \
        ${COORDD_EXTRA:-} >>"$dir/n$1.log" 2>&1 &
    pids[$1]=$!
}

# 0 when node $1 answers a trivial coordbench round (a session, the key
# space created, one set) by itself.
node_serves() {
    "$BENCH" --servers="$(addr_of "$1")" --duration=0.01 --warmup=0 \
        --keys=1 --timeout-ms=500 --format=kv --prefix=/bench-ready \
        >/dev/null 2>&1
}

# Prints the id of the member `coordctl status` says leads (empty if
# none). With --json, one object per member line; the leader's has
# "role":"leader" and its "id".
leader_id() {
    "$CTL" --servers="$servers" --timeout=1000 --json status 2>/dev/null |
        grep '"role":"leader"' | head -1 |
        sed -n 's/.*"id":\([0-9]*\).*/\1/p' || true
}

# Waits (at most $1 s) until every node serves. Exits on a dead node.
wait_all_serve() {
    local end=$(($(date +%s) + $1)) i
    for i in 1 2 3; do
        until node_serves "$i"; do
            kill -0 "${pids[$i]}" 2>/dev/null ||
                { echo "node $i died"; tail -20 "$dir/n$i.log"; exit 1; }
            [ "$(date +%s)" -lt "$end" ] ||
                { echo "node $i not serving after $1 s"; exit 1; }
            sleep 0.1
        done
    done
}

# The floor of a 1x1 write (docs/benchmarks.md, "Closing the gap"): one
# durable append on the data directories' file system plus two loopback
# round trips, measured with the nodes idle, before and after the series
# (the disk's latency moves with the other load on the box). Beside it the
# shared-disk floor ("The floor on one shared disk"): the same with the
# fsync replaced by the second of three log writes started together
# (coordbench --probe-majority: 4 KiB O_DIRECT|O_DSYNC overwrites, as the
# log segments write), what a majority of these three nodes on
# one disk needs.
# The guest's idle polling, printed in the header (docs/benchmarks.md
# "Idle vCPUs"): 0 makes every wake-up of an idle vCPU a VM exit.
HALT_POLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
# value of key $2 in the kv line $1
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# fsync p50 printed by probe number $1
probe_p50() { tr ' ' '\n' <"$dir/probe$1.txt" | sed -n 's/^fsync_p50_us=//p'; }

floor_probes() {
    local probe j i ppids
    probe=$("$BENCH" --probe-fsync="$dir" --probe-rtt \
        --probe-majority="$dir" --probe-pipeline="$dir" --probe-n=1000 |
        tr '\n' ' ')
    echo "floor probes: $probe" | tee -a "$OUT"
    # The three nodes share one disk: the same probe run by 2 and by 3
    # processes at once shows whether the device serves flushes in parallel.
    for j in 2 3; do
        ppids=()
        for i in $(seq "$j"); do
            "$BENCH" --probe-fsync="$dir" --probe-n=500 >"$dir/probe$i.txt" &
            ppids+=($!)
        done
        wait "${ppids[@]}" # the probes only: the nodes are children too
        echo "fsync p50 with $j concurrent appenders (us):" \
            "$(probe_p50 1) $(probe_p50 2) $([ "$j" -lt 3 ] || probe_p50 3)" |
            tee -a "$OUT"
    done
    echo "1x1 floor (fsync p50 + 2 x rtt p50 + 100 us):" \
        "$(kv "$probe" fsync_p50_us) + 2 x $(kv "$probe" rtt_p50_us) + 100 =" \
        "$(echo "$(kv "$probe" fsync_p50_us) $(kv "$probe" rtt_p50_us)" |
            awk '{printf "%.0f us", $1 + 2 * $2 + 100}')" | tee -a "$OUT"
    echo "3 appenders started together (us): 2nd done p50" \
        "$(kv "$probe" majority_p50_us) p99 $(kv "$probe" majority_p99_us);" \
        "1st p50 $(kv "$probe" first_p50_us), 3rd p50" \
        "$(kv "$probe" third_p50_us)" | tee -a "$OUT"
    echo "shared-disk floor (2nd of 3 p50 + 2 x rtt p50 + 100 us):" \
        "$(kv "$probe" majority_p50_us) + 2 x $(kv "$probe" rtt_p50_us) +" \
        "100 = $(echo "$(kv "$probe" majority_p50_us) \
            $(kv "$probe" rtt_p50_us)" |
            awk '{printf "%.0f us", $1 + 2 * $2 + 100}')" | tee -a "$OUT"
    echo "ideal 3-replica pipeline, 1x1 (coordbench --probe-pipeline, us):" \
        "via leader p50 $(kv "$probe" pipe_leader_p50_us) p99" \
        "$(kv "$probe" pipe_leader_p99_us); via follower p50" \
        "$(kv "$probe" pipe_follower_p50_us) p99" \
        "$(kv "$probe" pipe_follower_p99_us)" | tee -a "$OUT"
}

for i in 1 2 3; do start_node "$i"; done
wait_all_serve 30
echo "3 nodes (pids ${pids[1]} ${pids[2]} ${pids[3]}) at $servers," \
    "leader n$(leader_id); ${SECS}s per run after ${WARMUP}s warm-up;" \
    "$(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "commit $(git rev-parse --short HEAD 2>/dev/null); $(date -u +%FT%TZ);" \
    "guest_halt_poll_ns $(cat "$HALT_POLL" 2>/dev/null || echo -)" \
    "${COORDD_EXTRA:+; coordd $COORDD_EXTRA}"
: >"$OUT"
floor_probes

printf '| run | ops/s | p50 us | p90 us | p99 us | p99.9 us | max us |'
printf ' server CPU us/op (3 nodes) | fsyncs/op | client CPU us/op |'
printf ' errors |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for r in "${RUNS[@]}"; do
    name=${r%%|*}
    opts=${r#*|}
    if [ -n "${BENCH_RUNS:-}" ] && [[ " $BENCH_RUNS " != *" $name "* ]]; then
        continue
    fi
    if [[ "$opts" == *--servers=LEADER* || "$opts" == *--servers=FOLLOWER* ]]
    then
        ld=$(leader_id)
        [ -n "$ld" ] || { echo "no leader for $name"; exit 1; }
        fl=$((ld % 3 + 1))
        opts=${opts/--servers=LEADER/--servers=$(addr_of "$ld")}
        opts=${opts/--servers=FOLLOWER/--servers=$(addr_of "$fl")}
    fi
    # shellcheck disable=SC2086
    line=$("$BENCH" --servers="$servers" --server-pid="${pids[1]}" \
        --server-pid="${pids[2]}" --server-pid="${pids[3]}" \
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

floor_probes

[ "$FAILOVERS" -gt 0 ] || [ "$STOPS" -gt 0 ] ||
    { echo "raw results: $OUT"; exit 0; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
ctl_set() {
    "$CTL" --servers="$servers" --timeout="$FO_TIMEOUT_MS" set /bench-fo x \
        >/dev/null 2>&1
}
"$CTL" --servers="$servers" create /bench-fo x >/dev/null 2>&1 || true

# Baseline: the same measurement with nothing killed.
base=()
for _ in 1 2 3 4 5; do
    t0=$(now_ms)
    if ctl_set; then
        base+=($(($(now_ms) - t0)))
    else # a loaded box can exceed coordctl's timeout; noted, not fatal
        base+=("failed-after-$(($(now_ms) - t0))")
    fi
done

# Light background load for all rounds: one connection, one in flight.
"$BENCH" --servers="$servers" --op=set --connections=1 --outstanding=1 \
    --duration=$(((FAILOVERS + STOPS) * 60)) --warmup=0 --timeout-ms=30000 \
    --prefix=/bench-fo-load --format=kv >"$dir/load.txt" 2>&1 &
loadpid=$!

# One failover round: $1 = kill (SIGKILL the leader, restart it after)
# or stop (SIGSTOP the leader, SIGCONT it after). Prints a table row,
# appends the window to wins.
wins=()
failover_round() {
    local kind=$1 round=$2 ld='' tries=0 t0 win nl
    for _ in $(seq 100); do # up to ~20 s for a leader
        ld=$(leader_id)
        [ -n "$ld" ] && break
        sleep 0.2
    done
    [ -n "$ld" ] || { echo "no leader before $kind round $round"; exit 1; }
    sleep 1 # some load at steady state before the fault
    t0=$(now_ms)
    if [ "$kind" = kill ]; then
        kill -KILL "${pids[$ld]}"
    else
        kill -STOP "${pids[$ld]}"
    fi
    until ctl_set; do
        tries=$((tries + 1))
        [ $(($(now_ms) - t0)) -lt 60000 ] ||
            { echo "no write within 60 s of the $kind"; exit 1; }
    done
    tries=$((tries + 1))
    win=$(($(now_ms) - t0))
    wins+=("$win")
    if [ "$kind" = kill ]; then
        { wait "${pids[$ld]}"; } 2>/dev/null || true
        pids[ld]=
        start_node "$ld"
    else
        kill -CONT "${pids[$ld]}"
    fi
    wait_all_serve 60
    nl=$(leader_id)
    echo "| $kind $round | n$ld | $win | $tries | n$nl |"
    echo "failover kind=$kind round=$round leader=$ld window_ms=$win" \
        "tries=$tries new_leader=$nl" >>"$OUT"
}

# median and max of the windows in wins
summary() {
    local sorted n
    sorted=$(printf '%s\n' "${wins[@]}" | sort -n)
    n=${#wins[@]}
    echo "median $(printf '%s\n' "$sorted" | sed -n "$(((n + 1) / 2))p");" \
        "max $(printf '%s\n' "$sorted" | tail -1)"
}

echo
echo "| round | leader faulted | failover window ms | coordctl tries |" \
    "new leader |"
echo "|---|---|---|---|---|"
for round in $(seq 1 "$FAILOVERS"); do failover_round kill "$round"; done
kills=("${wins[@]}")
[ "$FAILOVERS" -gt 0 ] && kill_sum=$(summary)
wins=()
for round in $(seq 1 "$STOPS"); do failover_round stop "$round"; done
stops=("${wins[@]}")
[ "$STOPS" -gt 0 ] && stop_sum=$(summary)
stop_pid "$loadpid"
echo "background load, last message: $(tail -1 "$dir/load.txt")" |
    tee -a "$OUT"
loadpid=

echo
[ "$FAILOVERS" -gt 0 ] &&
    echo "kill -9 windows ms: ${kills[*]}; $kill_sum" | tee -a "$OUT"
[ "$STOPS" -gt 0 ] &&
    echo "SIGSTOP windows ms: ${stops[*]}; $stop_sum" | tee -a "$OUT"
echo "coordctl set baseline (no fault) ms: ${base[*]}" | tee -a "$OUT"
echo "raw results: $OUT"
