/* runner.h -- the fault runner's shared types: the cluster it drives, the
 * recorded client history, the nemesis schedule and the run's options.
 *
 * How it fits: build/test/fault/runner (the .c files here, mk/fault.mk)
 * starts a real coordd cluster on 127.0.0.x inside its own network and pid
 * namespaces, runs client threads (libcoord) that record every operation,
 * injects faults on a seeded schedule, heals, and checks the history with
 * the linearizability checker (test/fault/checker) plus convergence,
 * ephemeral and lock-fencing checks. docs/testing.md "Fault injection".
 *
 * What it must not do: touch anything outside its namespaces (iptables
 * rules live in the private netns; processes are stopped by PID), or pass
 * a run whose checks could not be made (an unchecked run fails).
 */
#ifndef COORD_TEST_FAULT_RUNNER_H
#define COORD_TEST_FAULT_RUNNER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "coord.h"
#include "test/fault/checker/checker.h"
#include "test/lib/proc.h"

#define FR_NODES_MAX 5
#define FR_WORKERS_MAX 32
#define FR_EPH_MAX 8
#define FR_LOCKERS_MAX 4
#define FR_STEPS_MAX 1024
/* Session timeout of the ephemeral owners; a leader pause lasts longer. */
#define FR_EPH_SESSION_MS 4000

/* Fault kinds, as bits of the --faults mask. */
enum fr_fault {
    FR_F_KILL = 1 << 0,        /* kill -9 a random node, restart */
    FR_F_KILL_LEADER = 1 << 1, /* kill -9 the leader, restart */
    FR_F_PAUSE = 1 << 2,       /* SIGSTOP/SIGCONT the leader */
    FR_F_PARTITION = 1 << 3,   /* iptables: majority, leader, bridge, 1-way */
    FR_F_POWER = 1 << 4,       /* kill -9 in power-loss mode (one or all) */
    FR_F_WIPE = 1 << 5,        /* wipe a follower, remove + re-add */
    FR_F_CLOCK = 1 << 6,       /* restart a node with another clock offset */
    FR_F_ALL = (1 << 7) - 1,
};

struct fr_options {
    uint64_t seed;
    int nodes;            /* 3 or 5 */
    int duration_s;       /* nemesis phase */
    int workers;          /* register client threads */
    int keys;             /* keys per generation */
    int rotate_ops;       /* operations per key generation */
    int eph;              /* ephemeral-owning child processes */
    int lockers;          /* lock-contending threads (0: off) */
    int think_ms;         /* max random pause between a client's ops */
    unsigned faults;      /* enum fr_fault mask */
    int fault_min_ms, fault_max_ms; /* how long one fault lasts */
    int heal_min_ms, heal_max_ms;   /* quiet gap between faults */
    char out_dir[256];    /* artifacts go to out_dir/<seed>/ */
    char faults_arg[256]; /* as given, for the rerun line */
    bool keep;            /* save artifacts even on success */
};

/* One node of the cluster (the tproc holds pid, addresses, dir, log). */
struct fr_node {
    struct tproc p;
    bool paused;
    bool power_loss;
    int64_t clock_offset_ms;
    char base_extra[512]; /* flags every incarnation gets */
    int restarts;
};

struct fr_cluster {
    int n;
    struct fr_node node[FR_NODES_MAX];
    uint64_t next_id;     /* for re-added (wiped) members */
    char servers[512];    /* client list of every node */
    uint64_t promote_id;  /* a re-added member still to promote, or 0 */
};

/* One recorded register operation (the checker's model). */
struct fr_op {
    uint32_t process;
    uint8_t f, status, result;
    char key[32];
    char value[40];
    int64_t expected;
    int64_t version;
    int64_t invoke_ns, complete_ns;
};

struct fr_opvec {
    struct fr_op *v;
    size_t n, cap;
};

/* A lock acquisition and its fenced write. */
struct fr_hold {
    int locker;
    uint64_t token;
    int64_t acq_invoke_ns, acq_done_ns;
    int64_t rel_done_ns;    /* release returned 0, else 0 */
    int fenced_rc;          /* the fenced multi's status */
    int64_t fenced_version; /* version the fenced set produced, or -1 */
};

