/* test_metrics.c -- coordd's metrics endpoint against real servers on
 * 127.0.0.x: a write/read load through libcoord in a thread while the
 * main thread scrapes /metrics over a plain socket (every page parsed
 * strictly by test/lib/promtext.c, counters never going down between
 * scrapes, request counters at least the operations made, session and
 * connection gauges equal to what the test holds open); the endpoint is
 * off by default; a taken or malformed metrics_listen stops start-up with
 * a message naming it; scrapers that stall do not slow clients; in a 3-node cluster the Raft gauges agree, a
 * follower that fell behind is sent a snapshot (sent/installed/taken
 * histograms and log lines with durations), and a leader kill counts a
 * leader change; the STATS admin operation and coordctl status --json
 * carry the counters. Waits poll conditions with deadlines; every process is
 * stopped by the test. $COORDD_BIN picks the server (ASan pass). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "test/lib/proc.h"
#include "test/lib/promtext.h"
#include "test/lib/rawclient.h"

#define WAIT_MS 30000 /* generous: the machine is shared */

static struct tproc proc;
static struct tcluster cl;
static uint16_t mport[TCLUSTER_MAX];

static int teardown(void **state)
{
    (void)state;
    if (proc.pid > 0)
        tproc_stop(&proc, 5000);
    if (proc.dir[0])
        tproc_cleanup(&proc);
    memset(&proc, 0, sizeof(proc));
    tcluster_cleanup(&cl);
    memset(&cl, 0, sizeof(cl));
    return 0;
}

static struct coord_client *client(const char *servers)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = 10000;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

/* GET /metrics from host:port and parse it. -1 if the server cannot be
 * reached (not up yet); fails the test on any other error. */
static int try_scrape(const char *host, uint16_t port, struct prom_scrape *s)
{
    int status = 0;
    char ct[128];
    char *body = NULL;
    size_t len = 0;
    if (prom_fetch(host, port, "GET", "/metrics", WAIT_MS, &status, ct,
                   sizeof(ct), &body, &len) != 0) {
        if (errno == ECONNREFUSED)
            return -1;
        fail_msg("scrape %s:%u failed: %s", host, port, strerror(errno));
    }
    assert_int_equal(status, 200);
    assert_non_null(strstr(ct, "version=0.0.4"));
    memset(s, 0, sizeof(*s));
    if (prom_parse(body, len, s) != 0)
        fail_msg("scrape %s:%u: %s", host, port, s->err);
    free(body);
    return 0;
}

/* The same; failing the test if the server cannot be reached. */
static void scrape(const char *host, uint16_t port, struct prom_scrape *s)
{
    if (try_scrape(host, port, s) != 0)
        fail_msg("scrape %s:%u: connection refused", host, port);
}

static double val(const struct prom_scrape *s, const char *name,
                  const char *labels);

/* Scrapes until series name{labels} is at least want (a server not up
 * yet is waited for), up to WAIT_MS; returns the last value seen. */
static double wait_min(const char *host, uint16_t port, const char *name,
                       const char *labels, double want)
{
    int64_t deadline = tproc_now_ms() + WAIT_MS;
    double v = -1;
    do {
        struct prom_scrape s;
        if (try_scrape(host, port, &s) == 0) {
            v = val(&s, name, labels);
            prom_free(&s);
            if (v >= want)
                return v;
        }
        poll(NULL, 0, 20);
    } while (tproc_now_ms() < deadline);
    return v;
}

static double val(const struct prom_scrape *s, const char *name,
                  const char *labels)
{
    bool found = false;
    double v = prom_get(s, name, labels, &found);
    if (!found)
        fail_msg("missing series %s{%s}", name, labels);
    return v;
}

/* Scrapes until gauge name equals want, up to WAIT_MS; returns the
 * last value seen. */
static double wait_gauge(const char *host, uint16_t port, const char *name,
                         double want)
{
    int64_t deadline = tproc_now_ms() + WAIT_MS;
    double v = -1;
    do {
        struct prom_scrape s;
        scrape(host, port, &s);
        v = val(&s, name, "");
        prom_free(&s);
        if (v == want)
            return v;
        poll(NULL, 0, 20);
    } while (tproc_now_ms() < deadline);
    return v;
}

