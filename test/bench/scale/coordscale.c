/* coordscale.c -- the load-shaping helper of `make bench-scale` (issue 9
 * part 5; scripts/bench-scale.sh drives it). It puts a running cluster
 * into a large state that coordbench cannot build by itself, then holds it
 * while coordbench measures:
 *
 *   fill PREFIX FROM TO      creates nodes FROM..TO-1 as PREFIX/bB/nI
 *                            (1000 per bucket B = I / 1000), one pipelined
 *                            async multi per bucket, and exits
 *   sessions N               opens N idle sessions (external-loop clients
 *                            driven from one epoll loop, no thread each),
 *                            prints "ready", holds them until SIGTERM
 *   watches PREFIX N         registers a one-shot data watch (exists) on
 *                            nodes 0..N-1 of a fill, over ceil(N/50000)
 *                            clients, prints "ready", holds until SIGTERM
 *
 * It speaks only the public libcoord API (coord.h, plus the project's
 * allocator); it never starts or stops servers and checks nothing beyond
 * the status codes it gets (a failure exits non-zero with the code). */
#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define SCALE_BUCKET 1000u       /* children per bucket = creates per multi */
#define SCALE_FILL_WINDOW 8u     /* multis in flight while filling */
#define SCALE_WATCH_PER_CLIENT 50000u
#define SCALE_WATCH_WINDOW 512u  /* exists requests in flight per client */
#define SCALE_SESSION_WAVE 250u  /* sessions connecting at once */
#define SCALE_PATH_MAX 128
#define SCALE_CLOSE_S 30 /* closing the clients takes at most this (SIGALRM) */

static const char *g_servers = "127.0.0.1:2281";
static size_t g_value_size = 64;
static uint32_t g_timeout_ms = 60000;
static uint32_t g_ping_ms; /* 0: libcoord's default */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "coordscale: %s: %s\n", what, coord_errname(rc));
    exit(1);
}

static void options(struct coord_options *o)
{
    coord_options_init(o);
    o->servers = g_servers;
    o->request_timeout_ms = g_timeout_ms;
    o->connect_timeout_ms = 10000;
    o->session_timeout_ms = 30000;
    if (g_ping_ms)
        o->ping_interval_ms = g_ping_ms;
}

/* ---- in-flight window shared by fill and watches -------------------------- */

struct window {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inflight;
    int err; /* first error */
    uint64_t done;
};

static void window_init(struct window *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->inflight = 0;
    w->err = 0;
    w->done = 0;
}

/* Waits until fewer than max are in flight, then takes a slot. */
static int window_take(struct window *w, unsigned max)
{
    pthread_mutex_lock(&w->mu);
    while (w->inflight >= max && w->err == 0)
        pthread_cond_wait(&w->cv, &w->mu);
    int err = w->err;
    if (err == 0)
        w->inflight++;
    pthread_mutex_unlock(&w->mu);
    return err;
}

