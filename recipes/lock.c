/* lock.c -- the exclusive lock recipe (coord_recipes.h, docs/recipes.md):
 * ephemeral-sequential nodes PATH/lock-<guid>-<seq>, the lowest holds,
 * each waiter watches its immediate predecessor only; the fencing token is
 * the czxid of the holder's node. Public coord.h API only; must not be
 * called from a libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

#define LOCK_PREFIX "lock"

struct coord_lock {
    struct coord_client *c;
    char path[RCP_PATH_MAX];
    char guid[RCP_GUID_LEN + 1];
    struct rcp_node node; /* our node ("" when none) */
    bool held;
    bool ready;           /* path created */
    bool dirty;           /* a node of ours may exist unknown to us */
    struct rcp_wait *w;
};

int coord_lock_new(struct coord_lock **out, struct coord_client *c,
                   const char *path)
{
    if (out == NULL || c == NULL || path == NULL || path[0] != '/' ||
        strlen(path) + RCP_NAME_MAX + 2 >= RCP_PATH_MAX)
        return COORD_EINVAL;
    struct coord_lock *l = coord_calloc(1, sizeof(*l));
    if (l == NULL)
        return COORD_ENOMEM;
    int rc = rcp_wait_new(&l->w);
    if (rc != 0) {
        coord_free(l);
        return rc;
    }
    l->c = c;
    snprintf(l->path, sizeof(l->path), "%s", path);
    rcp_guid(l->guid);
    *out = l;
    return 0;
}

void coord_lock_free(struct coord_lock *l)
{
    if (l == NULL)
        return;
    if (l->node.name[0] != '\0')
        rcp_node_delete(l->c, l->path, &l->node);
    if (l->dirty)
        rcp_node_purge(l->c, l->path, l->guid);
    rcp_wait_free(l->w, l->c);
    coord_free(l);
}

/* Creates our node (and the lock path once). */
static int lock_enter(struct coord_lock *l)
{
    int rc;
    if (!l->ready) {
        if ((rc = rcp_mkpath(l->c, l->path)) != 0)
            return rc;
        l->ready = true;
    }
    if (l->dirty) { /* it would hold our place in the queue forever */
        if ((rc = rcp_node_purge(l->c, l->path, l->guid)) != 0)
            return rc;
        l->dirty = false;
    }
    return rcp_node_create(l->c, l->path, LOCK_PREFIX, l->guid, "", 0,
                           &l->node);
}

static int lock_take(struct coord_lock *l, int timeout_ms, bool wait,
                     uint64_t *token)
{
    if (l->held)
        return COORD_EBUSY;
    int64_t deadline = rcp_deadline(timeout_ms);
    int rc = lock_enter(l);
    if (rc != 0) {
        l->dirty = true; /* the create may have applied */
        return rc;
    }
    if (wait) {
        rc = rcp_node_await(l->c, l->path, LOCK_PREFIX, &l->node, l->w,
                            deadline);
    } else {
        char pred[RCP_NAME_MAX];
        rc = rcp_node_position(l->c, l->path, LOCK_PREFIX, &l->node, pred);
        rc = rc == 1 ? 0 : rc == 0 ? COORD_EBUSY : rc;
    }
    if (rc != 0) {
        /* give up our place; if this fails, the next acquire (or the
         * session's end) removes it */
        if (rcp_node_delete(l->c, l->path, &l->node) != 0)
            l->dirty = true;
        return rc;
    }
    l->held = true;
    if (token != NULL)
        *token = l->node.czxid;
    return 0;
}

int coord_lock_acquire(struct coord_lock *l, int timeout_ms,
                       uint64_t *token)
{
    return l == NULL ? COORD_EINVAL : lock_take(l, timeout_ms, true, token);
}

int coord_lock_try(struct coord_lock *l, uint64_t *token)
{
    return l == NULL ? COORD_EINVAL : lock_take(l, 0, false, token);
}

int coord_lock_release(struct coord_lock *l)
{
    if (l == NULL)
        return COORD_EINVAL;
    if (!l->held && l->node.name[0] == '\0')
        return COORD_EINVAL;
    l->held = false;
    char name[RCP_NAME_MAX];
    memcpy(name, l->node.name, sizeof(name));
    int rc = rcp_node_delete(l->c, l->path, &l->node);
    if (rc != 0) { /* keep the name so that a second call retries */
        memcpy(l->node.name, name, sizeof(name));
        l->dirty = true; /* else the next acquire removes it */
    }
    return rc;
}

int coord_lock_state(struct coord_lock *l)
{
    if (l == NULL || !l->held)
        return COORD_LOCK_FREE;
    switch (coord_state(l->c)) {
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

uint64_t coord_lock_token(struct coord_lock *l)
{
    return l != NULL && l->held ? l->node.czxid : 0;
}

int coord_lock_check_op(struct coord_lock *l, struct coord_multi *m)
{
    if (l == NULL || m == NULL || !l->held)
        return COORD_EINVAL;
    char path[RCP_PATH_MAX];
    int rc = rcp_join(path, sizeof(path), l->path, l->node.name);
    return rc != 0 ? rc : coord_multi_check(m, path, 0);
}
