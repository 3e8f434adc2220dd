/* zkbench.c -- load generator for a ZooKeeper ensemble, the ZooKeeper side
 * of `make bench-compare` (test/bench/compare/compare.sh). Same shape as
 * coordbench: S connections (zhandles of ZooKeeper's multi-threaded async
 * C client) x W requests kept in flight on each; every latency completed
 * inside the measured window is kept and sorted (p50/p90/p99/p99.9/max);
 * prints coordbench's --format=kv keys so one parser reads both.
 *
 * Workloads: set (zoo_aset of a VALUE_SIZE value on a random key of a
 * pre-created key space), get (zoo_aget: ZooKeeper's reads are served by
 * the member the client is connected to, "local"), create-delete (create a
 * unique node, then delete it; 2 ops), mix (READ_PCT % gets, the rest
 * sets), lock (ZooKeeper's standard lock recipe written on the sync C API:
 * ephemeral sequential node, lowest holds, others watch their predecessor;
 * S contenders, one thread and session each; hand-offs/s counts
 * acquire+release cycles whose release completed in the window, like
 * coordlockbench; latencies are acquire latencies: create to held),
 * failover-probe (one session to all members writes every 2 ms, then sends
 * FAULT_SIGNAL to FAULT_PID itself and reports the time to the first
 * successful write of that loop after it, failover_ms, and the first
 * success of any write, writable_ms: async ones are also sent every 10 ms
 * on the same session without waiting), ready (one write through one
 * session: clusters.sh's zk_healthy asks it of each member).
 *
 * Before any window every session must get one synchronous write through
 * (ready_check; up to 3 tries, each bounded by the client library's own
 * timeout, 2/3 of the session timeout). A write that stalls is reported,
 * not hidden: ready_errors/ready_err/ready_server, ready_ms (the longest
 * wait). So are failures inside the window: err1 (the first failed
 * request's code), err1_at_ms, err1_wait_ms (how long it waited for its
 * reply: the client drops a connection after 2/3 of the session timeout
 * without a byte, and sends no pings while a request is outstanding, so a
 * request the server never answers ends as ZOPERATIONTIMEOUT after 20 s),
 * err1_server, and pending/pending_ms (still unanswered at the end).
 *
 * A benchmark tool, not product code: it may use libc's allocator and
 * stdio freely; it must not include coord's headers (it measures another
 * system) and must not change what it measures (no tuning of ZooKeeper). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define THREADED /* the mt library: sync calls from any thread */
#include <zookeeper/zookeeper.h>

enum op {
    OP_SET, OP_GET, OP_CREATE_DELETE, OP_MIX, OP_LOCK, OP_PROBE, OP_READY
};
static const char *const op_names[] = {"set", "get", "create-delete",
                                       "mix", "lock", "failover-probe",
                                       "ready"};
enum kind { K_SET, K_GET, K_CREATE, K_DELETE };

#define MAX_PIDS 16
#define ERR_CODES 160 /* ZooKeeper's codes are -1..-130 or so */

static struct {
    const char *servers;
    unsigned conns, window, read_pct, keys, timeout_ms;
    size_t value_size;
    double duration, warmup;
    int pids[MAX_PIDS];
    unsigned npids;
    bool kv;
    const char *prefix;
    enum op op;
    int fault_pid, fault_sig;
} cfg = {
    .servers = "127.0.0.1:2181", .conns = 1, .window = 1, .read_pct = 90,
    .keys = 1000, .timeout_ms = 30000, .value_size = 128, .duration = 10,
    .warmup = 2, .prefix = "/zkbench", .op = OP_SET, .fault_sig = SIGKILL,
};

enum phase { PH_WARMUP, PH_MEASURE, PH_STOP };
static atomic_int g_phase;
static atomic_int g_inflight;
static char *g_value;

struct conn;
struct slot {
    struct conn *c;
    uint64_t t0;
    atomic_bool pending; /* sent, no completion yet */
    enum kind kind;
    char path[128];
};

struct lat {
    uint64_t *v;
    size_t n, cap;
};

struct conn {
    zhandle_t *zh;
    unsigned id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool connected, fired;
    struct lat lat;
    uint64_t errs, creates, deletes, seq, rng;
    uint64_t errc[ERR_CODES]; /* by -rc, clamped */
    struct slot *slots;
    pthread_t thr;
    char server[64]; /* member the session was on when the load began */
    /* the first failed request: its code, when (ns after the load began)
     * and how long it had waited for its reply */
    int err1;
    uint64_t err1_at, err1_wait;
};

