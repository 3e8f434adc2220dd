/* rwlock.c -- the read-write lock recipe (coord_recipes.h,
 * docs/recipes.md): ZooKeeper's shared-lock recipe over the queue lock
 * (qlock.c). Nodes PATH/read-<guid>-<seq> and PATH/write-<guid>-<seq>
 * share one sequence; a reader holds once no write node precedes it and
 * waits on the last write node before it; a writer holds once no node at
 * all precedes it and waits on its immediate predecessor. No herd: each
 * waiter watches one node. Public coord.h API only; must not be called
 * from a libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

#define RW_READ "read"
#define RW_WRITE "write"

struct coord_rwlock {
    struct rcp_qlock q;
    int mode; /* of the current hold, 0 when none */
};

int coord_rwlock_new(struct coord_rwlock **out, struct coord_client *c,
                     const char *path)
{
    if (out == NULL)
        return COORD_EINVAL;
    struct coord_rwlock *l = coord_alloc_mem(sizeof(*l));
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

void coord_rwlock_free(struct coord_rwlock *l)
{
    if (l == NULL)
        return;
    rcp_qlock_fini(&l->q);
    coord_free_mem(l);
}

static int rw_take(struct coord_rwlock *l, int mode, int timeout_ms,
                   bool wait, uint64_t *token)
{
    if (l == NULL || (mode != COORD_RWLOCK_READ && mode != COORD_RWLOCK_WRITE))
        return COORD_EINVAL;
    bool rd = mode == COORD_RWLOCK_READ;
    int rc = rcp_qlock_take(&l->q, rd ? RW_READ : RW_WRITE,
                            rd ? RW_WRITE : NULL, timeout_ms, wait, token);
    if (rc == 0)
        l->mode = mode;
    return rc;
}

int coord_rwlock_acquire(struct coord_rwlock *l, int mode, int timeout_ms,
                         uint64_t *token)
{
    return rw_take(l, mode, timeout_ms, true, token);
}

int coord_rwlock_try(struct coord_rwlock *l, int mode, uint64_t *token)
{
    return rw_take(l, mode, 0, false, token);
}

int coord_rwlock_release(struct coord_rwlock *l)
{
    if (l == NULL)
        return COORD_EINVAL;
    l->mode = 0;
    return rcp_qlock_release(&l->q);
}

int coord_rwlock_mode(struct coord_rwlock *l)
{
    return l != NULL && l->q.held ? l->mode : 0;
}

int coord_rwlock_state(struct coord_rwlock *l)
{
    if (l == NULL)
        return COORD_LOCK_FREE;
    return rcp_hold_state(l->q.c, l->q.held, l->q.guard);
}

uint64_t coord_rwlock_token(struct coord_rwlock *l)
{
    return l != NULL && l->q.held ? l->q.node.czxid : 0;
}

int coord_rwlock_check_op(struct coord_rwlock *l, struct coord_multi *m)
{
    return l == NULL ? COORD_EINVAL : rcp_qlock_check_op(&l->q, m);
}

int coord_rwlock_on_loss(struct coord_rwlock *l, coord_hold_cb cb,
                         void *data)
{
    return l == NULL ? COORD_EINVAL : rcp_guard_set_cb(l->q.guard, cb, data);
}
