#!/usr/bin/env bash
# report_test.sh -- checks report.awk, the part of `make bench-compare`
# that turns raw kv lines into the tables and ratios quoted in
# docs/benchmarks.md, on synthetic raw lines (no ZooKeeper or etcd
# needed): the median run by ops/s is the one quoted (with its own
# latencies), ratios are coord over the other system, ZooKeeper's local
# reads stand in the linearizable-read table, lock rows use hand-offs/s,
# failover medians and maxima, a timed-out probe, failed and stalled runs
# (left out of the medians, explained in a notes list), coordlockbench's
# server CPU per hand-off, the 1x1 floor (computed from the probes' p50s
# by mode=floor; the lower of the before/after floors chosen, named, and
# compared), the shared-disk floor beside it (majority probe: its own
# lower floor, informational, no verdict; absent without the probe), the
# ideal pipeline beside them (the same, from --probe-pipeline) and the
# met/missed verdict of every target row. Ends with
# "N passed, N failed". Runs in well under a second; starts nothing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
pass=0
fail=0
check() { # description, haystack, needle (fixed string)
    if printf '%s\n' "$2" | grep -qF -- "$3"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAILED: $1: no line with: $3"
    fi
}
check_absent() { # description, haystack, needle (fixed string)
    if printf '%s\n' "$2" | grep -qF -- "$3"; then
        fail=$((fail + 1))
        echo "FAILED: $1: a line with: $3"
    else
        pass=$((pass + 1))
    fi
}

raw=$(mktemp /tmp/report-test.XXXXXX)
raw2=$(mktemp /tmp/report-test.XXXXXX)
trap 'rm -f "$raw" "$raw2"' EXIT
cat >"$raw" <<'EOF'
# command: test
# floor: when=before at=10:00:00 fsync_n=1000 fsync_p50_us=300.5 fsync_p99_us=900.0 rtt_n=1000 rtt_p50_us=60.25 rtt_p99_us=99.0 floor_us=521.0
sys=coord wl=set shape=64x16 rep=1 ops_per_s=900 p50_us=9 p99_us=90 p999_us=99 max_us=100 server_cpu_us_per_op=9 errors=0
sys=coord wl=set shape=64x16 rep=2 ops_per_s=1000 p50_us=10 p99_us=100 p999_us=110 max_us=120 server_cpu_us_per_op=10 errors=0
sys=coord wl=set shape=64x16 rep=3 ops_per_s=5000 p50_us=1 p99_us=1 p999_us=1 max_us=1 server_cpu_us_per_op=1 errors=0
sys=zk wl=set shape=64x16 rep=1 system=zookeeper ops_per_s=200 p50_us=50 p99_us=400 p999_us=500 max_us=600 server_cpu_us_per_op=100 errors=0
sys=etcd wl=set shape=64x16 rep=1 system=etcd ops_per_s=250 p50_us=40 p99_us=500 p999_us=550 max_us=700 server_cpu_us_per_op=200 errors=3
sys=coord wl=get shape=64x16 rep=1 ops_per_s=3000 p50_us=5 p99_us=50 p999_us=60 max_us=70 server_cpu_us_per_op=2 errors=0
sys=zk wl=get-local shape=64x16 rep=1 ops_per_s=600 p50_us=7 p99_us=70 p999_us=80 max_us=90 server_cpu_us_per_op=20 errors=0
sys=coord wl=lock shape=32 rep=1 handoffs_per_s=300.0 acquires=3000 p50_us=1000 p99_us=2000 p999_us=3000 max_us=4000 server_cpu_us_per_op=25.00 errors=0
sys=zk wl=lock shape=32 rep=1 ops_per_s=999 handoffs_per_s=100 p50_us=2000 p99_us=4000 p999_us=5000 max_us=6000 server_cpu_us_per_op=50 errors=0
sys=coord wl=failover-KILL shape=- rep=1 failover_ms=300 writable_ms=290
sys=coord wl=failover-KILL shape=- rep=2 failover_ms=100 writable_ms=90
sys=coord wl=failover-KILL shape=- rep=3 failover_ms=200 writable_ms=190
sys=coord wl=failover-STOP shape=- rep=1 failover_ms=1600 writable_ms=1500
sys=etcd wl=failover-STOP shape=- rep=1 failover_ms=timeout tries=9
sys=etcd wl=failover-STOP shape=- rep=2 failover_ms=5000 writable_ms=1200
sys=etcd wl=failover-STOP shape=- rep=3 failover_ms=5000 writable_ms=1300
sys=coord wl=set shape=1x1 rep=1 ops=5000 ops_per_s=500 p50_us=500 p99_us=900 p999_us=990 max_us=999 server_cpu_us_per_op=20 errors=0
sys=zk wl=set shape=1x1 rep=1 system=zookeeper ops=0 ops_per_s=0 p50_us=0.0 p99_us=0.0 p999_us=0.0 max_us=0.0 errors=1 err_ZOPERATIONTIMEOUT=1 ready_ms=3.1 err1=ZOPERATIONTIMEOUT err1_at_ms=20004 err1_wait_ms=20004 err1_server=127.0.0.3:2181 leader_after=n3
sys=zk wl=set shape=1x1 rep=2 failed=no-write-before-window system=zookeeper op=set ready_errors=3 ready_err=ZOPERATIONTIMEOUT ready_server=127.0.0.3:2181 leader_after=n3
sys=etcd wl=set shape=1x1 rep=1 ops=2000 ops_per_s=200 p50_us=1000 p99_us=2000 p999_us=3000 max_us=4000 server_cpu_us_per_op=80 errors=0 ready_ms=20011.0 ready_errors=1 ready_err=ZOPERATIONTIMEOUT ready_server=127.0.0.1:2181
# finished: test
# floor: when=after at=10:05:00 fsync_n=1000 fsync_p50_us=250 fsync_p99_us=800.0 rtt_n=1000 rtt_p50_us=70 rtt_p99_us=90.0 floor_us=490.0
EOF
out=$(awk -f "$here/report.awk" "$raw")