static void window_put(struct window *w, int status, uint64_t n)
{
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    if (status != 0 && w->err == 0)
        w->err = status;
    if (status == 0)
        w->done += n;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int window_drain(struct window *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    return err;
}

/* ---- fill ----------------------------------------------------------------- */

static struct window g_fill;
/* Per bucket of the range: 1 once its multi is known applied. A bucket
 * whose multi failed (a connection lost in a server stall: applied or
 * not) is sent again; COORD_ENODEEXISTS then means it was. */
static _Atomic uint8_t *g_bucket_done;
static uint64_t g_bucket0;

static void on_multi(void *data, int status, size_t n,
                     const struct coord_op_result *res)
{
    (void)res;
    uint64_t b = (uint64_t)(uintptr_t)data;
    if (status == 0 || status == COORD_ENODEEXISTS)
        atomic_store(&g_bucket_done[b - g_bucket0], 1);
    window_put(&g_fill, 0, status == 0 ? n : 0);
}

static int create_ok(struct coord_client *cl, const char *path)
{
    int rc = coord_create(cl, path, NULL, 0, COORD_PERSISTENT, 0, NULL, NULL);
    return rc == COORD_ENODEEXISTS ? 0 : rc;
}

/* One multi: nodes [from, to) of one bucket, plus the bucket itself when
 * from is its first node. */
static int fill_bucket(struct coord_client *cl, const char *prefix,
                       uint64_t from, uint64_t to, const char *value)
{
    struct coord_multi *m;
    char path[SCALE_PATH_MAX];
    uint64_t b = from / SCALE_BUCKET;
    int rc = coord_multi_new(&m);
    if (rc != 0)
        return rc;
    if (from % SCALE_BUCKET == 0) {
        snprintf(path, sizeof(path), "%s/b%" PRIu64, prefix, b);
        rc = coord_multi_create(m, path, NULL, 0, COORD_PERSISTENT, 0);
    }
    for (uint64_t i = from; i < to && rc == 0; i++) {
        snprintf(path, sizeof(path), "%s/b%" PRIu64 "/n%" PRIu64, prefix, b,
                 i);
        rc = coord_multi_create(m, path, value, g_value_size,
                                COORD_PERSISTENT, 0);
    }
    if (rc == 0)
        rc = window_take(&g_fill, SCALE_FILL_WINDOW);
    if (rc == 0) {
        rc = coord_amulti(cl, m, on_multi, (void *)(uintptr_t)b);
        if (rc != 0)
            window_put(&g_fill, rc, 0);
    }
    coord_multi_free(m);
    return rc;
}

static int cmd_fill(const char *prefix, uint64_t from, uint64_t to)
{
    struct coord_client *cl;
    struct coord_options o;
    options(&o);
    int rc = coord_open(&cl, &o);
    if (rc != 0)
        die("open", rc);
    if ((rc = create_ok(cl, prefix)) != 0)
        die("create prefix", rc);
    char *value = coord_malloc(g_value_size + 1);
    coord_assert(value != NULL);
    memset(value, 'v', g_value_size);
    window_init(&g_fill);
    g_bucket0 = from / SCALE_BUCKET;
    g_bucket_done = coord_calloc(to / SCALE_BUCKET - g_bucket0 + 1, 1);
    coord_assert(g_bucket_done != NULL);
    double t0 = now_s();
    bool all = false;
    for (int round = 0; round < 10 && !all && rc == 0; round++) {
        for (uint64_t i = from; i < to && rc == 0;) {
            uint64_t end = (i / SCALE_BUCKET + 1) * SCALE_BUCKET;
            if (end > to)
                end = to;
            if (!atomic_load(&g_bucket_done[i / SCALE_BUCKET - g_bucket0]))
                rc = fill_bucket(cl, prefix, i, end, value);
            i = end;
        }
        int drc = window_drain(&g_fill);
        if (rc == 0)
            rc = drc;
        all = true;
        for (uint64_t b = g_bucket0; from < to && b <= (to - 1) / SCALE_BUCKET;
             b++)
            all = all && atomic_load(&g_bucket_done[b - g_bucket0]);
        if (!all)
            fprintf(stderr, "coordscale: fill round %d: some multis failed"
                    " (server stall?); sending them again\n", round + 1);
    }
    coord_free((void *)g_bucket_done);
    if (rc == 0 && !all)
        rc = COORD_ECONNLOSS;
    double dt = now_s() - t0;
    coord_close(cl);
    coord_free(value);
    if (rc != 0)
        die("fill", rc);
    printf("filled=%" PRIu64 " seconds=%.2f nodes_per_s=%.0f\n", to - from,
           dt, dt > 0 ? (double)(to - from) / dt : 0.0);
    return 0;
}

/* ---- holding until SIGTERM ------------------------------------------------ */

static sigset_t g_stopset;

static void block_stop_signals(void)
{
    sigemptyset(&g_stopset);
    sigaddset(&g_stopset, SIGTERM);
    sigaddset(&g_stopset, SIGINT);
    pthread_sigmask(SIG_BLOCK, &g_stopset, NULL);
}

/* ---- sessions ------------------------------------------------------------- */

struct sess {
    struct coord_client *cl;
    _Atomic int state;
};

static void on_state(void *data, int state)
{
    struct sess *s = data;
    atomic_store(&s->state, state);
}

static bool sess_up(struct sess *s)
{
    int st = atomic_load(&s->state);
    return st == COORD_STATE_CONNECTED || st == COORD_STATE_RECONNECTED;
}

/* One round of the shared epoll loop: processes every client with work.
 * Returns false once a stop signal is pending. */
static bool sessions_round(int ep, int ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, ms);
    for (int i = 0; i < n; i++) {
        struct sess *s = evs[i].data.ptr;
        coord_process(s->cl);
    }
    struct timespec zero = {0, 0};
    return sigtimedwait(&g_stopset, NULL, &zero) < 0;
}

static int sessions_open(struct sess *ss, unsigned from, unsigned to, int ep)
{
    for (unsigned i = from; i < to; i++) {
        struct coord_options o;
        options(&o);
        o.external_loop = true;
        o.state_cb = on_state;
        o.state_data = &ss[i];
        int rc = coord_open(&ss[i].cl, &o);
        if (rc != 0)
            return rc;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ss[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, coord_fd(ss[i].cl), &ev) != 0)
            return COORD_EIO;
    }
    return 0;
}

