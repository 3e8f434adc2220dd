/* coord_recipes.h -- coordination recipes built on the public libcoord API
 * (coord.h): an exclusive lock with fencing tokens, a read-write lock, a
 * counting semaphore, loss notification, leader election, a barrier, a
 * double barrier, a counter and a queue (docs/recipes.md states what each one
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
 * first acquire if missing. COORD_EINVAL for a NULL argument or a path
 * that is empty, relative, "/" or too long. */
COORD_API
int coord_lock_new(struct coord_lock **out, struct coord_client *c,
                   const char *path);
/* Releases the lock if held, then frees the handle. */
COORD_API
void coord_lock_free(struct coord_lock *l);
/* Blocks until the lock is held (0), timeout_ms passes (COORD_ETIMEDOUT,
 * our node is removed), or an error. *token (may be NULL): the fencing
 * token, the zxid that created our lock node; it is larger for every
 * later acquisition of this lock anywhere in the cluster. COORD_EBUSY if
 * this handle already holds the lock. */
COORD_API
int coord_lock_acquire(struct coord_lock *l, int timeout_ms,
                       uint64_t *token);
/* Like acquire but does not wait: COORD_EBUSY if someone else holds it. */
COORD_API
int coord_lock_try(struct coord_lock *l, uint64_t *token);
/* Deletes our node. 0 also when the node was already gone (lost).
 * COORD_EINVAL if not held. On COORD_ECONNLOSS / COORD_ETIMEDOUT the
 * handle counts as released and the node goes with the session at the
 * latest; call again to retry the delete. */
COORD_API
int coord_lock_release(struct coord_lock *l);
/* enum coord_lock_state, from the handle and the client's session state:
 * "held" is this client's belief; only the server decides (see
 * coord_lock_check_op). */
COORD_API
int coord_lock_state(struct coord_lock *l);
/* The fencing token of the current hold (0 when not held). */
COORD_API
uint64_t coord_lock_token(struct coord_lock *l);
/* Adds "still the holder" to m: a CHECK of our own lock node (version 0;
 * lock nodes are never set). A multi containing it fails with
 * COORD_ENONODE (that op's error) once the lock is lost, and applies
 * atomically with the check otherwise. COORD_EINVAL if not held. */
COORD_API
int coord_lock_check_op(struct coord_lock *l, struct coord_multi *m);

/* ---- Loss notification -------------------------------------------------
 * A handle that holds something (lock, read-write lock, semaphore slot,
 * leadership) can be told as soon as the client learns that the hold may
 * be or is lost. cb(data, state) runs ON THE LIBCOORD I/O THREAD, so it
 * must be quick and must not make sync calls (no recipe calls but the
 * *_state and *_token queries); state is one of:
 *   COORD_LOCK_MAYBE_LOST  the connection dropped (session DISCONNECTED):
 *                          the session may expire and the hold pass on;
 *   COORD_LOCK_LOST        final for this hold: the session EXPIRED or was
 *                          closed, or our node was deleted by someone else
 *                          (a watch on it; also found by the read below);
 *   COORD_LOCK_HELD        safe again: RECONNECTED and a read after it
 *                          found our node still there (only after a
 *                          MAYBE_LOST).
 * Reported once per change and per hold; nothing after the hold is
 * released (release waits for a running cb). Setting a callback costs one
 * extra read (an exists watch on our node) per acquisition; without one
 * a deleted node is not noticed (the *_state queries then rely on the
 * session state alone). cb NULL turns reporting off. Uses a libcoord state
 * listener (coord_add_state_listener). */
typedef void (*coord_hold_cb)(void *data, int state);
COORD_API
int coord_lock_on_loss(struct coord_lock *l, coord_hold_cb cb, void *data);

/* ---- Read-write lock ---------------------------------------------------
 * ZooKeeper's shared-lock recipe: ephemeral-sequential nodes
 * PATH/read-<guid>-<seq> and PATH/write-<guid>-<seq> in one sequence.
 * Readers share the lock, a writer holds it alone; requests are served in
 * arrival order (a reader queued behind a waiting writer waits for it, so
 * writers do not starve). A reader watches the last write node before it,
 * a writer its immediate predecessor: no herd effect. One hold per handle
 * at a time; one handle is used by one thread at a time. */
struct coord_rwlock;

enum coord_rwlock_mode {
    COORD_RWLOCK_READ = 1,
    COORD_RWLOCK_WRITE = 2,
};

/* As coord_lock_new (COORD_EINVAL for a NULL, relative or "/" path). */
COORD_API
int coord_rwlock_new(struct coord_rwlock **out, struct coord_client *c,
                     const char *path);