static uint16_t other_free_port(const char *host, uint16_t not)
{
    uint16_t p;
    do
        p = tproc_free_port(host);
    while (p == not);
    return p;
}

/* ---- one server under load ------------------------------------------------ */

#define LOAD_BATCHES 4
#define LOAD_PER_BATCH 60
#define IDLE_CLIENTS 3

struct load {
    char servers[64];
    atomic_int scrapes;   /* by the main thread */
    atomic_bool done;
    int creates, gets, sets, missing;
    int err;
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    struct coord_client *c = NULL;
    struct coord_options o;
    coord_options_init(&o);
    o.servers = l->servers;
    l->err = coord_open(&c, &o);
    for (int b = 0; b < LOAD_BATCHES && l->err == 0; b++) {
        /* interleave with the scrapes: each batch after a new one */
        int seen = atomic_load(&l->scrapes);
        int64_t deadline = tproc_now_ms() + WAIT_MS;
        while (atomic_load(&l->scrapes) == seen &&
               tproc_now_ms() < deadline)
            poll(NULL, 0, 1);
        for (int i = 0; i < LOAD_PER_BATCH && l->err == 0; i++) {
            char p[64];
            snprintf(p, sizeof(p), "/load-%d-%d", b, i);
            l->err = coord_create(c, p, "v", 1, 0, 0, NULL, NULL);
            l->creates += l->err == 0;
            void *v = NULL;
            size_t len = 0;
            if (l->err == 0)
                l->err = coord_get(c, p, 0, NULL, &v, &len, NULL);
            coord_free_mem(v);
            l->gets += l->err == 0;
            if (l->err == 0)
                l->err = coord_set(c, p, "w", 1, -1, NULL);
            l->sets += l->err == 0;
            if (l->err == 0 &&
                coord_get(c, "/no-such-node", 0, NULL, &v, &len, NULL) ==
                    COORD_ENONODE)
                l->missing++;
        }
    }
    if (c)
        coord_close(c);
    atomic_store(&l->done, true);
    return NULL;
}

static void check_after_load(const struct prom_scrape *s,
                             const struct load *l)
{
    const char *rq = "coord_requests_total";
    assert_true(val(s, rq, "op=\"create\",code=\"OK\"") >= l->creates);
    assert_true(val(s, rq, "op=\"get\",code=\"OK\"") >= l->gets);
    assert_true(val(s, rq, "op=\"set\",code=\"OK\"") >= l->sets);
    assert_true(val(s, rq, "op=\"get\",code=\"ENONODE\"") >= l->missing);
    const char *d = "coord_request_duration_seconds_count";
    assert_true(val(s, d, "class=\"write\"") >= l->creates + l->sets);
    assert_true(val(s, d, "class=\"read\"") >= l->gets + l->missing);
    assert_true(val(s, "coord_fsync_duration_seconds_count", "") >= 1);
    assert_true(val(s, "coord_fsync_duration_seconds_sum", "") > 0);
    assert_true(val(s, "coord_raft_commit_index", "") >=
                val(s, "coord_raft_applied_index", ""));
    assert_true(val(s, "coord_raft_is_leader", "") == 1);
    assert_true(val(s, "coord_raft_term", "") >= 1);
    assert_true(val(s, "coord_raft_leader_changes_total", "") >= 1);
    assert_true(val(s, "coord_net_bytes_total",
                    "kind=\"client\",dir=\"in\"") > 0);
    assert_true(val(s, "coord_net_bytes_total",
                    "kind=\"client\",dir=\"out\"") > 0);
}

