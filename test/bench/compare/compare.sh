#!/usr/bin/env bash
# compare.sh -- what `make bench-compare` runs: coord, ZooKeeper 3.8 and
# etcd 3.4 side by side on this machine, one system at a time, each a fresh
# 3-node cluster on 127.0.0.1/.2/.3 (clusters.sh) with data under a temp
# dir and its own defaults. Load generators of one shape (S connections x W
# requests in flight, every latency kept): coordbench, zkbench (ZooKeeper's
# C client), etcdbench (etcd's Go client); the same kv output, so one
# parser (report.awk) makes the tables. Writes $BUILD/bench-compare.md
# (printed at the end), raw lines to $BUILD/bench-compare.txt, the plot to
# docs/bench-compare.png, server logs to $BUILD/bench-compare-logs/. Stops
# everything it started by PID, also on failure or Ctrl-C; every generator
# runs under timeout(1). It measures; it tunes none of the three systems.
# A run that fails, makes 0 ops or has errors is recorded with its reason
# (failed=..., the generator's err1/ready/pending keys, the leader after
# it; ${sys}_diag to bench-compare-logs/diag.log) and listed by the report
# instead of being quoted (docs/benchmarks.md, "ZooKeeper's failed 1x1
# run"). Right before and right after coord's workloads it measures issue
# 9's 1x1 floor (fsync p50 + 2 x loopback RTT p50 + 0.1 ms) with
# coordbench's probes on the temp dir's file system: raw header lines
# "floor: when=before|after ..."; the report judges coord's 1x1 write p50
# against the lower of the two. The same lines carry the shared-disk
# floor (the second of three log writes started together, as the three
# nodes on this one disk commit, + 2 RTT + 0.1 ms) and the ideal pipeline
# (coordbench --probe-pipeline: the same 1x1 write through four processes
# that only relay and write a block), which the report shows beside the
# target as information, without a verdict.
#
#   BENCH_SECONDS=10   measured window per run (after BENCH_WARMUP=2)
#   BENCH_PRIME=5      unrecorded set 16x16 load on each fresh cluster first
#   BENCH_REPEAT=3     runs per point; the median (by ops/s) is quoted
#   BENCH_SYSTEMS="coord zk etcd"
#   BENCH_WORKLOADS="set set-leader create-delete get get-local mix lock failover"
#   BENCH_SHAPES="1x1 16x16 64x16"   connections x outstanding
#   BENCH_CONTENDERS="1 8 32"        lock workload
#   BENCH_FAILOVERS=3  kill -9 and SIGSTOP rounds per system
#   BENCH_COORD_FAILOVERS=$BENCH_FAILOVERS   (20 for the issue's target)
#   BENCH_HALT_POLL_NS=  unset: the machine as found. Set (root, a guest
#                      with the haltpoll cpuidle driver): the guest's halt
#                      polling, /sys/module/haltpoll/parameters/
#                      guest_halt_poll_ns, is set to it for the whole run,
#                      every system alike, and restored at the end (the
#                      kernel's default is 200000; docs/benchmarks.md
#                      "Idle vCPUs"). The header records both values.
#   compare.sh --report RAW   only regenerate the Markdown from raw lines
#
# Failover window: a probe (zkbench/etcdbench --op=failover-probe,
# coordprobe), one client given all three members with its library's
# defaults, writes every 2 ms, then itself sends SIGKILL or SIGSTOP to the
# leader and reports the time to its first successful write after that.
# The killed member is restarted (the stopped one continued) and the
# cluster must be healthy again before the next round.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
BUILD=${BUILD:-build}

if [ "${1:-}" = "--report" ]; then
    awk -f "$here/report.awk" "$2"
    exit 0
fi

SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
PRIME=${BENCH_PRIME:-5}
REPEAT=${BENCH_REPEAT:-3}
SYSTEMS=${BENCH_SYSTEMS:-coord zk etcd}
WORKLOADS=${BENCH_WORKLOADS:-set set-leader create-delete get get-local mix lock failover}
SHAPES=${BENCH_SHAPES:-1x1 16x16 64x16}
CONTENDERS=${BENCH_CONTENDERS:-1 8 32}
FAILOVERS=${BENCH_FAILOVERS:-3}
COORD_FAILOVERS=${BENCH_COORD_FAILOVERS:-$FAILOVERS}
RAW=$BUILD/bench-compare.txt
MD=$BUILD/bench-compare.md
PNG=${BENCH_PNG:-docs/bench-compare.png}
CL_LOGS=$BUILD/bench-compare-logs

CL_DIR=$(mktemp -d /tmp/coord-bench-compare.XXXXXX)
rm -rf "$CL_LOGS"
mkdir -p "$CL_LOGS"
# The binaries as they are now, copied: others may rebuild build/bin
# during a long run, and a restarted member must run the same coordd.
CL_BIN=$CL_DIR/bin
mkdir -p "$CL_BIN"
for b in coordd coordctl coordbench coordprobe zkbench etcdbench \
    coordlockbench; do
    [ -x "$BUILD/bin/$b" ] && cp "$BUILD/bin/$b" "$CL_BIN/"
done
LOCKBENCH=$CL_BIN/coordlockbench
# shellcheck source=clusters.sh
. "$here/clusters.sh"

# The guest's halt polling (BENCH_HALT_POLL_NS above).
HALT_POLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
halt_was=
if [ -n "${BENCH_HALT_POLL_NS:-}" ]; then
    case $BENCH_HALT_POLL_NS in
    *[!0-9]*)
        echo "compare.sh: BENCH_HALT_POLL_NS must be a number of ns" >&2
        exit 2 ;;
    esac
    if [ ! -w "$HALT_POLL" ]; then
        echo "compare.sh: BENCH_HALT_POLL_NS needs a writable $HALT_POLL" \
            "(root, the haltpoll cpuidle driver)" >&2
        exit 2
    fi
    halt_was=$(cat "$HALT_POLL")
    echo "$BENCH_HALT_POLL_NS" >"$HALT_POLL"
fi

cleanup() {
    cl_stop_all
    rm -rf "$CL_DIR"
    [ -z "$halt_was" ] || echo "$halt_was" >"$HALT_POLL"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date -u +%T)] $*" >&2; }

pid_opts() { # --server-pid=... for the three members
    local i
    for i in 1 2 3; do printf -- '--server-pid=%s ' "${PIDS[$i]}"; done
}

# The generator command for system $1, workload $2, shape $3 (SxW, or a
# contender count for lock); empty when the system has no such workload.
gen_cmd() {
    local sys=$1 wl=$2 shape=$3 bin op
    local s=${shape%x*} w=${shape#*x}
    case $sys in
    coord) bin=$CL_BIN/coordbench ;;
    zk) bin=$CL_BIN/zkbench ;;
    etcd) bin=$CL_BIN/etcdbench ;;
    esac
    case $sys:$wl in
    zk:get) return 0 ;; # no linearizable read short of sync+get
    zk:get-local) op="--op=get" ;;
    coord:lock)
        [ -x "$LOCKBENCH" ] || return 0
        echo "$LOCKBENCH --servers=$SERVERS --clients=$shape" \
            "--duration=$SECS --warmup=$WARMUP --format=kv $(pid_opts)"
        return 0
        ;;
    zk:lock)
        echo "$bin --servers=$SERVERS --op=lock --connections=$shape" \
            "--duration=$SECS --warmup=$WARMUP --format=kv $(pid_opts)"
        return 0
        ;;
    etcd:lock) return 0 ;;
    coord:set-leader) op="--op=set --prefer-leader" ;;
    *:set-leader) return 0 ;; # coord-only: the report shows their set
    *:mix) op="--op=mix --read-pct=90" ;;
    *) op="--op=$wl" ;;
    esac
    echo "$bin --servers=$SERVERS $op --connections=$s --outstanding=$w" \
        "--duration=$SECS --warmup=$WARMUP --format=kv $(pid_opts)"
}

