/* coordprobe.c -- the failover probe of `make bench-compare` for coord, the
 * counterpart of `zkbench --op=failover-probe` and `etcdbench
 * --op=failover-probe`: one libcoord client given every member (library
 * defaults: request timeout, silent-server timeout, backoff) writes a node
 * every 2 ms for --warmup seconds, then sends --fault-signal (KILL or STOP)
 * to --fault-pid itself, right after reading the clock, and writes again
 * (synchronous coord_set, 2 ms apart) until one succeeds; prints the time
 * from the signal to that success as one kv line (failover_ms), and the
 * first success of any write (writable_ms: async writes are also sent
 * every 10 ms on the same client, none waiting for another).
 *
 * Public API only (coord.h); it measures, it must not tune the client. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *opt(int argc, char **argv, const char *name,
                       const char *dflt)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return dflt;
}

/* Alongside the probe's own loop: an async write every 10 ms on the same
 * client, none waiting for another; the first success among all writes
 * tells when the cluster took writes again (writable_ms). */
static _Atomic uint64_t g_first_ok; /* now_ns() of the first success */
static _Atomic int g_done;

struct sampler_arg {
    struct coord_client *c;
    const char *path;
};

static void note_ok(void)
{
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&g_first_ok, &zero, now_ns());
}

static void sampler_done(void *data, int status, const struct coord_stat *st)
{
    (void)data, (void)st;
    if (status == 0)
        note_ok();
}

static void *sampler(void *arg)
{
    struct sampler_arg *a = arg;
    while (!atomic_load(&g_done) && !atomic_load(&g_first_ok)) {
        coord_aset(a->c, a->path, "z", 1, -1, sampler_done, NULL);
        pause_ms(10);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *servers = opt(argc, argv, "--servers", "127.0.0.1:2281");
    long pid = strtol(opt(argc, argv, "--fault-pid", "0"), NULL, 10);
    int sig = strcmp(opt(argc, argv, "--fault-signal", "KILL"), "STOP") == 0
                  ? SIGSTOP
                  : SIGKILL;
    double warm = strtod(opt(argc, argv, "--warmup", "1"), NULL);
    double limit_s = strtod(opt(argc, argv, "--duration", "60"), NULL);
    const char *path = opt(argc, argv, "--path", "/coordprobe");
    if (pid <= 0) {
        fprintf(stderr, "usage: coordprobe --servers=LIST --fault-pid=PID "
                        "[--fault-signal=KILL|STOP] [--warmup=S] "
                        "[--duration=S] [--path=P]\n");
        return 2;
    }
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    struct coord_client *c;
    int rc = coord_open(&c, &o);
    if (rc < 0) {
        fprintf(stderr, "coordprobe: open: %s\n", coord_strerror(rc));
        return 1;
    }
    rc = coord_create(c, path, "x", 1, COORD_PERSISTENT, 0, NULL, NULL);
    if (rc < 0 && rc != COORD_ENODEEXISTS) {
        fprintf(stderr, "coordprobe: create: %s\n", coord_strerror(rc));
        return 1;
    }
    uint64_t end = now_ns() + (uint64_t)(warm * 1e9);
    do {
        rc = coord_set(c, path, "x", 1, -1, NULL);
        if (rc < 0) {
            fprintf(stderr, "coordprobe: set before the fault: %s\n",
                    coord_strerror(rc));
            return 1;
        }
        pause_ms(2);
    } while (now_ns() < end);
    uint64_t t0 = now_ns();
    if (kill((pid_t)pid, sig) != 0) {
        fprintf(stderr, "coordprobe: kill %ld: %s\n", pid, strerror(errno));
        return 1;
    }
    struct sampler_arg sa = {c, path};
    pthread_t thr;
    pthread_create(&thr, NULL, sampler, &sa);
    unsigned tries = 0;
    uint64_t limit = t0 + (uint64_t)(limit_s * 1e9);
    for (;;) {
        tries++;
        rc = coord_set(c, path, "y", 1, -1, NULL);
        if (rc == 0) {
            note_ok();
            break;
        }
        if (now_ns() > limit) {
            printf("system=coord op=failover-probe failover_ms=timeout "
                   "tries=%u last_error=%s\n", tries, coord_strerror(rc));
            return 1;
        }
        pause_ms(2);
    }
    double ms = (double)(now_ns() - t0) / 1e6;
    atomic_store(&g_done, 1);
    pthread_join(thr, NULL);
    double wms = (double)(atomic_load(&g_first_ok) - t0) / 1e6;
    printf("system=coord op=failover-probe signal=%d failover_ms=%.1f "
           "writable_ms=%.1f tries=%u\n", sig, ms, wms < ms ? wms : ms,
           tries);
    fflush(stdout);
    coord_close(c);
    return 0;
}
