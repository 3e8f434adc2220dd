/* raft_fixture.h -- an in-memory cluster of N raft cores for scripted unit
 * tests (test/unit/test_raft_*.c). Nothing happens by itself: the test
 * delivers or drops messages, makes persist batches durable, ticks and
 * crashes nodes by hand, so every interleaving in a test is explicit.
 *
 * Each node has a durable store (hard state, snapshot, log) that survives
 * rfx_crash(), pending (not yet durable) persist batches that do not, a toy
 * state machine (a hash chain over applied entries) and a snapshot made of
 * that state padded to snap_bytes. The fixture checks State Machine Safety
 * as it goes: two nodes applying different entries at one index abort.
 * Messages are deep-copied into the fixture's network queue; a message lost
 * to a cut link or a dead peer is reported to its sender as
 * RAFT_EV_UNREACHABLE, as coordd's transport does (rfx_drop is silent
 * loss). Not for
 * production use; allocates freely.
 */
#ifndef TEST_RAFT_FIXTURE_H
#define TEST_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "coordd/raft/raft.h"

#define RFX_NODES_MAX 8
#define RFX_LOG_MAX 8192
#define RFX_NET_MAX 8192
#define RFX_BATCH_MAX 1024
#define RFX_READS_MAX 256

struct rfx_entry {
    struct raft_entry e;
    uint8_t *buf; /* owned copy of e.data */
};

/* One not-yet-durable persist batch. */
struct rfx_batch {
    uint64_t seq;
    bool hs;
    uint64_t term, vote;
    uint64_t truncate_from;
    uint32_t n;
    struct rfx_entry *ents;
};

struct rfx_node {
    uint64_t id;
    struct raft *r;
    struct raft_config cfg;
    bool up;
    bool auto_persist; /* make every batch durable right away */
    /* durable */
    uint64_t term, vote;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    uint64_t snap_data_len;
    struct rfx_entry log[RFX_LOG_MAX]; /* log[i] holds index snap.index+1+i */
    uint32_t n_log;
    /* volatile */
    struct rfx_batch batches[RFX_BATCH_MAX];
    uint32_t n_batches;
    uint8_t *rcv_data; /* pending received snapshot */
    uint64_t rcv_len;
    bool install_pending;
    struct raft_snapshot_meta install_meta;
    uint64_t install_trunc;
    /* state machine */
    uint64_t applied;
    uint64_t sm_hash;
    uint64_t n_applied_normal;
    /* outputs seen */
    struct raft_read reads[RFX_READS_MAX];
    uint32_t n_reads;
    bool want_snapshot;
    uint64_t last_propose_index;
    int last_rc;
};

struct rfx_msg {
    struct raft_msg m;
    struct raft_entry *ents;
    uint8_t *data;
};

struct rfx {
    uint32_t n;
    struct rfx_node nodes[RFX_NODES_MAX];
    struct rfx_msg net[RFX_NET_MAX];
    uint32_t n_net;
    bool cut[RFX_NODES_MAX + 1][RFX_NODES_MAX + 1]; /* [from][to] */
    uint64_t snap_bytes;  /* snapshot size (>= 16) */
    /* State Machine Safety: the first entry applied at each index. */
    uint64_t applied_term[RFX_LOG_MAX * 4];
    uint64_t applied_hash[RFX_LOG_MAX * 4];
    bool trace;           /* print trace lines to stderr */
    uint64_t n_delivered;
};

/* A reasonable config for tests: election 10, heartbeat 1, pre-vote and
 * check-quorum on. */
void rfx_config_default(struct raft_config *cfg, uint64_t id);

/* n_voters voters (ids 1..n_voters) then n_learners learners; every node
 * starts from the same bootstrap configuration. cfg may be NULL (default);
 * its id is overwritten per node. */
void rfx_init(struct rfx *fx, uint32_t n_voters, uint32_t n_learners,
              const struct raft_config *cfg);