static void scrape_during_load(void **state)
{
    (void)state;
    tproc_init(&proc, "127.0.0.1");
    uint16_t mp = other_free_port(proc.host, proc.port);
    snprintf(proc.extra, sizeof(proc.extra),
             "--metrics-listen=127.0.0.1:%u", mp);
    assert_int_equal(tproc_start(&proc, WAIT_MS), 0);
    assert_true(tproc_log_has(&proc, "msg=\"metrics listening\""));
    char servers[64];
    snprintf(servers, sizeof(servers), "%s:%u", proc.host, proc.port);
    struct coord_client *idle[IDLE_CLIENTS];
    for (int i = 0; i < IDLE_CLIENTS; i++)
        idle[i] = client(servers);
    static struct load l;
    memset(&l, 0, sizeof(l));
    snprintf(l.servers, sizeof(l.servers), "%s", servers);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, load_main, &l), 0);
    struct prom_scrape prev = {0}, cur;
    int n = 0;
    char err[512];
    bool seen_load = false;
    while (!atomic_load(&l.done)) {
        scrape("127.0.0.1", mp, &cur);
        if (n > 0 && prom_check_monotonic(&prev, &cur, err, sizeof(err)))
            fail_msg("scrape %d: %s", n, err);
        seen_load |= prom_sum(&cur, "coord_requests_total", "op=\"create\"") >
                         0 && !atomic_load(&l.done);
        prom_free(&prev);
        prev = cur;
        atomic_fetch_add(&l.scrapes, 1);
        n++;
    }
    pthread_join(t, NULL);
    assert_int_equal(l.err, 0);
    assert_int_equal(l.creates, LOAD_BATCHES * LOAD_PER_BATCH);
    assert_true(seen_load); /* a scrape saw the load under way */
    assert_true(n >= LOAD_BATCHES);
    scrape("127.0.0.1", mp, &cur);
    if (prom_check_monotonic(&prev, &cur, err, sizeof(err)))
        fail_msg("final scrape: %s", err);
    check_after_load(&cur, &l);
    /* gauges are published once per tick: wait for the last writes */
    assert_true(wait_min("127.0.0.1", mp, "coord_raft_applied_index", "",
                         l.creates + l.sets) >= l.creates + l.sets);
    prom_free(&prev);
    prom_free(&cur);
    /* the same counters through the STATS admin operation */
    struct coord_server_stats st;
    assert_int_equal(coord_admin_stats(idle[0], &st), 0);
    assert_true(st.writes >= (uint64_t)(l.creates + l.sets));
    assert_true(st.reads >= (uint64_t)(l.gets + l.missing));
    assert_true(st.requests >= st.writes + st.reads);
    assert_true(st.errors >= (uint64_t)l.missing);
    assert_true(st.fsyncs >= 1 && st.fsync_p99_us > 0);
    assert_true(st.write_p99_us > 0);
    assert_true(st.leader_changes >= 1);
    /* the load client is gone: the idle ones are what is open */
    assert_true(wait_gauge("127.0.0.1", mp, "coord_sessions",
                           IDLE_CLIENTS) == IDLE_CLIENTS);
    assert_true(wait_gauge("127.0.0.1", mp, "coord_client_connections",
                           IDLE_CLIENTS) == IDLE_CLIENTS);
    for (int i = 0; i < IDLE_CLIENTS; i++)
        coord_close(idle[i]);
    assert_true(wait_gauge("127.0.0.1", mp, "coord_sessions", 0) == 0);
    assert_true(wait_gauge("127.0.0.1", mp, "coord_client_connections",
                           0) == 0);
    /* a client that vanishes without CLOSE: its session expires, which
     * is counted and logged */
    struct rawc rc;
    assert_int_equal(rawc_connect(&rc, proc.host, proc.port), 0);
    assert_int_equal(rawc_hello(&rc, 0, NULL, 1000), 0);
    rawc_close(&rc);
    assert_true(wait_min("127.0.0.1", mp, "coord_sessions_expired_total", "",
                         1) >= 1);
    assert_true(tproc_log_has(&proc, "msg=\"session expired\""));
    assert_int_equal(tproc_stop(&proc, 10000), 0);
}

/* Connections to the metrics port that never send a request (more than
 * the server takes at once) must not slow clients down: the HTTP thread
 * and the loop share nothing a stalled scraper could hold. Afterwards a
 * scrape works again. */
