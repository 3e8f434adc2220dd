#!/usr/bin/env bash
# run-local.sh -- what `make run` does: start coordd in the foreground on
# 127.0.0.1:2281 with its data in ./coordd-data (zero config), print the
# commands to try, and stop it on Ctrl-C. The cluster phase turns this into
# a local 3-node cluster on 127.0.0.1/.2/.3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/bin
echo "coord: starting coordd on 127.0.0.1:2281 (data in ./coordd-data); Ctrl-C stops it"
if [ -x "$BIN/coordctl" ]; then
    cat <<TRY
Try, in another terminal:
  $BIN/coordctl create /hello world
  $BIN/coordctl get /hello
  $BIN/coordctl ls /
  $BIN/coordctl watch /hello        # then set it from a third terminal
TRY
fi
"$BIN/coordd" "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
wait $pid
