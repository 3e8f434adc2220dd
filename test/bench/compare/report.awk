# report.awk -- turns compare.sh's raw lines ($BUILD/bench-compare.txt) into
# the Markdown of `make bench-compare`: the setup lines, one table per
# workload (per shape: each system's median run by ops/s, then the ratios
# coord/zk and coord/etcd from the same run), the failover windows, and the
# issue-9 targets as measured figures, each with its mechanical verdict
# ("met"/"missed": the unrounded figure against the target's threshold;
# the 1x1 write p50 against the lower of the two floors measured around
# coord's runs, see below). With -v mode=plot it prints instead the
# points for plot.gp ("system workload ops/s p99_ms shape"). With
# -v mode=floor -v when=W -v at=T it reads coordbench's --probe-fsync,
# --probe-rtt, --probe-majority and --probe-pipeline output lines and
# prints the raw header line compare.sh records: "floor: when=W at=T
# fsync_n=.. fsync_p50_us=.. fsync_p99_us=.. rtt_n=.. rtt_p50_us=..
# rtt_p99_us=.. floor_us=.. majority_n=.. majority_p50_us=..
# majority_p99_us=.. first_p50_us=.. third_p50_us=..
# majority_floor_us=..", floor = fsync p50 + 2 x RTT p50
# + 100 us (issue 9's 1x1 target), majority floor = the p50 of the second
# of three log writes started together on the same disk (a majority of a
# 3-node cluster whose nodes share it; 4 KiB O_DIRECT|O_DSYNC overwrites,
# as coord's log writes) + 2 x RTT p50 + 100 us; "floor:
# when=W failed=probe" when the fsync or RTT probe is missing, and
# "majority_failed=probe" in place of the majority part when only that
# one is. The report recomputes both floors from the parts (floor_of).
# The 1x1 verdict is against the literal floor only; the majority floor
# gets an informational row beside it (no verdict).
# Plain POSIX awk (mawk): no gawk extensions. It only reads.

function kv(line, key,    n, i, a, p) {
    n = split(line, a, " ")
    for (i = 1; i <= n; i++) {
        p = index(a[i], "=")
        if (p && substr(a[i], 1, p - 1) == key)
            return substr(a[i], p + 1)
    }
    return ""
}

# Issue 9's 1x1 floor from its parts (us): one fsync, two loopback round
# trips, 0.1 ms.
function floor_of(fsync_p50, rtt_p50) {
    return fsync_p50 + 2 * rtt_p50 + 100
}

function isnum(x) {
    return x ~ /^[0-9]+(\.[0-9]*)?$/
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
    if (sys != "coord" && wl == "set-leader") # coord-only placement
        return median(sys, "set", shape)
    return median(sys, wl, shape)
}

