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
    char members[1024]; /* cluster member list ("" = single node) */
    uint64_t node_id;
    uint16_t peer_port;
};

/* Fills p: a fresh data dir under /tmp, a free port on host. */
void tproc_init(struct tproc *p, const char *host);
/* Starts coordd without waiting; 0 or -1. */
int tproc_spawn(struct tproc *p);
/* A port that was free on host a moment ago. */
uint16_t tproc_free_port(const char *host);
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

/* The role of the node from its log's last "raft state" line: 'L'eader,
 * 'F'ollower, 'C'andidate (pre- too), or '?' when none. */
char tproc_role(const struct tproc *p);

/* A local cluster of n nodes on 127.0.0.1.. 127.0.0.n, free ports. */
#define TCLUSTER_MAX 7
struct tcluster {
    int n;
    struct tproc node[TCLUSTER_MAX];
    char members[1024];
    char servers[512]; /* client list "127.0.0.1:p1,127.0.0.2:p2,..." */
};
/* Initializes n nodes (extra flags for all); starts none. */
void tcluster_init(struct tcluster *c, int n, const char *extra);
/* Starts node i (0-based) without waiting for it to serve; 0 or -1. */
int tcluster_spawn(struct tcluster *c, int i);
/* Starts every node and waits until one leads and all serve. */
int tcluster_start(struct tcluster *c, int timeout_ms);
/* Index of the node whose log says it leads (among live ones), waiting
 * up to timeout_ms for one; -1 if none. */
int tcluster_leader(struct tcluster *c, int timeout_ms);
/* Stops (SIGTERM) every live node and removes the data. */
void tcluster_cleanup(struct tcluster *c);

#endif /* TEST_PROC_H */
