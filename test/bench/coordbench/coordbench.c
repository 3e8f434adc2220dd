/* coordbench.c -- the load generator for a running coord cluster (issue
 * "Phase 2", item 10). It opens S clients (one coord_client, i.e. one
 * connection and one I/O thread, each), keeps exactly W requests in flight
 * on each (the next request is issued from the completion callback), runs a
 * warm-up and then a measured window, and prints ops/s, latency
 * percentiles from a histogram holding every sample (hist.h), errors by
 * code, and the server's CPU per operation read from /proc/PID/stat.
 *
 * It talks to the cluster only through the public libcoord API (coord.h;
 * plus libcoord/shared/alloc.h, the project's one allocator): it must not
 * include libcoord internals or coordd headers. It never starts or stops servers;
 * scripts/bench-single.sh and test/bench/coordbench/smoke.sh do that.
 * `coordbench --help` lists the options. */
#include "coord.h"
#include "args.h"
#include "hist.h"
#include "probe.h"
#include "libcoord/shared/alloc.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* ---- configuration -------------------------------------------------------- */

enum bench_op { OP_SET, OP_GET, OP_GET_LOCAL, OP_CREATE_DELETE, OP_MIX };
static const char *const op_names[] = {"set", "get", "get-local",
                                       "create-delete", "mix"};

/* What one request did: each kind has its own histogram. */
enum bench_kind { K_WRITE, K_READ, K_CREATE, K_DELETE, K_COUNT };

enum bench_format { FMT_TEXT, FMT_KV, FMT_JSON };

#define BENCH_PIDS_MAX 16
#define BENCH_ERR_CODES 64 /* -status indexes the error counters */
#define BENCH_PATH_MAX 160

struct bench_cfg {
    const char *servers;
    unsigned conns;       /* S */
    unsigned window;      /* W: requests in flight per connection */
    size_t value_size;
    enum bench_op op;
    unsigned read_pct;    /* mix: percentage of reads */
    bool local_reads;     /* mix: reads are COORD_READ_LOCAL */
    bool prefer_leader;   /* sessions move to the leader (libcoord) */
    uint64_t keys;
    double duration_s;
    double warmup_s;
    pid_t pids[BENCH_PIDS_MAX];
    unsigned npids;
    enum bench_format format;
    const char *prefix;
    bool cleanup;
    uint32_t timeout_ms;
};

/* ---- run state ------------------------------------------------------------ */

enum bench_phase { PH_WARMUP, PH_MEASURE, PH_DRAIN };

struct bench_conn;

/* One of the W request slots of a connection: at most one request of a
 * slot is in flight, so its fields are touched by one thread at a time
 * (the main thread for the first request, then the I/O thread). */
struct bench_slot {
    struct bench_conn *conn;
    unsigned id;
    uint64_t rng;
    uint64_t seq;
    uint64_t t0_ns;
    int kind;
    char path[BENCH_PATH_MAX];
};

/* Histograms and counts are written only by the client's I/O thread
 * (callbacks) and read by the main thread after every slot retired. */
struct bench_conn {
    unsigned id;
    struct coord_client *cl;
    struct bench_slot *slots;
    struct hist h[K_COUNT];
    uint64_t ops[K_COUNT];
    uint64_t bad_reads; /* a read returned a value of the wrong size */
    _Atomic uint64_t errs[BENCH_ERR_CODES];
};

static struct bench_cfg g_cfg;
static struct bench_conn *g_conns;
static char *g_value;
static char g_base[128];
static atomic_int g_phase;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static unsigned g_active; /* slots still issuing (under g_mu) */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: fast and good enough to spread keys. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

static uint64_t g_start_ns;
static _Atomic bool g_err_seen[BENCH_ERR_CODES];

/* Counts an error; the first of each code is also reported on stderr
 * with its time and phase, to line it up with server logs. */
static void count_err(struct bench_conn *c, int status)
{
    static const char *const phases[] = {"warm-up", "window", "drain"};
    int i = -status;
    if (i <= 0 || i >= BENCH_ERR_CODES)
        i = BENCH_ERR_CODES - 1; /* unknown code */
    atomic_fetch_add(&c->errs[i], 1);
    if (!atomic_exchange(&g_err_seen[i], true))
        fprintf(stderr,
                "coordbench: first %s at %.3f s (%s), connection %u\n",
                coord_errname(status),
                (double)(now_ns() - g_start_ns) / 1e9,
                phases[atomic_load(&g_phase)], c->id);
}

static void key_path(char *buf, uint64_t k)
{
    snprintf(buf, BENCH_PATH_MAX, "%s/k%" PRIu64, g_base, k);
}

/* ---- the request loop ------------------------------------------------------ */

static void slot_issue(struct bench_slot *s);

static void slot_retire(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_active > 0)
        g_active--;
    if (g_active == 0)
        pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* A request of slot s finished with status: record it, then issue the
 * slot's next request, or retire the slot when draining. */