static uint64_t g_load_t0; /* now_ns() when the load began */

static struct conn *g_conns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void lat_push(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (!l->v) {
            fprintf(stderr, "zkbench: out of memory\n");
            exit(1);
        }
    }
    l->v[l->n++] = ns;
}

static uint64_t rnd(struct conn *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

/* ---- async load ---------------------------------------------------------- */

static void issue(struct slot *s);
static void void_done(int rc, const void *d);

static void complete(struct slot *s, int rc)
{
    struct conn *c = s->c;
    uint64_t now = now_ns();
    atomic_store(&s->pending, false);
    if (rc != ZOK) {
        c->errs++;
        c->errc[rc < 0 && -rc < ERR_CODES ? -rc : 0]++;
        if (!c->err1) {
            c->err1 = rc;
            c->err1_at = now - g_load_t0;
            c->err1_wait = now - s->t0;
        }
    } else if (atomic_load(&g_phase) == PH_MEASURE) {
        lat_push(&c->lat, now - s->t0);
        if (s->kind == K_CREATE)
            c->creates++;
        if (s->kind == K_DELETE)
            c->deletes++;
    }
    if (s->kind == K_CREATE && rc == ZOK) { /* even when stopping */
        s->kind = K_DELETE;
        s->t0 = now_ns();
        atomic_store(&s->pending, true);
        if (zoo_adelete(c->zh, s->path, -1, void_done, s) == ZOK)
            return;
        atomic_store(&s->pending, false);
        c->errs++;
    }
    issue(s);
}

static void stat_done(int rc, const struct Stat *st, const void *d)
{
    (void)st;
    complete((struct slot *)d, rc);
}

static void data_done(int rc, const char *v, int len, const struct Stat *st,
                      const void *d)
{
    (void)v, (void)len, (void)st;
    complete((struct slot *)d, rc);
}

static void void_done(int rc, const void *d)
{
    complete((struct slot *)d, rc);
}

static void string_done(int rc, const char *v, const void *d)
{
    (void)v;
    complete((struct slot *)d, rc);
}

static void key_path(struct conn *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s/k%" PRIu64, cfg.prefix, rnd(c) % cfg.keys);
}

/* Starts the slot's next request (or retires the slot once stopping). */
static void issue(struct slot *s)
{
    struct conn *c = s->c;
    if (atomic_load(&g_phase) == PH_STOP) {
        atomic_fetch_sub(&g_inflight, 1);
        return;
    }
    int rc;
    enum op op = cfg.op;
    if (op == OP_MIX)
        op = rnd(c) % 100 < cfg.read_pct ? OP_GET : OP_SET;
    s->t0 = now_ns();
    atomic_store(&s->pending, true);
    switch (op) {
    case OP_SET:
        s->kind = K_SET;
        key_path(c, s->path, sizeof(s->path));
        rc = zoo_aset(c->zh, s->path, g_value, (int)cfg.value_size, -1,
                      stat_done, s);
        break;
    case OP_GET:
        s->kind = K_GET;
        key_path(c, s->path, sizeof(s->path));
        rc = zoo_aget(c->zh, s->path, 0, data_done, s);
        break;
    default:
        s->kind = K_CREATE;
        /* unique across runs too: the pid, so that a node left by a
         * killed run cannot collide */
        snprintf(s->path, sizeof(s->path), "%s/c-%d-%u-%" PRIu64, cfg.prefix,
                 (int)getpid(), c->id, c->seq++);
        rc = zoo_acreate(c->zh, s->path, g_value, (int)cfg.value_size,
                         &ZOO_OPEN_ACL_UNSAFE, 0, string_done, s);
        break;
    }
    if (rc != ZOK) { /* not queued: the handle is unusable; retire */
        atomic_store(&s->pending, false);
        c->errs++;
        atomic_fetch_sub(&g_inflight, 1);
    }
}

/* ---- sessions ------------------------------------------------------------ */

static void session_watcher(zhandle_t *zh, int type, int state,
                            const char *path, void *ctx)
{
    (void)zh, (void)path;
    struct conn *c = ctx;
    if (type != ZOO_SESSION_EVENT || !c)
        return;
    pthread_mutex_lock(&c->mu);
    c->connected = state == ZOO_CONNECTED_STATE;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int open_conns(unsigned n)
{
    g_conns = calloc(n, sizeof(*g_conns));
    for (unsigned i = 0; i < n; i++) {
        struct conn *c = &g_conns[i];
        c->id = i;
        c->rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ (uint64_t)getpid();
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->zh = zookeeper_init(cfg.servers, session_watcher,
                               (int)cfg.timeout_ms, 0, c, 0);
        if (!c->zh) {
            fprintf(stderr, "zkbench: zookeeper_init: %s\n",
                    strerror(errno));
            return -1;
        }
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 60;
    for (unsigned i = 0; i < n; i++) {
        struct conn *c = &g_conns[i];
        pthread_mutex_lock(&c->mu);
        while (!c->connected)
            if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT)
                break;
        bool ok = c->connected;
        pthread_mutex_unlock(&c->mu);
        if (!ok) {
            fprintf(stderr, "zkbench: session %u not connected in 60 s\n",
                    i);
            return -1;
        }
    }
    return 0;
}

static void close_conns(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (g_conns[i].zh)
            zookeeper_close(g_conns[i].zh);
}

/* ---- setup: the parent and the key space, pipelined ---------------------- */

static atomic_int g_setup_left, g_setup_errs;

static void setup_done(int rc, const char *v, const void *d)
{
    (void)v, (void)d;
    if (rc != ZOK && rc != ZNODEEXISTS)
        atomic_fetch_add(&g_setup_errs, 1);
    atomic_fetch_sub(&g_setup_left, 1);
}

static int create_parent(zhandle_t *zh, const char *path)
{
    int rc = zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) {
        fprintf(stderr, "zkbench: create %s: %s\n", path, zerror(rc));
        return -1;
    }
    return 0;
}

static int create_keys(zhandle_t *zh)
{
    if (create_parent(zh, cfg.prefix) < 0)
        return -1;
    if (cfg.op == OP_CREATE_DELETE || cfg.op == OP_LOCK ||
        cfg.op == OP_READY)
        return 0;
    char path[128];
    atomic_store(&g_setup_left, (int)cfg.keys);
    for (unsigned k = 0; k < cfg.keys; k++) {
        snprintf(path, sizeof(path), "%s/k%u", cfg.prefix, k);
        while (atomic_load(&g_setup_left) > (int)(cfg.keys - k) + 256)
            sleep_s(0.001); /* bound the client's queue */
        if (zoo_acreate(zh, path, g_value, (int)cfg.value_size,
                        &ZOO_OPEN_ACL_UNSAFE, 0, setup_done, NULL) != ZOK)
            return -1;
    }
    uint64_t end = now_ns() + 60ull * 1000000000ull;
    while (atomic_load(&g_setup_left) > 0 && now_ns() < end)
        sleep_s(0.002);
    if (atomic_load(&g_setup_left) > 0 || atomic_load(&g_setup_errs) > 0) {
        fprintf(stderr, "zkbench: creating the key space failed\n");
        return -1;
    }
    return 0;
}

/* ---- measurement helpers ------------------------------------------------- */

static long long server_ticks(void)
{
    long long sum = 0;
    for (unsigned i = 0; i < cfg.npids; i++) {
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/stat", cfg.pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')'); /* comm may hold spaces */
        unsigned long ut = 0, st = 0;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                                "%*u %lu %lu", &ut, &st) != 2)
            return -1;
        sum += (long long)(ut + st);
    }
    return sum;
}

