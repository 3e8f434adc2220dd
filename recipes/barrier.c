/* barrier.c -- the barrier and double barrier recipes (coord_recipes.h,
 * docs/recipes.md). A barrier is up while its node exists; a double
 * barrier counts ephemeral participant nodes and a "ready" node. Public
 * coord.h API only; must not be called from a libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

#define DB_READY "ready"

int coord_barrier_set(struct coord_client *c, const char *path)
{
    if (c == NULL || path == NULL)
        return COORD_EINVAL;
    int rc = coord_create(c, path, "", 0, 0, 0, NULL, NULL);
    return rc == COORD_ENODEEXISTS ? 0 : rc;
}

int coord_barrier_remove(struct coord_client *c, const char *path)
{
    if (c == NULL || path == NULL)
        return COORD_EINVAL;
    int rc = coord_delete(c, path, -1);
    return rc == COORD_ENONODE ? 0 : rc;
}

/* Waits until path exists (want_exists) or is gone. */
static int await_node(struct coord_client *c, const char *path,
                      bool want_exists, int64_t deadline)
{
    struct rcp_wait *w;
    int rc = rcp_wait_new(&w);
    if (rc != 0)
        return rc;
    for (;;) {
        uint64_t seen = rcp_wait_seen(w);
        struct coord_watcher cw = rcp_watcher(w);
        rc = coord_exists(c, path, 0, &cw, NULL);
        if (rc == COORD_ECONNLOSS || rc == COORD_ETIMEDOUT)
            continue;
        if (rc != 0 && rc != COORD_ENONODE)
            break;
        if ((rc == 0) == want_exists) {
            rc = 0;
            break;
        }
        rcp_wait_armed(w, path,
                       want_exists ? COORD_WATCH_EXISTS : COORD_WATCH_DATA);
        rc = rcp_wait_until(w, seen, deadline, c);
        if (rc != 0)
            break;
    }
    if (rc == 0) /* the last read left a watch that nobody waits for */
        coord_remove_watch(c, path, want_exists ? COORD_WATCH_DATA
                                                : COORD_WATCH_EXISTS);
    rcp_wait_free(w, c);
    return rc;
}

int coord_barrier_wait(struct coord_client *c, const char *path,
                       int timeout_ms)
{
    if (c == NULL || path == NULL)
        return COORD_EINVAL;
    return await_node(c, path, false, rcp_deadline(timeout_ms));
}

/* ECONNLOSS / ETIMEDOUT (a failover, say): the outcome is unknown and
 * the session may live on, so the double barrier retries until its
 * deadline. Every step retried is idempotent: a create that accepts
 * ENODEEXISTS, a delete that accepts ENONODE, a read. */
static bool db_retry(int rc, int64_t deadline)
{
    return (rc == COORD_ECONNLOSS || rc == COORD_ETIMEDOUT) &&
           (deadline < 0 || rcp_now_ms() < deadline);
}

/* Participants (children other than "ready") under path. */
static int participants(struct coord_client *c, const char *path,
                        const struct coord_watcher *w, size_t *n)
{
    struct coord_child_list l;
    int rc = coord_children_all(c, path, 0, w, &l);
    if (rc != 0)
        return rc;
    *n = 0;
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.names[i], DB_READY) != 0)
            (*n)++;
    coord_child_list_free(&l);
    return 0;
}

int coord_dbarrier_enter(struct coord_client *c, const char *path,
                         const char *name, int n, int timeout_ms)
{
    char me[RCP_PATH_MAX], ready[RCP_PATH_MAX];
    if (c == NULL || path == NULL || name == NULL || n <= 0 ||
        strcmp(name, DB_READY) == 0 || strchr(name, '/') != NULL)
        return COORD_EINVAL;
    int64_t deadline = rcp_deadline(timeout_ms);
    int rc = rcp_join(me, sizeof(me), path, name);
    if (rc == 0)
        rc = rcp_join(ready, sizeof(ready), path, DB_READY);
    if (rc != 0)
        return rc;
    do
        rc = rcp_mkpath(c, path);
    while (db_retry(rc, deadline));
    if (rc != 0)
        return rc;
    do
        rc = coord_create(c, me, "", 0, COORD_EPHEMERAL, 0, NULL, NULL);
    while (db_retry(rc, deadline));
    if (rc != 0 && rc != COORD_ENODEEXISTS)
        return rc;
    size_t k = 0;
    do
        rc = participants(c, path, NULL, &k);
    while (db_retry(rc, deadline));
    if (rc != 0)
        return rc;
    if (k >= (size_t)n) {
        do
            rc = coord_create(c, ready, "", 0, 0, 0, NULL, NULL);
        while (db_retry(rc, deadline));
        if (rc != 0 && rc != COORD_ENODEEXISTS)
            return rc;
    }
    return await_node(c, ready, true, deadline);
}

int coord_dbarrier_leave(struct coord_client *c, const char *path,
                         const char *name, int timeout_ms)
{
    char me[RCP_PATH_MAX];
    if (c == NULL || path == NULL || name == NULL)
        return COORD_EINVAL;
    int64_t deadline = rcp_deadline(timeout_ms);
    int rc = rcp_join(me, sizeof(me), path, name);
    if (rc != 0)
        return rc;
    do
        rc = coord_delete(c, me, -1);
    while (db_retry(rc, deadline));
    if (rc != 0 && rc != COORD_ENONODE)
        return rc;
    struct rcp_wait *w;
    if ((rc = rcp_wait_new(&w)) != 0)
        return rc;
    for (;;) {
        size_t k = 0;
        uint64_t seen = rcp_wait_seen(w);
        struct coord_watcher cw = rcp_watcher(w);
        rc = participants(c, path, &cw, &k);
        if (db_retry(rc, deadline))
            continue;
        if (rc != 0 || k == 0)
            break;
        rcp_wait_armed(w, path, COORD_WATCH_CHILDREN);
        if ((rc = rcp_wait_until(w, seen, deadline, c)) != 0)
            break;
    }
    if (rc == 0) /* the last read (k == 0) left a child watch */
        coord_remove_watch(c, path, COORD_WATCH_CHILDREN);
    rcp_wait_free(w, c);
    return rc;
}
