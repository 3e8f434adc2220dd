/* node_int.h -- the structs behind node.h, shared by node.c (Raft updates,
 * persistence, apply), request.c (client requests and their ordering) and
 * session.c (sessions, liveness, expiry). Private to those files and tests.
 *
 * Request ordering: every request of a connection sits in that
 * connection's FIFO until it is complete AND every request before it has
 * been answered, so the requests of a session complete in the order sent.
 * A write completes when its entry is applied; a linearizable read when its
 * read index is known and applied; a local read at once. Watch events are
 * written to the connection when the change is applied, which is before any
 * later read that reflects the change is executed.
 */
#ifndef COORDD_NODE_INT_H
#define COORDD_NODE_INT_H

#include <stdatomic.h>

#include "coordd/changelog.h"
#include "coordd/log.h"
#include "coordd/metrics.h"
#include "coordd/node.h"
#include "coordd/raft/raft.h"
#include "coordd/tree/tree.h"
#include "coordd/watch.h"

/* Requests proposed in one loop iteration before the batch is stepped
 * early (one PROPOSE event per batch). */
#define NODE_PROPOSE_BATCH_MAX 4096
/* Scan for expired sessions at most this often. */
#define NODE_SESSION_SCAN_MS 100
/* A leader whose loop did not scan for more than this past
 * max(NODE_SESSION_SCAN_MS, tick_ms) (scans come with ticks) was stalled
 * itself (a pause, a machine-wide I/O stall blocking its log writes, a
 * long snapshot pass): it could hear no one meanwhile, so every session's
 * clock is moved forward by the stall (dead sessions still expire, one
 * timeout plus the stalls later). */
#define NODE_SESSION_STALL_MS 100
/* Look for container/TTL nodes to clean up this often. */
#define NODE_CLEANUP_SCAN_MS 1000
/* Pending read-index batches in the core (one per loop iteration). */
#define NODE_READS_MAX 1024
/* Bytes of entry payloads the core keeps in memory beyond twice the
 * uncommitted bound: the log since the last snapshot. */
#define NODE_LOG_BYTES_MAX (512ull * 1024 * 1024)
/* Forwarded writes: hash buckets, and how long one may wait for its
 * entry before it fails with COORD_ECONNLOSS (outcome unknown). The
 * time counts from the first forward: a write re-forwarded to a new
 * leader (docs/cluster.md) keeps its original deadline. */
#define NODE_FWD_BUCKETS 4096
#define NODE_FWD_TIMEOUT_MS 5000
/* Followers tell the leader which sessions they heard from this often. */
#define NODE_LIVENESS_MS 100
/* Replicas record the tree digest at applied indexes that are multiples
 * of this, keep the last NODE_DIGESTS of them, and broadcast the latest
 * every NODE_DIGEST_SEND_MS; a mismatch at the same index is reported. */
#define NODE_DIGEST_EVERY 256
#define NODE_DIGESTS 64
#define NODE_DIGEST_SEND_MS 1000
/* A member that has known no leader for this many election timeouts
 * closes its client connections (and refuses new ones until it knows a
 * leader), so clients move to a part of the cluster that can serve them. */
#define NODE_NO_LEADER_TIMEOUTS 3
/* A linearizable read whose read index failed because leadership moved
 * (or no leader was known) asks again, until this many election timeouts
 * after its arrival; then the failure goes to the client. */
#define NODE_READ_RETRY_TIMEOUTS 3
/* After a snapshot child failed (crashed, killed, exited non-zero), the
 * next snapshot is not started before snapshot_retry_ms: a child that
 * fails at once every time must not become a fork per applied batch. */
/* Peer frame types of coordd's own (above Raft's message types). */
#define NODE_PEER_FORWARD 100
#define NODE_PEER_LIVENESS 101
#define NODE_PEER_DIGEST 102
#define NODE_PEER_REFUSED 103
/* Initial session hash buckets (grows by doubling). */
#define NODE_SESSION_BUCKETS_INITIAL 1024

enum nreq_state {
    NREQ_WRITE = 1, /* waiting for its entry to be applied */
    NREQ_READ = 2,  /* waiting for its read index, then for apply */
    NREQ_DONE = 3,  /* response encoded in resp */
};

struct nconn;

/* A member's addresses ("host:port"), as told by the config, a CONF
 * entry or the snapshot's configuration blob. */