static double cpu_self_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double quant_us(const struct lat *l, double q)
{
    if (!l->n)
        return 0;
    size_t i = (size_t)(q * (double)l->n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > l->n)
        i = l->n;
    return (double)l->v[i - 1] / 1e3;
}

static void out(const char *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool g_first = true;
static void out(const char *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cfg.kv)
        printf("%s%s=", g_first ? "" : " ", k);
    else
        printf("%-24s ", k);
    vprintf(fmt, ap);
    if (!cfg.kv)
        printf("\n");
    va_end(ap);
    g_first = false;
}

struct result {
    struct lat all;
    double secs, cli_us;
    long long srv_ticks;
    uint64_t errs, creates, deletes;
    uint64_t errc[ERR_CODES];
    /* requests still without a reply at the end, and the oldest's wait */
    uint64_t pending;
    double pending_ms;
    /* the first failed request (earliest err1_at over the sessions) */
    int err1;
    double err1_at_ms, err1_wait_ms;
    const char *err1_server;
};

/* The pre-window write check (ready_check): the longest wait for the
 * first successful write of a session, failed tries and the first. */
static struct {
    double ms;
    unsigned errors;
    int err;
    char server[64];
} g_ready;

static const char *err_name(int code)
{
    switch (-code) {
    case ZCONNECTIONLOSS: return "ZCONNECTIONLOSS";
    case ZOPERATIONTIMEOUT: return "ZOPERATIONTIMEOUT";
    case ZINVALIDSTATE: return "ZINVALIDSTATE";
    case ZNONODE: return "ZNONODE";
    case ZNODEEXISTS: return "ZNODEEXISTS";
    case ZSESSIONEXPIRED: return "ZSESSIONEXPIRED";
    default: return NULL;
    }
}