#define STALLED 24

static void stalled_scrapers_do_not_block(void **state)
{
    (void)state;
    tproc_init(&proc, "127.0.0.1");
    uint16_t mp = other_free_port(proc.host, proc.port);
    snprintf(proc.extra, sizeof(proc.extra),
             "--metrics-listen=127.0.0.1:%u", mp);
    assert_int_equal(tproc_start(&proc, WAIT_MS), 0);
    int fds[STALLED];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(mp)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < STALLED; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof(a)),
                         0);
        assert_int_equal(write(fds[i], "GET /met", 8), 8); /* and stop */
    }
    char servers[64];
    snprintf(servers, sizeof(servers), "%s:%u", proc.host, proc.port);
    struct coord_client *c = client(servers);
    int64_t t0 = tproc_now_ms();
    for (int i = 0; i < 50; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/stall-%d", i);
        assert_int_equal(coord_create(c, p, "x", 1, 0, 0, NULL, NULL), 0);
    }
    int64_t ms = tproc_now_ms() - t0;
    coord_close(c);
    for (int i = 0; i < STALLED; i++)
        close(fds[i]);
    /* 50 synchronous writes (well under a second here): a loop blocked
     * by the stalled scrapers would wait out the HTTP server's 10 s
     * connection timeout */
    assert_true(ms < 8000);
    assert_true(wait_min("127.0.0.1", mp,
                         "coord_request_duration_seconds_count",
                         "class=\"write\"", 50) >= 50);
    assert_int_equal(tproc_stop(&proc, 10000), 0);
}

/* ---- configuration -------------------------------------------------------- */

static void off_by_default(void **state)
{
    (void)state;
    tproc_init(&proc, "127.0.0.41");
    assert_int_equal(tproc_start(&proc, WAIT_MS), 0);
    int status;
    char *body = NULL;
    size_t len;
    /* nothing on the default port of its address */
    assert_int_equal(prom_fetch("127.0.0.41", 2283, "GET", "/metrics", 5000,
                                &status, NULL, 0, &body, &len), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_false(tproc_log_has(&proc, "metrics listening"));
    assert_int_equal(tproc_stop(&proc, 10000), 0);
}

/* Waits for the process to exit by itself; returns its exit status. */
static int wait_exit(struct tproc *p)
{
    int64_t deadline = tproc_now_ms() + WAIT_MS;
    while (tproc_now_ms() < deadline) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        }
        poll(NULL, 0, 10);
    }
    fail_msg("coordd did not exit");
    return -1;
}

