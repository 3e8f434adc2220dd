/* qlock.c -- the queue lock under the exclusive lock and the read-write
 * lock (recipe_int.h): ephemeral-sequential nodes DIR/<prefix>-<guid>-<seq>;
 * a node holds once no node it conflicts with precedes it, waiting on the
 * immediate such predecessor only (no herd effect). The fencing token is
 * the czxid of the holder's node; a guard reports loss. Public coord.h API
 * only; must not be called from a libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "recipe_int.h"

int rcp_qlock_init(struct rcp_qlock *q, struct coord_client *c,
                   const char *path)
{
    if (c == NULL || path == NULL || path[0] != '/' || path[1] == '\0' ||
        strlen(path) + RCP_NAME_MAX + 2 >= RCP_PATH_MAX)
        return COORD_EINVAL;
    memset(q, 0, sizeof(*q));
    int rc = rcp_wait_new(&q->w);
    if (rc != 0)
        return rc;
    if ((rc = rcp_guard_new(&q->guard, c)) != 0) {
        rcp_wait_free(q->w, c);
        return rc;
    }
    q->c = c;
    snprintf(q->path, sizeof(q->path), "%s", path);
    rcp_guid(q->guid);
    return 0;
}

void rcp_qlock_fini(struct rcp_qlock *q)
{
    rcp_guard_disarm(q->guard);
    if (q->node.name[0] != '\0')
        rcp_node_delete(q->c, q->path, &q->node);
    if (q->dirty)
        rcp_node_purge(q->c, q->path, q->guid);
    rcp_guard_free(q->guard);
    rcp_wait_free(q->w, q->c);
}

/* Creates our node (and the lock path once); pos: what the listing
 * pipelined behind the create showed (pos->known false: none). */
static int qlock_enter(struct rcp_qlock *q, const char *prefix,
                       const char *conflicts, struct rcp_pos *pos)
{
    pos->known = false;
    int rc;
    if (!q->ready) {
        if ((rc = rcp_mkpath(q->c, q->path)) != 0)
            return rc;
        q->ready = true;
    }
    if (q->dirty) { /* it would hold our place in the queue forever */
        if ((rc = rcp_node_purge(q->c, q->path, q->guid)) != 0)
            return rc;
        q->dirty = false;
    }
    return rcp_node_create_listed(q->c, q->path, prefix, q->guid, "", 0,
                                  conflicts, &q->node, pos);
}

/* Queues our node and waits (wait false: does not) until no node of
 * conflicts precedes it. Our node deleted by someone else while we wait
 * (COORD_ENONODE) must not be taken as held: we queue a new node at the
 * end, as Curator's InterProcessMutex does, up to RCP_REQUEUE_MAX times
 * and only before the deadline (docs/recipes.md). */
static int qlock_queue(struct rcp_qlock *q, const char *prefix,
                       const char *conflicts, bool wait, int64_t deadline)
{
    for (int requeued = 0;; requeued++) {
        struct rcp_pos pos;
        int rc = qlock_enter(q, prefix, conflicts, &pos);
        if (rc != 0) {
            q->dirty = true; /* the create may have applied */
            return rc;
        }
        if (wait) {
            rc = rcp_node_await(q->c, q->path, conflicts, &q->node, &pos,
                                q->w, deadline);
        } else if (pos.known) { /* listed after our create: seqnode.c */
            rc = pos.ahead == 0 ? 0 : COORD_EBUSY;
        } else {
            char pred[RCP_NAME_MAX];
            rc = rcp_node_position(q->c, q->path, conflicts, &q->node,
                                   pred);
            rc = rc == 1 ? 0 : rc == 0 ? COORD_EBUSY : rc;
        }
        if (rc == 0)
            return 0;
        /* give up our place; if this fails, the next acquire (or the
         * session's end) removes it */
        if (rcp_node_delete(q->c, q->path, &q->node) != 0)
            q->dirty = true;
        if (rc != COORD_ENONODE || !wait || requeued >= RCP_REQUEUE_MAX ||
            (deadline >= 0 && rcp_now_ms() >= deadline))
            return rc;
        q->ready = false; /* the lock path may have gone with it */
    }
}

int rcp_qlock_take(struct rcp_qlock *q, const char *prefix,
                   const char *conflicts, int timeout_ms, bool wait,
                   uint64_t *token)
{
    if (q->held)
        return COORD_EBUSY;
    int rc = qlock_queue(q, prefix, conflicts, wait,
                         rcp_deadline(timeout_ms));
    if (rc != 0)
        return rc;
    q->held = true;
    char np[RCP_PATH_MAX];
    if (rcp_join(np, sizeof(np), q->path, q->node.name) == 0)
        rcp_guard_arm(q->guard, np);
    if (token != NULL)
        *token = q->node.czxid;
    return 0;
}

int rcp_qlock_release(struct rcp_qlock *q)
{
    if (!q->held && q->node.name[0] == '\0')
        return COORD_EINVAL;
    q->held = false;
    rcp_guard_disarm(q->guard);
    char name[RCP_NAME_MAX];
    memcpy(name, q->node.name, sizeof(name));
    int rc = rcp_node_delete(q->c, q->path, &q->node);
    if (rc != 0) { /* keep the name so that a second call retries */
        memcpy(q->node.name, name, sizeof(name));
        q->dirty = true; /* else the next acquire removes it */
    }
    return rc;
}

int rcp_hold_state(struct coord_client *c, bool held,
                   struct rcp_guard *g)
{
    if (!held)
        return COORD_LOCK_FREE;
    if (rcp_guard_lost(g))
        return COORD_LOCK_LOST;
    switch (coord_state(c)) {
    case COORD_STATE_DISCONNECTED:
    case COORD_STATE_CONNECTING:
        return COORD_LOCK_MAYBE_LOST;
    case COORD_STATE_EXPIRED:
    case COORD_STATE_CLOSED:
        return COORD_LOCK_LOST;
    default:
        return COORD_LOCK_HELD;
    }
}

int rcp_qlock_check_op(struct rcp_qlock *q, struct coord_multi *m)
{
    if (m == NULL || !q->held)
        return COORD_EINVAL;
    char path[RCP_PATH_MAX];
    int rc = rcp_join(path, sizeof(path), q->path, q->node.name);
    return rc != 0 ? rc : coord_multi_check(m, path, 0);
}
