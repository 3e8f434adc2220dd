#!/usr/bin/env bash
# smoke.sh -- `make test`'s check that coordbench still works end to end:
# starts its own coordd (temp data dir, free port on 127.0.0.1), runs
# coordbench for 1 s at 2 connections x 2 in flight for every op kind, and
# checks each run completed ops with no errors and read the server's CPU.
# Also runs the histogram self-test and the floor probes (their lines,
# their files unlinked), and checks that a missing server is a failure,
# not a silent zero. Stops every process it started by PID, also
# on failure (trap). Prints "N passed, N failed". It measures nothing: the
# figures come from scripts/bench-single.sh.
set -u
cd "$(dirname "$0")/../../.."
BUILD=${BUILD:-build}
COORDD=${COORDD_BIN:-$BUILD/bin/coordd}
BENCH=$BUILD/bin/coordbench
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAILED: $1"; }

dir=$(mktemp -d /tmp/coordbench-smoke.XXXXXX)
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
    local rc=$?
    pid=
    return $rc
}
trap 'stop_server; rm -rf "$dir"' EXIT

if "$BENCH" --self-test >"$dir/selftest" 2>&1 &&
    grep -q '^[1-9][0-9]* passed, 0 failed' "$dir/selftest"; then
    ok "histogram self-test"
else
    cat "$dir/selftest"
    bad "histogram self-test"
fi

# The floor probes (no server): one line each in the order fsync, rtt,
# majority; the majority's 1st <= 2nd <= 3rd completion; no file left
# behind; a directory that does not exist is a failure, not a line.
mkdir "$dir/probe"
out=$("$BENCH" --probe-fsync="$dir/probe" --probe-rtt \
    --probe-majority="$dir/probe" --probe-n=20 2>&1)
prc=$?
echo "probes: $out"
if [ "$prc" -eq 0 ] && [ -z "$(ls -A "$dir/probe")" ] &&
    printf '%s\n' "$out" | awk '
        NR == 1 && /^fsync_n=20 / { f = 1 }
        NR == 2 && /^rtt_n=20 / { r = 1 }
        NR == 3 && /^majority_n=20 / {
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                v[kv[1]] = kv[2]
            }
            m = v["first_p50_us"] + 0 > 0 &&
                v["first_p50_us"] + 0 <= v["majority_p50_us"] + 0 &&
                v["majority_p50_us"] + 0 <= v["third_p50_us"] + 0
        }
        END { exit !(f && r && m && NR == 3) }'; then
    ok "probes: fsync, rtt, majority (1st <= 2nd <= 3rd), files unlinked"
else
    bad "probes (rc=$prc, left: $(ls -A "$dir/probe"))"
fi
# $1 probe option, $2 its line's first key: the probe must fail on a
# directory that does not exist, and print no line.
fails_without_dir() {
    if "$BENCH" --probe-"$1"="$dir/none" --probe-n=5 >"$dir/noprobe" \
        2>&1 || grep -q "$2" "$dir/noprobe"; then
        cat "$dir/noprobe"
        bad "$1 probe in a missing directory did not fail"
    else
        ok "$1 probe in a missing directory fails"
    fi
}
fails_without_dir majority majority_n

# The pipeline probe (no server): one line; the leader's own write is a
# part of its path, so it cannot take longer than the path; no file and
# no replica process left behind (they are forks with this command line);
# a directory that does not exist is a failure.
out=$("$BENCH" --probe-pipeline="$dir/probe" --probe-n=20 2>&1)
prc=$?
echo "pipeline probe: $out"
left=$(pgrep -f -- "--probe-pipeline=$dir/probe" || true)
if [ "$prc" -eq 0 ] && [ -z "$(ls -A "$dir/probe")" ] && [ -z "$left" ] &&
    printf '%s\n' "$out" | awk '
        /^pipe_leader_n=20 / {
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                v[kv[1]] = kv[2]
            }
            ok = v["pipe_lwrite_p50_us"] + 0 > 0 &&
                v["pipe_fwrite_p50_us"] + 0 > 0 &&
                v["pipe_follower_p50_us"] + 0 > 0 &&
                v["pipe_lwrite_p50_us"] + 0 <= v["pipe_leader_p50_us"] + 0
        }
        END { exit !(ok && NR == 1) }'; then
    ok "pipeline probe: both paths, the leader's write within its path"
else
    bad "pipeline probe (rc=$prc, files: $(ls -A "$dir/probe"), left: $left)"
fi
fails_without_dir pipeline pipe_leader_n

port=$("$BENCH" --free-port)
"$COORDD" --client-listen=127.0.0.1:"$port" --data-dir="$dir/data" \
    >"$dir/coordd.log" 2>&1 &
pid=$!
for _ in $(seq 200); do # poll for readiness, at most 10 s
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

# One run; $1 names it, the rest are extra options. Checks ops > 0,
# errors == 0 and a numeric server CPU per op.
run() {
    local name=$1
    shift
    local out
    out=$("$BENCH" --servers=127.0.0.1:"$port" --connections=2 \
        --outstanding=2 --duration=1 --warmup=0.2 --keys=50 \
        --server-pid="$pid" "$@" 2>&1)
    local rc=$?
    echo "$name: $out"
    local ops errs cpu
    ops=$(printf '%s\n' "$out" | grep -oE '(^| |\{|,)"?ops"?[=:][0-9]+' |
        head -1 | grep -oE '[0-9]+$')
    errs=$(printf '%s\n' "$out" | grep -oE '"?errors"?[=:][0-9]+' |
        grep -oE '[0-9]+$')
    cpu=$(printf '%s\n' "$out" |
        grep -oE '"?server_cpu_us_per_op"?[=:][0-9.]+' | grep -oE '[0-9.]+$')
    if [ "$rc" -eq 0 ] && [ "${ops:-0}" -gt 0 ] && [ "${errs:-x}" = 0 ] &&
        [ -n "$cpu" ]; then
        ok "$name (ops=$ops)"
    else
        bad "$name (rc=$rc ops=${ops:-?} errors=${errs:-?} cpu=${cpu:-?})"
    fi
}
run set --op=set --format=kv
run get --op=get --format=kv
run get-local --op=get-local --format=json
run create-delete --op=create-delete --format=kv
run mix-90-10 --op=mix --read-pct=90 --format=kv
run mix-local --op=mix --read-pct=50 --local-reads --value-size=1000 \
    --format=kv

# No server on the port: must fail, not report zeros.
stop_server
srv_rc=$?
if [ "$srv_rc" -eq 0 ]; then
    ok "coordd stopped cleanly by SIGTERM"
else
    bad "coordd exit status $srv_rc"
fi
if "$BENCH" --servers=127.0.0.1:"$port" --duration=1 --warmup=0 \
    --timeout-ms=500 --format=kv >"$dir/noserver" 2>&1; then
    cat "$dir/noserver"
    bad "no server: coordbench exited 0"
else
    ok "no server: coordbench fails"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