struct node_addr {
    uint64_t id;
    char client[WIRE_ADDR_BYTES_MAX];
    char peer[WIRE_ADDR_BYTES_MAX];
};
/* Bytes of the addresses appended to a snapshot's configuration blob:
 * tag, count, then per member u64 id, u8 len + client, u8 len + peer. */
#define NODE_ADDRS_BLOB_MAX                                                  \
    (2 + RAFT_MEMBERS_MAX * (8 + 2 + 2 * WIRE_ADDR_BYTES_MAX))
#define NODE_CONF_BLOB_MAX (4 + RAFT_MEMBERS_MAX * 9 + NODE_ADDRS_BLOB_MAX)

struct nreq {
    struct nreq *next;      /* in the connection's FIFO */
    struct nreq *next_wait; /* in the write queue or the read list */
    struct nconn *conn;     /* NULL once the connection closed */
    uint32_t op;
    int64_t xid;
    int64_t t0_us;          /* arrival (metrics_now_us) */
    uint8_t state;          /* enum nreq_state */
    uint64_t index;         /* write: its log index; read: read index */
    uint64_t read_id;       /* read: its read-index batch; 0 = local */
    bool read_known;        /* read: index (or a failure) is known */
    bool waiting;           /* read: on the node's read wait list */
    int status;             /* read: failure of its read index */
    uint64_t session_id;    /* write: proposing session (HELLO: new) */
    uint8_t secret[COORD_SECRET_BYTES]; /* HELLO of a new session */
    uint32_t timeout_ms;    /* HELLO: negotiated timeout */
    uint8_t *frame;         /* read: copy of the request frame */
    /* forwarded to the leader: waiting for (session_id, xid) to apply */
    struct nreq *fwd_prev;
    struct nreq *fwd_next;
    struct nreq *fwd_hnext;
    int64_t fwd_ms;
    uint8_t *fwd_cmd;       /* its encoded command, kept to re-forward */
    uint32_t fwd_len;
    bool fwd_sent;          /* queued on the current leader's link */
    bool fwd_once;          /* queued on some link at least once */
    uint8_t fwd_sends;      /* times queued to a leader (saturating) */
    size_t frame_len;
    struct wire_buf resp;   /* done: the encoded response frame */
};

struct nsess {
    uint64_t id;
    uint32_t timeout_ms;
    int64_t last_ms;      /* leader's clock of the last sign of life */
    bool heard;           /* follower: heard from since the last relay */
    bool expiring;        /* expiry proposed, not applied yet */
    struct nconn *conn;   /* attached connection here, or NULL */
    struct watch_owner wo;
    struct nsess *hnext;
};

struct nconn {
    struct node *node;
    struct net_conn *nc;
    struct nsess *sess;   /* NULL until HELLO completes */
    struct nreq *head;    /* request FIFO */
    struct nreq *tail;
    uint32_t inflight;
    bool hello_seen;
    bool close_after;     /* close once the FIFO drains */
};