static int cmd_sessions(unsigned n)
{
    block_stop_signals();
    struct sess *ss = coord_calloc(n ? n : 1, sizeof(*ss));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    coord_assert(ss != NULL && ep >= 0);
    double t0 = now_s();
    bool run = true;
    /* Waves, so a loaded server is not asked for thousands of handshakes
     * (each a replicated session creation) at once. */
    for (unsigned from = 0; from < n && run; from += SCALE_SESSION_WAVE) {
        unsigned to = from + SCALE_SESSION_WAVE < n ? from + SCALE_SESSION_WAVE
                                                    : n;
        int rc = sessions_open(ss, from, to, ep);
        if (rc != 0)
            die("open session", rc);
        for (unsigned i = from; i < to && run;) {
            if (sess_up(&ss[i]))
                i++;
            else
                run = sessions_round(ep, 100);
            if (now_s() - t0 > 600)
                die("sessions not up within 600 s", COORD_ETIMEDOUT);
        }
    }
    printf("ready sessions=%u seconds=%.2f\n", n, now_s() - t0);
    fflush(stdout);
    unsigned down_max = 0;
    while (run) {
        run = sessions_round(ep, 200);
        unsigned down = 0;
        for (unsigned i = 0; i < n; i++)
            down += !sess_up(&ss[i]);
        down_max = down > down_max ? down : down_max;
    }
    fprintf(stderr, "coordscale: stopping %u sessions (most down at once:"
            " %u)\n", n, down_max);
    /* No CLOSE for each: one by one, thousands of them take minutes on a
     * loaded machine. The sessions expire on the server by their timeout
     * (the script stops that server next anyway). */
    (void)ep;
    (void)ss;
    _exit(0);
}

/* ---- watches -------------------------------------------------------------- */

static struct window g_watch;
static _Atomic uint64_t g_fired;

static void on_watch(void *data, const struct coord_event *ev)
{
    (void)data;
    (void)ev;
    atomic_fetch_add(&g_fired, 1);
}

static void on_exists(void *data, int status, const struct coord_stat *st)
{
    (void)st;
    (void)data;
    window_put(&g_watch, status, 1);
}

static int watch_range(struct coord_client *cl, const char *prefix,
                       uint64_t from, uint64_t to)
{
    struct coord_watcher w = {.cb = on_watch, .data = NULL};
    char path[SCALE_PATH_MAX];
    for (uint64_t i = from; i < to; i++) {
        snprintf(path, sizeof(path), "%s/b%" PRIu64 "/n%" PRIu64, prefix,
                 i / SCALE_BUCKET, i);
        int rc = window_take(&g_watch, SCALE_WATCH_WINDOW);
        if (rc != 0)
            return rc;
        rc = coord_aexists(cl, path, COORD_READ_LOCAL, &w, on_exists, NULL);
        if (rc != 0) {
            window_put(&g_watch, rc, 0);
            return rc;
        }
    }
    return 0;
}

static int cmd_watches(const char *prefix, uint64_t n)
{
    block_stop_signals();
    unsigned k = (unsigned)((n + SCALE_WATCH_PER_CLIENT - 1) /
                            SCALE_WATCH_PER_CLIENT);
    struct coord_client **cls = coord_calloc(k ? k : 1, sizeof(*cls));
    coord_assert(cls != NULL);
    window_init(&g_watch);
    double t0 = now_s();
    int rc = 0;
    for (unsigned i = 0; i < k && rc == 0; i++) {
        struct coord_options o;
        options(&o);
        rc = coord_open(&cls[i], &o);
        uint64_t from = (uint64_t)i * SCALE_WATCH_PER_CLIENT;
        uint64_t to = from + SCALE_WATCH_PER_CLIENT < n
                          ? from + SCALE_WATCH_PER_CLIENT
                          : n;
        if (rc == 0)
            rc = watch_range(cls[i], prefix, from, to);
    }
    int drc = window_drain(&g_watch);
    if (rc == 0)
        rc = drc;
    if (rc != 0)
        die("register watches", rc);
    printf("ready watches=%" PRIu64 " clients=%u seconds=%.2f\n",
           g_watch.done, k, now_s() - t0);
    fflush(stdout);
    int sig;
    sigwait(&g_stopset, &sig);
    fprintf(stderr, "coordscale: stopping; %" PRIu64 " watches fired\n",
            atomic_load(&g_fired));
    alarm(SCALE_CLOSE_S);
    for (unsigned i = 0; i < k; i++)
        coord_close(cls[i]);
    coord_free(cls);
    return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: coordscale [OPTIONS] fill PREFIX FROM TO\n"
"       coordscale [OPTIONS] sessions N\n"
"       coordscale [OPTIONS] watches PREFIX N\n"
"  --servers=LIST     cluster (default 127.0.0.1:2281)\n"
"  --value-size=B     fill: bytes per node (default 64)\n"
"  --timeout-ms=MS    request timeout (default 60000)\n"
"  --ping-ms=MS       client ping interval (default: libcoord's)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"servers", required_argument, 0, 's'},
        {"value-size", required_argument, 0, 'v'},
        {"timeout-ms", required_argument, 0, 't'},
        {"ping-ms", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': g_servers = optarg; break;
        case 'v': g_value_size = strtoull(optarg, NULL, 10); break;
        case 't': g_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'p': g_ping_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int left = argc - optind;
    char **a = argv + optind;
    if (left == 4 && strcmp(a[0], "fill") == 0)
        return cmd_fill(a[1], strtoull(a[2], NULL, 10),
                        strtoull(a[3], NULL, 10));
    if (left == 2 && strcmp(a[0], "sessions") == 0)
        return cmd_sessions((unsigned)strtoul(a[1], NULL, 10));
    if (left == 3 && strcmp(a[0], "watches") == 0)
        return cmd_watches(a[1], strtoull(a[2], NULL, 10));
    usage(stderr);
    return 2;
}
