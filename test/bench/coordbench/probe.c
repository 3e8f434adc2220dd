/* probe.c -- coordbench's floor probes: the latency of one durable append
 * (write + fdatasync of a small record to a file in a given directory, as a
 * log's group commit of one entry costs), of a majority of three log
 * writes started together on the same file system (as a 3-node cluster
 * whose nodes share one disk commits an entry; each written the way
 * coord's log segments are: a 4 KiB O_DIRECT|O_DSYNC overwrite of a
 * zero-filled file, see coordd/store/seglog.c), and of one loopback TCP
 * round trip (a 64-byte ping-pong between two threads over 127.0.0.1 with
 * TCP_NODELAY, as a request and its reply cost). docs/benchmarks.md
 * ("1x1 write latency against the floor") compares a 1x1 write's p50 with
 * one fsync plus two round trips measured this way in the same run, and
 * with the majority append plus two round trips ("The floor on one shared
 * disk").
 *
 * How it fits: `coordbench --probe-fsync=DIR`, `--probe-majority=DIR` and
 * `--probe-rtt` call these and print one key=value line each; no coord
 * server is involved. It must not include coord headers; the only file it
 * leaves behind is none (every probe file is unlinked once open). */
#include "probe.h"

#include "hist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_RECORD_BYTES 256
#define PROBE_PING_BYTES 64
/* Writers of the majority probe: the replicas of a 3-node cluster. */
#define PROBE_REPLICAS 3

uint64_t probe_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void probe_print_hist_kv(const char *what, const struct hist *h)
{
    printf("%s_n=%llu %s_p10_us=%.1f %s_p50_us=%.1f %s_p90_us=%.1f "
           "%s_p99_us=%.1f",
           what, (unsigned long long)h->count, what,
           hist_quantile(h, 0.10) / 1e3, what, hist_quantile(h, 0.50) / 1e3,
           what, hist_quantile(h, 0.90) / 1e3, what,
           hist_quantile(h, 0.99) / 1e3);
}

static void print_hist(const char *what, const struct hist *h)
{
    probe_print_hist_kv(what, h);
    printf("\n");
}

void probe_print_p50_p99(const char *what, const struct hist *h)
{
    printf(" %s_p50_us=%.1f %s_p99_us=%.1f", what,
           hist_quantile(h, 0.50) / 1e3, what, hist_quantile(h, 0.99) / 1e3);
}

int probe_fsync(const char *dir, unsigned n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/coordbench-fsync-probe.%d", dir,
             (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0) {
        fprintf(stderr, "coordbench: %s: %s\n", path, strerror(errno));
        return 1;
    }
    unlink(path);
    char rec[PROBE_RECORD_BYTES];
    memset(rec, 'r', sizeof(rec));
    static struct hist h;
    hist_init(&h);
    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = probe_now_ns();
        if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) ||
            fdatasync(fd) != 0) {
            fprintf(stderr, "coordbench: fsync probe: %s\n", strerror(errno));
            close(fd);
            return 1;
        }
        hist_record(&h, probe_now_ns() - t0);
    }
    close(fd);
    print_hist("fsync", &h);
    return 0;
}

/* The majority probe: PROBE_REPLICAS threads, each appending to its own
 * file, in lock-step rounds. A round starts when the start barrier
 * releases the threads (its start: the earliest of their clock readings
 * after it, so the barrier's wake-up skew counts, as a cluster's wake-ups
 * do); after the done barrier its serial thread reads every thread's
 * stamps and records the round. What a thread writes before a barrier the
 * others read only after it (POSIX barriers synchronise memory). */
struct maj_probe {
    pthread_barrier_t start, done;
    pthread_mutex_t mu; /* guards gate */
    pthread_cond_t cv;
    int gate;           /* 0 wait, 1 run the rounds, -1 give up */
    int fds[PROBE_REPLICAS];
    int direct; /* O_DIRECT|O_DSYNC on every fd, else pwrite + fdatasync */
    uint64_t t0[PROBE_REPLICAS], t1[PROBE_REPLICAS];
    int err[PROBE_REPLICAS]; /* errno of the round's append, or 0 */
    unsigned left;           /* rounds still to run */
    int stop;                /* written by a serial thread only */
    int failed;
    struct hist first, second, third, skew;
};