/* Adds a node that is not in the bootstrap configuration (to be added by a
 * configuration change); it starts with the bootstrap configuration plus
 * itself as a learner unless boot is given. */
void rfx_add_node(struct rfx *fx, uint64_t id, const struct raft_conf *boot);
void rfx_close(struct rfx *fx);

struct rfx_node *rfx_node(struct rfx *fx, uint64_t id);
struct raft *rfx_raft(struct rfx *fx, uint64_t id);

/* Step one event into node id and carry out the update (persist batches
 * are queued, not durable, unless auto_persist). Returns raft_step's rc. */
int rfx_step(struct rfx *fx, uint64_t id, const struct raft_event *ev);
void rfx_tick(struct rfx *fx, uint64_t id, uint32_t n);
void rfx_tick_all(struct rfx *fx, uint32_t n);
int rfx_propose(struct rfx *fx, uint64_t id, const char *data);
int rfx_read(struct rfx *fx, uint64_t id, uint64_t read_id);
/* Make node id's pending batches durable (all, or up to count) and ack. */
void rfx_persist(struct rfx *fx, uint64_t id);
void rfx_persist_n(struct rfx *fx, uint64_t id, uint32_t count);
void rfx_persist_all(struct rfx *fx);
/* Complete a pending snapshot install on node id. */
void rfx_install(struct rfx *fx, uint64_t id);
/* Snapshot node id's state machine at its applied index. */
int rfx_snapshot(struct rfx *fx, uint64_t id);

/* Network. Messages between cut nodes, or to/from down nodes, are dropped
 * when delivered. */
uint32_t rfx_count(struct rfx *fx, uint64_t from, uint64_t to, uint8_t type);
/* Find the i-th queued message matching (0 = any); NULL if none. */
struct rfx_msg *rfx_find(struct rfx *fx, uint64_t from, uint64_t to,
                         uint8_t type);
bool rfx_deliver_one(struct rfx *fx, uint64_t from, uint64_t to,
                     uint8_t type);
uint32_t rfx_deliver(struct rfx *fx, uint64_t from, uint64_t to,
                     uint8_t type); /* every match, in order */
uint32_t rfx_drop(struct rfx *fx, uint64_t from, uint64_t to, uint8_t type);
void rfx_isolate(struct rfx *fx, uint64_t id, bool cut);
void rfx_cut(struct rfx *fx, uint64_t a, uint64_t b, bool cut);
/* Persist everything and deliver every message until quiet (bounded). */
void rfx_stabilize(struct rfx *fx);
/* Same, dropping every message that matches (from, to, type; 0 = any). */
void rfx_stabilize_drop(struct rfx *fx, uint64_t from, uint64_t to,
                        uint8_t type);
/* Tick id until it campaigns, then stabilize; asserts it leads. */
void rfx_elect(struct rfx *fx, uint64_t id);
uint64_t rfx_leader(struct rfx *fx); /* the unique up leader of max term */

void rfx_crash(struct rfx *fx, uint64_t id);
void rfx_restart(struct rfx *fx, uint64_t id);

void rfx_status(struct rfx *fx, uint64_t id, struct raft_status *st);
uint64_t rfx_commit(struct rfx *fx, uint64_t id);
uint64_t rfx_last(struct rfx *fx, uint64_t id);
uint64_t rfx_term_at(struct rfx *fx, uint64_t id, uint64_t index);

/* Queue a hand-made message into the network (entries deep-copied). */
void rfx_inject(struct rfx *fx, const struct raft_msg *m);

/* cmocka group helpers: a fixture allocated per test in *state, closed
 * after it; and the role of node id (enum raft_role). */
int rfx_cmocka_setup(void **state);
int rfx_cmocka_teardown(void **state);
uint8_t rfx_role(struct rfx *fx, uint64_t id);

#endif /* TEST_RAFT_FIXTURE_H */