static void bad_metrics_listen(void **state)
{
    (void)state;
    tproc_init(&proc, "127.0.0.1");
    /* the port is taken */
    uint16_t mp = other_free_port(proc.host, proc.port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(mp)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    snprintf(proc.extra, sizeof(proc.extra),
             "--metrics-listen=127.0.0.1:%u", mp);
    assert_int_equal(tproc_spawn(&proc), 0);
    assert_int_not_equal(wait_exit(&proc), 0);
    char want[96];
    snprintf(want, sizeof(want), "metrics_listen 127.0.0.1:%u", mp);
    assert_true(tproc_log_has(&proc, "cannot serve metrics"));
    assert_true(tproc_log_has(&proc, want));
    assert_true(tproc_log_has(&proc, "Address already in use"));
    assert_false(tproc_log_has(&proc, "msg=serving"));
    close(fd);
    /* a malformed value is a configuration error */
    snprintf(proc.extra, sizeof(proc.extra),
             "--metrics-listen=127.0.0.1:http");
    assert_int_equal(tproc_spawn(&proc), 0);
    assert_int_equal(wait_exit(&proc), 2);
    assert_true(tproc_log_has(&proc, "metrics-listen"));
    assert_false(tproc_log_has(&proc, "msg=serving"));
}

/* ---- a cluster ------------------------------------------------------------ */

static void scrape_node(int i, struct prom_scrape *s)
{
    scrape(cl.node[i].host, mport[i], s);
}

static double node_val(int i, const char *name, const char *labels)
{
    struct prom_scrape s;
    scrape_node(i, &s);
    double v = val(&s, name, labels);
    prom_free(&s);
    return v;
}

/* Waits until node i's series reaches at least want. */
static double wait_at_least(int i, const char *name, const char *labels,
                            double want)
{
    return wait_min(cl.node[i].host, mport[i], name, labels, want);
}

static void start_cluster(void)
{
    tcluster_init(&cl, 3, "--snapshot-entries=16");
    for (int i = 0; i < cl.n; i++) {
        mport[i] = other_free_port(cl.node[i].host, cl.node[i].port);
        size_t k = strlen(cl.node[i].extra);
        snprintf(cl.node[i].extra + k, sizeof(cl.node[i].extra) - k,
                 " --metrics-listen=%s:%u", cl.node[i].host, mport[i]);
    }
    assert_int_equal(tcluster_start(&cl, WAIT_MS), 0);
}

/* Whether every live member names node lead as leader, in its term. */
static bool agreed(int lead)
{
    double term = node_val(lead, "coord_raft_term", "");
    for (int i = 0; i < cl.n; i++)
        if (cl.node[i].pid > 0 &&
            (node_val(i, "coord_raft_leader_id", "") != lead + 1 ||
             node_val(i, "coord_raft_term", "") != term))
            return false;
    return true;
}

/* Every member agrees on term and leader; the leader reports its
 * followers' lag. Returns the leader's index. */
static int check_agreement(void)
{
    int lead = tcluster_leader(&cl, WAIT_MS);
    assert_true(lead >= 0);
    /* A member learns of a new leader a little after the leader does: wait
     * until every member's gauges name it, then check what they say. */
    int64_t deadline = tproc_now_ms() + WAIT_MS;
    while (!agreed(lead) && tproc_now_ms() < deadline)
        poll(NULL, 0, 20);
    double term = node_val(lead, "coord_raft_term", "");
    assert_true(term >= 1);
    for (int i = 0; i < cl.n; i++) {
        if (cl.node[i].pid <= 0)
            continue;
        assert_true(node_val(i, "coord_raft_leader_id", "") == lead + 1);
        struct prom_scrape s;
        scrape_node(i, &s);
        assert_true(val(&s, "coord_raft_term", "") == term);
        assert_true(val(&s, "coord_raft_is_leader", "") == (i == lead));
        double peers = prom_sum(&s, "coord_raft_follower_lag_entries", "");
        int npeers = 0;
        for (int k = 0; k < s.n; k++)
            npeers += strcmp(s.s[k].name,
                             "coord_raft_follower_lag_entries") == 0;
        assert_int_equal(npeers, i == lead ? cl.n - 1 : 0);
        assert_true(peers >= 0);
        prom_free(&s);
    }
    return lead;
}

/* coordctl status --json: one line per member, each with the STATS
 * figures ($COORDCTL_BIN or build/bin/coordctl). */
static void coordctl_status_has_stats(void)
{
    const char *bin = getenv("COORDCTL_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s --servers=%s --json status",
             bin ? bin : "build/bin/coordctl", cl.servers);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[4096];
    int rows = 0;
    while (fgets(line, sizeof(line), f)) {
        if (!strstr(line, "\"reachable\":true"))
            continue;
        rows++;
        assert_non_null(strstr(line, "\"requests\":"));
        assert_non_null(strstr(line, "\"fsync_p99_us\":"));
        assert_non_null(strstr(line, "\"leader_changes\":"));
    }
    assert_int_equal(pclose(f), 0);
    assert_int_equal(rows, cl.n);
}

/* Creates prefix-0 .. prefix-(n-1), one at a time, through member i. */
static void create_through(int i, const char *prefix, int n)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "%s:%u", cl.node[i].host, cl.node[i].port);
    struct coord_client *c = client(addr);
    for (int k = 0; k < n; k++) {
        char p[64];
        snprintf(p, sizeof(p), "%s-%d", prefix, k);
        assert_int_equal(coord_create(c, p, "x", 1, 0, 0, NULL, NULL), 0);
    }
    coord_close(c);
}