function title(wl) {
    if (wl == "set") return "Writes: set, 128 B values"
    if (wl == "set-leader") return "Writes, coord's sessions on the leader (libcoord prefer_leader; ZooKeeper and etcd: their set rows, random member)"
    if (wl == "create-delete") return "create + delete (each counted as an op)"
    if (wl == "get") return "Linearizable reads (ZooKeeper: its local reads, it has no other)"
    if (wl == "get-local") return "Local reads (coord get-local, ZooKeeper get, etcd serializable)"
    if (wl == "mix") return "Mix: 90 % reads (coord, etcd linearizable; ZooKeeper local), 10 % sets"
    if (wl == "lock") return "Lock hand-offs: contenders; ops/s = hand-offs/s, latencies = acquire, server CPU us/op = per hand-off"
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
            if (sysl[s] != "coord" && wl == "set-leader")
                note = " (its set row)"
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

mode == "floor" {
    for (i = 1; i <= NF; i++)
        if ($i ~ /^(fsync|rtt|majority|first|third)_(n|p50_us|p99_us)=/ ||
            $i ~ /^pipe_(leader|follower)_(n|p50_us|p99_us)=/)
            probe[substr($i, 1, index($i, "=") - 1)] = \
                substr($i, index($i, "=") + 1)
    next
}
# "floor: when=W ..." (compare.sh, from mode=floor): kept by when, in
# the order seen; a line without both p50s (failed=...) is not a floor.
/^# floor: / {
    f = kv($0, "when")
    if (f != "" && isnum(kv($0, "fsync_p50_us")) &&
        isnum(kv($0, "rtt_p50_us")) && !(f in fl_fsync)) {
        fl_when[++nfl] = f
        fl_fsync[f] = kv($0, "fsync_p50_us")
        fl_rtt[f] = kv($0, "rtt_p50_us")
        if (isnum(kv($0, "pipe_leader_p50_us"))) {
            fl_pl[f] = kv($0, "pipe_leader_p50_us")
            fl_pf[f] = kv($0, "pipe_follower_p50_us")
        }
        if (isnum(kv($0, "majority_p50_us"))) {
            fl_maj[f] = kv($0, "majority_p50_us")
            fl_first[f] = kv($0, "first_p50_us")
            fl_third[f] = kv($0, "third_p50_us")
        }
    }
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
    if (mode == "floor") {
        printf "floor: when=%s at=%s", when, at
        if (!isnum(probe["fsync_p50_us"]) || !isnum(probe["rtt_p50_us"])) {
            printf " failed=probe\n"
            exit
        }
        printf " fsync_n=%s fsync_p50_us=%s fsync_p99_us=%s", \
            probe["fsync_n"], probe["fsync_p50_us"], probe["fsync_p99_us"]
        printf " rtt_n=%s rtt_p50_us=%s rtt_p99_us=%s floor_us=%.1f", \
            probe["rtt_n"], probe["rtt_p50_us"], probe["rtt_p99_us"], \
            floor_of(probe["fsync_p50_us"], probe["rtt_p50_us"])
        if (isnum(probe["pipe_leader_p50_us"]))
            printf " pipe_leader_p50_us=%s pipe_leader_p99_us=%s" \
                " pipe_follower_p50_us=%s pipe_follower_p99_us=%s", \
                probe["pipe_leader_p50_us"], probe["pipe_leader_p99_us"], \
                probe["pipe_follower_p50_us"], probe["pipe_follower_p99_us"]
        else
            printf " pipe_failed=probe"
        if (!isnum(probe["majority_p50_us"])) {
            printf " majority_failed=probe\n"
            exit
        }
        printf " majority_n=%s majority_p50_us=%s majority_p99_us=%s", \
            probe["majority_n"], probe["majority_p50_us"], \
            probe["majority_p99_us"]
        printf " first_p50_us=%s third_p50_us=%s majority_floor_us=%.1f\n", \
            probe["first_p50_us"], probe["third_p50_us"], \
            floor_of(probe["majority_p50_us"], probe["rtt_p50_us"])
        exit
    }
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
    print "processes over the window, divided by the ops in it (lock: by the"
    print "hand-offs). Ratios are coord's figure over the other system's"
    print "(ops/s: higher is better for coord; latency and CPU: lower is"
    print "better for coord)."
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

# A target's verdict, built from one result per compared item:
# vd_add(name, r) with r 1 (met), 0 (missed) or "" (not measured).
# Counts and names of the items missed and not measured (single-item
# rows pass an empty name).
function vd_reset() {
    vd_n = 0; vd_met = 0; vd_nmiss = 0; vd_nunm = 0; vd_miss = ""; vd_unm = ""
}

function vd_add(name, r) {
    vd_n++
    if (r == "") {
        vd_nunm++
        vd_unm = vd_unm (vd_unm == "" ? "" : ", ") name
    } else if (r) {
        vd_met++
    } else {
        vd_nmiss++
        vd_miss = vd_miss (vd_miss == "" ? "" : ", ") name
    }
}

# "met", "missed", "missed (etcd)", "met; etcd not measured", ...
function vd_word(    w) {
    if (vd_nunm == vd_n)
        return "not measured"
    w = vd_nmiss == 0 ? "met" : "missed"
    if (vd_nmiss > 0 && vd_nmiss < vd_n)
        w = w " (" vd_miss ")"
    if (vd_nunm > 0)
        w = w "; " vd_unm " not measured"
    return w
}

# 1 if a <op> t holds (op ">=" or "<="), 0 if not, "" if a is no number.
function judge(a, op, t) {
    if (a == "" || a == "-" || a == "n/a")
        return ""
    if (op == ">=")
        return (a + 0 >= t) ? 1 : 0
    return (a + 0 <= t) ? 1 : 0
}

# The unrounded ratio a / b, or "" (as ratio() prints "-").
function rawratio(a, b) {
    if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0)
        return ""
    return (a + 0) / (b + 0)
}

# A target row comparing coord's ratio to ZooKeeper and to etcd.
function two_row(what, a, z, e, key, op, t,    rz, re) {
    rz = rawratio(num(a, key), num(z, key))
    re = rawratio(num(a, key), num(e, key))
    vd_reset()
    vd_add("ZooKeeper", judge(rz, op, t))
    vd_add("etcd", judge(re, op, t))
    printf "| %s | %s, %s: %s |\n", what, ratio(num(a, key), num(z, key)),
        ratio(num(a, key), num(e, key)), vd_word()
}

