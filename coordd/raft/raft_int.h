/* raft_int.h -- the body of struct raft and the helpers shared by the
 * .c files of coordd/raft. Never included outside coordd/raft/ and its tests.
 *
 * Layout of the in-memory log (log.c): a linear array of entries and a linear
 * byte arena holding their payloads in index order. Entry i (log_start < i <=
 * log_start + n_ents) is ents[i - log_start - 1]; its payload points into
 * arena. Compaction (snapshot.c) drops a prefix and slides both arrays down,
 * rebasing payload pointers, so every slice of entries handed out (persist,
 * committed, APPEND messages) is one contiguous array.
 *
 * Nothing here allocates after raft_init(); every table is sized from
 * struct raft_config.
 */
#ifndef COORDD_RAFT_INT_H
#define COORDD_RAFT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "coordd/raft/raft.h"

/* Progress states of a follower as seen by the leader. */
enum raft_prog_state {
    RAFT_PROG_PROBE = 1,     /* one APPEND at a time until a match is found */
    RAFT_PROG_REPLICATE = 2, /* pipelined: up to inflight_max in flight */
    RAFT_PROG_SNAPSHOT = 3,  /* InstallSnapshot in progress */
};

/* Bound on persist batches tracked between a persist and its ack; past it
 * the newest record is merged (acks become coarser, never wrong). */
#define RAFT_PERSIST_RECORDS 256
/* Entry slots past log_entries_max that only followers' appends, restore
 * and new leaders' no-ops may use: a log filled by proposals that never
 * committed must still take the no-op that lets a new leader commit them
 * (found by the simulator: a full log wedged a cluster). Every leadership
 * that ends before its no-op commits leaves that no-op behind, and none
 * can be dropped, so the reserve bounds the run of failed leaderships a
 * full log survives: it is log_entries_max / RAFT_LOG_RESERVE_DIV, at
 * least RAFT_LOG_RESERVE (a fixed 16 wedged simulator seed 11643 after
 * ~30 failed leaderships; docs/raft.md "Log capacity"). */
#define RAFT_LOG_RESERVE 16
#define RAFT_LOG_RESERVE_DIV 4
/* Bytes of one trace line. */
#define RAFT_TRACE_BYTES 256

struct raft_prog {
    uint64_t id;
    uint8_t role;          /* enum raft_member_role */
    uint8_t state;         /* enum raft_prog_state */
    bool paused;           /* probe: an APPEND is out, wait for a reply */
    bool recent_active;    /* heard from since the last quorum check */
    int8_t vote;           /* election tally: 0 none, 1 granted, -1 no */
    uint64_t match;
    uint64_t next;
    uint32_t ring;         /* slot of this member's in-flight ring */
    uint32_t in_head;      /* oldest in-flight APPEND */
    uint32_t in_count;
    uint64_t snap_index;   /* snapshot being sent (state SNAPSHOT) */
    uint64_t snap_term;
    uint64_t snap_offset;  /* bytes acknowledged so far */
    uint64_t read_ack;     /* highest read round this member confirmed */
    uint64_t durable_sent; /* highest msg.durable sent to it this term */
    uint64_t stall_match;  /* match when the stall count started */
    uint32_t stall_ticks;  /* ticks with APPENDs out and no progress */
};

/* A persist batch not yet acknowledged: what it made durable. */
struct raft_prec {
    uint64_t seq;
    uint64_t index; /* last index of the log when the batch was cut */
    uint64_t term;  /* term of that entry (ABA guard, bug 21) */
};

/* A message held until the persist batch seq is durable. */
struct raft_held {
    uint64_t seq;
    struct raft_msg msg;
};

/* A pending read-index request. */
struct raft_rd {
    uint64_t id;
    uint64_t from;   /* RAFT_NONE: local; else a follower that forwarded it */
    uint64_t index;  /* read index once fixed */
    uint64_t round;  /* leader: the heartbeat round that must confirm it;
                      * follower: the tick it was forwarded at */
    bool fixed;      /* index is set (leader had committed in its term) */
};

struct raft {
    struct raft_config cfg;
    uint64_t id;
    uint8_t role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    uint64_t ticks;         /* logical time, for trace lines */

    /* commit and apply */
    uint64_t commit;
    uint64_t handed;        /* last index given out in update.committed */
    uint64_t applied;       /* last index the caller reported applied */
    /* pair commit (replication.c): follower: the highest msg.durable of
     * this term's leader; leader: the highest msg.durable sent this term */
    uint64_t lead_durable;
    uint64_t durable_sent;
    uint64_t pair_commits;  /* follower: commits it made that way */

    /* in-memory log (log.c) */
    struct raft_entry *ents; /* log_entries_max + log_reserve slots */
    uint32_t n_ents;
    uint32_t log_reserve;    /* slots past log_entries_max (see above) */
    uint64_t log_start;      /* index before the first held entry */
    uint64_t log_start_term; /* its term */
    uint8_t *arena;
    uint64_t arena_cap;
    uint64_t arena_tail;     /* bytes in use from arena[0] */

