# report.awk -- turns compare.sh's raw lines ($BUILD/bench-compare.txt) into
# the Markdown of `make bench-compare`: the setup lines, one table per
# workload (per shape: each system's median run by ops/s, then the ratios
# coord/zk and coord/etcd from the same run), the failover windows, and the
# issue-9 targets as measured ratios. With -v mode=plot it prints instead
# the points for plot.gp ("system workload ops/s p99_ms shape").
# Plain POSIX awk (mawk): no gawk extensions. It only reads; it judges
# nothing beyond printing ratios next to the targets' numbers.

function kv(line, key,    n, i, a, p) {
    n = split(line, a, " ")
    for (i = 1; i <= n; i++) {
        p = index(a[i], "=")
        if (p && substr(a[i], 1, p - 1) == key)
            return substr(a[i], p + 1)
    }
    return ""
}

function add_once(list, item) {
    if ((" " list " ") ~ (" " item " "))
        return list
    return list == "" ? item : list " " item
}

# The median run (by ops/s) of sys/wl/shape: its line, or "".
function median(sys, wl, shape,    k, n, i, j, t, idx, v) {
    k = sys SUBSEP wl SUBSEP shape
    n = cnt[k] + 0
    if (n == 0)
        return ""
    for (i = 1; i <= n; i++) {
        idx[i] = i
        v[i] = num(runs[k, i], "ops_per_s") + 0
    }
    for (i = 2; i <= n; i++) # insertion sort of indices by ops/s
        for (j = i; j > 1 && v[idx[j - 1]] > v[idx[j]]; j--) {
            t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t
        }
    return runs[k, idx[int((n + 1) / 2)]]
}

# A note for a run that failed, made no ops, or had a request fail or stay
# unanswered (zkbench: ready_*, err1*, pending*; compare.sh: failed=,
# leader_after=), so the report says what happened instead of a bare 0.
function trouble(line, sys, wl, shape,    d, f) {
    d = ""
    f = kv(line, "failed")
    if (f != "")
        d = "failed (" f ")"
    else if (kv(line, "ops") == "0" && wl != "lock")
        d = "0 ops"
    if (kv(line, "ready_errors") != "")
        d = d (d == "" ? "" : "; ") "the write before the window failed " \
            kv(line, "ready_errors") "x, first " kv(line, "ready_err") \
            " on " kv(line, "ready_server") (kv(line, "ready_ms") == "" ? \
            "" : ", window began after " kv(line, "ready_ms") " ms")
    if (kv(line, "err1") != "")
        d = d (d == "" ? "" : "; ") "first failed request " kv(line, "err1") \
            " after " kv(line, "err1_wait_ms") " ms in flight, " \
            kv(line, "err1_at_ms") " ms into the load, on " \
            kv(line, "err1_server")
    if (kv(line, "pending") != "")
        d = d (d == "" ? "" : "; ") kv(line, "pending") \
            " unanswered at the end (oldest " kv(line, "pending_ms") " ms)"
    if (d == "" && kv(line, "errors") != "" && kv(line, "errors") != "0")
        d = kv(line, "errors") " errors"
    if (d == "")
        return
    if (kv(line, "leader_after") != "")
        d = d "; leader afterwards " kv(line, "leader_after")
    notes = notes sprintf("- %s %s %s run %s: %s\n", label(sys), wl, shape,
        kv(line, "rep"), d)
}

# ops/s, or hand-offs/s for the lock workload.
function num(line, key,    v) {
    if (key == "ops_per_s" && kv(line, "handoffs_per_s") != "")
        return kv(line, "handoffs_per_s")
    return kv(line, key)
}

function ratio(a, b) {
    if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0)
        return "-"
    return sprintf("%.2fx", (a + 0) / (b + 0))
}

function label(sys) {
    return sys == "zk" ? "ZooKeeper" : sys
}

