/* queue.c -- the FIFO queue recipe (coord_recipes.h, docs/recipes.md):
 * items are persistent-sequential nodes PATH/q-<seq>; the head is the
 * lowest sequence; a consumer takes an item by reading it and deleting it
 * at the version read (whoever deletes it owns it). Waiting consumers
 * watch the children list (every put wakes every waiting consumer: a herd
 * effect, documented). Public coord.h API only; must not be called from a
 * libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

#define QUEUE_PREFIX "q-"
/* A waiting consumer re-lists at least this often even without a watch
 * event (another handle of the same client may remove the watch). */
#define QUEUE_RELIST_MS 1000

static bool queue_ok(struct coord_client *c, const char *path)
{
    return c != NULL && path != NULL && path[0] == '/' && path[1] != '\0' &&
           strlen(path) + RCP_NAME_MAX + 2 < RCP_PATH_MAX;
}

int coord_queue_put(struct coord_client *c, const char *path,
                    const void *value, size_t len)
{
    if (!queue_ok(c, path) || (value == NULL && len > 0))
        return COORD_EINVAL;
    char p[RCP_PATH_MAX];
    int rc = rcp_join(p, sizeof(p), path, QUEUE_PREFIX);
    if (rc != 0)
        return rc;
    rc = coord_create(c, p, value, len, COORD_SEQUENTIAL, 0, NULL, NULL);
    if (rc == COORD_ENONODE) { /* the queue's node is missing */
        if ((rc = rcp_mkpath(c, path)) != 0)
            return rc;
        rc = coord_create(c, p, value, len, COORD_SEQUENTIAL, 0, NULL,
                          NULL);
    }
    return rc;
}

/* Takes the item name if still there: 1 taken, 0 gone, or an error. */
static int queue_take_one(struct coord_client *c, const char *path,
                          const char *name, void **value, size_t *len)
{
    char p[RCP_PATH_MAX];
    int rc = rcp_join(p, sizeof(p), path, name);
    if (rc != 0)
        return rc;
    struct coord_stat st;
    void *v = NULL;
    size_t n = 0;
    rc = coord_get(c, p, 0, NULL, &v, &n, &st);
    if (rc == 0)
        rc = coord_delete(c, p, st.version);
    if (rc == 0) {
        *value = v;
        if (len != NULL)
            *len = n;
        return 1;
    }
    coord_free_mem(v);
    return rc == COORD_ENONODE ? 0 : rc; /* ECONNLOSS: maybe ours, lost */
}

/* One pass over the items in order: 1 taken, 0 empty, or an error. */
static int queue_pass(struct coord_client *c, const char *path,
                      struct rcp_wait *w, void **value, size_t *len)
{
    struct coord_child_list l;
    struct coord_watcher cw = w != NULL ? rcp_watcher(w)
                                        : (struct coord_watcher){0};
    int rc = coord_children_all(c, path, 0, w != NULL ? &cw : NULL, &l);
    if (rc == COORD_ENONODE)
        return 0; /* no queue yet: empty (and no watch was set) */
    if (rc != 0)
        return rc;
    if (w != NULL)
        rcp_wait_armed(w, path, COORD_WATCH_CHILDREN);
    rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) /* in name = seq order */
        if (strncmp(l.names[i], QUEUE_PREFIX, 2) == 0)
            rc = queue_take_one(c, path, l.names[i], value, len);
    coord_child_list_free(&l);
    return rc;
}

int coord_queue_take(struct coord_client *c, const char *path,
                     int timeout_ms, void **value, size_t *len)
{
    if (!queue_ok(c, path) || value == NULL)
        return COORD_EINVAL;
    *value = NULL;
    int64_t deadline = rcp_deadline(timeout_ms);
    struct rcp_wait *w = NULL;
    int rc = timeout_ms == 0 ? 0 : rcp_wait_new(&w);
    if (rc == 0 && w != NULL) /* a child watch needs the node */
        rc = rcp_mkpath(c, path);
    bool watching = false; /* the first pass sets no watch: most takes
                              find an item and need none */
    while (rc == 0) {
        uint64_t seen = w != NULL ? rcp_wait_seen(w) : 0;
        rc = queue_pass(c, path, watching ? w : NULL, value, len);
        if (rc == 1) {
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        if (w == NULL) {
            rc = COORD_ETIMEDOUT; /* empty and not waiting */
            break;
        }
        if (!watching) {
            watching = true; /* list again, now with a watch */
            continue;
        }
        int64_t until = rcp_now_ms() + QUEUE_RELIST_MS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        rc = rcp_wait_until(w, seen, until, c);
        if (rc == COORD_ETIMEDOUT && (deadline < 0 || until < deadline))
            rc = 0; /* a periodic re-list, not the caller's deadline */
    }
    rcp_wait_free(w, c);
    return rc;
}
