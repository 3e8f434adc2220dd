/* lockbench.c -- coordlockbench: the lock benchmark of issue 6 (part 8),
 * also used by issue 9's comparison. N contending clients (threads, one
 * coord_client and one coord_lock each, all on one lock path) loop
 * acquire + release against a running cluster; it reports lock hand-offs
 * per second (acquire+release cycles completed by all clients in the
 * measured window / its length) and the acquire latency (request to
 * held) percentiles from every acquire completed in the window (the
 * coordbench histogram, test/bench/coordbench/hist.h). Output: text or one
 * key=value line (--format=kv) for scripts/bench-lock.sh and issue 9's
 * harness. It uses only the public API (coord.h, coord_recipes.h) and the
 * project allocator; it measures, it does not tune the cluster, and it
 * must not start or stop servers (the script does).
 *
 * It also counts fencing token regressions (a token not larger than the
 * previous holder's), which must stay 0: a cheap sanity check that the
 * measured lock is a lock. With --server-pid (repeatable) it reads the
 * servers' utime+stime from /proc/PID/stat at the window's start and end
 * and reports their CPU per hand-off (server_cpu_us_per_op), as
 * coordbench does per operation; it only reads those files. */
#include "coord.h"
#include "coord_recipes.h"
#include "libcoord/shared/alloc.h"
#include "test/bench/coordbench/args.h"
#include "test/bench/coordbench/hist.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LB_ERR_CODES 64
#define LB_PIDS_MAX 16

struct lb_cfg {
    const char *servers;
    unsigned clients;
    double duration_s;
    double warmup_s;
    const char *path;
    int timeout_ms;
    uint32_t session_ms;
    bool kv;
    pid_t pids[LB_PIDS_MAX]; /* --server-pid: whose CPU to count */
    unsigned npids;
};

struct lb_client {
    unsigned idx;
    struct coord_client *c;
    struct coord_lock *l;
    pthread_t th;
    struct hist h;          /* acquire latency, window only */
    struct hist hg;         /* hand-off gap (below), window only */
    struct hist hr;         /* release call duration, window only */
    uint64_t handoffs;      /* cycles whose release completed in window */
    uint64_t errs[LB_ERR_CODES]; /* whole run, by -code */
    uint64_t errors;
};

static struct lb_cfg g_cfg;
static struct lb_client *g_cl;
static pthread_barrier_t g_ready;
static atomic_bool g_stop;
static _Atomic uint64_t g_win_start_ns, g_win_end_ns; /* 0 until known */
static _Atomic uint64_t g_last_token;
/* When the last holder called coord_lock_release: the hand-off gap of an
 * acquire is from then to its return (with 1 client: release + the next
 * acquire, a whole cycle). */
static _Atomic uint64_t g_rel_ns;
static atomic_ulong g_token_errors;
/* CPU ticks of the --server-pid processes over the window; -1 if there
 * were none or one could not be read at the start or the end. */
static long long g_srv_ticks = -1;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool in_window(uint64_t t)
{
    uint64_t s = atomic_load(&g_win_start_ns);
    uint64_t e = atomic_load(&g_win_end_ns);
    return s != 0 && t >= s && (e == 0 || t <= e);
}

static void count_error(struct lb_client *k, int rc)
{
    k->errors++;
    int e = -rc;
    k->errs[e > 0 && e < LB_ERR_CODES ? e : LB_ERR_CODES - 1]++;
}

static void *client_main(void *arg)
{
    struct lb_client *k = arg;
    pthread_barrier_wait(&g_ready);
    while (!atomic_load(&g_stop)) {
        uint64_t tok = 0;
        uint64_t t0 = now_ns();
        int rc = coord_lock_acquire(k->l, g_cfg.timeout_ms, &tok);
        uint64_t t1 = now_ns();
        if (rc != 0) {
            count_error(k, rc);
            continue;
        }
        if (atomic_exchange(&g_last_token, tok) >= tok)
            atomic_fetch_add(&g_token_errors, 1);
        uint64_t rel = atomic_load(&g_rel_ns);
        if (in_window(t1)) {
            hist_record(&k->h, t1 - t0);
            if (rel != 0)
                hist_record(&k->hg, t1 - rel);
        }
        uint64_t t2 = now_ns();
        atomic_store(&g_rel_ns, t2);
        rc = coord_lock_release(k->l);
        if (rc != 0) {
            count_error(k, rc);
            continue;
        }
        uint64_t t3 = now_ns();
        if (in_window(t3)) {
            k->handoffs++;
            hist_record(&k->hr, t3 - t2);
        }
    }
    return NULL;
}