function row(shape, sys, line, note,    cpu) {
    if (line == "") {
        printf "| %s | %s%s | - | - | - | - | - | - | - |\n", shape,
            label(sys), note
        return
    }
    cpu = kv(line, "server_cpu_us_per_op")
    printf "| %s | %s%s | %s | %s | %s | %s | %s | %s | %s |\n", shape,
        label(sys), note, num(line, "ops_per_s"), kv(line, "p50_us"),
        kv(line, "p99_us"), kv(line, "p999_us"), kv(line, "max_us"),
        cpu == "" ? "n/a" : cpu, kv(line, "errors")
}

function ratio_row(shape, other, a, b) {
    if (a == "" || b == "")
        return
    printf "| %s | **coord/%s** | %s | %s | %s | %s | %s | %s | |\n",
        shape, label(other), ratio(num(a, "ops_per_s"), num(b, "ops_per_s")),
        ratio(kv(a, "p50_us"), kv(b, "p50_us")),
        ratio(kv(a, "p99_us"), kv(b, "p99_us")),
        ratio(kv(a, "p999_us"), kv(b, "p999_us")),
        ratio(kv(a, "max_us"), kv(b, "max_us")),
        ratio(kv(a, "server_cpu_us_per_op"), kv(b, "server_cpu_us_per_op"))
}

# The line that stands for sys in workload wl's table (ZooKeeper's reads
# are local only, so its get-local figures stand in the get table).
function pick(sys, wl, shape) {
    if (sys == "zk" && wl == "get")
        return median("zk", "get-local", shape)
    return median(sys, wl, shape)
}

function title(wl) {
    if (wl == "set") return "Writes: set, 128 B values"
    if (wl == "create-delete") return "create + delete (each counted as an op)"
    if (wl == "get") return "Linearizable reads (ZooKeeper: its local reads, it has no other)"
    if (wl == "get-local") return "Local reads (coord get-local, ZooKeeper get, etcd serializable)"
    if (wl == "mix") return "Mix: 90 % reads (coord, etcd linearizable; ZooKeeper local), 10 % sets"
    if (wl == "lock") return "Lock hand-offs: contenders; ops/s = hand-offs/s, latencies = acquire"
    return wl
}

function table(wl,    shapes, ns, sh, i, s, line, a, note) {
    ns = split(shapes_of[wl], sh, " ")
    printf "\n### %s\n\n", title(wl)
    printf "| %s | system | ops/s | p50 us | p99 us | p99.9 us | max us |", \
        wl == "lock" ? "contenders" : "S x W"
    printf " server CPU us/op | errors |\n"
    printf "|---|---|---|---|---|---|---|---|---|\n"
    for (i = 1; i <= ns; i++) {
        for (s = 1; s <= nsys; s++) {
            line = pick(sysl[s], wl, sh[i])
            note = (sysl[s] == "zk" && wl == "get") ? " (local)" : ""
            if (line == "" && missing[sysl[s], wl] != "")
                note = " (" missing[sysl[s], wl] ")"
            if (line == "" && failcnt[sysl[s], wl, sh[i]] > 0)
                note = " (failed: see below)"
            if (line == "" && (sysl[s] == "zk" && wl == "get" ||
                sysl[s] == "etcd" && wl == "lock"))
                continue
            row(sh[i], sysl[s], line, note)
        }
        a = pick("coord", wl, sh[i])
        ratio_row(sh[i], "zk", a, pick("zk", wl, sh[i]))
        ratio_row(sh[i], "etcd", a, pick("etcd", wl, sh[i]))
    }
}

# Sorts v[1..n] numerically (a timeout or failure counts as 1e12).
function sortv(v, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
}

function ms(x) {
    return x >= 1e12 ? "timeout" : x
}

