#!/usr/bin/env bash
# run-local.sh -- what `make run` does: start a local 3-node coord cluster
# in the foreground, one node per loopback address (127.0.0.1, .2, .3) on
# the same ports (clients 2281, peers 2282), data under ./run-data/, logs
# prefixed with the node's name, each node's PID in ./run-data/nN.pid (to
# kill one in the README's tour). Ctrl-C stops every node (by PID).
# NODES=1 runs a single node instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/bin
NODES=${NODES:-3}
DATA=${RUN_DATA:-run-data}
mkdir -p "$DATA"

members=""
servers=""
for i in $(seq 1 "$NODES"); do
    members+="${members:+,}$i@127.0.0.$i:2281:2282"
    servers+="${servers:+,}127.0.0.$i:2281"
done

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo "coord: stopping ${#pids[@]} nodes" >&2
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -f "$DATA"/n*.pid
}
trap stop_all INT TERM EXIT

for i in $(seq 1 "$NODES"); do
    if [ "$NODES" -eq 1 ]; then
        args=(--data-dir="$DATA/n1")
    else
        args=(--node-id="$i" --members="$members" --data-dir="$DATA/n$i")
    fi
    # Process substitution keeps $! the coordd PID (not the prefixer's).
    # The prefixer ignores Ctrl-C so the nodes' last lines still show.
    "$BIN/coordd" "${args[@]}" "$@" \
        > >(trap '' INT; exec sed -u "s/^/[n$i] /") 2>&1 &
    pids+=($!)
    echo "$!" > "$DATA/n$i.pid"
done

cat <<TRY
coord: $NODES node(s) starting; data in ./$DATA; Ctrl-C stops them all.
Try, in another terminal:
  export COORD_SERVERS=$servers
  $BIN/coordctl create /hello world
  $BIN/coordctl get /hello
  $BIN/coordctl ls /
  $BIN/coordctl watch /hello            # then: coordctl set /hello again
  $BIN/coordctl lock demo -- sh -c 'while :; do echo "token \$COORD_LOCK_TOKEN"; sleep 1; done'
  $BIN/coordctl status                  # who leads; kill -9 \$(cat $DATA/n1.pid)
TRY
wait