# Bound on one generator run: its window and warm-up plus the slack its
# own timeouts need (sessions 60 s, key space 60 s, 3 pre-window writes of
# a 20 s client timeout, 60 s for the last replies); past it timeout(1)
# stops the generator by PID and the run is recorded as failed=timeout.
# --foreground keeps the generator in our process group: Ctrl-C reaches it
# (the generators start no children of their own).
GEN_SLACK=300

# The value of key $2 in the kv line $1 (empty if absent).
kv_of() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# One run of a generator: its kv line to $RAW, or failed=REASON with what
# the generator printed. A run that failed, made 0 ops or had a request
# fail or stay unanswered (zkbench's err1/pending; any errors) also gets
# the leader as of now and the system's ${sys}_diag in diag.log, so the
# report can say what happened rather than print a bare 0.
run_one() { # $1 system, $2 workload, $3 shape, $4 rep, $5 command
    local line rc=0 why="" ld errs
    log "$1 $2 $3 run $4/$REPEAT"
    # shellcheck disable=SC2086
    line=$(timeout --foreground -k 10 $((SECS + WARMUP + GEN_SLACK)) $5 \
        2>>"$CL_LOGS/generators.log") || rc=$?
    if [ "$rc" -ne 0 ]; then
        why=$(kv_of "$line" failed)
        [ -n "$why" ] || why=exit-$rc
        [ "$rc" -eq 124 ] && why=timeout-$((SECS + WARMUP + GEN_SLACK))s
        line=$(printf '%s\n' "$line" | sed 's/failed=[^ ]*//' | tr -s ' ')
        line="failed=$why $line"
    elif [ "$(kv_of "$line" ops)" = 0 ] && [ "$2" != lock ]; then
        why=no-ops
    fi
    errs=$(kv_of "$line" errors)
    if [ -n "$why" ] || [ "${errs:-0}" != 0 ] ||
        [ -n "$(kv_of "$line" pending)" ]; then
        ld=$("${1}_leader")
        line="$line leader_after=n${ld:-?}"
        log "$1 $2 $3: ${why:-errors} (leader now n${ld:-?};" \
            "$CL_LOGS/generators.log, diag.log)"
        if declare -F "${1}_diag" >/dev/null; then
            echo "== $(date -u +%T) $1 $2 $3 run $4: ${why:-errors}" \
                >>"$CL_LOGS/diag.log"
            "${1}_diag" "$CL_LOGS/diag.log"
        fi
    fi
    echo "sys=$1 wl=$2 shape=$3 rep=$4 $line" >>"$RAW"
}

run_workload() { # $1 system, $2 workload
    local shapes=$SHAPES shape rep cmd
    [ "$2" = lock ] && shapes=$CONTENDERS
    for shape in $shapes; do
        cmd=$(gen_cmd "$1" "$2" "$shape")
        if [ -z "$cmd" ]; then
            [ "$1:$2" = coord:lock ] &&
                echo "sys=$1 wl=$2 shape=$shape missing=$LOCKBENCH" >>"$RAW"
            return 0
        fi
        for rep in $(seq "$REPEAT"); do
            run_one "$1" "$2" "$shape" "$rep" "$cmd"
        done
    done
}

probe_cmd() { # $1 system, $2 pid, $3 KILL|STOP
    local o="--servers=$SERVERS --fault-pid=$2 --fault-signal=$3"
    o+=" --warmup=1 --duration=120"
    case $1 in
    coord) echo "$CL_BIN/coordprobe $o" ;;
    zk) echo "$CL_BIN/zkbench --op=failover-probe $o" ;;
    etcd) echo "$CL_BIN/etcdbench --op=failover-probe $o" ;;
    esac
}