static void cluster_snapshot_and_leader_change(void **state)
{
    (void)state;
    start_cluster();
    int lead = check_agreement();
    coordctl_status_has_stats();
    int f = (lead + 1) % cl.n;
    /* writes one at a time through a follower: it commits some of them
     * itself, from the leader's durable index (pair commit, 3 voters) */
    create_through(f, "/pair", 200);
    assert_true(wait_at_least(f, "coord_raft_pair_commits_total", "", 1) >=
                1);
    assert_true(node_val(lead, "coord_raft_pair_commits_total", "") == 0);
    assert_int_equal(tproc_stop(&cl.node[f], 10000), 0);
    create_through(lead, "/s", 600);
    double commit = node_val(lead, "coord_raft_commit_index", "");
    assert_true(wait_at_least(lead, "coord_snapshot_bytes_count",
                              "kind=\"taken\"", 1) >= 1);
    /* the follower is far behind the compacted log: it gets a snapshot */
    assert_int_equal(tcluster_spawn(&cl, f), 0);
    assert_true(wait_at_least(f, "coord_raft_applied_index", "", commit) >=
                commit);
    assert_true(wait_at_least(f, "coord_snapshot_bytes_count",
                              "kind=\"installed\"", 1) >= 1);
    assert_true(wait_at_least(lead, "coord_snapshot_bytes_count",
                              "kind=\"sent\"", 1) >= 1);
    assert_true(node_val(lead, "coord_snapshot_bytes_sum", "kind=\"sent\"") >
                0);
    assert_true(node_val(lead, "coord_net_bytes_total",
                         "kind=\"peer\",dir=\"out\"") > 0);
    assert_true(node_val(f, "coord_net_bytes_total",
                         "kind=\"peer\",dir=\"in\"") > 0);
    assert_true(tproc_log_has(&cl.node[lead], "msg=\"snapshot sent\""));
    assert_true(tproc_log_has(&cl.node[f], "msg=\"snapshot installed\""));
    assert_true(tproc_log_has(&cl.node[f], " ms="));
    assert_true(tproc_log_has(&cl.node[lead], "msg=\"snapshot taken\""));
    /* the leader goes: the others count a new leader */
    int o = (lead + 2) % cl.n;
    double before = node_val(o, "coord_raft_leader_changes_total", "");
    assert_int_equal(tproc_stop(&cl.node[lead], 10000), 0);
    assert_true(wait_at_least(o, "coord_raft_leader_changes_total", "",
                              before + 1) >= before + 1);
    int nl = check_agreement();
    assert_int_not_equal(nl, lead);
    assert_true(tproc_log_has(&cl.node[o], "msg=\"leader changed\""));
    /* a membership change is one log line on every replica */
    char servers[64];
    snprintf(servers, sizeof(servers), "%s:%u", cl.node[nl].host,
             cl.node[nl].port);
    struct coord_client *c = client(servers);
    assert_int_equal(coord_member_remove(c, (uint64_t)lead + 1), 0);
    coord_close(c);
    char want[64];
    snprintf(want, sizeof(want), "change=remove id=%d", lead + 1);
    int64_t deadline = tproc_now_ms() + WAIT_MS;
    while (!(tproc_log_has(&cl.node[o], want) &&
             tproc_log_has(&cl.node[nl], "msg=\"membership changed\"")) &&
           tproc_now_ms() < deadline)
        poll(NULL, 0, 20);
    assert_true(tproc_log_has(&cl.node[o], want));
    assert_true(tproc_log_has(&cl.node[nl], "msg=\"membership changed\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(scrape_during_load, teardown),
        cmocka_unit_test_teardown(stalled_scrapers_do_not_block, teardown),
        cmocka_unit_test_teardown(off_by_default, teardown),
        cmocka_unit_test_teardown(bad_metrics_listen, teardown),
        cmocka_unit_test_teardown(cluster_snapshot_and_leader_change,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