function stats(sys, sig,    k, n, i, t, v, w, list, med, mx) {
    k = sys SUBSEP "failover-" sig SUBSEP "-"
    n = cnt[k] + 0
    if (n == 0)
        return ""
    list = ""
    for (i = 1; i <= n; i++) {
        t = kv(runs[k, i], "failover_ms")
        list = list (i > 1 ? ", " : "") t
        v[i] = (t ~ /^[0-9.]+$/) ? t + 0 : 1e12
        t = kv(runs[k, i], "writable_ms")
        if (t == "") # a probe without the sampler: its loop is all we know
            t = kv(runs[k, i], "failover_ms")
        w[i] = (t ~ /^[0-9.]+$/) ? t + 0 : 1e12
    }
    sortv(v, n)
    sortv(w, n)
    med = v[int((n + 1) / 2)]
    mx = v[n]
    fo_med[sys, sig] = med
    fo_max[sys, sig] = mx
    return sprintf("%d | %s | %s | %s | %s | %s", n, ms(med), ms(mx),
        ms(w[int((n + 1) / 2)]), ms(w[n]), list)
}

/^# / {
    header = header substr($0, 3) "\n"
    next
}
{
    sys = kv($0, "sys"); wl = kv($0, "wl"); shape = kv($0, "shape")
    if (sys == "" || wl == "")
        next
    if (kv($0, "missing") != "") {
        missing[sys, wl] = "no " kv($0, "missing")
        wls = add_once(wls, wl)
        shapes_of[wl] = add_once(shapes_of[wl], shape)
        systems = add_once(systems, sys)
        next
    }
    systems = add_once(systems, sys)
    trouble($0, sys, wl, shape)
    if (kv($0, "failed") != "" || (kv($0, "ops") == "0" && wl != "lock")) {
        failcnt[sys, wl, shape]++
        if (wl !~ /^failover-/) {
            wls = add_once(wls, wl)
            shapes_of[wl] = add_once(shapes_of[wl], shape)
        }
        next
    }
    k = sys SUBSEP wl SUBSEP shape
    runs[k, ++cnt[k]] = $0
    if (wl !~ /^failover-/) {
        wls = add_once(wls, wl)
        shapes_of[wl] = add_once(shapes_of[wl], shape)
    }
}
END {
    nsys = 0
    if (systems ~ /(^| )coord( |$)/) sysl[++nsys] = "coord"
    if (systems ~ /(^| )zk( |$)/) sysl[++nsys] = "zk"
    if (systems ~ /(^| )etcd( |$)/) sysl[++nsys] = "etcd"
    if (mode == "plot") {
        for (s = 1; s <= nsys; s++)
            for (w = 1; w <= 2; w++) {
                wl = w == 1 ? "set" : "get-local"
                ns = split(shapes_of[wl], sh, " ")
                printf "%s workload ops p99_ms shape\n", label(sysl[s])
                for (i = 1; i <= ns; i++) {
                    line = median(sysl[s], wl, sh[i])
                    if (line != "")
                        printf "%s %s %s %.3f %s\n", label(sysl[s]), wl,
                            num(line, "ops_per_s"),
                            kv(line, "p99_us") / 1000, sh[i]
                }
                printf "\n\n"
            }
        exit
    }
    print "## coord vs ZooKeeper vs etcd (make bench-compare)\n"
    print "```"
    printf "%s", header
    print "```"
    print "\nEach row: the median of the runs by ops/s (its latencies and CPU"
    print "from that same run). Server CPU: user+sys of the three server"
    print "processes over the window, divided by the ops in it. Ratios are"
    print "coord's figure over the other system's (ops/s: higher is better for"
    print "coord; latency and CPU: lower is better for coord)."
    nw = split(wls, wlist, " ")
    for (w = 1; w <= nw; w++)
        table(wlist[w])
    any_fo = 0
    for (s = 1; s <= nsys; s++)
        if (cnt[sysl[s], "failover-KILL", "-"] + cnt[sysl[s], "failover-STOP", "-"] > 0)
            any_fo = 1
    if (any_fo)
        failover_table()
    if (notes != "") {
        printf "\n### Runs that failed, stalled or made errors\n\n"
        print "Failed runs and runs of 0 ops are left out of the medians."
        print "ZooKeeper's C client drops a connection when nothing arrives"
        print "for 2/3 of the session timeout (20 s here) and sends no pings"
        print "while a request is outstanding: ZOPERATIONTIMEOUT after ~20 s"
        print "in flight means that member never answered the request. With"
        print "ZooKeeper 3.8.0 that is ZOOKEEPER-4537 (fixed in 3.8.1): a race"
        print "between its SyncThread and CommitProcessor can leave a committed"
        print "request unanswered until another request arrives; a lone 1x1"
        print "client sends none, so it waits for its 20 s timeout (other"
        print "shapes see a latency spike; docs/benchmarks.md).\n"
        printf "%s", notes
    }
    targets()
}