static void slot_done(struct bench_slot *s, int status)
{
    uint64_t t1 = now_ns();
    struct bench_conn *c = s->conn;
    int phase = atomic_load(&g_phase);
    if (status == 0) {
        if (phase == PH_MEASURE) {
            hist_record(&c->h[s->kind], t1 - s->t0_ns);
            c->ops[s->kind]++;
        }
    } else {
        count_err(c, status);
        if (status == COORD_ECLOSED || status == COORD_ESESSIONEXPIRED) {
            slot_retire();
            return;
        }
    }
    /* A created node is always deleted, also while draining. */
    if (s->kind == K_CREATE && status == 0) {
        s->kind = K_DELETE;
        slot_issue(s);
        return;
    }
    if (phase == PH_DRAIN) {
        slot_retire();
        return;
    }
    s->kind = -1; /* slot_issue picks */
    slot_issue(s);
}

static void on_stat(void *data, int status, const struct coord_stat *st)
{
    (void)st;
    slot_done(data, status);
}

static void on_void(void *data, int status)
{
    slot_done(data, status);
}

static void on_data(void *data, int status, const void *value, size_t len,
                    const struct coord_stat *st)
{
    (void)value;
    (void)st;
    struct bench_slot *s = data;
    if (status == 0 && len != g_cfg.value_size) {
        s->conn->bad_reads++;
        status = COORD_EPROTO; /* counted as an error, not an op */
    }
    slot_done(s, status);
}

static void on_create(void *data, int status, const char *path,
                      const struct coord_stat *st)
{
    (void)path;
    (void)st;
    slot_done(data, status);
}

static int pick_kind(struct bench_slot *s)
{
    switch (g_cfg.op) {
    case OP_SET:
        return K_WRITE;
    case OP_GET:
    case OP_GET_LOCAL:
        return K_READ;
    case OP_CREATE_DELETE:
        return K_CREATE;
    case OP_MIX:
        return rng_next(&s->rng) % 100 < g_cfg.read_pct ? K_READ : K_WRITE;
    }
    return K_WRITE;
}

static int submit(struct bench_slot *s)
{
    struct coord_client *cl = s->conn->cl;
    unsigned rflags = 0;
    if (g_cfg.op == OP_GET_LOCAL || (g_cfg.op == OP_MIX && g_cfg.local_reads))
        rflags = COORD_READ_LOCAL;
    switch (s->kind) {
    case K_WRITE:
        key_path(s->path, rng_next(&s->rng) % g_cfg.keys);
        return coord_aset(cl, s->path, g_value, g_cfg.value_size, -1,
                          on_stat, s);
    case K_READ:
        key_path(s->path, rng_next(&s->rng) % g_cfg.keys);
        return coord_aget(cl, s->path, rflags, NULL, on_data, s);
    case K_CREATE:
        snprintf(s->path, sizeof(s->path), "%s/cd/c%u-%u-%" PRIu64, g_base,
                 s->conn->id, s->id, s->seq++);
        return coord_acreate(cl, s->path, g_value, g_cfg.value_size,
                             COORD_PERSISTENT, 0, on_create, s);
    default: /* K_DELETE of the path just created */
        return coord_adelete(cl, s->path, -1, on_void, s);
    }
}

static void slot_issue(struct bench_slot *s)
{
    if (s->kind < 0)
        s->kind = pick_kind(s);
    s->t0_ns = now_ns();
    int rc = submit(s);
    if (rc != 0) {
        count_err(s->conn, rc);
        slot_retire(); /* no callback will come */
    }
}

/* ---- setup and teardown (sync calls on the first client) ------------------ */

static int create_ok(struct coord_client *cl, const char *path)
{
    int rc = coord_create(cl, path, NULL, 0, COORD_PERSISTENT, 0, NULL,
                          NULL);
    return rc == COORD_ENODEEXISTS ? 0 : rc;
}

/* Ops per multi: bounded by the multi limit and by the frame size. */
static size_t batch_ops(void)
{
    size_t per = g_cfg.value_size + BENCH_PATH_MAX + 64;
    size_t n = (COORD_FRAME_BYTES_MAX / 2) / per;
    if (n > 256)
        n = 256;
    return n ? n : 1;
}