# The 1x1 row: coord's p50 against the lower floor (the first seen of
# equal ones), naming when it was measured and the other floor(s).
function floor_row(a, what,    p50, i, best, f, o) {
    p50 = a == "" ? "" : kv(a, "p50_us")
    best = ""
    for (i = 1; i <= nfl; i++) {
        f = floor_of(fl_fsync[fl_when[i]], fl_rtt[fl_when[i]])
        if (best == "" || f < floor_of(fl_fsync[best], fl_rtt[best]))
            best = fl_when[i]
    }
    vd_reset()
    if (best == "") {
        vd_add("", "")
        printf "| 1x1 write p50%s <= fsync + 2 RTT + 0.1 ms | %s us (no" \
            " floor probe in this run; fsync: see header): %s |\n", what,
            p50 == "" ? "-" : p50, vd_word()
        return
    }
    f = floor_of(fl_fsync[best], fl_rtt[best])
    o = ""
    for (i = 1; i <= nfl; i++)
        if (fl_when[i] != best)
            o = o sprintf("; %s: %.1f us, fsync p50 %s, RTT p50 %s",
                fl_when[i], floor_of(fl_fsync[fl_when[i]],
                fl_rtt[fl_when[i]]), fl_fsync[fl_when[i]], fl_rtt[fl_when[i]])
    vd_add("", judge(p50, "<=", f))
    printf "| 1x1 write p50%s <= fsync + 2 RTT + 0.1 ms | %s us vs floor" \
        " %.1f us (%s, %s coord's runs: fsync p50 %s + 2 x RTT p50 %s +" \
        " 100%s): %s |\n", what, p50 == "" ? "-" : p50, f,
        (nfl > 1 ? "the lower floor" : "the only floor"), best,
        fl_fsync[best], fl_rtt[best], o, vd_word()
}

# The informational row after the 1x1 target: coord's p50 against the
# lower shared-disk floor (second of three concurrent log writes + 2 RTT
# + 100 us), by how much above or below; no verdict. Nothing without a
# majority probe in the run.
function majority_row(a,    p50, i, w, best, f, o, d) {
    p50 = a == "" ? "" : kv(a, "p50_us")
    best = ""
    for (i = 1; i <= nfl; i++) {
        w = fl_when[i]
        if (!(w in fl_maj))
            continue
        if (best == "" || floor_of(fl_maj[w], fl_rtt[w]) < \
            floor_of(fl_maj[best], fl_rtt[best]))
            best = w
    }
    if (best == "")
        return
    f = floor_of(fl_maj[best], fl_rtt[best])
    o = ""
    for (i = 1; i <= nfl; i++) {
        w = fl_when[i]
        if (w != best && (w in fl_maj))
            o = o sprintf("; %s: %.1f us, 2nd of 3 p50 %s, RTT p50 %s", w,
                floor_of(fl_maj[w], fl_rtt[w]), fl_maj[w], fl_rtt[w])
    }
    d = "-"
    if (isnum(p50))
        d = sprintf("%.1f us %s it", p50 + 0 > f ? p50 - f : f - p50,
            p50 + 0 > f ? "above" : "at or below")
    printf "| (informational) 1x1 write p50 vs shared-disk floor: majority" \
        " of three durable on this disk + 2 RTT + 0.1 ms | %s us vs %.1f us" \
        " (%s, %s coord's runs: 2nd of 3 concurrent log writes p50 %s (1st %s," \
        " 3rd %s) + 2 x RTT p50 %s + 100%s): %s |\n",
        p50 == "" ? "-" : p50, f,
        (o != "" ? "the lower" : "the only one"), best, fl_maj[best],
        fl_first[best], fl_third[best], fl_rtt[best], o, d
}

# The informational row after the shared-disk one: coord's 1x1 p50s (via
# a random member and via the leader) against the lower ideal pipeline
# (coordbench --probe-pipeline: the same write through four processes
# that only send, write their block and answer); no verdict. Nothing
# without a pipeline probe in the run.
function pipeline_row(a, al,    i, w, best, d, dl) {
    best = ""
    for (i = 1; i <= nfl; i++) {
        w = fl_when[i]
        if ((w in fl_pl) && (best == "" || fl_pl[w] + 0 < fl_pl[best] + 0))
            best = w
    }
    if (best == "")
        return
    d = a == "" ? "-" : kv(a, "p50_us")
    dl = al == "" ? "-" : kv(al, "p50_us")
    printf "| (informational) 1x1 write p50 vs an ideal 3-replica pipeline" \
        " on this machine (coordbench --probe-pipeline: 4 processes that" \
        " only relay and write) | random member %s us, via the leader %s us" \
        " vs pipeline via the leader %s us, via a follower %s us (%s, %s" \
        " coord's runs) |\n", d, dl, fl_pl[best], fl_pf[best],
        (nfl > 1 ? "the lower" : "the only one"), best
}

