/* raft.h -- the consensus core of coordd: Raft as a pure state machine.
 *
 * The core does no I/O, reads no clock, calls no random source but the PRNG
 * seeded through raft_config, and allocates nothing after raft_init(). The
 * caller (coordd/node.c in the server, test/sim in the simulator) feeds it one
 * event at a time with raft_step() and carries out the returned update.
 *
 * THE CALLER'S CONTRACT (docs/raft.md explains each rule's source):
 *
 *  1. Persist. If update.persist_seq != 0, write in ONE atomic, synced batch:
 *     the hard state (term, vote) if hs_changed; the deletion of log entries
 *     >= truncate_from if truncate_from != 0; then the entries. When that
 *     batch is durable, step RAFT_EV_PERSISTED with that seq. Batches must
 *     become durable in seq order (acking seq N acks every seq <= N); several
 *     updates may be coalesced into one fsync (group commit).
 *  2. Send. Every message in update.msgs may be sent at once, even before the
 *     persist of the same update completes: the core itself holds back the
 *     messages that may only leave after a persist (vote and pre-vote
 *     responses, append responses) and releases them in the update of the
 *     RAFT_EV_PERSISTED step that covers what they depend on. The leader's
 *     own entries count toward the commit quorum only after PERSISTED.
 *  3. Apply. update.committed holds entries that a quorum has made durable,
 *     in index order, each exactly once. Apply them in order, then step
 *     RAFT_EV_APPLIED with the last index applied.
 *  4. Reads. update.reads holds read-index results: (id, index, status). A
 *     read with status 0 may be served once the state machine has applied
 *     index. Non-zero status (COORD_ENOTLEADER, COORD_EUNAVAILABLE, ...)
 *     means the read failed and may be retried.
 *  5. Snapshots. The caller takes snapshots of its state machine and steps
 *     RAFT_EV_SNAPSHOT_TAKEN (index <= applied, size in bytes); the core then
 *     may compact its log below it. A leader that needs to bring a follower
 *     up by snapshot emits RAFT_MSG_SNAPSHOT messages with offset and
 *     chunk_len set and chunk == NULL: before sending, the caller fills chunk
 *     with bytes [offset, offset + chunk_len) of its latest snapshot (whose
 *     index is msg.snap.index). A follower's core accepts a chunk through
 *     update.chunk: the caller appends those bytes to a pending snapshot.
 *     When update.snapshot_install is set, the caller makes the pending
 *     snapshot durable together with its metadata (update.snap) and drops the
 *     log as update.truncate_from says, loads its state machine from it, and
 *     steps RAFT_EV_SNAPSHOT_PERSISTED.
 *     Details (added with the implementation): an update with
 *     snapshot_install set never carries a persist batch (persist_seq is 0
 *     then, and truncate_from belongs to the install: 0 keeps the log
 *     after snap.index, else entries >= truncate_from go); the install must
 *     be durable before any later persist batch is written. An update.chunk
 *     with chunk_offset 0 starts a new pending snapshot (drop any earlier
 *     partial one). The follower's core answers the leader (APPEND_RESP,
 *     index = snap.index) only in the update of SNAPSHOT_PERSISTED, and
 *     ignores APPENDs while an install is outstanding.
 *  6. Committed entries are handed out only once they are durable locally
 *     too (a quorum may commit before the leader's own fsync, §10.2.1, but
 *     the caller never applies what its own log could still lose).
 *
 * Lifetime: every pointer in an update, and every raft_entry's data, is
 * borrowed from the core and valid until the next raft_step() on the same
 * struct raft. Pointers in an event are borrowed from the caller for the
 * duration of raft_step() only: the core copies what it keeps.
 *
 * Node ids are non-zero; 0 (RAFT_NONE) means "nobody".
 */
#ifndef COORDD_RAFT_H
#define COORDD_RAFT_H

#include <stdbool.h>
#include <stdint.h>

#define RAFT_NONE 0
/* A HEARTBEAT's ctx when it only tells the commit index (no read round is
 * 0: rounds carry their term, >= 1, in the top half). Not answered. */
#define RAFT_CTX_NOTICE 0

/* Members of a configuration (voters + learners). Fixed upper bound so all
 * tables are sized at init. Matches COORDD_MEMBERS_MAX. */
