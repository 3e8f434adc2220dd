/* metrics.h -- coordd's metrics: counters, gauges and histograms kept
 * while the server runs, rendered in the Prometheus text format (0.0.4)
 * and served over HTTP (libmicrohttpd, its own thread) on metrics_listen.
 *
 * How it fits: node.c, request.c, session.c, cluster.c and admin.c call
 * one-line hooks (metrics_request, metrics_snapshot_done, ...) on the loop
 * thread; the storage worker calls metrics_fsync() on its own thread;
 * node.c publishes the Raft and table gauges once per tick
 * (node_metrics_publish). The HTTP thread only reads. main.c starts and
 * stops the server. It must not take a lock or block the loop thread, and
 * it never touches the node's state from the HTTP thread.
 *
 * Threads (docs/operations.md "Metrics"): every counter and histogram
 * bucket has exactly ONE writer thread, which increments it with a relaxed
 * atomic load and store (a plain add on x86-64: no lock prefix, no
 * fence); readers load with relaxed order, so a 64-bit value is never
 * torn. A histogram keeps per-bucket counts and renders them cumulated, so
 * buckets are cumulative and _count equals the +Inf bucket in every
 * scrape even while an observation is being recorded (its _sum may trail
 * by that one observation). Gauges are published as one block under a
 * sequence lock: the HTTP thread retries its copy until it read a block
 * no publish overlapped, so gauges of one scrape belong to one tick.
 */
#ifndef COORDD_METRICS_H
#define COORDD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordd/limits.h"

/* Finite bucket bounds of one histogram, at most. */
#define METRICS_BOUNDS_MAX 20
/* Concurrent scrape connections the HTTP server accepts; more wait. */
#define METRICS_HTTP_CONNS_MAX 16
/* Seconds an idle scrape connection is kept. */
#define METRICS_HTTP_TIMEOUT_S 10

struct metrics;      /* the registry: opaque */
struct metrics_http; /* the HTTP server */
struct node;

/* Request latency classes (coord_request_duration_seconds{class}). */
enum metrics_class {
    METRICS_CLASS_READ = 0,  /* get, exists, children, sync */
    METRICS_CLASS_WRITE = 1, /* create, delete, set, check, multi, close */
    METRICS_CLASSES = 2,
};

/* Snapshot events (coord_snapshot_*{kind}). */
enum metrics_snap {
    METRICS_SNAP_TAKEN = 0,     /* serialised here and made durable */
    METRICS_SNAP_SENT = 1,      /* every chunk sent to one follower */
    METRICS_SNAP_INSTALLED = 2, /* received, durable and loaded */
    METRICS_SNAP_KINDS = 3,
};

/* The gauges node.c publishes each tick. */
struct metrics_gauges {
    uint64_t node_id;
    uint64_t term;
    uint64_t leader_id;    /* 0: none known */
    bool is_leader;
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snap_index;
    uint64_t sessions;
    uint64_t watches;
    uint64_t connections;  /* client connections */
    uint64_t digest_mismatches;
    uint64_t pair_commits; /* Raft pair commits here (counter) */
    uint64_t bytes[4];     /* client in, out, peer in, out (counters) */
    uint32_t n_peers;      /* leader only: followers' replication lag */
    uint64_t peer_id[COORDD_MEMBERS_MAX];
    uint64_t peer_lag[COORDD_MEMBERS_MAX]; /* last_index - match */
};

/* Figures coordctl status shows (through STATUS), read on any thread. */
struct metrics_summary {
    uint64_t requests;    /* every reply */
    uint64_t writes;      /* write-class replies */
    uint64_t reads;       /* read-class replies */
    uint64_t errors;      /* replies with an error code */
    uint64_t fsyncs;
    uint64_t fsync_p99_us; /* upper bound of the p99 bucket; 0: none */
    uint64_t write_p99_us;
    uint64_t leader_changes;
};

/* Allocates a zeroed registry. 0 or COORD_ENOMEM. */
int metrics_new(struct metrics **out);
void metrics_free(struct metrics *m);

/* CLOCK_MONOTONIC in microseconds: the clock of every duration here. */
int64_t metrics_now_us(void);

/* ---- loop-thread hooks -------------------------------------------------- */

/* One reply to a request with opcode op was encoded with code err. */
void metrics_request(struct metrics *m, uint32_t op, int err);
/* A reply to op left the connection's FIFO; start_us is when the request
 * arrived. Ops of neither class are not timed. */
void metrics_request_latency(struct metrics *m, uint32_t op,
                             int64_t start_us);
void metrics_leader_change(struct metrics *m);
void metrics_session_expired(struct metrics *m);
/* Records a finished snapshot of bytes that started at start_us; returns
 * its duration in microseconds. */
int64_t metrics_snapshot_done(struct metrics *m, enum metrics_snap kind,
                              uint64_t bytes, int64_t start_us);
/* A snapshot chunk [off, off + len) of total bytes went to peer to. The
 * first chunk (off 0) starts the clock of that peer; the last one records
 * a METRICS_SNAP_SENT and returns its duration (us); otherwise -1. */
int64_t metrics_snapshot_chunk(struct metrics *m, uint64_t to, uint64_t off,
                               uint64_t len, uint64_t total);
void metrics_publish(struct metrics *m, const struct metrics_gauges *g);

/* ---- storage-worker hook (its thread only) ------------------------------ */

/* One synced write batch took us microseconds; data is the registry (the
 * signature of store_worker's on_sync). */
void metrics_fsync(void *data, uint64_t us);

/* ---- reading (any thread) ----------------------------------------------- */

void metrics_read_gauges(const struct metrics *m, struct metrics_gauges *g);
void metrics_summarize(const struct metrics *m, struct metrics_summary *s);

/* The whole exposition in text format 0.0.4 into *text (coord_malloc'd,
 * NUL-terminated; the caller coord_frees it) and its length. 0 or
 * COORD_ENOMEM. */
int metrics_render(const struct metrics *m, char **text, size_t *len);

/* Fills the gauges from the node and publishes them (node.c's tick). */
void node_metrics_publish(struct node *n);

/* ---- HTTP server -------------------------------------------------------- */

/* Listens on host:port (port 0: any; a numeric address or a name) and
 * serves GET /metrics from its own thread. 0, or COORD_EIO with a message
 * in err naming the address and the cause. */
int metrics_http_start(struct metrics_http **out, struct metrics *m,
                       const char *host, uint16_t port, char *err,
                       size_t errlen);
/* The port bound (useful with port 0). */
uint16_t metrics_http_port(const struct metrics_http *h);
/* Stops the thread, closes the socket, frees h. NULL is ignored. */
void metrics_http_stop(struct metrics_http *h);

#endif /* COORDD_METRICS_H */
