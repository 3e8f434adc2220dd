/* coord_recipes.h -- coordination recipes built on the public libcoord API
 * (coord.h): an exclusive lock with fencing tokens, leader election, a
 * barrier and a double barrier (docs/recipes.md states what each one
 * guarantees and what it does not). Linked as build/librecipes.a. This
 * header must not expose libcoord internals: recipes use only coord.h.
 *
 * Every call here is a sync call: never call one from a libcoord callback
 * (the I/O thread). Functions return 0 or a negative COORD_E* code. */
#ifndef COORD_RECIPES_H
#define COORD_RECIPES_H

#include <stddef.h>
#include <stdint.h>

#include "coord.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timeouts: milliseconds; a negative value waits forever. */

/* ---- Exclusive lock ----------------------------------------------------
 * Ephemeral-sequential nodes PATH/lock-<guid>-<seq>; the lowest sequence
 * holds the lock; a waiter watches only its immediate predecessor (no herd
 * effect). <guid> is random per handle, so a create that returned
 * COORD_ECONNLOSS or COORD_ETIMEDOUT is resolved by finding our own node.
 * One handle is used by one thread at a time. */
struct coord_lock;

enum coord_lock_state {
    COORD_LOCK_FREE = 0,       /* this handle does not hold the lock */
    COORD_LOCK_HELD = 1,       /* held, session connected */
    COORD_LOCK_MAYBE_LOST = 2, /* held, but disconnected: the session may
                                  expire and the lock pass to another */
    COORD_LOCK_LOST = 3,       /* the session expired or was closed */
};

/* A handle for the lock at path on client c (borrowed; must outlive the
 * handle). The path is created (persistent, with its parents) on the
 * first acquire if missing. */
int coord_lock_new(struct coord_lock **out, struct coord_client *c,
                   const char *path);
/* Releases the lock if held, then frees the handle. */
void coord_lock_free(struct coord_lock *l);
/* Blocks until the lock is held (0), timeout_ms passes (COORD_ETIMEDOUT,
 * our node is removed), or an error. *token (may be NULL): the fencing
 * token, the zxid that created our lock node; it is larger for every
 * later acquisition of this lock anywhere in the cluster. COORD_EBUSY if
 * this handle already holds the lock. */
int coord_lock_acquire(struct coord_lock *l, int timeout_ms,
                       uint64_t *token);
/* Like acquire but does not wait: COORD_EBUSY if someone else holds it. */
int coord_lock_try(struct coord_lock *l, uint64_t *token);
/* Deletes our node. 0 also when the node was already gone (lost).
 * COORD_EINVAL if not held. On COORD_ECONNLOSS / COORD_ETIMEDOUT the
 * handle counts as released and the node goes with the session at the
 * latest; call again to retry the delete. */
int coord_lock_release(struct coord_lock *l);
/* enum coord_lock_state, from the handle and the client's session state:
 * "held" is this client's belief; only the server decides (see
 * coord_lock_check_op). */
int coord_lock_state(struct coord_lock *l);
/* The fencing token of the current hold (0 when not held). */
uint64_t coord_lock_token(struct coord_lock *l);
/* Adds "still the holder" to m: a CHECK of our own lock node (version 0;
 * lock nodes are never set). A multi containing it fails with
 * COORD_ENONODE (that op's error) once the lock is lost, and applies
 * atomically with the check otherwise. COORD_EINVAL if not held. */
int coord_lock_check_op(struct coord_lock *l, struct coord_multi *m);

/* ---- Leader election ---------------------------------------------------
 * Candidates are ephemeral-sequential nodes PATH/n-<guid>-<seq> carrying
 * the candidate's value; the lowest is the leader. The term is the czxid
 * of the leader's node (increases with every new leader). */
struct coord_election;

typedef void (*coord_elected_cb)(void *data, uint64_t term);

int coord_election_new(struct coord_election **out, struct coord_client *c,
                       const char *path);
/* Resigns if campaigning, then frees. */
void coord_election_free(struct coord_election *e);
/* Enters the election with value (copied, up to COORD_DATA_BYTES_MAX) and
 * blocks until elected (0, *term set), timeout_ms passes (COORD_ETIMEDOUT;
 * the candidacy is withdrawn) or an error. cb (optional) runs on the
 * calling thread, before return, once elected. */
int coord_election_campaign(struct coord_election *e, const void *value,
                            size_t len, int timeout_ms, uint64_t *term,
                            coord_elected_cb cb, void *data);
/* Withdraws the candidacy (leader or not). */
int coord_election_resign(struct coord_election *e);
/* 1 while this handle leads and its session is connected, else 0. */
int coord_election_is_leader(struct coord_election *e);

/* The current leader, for anyone (no candidacy needed). */
struct coord_leader_info {
    void *value;    /* len bytes + NUL; free with coord_free_mem() */
    size_t len;
    uint64_t term;  /* czxid of the leader's node */
};
/* COORD_ENONODE when there is no leader. w (optional): a one-shot child
 * watch on the election path, fired on any candidate change (read again).
 */
int coord_election_leader(struct coord_client *c, const char *path,
                          const struct coord_watcher *w,
                          struct coord_leader_info *out);

/* ---- Barrier -----------------------------------------------------------
 * The barrier is up while the node at path exists. */
int coord_barrier_set(struct coord_client *c, const char *path);
int coord_barrier_remove(struct coord_client *c, const char *path);
/* Blocks until the node is gone (0) or timeout_ms (COORD_ETIMEDOUT). */
int coord_barrier_wait(struct coord_client *c, const char *path,
                       int timeout_ms);

/* ---- Double barrier ----------------------------------------------------
 * n participants, each with a distinct name: enter blocks until n have
 * entered; leave blocks until all have left. Use a fresh path per round.
 */
int coord_dbarrier_enter(struct coord_client *c, const char *path,
                         const char *name, int n, int timeout_ms);
int coord_dbarrier_leave(struct coord_client *c, const char *path,
                         const char *name, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* COORD_RECIPES_H */