#define RAFT_MEMBERS_MAX 16
/* Bytes of opaque application context carried by a configuration change
 * (coordd puts the new member's client and peer addresses there). */
#define RAFT_CONF_CTX_BYTES_MAX 256

enum raft_role {
    RAFT_FOLLOWER = 1,
    RAFT_PRECANDIDATE = 2,
    RAFT_CANDIDATE = 3,
    RAFT_LEADER = 4,
};

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 1, /* application command */
    RAFT_ENTRY_NOOP = 2,   /* appended by each new leader (§5.4.2, §6.4) */
    RAFT_ENTRY_CONF = 3,   /* configuration; payload from raft_conf_encode */
};

struct raft_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;        /* enum raft_entry_type */
    uint32_t len;
    const uint8_t *data; /* borrowed; see "Lifetime" above */
};

enum raft_member_role {
    RAFT_VOTER = 1,
    RAFT_LEARNER = 2,
};

struct raft_member {
    uint64_t id;
    uint8_t role; /* enum raft_member_role */
};

/* A configuration: members sorted by id, no duplicates. */
struct raft_conf {
    uint32_t n;
    struct raft_member members[RAFT_MEMBERS_MAX];
};

enum raft_conf_change_type {
    RAFT_CONF_ADD_LEARNER = 1, /* add a non-voting member */
    RAFT_CONF_PROMOTE = 2,     /* learner -> voter (should be caught up) */
    RAFT_CONF_DEMOTE = 3,      /* voter -> learner */
    RAFT_CONF_REMOVE = 4,      /* remove a voter or learner */
};

/* Snapshot metadata: the last entry it covers and the configuration as of
 * that entry (dissertation ch. 5: a snapshot keeps the latest configuration
 * of the prefix it replaces). */
struct raft_snapshot_meta {
    uint64_t index;
    uint64_t term;
    uint64_t size; /* bytes of snapshot data */
    struct raft_conf conf;
};

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,      /* AppendEntries (also empty, as heartbeat) */
    RAFT_MSG_APPEND_RESP = 2,
    RAFT_MSG_VOTE = 3,        /* RequestVote */
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_PREVOTE = 5,     /* dissertation §9.6 */
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_HEARTBEAT = 7,   /* carries commit and a read-index context */
    RAFT_MSG_HEARTBEAT_RESP = 8,
    RAFT_MSG_SNAPSHOT = 9,    /* one InstallSnapshot chunk */
    RAFT_MSG_SNAPSHOT_RESP = 10,
    RAFT_MSG_TIMEOUT_NOW = 11, /* leadership transfer (§3.10) */
    RAFT_MSG_READ_INDEX = 12,  /* follower asks the leader for a read index */
    RAFT_MSG_READ_INDEX_RESP = 13,
};

/* One message. A flat struct: each type uses the fields its comment names;
 * the transport encodes exactly those (docs/raft.md has the table). */
struct raft_msg {
    uint8_t type; /* enum raft_msg_type */
    uint64_t from;
    uint64_t to;
    uint64_t term;
    /* APPEND: prev_index/prev_term; VOTE/PREVOTE: last log index/term;
     * APPEND_RESP: the follower's last index (success: match). */
    uint64_t index;
    uint64_t log_term;
    /* APPEND, HEARTBEAT: the leader's commit (capped for the receiver). */
    uint64_t commit;
    /* APPEND, HEARTBEAT: the leader's durable last index when it and the
     * receiver form a quorum of its committed configuration (pair commit,
     * docs/raft.md), else 0. */
    uint64_t durable;
    /* APPEND: entries, borrowed. */
    const struct raft_entry *entries;
    uint32_t n_entries;
    /* *_RESP: refused. APPEND_RESP with reject: the follower's hint for
     * fast backtracking (§3.5): the first index of the conflicting term
     * (hint_index) and that term (hint_term), or its last index + 1. */
    bool reject;
    uint64_t hint_index;
    uint64_t hint_term;
    /* VOTE/PREVOTE: sent because of a leadership transfer (ignore the
     * "heard from a leader recently" guard, §4.2.3). */
    bool transfer;
    /* HEARTBEAT, HEARTBEAT_RESP: read-index round context; a HEARTBEAT
     * with RAFT_CTX_NOTICE is a commit notice, never answered.
     * READ_INDEX, READ_INDEX_RESP: the read request id. */
    uint64_t ctx;
    /* READ_INDEX_RESP: the read index (0 with reject on failure). */
    uint64_t read_index;
    /* SNAPSHOT: the snapshot being sent, this chunk's offset and length,
     * and whether it is the last one; chunk is filled by the caller on the
     * sending side and borrowed from the receive buffer on the other.
     * SNAPSHOT_RESP: index = snap.index, offset = next offset wanted;
     * reject = restart from offset 0. */
    struct raft_snapshot_meta snap;
    uint64_t offset;
    uint32_t chunk_len;
    bool last;
    const uint8_t *chunk;
};