/* rc (< 0) as one kv-safe word: its name, or its number. */
static const char *code_word(int rc, char *buf, size_t n)
{
    const char *name = rc < 0 ? err_name(-rc) : NULL;
    if (name)
        return name;
    snprintf(buf, n, "%d", rc);
    return buf;
}

static void report(struct result *r)
{
    char cw[16];
    qsort(r->all.v, r->all.n, sizeof(uint64_t), cmp_u64);
    out("system", "zookeeper");
    out("op", "%s", op_names[cfg.op]);
    if (cfg.op == OP_MIX)
        out("read_pct", "%u", cfg.read_pct);
    out("conns", "%u", cfg.conns);
    out("window", "%u", cfg.op == OP_LOCK ? 1 : cfg.window);
    out("value_bytes", "%zu", cfg.value_size);
    out("secs", "%.2f", r->secs);
    out("ops", "%zu", r->all.n);
    out("ops_per_s", "%.0f", (double)r->all.n / r->secs);
    if (cfg.op == OP_CREATE_DELETE)
        out("pairs_per_s", "%.0f", (double)r->deletes / r->secs);
    if (cfg.op == OP_LOCK)
        out("handoffs_per_s", "%.0f", (double)r->deletes / r->secs);
    out("p50_us", "%.1f", quant_us(&r->all, 0.5));
    out("p90_us", "%.1f", quant_us(&r->all, 0.9));
    out("p99_us", "%.1f", quant_us(&r->all, 0.99));
    out("p999_us", "%.1f", quant_us(&r->all, 0.999));
    out("max_us", "%.1f", r->all.n ? (double)r->all.v[r->all.n - 1] / 1e3
                                   : 0.0);
    out("errors", "%" PRIu64, r->errs);
    out("ready_ms", "%.1f", g_ready.ms);
    if (g_ready.errors) {
        out("ready_errors", "%u", g_ready.errors);
        out("ready_err", "%s", code_word(g_ready.err, cw, sizeof(cw)));
        out("ready_server", "%s", g_ready.server);
    }
    if (r->err1) { /* what a stalled or failing run needs explained */
        out("err1", "%s", code_word(r->err1, cw, sizeof(cw)));
        out("err1_at_ms", "%.0f", r->err1_at_ms);
        out("err1_wait_ms", "%.0f", r->err1_wait_ms);
        out("err1_server", "%s", r->err1_server);
    }
    if (r->pending) {
        out("pending", "%" PRIu64, r->pending);
        out("pending_ms", "%.0f", r->pending_ms);
    }
    for (int e = 0; e < ERR_CODES; e++)
        if (r->errc[e]) {
            char key[48];
            const char *n = err_name(e);
            if (n)
                snprintf(key, sizeof(key), "err_%s", n);
            else
                snprintf(key, sizeof(key), "err_%d", -e);
            out(key, "%" PRIu64, r->errc[e]);
        }
    double ops = r->all.n ? (double)r->all.n : 1;
    if (r->srv_ticks >= 0 && cfg.npids) {
        double us = (double)r->srv_ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
        out("server_cpu_us_per_op", "%.2f", us / ops);
        out("server_cpu_pct", "%.0f", us / 1e4 / r->secs);
    } else {
        out("server_cpu_us_per_op", "n/a");
    }
    out("server_fsyncs_per_op", "n/a");
    out("client_cpu_us_per_op", "%.2f", r->cli_us / ops);
    if (cfg.kv)
        printf("\n");
    fflush(stdout);
}

/* Runs warm-up and the window around `load` (already started), collecting
 * CPU figures; sets the phase to STOP at the end. */
