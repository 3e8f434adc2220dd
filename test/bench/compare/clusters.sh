# shellcheck shell=bash
# clusters.sh -- start, probe and stop 3-node clusters of coord, ZooKeeper
# and etcd on 127.0.0.1/.2/.3 for test/bench/compare/compare.sh (sourced,
# bash). One system at a time: ${sys}_setup picks free ports and writes the
# config under $CL_DIR; ${sys}_start N starts member N in the background
# and records its PID in PIDS[N] (the server process itself, so CPU and
# signals reach it); ${sys}_leader prints the leading member's number;
# ${sys}_healthy succeeds when every member serves a write and one leads
# (etcd: every member answers its status and one leads). ${sys}_diag, if
# defined, appends what a failed run's explanation needs to a file.
# cl_stop_all stops every member by PID. Each system runs with its
# defaults; the only settings given are addresses, ports, data dirs and
# ZooKeeper's admin HTTP server turned off (its fixed port 8080 would
# collide between members). It never kills anything it did not start.
#
# Needs: CL_BIN (a dir with coordbench for --free-port, coordd, coordctl,
# zkbench for zk_healthy),
# CL_DIR (a fresh temp dir), CL_LOGS (log dir).

PIDS=("" "" "" "")
SERVERS=
CL_SYS=

# Free TCP ports (distinct; checked on 127.0.0.1, the same loopback
# interface as .2 and .3) into PORTS.
cl_free_ports() {
    PORTS=()
    while [ "${#PORTS[@]}" -lt "$1" ]; do
        local p
        p=$("$CL_BIN/coordbench" --free-port)
        [[ " ${PORTS[*]} " == *" $p "* ]] || PORTS+=("$p")
    done
}

cl_stop_pid() { # $1: pid; CONT (a stopped one), TERM, 10 s, then KILL
    [ -n "$1" ] || return 0
    kill -CONT "$1" 2>/dev/null || true
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 200); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cl_stop_all() {
    local i
    for i in 1 2 3; do
        cl_stop_pid "${PIDS[$i]}"
        PIDS[i]=
    done
}

cl_addr() { echo "$SERVERS" | cut -d, -f"$1"; }

# ---- coord ------------------------------------------------------------------
CL_MEMBERS=
coord_setup() {
    cl_free_ports 6
    CL_MEMBERS=
    SERVERS=
    local i
    for i in 1 2 3; do
        CL_MEMBERS+="${CL_MEMBERS:+,}$i@127.0.0.$i:${PORTS[$((2 * i - 2))]}"
        CL_MEMBERS+=":${PORTS[$((2 * i - 1))]}"
        SERVERS+="${SERVERS:+,}127.0.0.$i:${PORTS[$((2 * i - 2))]}"
    done
}
coord_start() {
    "$CL_BIN/coordd" --node-id="$1" --members="$CL_MEMBERS" \
        --data-dir="$CL_DIR/coord$1" >>"$CL_LOGS/coord-n$1.log" 2>&1 &
    PIDS[$1]=$!
}
coord_leader() {
    "$CL_BIN/coordctl" --servers="$SERVERS" --timeout=1000 --json \
        status 2>/dev/null | grep '"role":"leader"' | head -1 |
        sed -n 's/.*"id":\([0-9]*\).*/\1/p' || true
}
coord_healthy() {
    local i
    for i in 1 2 3; do # each member serves a write sent to it alone
        "$CL_BIN/coordbench" --servers="$(cl_addr "$i")" \
            --duration=0.01 --warmup=0 --keys=1 --timeout-ms=1000 \
            --format=kv --prefix=/bench-ready >/dev/null 2>&1 || return 1
    done
    [ -n "$(coord_leader)" ]
}