failover_rounds() { # $1 system, $2 KILL|STOP, $3 rounds
    local sys=$1 sig=$2 r ld pid line
    for r in $(seq "$3"); do
        cl_wait_healthy 120
        sleep 1 # a steady leader, not one elected a moment ago
        ld=$("${sys}_leader")
        [ -n "$ld" ] || { log "$sys: no leader before round $r"; return 1; }
        pid=${PIDS[$ld]}
        log "$sys failover $sig round $r/$3: leader n$ld (pid $pid)"
        # shellcheck disable=SC2046
        line=$(timeout --foreground -k 10 $((120 + GEN_SLACK)) \
            $(probe_cmd "$sys" "$pid" "$sig") \
            2>>"$CL_LOGS/generators.log") || true
        [ -n "$line" ] || line="failover_ms=failed"
        echo "sys=$sys wl=failover-$sig shape=- rep=$r leader=n$ld $line" \
            >>"$RAW"
        log "  $line"
        if [ "$sig" = KILL ]; then
            { wait "$pid"; } 2>/dev/null || true
            "${sys}_start" "$ld"
        else
            kill -CONT "$pid" 2>/dev/null || true
        fi
    done
    cl_wait_healthy 120
}

machine() {
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
        "$(nproc) CPUs, $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM," \
        "kernel $(uname -r), temp dir on $(df -T "$CL_DIR" |
            awk 'NR == 2 { print $2 }')"
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at $1"
    local drv set=""
    drv=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null ||
        echo none)
    [ -z "$halt_was" ] ||
        set=" (set by BENCH_HALT_POLL_NS for this run; was $halt_was)"
    echo "idle: cpuidle driver $drv, guest_halt_poll_ns" \
        "$(cat "$HALT_POLL" 2>/dev/null || echo -)$set"
}

fsync_cost() { # 4 KiB O_DSYNC writes on the temp dir's file system
    local out
    out=$(dd if=/dev/zero of="$CL_DIR/fsync-test" bs=4k count=200 \
        oflag=dsync 2>&1 | tail -1) || return 0
    rm -f "$CL_DIR/fsync-test"
    echo "fsync: 200 x 4 KiB O_DSYNC writes (dd) took" \
        "$(echo "$out" | awk -F', ' '{ split($3, t, " ");
            printf "%.3f ms each", t[1] * 1000 / 200 }')"
}

# Issue 9's 1x1 floor, its parts measured now: $1 (before|after) as one
# raw header line "floor: when=$1 at=T fsync_n=.. fsync_p50_us=..
# fsync_p99_us=.. rtt_n=.. rtt_p50_us=.. rtt_p99_us=.. floor_us=..
# majority_n=.. majority_p50_us=.. majority_p99_us=.. first_p50_us=..
# third_p50_us=.. majority_floor_us=.." (report.awk -v mode=floor computes
# the floors; the report recomputes them from the parts), or "floor:
# when=$1 ... failed=probe" (majority_failed=probe when only the majority
# probe failed). 1000 appends + fdatasync of 256 B in the temp dir (the
# servers' file system), 1000 64-byte loopback TCP round trips and 1000
# rounds of three log writes started together (three zero-filled files,
# a 4 KiB O_DIRECT|O_DSYNC block each, a barrier per round): about a
# second or less each here.
floor_probe() {
    local fs="" rt="" mj="" pp="" at
    at=$(date -u +%T)
    if [ -x "$CL_BIN/coordbench" ]; then
        fs=$("$CL_BIN/coordbench" --probe-fsync="$CL_DIR" --probe-n=1000 \
            2>>"$CL_LOGS/generators.log") || fs=""
        rt=$("$CL_BIN/coordbench" --probe-rtt --probe-n=1000 \
            2>>"$CL_LOGS/generators.log") || rt=""
        mj=$("$CL_BIN/coordbench" --probe-majority="$CL_DIR" \
            --probe-n=1000 2>>"$CL_LOGS/generators.log") || mj=""
        pp=$("$CL_BIN/coordbench" --probe-pipeline="$CL_DIR" \
            --probe-n=1000 2>>"$CL_LOGS/generators.log") || pp=""
    fi
    printf '%s\n%s\n%s\n%s\n' "$fs" "$rt" "$mj" "$pp" |
        awk -v mode=floor -v when="$1" -v at="$at" -f "$here/report.awk" |
        sed "s/\$/ load=$(cut -d' ' -f1 /proc/loadavg)/; s/^/# /" >>"$RAW"
    log "floor $1 coord's runs: $(tail -1 "$RAW" | sed 's/^# floor: //')"
}