/* Releases if held, then frees. */
COORD_API
void coord_rwlock_free(struct coord_rwlock *l);
/* Blocks until held in mode (0), timeout_ms (COORD_ETIMEDOUT) or an
 * error; COORD_EINVAL for another mode, COORD_EBUSY if this handle holds.
 * *token: the czxid of our node. Every acquisition gets a larger token
 * than any acquisition that it excludes and that came before it (a
 * writer's token exceeds every earlier holder's; a reader's exceeds every
 * earlier writer's); readers holding together may finish in any order. */
COORD_API
int coord_rwlock_acquire(struct coord_rwlock *l, int mode, int timeout_ms,
                         uint64_t *token);
/* Does not wait: COORD_EBUSY when a conflicting node precedes ours (for
 * a reader: a writer holds or waits; for a writer: anyone). */
COORD_API
int coord_rwlock_try(struct coord_rwlock *l, int mode, uint64_t *token);
/* As coord_lock_release. */
COORD_API
int coord_rwlock_release(struct coord_rwlock *l);
/* The mode held (0 when none). */
COORD_API
int coord_rwlock_mode(struct coord_rwlock *l);
/* enum coord_lock_state, as coord_lock_state. */
COORD_API
int coord_rwlock_state(struct coord_rwlock *l);
COORD_API
uint64_t coord_rwlock_token(struct coord_rwlock *l);
/* As coord_lock_check_op: CHECK of our node, version 0. */
COORD_API
int coord_rwlock_check_op(struct coord_rwlock *l, struct coord_multi *m);
COORD_API
int coord_rwlock_on_loss(struct coord_rwlock *l, coord_hold_cb cb,
                         void *data);

/* ---- Semaphore ---------------------------------------------------------
 * At most n holders at once. n is stored as the decimal data of PATH by
 * the first handle; every handle must pass the same n. Holders are
 * ephemeral-sequential nodes PATH/holders/h-<guid>-<seq>; admission is
 * serialized by an exclusive lock at PATH/gate (waiters queue on it with a
 * predecessor watch each; only the gate's holder watches the holders
 * list), so there is no herd effect and waiters are admitted in arrival
 * order. One hold per handle; one thread per handle at a time. */
#define COORD_SEMAPHORE_MAX 10000 /* bound on n: the holders list is read
                                     whole at each admission */
struct coord_semaphore;

/* Creates PATH holding n (with missing parents) or checks the stored n:
 * COORD_EINVAL for a NULL argument, a relative or "/" path, n outside
 * 1..COORD_SEMAPHORE_MAX, or an existing PATH whose data is not n (a
 * mismatched n, or a node that is not a semaphore). Talks to the server. */
COORD_API
int coord_semaphore_new(struct coord_semaphore **out,
                        struct coord_client *c, const char *path, int n);
/* Releases if held, then frees. */
COORD_API
void coord_semaphore_free(struct coord_semaphore *s);
/* Blocks until one of the n slots is ours (0), timeout_ms
 * (COORD_ETIMEDOUT) or an error; COORD_EBUSY if this handle holds.
 * *token: the czxid of our holder node: unique, and larger for every
 * later admission. */
COORD_API
int coord_semaphore_acquire(struct coord_semaphore *s, int timeout_ms,
                            uint64_t *token);
/* Does not wait: COORD_EBUSY when all n slots are taken, or when another
 * handle is being admitted or waits (try never jumps the queue). */
COORD_API
int coord_semaphore_try(struct coord_semaphore *s, uint64_t *token);
/* As coord_lock_release. */
COORD_API
int coord_semaphore_release(struct coord_semaphore *s);
COORD_API
int coord_semaphore_state(struct coord_semaphore *s);
COORD_API
uint64_t coord_semaphore_token(struct coord_semaphore *s);
/* CHECK of our holder node (version 0): "still a holder". */
COORD_API
int coord_semaphore_check_op(struct coord_semaphore *s,
                             struct coord_multi *m);
COORD_API
int coord_semaphore_on_loss(struct coord_semaphore *s, coord_hold_cb cb,
                            void *data);

/* ---- Leader election ---------------------------------------------------
 * Candidates are ephemeral-sequential nodes PATH/n-<guid>-<seq> carrying
 * the candidate's value; the lowest is the leader. The term is the czxid
 * of the leader's node (increases with every new leader). */
struct coord_election;

typedef void (*coord_elected_cb)(void *data, uint64_t term);

COORD_API
int coord_election_new(struct coord_election **out, struct coord_client *c,
                       const char *path);
