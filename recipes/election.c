/* election.c -- the leader election recipe (coord_recipes.h,
 * docs/recipes.md): candidates are ephemeral-sequential nodes
 * PATH/n-<guid>-<seq> holding their value, the lowest leads, each
 * candidate watches its immediate predecessor only; the term is the czxid
 * of the leader's node. Public coord.h API only; must not be called from
 * a libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

#define ELECT_PREFIX "n"

struct coord_election {
    struct coord_client *c;
    char path[RCP_PATH_MAX];
    char guid[RCP_GUID_LEN + 1];
    struct rcp_node node;
    bool leader;
    struct rcp_wait *w;
    struct rcp_guard *guard;
};

int coord_election_new(struct coord_election **out, struct coord_client *c,
                       const char *path)
{
    if (out == NULL || c == NULL || path == NULL || path[0] != '/' ||
        strlen(path) + RCP_NAME_MAX + 2 >= RCP_PATH_MAX)
        return COORD_EINVAL;
    struct coord_election *e = coord_alloc_mem(sizeof(*e));
    if (e == NULL)
        return COORD_ENOMEM;
    int rc = rcp_wait_new(&e->w);
    if (rc == 0 && (rc = rcp_guard_new(&e->guard, c)) != 0)
        rcp_wait_free(e->w, c);
    if (rc != 0) {
        coord_free_mem(e);
        return rc;
    }
    e->c = c;
    snprintf(e->path, sizeof(e->path), "%s", path);
    rcp_guid(e->guid);
    *out = e;
    return 0;
}

void coord_election_free(struct coord_election *e)
{
    if (e == NULL)
        return;
    rcp_guard_disarm(e->guard);
    if (rcp_node_delete(e->c, e->path, &e->node) != 0)
        rcp_node_purge(e->c, e->path, e->guid);
    rcp_guard_free(e->guard);
    rcp_wait_free(e->w, e->c);
    coord_free_mem(e);
}

/* Creates our candidate node and waits until it is the lowest. Our node
 * deleted by someone else while we wait (COORD_ENONODE) is no
 * leadership: we queue a new one, as for the lock (qlock.c). */
static int elect_queue(struct coord_election *e, const void *value,
                       size_t len, int64_t deadline)
{
    for (int requeued = 0;; requeued++) {
        int rc = rcp_mkpath(e->c, e->path);
        if (rc == 0)
            rc = rcp_node_create(e->c, e->path, ELECT_PREFIX, e->guid,
                                 value, len, &e->node);
        if (rc != 0) { /* a create may have applied unseen: withdraw */
            rcp_node_purge(e->c, e->path, e->guid);
            return rc;
        }
        rc = rcp_node_await(e->c, e->path, ELECT_PREFIX, &e->node, NULL,
                            e->w, deadline);
        if (rc == 0)
            return 0;
        if (rcp_node_delete(e->c, e->path, &e->node) != 0)
            rcp_node_purge(e->c, e->path, e->guid);
        if (rc != COORD_ENONODE || requeued >= RCP_REQUEUE_MAX ||
            (deadline >= 0 && rcp_now_ms() >= deadline))
            return rc;
    }
}

int coord_election_campaign(struct coord_election *e, const void *value,
                            size_t len, int timeout_ms, uint64_t *term,
                            coord_elected_cb cb, void *data)
{
    if (e == NULL || (value == NULL && len > 0))
        return COORD_EINVAL;
    if (e->node.name[0] != '\0')
        return COORD_EBUSY; /* already a candidate */
    int rc = elect_queue(e, value, len, rcp_deadline(timeout_ms));
    if (rc != 0)
        return rc;
    e->leader = true;
    char np[RCP_PATH_MAX];
    if (rcp_join(np, sizeof(np), e->path, e->node.name) == 0)
        rcp_guard_arm(e->guard, np);
    if (term != NULL)
        *term = e->node.czxid;
    if (cb != NULL)
        cb(data, e->node.czxid);
    return 0;
}

int coord_election_resign(struct coord_election *e)
{
    if (e == NULL)
        return COORD_EINVAL;
    e->leader = false;
    rcp_guard_disarm(e->guard);
    return rcp_node_delete(e->c, e->path, &e->node);
}

int coord_election_is_leader(struct coord_election *e)
{
    if (e == NULL)
        return 0;
    return rcp_hold_state(e->c, e->leader, e->guard) == COORD_LOCK_HELD;
}

int coord_election_on_loss(struct coord_election *e, coord_hold_cb cb,
                           void *data)
{
    return e == NULL ? COORD_EINVAL : rcp_guard_set_cb(e->guard, cb, data);
}

/* The lowest candidate's name, with its stat. */
static int lowest(struct coord_client *c, const char *path,
                  const struct coord_watcher *w, char name[RCP_NAME_MAX])
{
    struct coord_child_list l;
    int rc = coord_children_all(c, path, 0, w, &l);
    if (rc != 0)
        return rc;
    int64_t best = -1;
    for (size_t i = 0; i < l.n; i++) {
        int64_t s = rcp_seq(l.names[i]);
        if (strncmp(l.names[i], ELECT_PREFIX "-", 2) != 0 || s < 0)
            continue;
        if (best < 0 || s < best) {
            best = s;
            snprintf(name, RCP_NAME_MAX, "%s", l.names[i]);
        }
    }
    coord_child_list_free(&l);
    return best < 0 ? COORD_ENONODE : 0;
}

int coord_election_leader(struct coord_client *c, const char *path,
                          const struct coord_watcher *w,
                          struct coord_leader_info *out)
{
    if (c == NULL || path == NULL || out == NULL)
        return COORD_EINVAL;
    memset(out, 0, sizeof(*out));
    for (;;) {
        char name[RCP_NAME_MAX], np[RCP_PATH_MAX];
        int rc = lowest(c, path, w, name);
        if (rc == 0)
            rc = rcp_join(np, sizeof(np), path, name);
        if (rc != 0)
            return rc;
        struct coord_stat st;
        rc = coord_get(c, np, 0, NULL, &out->value, &out->len, &st);
        if (rc == COORD_ENONODE)
            continue; /* resigned meanwhile: the next one leads */
        if (rc == 0)
            out->term = st.czxid;
        return rc;
    }
}