struct maj_worker {
    struct maj_probe *p;
    unsigned idx;
};

_Static_assert(PROBE_REPLICAS == 3, "first/second/third of three");

static void maj_round_end(struct maj_probe *p)
{
    uint64_t start = p->t0[0], last = p->t0[0], t[PROBE_REPLICAS], x;
    for (unsigned i = 0; i < PROBE_REPLICAS; i++) {
        if (p->err[i] != 0) {
            fprintf(stderr, "coordbench: majority probe: %s\n",
                    strerror(p->err[i]));
            p->failed = 1;
            p->stop = 1;
            return;
        }
        start = p->t0[i] < start ? p->t0[i] : start;
        last = p->t0[i] > last ? p->t0[i] : last;
        t[i] = p->t1[i];
    }
    for (unsigned i = 1; i < PROBE_REPLICAS; i++) /* sort the completions */
        for (unsigned j = i; j > 0 && t[j - 1] > t[j]; j--) {
            x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    hist_record(&p->first, t[0] - start);
    hist_record(&p->second, t[1] - start);
    hist_record(&p->third, t[2] - start);
    hist_record(&p->skew, last - start);
    if (--p->left == 0)
        p->stop = 1;
}

static void *maj_main(void *arg)
{
    const struct maj_worker *w = arg;
    struct maj_probe *p = w->p;
    _Alignas(PROBE_BLOCK_BYTES) static char recs[PROBE_REPLICAS]
                                               [PROBE_BLOCK_BYTES];
    char *rec = recs[w->idx]; /* aligned, as O_DIRECT wants */
    memset(rec, 'm', PROBE_BLOCK_BYTES);
    uint64_t off = 0;
    pthread_mutex_lock(&p->mu);
    while (p->gate == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    int go = p->gate > 0;
    pthread_mutex_unlock(&p->mu);
    while (go) {
        pthread_barrier_wait(&p->start);
        if (p->stop)
            break;
        p->t0[w->idx] = probe_now_ns();
        errno = 0;
        int fd = p->fds[w->idx];
        if (pwrite(fd, rec, PROBE_BLOCK_BYTES, (off_t)off) !=
                PROBE_BLOCK_BYTES ||
            (!p->direct && fdatasync(fd) != 0))
            p->err[w->idx] = errno ? errno : EIO;
        else
            p->err[w->idx] = 0;
        off = (off + PROBE_BLOCK_BYTES) % PROBE_LOG_FILE_BYTES;
        p->t1[w->idx] = probe_now_ns();
        if (pthread_barrier_wait(&p->done) == PTHREAD_BARRIER_SERIAL_THREAD)
            maj_round_end(p);
    }
    return NULL;
}

int probe_log_open(const char *dir, unsigned idx, int *direct)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/coordbench-log-probe.%d.%u", dir,
             (int)getpid(), idx);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "coordbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static const char zero[PROBE_BLOCK_BYTES];
    int ok = 1;
    for (size_t o = 0; ok && o < PROBE_LOG_FILE_BYTES; o += sizeof(zero))
        ok = write(fd, zero, sizeof(zero)) == (ssize_t)sizeof(zero);
    ok = ok && fsync(fd) == 0;
    close(fd);
    fd = -1;
    if (ok && *direct)
        fd = open(path, O_WRONLY | O_DIRECT | O_DSYNC);
    if (ok && fd < 0 && (!*direct || errno == EINVAL)) {
        *direct = 0;
        fd = open(path, O_WRONLY);
    }
    if (!ok || fd < 0)
        fprintf(stderr, "coordbench: %s: %s\n", path,
                strerror(errno ? errno : EIO));
    unlink(path);
    return ok ? fd : -1;
}

/* Starts the writers, opens the gate (or closes it if one could not
 * start) and joins them; 0 when every round ran. */