/* Creates (del == false) or deletes keys [0, keys) in multi batches. */
static int keys_batch(struct coord_client *cl, bool del)
{
    size_t per = batch_ops();
    char path[BENCH_PATH_MAX];
    for (uint64_t k = 0; k < g_cfg.keys;) {
        struct coord_multi *m;
        int rc = coord_multi_new(&m);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < per && k < g_cfg.keys; i++, k++) {
            key_path(path, k);
            rc = del ? coord_multi_delete(m, path, -1)
                     : coord_multi_create(m, path, g_value, g_cfg.value_size,
                                          COORD_PERSISTENT, 0);
            if (rc != 0)
                break;
        }
        if (rc == 0)
            rc = coord_multi(cl, m);
        coord_multi_free(m);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool op_uses_keys(void)
{
    return g_cfg.op != OP_CREATE_DELETE;
}

static int setup_tree(struct coord_client *cl)
{
    snprintf(g_base, sizeof(g_base), "%s/r%ld-%" PRIu64, g_cfg.prefix,
             (long)getpid(), now_ns() % 1000000000u);
    int rc = create_ok(cl, g_cfg.prefix);
    if (rc == 0)
        rc = coord_create(cl, g_base, NULL, 0, COORD_PERSISTENT, 0, NULL,
                          NULL);
    char cd[BENCH_PATH_MAX];
    snprintf(cd, sizeof(cd), "%s/cd", g_base);
    if (rc == 0)
        rc = coord_create(cl, cd, NULL, 0, COORD_PERSISTENT, 0, NULL, NULL);
    if (rc == 0 && op_uses_keys())
        rc = keys_batch(cl, false);
    if (rc != 0)
        fprintf(stderr, "coordbench: setup under %s: %s\n", g_base,
                coord_errname(rc));
    return rc;
}

static int teardown_tree(struct coord_client *cl)
{
    int rc = op_uses_keys() ? keys_batch(cl, true) : 0;
    char cd[BENCH_PATH_MAX];
    snprintf(cd, sizeof(cd), "%s/cd", g_base);
    if (rc == 0)
        rc = coord_delete(cl, cd, -1);
    if (rc == 0)
        rc = coord_delete(cl, g_base, -1);
    if (rc != 0)
        fprintf(stderr, "coordbench: cleanup of %s: %s\n", g_base,
                coord_errname(rc));
    return rc;
}

static int open_clients(void)
{
    g_conns = coord_calloc(g_cfg.conns, sizeof(*g_conns));
    if (!g_conns)
        return COORD_ENOMEM;
    struct coord_options o;
    coord_options_init(&o);
    o.servers = g_cfg.servers;
    o.request_timeout_ms = g_cfg.timeout_ms;
    o.prefer_leader = g_cfg.prefer_leader;
    for (unsigned i = 0; i < g_cfg.conns; i++) {
        struct bench_conn *c = &g_conns[i];
        c->id = i;
        for (int k = 0; k < K_COUNT; k++)
            hist_init(&c->h[k]);
        int rc = coord_open(&c->cl, &o);
        if (rc == 0) /* wait for the session */
            rc = coord_exists(c->cl, "/", 0, NULL, NULL);
        if (rc != 0) {
            fprintf(stderr, "coordbench: client %u to %s: %s\n", i,
                    g_cfg.servers, coord_errname(rc));
            return rc;
        }
    }
    return 0;
}

/* --prefer-leader: the sessions move to the leader shortly after their
 * first reply; the window starts once they are there (bounded wait). */
#define BENCH_ON_LEADER_WAIT_MS 5000

static int await_on_leader(void)
{
    uint64_t deadline = now_ns() + BENCH_ON_LEADER_WAIT_MS * 1000000ull;
    for (unsigned i = 0; i < g_cfg.conns; i++) {
        struct coord_status st;
        for (;;) {
            int rc = coord_status(g_conns[i].cl, &st);
            if (rc != 0)
                return rc;
            if (st.leader_id != 0 && st.server_id == st.leader_id)
                break;
            if (now_ns() >= deadline) {
                fprintf(stderr, "coordbench: client %u not on the leader "
                        "after %d ms\n", i, BENCH_ON_LEADER_WAIT_MS);
                return COORD_ETIMEDOUT;
            }
            poll(NULL, 0, 10);
        }
    }
    return 0;
}

/* Local reads are served from the connection's own server, which may not
 * have applied the key space setup_tree just created through another
 * connection (COORD_ENONODE, rightly: a local read may be stale). SYNC
 * first, as a ZooKeeper client would, so that the run measures reads, not
 * setup lag. */
static int sync_local_readers(void)
{
    if (!(g_cfg.op == OP_GET_LOCAL ||
          (g_cfg.op == OP_MIX && g_cfg.local_reads)))
        return 0;
    for (unsigned i = 0; i < g_cfg.conns; i++) {
        int rc = coord_sync(g_conns[i].cl, g_base);
        if (rc != 0) {
            fprintf(stderr, "coordbench: sync of client %u: %s\n", i,
                    coord_errname(rc));
            return rc;
        }
    }
    return 0;
}

static void close_clients(void)
{
    for (unsigned i = 0; i < g_cfg.conns && g_conns; i++)
        if (g_conns[i].cl)
            coord_close(g_conns[i].cl);
}

/* ---- measurement ----------------------------------------------------------- */

/* utime + stime of a process, in clock ticks; -1 if unreadable. */
static long long proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    p++;
    /* After ")": field 3 (state) onwards; utime is 14, stime 15. */
    for (int field = 3; field < 14; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    unsigned long long ut, st;
    if (sscanf(p, " %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static long long servers_cpu_ticks(void)
{
    long long sum = 0;
    for (unsigned i = 0; i < g_cfg.npids; i++) {
        long long t = proc_cpu_ticks(g_cfg.pids[i]);
        if (t < 0)
            return -1;
        sum += t;
    }
    return sum;
}

static uint64_t self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Durability points of the server processes: fsync + fdatasync calls of
 * every thread, plus pwrite64 calls of the storage threads (named
 * "coordd-storage"), which with the log in segment files are the
 * O_DIRECT|O_DSYNC log writes -- each one a device flush, one per group
 * commit -- plus io_submit calls of every thread: the same log writes
 * started from the loop with Linux AIO (log_aio; coordd submits nothing
 * else that way). Counted with kernel tracepoints (perf_event_open, one counter
 * per thread that exists when the window starts; needs root or
 * perf_event_paranoid <= -1 and tracefs). Counting costs the server
 * nothing measurable. */
#define BENCH_SYNC_FDS_MAX 1024

struct sync_counter {
    int fds[BENCH_SYNC_FDS_MAX];
    unsigned n;
    bool failed;
};

static long tracepoint_id(const char *event)
{
    static const char *const roots[] = {"/sys/kernel/tracing",
                                        "/sys/kernel/debug/tracing"};
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/events/syscalls/%s/id", roots[i],
                 event);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long id = -1;
        if (fscanf(f, "%ld", &id) != 1)
            id = -1;
        fclose(f);
        if (id >= 0)
            return id;
    }
    return -1;
}

static void sync_open_task(struct sync_counter *sc, long id, pid_t tid)
{
    struct perf_event_attr a = {.type = PERF_TYPE_TRACEPOINT,
                                .size = sizeof(a),
                                .config = (uint64_t)id};
    if (sc->n == BENCH_SYNC_FDS_MAX) {
        sc->failed = true;
        return;
    }
    int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, 0);
    if (fd < 0)
        sc->failed = true;
    else
        sc->fds[sc->n++] = fd;
}

/* True if thread tid of pid is a coordd storage thread. */
static bool is_storage_thread(pid_t pid, pid_t tid)
{
    char path[96], name[32] = "";
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/comm", (long)pid,
             (long)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool yes = fgets(name, sizeof(name), f) != NULL &&
               strncmp(name, "coordd-storage", 14) == 0;
    fclose(f);
    return yes;
}

static void sync_start(struct sync_counter *sc)
{
    sc->n = 0;
    sc->failed = g_cfg.npids == 0;
    long ids[4] = {tracepoint_id("sys_enter_fsync"),
                   tracepoint_id("sys_enter_fdatasync"),
                   tracepoint_id("sys_enter_pwrite64"),
                   tracepoint_id("sys_enter_io_submit")};
    if (ids[0] < 0 || ids[1] < 0 || ids[2] < 0 || ids[3] < 0)
        sc->failed = true;
    for (unsigned p = 0; p < g_cfg.npids && !sc->failed; p++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/task", (long)g_cfg.pids[p]);
        DIR *d = opendir(path);
        if (!d) {
            sc->failed = true;
            break;
        }
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
            sync_open_task(sc, ids[0], tid);
            sync_open_task(sc, ids[1], tid);
            sync_open_task(sc, ids[3], tid);
            if (is_storage_thread(g_cfg.pids[p], tid))
                sync_open_task(sc, ids[2], tid);
        }
        closedir(d);
    }
}

