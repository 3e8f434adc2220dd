/* sim.h -- the deterministic Raft simulator (test/sim/): shared types.
 *
 * One process, one thread, one seed. The world holds N real raft cores
 * (coordd/raft/raft.h, driven only through raft_step/raft_status), a
 * simulated disk per node (durable store + FIFO of pending persist batches),
 * a simulated network (per-link delay, loss, duplication, cuts), per-node
 * clocks with drift, a client workload and a nemesis. An omniscient checker
 * (check.c) verifies the Raft invariants after every raft_step.
 *
 * Everything random comes from struct sim_rng streams derived from the seed;
 * nothing here may read a clock or depend on addresses, so a seed replays
 * exactly. The simulator must never reach into the core's internals: what it
 * knows about a node it learns from updates and raft_status.
 */
#ifndef TEST_SIM_SIM_H
#define TEST_SIM_SIM_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "coordd/raft/raft.h"

#define SIM_NODES_MAX 8   /* node ids 1..SIM_NODES_MAX */
#define SIM_KEYS 8        /* keys of the simulated KV state machine */
#define SIM_TRACE_RING 64 /* trace lines kept for a failure report */
#define SIM_TRACE_LINE 200
#define SIM_READS_MAX 64 /* pending reads per node */

/* ---- PRNG: xoshiro256**, seeded through splitmix64 --------------------- */
struct sim_rng {
    uint64_t s[4];
};
void sim_rng_seed(struct sim_rng *g, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(struct sim_rng *g);
uint64_t sim_rng_below(struct sim_rng *g, uint64_t n); /* [0, n), n > 0 */
uint64_t sim_rng_range(struct sim_rng *g, uint64_t lo, uint64_t hi); /* [lo,hi] */
double sim_rng_unit(struct sim_rng *g);                 /* [0, 1) */
bool sim_rng_chance(struct sim_rng *g, double p);
uint64_t sim_rng_exp(struct sim_rng *g, uint64_t mean); /* exponential */
uint64_t sim_hash(uint64_t h, const void *data, uint32_t len);
uint64_t sim_mix(uint64_t a, uint64_t b);

/* ---- owned log entry (durable store, persist batches) ------------------ */
struct sim_ent {
    uint64_t index;
    uint64_t term;
    uint8_t type;
    uint32_t len;
    uint8_t *data;
    uint64_t h; /* chain hash h_i = H(h_{i-1}, entry) */
};

/* The simulated state machine: a KV of SIM_KEYS keys holding write ids, the
 * chain hash of everything applied, and the configuration in force. */
struct sim_sm {
    uint64_t applied;
    uint64_t term; /* term of the entry at applied */
    uint64_t h;    /* chain hash at applied */
    uint64_t kv[SIM_KEYS];
    uint64_t writes; /* normal entries applied */
    struct raft_conf conf;
    uint64_t conf_index;
};

/* One persist batch: the durable effect of one update, atomic. */
struct sim_batch {
    struct sim_batch *next;
    uint64_t done_at;
    uint64_t seq;
    bool hs;
    uint64_t term, vote;
    uint64_t trunc;
    struct sim_ent *ents;
    uint32_t n;
    bool install;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
};

/* What survives a crash. The log is contiguous; log[0].index is
 * snap.index + 1 when n > 0. */
struct sim_store {
    uint64_t term, vote;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    uint64_t snap_h; /* chain hash at snap.index (from the snapshot data) */
    struct sim_ent *log;
    uint32_t n, cap;
};

/* The checker's copy of a node's in-memory log, rebuilt from updates: for
 * index base+1+k, term[k], h[k]. base is the snapshot point (h = base_h). */
struct sim_shadow {
    uint64_t base, base_term, base_h;
    uint64_t *term, *h;
    uint32_t n, cap;
};

struct sim_read {
    uint64_t id;
    uint64_t bound; /* highest commit anywhere when the read was issued */
    uint64_t index; /* the read index, once answered */
    bool answered;
};

struct sim_world;

struct sim_node {
    struct sim_world *w;
    uint64_t id;
    bool started;    /* has run at least once (owns storage) */
    bool up;
    bool removed;    /* a committed configuration dropped it: never again */
    bool was_member; /* appeared in a committed configuration */
    uint32_t inc;    /* incarnation: bumps at every crash */
    struct raft *r;
    struct sim_store st;
    struct sim_batch *q_head, *q_tail;
    uint64_t disk_free_at;
    uint64_t disk_mult; /* per-node disk slowness multiplier (percent) */
    struct sim_sm sm;
    uint8_t *rx; /* pending received snapshot */
    uint64_t rx_len, rx_cap;
    struct sim_shadow sh;
    /* last raft_status seen */
    uint64_t commit, term, leader;
    uint8_t role;
    uint64_t tick_period;
    uint64_t applied_told; /* last APPLIED stepped */
    bool want_snap;
    bool shutdown; /* stop at the end of this event (removed) */
    struct sim_read reads[SIM_READS_MAX];
    uint32_t n_reads;
};

/* A message in flight: a deep copy made at send time. */
struct sim_msg {
    struct raft_msg m; /* entries/chunk point into this allocation */
};

enum sim_ev_kind {
    SIM_EV_TICK = 1,
    SIM_EV_DELIVER = 2,
    SIM_EV_DISK = 3,
    SIM_EV_WORK = 4,
    SIM_EV_NEMESIS = 5,
    SIM_EV_RESTART = 6,
    SIM_EV_CRASH = 7, /* a crash aimed at a node's incarnation */
};

struct sim_ev {
    uint64_t at, seq;
    uint8_t kind;
    uint8_t node; /* slot index (id - 1) */
    uint32_t inc;
    struct sim_msg *msg;
};

/* Per-seed fault and workload profile ("swarm" parameters). */
struct sim_swarm {
    uint32_t n_voters;
    double drop, dup;
    uint64_t delay_min, delay_mean;
    uint64_t disk_min, disk_mean;
    double disk_coalesce;
    uint64_t tick_base;
    uint32_t drift_pct;
    uint64_t nemesis_mean;
    bool brutal; /* crash-heavy profile with one-entry APPENDs */
    double p_crash_leader; /* chance a crash targets the leader */
    uint64_t down_mean;    /* mean downtime after a crash */
    double p_leader_kill;  /* chance a new leader crashes soon after */
    double p_partition, p_heal, p_crash, p_restart, p_oneway;
    uint64_t work_mean;
    double p_idle;
    double w_propose, w_read, w_conf, w_transfer;
    uint32_t snap_every;
    struct raft_config cfg; /* shared core config (id, seed per node) */
};

struct sim_committed {
    uint64_t h, wid, term;
    uint64_t cterm; /* current term of the node that first saw it committed */
};

struct sim_prop {
    uint64_t wid, index, term;
    uint8_t node;
    uint32_t inc;
    uint8_t status; /* 0 pending, 1 committed, 2 failed */
};

struct sim_world {
    uint64_t seed;
    uint64_t now;
    uint64_t step;       /* events processed */
    uint64_t steps_max;  /* safety phase length */
    bool liveness;       /* faults healed, checking convergence */
    int trace_mode;      /* 0 off, 1 ring only, 2 print everything */
    bool no_leader_hs;   /* --no-leader-hs: skip I8's leader check */
    struct sim_rng r_net, r_disk, r_clock, r_work, r_nem;
    struct sim_swarm sw;
    struct sim_node nodes[SIM_NODES_MAX];
    uint32_t n_slots; /* slots usable this seed */
    struct raft_conf boot;
    bool cut[SIM_NODES_MAX][SIM_NODES_MAX]; /* cut[from][to] */
    bool paused;      /* workload idle phase */
    /* event heap */
    struct sim_ev *heap;
    uint32_t heap_n, heap_cap;
    uint64_t ev_seq;
    /* workload */
    uint64_t next_wid, next_read;
    struct sim_prop *props;
    uint32_t n_props, cap_props;
    uint64_t conf_seen; /* highest committed CONF index processed */
    /* checker */
    struct sim_committed *com; /* by index */
    uint64_t com_cap, com_max; /* com_max: highest committed index known */
    uint64_t leader_commit_max; /* highest commit any leader reached */
    uint64_t *wid_at;          /* wid -> committed index */
    uint64_t wid_cap;
    uint64_t *leader_of;       /* term -> leader id */
    uint64_t leader_cap;
    uint64_t *emap_key, *emap_val; /* (index,term) -> h, open addressing */
    uint64_t emap_cap, emap_n;
    /* failure */
    bool failed;
    char why[512];
    jmp_buf *escape;
    /* trace ring */
    char ring[SIM_TRACE_RING][SIM_TRACE_LINE];
    uint32_t ring_n;
    /* statistics */
    uint64_t n_elections, n_snap_installs, n_crashes, n_commits, n_reads_ok;
    uint64_t n_conf, n_partitions, n_msgs;
    uint64_t trace_hash; /* hash of the event sequence (determinism) */
};

/* world.c */
void sim_world_init(struct sim_world *w, uint64_t seed, uint64_t steps,
                    int trace_mode);
extern bool sim_no_leader_hs; /* set by main.c */
void sim_world_free(struct sim_world *w);
/* Runs the safety phase then the liveness phase; returns 0 or -1 (w->why). */
int sim_world_run(struct sim_world *w);
void sim_trace(struct sim_world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sim_fail(struct sim_world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct sim_node *sim_node_by_id(struct sim_world *w, uint64_t id);

/* check.c: the observer. Each returns normally; violations call sim_fail. */
void sim_check_reset(struct sim_world *w);
void sim_check_free(struct sim_world *w);
/* after an update's log changes were mirrored into the shadow log */
void sim_check_status(struct sim_world *w, struct sim_node *n,
                      const struct raft_status *st, uint64_t prev_commit,
                      uint8_t prev_role, uint64_t prev_term);
void sim_check_append(struct sim_world *w, struct sim_node *n,
                      uint64_t index, uint64_t term, uint64_t h);
void sim_check_apply(struct sim_world *w, struct sim_node *n,
                     const struct raft_entry *e, uint64_t h, uint64_t wid);
void sim_check_durable_hs(struct sim_world *w, struct sim_node *n,
                          uint64_t term, uint64_t vote);
void sim_check_read(struct sim_world *w, struct sim_node *n,
                    const struct sim_read *rd);
void sim_check_snapshot(struct sim_world *w, struct sim_node *n,
                        uint64_t index, uint64_t h);
bool sim_store_has(const struct sim_store *st, uint64_t index, uint64_t h);
uint64_t sim_shadow_h(const struct sim_shadow *sh, uint64_t index,
                      bool *found);
uint64_t sim_shadow_last(const struct sim_shadow *sh);

#endif /* TEST_SIM_SIM_H */