static void measure_window(struct result *r)
{
    sleep_s(cfg.warmup);
    long long t0 = server_ticks();
    double c0 = cpu_self_us();
    uint64_t w0 = now_ns();
    atomic_store(&g_phase, PH_MEASURE);
    sleep_s(cfg.duration);
    atomic_store(&g_phase, PH_STOP);
    uint64_t w1 = now_ns();
    long long t1 = server_ticks();
    r->cli_us = cpu_self_us() - c0;
    r->srv_ticks = t0 >= 0 && t1 >= 0 ? t1 - t0 : -1;
    r->secs = (double)(w1 - w0) / 1e9;
}

static void merge(struct result *r)
{
    for (unsigned i = 0; i < cfg.conns; i++) {
        struct conn *c = &g_conns[i];
        pthread_mutex_lock(&c->mu); /* lock contenders write under mu */
        for (size_t j = 0; j < c->lat.n; j++)
            lat_push(&r->all, c->lat.v[j]);
        r->errs += c->errs;
        for (int e = 0; e < ERR_CODES; e++)
            r->errc[e] += c->errc[e];
        r->creates += c->creates;
        r->deletes += c->deletes;
        if (c->err1 && (!r->err1 || (double)c->err1_at / 1e6 <
                                         r->err1_at_ms)) {
            r->err1 = c->err1;
            r->err1_at_ms = (double)c->err1_at / 1e6;
            r->err1_wait_ms = (double)c->err1_wait / 1e6;
            r->err1_server = c->server;
        }
        pthread_mutex_unlock(&c->mu);
    }
}

/* Requests still without a reply (before the sessions are closed, which
 * fails them): how many and how long the oldest has waited. */
static void count_pending(struct result *r)
{
    uint64_t now = now_ns();
    for (unsigned i = 0; i < cfg.conns; i++)
        for (unsigned w = 0; w < cfg.window; w++) {
            struct slot *s = &g_conns[i].slots[w];
            if (!atomic_load(&s->pending))
                continue;
            r->pending++;
            double ms = (double)(now - s->t0) / 1e6;
            if (ms > r->pending_ms)
                r->pending_ms = ms;
        }
}

/* ---- before the window: every session serves a write --------------------- */

#define READY_TRIES 3

/* Each session sets the run's parent node synchronously until one set
 * succeeds (up to READY_TRIES; each waits for its reply or the client
 * library's own timeout): the check coord's side makes before a window
 * (clusters.sh, coord_healthy), so that a session which cannot get a
 * write through is found before latencies count rather than as a run of
 * 0 ops. Failed tries are not hidden: report() prints how many, the
 * first's code and the member the session was on (ready_*); ready_ms is
 * the longest wait. Returns 0, or -1 when a session never got one. */
static int ready_check(void)
{
    for (unsigned i = 0; i < cfg.conns; i++) {
        struct conn *c = &g_conns[i];
        uint64_t t0 = now_ns();
        int rc = ZOK;
        for (unsigned t = 0; t < READY_TRIES; t++) {
            char srv[64];
            const char *cur = zoo_get_current_server(c->zh);
            snprintf(srv, sizeof(srv), "%s", cur ? cur : "?");
            rc = zoo_set(c->zh, cfg.prefix, "", 0, -1);
            if (rc == ZOK)
                break;
            if (!g_ready.errors++) {
                g_ready.err = rc;
                snprintf(g_ready.server, sizeof(g_ready.server), "%s", srv);
            }
            fprintf(stderr, "zkbench: session %u: set %s before the window "
                    "failed on %s after %.0f ms: %s\n", i, cfg.prefix, srv,
                    (double)(now_ns() - t0) / 1e6, zerror(rc));
        }
        double ms = (double)(now_ns() - t0) / 1e6;
        if (ms > g_ready.ms)
            g_ready.ms = ms;
        if (rc != ZOK) {
            char cw[16];
            printf("system=zookeeper op=%s failed=no-write-before-window "
                   "ready_errors=%u ready_err=%s ready_server=%s\n",
                   op_names[cfg.op], g_ready.errors,
                   code_word(g_ready.err, cw, sizeof(cw)), g_ready.server);
            return -1;
        }
        const char *cur = zoo_get_current_server(c->zh);
        snprintf(c->server, sizeof(c->server), "%s", cur ? cur : "?");
    }
    return 0;
}