check "median run quoted with its own latencies" "$out" \
    "| 64x16 | coord | 1000 | 10 | 100 | 110 | 120 | 10 | 0 |"
check "other systems' rows" "$out" \
    "| 64x16 | etcd | 250 | 40 | 500 | 550 | 700 | 200 | 3 |"
check "ratio coord/ZooKeeper" "$out" \
    "| 64x16 | **coord/ZooKeeper** | 5.00x | 0.20x | 0.25x | 0.22x | 0.20x | 0.10x | |"
check "ratio coord/etcd" "$out" \
    "| 64x16 | **coord/etcd** | 4.00x | 0.25x | 0.20x | 0.20x | 0.17x | 0.05x | |"
check "ZooKeeper's local reads in the linearizable table" "$out" \
    "| 64x16 | ZooKeeper (local) | 600 | 7 | 70 | 80 | 90 | 20 | 0 |"
check "lock rows use hand-offs/s" "$out" \
    "| 32 | ZooKeeper | 100 | 2000 |"
check "lock ratio from hand-offs/s" "$out" \
    "| 32 | **coord/ZooKeeper** | 3.00x |"
check "coordlockbench rows with server CPU per hand-off" "$out" \
    "| 32 | coord | 300.0 | 1000 | 2000 | 3000 | 4000 | 25.00 | 0 |"
check "lock CPU ratio" "$out" \
    "| 32 | **coord/ZooKeeper** | 3.00x | 0.50x | 0.50x | 0.60x | 0.67x | 0.50x | |"
check "lock table says CPU is per hand-off" "$out" \
    "### Lock hand-offs: contenders; ops/s = hand-offs/s, latencies = acquire, server CPU us/op = per hand-off"
check "failover median and max, writable" "$out" \
    "| coord | SIGKILL of the leader | 3 | 200 | 300 | 190 | 290 | 300, 100, 200 |"
check "a timed-out probe counts as the worst" "$out" \
    "| etcd | SIGSTOP of the leader | 3 | 5000 | timeout |"
check "targets: write ratios, 5.00x is met, 4.00x is not" "$out" \
    "| writes 64x16 >= 5x ZooKeeper, >= 5x etcd | 5.00x, 4.00x: missed (etcd) |"
check "targets: p99, 0.20x is met, 0.25x is not" "$out" \
    "| write p99 64x16 <= 1/5 (0.20x) | 0.25x, 0.20x: missed (ZooKeeper) |"
check "targets: CPU met against both" "$out" \
    "| server CPU per write <= 1/10 (0.10x) | 0.10x, 0.05x: met |"
check "targets: reads against ZooKeeper's local reads" "$out" \
    "| linearizable reads 64x16 >= 3x ZooKeeper local reads | 5.00x: met |"
check "targets: failover" "$out" \
    "| kill -9 median <= 400 ms, max <= 1 s | 200 / 300 ms (3 kills): met |"
check "targets: SIGSTOP over 1.5 s" "$out" \
    "| SIGSTOP <= 1.5 s | max 1600 ms: missed |"
