/* probe.c -- coordbench's floor probes: the latency of one durable append
 * (write + fdatasync of a small record to a file in a given directory, as a
 * log's group commit of one entry costs) and of one loopback TCP round
 * trip (a 64-byte ping-pong between two threads over 127.0.0.1 with
 * TCP_NODELAY, as a request and its reply cost). docs/benchmarks.md
 * ("Closing the gap") compares a 1x1 write's p50 with one fsync plus two
 * round trips measured this way in the same run.
 *
 * How it fits: `coordbench --probe-fsync=DIR` and `--probe-rtt` call these
 * and print one key=value line; no coord server is involved. It must not
 * include coord headers; the only file it leaves behind is none (the probe
 * file is unlinked). */
#include "probe.h"

#include "hist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_RECORD_BYTES 256
#define PROBE_PING_BYTES 64

static uint64_t probe_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_hist(const char *what, const struct hist *h)
{
    printf("%s_n=%llu %s_p10_us=%.1f %s_p50_us=%.1f %s_p90_us=%.1f "
           "%s_p99_us=%.1f\n",
           what, (unsigned long long)h->count, what,
           hist_quantile(h, 0.10) / 1e3, what, hist_quantile(h, 0.50) / 1e3,
           what, hist_quantile(h, 0.90) / 1e3, what,
           hist_quantile(h, 0.99) / 1e3);
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

/* Reads exactly n bytes; false on EOF or error. */
static int read_full(int fd, char *p, size_t n)
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
    while (read_full(fd, b, sizeof(b)) == 0)
        if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
            break;
    return NULL;
}

/* A connected pair over 127.0.0.1 (fds[0] client, fds[1] accepted). */
static int loopback_pair(int fds[2])
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
        fprintf(stderr, "coordbench: rtt probe: %s\n", strerror(errno));
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
    if (loopback_pair(fds) != 0)
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
            read_full(fds[0], b, sizeof(b)) != 0)
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