/* The count since sync_start, or -1 if counting was not possible. */
static long long sync_stop(struct sync_counter *sc)
{
    long long sum = 0;
    for (unsigned i = 0; i < sc->n; i++) {
        uint64_t v = 0;
        if (read(sc->fds[i], &v, sizeof(v)) != (ssize_t)sizeof(v))
            sc->failed = true;
        sum += (long long)v;
        close(sc->fds[i]);
    }
    sc->n = 0;
    return sc->failed ? -1 : sum;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s,
                          .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

struct bench_result {
    double window_s;
    long long srv_ticks;   /* -1: no server PIDs or unreadable */
    long long syncs;       /* -1: not counted */
    uint64_t cli_cpu_us;
    struct hist h[K_COUNT];
    struct hist all;
    uint64_t ops[K_COUNT];
    uint64_t total_ops;
    uint64_t errs[BENCH_ERR_CODES];
    uint64_t total_errs;
    uint64_t bad_reads;
};

/* Starts every slot, waits through warm-up and the measured window
 * (the phase flag tells callbacks whether to record), then drains. */
static int run_load(struct bench_result *r)
{
    atomic_store(&g_phase, PH_WARMUP);
    g_start_ns = now_ns();
    pthread_mutex_lock(&g_mu);
    g_active = g_cfg.conns * g_cfg.window;
    pthread_mutex_unlock(&g_mu);
    for (unsigned i = 0; i < g_cfg.conns; i++) {
        struct bench_conn *c = &g_conns[i];
        c->slots = coord_calloc(g_cfg.window, sizeof(*c->slots));
        if (!c->slots)
            return COORD_ENOMEM;
        for (unsigned j = 0; j < g_cfg.window; j++) {
            struct bench_slot *s = &c->slots[j];
            s->conn = c;
            s->id = j;
            s->rng = 0x9e3779b97f4a7c15ull * (i * 1000003u + j + 1);
            s->kind = -1;
        }
    }
    for (unsigned i = 0; i < g_cfg.conns; i++)
        for (unsigned j = 0; j < g_cfg.window; j++)
            slot_issue(&g_conns[i].slots[j]);
    sleep_s(g_cfg.warmup_s);
    static struct sync_counter sc;
    sync_start(&sc);
    long long srv0 = servers_cpu_ticks();
    uint64_t cli0 = self_cpu_us();
    uint64_t t0 = now_ns();
    atomic_store(&g_phase, PH_MEASURE);
    sleep_s(g_cfg.duration_s);
    atomic_store(&g_phase, PH_DRAIN);
    uint64_t t1 = now_ns();
    long long srv1 = servers_cpu_ticks();
    r->syncs = sync_stop(&sc);
    r->cli_cpu_us = self_cpu_us() - cli0;
    r->window_s = (double)(t1 - t0) / 1e9;
    r->srv_ticks = g_cfg.npids && srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1;
    pthread_mutex_lock(&g_mu);
    while (g_active > 0)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static void collect(struct bench_result *r)
{
    hist_init(&r->all);
    for (int k = 0; k < K_COUNT; k++)
        hist_init(&r->h[k]);
    for (unsigned i = 0; i < g_cfg.conns; i++) {
        struct bench_conn *c = &g_conns[i];
        for (int k = 0; k < K_COUNT; k++) {
            hist_merge(&r->h[k], &c->h[k]);
            hist_merge(&r->all, &c->h[k]);
            r->ops[k] += c->ops[k];
            r->total_ops += c->ops[k];
        }
        for (int e = 0; e < BENCH_ERR_CODES; e++) {
            uint64_t n = atomic_load(&c->errs[e]);
            r->errs[e] += n;
            r->total_errs += n;
        }
        r->bad_reads += c->bad_reads;
    }
}

/* ---- output ----------------------------------------------------------------- */

#define BENCH_FIELDS_MAX 128

struct bench_field {
    char key[48];
    char val[64];
    bool is_str;
};

static struct bench_field g_fields[BENCH_FIELDS_MAX];
static unsigned g_nfields;

static void field(const char *key, bool is_str, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void field(const char *key, bool is_str, const char *fmt, ...)
{
    if (g_nfields == BENCH_FIELDS_MAX)
        return;
    struct bench_field *f = &g_fields[g_nfields++];
    snprintf(f->key, sizeof(f->key), "%s", key);
    f->is_str = is_str;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->val, sizeof(f->val), fmt, ap);
    va_end(ap);
}

static void latency_fields(const char *pre, const struct hist *h,
                           double window_s)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
    char key[48];
    snprintf(key, sizeof(key), "%sops", pre);
    field(key, false, "%" PRIu64, h->count);
    snprintf(key, sizeof(key), "%sops_per_s", pre);
    field(key, false, "%.0f", window_s > 0 ? (double)h->count / window_s : 0);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        snprintf(key, sizeof(key), "%s%s_us", pre, qs[i].name);
        field(key, false, "%.1f", (double)hist_quantile(h, qs[i].q) / 1e3);
    }
    snprintf(key, sizeof(key), "%smax_us", pre);
    field(key, false, "%.1f", (double)h->max_ns / 1e3);
}