# ---- ZooKeeper ----------------------------------------------------------------
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar
ZK_CP+=:/usr/share/java/log4j-1.2.jar
zk_setup() {
    cl_free_ports 9
    SERVERS=
    mkdir -p "$CL_DIR/zkconf"
    cp /etc/zookeeper/conf/log4j.properties "$CL_DIR/zkconf/"
    local i j
    for i in 1 2 3; do
        mkdir -p "$CL_DIR/zk$i"
        echo "$i" >"$CL_DIR/zk$i/myid"
        SERVERS+="${SERVERS:+,}127.0.0.$i:${PORTS[$((3 * i - 3))]}"
        {
            echo "tickTime=2000"
            echo "initLimit=10"
            echo "syncLimit=5"
            echo "dataDir=$CL_DIR/zk$i"
            echo "clientPort=${PORTS[$((3 * i - 3))]}"
            echo "clientPortAddress=127.0.0.$i"
            echo "admin.enableServer=false"
            for j in 1 2 3; do
                echo "server.$j=127.0.0.$j:${PORTS[$((3 * j - 2))]}:${PORTS[$((3 * j - 1))]}"
            done
        } >"$CL_DIR/zk$i.cfg"
    done
}
zk_start() { # what zkServer.sh runs, minus the pid file and nohup
    java "-Dzookeeper.log.dir=$CL_LOGS" \
        "-Dzookeeper.root.logger=INFO,CONSOLE" \
        -cp "$CL_DIR/zkconf:$ZK_CP" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain \
        "$CL_DIR/zk$1.cfg" >>"$CL_LOGS/zk-n$1.log" 2>&1 &
    PIDS[$1]=$!
}
zk_mode() { # member $1's Mode from the srvr four-letter word (2 s bound)
    local a
    a=$(cl_addr "$1")
    timeout 2 bash -c "exec 3<>/dev/tcp/${a%:*}/${a#*:} && echo srvr >&3 &&
        cat <&3" 2>/dev/null | sed -n 's/^Mode: //p' || true
}
zk_leader() {
    local i
    for i in 1 2 3; do
        [ "$(zk_mode "$i")" = leader ] && { echo "$i"; return 0; }
    done
    return 0
}
zk_healthy() { # one leader, and each member serves a write (as coord's)
    local i m leaders=0
    for i in 1 2 3; do
        m=$(zk_mode "$i")
        case "$m" in
        leader) leaders=$((leaders + 1)) ;;
        follower) ;;
        *) return 1 ;;
        esac
    done
    [ "$leaders" -eq 1 ] || return 1
    for i in 1 2 3; do # a 4 s session: a stalled write fails in ~2.7 s
        timeout --foreground -k 2 10 "$CL_BIN/zkbench" --servers="$(cl_addr "$i")" \
            --op=ready --timeout-ms=4000 --prefix=/bench-ready \
            >/dev/null 2>&1 || return 1
    done
}
zk_diag() { # after a failed or stalled run: each member's srvr, to $1
    local i a
    for i in 1 2 3; do
        a=$(cl_addr "$i")
        echo "-- n$i (pid ${PIDS[$i]}) $a srvr:"
        timeout 2 bash -c "exec 3<>/dev/tcp/${a%:*}/${a#*:} && echo srvr >&3 &&
            cat <&3" 2>/dev/null || echo "(no answer)"
    done >>"$1"
}

# ---- etcd ---------------------------------------------------------------------
CL_ETCD_IC=
etcd_setup() {
    cl_free_ports 6
    SERVERS=
    CL_ETCD_IC=
    local i
    for i in 1 2 3; do
        SERVERS+="${SERVERS:+,}127.0.0.$i:${PORTS[$((2 * i - 2))]}"
        CL_ETCD_IC+="${CL_ETCD_IC:+,}n$i=http://127.0.0.$i:${PORTS[$((2 * i - 1))]}"
    done
}
etcd_start() {
    local c=${PORTS[$((2 * $1 - 2))]} p=${PORTS[$((2 * $1 - 1))]}
    etcd --name "n$1" --data-dir "$CL_DIR/etcd$1" \
        --listen-client-urls "http://127.0.0.$1:$c" \
        --advertise-client-urls "http://127.0.0.$1:$c" \
        --listen-peer-urls "http://127.0.0.$1:$p" \
        --initial-advertise-peer-urls "http://127.0.0.$1:$p" \
        --initial-cluster "$CL_ETCD_IC" --initial-cluster-state new \
        --initial-cluster-token "bench-compare-$$" \
        >>"$CL_LOGS/etcd-n$1.log" 2>&1 &
    PIDS[$1]=$!
}
etcd_status() { # "endpoint isleader" per answering member
    ETCDCTL_API=3 timeout 5 etcdctl --endpoints="$SERVERS" \
        --command-timeout=1s endpoint status -w simple 2>/dev/null |
        awk -F', ' '{ print $1, $5 }' || true
}
etcd_leader() {
    local ep
    ep=$(etcd_status | awk '$2 == "true" { print $1; exit }')
    [ -n "$ep" ] || return 0
    echo "$SERVERS" | tr ',' '\n' | grep -nx "$ep" | cut -d: -f1
}
etcd_healthy() {
    local s
    s=$(etcd_status)
    [ "$(printf '%s\n' "$s" | grep -c .)" -eq 3 ] &&
        [ "$(printf '%s\n' "$s" | grep -c ' true$')" -eq 1 ]
}

# ---- any system ---------------------------------------------------------------
# $1: system; setup, start the three, wait until healthy. A free port can
# be taken between our check and the server's bind (other clusters and
# clients share the machine): a member that dies at start means new ports
# and another try, up to 3.
cl_start_all() {
    CL_SYS=$1
    local i try
    for try in 1 2 3; do
        "${1}_setup"
        for i in 1 2 3; do "${1}_start" "$i"; done
        cl_wait_healthy 90 && return 0
        echo "$1: start attempt $try failed; new ports" >&2
        cl_stop_all
        rm -rf "${CL_DIR:?}/$1"* "$CL_DIR/zkconf"
    done
    return 1
}

cl_wait_healthy() { # $1: seconds; fails when a member died or time ran out
    local end=$(($(date +%s) + $1)) i
    until "${CL_SYS}_healthy"; do
        for i in 1 2 3; do
            kill -0 "${PIDS[$i]}" 2>/dev/null || {
                echo "$CL_SYS member $i died; log tail:" >&2
                tail -20 "$CL_LOGS/$CL_SYS-n$i.log" >&2
                return 1
            }
        done
        [ "$(date +%s)" -lt "$end" ] ||
            { echo "$CL_SYS not healthy after $1 s" >&2; return 1; }
        sleep 0.2
    done
}