    /* latest snapshot */
    uint64_t snap_index;
    uint64_t snap_term;
    uint64_t snap_size;
    struct raft_conf snap_conf;

    /* persistence (step.c) */
    uint64_t seq_last;      /* last persist seq handed out */
    uint64_t seq_acked;     /* last seq the caller acknowledged */
    uint64_t stable;        /* last log index known durable */
    struct raft_prec precs[RAFT_PERSIST_RECORDS];
    uint32_t prec_head, prec_count;
    bool hs_dirty;          /* this step changed term or vote */
    uint64_t trunc_from;    /* this step truncated from here (0: no) */
    uint64_t persist_from;  /* this step appended from here (0: no) */
    struct raft_held *held;
    uint32_t held_cap, held_head, held_count;

    /* outbox of the current step */
    struct raft_msg *msgs;
    uint32_t msgs_cap, n_msgs;
    struct raft_update *out;

    /* election (election.c) */
    uint32_t elapsed;       /* ticks since heard from leader / last check */
    uint32_t timeout;       /* randomized election timeout in [e, 2e) */
    uint32_t hb_elapsed;
    uint64_t prng;
    uint64_t self_vote_seq; /* candidate: own vote counts once acked */
    bool campaign_transfer; /* this campaign was started by TIMEOUT_NOW */

    /* leadership transfer */
    uint64_t transfer_to;
    uint32_t transfer_elapsed;

    /* configuration and progress (conf.c, progress.c) */
    struct raft_conf conf;
    uint64_t conf_index;    /* index of the entry that set conf (0: boot) */
    struct raft_prog prog[RAFT_MEMBERS_MAX];
    uint32_t n_prog;
    uint64_t *inflight;     /* RAFT_MEMBERS_MAX rings of inflight_max */
    bool ring_used[RAFT_MEMBERS_MAX];

    /* read index (read.c) */
    struct raft_rd *rds;
    uint32_t n_rds;
    struct raft_read *reads_out;
    uint32_t reads_out_cap, n_reads_out;
    uint64_t read_round;     /* last round started (heartbeat ctx) */
    uint64_t read_done;      /* last round confirmed */

    /* snapshot receiving (snapshot.c) */
    bool rcv_active;
    struct raft_snapshot_meta rcv_meta;
    uint64_t rcv_offset;
    bool installing;         /* install emitted or due, not yet persisted */
    bool install_due;        /* install decided, not yet emitted */
    uint64_t install_trunc;  /* truncate_from for the install update */
    uint64_t install_leader; /* who to answer when it is durable */

    char trace_buf[RAFT_TRACE_BYTES];
};

/* ---- log.c ---- */
int raft_log_init(struct raft *r);
void raft_log_free(struct raft *r);
uint64_t raft_log_last(const struct raft *r);
uint64_t raft_log_first(const struct raft *r);
/* Term of entry i, or 0 if i is not held (nor log_start). */
uint64_t raft_log_term(const struct raft *r, uint64_t i);
const struct raft_entry *raft_log_at(const struct raft *r, uint64_t i);
/* Room for n new proposals of bytes total (leader, within the limit). */
bool raft_log_fits(const struct raft *r, uint32_t n, uint64_t bytes);
/* Entry slots in all: log_entries_max + the reserve. */
uint64_t raft_log_cap(const struct raft *r);
/* Room for one entry of len bytes using the reserve (follower, no-op). */
bool raft_log_fits_reserve(const struct raft *r, uint64_t len);
/* Appends one entry at last + 1 (copied). Caller checked raft_log_fits. */
void raft_log_append(struct raft *r, uint64_t term, uint8_t type,
                     const uint8_t *data, uint32_t len);
/* Drops entries >= from (from > commit). Records it for the persist. */
void raft_log_truncate(struct raft *r, uint64_t from);
/* Drops entries <= upto (upto <= last), keeping their term for upto. */
void raft_log_compact(struct raft *r, uint64_t upto);
/* Resets the log to empty after index (term). */
void raft_log_reset(struct raft *r, uint64_t index, uint64_t term);
uint64_t raft_log_bytes(const struct raft *r, uint64_t from, uint64_t to);
bool raft_log_up_to_date(const struct raft *r, uint64_t index,
                         uint64_t term);

/* ---- progress.c ---- */
struct raft_prog *raft_prog_find(struct raft *r, uint64_t id);
void raft_prog_rebuild(struct raft *r);
void raft_prog_reset_all(struct raft *r);
bool raft_prog_inflight_full(const struct raft *r,
                             const struct raft_prog *p);
void raft_prog_inflight_add(struct raft *r, struct raft_prog *p,
                            uint64_t last);
void raft_prog_inflight_free_to(struct raft *r, struct raft_prog *p,
                                uint64_t index);