check "targets: lock, 3.00x is met" "$out" \
    "| lock hand-offs (32 contenders) >= 3x ZooKeeper | 3.00x: met |"
# 500 us is under the before floor (300.5 + 2 x 60.25 + 100 = 521.0) but
# over the after floor (250 + 2 x 70 + 100 = 490.0): the lower one counts.
check "targets: 1x1 against the lower floor (after), computed from parts" \
    "$out" \
    "| 1x1 write p50 <= fsync + 2 RTT + 0.1 ms | 500 us vs floor 490.0 us (the lower floor, after coord's runs: fsync p50 250 + 2 x RTT p50 70 + 100; before: 521.0 us, fsync p50 300.5, RTT p50 60.25): missed |"
check "floor lines stay in the header" "$out" \
    "floor: when=before at=10:00:00 fsync_n=1000 fsync_p50_us=300.5"
check_absent "no majority probe, no shared-disk row" "$out" "informational"

check "a run with 0 ops is not a median: failed row" "$out" \
    "| 1x1 | ZooKeeper (failed: see below) | - |"
check "no ratio against a failed system" "$out" \
    "| 1x1 | **coord/etcd** | 2.50x |"
check "0-ops run explained: the request that never got a reply" "$out" \
    "- ZooKeeper set 1x1 run 1: 0 ops; first failed request ZOPERATIONTIMEOUT after 20004 ms in flight, 20004 ms into the load, on 127.0.0.3:2181; leader afterwards n3"
check "failed run explained" "$out" \
    "- ZooKeeper set 1x1 run 2: failed (no-write-before-window); the write before the window failed 3x, first ZOPERATIONTIMEOUT on 127.0.0.3:2181; leader afterwards n3"
check "a stalled write before a good window is reported, not hidden" "$out" \
    "- etcd set 1x1 run 1: the write before the window failed 1x, first ZOPERATIONTIMEOUT on 127.0.0.1:2181, window began after 20011.0 ms"
check "the run itself still counts" "$out" \
    "| 1x1 | etcd | 200 | 1000 |"

# The floor line compare.sh records, from coordbench's probe output.
probes='fsync_n=1000 fsync_p10_us=90.0 fsync_p50_us=151.5 fsync_p90_us=200.0 fsync_p99_us=300.0
rtt_n=1000 rtt_p10_us=30.0 rtt_p50_us=48.25 rtt_p90_us=60.0 rtt_p99_us=99.0'
maj='majority_n=1000 majority_p10_us=200.0 majority_p50_us=230.5 majority_p90_us=300.0 majority_p99_us=400.0 first_p50_us=210.0 first_p99_us=350.0 third_p50_us=250.0 third_p99_us=450.0 start_skew_p50_us=20.0 start_skew_p99_us=50.0'
fl=$(printf '%s\n%s\n' "$probes" "$maj" |
    awk -v mode=floor -v when=before -v at=12:00:00 -f "$here/report.awk")
check "floor line: fsync p50 + 2 x RTT p50 + 100" "$fl" \
    "floor: when=before at=12:00:00 fsync_n=1000 fsync_p50_us=151.5 fsync_p99_us=300.0 rtt_n=1000 rtt_p50_us=48.25 rtt_p99_us=99.0 floor_us=348.0"
check "floor line: majority p50 + 2 x RTT p50 + 100 after the floor" "$fl" \
    "majority_n=1000 majority_p50_us=230.5 majority_p99_us=400.0 first_p50_us=210.0 third_p50_us=250.0 majority_floor_us=427.0"
check "floor line: no pipeline probe is said" "$fl" \
    "floor_us=348.0 pipe_failed=probe majority_n=1000"
pipe='pipe_leader_n=1000 pipe_leader_p10_us=150.0 pipe_leader_p50_us=180.5 pipe_leader_p90_us=220.0 pipe_leader_p99_us=300.0 pipe_follower_p50_us=210.0 pipe_follower_p99_us=330.0 pipe_lwrite_p50_us=120.0 pipe_lwrite_p99_us=200.0 pipe_fwrite_p50_us=110.0 pipe_fwrite_p99_us=190.0 pipe_direct=1'
fl=$(printf '%s\n%s\n%s\n' "$probes" "$maj" "$pipe" |
    awk -v mode=floor -v when=before -v at=12:00:00 -f "$here/report.awk")
check "floor line: the pipeline probe's p50s and p99s" "$fl" \
    "floor_us=348.0 pipe_leader_p50_us=180.5 pipe_leader_p99_us=300.0 pipe_follower_p50_us=210.0 pipe_follower_p99_us=330.0 majority_n=1000"