/* Resigns if campaigning, then frees. */
COORD_API
void coord_election_free(struct coord_election *e);
/* Enters the election with value (copied, up to COORD_DATA_BYTES_MAX) and
 * blocks until elected (0, *term set), timeout_ms passes (COORD_ETIMEDOUT;
 * the candidacy is withdrawn) or an error. cb (optional) runs on the
 * calling thread, before return, once elected. */
COORD_API
int coord_election_campaign(struct coord_election *e, const void *value,
                            size_t len, int timeout_ms, uint64_t *term,
                            coord_elected_cb cb, void *data);
/* Withdraws the candidacy (leader or not). */
COORD_API
int coord_election_resign(struct coord_election *e);
/* 1 while this handle leads and its session is connected (and, with a
 * loss callback set, its node was not found deleted), else 0. */
COORD_API
int coord_election_is_leader(struct coord_election *e);
/* Loss notification for the leadership (see coord_lock_on_loss): armed
 * when elected, off after resign. */
COORD_API
int coord_election_on_loss(struct coord_election *e, coord_hold_cb cb,
                           void *data);

/* The current leader, for anyone (no candidacy needed). */
struct coord_leader_info {
    void *value;    /* len bytes + NUL; free with coord_free_mem() */
    size_t len;
    uint64_t term;  /* czxid of the leader's node */
};
/* COORD_ENONODE when there is no leader. w (optional): a one-shot child
 * watch on the election path, fired on any candidate change (read again).
 */
COORD_API
int coord_election_leader(struct coord_client *c, const char *path,
                          const struct coord_watcher *w,
                          struct coord_leader_info *out);

/* ---- Barrier -----------------------------------------------------------
 * The barrier is up while the node at path exists. */
COORD_API
int coord_barrier_set(struct coord_client *c, const char *path);
COORD_API
int coord_barrier_remove(struct coord_client *c, const char *path);
/* Blocks until the node is gone (0) or timeout_ms (COORD_ETIMEDOUT). */
COORD_API
int coord_barrier_wait(struct coord_client *c, const char *path,
                       int timeout_ms);

/* ---- Double barrier ----------------------------------------------------
 * n participants, each with a distinct name: enter blocks until n have
 * entered; leave blocks until all have left. Use a fresh path per round.
 */
COORD_API
int coord_dbarrier_enter(struct coord_client *c, const char *path,
                         const char *name, int n, int timeout_ms);
COORD_API
int coord_dbarrier_leave(struct coord_client *c, const char *path,
                         const char *name, int timeout_ms);

/* ---- Counter -----------------------------------------------------------
 * A signed 64-bit value kept as the decimal data of a persistent node;
 * an add is a compare-and-set on the node's version, retried while other
 * writers conflict. */

/* Adds delta (may be negative) and sets *value (may be NULL) to the
 * result; a missing node (and its parents) is created holding delta.
 * COORD_EINVAL: bad argument, or the node's data is not a number;
 * COORD_ETOOBIG: the result would overflow; COORD_EBUSY: still
 * conflicting after 10 s. COORD_ECONNLOSS / COORD_ETIMEDOUT: the add may
 * or may not have happened (do not simply retry if a double add hurts). */
COORD_API
int coord_counter_add(struct coord_client *c, const char *path,
                      int64_t delta, int64_t *value);
/* The current value: COORD_ENONODE if there is no counter yet. */
COORD_API
int coord_counter_get(struct coord_client *c, const char *path,
                      int64_t *value);

/* ---- Queue -------------------------------------------------------------
 * A FIFO of persistent-sequential nodes PATH/q-<seq>: items survive their
 * producer and every session. Each item is taken by exactly one consumer,
 * in sequence order (items put concurrently by different producers are
 * ordered by the server). Waiting consumers watch the children list:
 * every put wakes every waiting consumer (a herd effect). */

/* Appends value (copied, up to the server's data limit); the queue's node
 * is created if missing. COORD_ECONNLOSS / COORD_ETIMEDOUT: the item may
 * or may not have been appended. */
COORD_API
int coord_queue_put(struct coord_client *c, const char *path,
                    const void *value, size_t len);
/* Removes the head and returns it in *value (len bytes plus a NUL; free
 * with coord_free_mem()) and *len (may be NULL). Waits up to timeout_ms
 * for an item (0: do not wait; negative: forever): COORD_ETIMEDOUT when
 * none came. COORD_ECONNLOSS / COORD_ETIMEDOUT during the take's delete:
 * the item may have been removed by us without our learning it, and is
 * then lost (delivery is at most once). */
COORD_API
int coord_queue_take(struct coord_client *c, const char *path,
                     int timeout_ms, void **value, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* COORD_RECIPES_H */
