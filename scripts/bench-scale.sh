#!/usr/bin/env bash
# bench-scale.sh -- what `make bench-scale` does (issue 9 part 5): scale
# curves of coordd, printed as Markdown tables, with gnuplot PNGs in
# docs/bench-scale-*.png and raw rows in $BUILD/bench-scale-*.dat.
#
# Single node (fresh coordd on 127.0.0.1, free port, temp data dir):
#   tree      the tree grows 10^3 .. SCALE_MAX_NODES nodes (coordscale fill)
#   watches   0 .. SCALE_WATCHES one-shot data watches held on that tree
#   restart   kill -9 of that node, restart, time until it serves a read
#   stall     a fresh node with the largest tree: one long set run across
#             snapshots (worst latency, errors: does serving stop while
#             the tree serializes?)
#   sessions  a second fresh coordd: 10 .. SCALE_MAX_SESSIONS idle sessions
#             held by coordscale (external-loop clients, at most 2000 per
#             process: 4 descriptors each under a 20000 ulimit -n)
#   values    set/get with 128 B .. 64 KiB values on that second node
# 3-node cluster (127.0.0.1/.2/.3):
#   snapshot  the tree grows; at each size a new member (fresh id, --join,
#             started first) is added with `coordctl member add`, timed
#             from the add until its own STATUS shows applied >= the
#             leader's commit at the add; then it is removed and stopped
#   restart   kill -9 of a follower holding the largest tree, restart,
#             time until it serves a local read by itself
# Every point measures coordbench set and get at SCALE_SHAPE (16x16) for
# BENCH_SECONDS after BENCH_WARMUP, on 1000 keys of its own, and coordd's
# VmRSS (/proc/PID/status).
#
#   SCALE_MAX_NODES=1000000  SCALE_MAX_SESSIONS=10000  SCALE_WATCHES=1000000
#   SCALE_VALUES="128 1024 16384 65536"   BENCH_SECONDS=3  BENCH_WARMUP=1
#   SCALE_PARTS="tree watches restart stall sessions values cluster"
#   SCALE_STALL_ENTRIES=100000 (coordd's default)  SCALE_STALL_SECONDS=15
#
# It measures; it checks nothing. Every process it starts is stopped by
# PID on exit (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
COORDD=${COORDD_BIN:-$BUILD/bin/coordd}
BENCH=$BUILD/bin/coordbench
CTL=$BUILD/bin/coordctl
SCALE=$BUILD/bin/coordscale
SECS=${BENCH_SECONDS:-3}
WARMUP=${BENCH_WARMUP:-1}
MAXN=${SCALE_MAX_NODES:-1000000}
MAXS=${SCALE_MAX_SESSIONS:-10000}
MAXW=${SCALE_WATCHES:-1000000}
VALUES=${SCALE_VALUES:-128 1024 16384 65536}
PARTS=${SCALE_PARTS:-tree watches restart stall sessions values cluster}
CONNS=${SCALE_SHAPE_CONNS:-16}
WIN=${SCALE_SHAPE_WINDOW:-16}
PNG=${SCALE_PNG_DIR:-docs}

