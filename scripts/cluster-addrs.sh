# shellcheck shell=bash
# cluster-addrs.sh -- sourced by the benchmark scripts that start a local
# 3-node coordd cluster (bench-cluster.sh, bench-lock.sh): picks six
# distinct free ports and sets `members` (coordd --members), `servers`
# (client list) and addr_of N (node N's client address). It starts
# nothing and must not change the caller's shell options.
#
#   cluster_addrs COORDBENCH   (coordbench --free-port picks the ports)
#
# Ports are checked on 127.0.0.1; .2 and .3 are the same loopback
# interface, so a port free there is free on them too unless something
# listens on one address only -- then coordd fails to start.

cluster_addrs() {
    local bench=$1 p i cp pp
    local ports=()
    while [ "${#ports[@]}" -lt 6 ]; do
        p=$("$bench" --free-port)
        [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
    done
    members=
    servers=
    for i in 1 2 3; do
        cp=${ports[$((2 * i - 2))]}
        pp=${ports[$((2 * i - 1))]}
        members+="${members:+,}$i@127.0.0.$i:$cp:$pp"
        servers+="${servers:+,}127.0.0.$i:$cp"
    done
}

addr_of() { echo "$servers" | cut -d, -f"$1"; }