enum raft_event_type {
    RAFT_EV_TICK = 1,              /* one tick of logical time elapsed */
    RAFT_EV_RECV = 2,              /* msg arrived from a peer */
    RAFT_EV_PROPOSE = 3,           /* append application entries (leader) */
    RAFT_EV_READ_INDEX = 4,        /* linearizable read request */
    RAFT_EV_TRANSFER = 5,          /* transfer leadership */
    RAFT_EV_CONF_CHANGE = 6,       /* one membership change */
    RAFT_EV_PERSISTED = 7,         /* persist batch seq is durable */
    RAFT_EV_SNAPSHOT_PERSISTED = 8, /* received snapshot durable + loaded */
    RAFT_EV_APPLIED = 9,           /* state machine applied up to index */
    RAFT_EV_SNAPSHOT_TAKEN = 10,   /* caller snapshotted at index */
    RAFT_EV_UNREACHABLE = 11,      /* transport lost the link to peer */
};

struct raft_buf {
    const uint8_t *data;
    uint32_t len;
};

struct raft_event {
    uint8_t type; /* enum raft_event_type */
    union {
        struct raft_msg recv;                  /* RECV */
        struct {                               /* PROPOSE */
            const struct raft_buf *bufs;       /* one entry per buf */
            uint32_t n;
        } propose;
        struct {                               /* READ_INDEX */
            uint64_t id;                       /* unique per request */
        } read;
        struct {                               /* TRANSFER */
            uint64_t to;                       /* RAFT_NONE: best voter */
        } transfer;
        struct {                               /* CONF_CHANGE */
            uint8_t type;                      /* raft_conf_change_type */
            uint64_t id;
            const uint8_t *ctx;                /* app context, borrowed */
            uint32_t ctx_len;                  /* <= RAFT_CONF_CTX_BYTES_MAX */
        } conf;
        struct {                               /* PERSISTED */
            uint64_t seq;
        } persisted;
        struct {                               /* SNAPSHOT_PERSISTED */
            uint64_t index;
            uint64_t term;
        } snap_persisted;
        struct {                               /* APPLIED */
            uint64_t index;
        } applied;
        struct {                               /* SNAPSHOT_TAKEN */
            uint64_t index;
            uint64_t size;
        } snap_taken;
        struct {                               /* UNREACHABLE */
            uint64_t peer;
        } unreachable;
    };
};

struct raft_read {
    uint64_t id;
    uint64_t index; /* serve the read once applied >= index */
    int status;     /* 0 or a negative COORD_E* code */
};

/* What the caller must do after a raft_step(), in this order: persist (1),
 * send (2), apply (3), serve reads (4) -- see the contract above. */
struct raft_update {
    /* (1) persistence */
    uint64_t persist_seq;  /* 0: nothing to persist in this update */
    bool hs_changed;
    uint64_t term;
    uint64_t vote;
    uint64_t truncate_from; /* 0: none; else delete log entries >= it */
    const struct raft_entry *entries;
    uint32_t n_entries;
    /* snapshot receiving (follower) */
    bool chunk;             /* append chunk bytes to the pending snapshot */
    uint64_t chunk_offset;
    const uint8_t *chunk_data;
    uint32_t chunk_len;
    bool snapshot_install;  /* make pending snapshot durable, load it */
    struct raft_snapshot_meta snap;
    /* (2) messages */
    const struct raft_msg *msgs;
    uint32_t n_msgs;
    /* (3) apply */
    const struct raft_entry *committed;
    uint32_t n_committed;
    /* (4) reads */
    const struct raft_read *reads;
    uint32_t n_reads;
    /* notifications */
    bool state_changed;     /* role, leader or term changed */
    uint8_t role;
    uint64_t leader;
    bool want_snapshot;     /* in-memory log is large: snapshot soon */
    uint64_t propose_index; /* PROPOSE/CONF_CHANGE: index of the 1st entry */
};