static int run_load(void)
{
    struct result r = {0};
    for (unsigned i = 0; i < cfg.conns; i++) {
        struct conn *c = &g_conns[i];
        c->slots = calloc(cfg.window, sizeof(*c->slots));
        for (unsigned w = 0; w < cfg.window; w++) {
            c->slots[w].c = c;
            atomic_fetch_add(&g_inflight, 1);
        }
    }
    g_load_t0 = now_ns();
    for (unsigned w = 0; w < cfg.window; w++) /* round-robin start */
        for (unsigned i = 0; i < cfg.conns; i++)
            issue(&g_conns[i].slots[w]);
    measure_window(&r);
    uint64_t end = now_ns() + 60ull * 1000000000ull;
    while (atomic_load(&g_inflight) > 0 && now_ns() < end)
        sleep_s(0.005);
    count_pending(&r);
    if (r.pending)
        fprintf(stderr, "zkbench: %" PRIu64 " requests still pending "
                "after 60 s (oldest %.0f ms)\n", r.pending, r.pending_ms);
    close_conns(cfg.conns); /* joins the client threads: lat is final */
    merge(&r);
    report(&r);
    return 0;
}

/* ---- lock: ZooKeeper's standard recipe ---------------------------------- */

static void pred_watcher(zhandle_t *zh, int type, int state, const char *path,
                         void *ctx)
{
    (void)zh, (void)type, (void)state, (void)path;
    struct conn *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->fired = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Acquire: 0 when c holds the lock whose node is `mine`; -1 on error or
 * when the run stops while waiting. */
static int lock_acquire(struct conn *c, const char *dir, char *mine,
                        size_t mlen)
{
    char tmpl[160];
    snprintf(tmpl, sizeof(tmpl), "%s/lock-", dir);
    int rc = zoo_create(c->zh, tmpl, "", 0, &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_EPHEMERAL_SEQUENTIAL, mine, (int)mlen);
    if (rc != ZOK)
        return -1;
    const char *base = strrchr(mine, '/') + 1;
    for (;;) {
        struct String_vector sv = {0};
        if (zoo_get_children(c->zh, dir, 0, &sv) != ZOK)
            return -1;
        qsort(sv.data, (size_t)sv.count, sizeof(char *), cmp_str);
        int me = -1;
        for (int i = 0; i < sv.count; i++)
            if (strcmp(sv.data[i], base) == 0)
                me = i;
        if (me < 0) {
            deallocate_String_vector(&sv);
            return -1;
        }
        if (me == 0) {
            deallocate_String_vector(&sv);
            return 0;
        }
        char pred[160];
        snprintf(pred, sizeof(pred), "%s/%s", dir, sv.data[me - 1]);
        deallocate_String_vector(&sv);
        pthread_mutex_lock(&c->mu);
        c->fired = false;
        pthread_mutex_unlock(&c->mu);
        struct Stat st;
        rc = zoo_wexists(c->zh, pred, pred_watcher, c, &st);
        if (rc == ZNONODE)
            continue;
        if (rc != ZOK)
            return -1;
        pthread_mutex_lock(&c->mu);
        while (!c->fired && atomic_load(&g_phase) != PH_STOP) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 100000000;
            if (dl.tv_nsec >= 1000000000) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&c->cv, &c->mu, &dl);
        }
        bool stop = !c->fired;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            return -1;
    }
}

static void *lock_thread(void *arg)
{
    struct conn *c = arg;
    char dir[128], mine[160];
    snprintf(dir, sizeof(dir), "%s/lock", cfg.prefix);
    while (atomic_load(&g_phase) != PH_STOP) {
        uint64_t t0 = now_ns();
        if (lock_acquire(c, dir, mine, sizeof(mine)) < 0) {
            if (atomic_load(&g_phase) != PH_STOP) {
                pthread_mutex_lock(&c->mu);
                c->errs++;
                pthread_mutex_unlock(&c->mu);
            }
            break; /* our node (if any) goes with the session */
        }
        uint64_t t1 = now_ns();
        pthread_mutex_lock(&c->mu);
        if (atomic_load(&g_phase) == PH_MEASURE)
            lat_push(&c->lat, t1 - t0);
        pthread_mutex_unlock(&c->mu);
        int rc = zoo_delete(c->zh, mine, -1);
        pthread_mutex_lock(&c->mu);
        if (rc != ZOK)
            c->errs++;
        else if (atomic_load(&g_phase) == PH_MEASURE)
            c->deletes++; /* a hand-off: release completed in the window */
        pthread_mutex_unlock(&c->mu);
        if (rc != ZOK)
            break;
    }
    return NULL;
}