void raft_prog_become_probe(struct raft_prog *p);
void raft_prog_become_replicate(struct raft_prog *p);
/* Once per leader tick: a window with APPENDs out and no ack for a whole
 * election timeout lost its messages; probe again from match. */
void raft_prog_tick(struct raft *r, struct raft_prog *p);
uint32_t raft_quorum(const struct raft *r);
bool raft_is_voter(const struct raft *r, uint64_t id);
/* Highest index a quorum of voters holds durably. */
uint64_t raft_prog_quorum_match(struct raft *r);

/* ---- election.c ---- */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft_tick(struct raft *r);
void raft_campaign(struct raft *r, bool pre, bool transfer);
void raft_recv_vote(struct raft *r, const struct raft_msg *m);
void raft_recv_vote_resp(struct raft *r, const struct raft_msg *m);
void raft_tally_self(struct raft *r);
void raft_reset_timeout(struct raft *r);
bool raft_in_lease(const struct raft *r);

/* ---- replication.c ---- */
void raft_become_leader(struct raft *r);
void raft_send_append(struct raft *r, struct raft_prog *p, bool probe);
void raft_broadcast_append(struct raft *r);
void raft_broadcast_heartbeat(struct raft *r);
void raft_recv_append(struct raft *r, const struct raft_msg *m);
void raft_recv_append_resp(struct raft *r, const struct raft_msg *m);
void raft_recv_heartbeat(struct raft *r, const struct raft_msg *m);
void raft_recv_heartbeat_resp(struct raft *r, const struct raft_msg *m);
void raft_maybe_commit(struct raft *r);
/* Leader: the msg.durable for p (0 when pair commit does not apply). */
uint64_t raft_pair_durable(struct raft *r, struct raft_prog *p);
/* Leader, own log newly durable: tell followers that can use it. */
void raft_pair_notify(struct raft *r);
/* Follower: take msg.durable from the leader, commit what the pair holds. */
void raft_pair_learn(struct raft *r, uint64_t durable);
int raft_propose(struct raft *r, const struct raft_event *ev);
void raft_recv_timeout_now(struct raft *r, const struct raft_msg *m);
int raft_transfer(struct raft *r, uint64_t to);
void raft_transfer_check(struct raft *r, struct raft_prog *p);

/* ---- read.c ---- */
int raft_read_index(struct raft *r, uint64_t id, uint64_t from);
void raft_recv_read_index(struct raft *r, const struct raft_msg *m);
void raft_recv_read_index_resp(struct raft *r, const struct raft_msg *m);
void raft_read_ack(struct raft *r, struct raft_prog *p, uint64_t ctx);
void raft_read_advance(struct raft *r);
void raft_read_fail_all(struct raft *r, int status);
void raft_read_out(struct raft *r, uint64_t id, uint64_t index, int status);
void raft_read_expire(struct raft *r);

/* ---- snapshot.c ---- */
void raft_send_snapshot(struct raft *r, struct raft_prog *p);
void raft_recv_snapshot(struct raft *r, const struct raft_msg *m);
void raft_recv_snapshot_resp(struct raft *r, const struct raft_msg *m);
int raft_snapshot_taken(struct raft *r, uint64_t index, uint64_t size);
int raft_snapshot_persisted(struct raft *r, uint64_t index, uint64_t term);
void raft_conf_at(struct raft *r, uint64_t index, struct raft_conf *out,
                  uint64_t *conf_index);

/* ---- conf.c ---- */
uint32_t raft_conf_encoded_len(const struct raft_conf *c, uint32_t ctx_len);
void raft_conf_encode(const struct raft_conf *c, uint8_t type, uint64_t id,
                      const uint8_t *ctx, uint32_t ctx_len, uint8_t *buf);
const struct raft_member *raft_conf_member(const struct raft_conf *c,
                                           uint64_t id);
bool raft_conf_valid(const struct raft_conf *c);
int raft_conf_change(struct raft *r, const struct raft_event *ev);
/* After appending or truncating CONF entries: recompute conf. */
void raft_conf_refresh(struct raft *r);
void raft_conf_set(struct raft *r, const struct raft_conf *c,
                   uint64_t index);

/* ---- step.c ---- */
struct raft_msg *raft_msg_new(struct raft *r, uint8_t type, uint64_t to);
/* A response that may leave only once this step's persist is durable. */
struct raft_msg *raft_msg_held(struct raft *r, uint8_t type, uint64_t to);
void raft_hs_set(struct raft *r, uint64_t term, uint64_t vote);
void raft_hand_committed(struct raft *r);

/* ---- trace.c ---- */
void raft__trace(struct raft *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define raft_trace(r, ...)                                                   \
    do {                                                                     \
        if ((r)->cfg.trace != NULL)                                          \
            raft__trace((r), __VA_ARGS__);                                   \
    } while (0)

#endif /* COORDD_RAFT_INT_H */
