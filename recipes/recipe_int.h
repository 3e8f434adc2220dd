/* recipe_int.h -- helpers shared by the recipes (the recipes/ sources): a watch
 * waiter, deadlines, path creation and the ephemeral-sequential node
 * protocol (create with a per-handle GUID, find our node after a lost
 * reply, find the lowest node and our immediate predecessor). Internal to
 * recipes/; uses only the public coord.h API and never libcoord
 * internals. */
#ifndef RECIPE_INT_H
#define RECIPE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord.h"
#include "coord_recipes.h"

/* Memory: coord_alloc_mem() / coord_free_mem() (coord.h), libcoord's one
 * allocator, so tests' counting hooks see the recipes' allocations too. */

#define RCP_GUID_LEN 16       /* hex characters */
#define RCP_NAME_MAX 128      /* prefix-guid-seq */
#define RCP_PATH_MAX 512      /* recipe paths are kept short */

/* Tracked paths (rcp_node_await): the predecessor, the one before it
 * and our own node, in that order (RCP_SLOT_*). */
#define RCP_WAIT_SLOTS 3
#define RCP_SLOT_PRED 0
#define RCP_SLOT_PP 1
#define RCP_SLOT_OWN 2
/* Watches kept at once: the tracked ones plus those a waiter that gave
 * up its node (time-out, node deleted by someone else) left behind and
 * that have not fired yet; beyond that the waiter is leaked at free. */
#define RCP_ARM_SLOTS 6
/* How often one acquire queues a new node after its own was deleted by
 * someone else while it waited (docs/recipes.md) before it gives up
 * with COORD_ENONODE. */
#define RCP_REQUEUE_MAX 10

/* Wakes a thread when a one-shot watch fires. Freed with rcp_wait_free();
 * it is leaked (never freed) while a watch on it may still fire. It also
 * remembers which of up to RCP_WAIT_SLOTS tracked paths were reported
 * DELETED (rcp_wait_track / rcp_wait_gone). */
struct rcp_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t fired;              /* events seen */
    int armed;                   /* slots registered, not yet fired */
    int overflow;                /* registered with no slot free: leak */
    int armed_kind[RCP_ARM_SLOTS]; /* enum coord_watch_kind */
    char armed_path[RCP_ARM_SLOTS][RCP_PATH_MAX]; /* "" = free slot */
    bool confirmed[RCP_ARM_SLOTS]; /* known registered (rcp_wait_settle) */
    char track_path[RCP_WAIT_SLOTS][RCP_PATH_MAX];
    bool gone[RCP_WAIT_SLOTS];   /* a DELETED event for track_path[i] */
    uint64_t other;              /* events not such a deletion */
};

int rcp_wait_new(struct rcp_wait **out);
void rcp_wait_free(struct rcp_wait *w, struct coord_client *c);
uint64_t rcp_wait_seen(struct rcp_wait *w);
/* The watcher to pass to a read; call rcp_wait_armed() after the read
 * registered it (status 0). */
struct coord_watcher rcp_watcher(struct rcp_wait *w);
void rcp_wait_armed(struct rcp_wait *w, const char *path, int kind);
/* Until fired != seen (0), deadline (COORD_ETIMEDOUT) or the session ends
 * (COORD_ESESSIONEXPIRED / COORD_ECLOSED). */
int rcp_wait_until(struct rcp_wait *w, uint64_t seen, int64_t deadline,
                   struct coord_client *c);
/* Tracks the deletion of these paths (NULL or "" = none). A path tracked
 * before keeps what was seen of it: a deletion of a sequential node's
 * unique name never becomes untrue. */
void rcp_wait_track(struct rcp_wait *w, const char *const *paths);
/* Marks tracked path i as deleted (an exists answered COORD_ENONODE). */
void rcp_wait_set_gone(struct rcp_wait *w, int i);
/* Bit i set: tracked path i was reported deleted. *other (if not NULL):
 * how many events so far were not the deletion of a tracked path. */
unsigned rcp_wait_gone(struct rcp_wait *w, uint64_t *other);
/* Before a read that registers a watch on path: takes a slot (its index,
 * or -1 if none is free: w is then leaked, never freed), so that an event
 * arriving before the read's reply clears it. */
int rcp_wait_prearm(struct rcp_wait *w, const char *path, int kind);
/* After that read: registered (status 0) confirms the slot; absent (the
 * read's watch was removed again) frees it; otherwise (outcome unknown)
 * it stays, unconfirmed. A slot an event already cleared stays clear. */
void rcp_wait_settle(struct rcp_wait *w, int slot, const char *path,
                     bool registered, bool absent);
/* A one-shot watch of ours on path is confirmed registered and has not
 * fired. */
bool rcp_wait_is_armed(struct rcp_wait *w, const char *path);

/* Monotonic ms; deadline -1 = never. */
int64_t rcp_now_ms(void);
int64_t rcp_deadline(int timeout_ms);
/* Creates path and its missing parents (persistent, empty). */
int rcp_mkpath(struct coord_client *c, const char *path);
void rcp_guid(char out[RCP_GUID_LEN + 1]);

/* One ephemeral-sequential node of ours under dir. */
struct rcp_node {
    char name[RCP_NAME_MAX];  /* "" when none */
    uint64_t czxid;
};
/* What one listing of dir showed of the nodes ahead of ours (of the
 * conflicting prefix). Nodes ahead of ours can only go away (a later
 * node gets a larger sequence number), so the set only shrinks: a listing
 * that contains our node, however stale, shows a superset of the nodes
 * ahead now (docs/recipes.md, "Hand-offs without a read"). */