static int run_lock(void)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/lock", cfg.prefix);
    if (create_parent(g_conns[0].zh, dir) < 0)
        return -1;
    struct result r = {0};
    for (unsigned i = 0; i < cfg.conns; i++)
        pthread_create(&g_conns[i].thr, NULL, lock_thread, &g_conns[i]);
    measure_window(&r);
    for (unsigned i = 0; i < cfg.conns; i++)
        pthread_join(g_conns[i].thr, NULL);
    merge(&r);
    close_conns(cfg.conns);
    report(&r);
    return 0;
}

/* ---- failover probe ------------------------------------------------------ */

/* Alongside the probe's own loop: an async write every 10 ms on the same
 * session, none waiting for another, so the first success among them
 * tells when the ensemble took writes again, whatever the loop's request
 * was stuck on (writable_ms). */
static atomic_ullong g_first_ok; /* now_ns() of the first success, 0 none */
static atomic_int g_probe_done;
static const char *g_probe_path;

static void sampler_done(int rc, const struct Stat *st, const void *d)
{
    (void)st, (void)d;
    unsigned long long zero = 0, now = now_ns();
    if (rc == ZOK)
        atomic_compare_exchange_strong(&g_first_ok, &zero, now);
}

static void *sampler(void *arg)
{
    zhandle_t *zh = arg;
    while (!atomic_load(&g_probe_done) && !atomic_load(&g_first_ok)) {
        zoo_aset(zh, g_probe_path, "z", 1, -1, sampler_done, NULL);
        sleep_s(0.010);
    }
    return NULL;
}

static int run_probe(void)
{
    zhandle_t *zh = g_conns[0].zh;
    char path[128];
    snprintf(path, sizeof(path), "%s/fo", cfg.prefix);
    int rc = zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    if (rc != ZOK && rc != ZNODEEXISTS)
        return fprintf(stderr, "zkbench: create %s: %s\n", path,
                       zerror(rc)), -1;
    uint64_t end = now_ns() + (uint64_t)(cfg.warmup * 1e9);
    do { /* steady state: writes succeed before the fault */
        if ((rc = zoo_set(zh, path, "x", 1, -1)) != ZOK)
            return fprintf(stderr, "zkbench: probe set before the fault: "
                           "%s\n", zerror(rc)), -1;
        sleep_s(0.002);
    } while (now_ns() < end);
    const char *srv = zoo_get_current_server(zh);
    char server[64];
    snprintf(server, sizeof(server), "%s", srv ? srv : "?");
    uint64_t t0 = now_ns();
    if (kill(cfg.fault_pid, cfg.fault_sig) != 0)
        return fprintf(stderr, "zkbench: kill %d: %s\n", cfg.fault_pid,
                       strerror(errno)), -1;
    g_probe_path = path;
    pthread_t thr;
    pthread_create(&thr, NULL, sampler, zh);
    unsigned tries = 0;
    uint64_t limit = t0 + (uint64_t)(cfg.duration * 1e9);
    for (;;) {
        tries++;
        rc = zoo_set(zh, path, "y", 1, -1);
        if (rc == ZOK) {
            unsigned long long zero = 0;
            atomic_compare_exchange_strong(&g_first_ok, &zero, now_ns());
            break;
        }
        if (now_ns() > limit) {
            printf("system=zookeeper op=failover-probe failover_ms=timeout "
                   "tries=%u last_error=%s\n", tries, zerror(rc));
            return 1;
        }
        sleep_s(0.002);
    }
    double ms = (double)(now_ns() - t0) / 1e6;
    atomic_store(&g_probe_done, 1);
    pthread_join(thr, NULL);
    double wms = (double)(atomic_load(&g_first_ok) - t0) / 1e6;
    printf("system=zookeeper op=failover-probe signal=%d failover_ms=%.1f "
           "writable_ms=%.1f tries=%u connected_before=%s\n", cfg.fault_sig,
           ms, wms < ms ? wms : ms, tries, server);
    fflush(stdout);
    close_conns(1);
    return 0;
}

/* ---- options ------------------------------------------------------------- */