function failover_table(    s, g, sig, r) {
    printf "\n### Failover window (ms from the signal to the first successful write)\n\n"
    print "failover: the probe client's own loop of writes (each waits for its"
    print "reply or its library's timeout); writable: the first success of any"
    print "write, others being sent every 10 ms on the same client meanwhile.\n"
    print "| system | fault | rounds | failover median | max | writable median | max | all failover |"
    print "|---|---|---|---|---|---|---|---|"
    for (s = 1; s <= nsys; s++)
        for (g = 1; g <= 2; g++) {
            sig = g == 1 ? "KILL" : "STOP"
            r = stats(sysl[s], sig)
            if (r != "")
                printf "| %s | SIG%s of the leader | %s |\n",
                    label(sysl[s]), sig, r
        }
}

function targets(    a, z, e) {
    printf "\n### Issue 9 targets, as measured in this run\n\n"
    print "| target | measured |"
    print "|---|---|"
    a = median("coord", "set", "64x16"); z = median("zk", "set", "64x16")
    e = median("etcd", "set", "64x16")
    printf "| writes 64x16 >= 5x ZooKeeper, >= 5x etcd | %s, %s |\n",
        ratio(num(a, "ops_per_s"), num(z, "ops_per_s")),
        ratio(num(a, "ops_per_s"), num(e, "ops_per_s"))
    printf "| write p99 64x16 <= 1/5 (0.20x) | %s, %s |\n",
        ratio(kv(a, "p99_us"), kv(z, "p99_us")),
        ratio(kv(a, "p99_us"), kv(e, "p99_us"))
    printf "| server CPU per write <= 1/10 (0.10x) | %s, %s |\n",
        ratio(kv(a, "server_cpu_us_per_op"), kv(z, "server_cpu_us_per_op")),
        ratio(kv(a, "server_cpu_us_per_op"), kv(e, "server_cpu_us_per_op"))
    a = median("coord", "get", "64x16"); z = median("zk", "get-local", "64x16")
    printf "| linearizable reads 64x16 >= 3x ZooKeeper local reads | %s |\n",
        ratio(num(a, "ops_per_s"), num(z, "ops_per_s"))
    a = median("coord", "set", "1x1")
    printf "| 1x1 write p50 <= fsync + 2 RTT + 0.1 ms | %s us (fsync: see header) |\n",
        a == "" ? "-" : kv(a, "p50_us")
    if (fo_med["coord", "KILL"] != "")
        printf "| kill -9 median <= 400 ms, max <= 1 s | %s / %s ms (%d kills) |\n",
            fo_med["coord", "KILL"], fo_max["coord", "KILL"],
            cnt["coord", "failover-KILL", "-"]
    if (fo_max["coord", "STOP"] != "")
        printf "| SIGSTOP <= 1.5 s | max %s ms |\n", fo_max["coord", "STOP"]
    a = median("coord", "lock", "32"); z = median("zk", "lock", "32")
    printf "| lock hand-offs (32 contenders) >= 3x ZooKeeper | %s |\n",
        ratio(num(a, "ops_per_s"), num(z, "ops_per_s"))
}