static int maj_run(struct maj_probe *p)
{
    pthread_t th[PROBE_REPLICAS];
    struct maj_worker w[PROBE_REPLICAS];
    unsigned started = 0;
    for (; started < PROBE_REPLICAS; started++) {
        w[started] = (struct maj_worker){.p = p, .idx = started};
        if (pthread_create(&th[started], NULL, maj_main, &w[started]) != 0)
            break;
    }
    pthread_mutex_lock(&p->mu);
    p->gate = started == PROBE_REPLICAS ? 1 : -1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started < PROBE_REPLICAS) {
        fprintf(stderr, "coordbench: majority probe: cannot start a thread\n");
        return 1;
    }
    return p->failed;
}

/* e (a pthread_*_init result), after a message if it is not 0. */
static int maj_check(int e)
{
    if (e != 0)
        fprintf(stderr, "coordbench: majority probe: %s\n", strerror(e));
    return e;
}

int probe_majority(const char *dir, unsigned n)
{
    static struct maj_probe p;
    unsigned nfd = 0;
    int rc = 1;
    p.gate = 0;
    p.left = n;
    p.stop = n == 0;
    p.failed = 0;
    p.direct = 1;
    hist_init(&p.first);
    hist_init(&p.second);
    hist_init(&p.third);
    hist_init(&p.skew);
    for (; nfd < PROBE_REPLICAS; nfd++)
        if ((p.fds[nfd] = probe_log_open(dir, nfd, &p.direct)) < 0)
            goto out_close;
    if (maj_check(pthread_mutex_init(&p.mu, NULL)) != 0)
        goto out_close;
    if (maj_check(pthread_cond_init(&p.cv, NULL)) != 0)
        goto out_mutex;
    if (maj_check(pthread_barrier_init(&p.start, NULL, PROBE_REPLICAS)) != 0)
        goto out_cond;
    if (maj_check(pthread_barrier_init(&p.done, NULL, PROBE_REPLICAS)) != 0)
        goto out_start;
    rc = maj_run(&p);
    if (rc == 0) {
        probe_print_hist_kv("majority", &p.second);
        probe_print_p50_p99("first", &p.first);
        probe_print_p50_p99("third", &p.third);
        probe_print_p50_p99("start_skew", &p.skew);
        printf(" majority_direct=%d\n", p.direct);
    }

    pthread_barrier_destroy(&p.done);
out_start:
    pthread_barrier_destroy(&p.start);
out_cond:
    pthread_cond_destroy(&p.cv);
out_mutex:
    pthread_mutex_destroy(&p.mu);
out_close:
    while (nfd > 0)
        close(p.fds[--nfd]);
    return rc;
}

int probe_read_full(int fd, char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void *echo_main(void *arg)
{
    int fd = *(int *)arg;
    char b[PROBE_PING_BYTES];
    while (probe_read_full(fd, b, sizeof(b)) == 0)
        if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
            break;
    return NULL;
}

int probe_loopback_pair(int fds[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0 || fds[0] < 0 ||
        bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &len) != 0 ||
        listen(ls, 1) != 0 ||
        connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        (fds[1] = accept(ls, NULL, NULL)) < 0) {
        fprintf(stderr, "coordbench: loopback pair: %s\n", strerror(errno));
        if (ls >= 0)
            close(ls);
        return -1;
    }
    close(ls);
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

int probe_rtt(unsigned n)
{
    int fds[2];
    pthread_t th;
    if (probe_loopback_pair(fds) != 0)
        return 1;
    if (pthread_create(&th, NULL, echo_main, &fds[1]) != 0) {
        close(fds[0]);
        close(fds[1]);
        return 1;
    }
    char b[PROBE_PING_BYTES];
    memset(b, 'p', sizeof(b));
    static struct hist h;
    hist_init(&h);
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        uint64_t t0 = probe_now_ns();
        if (write(fds[0], b, sizeof(b)) != (ssize_t)sizeof(b) ||
            probe_read_full(fds[0], b, sizeof(b)) != 0)
            rc = 1;
        else
            hist_record(&h, probe_now_ns() - t0);
    }
    shutdown(fds[0], SHUT_RDWR);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    if (rc == 0)
        print_hist("rtt", &h);
    return rc;
}