static void cpu_fields(const struct bench_result *r)
{
    double ops = (double)(r->total_ops ? r->total_ops : 1);
    if (r->srv_ticks >= 0) {
        double us = (double)r->srv_ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
        field("server_cpu_us_per_op", false, "%.2f", us / ops);
        field("server_cpu_pct", false, "%.0f",
              us / 1e4 / (r->window_s > 0 ? r->window_s : 1));
    } else {
        field("server_cpu_us_per_op", true, "n/a");
    }
    if (r->syncs >= 0)
        field("server_fsyncs_per_op", false, "%.4f", (double)r->syncs / ops);
    else
        field("server_fsyncs_per_op", true, "n/a");
    field("client_cpu_us_per_op", false, "%.2f", (double)r->cli_cpu_us / ops);
}

static void build_fields(const struct bench_result *r)
{
    field("op", true, "%s", op_names[g_cfg.op]);
    if (g_cfg.op == OP_MIX) {
        field("read_pct", false, "%u", g_cfg.read_pct);
        field("reads", true, "%s",
              g_cfg.local_reads ? "local" : "linearizable");
    }
    field("conns", false, "%u", g_cfg.conns);
    field("window", false, "%u", g_cfg.window);
    field("value_bytes", false, "%zu", g_cfg.value_size);
    field("keys", false, "%" PRIu64, op_uses_keys() ? g_cfg.keys : 0);
    field("secs", false, "%.2f", r->window_s);
    latency_fields("", &r->all, r->window_s);
    if (g_cfg.op == OP_CREATE_DELETE)
        field("pairs_per_s", false, "%.0f",
              (double)r->ops[K_DELETE] / r->window_s);
    if (g_cfg.op == OP_CREATE_DELETE) {
        latency_fields("create_", &r->h[K_CREATE], r->window_s);
        latency_fields("delete_", &r->h[K_DELETE], r->window_s);
    }
    if (g_cfg.op == OP_MIX) {
        latency_fields("read_", &r->h[K_READ], r->window_s);
        latency_fields("write_", &r->h[K_WRITE], r->window_s);
    }
    field("errors", false, "%" PRIu64, r->total_errs);
    for (int e = 1; e < BENCH_ERR_CODES; e++)
        if (r->errs[e])
        {
            char key[48];
            /* err_ENONODE: the name without its COORD_ prefix */
            snprintf(key, sizeof(key), "err_%s",
                     e == BENCH_ERR_CODES - 1 ? "unknown"
                                              : coord_errname(-e) + 6);
            field(key, false, "%" PRIu64, r->errs[e]);
        }
    if (r->bad_reads)
        field("bad_reads", false, "%" PRIu64, r->bad_reads);
    cpu_fields(r);
}

