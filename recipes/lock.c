/* lock.c -- the exclusive lock recipe (coord_recipes.h, docs/recipes.md):
 * ephemeral-sequential nodes PATH/lock-<guid>-<seq>, the lowest holds,
 * each waiter watches its immediate predecessor only; the fencing token is
 * the czxid of the holder's node. A thin layer over the queue lock
 * (qlock.c). Public coord.h API only; must not be called from a libcoord
 * callback. */
#include <stdio.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

#define LOCK_PREFIX "lock"

struct coord_lock {
    struct rcp_qlock q;
};

int coord_lock_new(struct coord_lock **out, struct coord_client *c,
                   const char *path)
{
    if (out == NULL)
        return COORD_EINVAL;
    struct coord_lock *l = coord_alloc_mem(sizeof(*l));
    if (l == NULL)
        return COORD_ENOMEM;
    int rc = rcp_qlock_init(&l->q, c, path);
    if (rc != 0) {
        coord_free_mem(l);
        return rc;
    }
    *out = l;
    return 0;
}

void coord_lock_free(struct coord_lock *l)
{
    if (l == NULL)
        return;
    rcp_qlock_fini(&l->q);
    coord_free_mem(l);
}

int coord_lock_acquire(struct coord_lock *l, int timeout_ms,
                       uint64_t *token)
{
    if (l == NULL)
        return COORD_EINVAL;
    return rcp_qlock_take(&l->q, LOCK_PREFIX, LOCK_PREFIX, timeout_ms, true,
                          token);
}

int coord_lock_try(struct coord_lock *l, uint64_t *token)
{
    if (l == NULL)
        return COORD_EINVAL;
    return rcp_qlock_take(&l->q, LOCK_PREFIX, LOCK_PREFIX, 0, false, token);
}

int coord_lock_release(struct coord_lock *l)
{
    return l == NULL ? COORD_EINVAL : rcp_qlock_release(&l->q);
}

int coord_lock_state(struct coord_lock *l)
{
    if (l == NULL)
        return COORD_LOCK_FREE;
    return rcp_hold_state(l->q.c, l->q.held, l->q.guard);
}

uint64_t coord_lock_token(struct coord_lock *l)
{
    return l != NULL && l->q.held ? l->q.node.czxid : 0;
}

int coord_lock_check_op(struct coord_lock *l, struct coord_multi *m)
{
    return l == NULL ? COORD_EINVAL : rcp_qlock_check_op(&l->q, m);
}

int coord_lock_on_loss(struct coord_lock *l, coord_hold_cb cb, void *data)
{
    return l == NULL ? COORD_EINVAL : rcp_guard_set_cb(l->q.guard, cb, data);
}