# All of the run in one function: bash parses it whole before running it,
# so editing this file during a run cannot derail the run.
main() {
    : >"$RAW"
    {
        echo "command: make bench-compare BENCH_SECONDS=$SECS" \
            "BENCH_REPEAT=$REPEAT BENCH_SYSTEMS=\"$SYSTEMS\"" \
            "BENCH_WORKLOADS=\"$WORKLOADS\" BENCH_SHAPES=\"$SHAPES\"" \
            "BENCH_CONTENDERS=\"$CONTENDERS\"" \
            "BENCH_FAILOVERS=$FAILOVERS BENCH_COORD_FAILOVERS=$COORD_FAILOVERS"
        echo "coordd: md5 $(md5sum <"$CL_BIN/coordd" | cut -c1-12), built" \
        "$(date -u -r "$BUILD/bin/coordd" +%FT%TZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null)" \
            "$(git status --porcelain -- coordd libcoord 2>/dev/null |
                grep -q . && echo '(coordd/libcoord with uncommitted edits)')"
        echo "started: $(date -u +%FT%TZ)"
        machine start
        fsync_cost
        echo "versions: ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper)," \
            "etcd $(dpkg-query -W -f='${Version}' etcd-server)," \
            "$(java -version 2>&1 | head -1)"
    } | sed 's/^/# /' >>"$RAW"

    for sys in $SYSTEMS; do
        log "starting a 3-node $sys cluster"
        cl_start_all "$sys"
        log "$sys up at $SERVERS (pids ${PIDS[*]:1}), leader n$("${sys}_leader")"
        echo "# $sys: servers $SERVERS; load $(cut -d' ' -f1-3 \
            /proc/loadavg) at $(date -u +%T)" >>"$RAW"
        # Unrecorded load first, the same for every system: ZooKeeper's JVM
        # compiles its hot paths during the first seconds under load.
        if [ "$PRIME" != 0 ] && [ "$WORKLOADS" != failover ]; then
            log "$sys: ${PRIME}s unrecorded set 16x16 (warm-up)"
            # shellcheck disable=SC2046
            timeout --foreground -k 10 $((PRIME + GEN_SLACK)) \
                $(SECS=$PRIME WARMUP=0 gen_cmd "$sys" set 16x16) \
                >/dev/null 2>>"$CL_LOGS/generators.log" || true
        fi
        if [ "$sys" = coord ]; then floor_probe before; fi
        for wl in $WORKLOADS; do
            if [ "$wl" = failover ]; then
                n=$FAILOVERS
                [ "$sys" = coord ] && n=$COORD_FAILOVERS
                failover_rounds "$sys" KILL "$n"
                failover_rounds "$sys" STOP "$FAILOVERS"
            else
                run_workload "$sys" "$wl"
            fi
        done
        if [ "$sys" = coord ]; then floor_probe after; fi
        log "stopping $sys"
        cl_stop_all
    done
    {
        echo "finished: $(date -u +%FT%TZ)"
        machine end
    } | sed 's/^/# /' >>"$RAW"

    awk -f "$here/report.awk" "$RAW" >"$MD"
    if command -v gnuplot >/dev/null 2>&1; then
        awk -v mode=plot -f "$here/report.awk" "$RAW" >"$CL_DIR/plot.dat"
        nsys=$(grep -c 'workload ops' "$CL_DIR/plot.dat" || true)
        gnuplot -e "datafile='$CL_DIR/plot.dat'; outfile='$PNG'; nsys=$((nsys / 2))" \
            "$here/plot.gp" 2>>"$CL_LOGS/generators.log" &&
            echo "plot: $PNG" >>"$MD"
    fi
    cat "$MD"
}

# One line: bash has read all it will ever run of this file once it starts.
main "$@"; exit $?
