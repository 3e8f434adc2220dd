/* seqnode.c -- the ephemeral-sequential node protocol shared by the lock
 * and the election (recipe_int.h): create dir/<prefix>-<guid>-<seq>, find
 * it again by its guid after a lost reply, and wait until it is the lowest
 * by watching only the immediate predecessor (no herd effect). Public
 * coord.h API only; never called from a libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "recipe_int.h"

static bool has_prefix(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && name[n] == '-';
}

static bool uncertain(int rc)
{
    return rc == COORD_ECONNLOSS || rc == COORD_ETIMEDOUT;
}

/* Errors after which the same request may succeed shortly (a failover). */
static bool transient(int rc)
{
    return uncertain(rc) || rc == COORD_EUNAVAILABLE ||
           rc == COORD_ENOTLEADER || rc == COORD_ESTALE;
}

int rcp_node_find(struct coord_client *c, const char *dir,
                    const char *guid, struct rcp_node *n)
{
    struct coord_child_list l;
    int rc = coord_children_all(c, dir, COORD_READ_STATS, NULL, &l);
    if (rc != 0)
        return rc;
    char tag[RCP_GUID_LEN + 3];
    snprintf(tag, sizeof(tag), "-%s-", guid);
    int found = 0;
    for (size_t i = 0; i < l.n && !found; i++) {
        if (strstr(l.names[i], tag) == NULL)
            continue;
        snprintf(n->name, sizeof(n->name), "%s", l.names[i]);
        n->czxid = l.stats[i].czxid;
        found = 1;
    }
    coord_child_list_free(&l);
    return found;
}


int rcp_node_create(struct coord_client *c, const char *dir,
                    const char *prefix, const char *guid,
                    const void *value, size_t len, struct rcp_node *n)
{
    char path[RCP_PATH_MAX];
    int k = snprintf(path, sizeof(path), "%s/%s-%s-", dir, prefix, guid);
    if (k < 0 || (size_t)k >= sizeof(path))
        return COORD_ETOOBIG;
    n->name[0] = '\0';
    for (int attempt = 0; attempt < 10; attempt++) {
        char *out = NULL;
        struct coord_stat st;
        int rc = coord_create(c, path, value, len,
                              COORD_EPHEMERAL | COORD_SEQUENTIAL, 0, &out,
                              &st);
        if (rc == 0) {
            const char *slash = strrchr(out, '/');
            snprintf(n->name, sizeof(n->name), "%s", slash + 1);
            n->czxid = st.czxid;
            coord_free_mem(out);
            return 0;
        }
        if (!uncertain(rc))
            return rc;
        /* It may have been applied: look for our guid (retrying reads
         * while the cluster fails over). */
        int f;
        int64_t end = rcp_now_ms() + 30000;
        do {
            f = rcp_node_find(c, dir, guid, n);
        } while (transient(f) && rcp_now_ms() < end);
        if (f == 1)
            return 0;
        if (f < 0)
            return f;
    }
    return COORD_EUNAVAILABLE;
}

int rcp_node_position(struct coord_client *c, const char *dir,
                      const char *prefix, const struct rcp_node *n,
                      char pred[RCP_NAME_MAX])
{
    struct coord_child_list l;
    int rc = coord_children_all(c, dir, 0, NULL, &l);
    if (rc != 0)
        return rc;
    int64_t mine = rcp_seq(n->name), best = -1;
    bool present = false;
    for (size_t i = 0; i < l.n; i++) {
        int64_t s = rcp_seq(l.names[i]);
        if (strcmp(l.names[i], n->name) == 0)
            present = true;
        else if (prefix != NULL && !has_prefix(l.names[i], prefix))
            continue;
        else if (s >= 0 && s < mine && s > best) {
            best = s;
            snprintf(pred, RCP_NAME_MAX, "%s", l.names[i]);
        }
    }
    coord_child_list_free(&l);
    if (!present)
        return COORD_ENONODE;
    return best < 0 ? 1 : 0;
}

int rcp_node_await(struct coord_client *c, const char *dir,
                   const char *prefix, const struct rcp_node *n,
                   struct rcp_wait *w, int64_t deadline)
{
    for (;;) {
        char pred[RCP_NAME_MAX], ppath[RCP_PATH_MAX];
        int rc = rcp_node_position(c, dir, prefix, n, pred);
        if (rc == 1)
            return 0;
        if (rc < 0 && !transient(rc))
            return rc;
        if (rc < 0) {
            if (deadline >= 0 && rcp_now_ms() >= deadline)
                return COORD_ETIMEDOUT;
            continue; /* reconnecting: read again */
        }
        if ((rc = rcp_join(ppath, sizeof(ppath), dir, pred)) != 0)
            return rc;
        uint64_t seen = rcp_wait_seen(w);
        struct coord_watcher cw = rcp_watcher(w);
        rc = coord_exists(c, ppath, 0, &cw, NULL);
        if (rc == COORD_ENONODE) {
            /* an exists watch on a missing node: registered; drop it */
            coord_remove_watch(c, ppath, COORD_WATCH_EXISTS);
            continue;
        }
        if (transient(rc))
            continue; /* unknown whether the watch is set: look again */
        if (rc != 0)
            return rc;
        rcp_wait_armed(w, ppath, COORD_WATCH_DATA);
        rc = rcp_wait_until(w, seen, deadline, c);
        if (rc != 0)
            return rc;
    }
}

int rcp_node_delete(struct coord_client *c, const char *dir,
                    struct rcp_node *n)
{
    char path[RCP_PATH_MAX];
    if (n->name[0] == '\0')
        return 0;
    int rc = rcp_join(path, sizeof(path), dir, n->name);
    /* A node left behind would block everyone queued after it for as
     * long as our session lives: retry a delete whose outcome is unknown
     * (a repeat finds COORD_ENONODE once the first one applied). */
    int64_t end = rcp_now_ms() + 30000;
    while (rc == 0 || (transient(rc) && rcp_now_ms() < end)) {
        rc = coord_delete(c, path, -1);
        if (rc == 0 || !transient(rc))
            break;
    }
    if (rc == COORD_ENONODE)
        rc = 0;
    n->name[0] = '\0';
    n->czxid = 0;
    return rc;
}

int rcp_node_purge(struct coord_client *c, const char *dir,
                   const char *guid)
{
    struct rcp_node n;
    for (;;) {
        int f = rcp_node_find(c, dir, guid, &n);
        if (f <= 0)
            return f == COORD_ENONODE ? 0 : f;
        int rc = rcp_node_delete(c, dir, &n);
        if (rc != 0)
            return rc;
    }
}