/* Opens every client, each with its session established and its lock
 * handle; 0 or the first error. */
static int open_clients(void)
{
    g_cl = coord_calloc(g_cfg.clients, sizeof(*g_cl));
    if (g_cl == NULL)
        return COORD_ENOMEM;
    for (unsigned i = 0; i < g_cfg.clients; i++) {
        struct lb_client *k = &g_cl[i];
        k->idx = i;
        hist_init(&k->h);
        hist_init(&k->hg);
        hist_init(&k->hr);
        struct coord_options o;
        coord_options_init(&o);
        o.servers = g_cfg.servers;
        o.session_timeout_ms = g_cfg.session_ms;
        if (g_cfg.timeout_ms < (int)o.request_timeout_ms)
            o.request_timeout_ms = (uint32_t)g_cfg.timeout_ms;
        int rc = coord_open(&k->c, &o);
        if (rc == 0) /* a round trip: the session exists */
            rc = coord_exists(k->c, "/", 0, NULL, NULL);
        if (rc == 0)
            rc = coord_lock_new(&k->l, k->c, g_cfg.path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void close_clients(void)
{
    for (unsigned i = 0; g_cl && i < g_cfg.clients; i++) {
        if (g_cl[i].l)
            coord_lock_free(g_cl[i].l);
        if (g_cl[i].c)
            coord_close(g_cl[i].c);
    }
    coord_free(g_cl);
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s,
                          .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* utime + stime of a process from /proc/PID/stat, in clock ticks; -1 if
 * unreadable (coordbench has the same reader; the tools share no CPU
 * code). The command name in parentheses may hold spaces and ')', so
 * fields are counted from the last ')'. */
static long long lb_proc_ticks(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* Field 3 (state) follows ")"; utime is 14, stime 15. */
    for (int field = 3; field <= 14; field++) { /* the space before it */
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    unsigned long long ut, st;
    if (sscanf(p, " %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* The sum over every --server-pid; -1 if none or one is unreadable. */
static long long lb_servers_ticks(void)
{
    long long sum = 0;
    if (g_cfg.npids == 0)
        return -1;
    for (unsigned i = 0; i < g_cfg.npids; i++) {
        long long t = lb_proc_ticks(g_cfg.pids[i]);
        if (t < 0)
            return -1;
        sum += t;
    }
    return sum;
}

/* Runs the load: warm-up, window, then stops and joins every client. */
static int run(double *window_s)
{
    if (pthread_barrier_init(&g_ready, NULL, g_cfg.clients + 1) != 0)
        return COORD_EIO;
    unsigned started = 0;
    for (; started < g_cfg.clients; started++)
        if (pthread_create(&g_cl[started].th, NULL, client_main,
                           &g_cl[started]) != 0)
            break;
    if (started < g_cfg.clients) { /* the started ones wait forever */
        fprintf(stderr, "coordlockbench: thread creation failed\n");
        exit(1);
    }
    pthread_barrier_wait(&g_ready);
    sleep_s(g_cfg.warmup_s); /* the load's own duration, not a sync */
    long long srv0 = lb_servers_ticks();
    uint64_t s = now_ns();
    atomic_store(&g_win_start_ns, s);
    sleep_s(g_cfg.duration_s);
    uint64_t e = now_ns();
    atomic_store(&g_win_end_ns, e);
    long long srv1 = lb_servers_ticks();
    g_srv_ticks = srv0 >= 0 && srv1 >= srv0 ? srv1 - srv0 : -1;
    atomic_store(&g_stop, true);
    for (unsigned i = 0; i < g_cfg.clients; i++)
        pthread_join(g_cl[i].th, NULL);
    pthread_barrier_destroy(&g_ready);
    *window_s = (double)(e - s) / 1e9;
    return 0;
}

struct lb_field {
    char key[40];
    char val[48];
};

static struct lb_field g_f[64];
static unsigned g_nf;

static void field(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void field(const char *key, const char *fmt, ...)
{
    if (g_nf == sizeof(g_f) / sizeof(g_f[0]))
        return;
    struct lb_field *f = &g_f[g_nf++];
    snprintf(f->key, sizeof(f->key), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->val, sizeof(f->val), fmt, ap);
    va_end(ap);
}

static void report(double window_s)
{
    struct hist all, gap, rel;
    hist_init(&all);
    hist_init(&gap);
    hist_init(&rel);
    uint64_t handoffs = 0, errors = 0, errs[LB_ERR_CODES] = {0};
    uint64_t min_h = UINT64_MAX, max_h = 0;
    for (unsigned i = 0; i < g_cfg.clients; i++) {
        struct lb_client *k = &g_cl[i];
        hist_merge(&all, &k->h);
        hist_merge(&gap, &k->hg);
        hist_merge(&rel, &k->hr);
        handoffs += k->handoffs;
        errors += k->errors;
        for (int e = 0; e < LB_ERR_CODES; e++)
            errs[e] += k->errs[e];
        min_h = k->handoffs < min_h ? k->handoffs : min_h;
        max_h = k->handoffs > max_h ? k->handoffs : max_h;
    }
    field("clients", "%u", g_cfg.clients);
    field("secs", "%.2f", window_s);
    field("handoffs", "%" PRIu64, handoffs);
    field("handoffs_per_s", "%.1f", (double)handoffs / window_s);
    field("acquires", "%" PRIu64, all.count);
    static const struct {
        const char *k;
        double q;
    } qs[] = {{"p50_us", 0.5}, {"p90_us", 0.9}, {"p99_us", 0.99},
              {"p999_us", 0.999}};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
        field(qs[i].k, "%.1f", (double)hist_quantile(&all, qs[i].q) / 1e3);
    field("max_us", "%.1f", (double)all.max_ns / 1e3);
    field("gap_p50_us", "%.1f", (double)hist_quantile(&gap, 0.5) / 1e3);
    field("gap_p90_us", "%.1f", (double)hist_quantile(&gap, 0.9) / 1e3);
    field("release_p50_us", "%.1f",
          (double)hist_quantile(&rel, 0.5) / 1e3);
    field("client_min_handoffs", "%" PRIu64, min_h);
    field("client_max_handoffs", "%" PRIu64, max_h);
    if (g_srv_ticks >= 0 && handoffs > 0) {
        double us = (double)g_srv_ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
        field("server_cpu_us_per_op", "%.2f", us / (double)handoffs);
        field("server_cpu_pct", "%.0f", us / 1e4 / window_s);
    } else {
        field("server_cpu_us_per_op", "n/a");
    }
    field("token_errors", "%lu", atomic_load(&g_token_errors));
    field("errors", "%" PRIu64, errors);
    for (int e = 1; e < LB_ERR_CODES; e++)
        if (errs[e]) {
            char key[40];
            const char *n = e == LB_ERR_CODES - 1 ? "COORD_unknown"
                                                  : coord_errname(-e);
            snprintf(key, sizeof(key), "err_%s", n + 6);
            field(key, "%" PRIu64, errs[e]);
        }
    for (unsigned i = 0; i < g_nf; i++) {
        if (g_cfg.kv)
            printf("%s%s=%s", i ? " " : "", g_f[i].key, g_f[i].val);
        else
            printf("%-22s %s\n", g_f[i].key, g_f[i].val);
    }
    if (g_cfg.kv)
        printf("\n");
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
"Usage: coordlockbench [OPTIONS]\n"
"Lock benchmark: N clients contend for one coord_lock (acquire, release,\n"
"repeat) against a running cluster.\n"
"  --servers=LIST      host:port,... (default 127.0.0.1:2281)\n"
"  --clients=N         contending clients, one session each (default 1)\n"
"  --duration=SECS     measured window (default 10; fractions ok)\n"
"  --warmup=SECS       contention before the window (default 1)\n"
"  --path=PATH         the lock node (default /lockbench)\n"
"  --timeout-ms=MS     acquire timeout (default 30000); also bounds each\n"
"                      request when below libcoord's default (10000)\n"
"  --session-ms=MS     session timeout asked for (default 10000)\n"
"  --format=FMT        text | kv (one key=value line)\n"
"  --server-pid=PID    a server process whose CPU to count (repeatable,\n"
"                      up to 16)\n"
"handoffs_per_s: acquire+release cycles whose release completed in the\n"
"window, by all clients, per second. p50_us..max_us: acquire latency\n"
"(request to held) of every acquire completed in the window.\n"
"gap_p50_us, gap_p90_us: hand-off gap, from the previous holder's call\n"
"of release to the return of the next acquire (1 client: a whole\n"
"release + acquire cycle). release_p50_us: the release call. errors:\n"
"failed acquires/releases over the whole run, by code (err_*).\n"
"server_cpu_us_per_op: user+sys CPU of the --server-pid processes over\n"
"the window per hand-off (n/a without --server-pid); server_cpu_pct:\n"
"that CPU as %% of one core.\n");
}

static int parse_one(int opt, const char *arg)
{
    uint64_t v;
    switch (opt) {
    case 's': g_cfg.servers = arg; return 0;
    case 'c':
        if (!bench_parse_u64(arg, 1, 10000, &v)) return -1;
        g_cfg.clients = (unsigned)v; return 0;
    case 'd': return bench_parse_secs(arg, &g_cfg.duration_s) ? 0 : -1;
    case 'u': return bench_parse_secs(arg, &g_cfg.warmup_s) ? 0 : -1;
    case 'p':
        if (arg[0] != '/' || strlen(arg) < 2 || strlen(arg) > 128)
            return -1;
        g_cfg.path = arg; return 0;
    case 't':
        if (!bench_parse_u64(arg, 1, 3600000, &v)) return -1;
        g_cfg.timeout_ms = (int)v; return 0;
    case 'e':
        if (!bench_parse_u64(arg, 1, 3600000, &v)) return -1;
        g_cfg.session_ms = (uint32_t)v; return 0;
    case 'f':
        if (strcmp(arg, "kv") == 0)
            g_cfg.kv = true;
        else if (strcmp(arg, "text") == 0)
            g_cfg.kv = false;
        else
            return -1;
        return 0;
    case 'P':
        if (g_cfg.npids == LB_PIDS_MAX || !bench_parse_u64(arg, 1, INT32_MAX,
                                                           &v))
            return -1;
        g_cfg.pids[g_cfg.npids++] = (pid_t)v; return 0;
    case 'h': usage(stdout); exit(0);
    default: return -1;
    }
}

static int parse_args(int argc, char **argv)
{
    static const struct option longs[] = {
        {"servers", required_argument, 0, 's'},
        {"clients", required_argument, 0, 'c'},
        {"duration", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'u'},
        {"path", required_argument, 0, 'p'},
        {"timeout-ms", required_argument, 0, 't'},
        {"session-ms", required_argument, 0, 'e'},
        {"format", required_argument, 0, 'f'},
        {"server-pid", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    g_cfg = (struct lb_cfg){
        .servers = "127.0.0.1:2281", .clients = 1, .duration_s = 10,
        .warmup_s = 1, .path = "/lockbench", .timeout_ms = 30000,
        .session_ms = 10000,
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1)
        if (parse_one(opt, optarg) != 0) {
            fprintf(stderr, "coordlockbench: bad option %s\n",
                    optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            usage(stderr);
            return -1;
        }
    if (optind != argc || g_cfg.duration_s <= 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return 2;
    int rc = open_clients();
    double window_s = 0;
    if (rc == 0)
        rc = run(&window_s);
    if (rc == 0)
        report(window_s);
    close_clients();
    if (rc != 0)
        fprintf(stderr, "coordlockbench: %s\n", coord_strerror(rc));
    return rc == 0 ? 0 : 1;
}
