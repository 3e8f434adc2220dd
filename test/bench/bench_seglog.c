/* bench_seglog.c -- append latency and CPU of coordd/store/seglog.c against
 * a plain append + fdatasync file (not a test; not run by make test).
 *
 * Usage: build/test/bench/bench_seglog [seconds per case, default 3]
 *                       [dir, default /tmp] [segment bytes, default 64 MiB]
 * For each mode (seglog direct, seglog buffered, plain append+fdatasync)
 * and 1 or 3 concurrent logs (one thread and one mkdtemp directory each,
 * as three nodes sharing a disk), every thread appends one ~200-byte
 * record per call for the given time. We print p50/p99/p99.9 of the call's
 * latency over all threads and the CPU (user+sys of the appending threads,
 * getrusage RUSAGE_THREAD) per append. The seglog cases wait until the
 * spare segment exists before timing; with small segments the figures
 * include rotations (and spare waits and misses, printed, when the spare
 * thread falls behind; segments grow from SEGLOG_SEGMENT_BYTES_FIRST).
 * Everything the benchmark creates is removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/store/seglog.h"
#include "coordd/store/store.h"
#include "libcoord/shared/alloc.h"

enum { M_DIRECT, M_BUFFERED, M_PLAIN, M_COUNT };
static const char *mode_name[M_COUNT] = {"seglog direct", "seglog buffered",
                                         "append+fdatasync"};

#define VAL_BYTES 200

struct worker {
    int mode;
    uint64_t seg_bytes;
    uint64_t misses;
    uint64_t waits;
    uint64_t rotations;
    double seconds;
    const char *base;
    char dir[256];
    double *lat; /* us */
    size_t n;
    size_t cap;
    double cpu_us;
    int rc;
};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double thread_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void note(struct worker *w, double us)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat = coord_realloc(w->lat, w->cap * sizeof(*w->lat));
        if (!w->lat) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    w->lat[w->n++] = us;
}

static void wait_spare(const char *dir)
{
    char p[300];
    snprintf(p, sizeof(p), "%s/spare", dir);
    double dl = now_us() + 120e6;
    while (access(p, F_OK) != 0 && now_us() < dl) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int run_seglog(struct worker *w)
{
    char err[STORE_ERRMSG_BYTES];
    struct seglog *l;
    struct seglog_options o = {w->seg_bytes, w->mode == M_BUFFERED};
    struct seglog_stats st;
    uint8_t val[VAL_BYTES];
    memset(val, 0xab, sizeof(val));
    if (seglog_open(&l, w->dir, &o, err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    if (w->mode == M_DIRECT && !seglog_direct(l))
        fprintf(stderr, "%s: O_DIRECT refused, buffered\n", w->dir);
    wait_spare(w->dir);
    double c0 = thread_cpu_us(), end = now_us() + w->seconds * 1e6;
    for (uint64_t i = 1;; i++) {
        struct seglog_rec r = {i, val, VAL_BYTES};
        double t = now_us();
        if (t >= end)
            break;
        if (seglog_append(l, &r, 1, err) != 0) {
            fprintf(stderr, "append: %s\n", err);
            seglog_close(l);
            return -1;
        }
        note(w, now_us() - t);
    }
    w->cpu_us = thread_cpu_us() - c0;
    seglog_get_stats(l, &st);
    w->misses = st.spare_misses;
    w->waits = st.spare_waits;
    w->rotations = st.rotations;
    seglog_close(l);
    return 0;
}

/* The comparison: what a WAL does without preallocation. */
static int run_plain(struct worker *w)
{
    char p[300];
    uint8_t rec[VAL_BYTES + 16];
    memset(rec, 0xab, sizeof(rec));
    snprintf(p, sizeof(p), "%s/plain.log", w->dir);
    int fd = open(p, O_CREAT | O_WRONLY | O_APPEND | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    double c0 = thread_cpu_us(), end = now_us() + w->seconds * 1e6;
    for (;;) {
        double t = now_us();
        if (t >= end)
            break;
        if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) ||
            fdatasync(fd) != 0) {
            close(fd);
            return -1;
        }
        note(w, now_us() - t);
    }
    w->cpu_us = thread_cpu_us() - c0;
    close(fd);
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->rc = w->mode == M_PLAIN ? run_plain(w) : run_seglog(w);
    return NULL;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run_case(int mode, int k, double seconds, const char *base,
                     uint64_t seg_bytes)
{
    struct worker w[3];
    pthread_t th[3];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < k; i++) {
        w[i].mode = mode;
        w[i].seconds = seconds;
        w[i].seg_bytes = seg_bytes;
        snprintf(w[i].dir, sizeof(w[i].dir), "%s/seglog-bench-XXXXXX", base);
        if (!mkdtemp(w[i].dir)) {
            perror("mkdtemp");
            exit(1);
        }
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    size_t n = 0;
    double cpu = 0;
    uint64_t rot = 0, miss = 0, waits = 0;
    for (int i = 0; i < k; i++) {
        pthread_join(th[i], NULL);
        n += w[i].n;
        cpu += w[i].cpu_us;
        rot += w[i].rotations;
        miss += w[i].misses;
        waits += w[i].waits;
    }
    double *all = coord_malloc((n ? n : 1) * sizeof(*all));
    size_t j = 0;
    for (int i = 0; i < k; i++) {
        if (w[i].n)
            memcpy(all + j, w[i].lat, w[i].n * sizeof(*all));
        j += w[i].n;
        coord_free(w[i].lat);
        rm_dir(w[i].dir);
        if (w[i].rc)
            fprintf(stderr, "%s: thread %d failed\n", mode_name[mode], i);
    }
    qsort(all, n, sizeof(*all), cmp_d);
    if (n)
        printf("%-17s logs %d  appends %7zu  p50 %6.0f  p99 %6.0f  "
               "p99.9 %6.0f us  cpu %5.1f us/append",
               mode_name[mode], k, n, all[n / 2], all[n * 99 / 100],
               all[n * 999 / 1000], cpu / (double)n);
    if (n && mode != M_PLAIN)
        printf("  rotations %" PRIu64 " waits %" PRIu64 " misses %" PRIu64,
               rot, waits, miss);
    if (n)
        printf("\n");
    coord_free(all);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 3;
    const char *base = argc > 2 ? argv[2] : "/tmp";
    uint64_t seg = argc > 3 ? strtoull(argv[3], NULL, 0) : 0;
    if (seconds <= 0)
        seconds = 3;
    printf("bench_seglog: %.1f s per case, %d-byte records, in %s, "
           "segments of %" PRIu64 " bytes (0: default)\n",
           seconds, VAL_BYTES, base, seg);
    for (int k = 1; k <= 3; k += 2)
        for (int m = 0; m < M_COUNT; m++)
            run_case(m, k, seconds, base, seg);
    return 0;
}