static void print_fields(void)
{
    for (unsigned i = 0; i < g_nfields; i++) {
        const struct bench_field *f = &g_fields[i];
        switch (g_cfg.format) {
        case FMT_KV:
            printf("%s%s=%s", i ? " " : "", f->key, f->val);
            break;
        case FMT_JSON:
            printf("%s\"%s\":", i ? "," : "{", f->key);
            printf(f->is_str ? "\"%s\"" : "%s", f->val);
            break;
        case FMT_TEXT:
            printf("%-24s %s\n", f->key, f->val);
            break;
        }
    }
    if (g_cfg.format == FMT_JSON)
        printf("}");
    if (g_cfg.format != FMT_TEXT)
        printf("\n");
    fflush(stdout);
}

/* ---- self-test of the histogram and free port helper ------------------------ */

static unsigned st_pass, st_fail;

static void st_check(bool ok, const char *what)
{
    if (ok) {
        st_pass++;
    } else {
        st_fail++;
        printf("self-test FAILED: %s\n", what);
    }
}

static bool within(uint64_t got, uint64_t want, double rel)
{
    double d = (double)got - (double)want;
    return (d < 0 ? -d : d) <= rel * (double)want + 1;
}

/* Checks bucket geometry and percentiles against known distributions, so
 * a broken histogram cannot silently skew every figure. */
static int self_test(void)
{
    bool contiguous = true, bounded = true;
    for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++)
        if (hist_bucket_high(i) + 1 != hist_bucket_low(i + 1))
            contiguous = false;
    st_check(contiguous, "buckets tile the range without gaps");
    for (uint64_t v = 1; v < (1ull << 39); v = v * 3 + 1) {
        unsigned i = hist_index(v);
        if (hist_bucket_low(i) > v || hist_bucket_high(i) < v ||
            (v >= HIST_SUB &&
             hist_bucket_high(i) - hist_bucket_low(i) + 1 > v / 32))
            bounded = false;
    }
    st_check(bounded, "a value lies in its bucket, bucket width <= 1/32");
    static struct hist h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 1000000; v++)
        hist_record(&h, v); /* 1 ns .. 1 ms, uniform */
    st_check(h.count == 1000000 && h.min_ns == 1 && h.max_ns == 1000000,
             "count, min, max exact");
    st_check(within(hist_quantile(&h, 0.5), 500000, 0.016), "p50 uniform");
    st_check(within(hist_quantile(&h, 0.99), 990000, 0.016), "p99 uniform");
    st_check(within(hist_quantile(&h, 0.999), 999000, 0.016),
             "p999 uniform");
    st_check(hist_quantile(&h, 1.0) == 1000000, "p100 is the max");
    hist_init(&h);
    for (int i = 0; i < 999; i++)
        hist_record(&h, 100); /* exact range */
    hist_record(&h, 5000000000ull); /* one 5 s outlier */
    st_check(hist_quantile(&h, 0.5) == 100 && hist_quantile(&h, 0.999) == 100,
             "exact below 128 ns");
    st_check(within(hist_quantile(&h, 0.9995), 5000000000ull, 0.016) &&
                 h.max_ns == 5000000000ull,
             "tail sample of 5 s kept");
    static struct hist a, b;
    hist_init(&a);
    hist_init(&b);
    hist_record(&a, 10);
    hist_record(&b, 20000);
    hist_merge(&a, &b);
    st_check(a.count == 2 && a.min_ns == 10 && a.max_ns == 20000 &&
                 hist_quantile(&a, 0.5) == 10,
             "merge");
    printf("%u passed, %u failed\n", st_pass, st_fail);
    return st_fail ? 1 : 0;
}

/* Prints a TCP port on 127.0.0.1 that was free a moment ago (for
 * scripts; another process may take it before the server binds). */