struct node {
    struct node_config cfg;
    struct raft *raft;
    struct tree *tree;
    struct store *store;
    struct store_worker worker;
    bool worker_started;
    struct net *net;
    struct watch_table watches;
    struct metrics *metrics; /* counters and gauges (metrics.h) */
    struct changelog changes; /* recent events, to replay (changelog.h) */
    /* sessions of the tree, with this server's view of them */
    struct nsess **sbuckets;
    uint32_t n_sbuckets;
    uint32_t n_sessions;
    /* writes waiting for apply, in index order */
    struct nreq *wq_head;
    struct nreq *wq_tail;
    /* reads waiting for their index or for apply */
    struct nreq *reads;
    /* writes forwarded to the leader (FIFO by time, hashed by key) */
    struct nreq *fwd_head;
    struct nreq *fwd_tail;
    struct nreq **fwd_buckets;
    uint32_t n_fwd;
    bool fwd_resend;      /* some not sent to the current leader yet */
    bool fwd_link_lost;   /* the link to the leader went down meanwhile */
    /* the latest snapshot's bytes (sent to followers in chunks) */
    uint8_t *snap_buf;
    size_t snap_len;
    /* a snapshot being received from the leader */
    uint8_t *rx_buf;
    size_t rx_len;
    size_t rx_cap;
    /* digests of recent checkpoints, and mismatches seen */
    uint64_t dg_index[NODE_DIGESTS];
    uint64_t dg_value[NODE_DIGESTS];
    uint64_t digest_mismatches;
    int64_t last_digest_ms;
    int64_t last_liveness_ms;
    int64_t no_leader_since_ms; /* 0 while a leader is known */
    int64_t last_watchdog_ms;
    struct log_rate expiry_log;  /* rate limit of "session expired" */
    struct log_rate slow_log;    /* rate limit of "slow fsync" */
    struct log_rate snap_log;    /* rate limit of "sending snapshot" */
    int64_t persist_since_ms;    /* oldest unacknowledged persist, or 0 */
    uint64_t persist_since_seq;
    bool shed_clients;          /* no leader for too long: refuse clients */
    struct raft_entry *rx_entries; /* decode scratch for APPEND */
    /* this iteration's proposals */
    struct raft_buf *pbufs;
    struct nreq **preqs;
    uint64_t *porigin; /* raw ones: the forwarding member (or our id) */
    uint32_t n_prop;
    /* this iteration's read-index batch */
    uint64_t next_read_id;
    uint64_t open_read_id; /* 0 = no read waits for a batch */
    /* persistence */
    atomic_uint_fast64_t durable_seq;
    uint64_t submitted_seq; /* the last persist request queued (loop) */
    atomic_int worker_err;
    uint64_t acked_seq;
    struct store_entry *sents;
    uint32_t sents_cap;
    /* Raft view */
    uint8_t role;
    uint64_t term;
    uint64_t leader;
    uint64_t applied;
    uint64_t applied_term;
    uint64_t start_index; /* last log index at start: ready once applied */
    bool ready;
    struct raft_conf conf; /* as of the applied index */
    uint64_t snap_index;
    struct node_snap_job *snap_job; /* a snapshot being written, or NULL */
    int64_t snap_retry_ms;  /* no snapshot before (net_now_ms), or 0 */
    uint32_t log_entries_max; /* the core's in-memory log capacity */
    struct node_export *export; /* admin.c: SNAPSHOT_READ's copy, or NULL */
    bool ready_notified;
    /* scratch */
    struct tree_cmd_buf *cmdbuf;
    struct tree_op *ops;
    struct wire_child *children;
    uint32_t n_children;
    struct wire_op_result *results;
    int64_t last_scan_ms;
    int64_t last_cleanup_ms;
    bool stopping;
    uint32_t stop_ticks;   /* ticks left for a leadership hand-over */
    /* admin.c: members' client addresses ("host:port"), and clients */
    struct node_addr addrs[COORDD_MEMBERS_MAX];
    uint32_t n_addrs;
    uint32_t n_conns;
    bool digest_corrupted; /* test-only hook fired */
    char errmsg[STORE_ERRMSG_BYTES + 256];
};

/* node.c */
int64_t node_wall_ms(const struct node *n);
void node_step(struct node *n, const struct raft_event *ev);
void node_flush_proposals(struct node *n);
int node_propose(struct node *n, struct nreq *rq, const struct tree_cmd *c);
/* A command already encoded (bytes copied), forwarded by member origin
 * (our own id: one of our held writes). 0, COORD_ENOMEM, or COORD_EAGAIN
 * (the batch is full and held behind a snapshot: nothing was taken). A
 * batch that fails later tells its origins (node_forward_refused). */
int node_propose_raw(struct node *n, const uint8_t *p, uint32_t len,
                     uint64_t origin);
void node_queue_write(struct node *n, struct nreq *rq, uint64_t index);
void node_process_update(struct node *n, const struct raft_update *u);

uint32_t node_conf_encode(const struct raft_conf *c, uint8_t *out);
int node_conf_decode(const uint8_t *in, uint32_t len, struct raft_conf *c);

/* cluster.c */
int node_cluster_init(struct node *n);
void node_cluster_close(struct node *n);
int node_cluster_attach(struct node *n);
void node_send_msg(struct node *n, const struct raft_msg *m);
void node_forward_proposals(struct node *n);
bool node_take_forwarded(struct node *n, uint64_t session_id, uint64_t xid,
                         const struct tree_result *res);
void node_forward_fail_all(struct node *n, int err);
/* The leader did not propose cmd (forwarded by origin) for err (e.g. a
 * full log: COORD_EAGAIN): tells origin with a REFUSED frame, or, if it
 * is our own held write, fails it here, so its client learns at once
 * rather than after NODE_FWD_TIMEOUT_MS. */
void node_forward_refused(struct node *n, uint64_t origin,
                          const uint8_t *cmd, uint32_t len, int err);