fl=$(printf '%s\n' "$probes" |
    awk -v mode=floor -v when=before -v at=12:00:00 -f "$here/report.awk")
check "floor line: a missing majority probe keeps the floor" "$fl" \
    "rtt_p99_us=99.0 floor_us=348.0 pipe_failed=probe majority_failed=probe"
fl=$(printf '%s\n' "$probes" | grep fsync |
    awk -v mode=floor -v when=after -v at=12:01:00 -f "$here/report.awk")
check "floor line: a missing probe is a failure, not a floor" "$fl" \
    "floor: when=after at=12:01:00 failed=probe"

# Second run: the before floor is the lower, the after majority floor
# is; a failed probe line; an unmeasured etcd; a kill max over 1 s; a
# lock row without server CPU.
cat >"$raw2" <<'EOF'
# floor: when=before at=10:00:00 fsync_n=1000 fsync_p50_us=250 fsync_p99_us=800.0 rtt_n=1000 rtt_p50_us=50 rtt_p99_us=90.0 floor_us=450.0 pipe_leader_p50_us=390.5 pipe_leader_p99_us=700 pipe_follower_p50_us=420 pipe_follower_p99_us=800 majority_n=1000 majority_p50_us=400 majority_p99_us=900.0 first_p50_us=300 third_p50_us=420 majority_floor_us=600.0
# floor: when=between at=10:00:01 failed=probe
# floor: when=after at=10:05:00 fsync_n=1000 fsync_p50_us=500 fsync_p99_us=800.0 rtt_n=1000 rtt_p50_us=50 rtt_p99_us=90.0 floor_us=700.0 pipe_leader_p50_us=400 pipe_leader_p99_us=700 pipe_follower_p50_us=410 pipe_follower_p99_us=800 majority_n=1000 majority_p50_us=300.5 majority_p99_us=900.0 first_p50_us=280 third_p50_us=350 majority_floor_us=500.5
sys=coord wl=set shape=1x1 rep=1 ops=5000 ops_per_s=500 p50_us=450.0 p99_us=900 p999_us=990 max_us=999 server_cpu_us_per_op=20 errors=0
sys=coord wl=set shape=64x16 rep=1 ops_per_s=600 p50_us=9 p99_us=90 p999_us=99 max_us=100 server_cpu_us_per_op=9 errors=0
sys=zk wl=set shape=64x16 rep=1 ops_per_s=100 p50_us=50 p99_us=400 p999_us=500 max_us=600 server_cpu_us_per_op=100 errors=0
sys=coord wl=lock shape=32 rep=1 handoffs_per_s=300.0 p50_us=1000 p99_us=2000 p999_us=3000 max_us=4000 server_cpu_us_per_op=n/a errors=0
sys=coord wl=failover-KILL shape=- rep=1 failover_ms=100
sys=coord wl=failover-KILL shape=- rep=2 failover_ms=1200
sys=coord wl=failover-KILL shape=- rep=3 failover_ms=300
EOF
out=$(awk -f "$here/report.awk" "$raw2")
check "targets: 1x1 equal to the lower floor (before) is met" "$out" \
    "| 1x1 write p50 <= fsync + 2 RTT + 0.1 ms | 450.0 us vs floor 450.0 us (the lower floor, before coord's runs: fsync p50 250 + 2 x RTT p50 50 + 100; after: 700.0 us, fsync p50 500, RTT p50 50): met |"
# The shared-disk floor picks its own lower one (after: 300.5 + 2 x 50 +
# 100 = 500.5) and gives a distance, no verdict; the 1x1 target row above
# is unchanged (met against the literal 450.0).
check "targets: shared-disk floor, informational, its own lower floor" \
    "$out" \
    "| (informational) 1x1 write p50 vs shared-disk floor: majority of three durable on this disk + 2 RTT + 0.1 ms | 450.0 us vs 500.5 us (the lower, after coord's runs: 2nd of 3 concurrent log writes p50 300.5 (1st 280, 3rd 350) + 2 x RTT p50 50 + 100; before: 600.0 us, 2nd of 3 p50 400, RTT p50 50): 50.5 us at or below it |"
# The pipeline row: the lower pipeline (before: 390.5 via the leader,
# though the after one is lower via a follower), beside coord's two 1x1
# runs (no set-leader run here), no verdict.
check "targets: ideal pipeline, informational, the lower one" "$out" \
    "| (informational) 1x1 write p50 vs an ideal 3-replica pipeline on this machine (coordbench --probe-pipeline: 4 processes that only relay and write) | random member 450.0 us, via the leader - us vs pipeline via the leader 390.5 us, via a follower 420 us (the lower, before coord's runs) |"
