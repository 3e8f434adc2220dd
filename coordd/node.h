/* node.h -- the driver of coordd: it owns the Raft core, the tree, the
 * storage worker and the watch registry, and turns client frames into Raft
 * proposals and read-index requests, committed entries into tree applies,
 * replies and watch events. It carries out every raft_update in the order
 * raft.h's contract requires: persist (through the storage worker), send,
 * apply, serve reads.
 *
 * Threads: everything here runs on the loop thread except the storage
 * worker's completion callback, which only records a sequence number and
 * wakes the loop. node.c never blocks on disk.
 */
#ifndef COORDD_NODE_H
#define COORDD_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "coordd/limits.h"
#include "coordd/net/net.h"
#include "coordd/store/store.h"
#include "libcoord/shared/wire.h"

/* One member of the initial configuration. */
struct node_member {
    uint64_t id;
    char peer_host[64]; /* numeric IPv4 */
    uint16_t peer_port;
    char client_host[64];
    uint16_t client_port;
};

struct node_config {
    uint64_t id;
    uint64_t cluster_id;
    uint32_t tick_ms;
    uint32_t election_ticks;
    uint32_t heartbeat_ticks;
    bool pre_vote;
    bool check_quorum;
    bool pair_commit;
    uint32_t inflight_msgs_max;
    uint32_t append_bytes_max;
    uint64_t uncommitted_bytes_max;
    uint64_t snapshot_entries;   /* applied entries between snapshots */
    uint32_t snapshot_chunk_bytes;
    uint32_t snapshot_child_timeout_ms; /* kill a child this slow */
    uint32_t snapshot_hold_ms;   /* a full log holds writes this long */
    uint32_t snapshot_retry_ms;  /* pause after a failed child */
    uint32_t session_timeout_ms_min;
    uint32_t session_timeout_ms_max;
    uint32_t sessions_max;
    uint32_t watches_per_session_max;
    uint32_t watch_history_max;       /* changelog.h bounds */
    uint64_t watch_history_bytes_max;
    uint32_t conn_inflight_max;
    uint32_t nodes_max;
    uint32_t children_max;
    struct wire_limits limits;
    int64_t clock_offset_ms;     /* test-only: added to the wall clock */
    uint32_t log_rate_per_sec;   /* noisy log lines allowed per second */
    uint32_t slow_fsync_ms;      /* a persist round this slow: warn */
    uint32_t persist_spin_us;    /* store_worker_spin budget; 0: off */
    int32_t storage_nice;        /* storage thread's nice; 0: as is */
    bool log_aio;                /* appends from the loop (log_aio) */
    uint64_t corrupt_digest_at;  /* test-only: corrupt the tree there */
    /* Joining a running cluster: a new data directory bootstraps with
     * the other members as voters and this node out of the
     * configuration, until the leader's entries or snapshot replace it. */
    bool join;
    /* The initial configuration (all voters) used when the data directory
     * is new; 0 members: this node alone. */
    uint32_t n_members;
    struct node_member members[COORDD_MEMBERS_MAX];
    /* Called once on the loop thread when the node starts serving
     * (main.c tells systemd). May be NULL. */
    void (*on_ready)(void *data);
    void *on_ready_data;
    /* Called on the loop thread every watchdog_ms while the loop runs
     * (main.c pings systemd's watchdog: a hung loop stops the pings).
     * 0 or NULL: off. */
    uint32_t watchdog_ms;
    void (*on_watchdog)(void *data);
};

struct node;

/* Loads the durable state from s (borrowed; must outlive the node): the
 * latest snapshot into a tree, the log after it into the Raft core, and
 * starts the storage worker. Returns 0 or a COORD_E* code with a message
 * in errmsg. Caller frees with node_close(). */
int node_open(struct node **out, const struct node_config *cfg,
              struct store *s, char *errmsg, size_t errmsg_len);
/* The callbacks net/ calls into; data is the node. */
void node_net_callbacks(struct node *n, struct net_callbacks *cb);
/* Gives the node its loop (after net_init with node_net_callbacks) and
 * starts dialing the other members. Returns 0 or a COORD_E* code. */
int node_attach_net(struct node *n, struct net *net);
/* True once this node serves clients: it leads (single node) and has
 * applied everything committed before it started. */
bool node_ready(const struct node *n);
/* Waits for a snapshot being written and stops the storage worker once
 * everything queued is durable. Call before net_close(): those threads
 * wake the loop. */
void node_stop_threads(struct node *n);
/* Stops the threads if still running and frees everything. */
void node_close(struct node *n);

/* restore.c: offline, before any node runs on s. Makes the snapshot file
 * (coordctl snapshot save) the latest snapshot of the empty store s, with
 * cfg's members as the configuration; validates the file's checksum and
 * every byte of the tree first. COORD_EINVAL if s already holds state,
 * COORD_ECORRUPT / COORD_EIO for a bad or unreadable file; err says what
 * to do. */
struct node_restore_info {
    uint64_t index;    /* the snapshot's zxid */
    uint64_t nodes;    /* including "/" */
    uint32_t sessions; /* restored sessions: they expire unless resumed */
    uint64_t digest;   /* tree_digest() of the restored tree */
};
int node_restore_snapshot(const struct node_config *cfg, struct store *s,
                          const char *file, struct node_restore_info *out,
                          char *err, size_t cap);
/* The node's metrics registry (metrics.h); lives as long as the node. */
struct metrics *node_metrics(struct node *n);
/* Set once SIGTERM/SIGINT was handled and the loop should end. */
bool node_stopping(const struct node *n);

#endif /* COORDD_NODE_H */