struct rcp_pos {
    bool known;               /* false: no listing yet */
    int ahead;                /* nodes ahead of ours */
    char pred[RCP_NAME_MAX];  /* the immediate one ("" if ahead == 0) */
    char pp[RCP_NAME_MAX];    /* the one before pred ("" if ahead < 2) */
};
/* Creates dir/<prefix>-<guid>-<seq>, resolving a lost create reply by
 * listing dir for our guid. */
int rcp_node_create(struct coord_client *c, const char *dir,
                    const char *prefix, const char *guid,
                    const void *value, size_t len, struct rcp_node *n);
/* The same, with a local listing of dir pipelined right behind the
 * create (the server executes it after the create, in the session's
 * order): pos is filled from it (pos->known) when it shows our node,
 * which saves the uncontended acquire a separate read. conflicts as in
 * rcp_node_position. */
int rcp_node_create_listed(struct coord_client *c, const char *dir,
                           const char *prefix, const char *guid,
                           const void *value, size_t len,
                           const char *conflicts, struct rcp_node *n,
                           struct rcp_pos *pos);
/* 1 if no node of prefix (NULL: of any prefix) under dir precedes n, 0
 * if one does (pred set to the immediate such predecessor's name),
 * COORD_ENONODE if n is gone. Sequence numbers are shared by every child
 * of dir, so nodes of different prefixes are ordered too. */
int rcp_node_position(struct coord_client *c, const char *dir,
                      const char *prefix, const struct rcp_node *n,
                      char pred[RCP_NAME_MAX]);
/* Finds our node (name containing -guid-) in dir: 1 found (n set), 0
 * not, or an error. */
int rcp_node_find(struct coord_client *c, const char *dir,
                  const char *guid, struct rcp_node *n);
/* Waits until no node of prefix precedes n, watching only the immediate
 * such predecessor and the one before it, and n itself: 0,
 * COORD_ETIMEDOUT, COORD_ENONODE (n was deleted by someone else: it must
 * not be taken as held), ... pos (NULL or not known: list first) is a
 * listing already made; it is updated. */
int rcp_node_await(struct coord_client *c, const char *dir,
                   const char *prefix, const struct rcp_node *n,
                   struct rcp_pos *pos, struct rcp_wait *w,
                   int64_t deadline);
/* Deletes dir/n (ENONODE counts as done) and clears n. */
int rcp_node_delete(struct coord_client *c, const char *dir,
                    struct rcp_node *n);
/* Deletes every node of ours (guid) under dir: the ones whose create
 * outcome we never learnt. */
int rcp_node_purge(struct coord_client *c, const char *dir,
                   const char *guid);
/* The sequence number at the end of a name, or -1. */
int64_t rcp_seq(const char *name);
/* dir + "/" + name into out; COORD_ETOOBIG if too long. */
int rcp_join(char *out, size_t cap, const char *dir, const char *name);

/* Loss notification for a held node (guard.c). */
struct rcp_guard;
int rcp_guard_new(struct rcp_guard **out, struct coord_client *c);
/* false when a watch of ours may still fire: then g is leaked, not
 * freed. Waits for the guard's async reads (bounded by the request
 * timeout). */
bool rcp_guard_free(struct rcp_guard *g);
/* cb NULL clears it. Adds the state listener on first use. */
int rcp_guard_set_cb(struct rcp_guard *g, coord_hold_cb cb, void *data);
/* A hold of the node at path begins (watched only if a cb is set) /
 * ends (no callback after disarm returns). */
void rcp_guard_arm(struct rcp_guard *g, const char *path);
void rcp_guard_disarm(struct rcp_guard *g);
/* The current hold was found lost (node deleted or session over). */
bool rcp_guard_lost(struct rcp_guard *g);

/* The queue lock under coord_lock and coord_rwlock (qlock.c). */
struct rcp_qlock {
    struct coord_client *c;
    char path[RCP_PATH_MAX];
    char guid[RCP_GUID_LEN + 1];
    struct rcp_node node; /* our node ("" when none) */
    bool held;
    bool ready;           /* path created */
    bool dirty;           /* a node of ours may exist unknown to us */
    struct rcp_wait *w;
    struct rcp_guard *guard;
};
/* COORD_EINVAL for a bad client or path (relative, "/", too long). */
int rcp_qlock_init(struct rcp_qlock *q, struct coord_client *c,
                   const char *path);
/* Releases if held, removes any node of ours, frees the helpers. */
void rcp_qlock_fini(struct rcp_qlock *q);
/* Queues a <prefix> node and holds once no node of conflicts (NULL: any)
 * precedes it; wait false: COORD_EBUSY instead of waiting. */
int rcp_qlock_take(struct rcp_qlock *q, const char *prefix,
                   const char *conflicts, int timeout_ms, bool wait,
                   uint64_t *token);
int rcp_qlock_release(struct rcp_qlock *q);
int rcp_qlock_check_op(struct rcp_qlock *q, struct coord_multi *m);
/* enum coord_lock_state of a hold, from held, the guard and the session. */
int rcp_hold_state(struct coord_client *c, bool held, struct rcp_guard *g);

#endif /* RECIPE_INT_H */