function targets(    a, z, e, i, anymaj, anypipe) {
    printf "\n### Issue 9 targets, as measured in this run\n\n"
    print "Verdicts compare the unrounded figures with the thresholds. The"
    print "1x1 floor is fsync p50 + 2 x loopback RTT p50 + 100 us, measured"
    print "by coordbench's probes before and after coord's runs (the disk's"
    printf "fsync moves with load); the lower (stricter) floor is used."
    anymaj = anypipe = 0
    for (i = 1; i <= nfl; i++) {
        if (fl_when[i] in fl_maj)
            anymaj = 1
        if (fl_when[i] in fl_pl)
            anypipe = 1
    }
    if (anymaj) {
        printf "\nThe row after it is informational, not a target: the same"
        printf "\nfloor with the fsync replaced by the p50 of the second of"
        printf "\nthree log writes started together on the same disk (4 KiB"
        printf "\nO_DIRECT|O_DSYNC overwrites, as coord's log segments write;"
        printf "\ncoordbench --probe-majority), as a commit needs two of three"
        printf "\nreplicas durable and the three nodes here share one disk."
    }
    if (anypipe) {
        printf "\nThe ideal-pipeline row is informational too: the same 1x1"
        printf "\nwrite through four processes (client, leader, two"
        printf "\nfollowers) over loopback TCP that do nothing but relay it"
        printf "\nand write one 4 KiB O_DIRECT|O_DSYNC block each"
        printf "\n(coordbench --probe-pipeline): what any leader-based"
        printf "\nreplicated log could reach on this machine."
    }
    printf "\n\n"
    print "| target | measured |"
    print "|---|---|"
    a = median("coord", "set", "64x16"); z = median("zk", "set", "64x16")
    e = median("etcd", "set", "64x16")
    two_row("writes 64x16 >= 5x ZooKeeper, >= 5x etcd", a, z, e,
        "ops_per_s", ">=", 5)
    two_row("write p99 64x16 <= 1/5 (0.20x)", a, z, e, "p99_us", "<=", 0.2)
    two_row("server CPU per write <= 1/10 (0.10x)", a, z, e,
        "server_cpu_us_per_op", "<=", 0.1)
    a = median("coord", "get", "64x16"); z = median("zk", "get-local", "64x16")
    vd_reset()
    vd_add("", judge(rawratio(num(a, "ops_per_s"), num(z, "ops_per_s")),
        ">=", 3))
    printf "| linearizable reads 64x16 >= 3x ZooKeeper local reads | %s: %s |\n",
        ratio(num(a, "ops_per_s"), num(z, "ops_per_s")), vd_word()
    floor_row(median("coord", "set", "1x1"), "")
    majority_row(median("coord", "set", "1x1"))
    pipeline_row(median("coord", "set", "1x1"),
        median("coord", "set-leader", "1x1"))
    a = median("coord", "set-leader", "1x1")
    if (a != "")
        floor_row(a, ", sessions on the leader (prefer_leader)")
    if (fo_med["coord", "KILL"] != "") {
        vd_reset()
        vd_add("median", judge(fo_med["coord", "KILL"], "<=", 400))
        vd_add("max", judge(fo_max["coord", "KILL"], "<=", 1000))
        printf "| kill -9 median <= 400 ms, max <= 1 s | %s / %s ms (%d kills): %s |\n",
            ms(fo_med["coord", "KILL"]), ms(fo_max["coord", "KILL"]),
            cnt["coord", "failover-KILL", "-"], vd_word()
    }
    if (fo_max["coord", "STOP"] != "") {
        vd_reset()
        vd_add("", judge(fo_max["coord", "STOP"], "<=", 1500))
        printf "| SIGSTOP <= 1.5 s | max %s ms: %s |\n",
            ms(fo_max["coord", "STOP"]), vd_word()
    }
    a = median("coord", "lock", "32"); z = median("zk", "lock", "32")
    vd_reset()
    vd_add("", judge(rawratio(num(a, "ops_per_s"), num(z, "ops_per_s")),
        ">=", 3))
    printf "| lock hand-offs (32 contenders) >= 3x ZooKeeper | %s: %s |\n",
        ratio(num(a, "ops_per_s"), num(z, "ops_per_s")), vd_word()
}