check "targets: the shared-disk row is explained" "$out" \
    "The row after it is informational, not a target"
check "targets: met against one system, the other not measured" "$out" \
    "| writes 64x16 >= 5x ZooKeeper, >= 5x etcd | 6.00x, -: met; etcd not measured |"
check "targets: kill max over 1 s" "$out" \
    "| kill -9 median <= 400 ms, max <= 1 s | 300 / 1200 ms (3 kills): missed (max) |"
check "targets: no ZooKeeper lock run, no verdict" "$out" \
    "| lock hand-offs (32 contenders) >= 3x ZooKeeper | -: not measured |"
check "coordlockbench row without server CPU" "$out" \
    "| 32 | coord | 300.0 | 1000 | 2000 | 3000 | 4000 | n/a | 0 |"
out=$(grep -v '^# floor' "$raw2" | awk -f "$here/report.awk")
check "targets: 1x1 without a floor probe" "$out" \
    "| 1x1 write p50 <= fsync + 2 RTT + 0.1 ms | 450.0 us (no floor probe in this run; fsync: see header): not measured |"
out=$(grep -v 'when=before' "$raw2" | awk -f "$here/report.awk")
check "targets: the only floor" "$out" \
    "| 1x1 write p50 <= fsync + 2 RTT + 0.1 ms | 450.0 us vs floor 700.0 us (the only floor, after coord's runs: fsync p50 500 + 2 x RTT p50 50 + 100): met |"
out=$(grep -v 'when=after' "$raw2" | sed 's/p50_us=450.0/p50_us=1000.0/' |
    awk -f "$here/report.awk")
check "targets: the only shared-disk floor, coord above it" "$out" \
    "| 1000.0 us vs 600.0 us (the only one, before coord's runs: 2nd of 3 concurrent log writes p50 400 (1st 300, 3rd 420) + 2 x RTT p50 50 + 100): 400.0 us above it |"
check "targets: the literal verdict stays literal" "$out" \
    "| 1x1 write p50 <= fsync + 2 RTT + 0.1 ms | 1000.0 us vs floor 450.0 us (the only floor, before coord's runs: fsync p50 250 + 2 x RTT p50 50 + 100): missed |"

# set-leader (coord only: libcoord's prefer_leader): its own table, the
# other systems' set rows beside it, and a second 1x1 verdict against the
# same literal floor; the default-placement verdict is unchanged.
sl=$( (cat "$raw2"
    echo "sys=coord wl=set-leader shape=1x1 rep=1 ops_per_s=3000 p50_us=400.0 p99_us=600 p999_us=700 max_us=800 server_cpu_us_per_op=300 errors=0"
    echo "sys=zk wl=set shape=1x1 rep=1 ops_per_s=1000 p50_us=900 p99_us=2000 p999_us=3000 max_us=4000 server_cpu_us_per_op=500 errors=0"
    ) | awk -f "$here/report.awk")
check "set-leader: its table" "$sl" \
    "### Writes, coord's sessions on the leader (libcoord prefer_leader; ZooKeeper and etcd: their set rows, random member)"
check "set-leader: coord's row" "$sl" \
    "| 1x1 | coord | 3000 | 400.0 | 600 | 700 | 800 | 300 | 0 |"
check "set-leader: ZooKeeper's set row beside it, marked" "$sl" \
    "| 1x1 | ZooKeeper (its set row) | 1000 | 900 |"
check "set-leader: a second 1x1 verdict, same floor" "$sl" \
    "| 1x1 write p50, sessions on the leader (prefer_leader) <= fsync + 2 RTT + 0.1 ms | 400.0 us vs floor 450.0 us (the lower floor, before coord's runs: fsync p50 250 + 2 x RTT p50 50 + 100; after: 700.0 us, fsync p50 500, RTT p50 50): met |"
check "set-leader: the default verdict unchanged" "$sl" \
    "| 1x1 write p50 <= fsync + 2 RTT + 0.1 ms | 450.0 us vs floor 450.0 us (the lower floor, before"
check_absent "set-leader: no second verdict without its runs" "$out" \
    "sessions on the leader (prefer_leader) <="

plot=$(awk -v mode=plot -f "$here/report.awk" "$raw")
check "plot points: system, workload, ops/s, p99 in ms, shape" "$plot" \
    "coord set 1000 0.100 64x16"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