struct fr_holdvec {
    struct fr_hold *v;
    size_t n, cap;
};

struct fr_eph {
    pid_t pid;
    int to_child, from_child; /* pipes */
    char path[64];
    uint64_t session;
    bool killed;
    int64_t killed_ns;
};

struct fr_run;

struct fr_worker {
    struct fr_run *run;
    int id;
    pthread_t th;
    uint64_t rng;
    struct fr_opvec ops;
    uint64_t ok, info, fail, expired;
};

struct fr_locker {
    struct fr_run *run;
    int id;
    pthread_t th;
    uint64_t rng;
    struct fr_holdvec holds;
    uint64_t errors;
};

struct fr_run {
    struct fr_options o;
    struct fr_cluster cl;
    int64_t t0_ns;
    atomic_bool stop_workers;
    atomic_uint_fast64_t ops_started;
    atomic_uint_fast64_t ok_total; /* register ops completed ok */
    struct fr_worker w[FR_WORKERS_MAX];
    struct fr_locker lk[FR_LOCKERS_MAX];
    struct fr_eph eph[FR_EPH_MAX];
    FILE *nemlog;       /* the executed schedule, as it happens */
    char nemlog_path[300];
    char tmp_dir[256];  /* per-run scratch (logs of every incarnation) */
    int checks_passed, checks_failed;
    int crashes;        /* coordd processes that exited on their own */
    int partitions, partitions_idle; /* cuts made; cuts that dropped none */
    char failures[4096];
};

/* ---- util (main.c) ---- */
int64_t fr_now_ns(void);
uint64_t fr_rand(uint64_t *s);
uint64_t fr_below(uint64_t *s, uint64_t n);
void fr_sleep_ms(int64_t ms);
/* Appends to the executed-schedule log with a timestamp (also stdout). */
void fr_log(struct fr_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fr_check(struct fr_run *r, const char *name, bool ok, const char *fmt,
              ...) __attribute__((format(printf, 4, 5)));

/* ---- cluster (cluster.c) ---- */
int fr_cluster_init(struct fr_run *r);
int fr_node_start(struct fr_run *r, int i, int timeout_ms);
void fr_node_kill(struct fr_run *r, int i);
/* Reaps nodes that exited by themselves (a crash: counted, logged). */
void fr_reap_crashed(struct fr_run *r);
void fr_node_pause(struct fr_run *r, int i, bool pause);
int fr_leader(struct fr_run *r);
int fr_wait_leader(struct fr_run *r, int timeout_ms);
int fr_iptables_init(void);
int fr_cut(int from, int to, struct fr_run *r); /* drop packets from->to */
int fr_heal_net(void);
/* Packets the NEMESIS chain dropped since its rules were added; -1 on
 * error. */
long long fr_dropped_packets(void);
int fr_wipe_rejoin(struct fr_run *r, int i);
int fr_promote_pending(struct fr_run *r, int timeout_ms);
struct coord_client *fr_client_to(const char *servers, int timeout_ms,
                                  int session_ms);
struct coord_client *fr_client_leader(struct fr_run *r, int timeout_ms);
void fr_cluster_stop(struct fr_run *r);
void fr_save_logs(struct fr_run *r, const char *dir);

/* ---- workload (workload.c) ---- */
int fr_workload_setup(struct fr_run *r);
void fr_workload_start(struct fr_run *r);
void fr_workload_stop(struct fr_run *r);
int fr_eph_spawn(struct fr_run *r, const char *self);
int fr_eph_child_main(const char *servers, const char *path);

/* ---- nemesis (nemesis.c) ---- */
void fr_nemesis_run(struct fr_run *r);
void fr_heal_all(struct fr_run *r);
const char *fr_fault_name(unsigned f);
unsigned fr_parse_faults(const char *s);

/* ---- checks (checks.c) ---- */
void fr_checks(struct fr_run *r, const char *report_path);
int fr_write_history(struct fr_run *r, const char *path);

#endif /* COORD_TEST_FAULT_RUNNER_H */