static int print_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        perror("coordbench: free port");
        return 1;
    }
    printf("%u\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

/* ---- options ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"Usage: coordbench [OPTIONS]\n"
"Load generator for a running coord cluster (public client API only).\n"
"  --servers=LIST        host:port,... (default 127.0.0.1:2281)\n"
"  --connections=S       clients, one connection each (default 1)\n"
"  --outstanding=W       requests kept in flight per connection (default 1,\n"
"                        at most %d)\n"
"  --op=KIND             set | get | get-local | create-delete | mix\n"
"                        (default set); get is linearizable; create-delete\n"
"                        creates a unique node then deletes it (2 ops)\n"
"  --read-pct=N          mix: percentage of reads (default 90)\n"
"  --local-reads         mix: reads are local instead of linearizable\n"
"  --prefer-leader       sessions move to the leader (libcoord's\n"
"                        prefer_leader; default: a random member)\n"
"  --value-size=BYTES    value written and pre-created (default 128)\n"
"  --keys=N              key space, created before the run (default 1000)\n"
"  --duration=SECS       measured window (default 10; fractions ok)\n"
"  --warmup=SECS         load before the window, not recorded (default 2)\n"
"  --server-pid=PID      a server process for CPU per op (repeatable)\n"
"  --format=FMT          text | kv (one key=value line) | json (one line)\n"
"  --prefix=PATH         parent of the run's nodes (default /coordbench)\n"
"  --no-cleanup          keep the run's keys\n"
"  --timeout-ms=MS       request timeout (default 10000)\n"
"  --self-test           check the latency histogram, print N passed, N failed\n"
"  --free-port           print a free TCP port on 127.0.0.1 and exit\n"
"  --probe-fsync=DIR     time N appends+fdatasync of 256 B to a file in DIR,\n"
"                        print fsync_p50_us etc. and exit (no server)\n"
"  --probe-majority=DIR  time N rounds of 3 threads each writing a 4 KiB\n"
"                        block O_DIRECT|O_DSYNC (as coord's log) to its own\n"
"                        file in DIR, started together;\n"
"                        print the 2nd completion's majority_p50_us etc.\n"
"                        (and the 1st, 3rd) and exit (no server)\n"
"  --probe-pipeline=DIR  time N writes one at a time through an ideal\n"
"                        3-replica pipeline (4 processes over loopback TCP,\n"
"                        one 4 KiB O_DIRECT|O_DSYNC block per replica in\n"
"                        DIR per write), via the leader and via a follower;\n"
"                        print pipe_leader_p50_us etc. and exit (no server)\n"
"  --probe-rtt           time N 64-byte loopback TCP round trips, print\n"
"                        rtt_p50_us etc. and exit (no server)\n"
"  --probe-n=N           samples of a probe (default 1000)\n"
"Latencies: every completed op in the window, histogram exact below 128 ns\n"
"and within 1/64 above. errors counts failures in the whole run (warm-up\n"
"and drain too), by code.\n",
            COORD_INFLIGHT_MAX);
}

static bool parse_op(const char *s)
{
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        if (strcmp(s, op_names[i]) == 0) {
            g_cfg.op = (enum bench_op)i;
            return true;
        }
    return false;
}

static bool parse_format(const char *s)
{
    if (strcmp(s, "text") == 0)
        g_cfg.format = FMT_TEXT;
    else if (strcmp(s, "kv") == 0)
        g_cfg.format = FMT_KV;
    else if (strcmp(s, "json") == 0)
        g_cfg.format = FMT_JSON;
    else
        return false;
    return true;
}

enum { O_SELFTEST = 1000, O_FREEPORT, O_NOCLEAN, O_LOCAL, O_HELP,
       O_PROBE_FSYNC, O_PROBE_RTT, O_PROBE_N, O_PROBE_MAJ,
       O_PROBE_PIPE,
       O_PREFER_LEADER };

static unsigned g_probe_n = 1000;
static const char *g_probe_dir; /* --probe-fsync */
static bool g_probe_rtt;
static const char *g_probe_maj_dir; /* --probe-majority */
static const char *g_probe_pipe_dir; /* --probe-pipeline */

/* Returns 0 to run, 1 when a helper ran, -1 on a bad option. */
static int parse_one(int opt, const char *arg)
{
    uint64_t v;
    switch (opt) {
    case 's': g_cfg.servers = arg; return 0;
    case 'c':
        if (!bench_parse_u64(arg, 1, 100000, &v)) return -1;
        g_cfg.conns = (unsigned)v; return 0;
    case 'w':
        if (!bench_parse_u64(arg, 1, COORD_INFLIGHT_MAX, &v)) return -1;
        g_cfg.window = (unsigned)v; return 0;
    case 'o': return parse_op(arg) ? 0 : -1;
    case 'r':
        if (!bench_parse_u64(arg, 0, 100, &v)) return -1;
        g_cfg.read_pct = (unsigned)v; return 0;
    case 'v':
        if (!bench_parse_u64(arg, 0, COORD_DATA_BYTES_MAX, &v)) return -1;
        g_cfg.value_size = (size_t)v; return 0;
    case 'k':
        if (!bench_parse_u64(arg, 1, 100000000, &v)) return -1;
        g_cfg.keys = v; return 0;
    case 'd': return bench_parse_secs(arg, &g_cfg.duration_s) ? 0 : -1;
    case 'u': return bench_parse_secs(arg, &g_cfg.warmup_s) ? 0 : -1;
    case 'p':
        if (g_cfg.npids == BENCH_PIDS_MAX ||
            !bench_parse_u64(arg, 1, INT32_MAX, &v)) return -1;
        g_cfg.pids[g_cfg.npids++] = (pid_t)v; return 0;
    case 'f': return parse_format(arg) ? 0 : -1;
    case 'x':
        if (arg[0] != '/' || strlen(arg) < 2 || strlen(arg) > 64 ||
            arg[strlen(arg) - 1] == '/') return -1;
        g_cfg.prefix = arg; return 0;
    case 't':
        if (!bench_parse_u64(arg, 1, 3600000, &v)) return -1;
        g_cfg.timeout_ms = (uint32_t)v; return 0;
    case O_NOCLEAN: g_cfg.cleanup = false; return 0;
    case O_LOCAL: g_cfg.local_reads = true; return 0;
    case O_PREFER_LEADER: g_cfg.prefer_leader = true; return 0;
    case O_SELFTEST: exit(self_test());
    case O_FREEPORT: exit(print_free_port());
    case O_HELP: usage(stdout); exit(0);
    case O_PROBE_N:
        if (!bench_parse_u64(arg, 1, 1000000, &v)) return -1;
        g_probe_n = (unsigned)v; return 0;
    case O_PROBE_FSYNC: g_probe_dir = arg; return 0;
    case O_PROBE_RTT: g_probe_rtt = true; return 0;
    case O_PROBE_MAJ: g_probe_maj_dir = arg; return 0;
    case O_PROBE_PIPE: g_probe_pipe_dir = arg; return 0;
    default: return -1;
    }
}

static int parse_args(int argc, char **argv)
{
    static const struct option longs[] = {
        {"servers", required_argument, 0, 's'},
        {"connections", required_argument, 0, 'c'},
        {"outstanding", required_argument, 0, 'w'},
        {"op", required_argument, 0, 'o'},
        {"read-pct", required_argument, 0, 'r'},
        {"local-reads", no_argument, 0, O_LOCAL},
        {"prefer-leader", no_argument, 0, O_PREFER_LEADER},
        {"value-size", required_argument, 0, 'v'},
        {"keys", required_argument, 0, 'k'},
        {"duration", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'u'},
        {"server-pid", required_argument, 0, 'p'},
        {"format", required_argument, 0, 'f'},
        {"prefix", required_argument, 0, 'x'},
        {"no-cleanup", no_argument, 0, O_NOCLEAN},
        {"timeout-ms", required_argument, 0, 't'},
        {"self-test", no_argument, 0, O_SELFTEST},
        {"free-port", no_argument, 0, O_FREEPORT},
        {"help", no_argument, 0, O_HELP},
        {"probe-fsync", required_argument, 0, O_PROBE_FSYNC},
        {"probe-rtt", no_argument, 0, O_PROBE_RTT},
        {"probe-n", required_argument, 0, O_PROBE_N},
        {"probe-majority", required_argument, 0, O_PROBE_MAJ},
        {"probe-pipeline", required_argument, 0, O_PROBE_PIPE},
        {0, 0, 0, 0},
    };
    g_cfg = (struct bench_cfg){
        .servers = "127.0.0.1:2281", .conns = 1, .window = 1,
        .value_size = 128, .op = OP_SET, .read_pct = 90, .keys = 1000,
        .duration_s = 10, .warmup_s = 2, .format = FMT_TEXT,
        .prefix = "/coordbench", .cleanup = true, .timeout_ms = 10000,
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (parse_one(opt, optarg) != 0) {
            fprintf(stderr, "coordbench: bad option %s\n",
                    optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || g_cfg.duration_s <= 0) {
        usage(stderr);
        return -1;
    }
    if (g_probe_dir || g_probe_rtt || g_probe_maj_dir || g_probe_pipe_dir) {
        int rc = 0; /* probes only, no server; lines in this order */
        if (g_probe_dir)
            rc |= probe_fsync(g_probe_dir, g_probe_n);
        if (g_probe_rtt)
            rc |= probe_rtt(g_probe_n);
        if (g_probe_maj_dir)
            rc |= probe_majority(g_probe_maj_dir, g_probe_n);
        if (g_probe_pipe_dir)
            rc |= probe_pipeline(g_probe_pipe_dir, g_probe_n);
        exit(rc);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return 2;
    g_value = coord_malloc(g_cfg.value_size ? g_cfg.value_size : 1);
    if (!g_value)
        return 2;
    for (size_t i = 0; i < g_cfg.value_size; i++)
        g_value[i] = (char)('a' + i % 26);
    int rc = open_clients();
    if (rc == 0 && g_cfg.prefer_leader)
        rc = await_on_leader();
    if (rc == 0)
        rc = setup_tree(g_conns[0].cl);
    if (rc == 0)
        rc = sync_local_readers();
    struct bench_result r;
    memset(&r, 0, sizeof(r));
    if (rc == 0)
        rc = run_load(&r);
    if (rc == 0) {
        collect(&r);
        build_fields(&r);
        print_fields();
        if (g_cfg.cleanup)
            teardown_tree(g_conns[0].cl);
    }
    close_clients();
    for (unsigned i = 0; i < g_cfg.conns && g_conns; i++)
        coord_free(g_conns[i].slots);
    coord_free(g_conns);
    coord_free(g_value);
    if (rc != 0)
        fprintf(stderr, "coordbench: %s\n", coord_strerror(rc));
    return rc == 0 ? 0 : 1;
}