/* The leader or the term changed: writes forwarded or batched here but
 * not yet applied are kept, with their encoded commands, to be sent again
 * once a leader is known (node_forward_resend). Safe because the tree
 * applies a (session, xid) at most once (docs/cluster.md). */
void node_forward_hold(struct node *n);
/* A write that cannot go to a leader yet (none known, or held writes are
 * still to be sent): kept (bytes owned) behind those, until it can. */
void node_forward_park(struct node *n, struct nreq *rq, void *buf,
                       uint32_t len);
/* If held writes wait and a leader is known: forwards them to it in their
 * arrival order, or proposes them here if this node leads. */
void node_forward_resend(struct node *n);
void node_cluster_tick(struct node *n);
void node_digest_record(struct node *n);
int node_on_peer_frame(void *data, struct net_conn *c, const uint8_t *msg,
                       size_t len);
void node_on_peer_up(void *data, uint64_t id, struct wire_buf *out);
void node_on_peer_down(void *data, uint64_t id);

/* node.c: starts a new snapshot of the tree as of now (a forked child
 * serializes it, docs/snapshots.md) and has it written; nothing if one is
 * being taken, nothing changed, the node is stopping, or a child failed
 * less than snapshot_retry_ms ago. Loop thread only. */
void node_take_snapshot(struct node *n);
/* True while this node's own snapshot is being taken (serialized or
 * written): the log is compacted when it completes. */
bool node_snapshot_running(const struct node *n);
/* For SNAPSHOT_READ: true while a snapshot is in flight whose bytes are
 * not all here yet (our own still serializing, or one being installed);
 * node_admin_snapshot_ended() is called when it ends. */
bool node_snapshot_pending(const struct node *n);
/* The newest serialized snapshot (collected and being written, or the
 * latest durable one) and its index, or NULL when there is none. Never
 * waits. Valid until the loop runs on. */
const uint8_t *node_snapshot_bytes(struct node *n, uint64_t *index,
                                   size_t *len);

/* admin.c */
void node_admin_init(struct node *n);
/* Every tick: drops an export abandoned mid-way (NODE_EXPORT_IDLE_MS). */
void node_admin_tick(struct node *n);
uint32_t node_addrs_encode(const struct node *n, const struct raft_conf *c,
                           uint8_t *out);
int node_addrs_decode(struct node *n, const uint8_t *in, uint32_t len);
void node_admin_dial(struct node *n);
void node_admin_request(struct node *n, struct nreq *rq,
                        const struct wire_req *q);
void node_admin_close(struct node *n); /* frees the snapshot export */
/* A snapshot job ended (taken, installed or failed): answers the export
 * requests parked for it (admin.c). */
void node_admin_snapshot_ended(struct node *n);
void node_admin_conf_applied(struct node *n, const struct raft_entry *e,
                             uint8_t type, uint64_t id, const uint8_t *ctx,
                             uint32_t ctx_len);

/* request.c */
int node_on_frame(void *data, struct net_conn *c, const uint8_t *msg,
                  size_t len);
int node_on_accept(void *data, struct net_conn *c);
void node_on_close(void *data, struct net_conn *c, int reason);
void node_complete_write(struct node *n, struct nreq *rq,
                         const struct tree_result *res);
void node_fail_req(struct node *n, struct nreq *rq, int err);
void node_conn_drain(struct nconn *cn);
void node_reads_advance(struct node *n);
void node_read_result(struct node *n, const struct raft_read *r);
void node_send_event(struct node *n, struct nconn *cn, uint8_t type,
                     const char *path, size_t len, uint64_t zxid);
void nreq_free(struct nreq *rq);
void node_requests_free(struct node *n);

/* session.c */
int node_sessions_init(struct node *n);
int node_sessions_load(struct node *n);
void node_sessions_close(struct node *n);
struct nsess *node_session_find(const struct node *n, uint64_t id);
struct nsess *node_session_add(struct node *n, uint64_t id,
                               uint32_t timeout_ms);
void node_session_remove(struct node *n, uint64_t id, bool expired);
void node_session_touch(struct node *n, struct nsess *s);
void node_sessions_reset_clocks(struct node *n);
void node_sessions_tick(struct node *n);
void node_session_attach(struct node *n, struct nsess *s, struct nconn *cn);
void node_cleanup_tick(struct node *n);
void node_sessions_reload(struct node *n);

#endif /* COORDD_NODE_INT_H */