struct raft_config {
    uint64_t id;                    /* this node, non-zero */
    uint32_t election_ticks;        /* timeout drawn in [e, 2e) */
    uint32_t heartbeat_ticks;
    uint32_t inflight_max;          /* APPENDs in flight per follower */
    uint32_t append_entries_max;    /* entries per APPEND */
    uint32_t append_bytes_max;      /* payload bytes per APPEND */
    uint64_t uncommitted_bytes_max; /* leader refuses proposals past it */
    uint32_t log_entries_max;       /* in-memory log capacity (entries) */
    uint64_t log_bytes_max;         /* in-memory log capacity (bytes) */
    uint32_t snapshot_chunk_bytes;
    uint32_t reads_max;             /* pending read-index requests */
    bool pre_vote;
    bool check_quorum;
    bool pair_commit;               /* leader sends msg.durable (above) */
    uint64_t seed;                  /* PRNG seed for election timeouts */
    /* Optional tracer: one line per decision, for tests and the sim. */
    void (*trace)(void *data, const char *line);
    void *trace_data;
};

/* The durable state a node restarts from: hard state, latest snapshot
 * (index 0 if none: then conf is the bootstrap configuration, identical on
 * every initial member) and the log entries after it. */
struct raft_restore {
    uint64_t term;
    uint64_t vote;
    struct raft_snapshot_meta snap;
    const struct raft_entry *entries; /* borrowed; contiguous from snap+1 */
    uint32_t n_entries;
};

struct raft_progress {
    uint64_t id;
    uint8_t role;   /* enum raft_member_role */
    uint64_t match;
    uint64_t next;
    uint8_t state;  /* 1 probe, 2 replicate, 3 snapshot */
    /* (the leader's own row: match = its durable last index) */
    bool recent_active;
};

struct raft_status {
    uint64_t id;
    uint8_t role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    uint64_t commit;
    uint64_t applied;
    uint64_t first_index; /* first entry held in memory */
    uint64_t last_index;
    uint64_t snap_index;
    uint64_t pair_commits; /* times the commit moved by pair commit here */
    struct raft_conf conf;
    uint32_t n_progress;  /* leader only */
    struct raft_progress progress[RAFT_MEMBERS_MAX];
};

struct raft; /* opaque; raft_int.h has the body */

/* Allocates *out and every table it will ever need, sized from cfg, then
 * loads rs (copied). Returns 0, COORD_EINVAL for a bad config or restore
 * state, COORD_ENOMEM. Caller frees with raft_close(). */
int raft_init(struct raft **out, const struct raft_config *cfg,
              const struct raft_restore *rs);
void raft_close(struct raft *r);

/* Feed one event; fill *out (zeroed by the core first). Returns 0 or a
 * negative COORD_E* code for events refused as a whole: PROPOSE on a
 * non-leader (COORD_ENOTLEADER; out->leader names the known leader),
 * PROPOSE past uncommitted_bytes_max or the log capacity (COORD_EAGAIN),
 * CONF_CHANGE while another is uncommitted or before the leader committed
 * an entry of its term (COORD_EBUSY), bad arguments (COORD_EINVAL). During
 * a leadership transfer PROPOSE returns COORD_EAGAIN and CONF_CHANGE
 * COORD_EBUSY. READ_INDEX is never refused as an event: past reads_max, or
 * without a known leader, the read comes back failed in update.reads. A
 * refused event leaves the state unchanged, but *out is still valid and
 * must be carried out (it may hold messages released earlier). */
int raft_step(struct raft *r, const struct raft_event *ev,
              struct raft_update *out);

void raft_status(const struct raft *r, struct raft_status *out);

/* Configuration entries: the core encodes the resulting configuration plus
 * the app context; the caller decodes committed CONF entries with this.
 * Returns 0 or COORD_ECORRUPT. ctx is borrowed from the entry's data. */
int raft_conf_decode(const struct raft_entry *e, struct raft_conf *conf,
                     uint8_t *change_type, uint64_t *change_id,
                     const uint8_t **ctx, uint32_t *ctx_len);

const char *raft_role_name(uint8_t role);
const char *raft_msg_name(uint8_t type);

#endif /* COORDD_RAFT_H */