static void usage(void)
{
    fputs(
"Usage: zkbench [OPTIONS]  (load generator for a ZooKeeper ensemble)\n"
"  --servers=LIST       host:port,... (default 127.0.0.1:2181)\n"
"  --connections=S      sessions (lock: contenders) (default 1)\n"
"  --outstanding=W      async requests in flight per session (default 1)\n"
"  --op=KIND            set | get | create-delete | mix | lock |\n"
"                       failover-probe | ready (default set; ready: one\n"
"                       session sets PREFIX once, exit 0 if it succeeded)\n"
"  --read-pct=N         mix: percentage of reads (default 90)\n"
"  --value-size=BYTES   (default 128)\n"
"  --keys=N             key space, created before the run (default 1000)\n"
"  --duration=SECS      window (default 10); probe: give up after this\n"
"  --warmup=SECS        load before the window (default 2); probe: writes\n"
"                       before the fault\n"
"  --server-pid=PID     server process for CPU per op (repeatable)\n"
"  --format=text|kv\n"
"  --prefix=PATH        parent of the run's nodes (default /zkbench)\n"
"  --timeout-ms=MS      session timeout (default 30000, zkCli's)\n"
"  --fault-pid=PID      probe: process to signal\n"
"  --fault-signal=KILL|STOP  probe: the signal (default KILL)\n", stdout);
}

static int parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *v = strchr(a, '=');
        if (strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "zkbench: bad option %s\n", a);
            return -1;
        }
        *v++ = 0;
        if (!strcmp(a, "--servers"))
            cfg.servers = v;
        else if (!strcmp(a, "--connections"))
            cfg.conns = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--outstanding"))
            cfg.window = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--read-pct"))
            cfg.read_pct = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--value-size"))
            cfg.value_size = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--keys"))
            cfg.keys = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--duration"))
            cfg.duration = strtod(v, NULL);
        else if (!strcmp(a, "--warmup"))
            cfg.warmup = strtod(v, NULL);
        else if (!strcmp(a, "--server-pid") && cfg.npids < MAX_PIDS)
            cfg.pids[cfg.npids++] = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--format"))
            cfg.kv = strcmp(v, "kv") == 0;
        else if (!strcmp(a, "--prefix"))
            cfg.prefix = v;
        else if (!strcmp(a, "--timeout-ms"))
            cfg.timeout_ms = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--fault-pid"))
            cfg.fault_pid = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--fault-signal"))
            cfg.fault_sig = !strcmp(v, "STOP") ? SIGSTOP : SIGKILL;
        else if (!strcmp(a, "--op")) {
            unsigned k;
            for (k = 0; k < sizeof(op_names) / sizeof(op_names[0]); k++)
                if (!strcmp(v, op_names[k]))
                    break;
            if (k == sizeof(op_names) / sizeof(op_names[0])) {
                fprintf(stderr, "zkbench: unknown op %s\n", v);
                return -1;
            }
            cfg.op = (enum op)k;
        } else {
            fprintf(stderr, "zkbench: unknown option %s\n", a);
            return -1;
        }
    }
    if (!cfg.conns || !cfg.window || !cfg.keys || cfg.read_pct > 100 ||
        (cfg.op == OP_PROBE && cfg.fault_pid <= 0)) {
        fprintf(stderr, "zkbench: bad option value\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv) < 0)
        return 2;
    /* ZKBENCH_CLIENT_LOG: the client library's log to stderr (errors;
     * "debug": every packet, to see where a request stalled) */
    const char *zlog = getenv("ZKBENCH_CLIENT_LOG");
    zoo_set_debug_level(zlog && !strcmp(zlog, "debug") ? ZOO_LOG_LEVEL_DEBUG
                                                      : ZOO_LOG_LEVEL_ERROR);
    if (!zlog) /* reconnect noise, one per try */
        zoo_set_log_stream(fopen("/dev/null", "w"));
    g_value = malloc(cfg.value_size + 1);
    memset(g_value, 'v', cfg.value_size);
    if (cfg.op == OP_PROBE || cfg.op == OP_READY)
        cfg.conns = 1;
    if (open_conns(cfg.conns) < 0)
        return 1;
    if (create_keys(g_conns[0].zh) < 0)
        return 1;
    if (cfg.op != OP_PROBE && ready_check() < 0)
        return 1;
    if (cfg.op == OP_READY) { /* clusters.sh: a member serves a write */
        printf("system=zookeeper op=ready ready_ms=%.1f\n", g_ready.ms);
        return 0;
    }
    if (cfg.op == OP_LOCK)
        return run_lock() < 0;
    if (cfg.op == OP_PROBE)
        return run_probe() != 0;
    return run_load() < 0;
}
