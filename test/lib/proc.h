/* proc.h -- test helpers that run real coordd processes: start one on a
 * loopback address with a temp data dir, wait until it serves (a condition
 * polled with a deadline, never a fixed sleep), stop it by PID with SIGTERM
 * or SIGKILL, pause/resume it. Every process a test starts is stopped by the
 * test (tproc_stop / tproc_kill), and tproc_cleanup removes the data dir. */
#ifndef TEST_PROC_H
#define TEST_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct tproc {
    pid_t pid;
    char host[32];      /* 127.0.0.x */
    uint16_t port;
    char dir[256];      /* data dir */
    char log[300];      /* stderr of the process */
    char extra[1024];   /* extra flags, space separated */
};

/* Fills p: a fresh data dir under /tmp, a free port on host. */
void tproc_init(struct tproc *p, const char *host);
/* Starts coordd; returns 0 once it serves (its log says so and its port
 * accepts), or -1 after timeout_ms. */
int tproc_start(struct tproc *p, int timeout_ms);
/* SIGTERM and wait (SIGKILL after timeout_ms). Returns the exit status
 * (WEXITSTATUS) or -1 if it had to be killed. */
int tproc_stop(struct tproc *p, int timeout_ms);
/* SIGKILL and reap. */
void tproc_kill(struct tproc *p);
/* Removes the data dir and log. */
void tproc_cleanup(struct tproc *p);
/* Resident memory of the process in KiB (from /proc), or -1. */
long tproc_rss_kb(const struct tproc *p);
/* Milliseconds of a monotonic clock. */
int64_t tproc_now_ms(void);
/* True when the log file contains s. */
bool tproc_log_has(const struct tproc *p, const char *s);

#endif /* TEST_PROC_H */
