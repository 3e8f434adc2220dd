#!/usr/bin/env bash
# smoke.sh -- `make test`'s check that coordlockbench still works end to
# end: starts its own single coordd (temp data dir, free port on
# 127.0.0.1), runs 1 and 4 contending clients for 0.5 s each and checks
# that hand-offs happened with no errors and no fencing token regression,
# in both output formats; then that a missing server is a failure, not a
# silent zero. Stops the process it started by PID, also on failure
# (trap). Prints "N passed, N failed". It measures nothing: the figures
# come from scripts/bench-lock.sh.
set -u
cd "$(dirname "$0")/../../.." || exit 1
BUILD=${BUILD:-build}
COORDD=${COORDD_BIN:-$BUILD/bin/coordd}
LOCKBENCH=$BUILD/bin/coordlockbench
BENCH=$BUILD/bin/coordbench
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAILED: $1"; }

dir=$(mktemp -d /tmp/lockbench-smoke.XXXXXX)
pid=
stop_server() {
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do # up to 5 s, then SIGKILL
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}
trap 'stop_server; rm -rf "$dir"' EXIT

port=$("$BENCH" --free-port)
"$COORDD" --client-listen=127.0.0.1:"$port" --data-dir="$dir/data" \
    >"$dir/coordd.log" 2>&1 &
pid=$!
for _ in $(seq 400); do # poll for readiness, at most 20 s
    grep -q 'msg=serving' "$dir/coordd.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if ! grep -q 'msg=serving' "$dir/coordd.log"; then
    cat "$dir/coordd.log"
    bad "coordd did not start"
    echo "$pass passed, $fail failed"
    exit 1
fi

# value of key $2 in kv or text output $1
val() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
    printf '%s\n' "$1" | sed -n "s/^$2  *//p"
}

run() { # $1 clients, $2 format
    local out rc h e t
    out=$("$LOCKBENCH" --servers=127.0.0.1:"$port" --clients="$1" \
        --duration=0.5 --warmup=0.1 --path="/smoke-$1-$2" \
        --format="$2" 2>&1)
    rc=$?
    echo "$1 clients ($2): $out"
    h=$(val "$out" handoffs)
    e=$(val "$out" errors)
    t=$(val "$out" token_errors)
    if [ "$rc" -eq 0 ] && [ "${h:-0}" -gt 0 ] && [ "${e:-x}" = 0 ] &&
        [ "${t:-x}" = 0 ]; then
        ok "$1 clients, $2 (handoffs=$h)"
    else
        bad "$1 clients, $2 (rc=$rc handoffs=${h:-?} errors=${e:-?}" \
            "token_errors=${t:-?})"
    fi
}
run 1 kv
run 4 kv
run 4 text

stop_server
if "$LOCKBENCH" --servers=127.0.0.1:"$port" --duration=0.5 --warmup=0 \
    --timeout-ms=500 --format=kv >"$dir/noserver" 2>&1; then
    cat "$dir/noserver"
    bad "no server: coordlockbench exited 0"
else
    ok "no server: coordlockbench fails"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