dir=$(mktemp -d /tmp/coord-bench-scale.XXXXXX)
declare -A pids=() # name -> pid of every process we started
stop_pid() { # $1: pid; TERM, up to 20 s, then KILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 400); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
stop_name() { stop_pid "${pids[$1]:-}"; unset "pids[$1]"; }
cleanup() {
    local n
    for n in "${!pids[@]}"; do stop_pid "${pids[$n]}"; done
    cat "$dir"/*.log >"$BUILD/bench-scale-coordd.log" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cpu_ticks() { # utime + stime of pid $1
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
free_port() {
    local p
    while :; do
        p=$("$BENCH" --free-port)
        [[ " ${used_ports:-} " == *" $p "* ]] || break
    done
    used_ports="${used_ports:-} $p"
    echo "$p"
}

# serves ADDR: 0 when a local read of / succeeds at ADDR alone
serves() {
    "$CTL" --servers="$1" --timeout=500 stat / >/dev/null 2>&1
}
wait_serves() { # $1 addr, $2 pid, $3 seconds
    local end=$(($(date +%s) + $3))
    until serves "$1"; do
        kill -0 "$2" 2>/dev/null || { echo "coordd $2 died"; exit 1; }
        [ "$(date +%s)" -lt "$end" ] ||
            { echo "$1 not serving after $3 s"; exit 1; }
        sleep 0.05
    done
}

# waits until file $1 holds "ready" (process $2 alive), at most $3 s
wait_ready() {
    local end=$(($(date +%s) + $3))
    until grep -q '^ready' "$1" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null ||
            { echo "helper $2 died:"; cat "$1" "$1.err"; exit 1; }
        [ "$(date +%s)" -lt "$end" ] ||
            { echo "helper $2 not ready after $3 s"; exit 1; }
        sleep 0.2
    done
}

# One measured point against $1 (servers), pid(s) $2 (comma list):
# coordbench set then get at CONNSxWIN; extra coordbench options in $3.
# Sets the globals set_line and get_line.
measure() {
    local pidopts='' p
    for p in ${2//,/ }; do pidopts+=" --server-pid=$p"; done
    # A failed run (e.g. no session within coordbench's timeout) leaves
    # its columns empty and is reported; the curve goes on.
    # shellcheck disable=SC2086
    set_line=$("$BENCH" --servers="$1" $pidopts --op=set \
        --connections="$CONNS" --outstanding="$WIN" --duration="$SECS" \
        --warmup="$WARMUP" --format=kv --prefix=/scale-bench ${3:-}) ||
        { echo "(set run failed)" >&2; set_line=failed; }
    # shellcheck disable=SC2086
    get_line=$("$BENCH" --servers="$1" $pidopts --op=get \
        --connections="$CONNS" --outstanding="$WIN" --duration="$SECS" \
        --warmup="$WARMUP" --format=kv --prefix=/scale-bench ${3:-}) ||
        { echo "(get run failed)" >&2; get_line=failed; }
}
# the common columns of a row: set ops/s, p50, p99, get ops/s, p50, p99,
# server CPU us per set and per get
cols() {
    printf '%s | %s | %s | %s | %s | %s | %s | %s' \
        "$(kv "$set_line" ops_per_s)" "$(kv "$set_line" p50_us)" \
        "$(kv "$set_line" p99_us)" "$(kv "$get_line" ops_per_s)" \
        "$(kv "$get_line" p50_us)" "$(kv "$get_line" p99_us)" \
        "$(kv "$set_line" server_cpu_us_per_op)" \
        "$(kv "$get_line" server_cpu_us_per_op)"
}
# (NaN for a failed run: gnuplot skips it, the columns stay in place)
kvn() { local v; v=$(kv "$1" "$2"); echo "${v:-NaN}"; }
dat_cols() {
    printf '%s %s %s %s %s %s' "$(kvn "$set_line" ops_per_s)" \
        "$(kvn "$set_line" p99_us)" "$(kvn "$get_line" ops_per_s)" \
        "$(kvn "$get_line" p99_us)" \
        "$(kvn "$set_line" server_cpu_us_per_op)" \
        "$(kvn "$get_line" server_cpu_us_per_op)"
}
HDR='set ops/s | set p50 us | set p99 us | get ops/s | get p50 us |'
HDR+=' get p99 us | CPU us/set | CPU us/get'
SEP='---|---|---|---|---|---|---|---'

# sizes 10^3 .. $1 by decades (and $1 itself)
decades() {
    local x=1000 out=''
    while [ "$x" -lt "$1" ]; do out+="$x "; x=$((x * 10)); done
    echo "$out$1"
}

start_single() { # $1 name; sets addr_<name> via echo of the address
    local port
    port=$(free_port)
    "$COORDD" --client-listen=127.0.0.1:"$port" --data-dir="$dir/$1" \
        --conns-max=12000 --log-level=info >>"$dir/$1.log" 2>&1 &
    pids[$1]=$!
    echo "127.0.0.1:$port" >"$dir/$1.addr"
}

echo "bench-scale: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB",
    $2 / 1048576}' /proc/meminfo); load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "commit $(git rev-parse --short HEAD 2>/dev/null); $(date -u +%FT%TZ);" \
    "${CONNS}x${WIN}, ${SECS}s per run after ${WARMUP}s warm-up"

# ---- single node A: tree, watches, restart ----------------------------------
if has_part tree || has_part watches || has_part restart; then
    start_single a
    A=$(cat "$dir/a.addr")
    wait_serves "$A" "${pids[a]}" 30
    filled=0
    echo
    echo "### Tree size (single node)"
    echo
    echo "| nodes | fill nodes/s | RSS MB | RSS bytes/node | $HDR |"
    echo "|---|---|---|---|$SEP|"
    # the baseline (RSS after one round of the benches on an empty tree:
    # the allocator's arenas and the bench keys are then in place)
    measure "$A" "${pids[a]}"
    rss0=$(rss_mb "${pids[a]}")
    echo "| 0 | - | $rss0 | - | $(cols) |"
    : >"$BUILD/bench-scale-tree.dat"
    for n in $(decades "$MAXN"); do
        fl=$("$SCALE" --servers="$A" fill /fill "$filled" "$n")
        filled=$n
        rss=$(rss_mb "${pids[a]}")
        per=$(awk -v r="$rss" -v r0="$rss0" -v n="$n" \
            'BEGIN {printf "%.0f", (r - r0) * 1048576 / n}')
        measure "$A" "${pids[a]}"
        echo "| $n | $(kv "$fl" nodes_per_s) | $rss | $per | $(cols) |"
        echo "$n $rss $(dat_cols) $per" >>"$BUILD/bench-scale-tree.dat"
    done
fi

if has_part watches; then
    echo
    echo "### Watches registered (single node, $filled-node tree)"
    echo
    echo "| watches | register/s | RSS MB | RSS bytes/watch | $HDR |"
    echo "|---|---|---|---|$SEP|"
    : >"$BUILD/bench-scale-watches.dat"
    rssw0=$(rss_mb "${pids[a]}")
    echo "| 0 | - | $rssw0 | - | (the largest tree's row above) |"
    for w in $(decades "$((MAXW < filled ? MAXW : filled))"); do
        "$SCALE" --servers="$A" watches /fill "$w" >"$dir/w.out" \
            2>"$dir/w.out.err" &
        pids[w]=$!
        wait_ready "$dir/w.out" "${pids[w]}" 600
        ready=$(grep '^ready' "$dir/w.out")
        secs=$(kv "$ready" seconds)
        rss=$(rss_mb "${pids[a]}")
        per=$(awk -v r="$rss" -v r0="$rssw0" -v n="$w" \
            'BEGIN {printf "%.0f", (r - r0) * 1048576 / n}')
        measure "$A" "${pids[a]}"
        rate=$(awk -v n="$w" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
        echo "| $w | $rate | $rss | $per | $(cols) |"
        echo "$w $rss $(dat_cols) $per" >>"$BUILD/bench-scale-watches.dat"
        stop_name w
    done
fi

# restart: kill -9, start on the same directory, time until a read serves
# (not in a subshell: the start command records the new pid); sets ms
restart_time() { # $1 name, $2 addr, $3 start command (function)
    local t0 pid=${pids[$1]}
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    t0=$(now_ms)
    "$3"
    wait_serves "$2" "${pids[$1]}" 600
    ms=$(($(now_ms) - t0))
}
restart_a() {
    "$COORDD" --client-listen="$A" --data-dir="$dir/a" --conns-max=12000 \
        --log-level=info >>"$dir/a.log" 2>&1 &
    pids[a]=$!
}
if has_part restart; then
    echo
    restart_time a "$A" restart_a
    echo "Restart of the single node holding $filled nodes (kill -9, start," \
        "until \`coordctl stat /\` succeeds): $ms ms; RSS after restart" \
        "$(rss_mb "${pids[a]}") MB"
    echo "restart single nodes=$filled ms=$ms" >"$BUILD/bench-scale-restart.dat"
fi
stop_name a

# ---- single node C: writes across snapshots of a large tree ------------------
# A fresh node with --snapshot-entries=SCALE_STALL_ENTRIES holding the
# largest tree takes snapshots during one long set run: the worst latency
# and the errors show whether serving stops while the tree serializes
# (COORD_EAGAIN: the leader's log is full until a snapshot compacts it,
# backpressure; COORD_ECONNLOSS: the server went silent).
if has_part stall; then
    start_single_opts() { # $1 name, $2 extra coordd flags
        local port
        port=$(free_port)
        # shellcheck disable=SC2086
        "$COORDD" --client-listen=127.0.0.1:"$port" --data-dir="$dir/$1" \
            --conns-max=12000 --log-level=info $2 >>"$dir/$1.log" 2>&1 &
        pids[$1]=$!
        echo "127.0.0.1:$port" >"$dir/$1.addr"
    }
    se=${SCALE_STALL_ENTRIES:-100000}
    start_single_opts c "--snapshot-entries=$se"
    C=$(cat "$dir/c.addr")
    wait_serves "$C" "${pids[c]}" 30
    "$SCALE" --servers="$C" fill /fill 0 "$MAXN" >/dev/null
    snaps0=$(grep -c 'snapshot taken' "$dir/c.log" || true)
    ss=${SCALE_STALL_SECONDS:-15}
    line=$("$BENCH" --servers="$C" --server-pid="${pids[c]}" --op=set \
        --connections="$CONNS" --outstanding="$WIN" --duration="$ss" \
        --warmup=1 --format=kv --prefix=/scale-bench 2>"$dir/c.bench.err")
    snaps=$(($(grep -c 'snapshot taken' "$dir/c.log" || true) - snaps0))
    snapms=$(grep 'snapshot taken' "$dir/c.log" | tail -n "$snaps" |
        sed -n 's/.* ms=\([0-9]*\).*/\1/p' | tr '\n' ' ')
    echo
    echo "### Writes across snapshots ($MAXN-node tree, single node," \
        "--snapshot-entries=$se, set ${CONNS}x${WIN} for ${ss}s)"
    echo
    echo "| coordd | snapshots taken | snapshot ms (each) | set ops/s |" \
        "p50 us | p99 us | p99.9 us | max us | errors | CPU us/set |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    echo "| $COORDD | $snaps | $snapms | $(kv "$line" ops_per_s) |" \
        "$(kv "$line" p50_us) | $(kv "$line" p99_us) |" \
        "$(kv "$line" p999_us) | $(kv "$line" max_us) |" \
        "$(kv "$line" errors) | $(kv "$line" server_cpu_us_per_op) |"
    echo "errors by kind: $(sed -n 's/^coordbench: first \(COORD_[A-Z]*\).*/\1/p' \
        "$dir/c.bench.err" | tr "\n" " ")"
    echo "stall snapshots=$snaps $line" >"$BUILD/bench-scale-stall.dat"
    stop_name c
fi

# ---- single node B: sessions, values ----------------------------------------
if has_part sessions || has_part values; then
    start_single b
    B=$(cat "$dir/b.addr")
    wait_serves "$B" "${pids[b]}" 30
fi
if has_part sessions; then
    echo
    echo "### Idle sessions (single node; each session one connection," \
        "libcoord's default 300 ms ping)"
    echo
    echo "| sessions | RSS MB | RSS KB/session | idle server CPU % |" \
        "idle client CPU % | $HDR |"
    echo "|---|---|---|---|---|$SEP|"
    : >"$BUILD/bench-scale-sessions.dat"
    measure "$B" "${pids[b]}" # baseline, as for the tree
    rss0=$(rss_mb "${pids[b]}")
    echo "| 0 | $rss0 | - | - | - | $(cols) |"
    held=0
    k=0
    x=10
    xs=''
    while [ "$x" -lt "$MAXS" ]; do xs+="$x "; x=$((x * 10)); done
    for s in $xs$MAXS; do
        while [ "$held" -lt "$s" ]; do # helpers of at most 2000 each
            chunk=$((s - held > 2000 ? 2000 : s - held))
            k=$((k + 1))
            "$SCALE" --servers="$B" sessions "$chunk" >"$dir/s$k.out" \
                2>"$dir/s$k.out.err" &
            pids[s$k]=$!
            wait_ready "$dir/s$k.out" "${pids[s$k]}" 600
            held=$((held + chunk))
        done
        helpers_ticks() {
            local i t=0
            for i in $(seq "$k"); do
                t=$((t + $(cpu_ticks "${pids[s$i]}")))
            done
            echo "$t"
        }
        c0=$(cpu_ticks "${pids[b]}")
        h0=$(helpers_ticks)
        sleep 2
        c1=$(cpu_ticks "${pids[b]}")
        h1=$(helpers_ticks)
        idle=$(awk -v d="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" \
            'BEGIN {printf "%.1f", d * 100 / hz / 2}')
        hidle=$(awk -v d="$((h1 - h0))" -v hz="$(getconf CLK_TCK)" \
            'BEGIN {printf "%.1f", d * 100 / hz / 2}')
        rss=$(rss_mb "${pids[b]}") # before the bench's own connections
        per=$(awk -v r="$rss" -v r0="$rss0" -v n="$s" \
            'BEGIN {printf "%.1f", (r - r0) * 1024 / n}')
        measure "$B" "${pids[b]}"
        echo "| $s | $rss | $per | $idle | $hidle | $(cols) |"
        echo "$s $rss $(dat_cols) $per $idle $hidle" \
            >>"$BUILD/bench-scale-sessions.dat"
    done
    for i in $(seq "$k"); do stop_name "s$i"; done
fi
if has_part values; then
    echo
    echo "### Value size (single node)"
    echo
    echo "| value bytes | RSS MB | set MB/s | $HDR |"
    echo "|---|---|---|$SEP|"
    : >"$BUILD/bench-scale-values.dat"
    for v in $VALUES; do
        measure "$B" "${pids[b]}" "--value-size=$v"
        mbs=$(awk -v o="$(kv "$set_line" ops_per_s)" -v v="$v" \
            'BEGIN {printf "%.1f", o * v / 1048576}')
        echo "| $v | $(rss_mb "${pids[b]}") | $mbs | $(cols) |"
        echo "$v $(rss_mb "${pids[b]}") $(dat_cols) $mbs" \
            >>"$BUILD/bench-scale-values.dat"
    done
fi
stop_name b

# ---- 3-node cluster: snapshot transfer and restart --------------------------
if has_part cluster; then
    members=''
    servers=''
    declare -A caddr=() paddr=()
    for i in 1 2 3 4 5 6 7 8 9; do
        caddr[$i]=127.0.0.$i:$(free_port)
        paddr[$i]=127.0.0.$i:$(free_port)
    done
    for i in 1 2 3; do
        members+="${members:+,}$i@${caddr[$i]}:${paddr[$i]##*:}"
        servers+="${servers:+,}${caddr[$i]}"
    done
    start_member() { # $1 id, $2 members list, $3 extra flags
        # shellcheck disable=SC2086
        "$COORDD" --node-id="$1" --members="$2" --data-dir="$dir/m$1" \
            --log-level=info ${3:-} >>"$dir/m$1.log" 2>&1 &
        pids[m$1]=$!
    }
    for i in 1 2 3; do start_member "$i" "$members"; done
    for i in 1 2 3; do wait_serves "${caddr[$i]}" "${pids[m$i]}" 60; done
    leader_id() {
        "$CTL" --servers="$servers" --timeout=2000 --json status \
            2>/dev/null | grep '"role":"leader"' | head -1 |
            sed -n 's/.*"id":\([0-9]*\).*/\1/p' || true
    }
    field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -1; }
    echo
    echo "### 3-node cluster: snapshot transfer to a new member"
    echo
    echo "| nodes | leader RSS MB | add to caught up ms | entries at add |" \
        "$HDR |"
    echo "|---|---|---|---|$SEP|"
    : >"$BUILD/bench-scale-snapshot.dat"
    filled=0
    nid=3
    for n in $(decades "$MAXN"); do
        "$SCALE" --servers="$servers" fill /fill "$filled" "$n" >/dev/null
        filled=$n
        measure "$servers" "${pids[m1]},${pids[m2]},${pids[m3]}"
        ld=''
        for _ in $(seq 100); do # a stall may leave no leader for a while
            ld=$(leader_id)
            [ -n "$ld" ] && break
            sleep 0.2
        done
        [ -n "$ld" ] || { echo "no leader after 20 s"; exit 1; }
        nid=$((nid + 1))
        # the new member, started first: with --join it waits, outside the
        # configuration, for the leader to add it and send it the state
        start_member "$nid" \
            "$members,$nid@${caddr[$nid]}:${paddr[$nid]##*:}" --join=true
        sleep 0.5 # only so its listener is up; not part of the figure
        t0=$(now_ms)
        "$CTL" --servers="$servers" --timeout=60000 member add "$nid" \
            "${caddr[$nid]}" "${paddr[$nid]}" >/dev/null
        c0=''
        for _ in $(seq 100); do
            c0=$("$CTL" --servers="${caddr[$ld]}" --timeout=2000 --json \
                status 2>/dev/null | grep "\"id\":$ld," | field commit) ||
                true
            [ -n "$c0" ] && break
            sleep 0.2
        done
        [ -n "$c0" ] || { echo "no commit index from n$ld"; exit 1; }
        end=$(($(date +%s) + 600))
        while :; do
            a=$("$CTL" --servers="${caddr[$nid]}" --timeout=1000 --json \
                status 2>/dev/null | grep "\"id\":$nid," |
                field applied) || true
            [ -n "$a" ] && [ "$a" -ge "$c0" ] && break
            [ "$(date +%s)" -lt "$end" ] ||
                { echo "member $nid not caught up in 600 s"; exit 1; }
            kill -0 "${pids[m$nid]}" ||
                { echo "member $nid died"; tail "$dir/m$nid.log"; exit 1; }
            sleep 0.05
        done
        ms=$(($(now_ms) - t0))
        echo "| $n | $(rss_mb "${pids[m$ld]}") | $ms | $c0 | $(cols) |"
        echo "$n $(rss_mb "${pids[m$ld]}") $(dat_cols) $ms" \
            >>"$BUILD/bench-scale-snapshot.dat"
        "$CTL" --servers="$servers" --timeout=60000 member remove "$nid" \
            >/dev/null
        stop_name "m$nid"
    done
    for _ in $(seq 100); do
        ld=$(leader_id)
        [ -n "$ld" ] && break
        sleep 0.2
    done
    fl=$((ld % 3 + 1))
    restart_f() { start_member "$fl" "$members"; }
    restart_time "m$fl" "${caddr[$fl]}" restart_f
    echo
    echo "Restart of follower n$fl holding $filled nodes (kill -9, start," \
        "until \`coordctl stat /\` at it alone succeeds): $ms ms"
    echo "restart follower nodes=$filled ms=$ms" \
        >>"$BUILD/bench-scale-restart.dat"
fi

# ---- plots -------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
    mkdir -p "$PNG"
    plot() { # $1 dat, $2 png, $3 x label, $4 extra column spec for y2
        [ -s "$1" ] || return 0
        gnuplot <<EOF
set terminal png size 800,480
set output '$2'
set logscale x
set xlabel '$3'
set ylabel 'ops/s (${CONNS}x${WIN})'
set y2label '$5'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key top left
set grid
plot '$1' using 1:3 with linespoints title 'set ops/s', \
     '' using 1:5 with linespoints title 'get ops/s', \
     '' using 1:$4 axes x1y2 with linespoints dt 2 title '$5'
EOF
    }
    plot "$BUILD/bench-scale-tree.dat" "$PNG/bench-scale-tree.png" \
        'nodes in the tree' 2 'coordd RSS MB'
    plot "$BUILD/bench-scale-watches.dat" "$PNG/bench-scale-watches.png" \
        'watches registered' 2 'coordd RSS MB'
    plot "$BUILD/bench-scale-sessions.dat" "$PNG/bench-scale-sessions.png" \
        'idle sessions' 2 'coordd RSS MB'
    plot "$BUILD/bench-scale-values.dat" "$PNG/bench-scale-values.png" \
        'value bytes' 9 'set MB/s'
    plot "$BUILD/bench-scale-snapshot.dat" "$PNG/bench-scale-snapshot.png" \
        'nodes in the tree (3-node cluster)' 9 'snapshot transfer ms'
    echo
    echo "plots: $PNG/bench-scale-*.png; raw rows: $BUILD/bench-scale-*.dat"
fi
