/* seqnode.c -- the ephemeral-sequential node protocol shared by the lock
 * and the election (recipe_int.h): create dir/<prefix>-<guid>-<seq>, find
 * it again by its guid after a lost reply, and wait until it is the lowest
 * by watching only the nodes just ahead (no herd effect) and our own node
 * (one deleted by someone else is never reported as first). Public
 * coord.h API only; never called from a libcoord callback. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "recipe_int.h"

/* How long a read or delete whose outcome is unknown (a failover) is
 * retried before its error is returned. */
#define SEQNODE_RETRY_MS 30000

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


/* After a create whose reply was lost: it may have been applied, so look
 * for our guid (retrying reads while the cluster fails over) before any
 * new create, which would queue a second node of ours behind the first.
 * 1 found (n set), 0 not there, or an error. */
static int find_lost(struct coord_client *c, const char *dir,
                     const char *guid, struct rcp_node *n)
{
    int f;
    int64_t end = rcp_now_ms() + SEQNODE_RETRY_MS;
    do {
        f = rcp_node_find(c, dir, guid, n);
    } while (transient(f) && rcp_now_ms() < end);
    return f;
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
        int f = find_lost(c, dir, guid, n);
        if (f != 0)
            return f == 1 ? 0 : f;
    }
    return COORD_EUNAVAILABLE;
}

/* Fills pos from a listing of dir: 0, or COORD_ENONODE if n is not in
 * it. prefix NULL: nodes of any prefix count. */
static int pos_from(char *const *names, size_t count, const char *prefix,
                    const struct rcp_node *n, struct rcp_pos *pos)
{
    int64_t mine = rcp_seq(n->name), best = -1, second = -1;
    bool present = false;
    memset(pos, 0, sizeof(*pos));
    for (size_t i = 0; i < count; i++) {
        int64_t s = rcp_seq(names[i]);
        if (strcmp(names[i], n->name) == 0)
            present = true;
        else if (prefix != NULL && !has_prefix(names[i], prefix))
            continue;
        else if (s >= 0 && s < mine) {
            pos->ahead++;
            if (s > best) {
                memcpy(pos->pp, pos->pred, sizeof(pos->pp));
                second = best;
                best = s;
                snprintf(pos->pred, sizeof(pos->pred), "%s", names[i]);
            } else if (s > second) {
                second = s;
                snprintf(pos->pp, sizeof(pos->pp), "%s", names[i]);
            }
        }
    }
    if (!present)
        return COORD_ENONODE;
    pos->known = true;
    return 0;
}

/* Lists dir (flags: 0 linearizable, COORD_READ_LOCAL) into pos. */
static int list_pos(struct coord_client *c, const char *dir,
                    const char *prefix, const struct rcp_node *n,
                    unsigned flags, struct rcp_pos *pos)
{
    struct coord_child_list l;
    pos->known = false;
    int rc = coord_children_all(c, dir, flags, NULL, &l);
    if (rc != 0)
        return rc;
    rc = pos_from(l.names, l.n, prefix, n, pos);
    coord_child_list_free(&l);
    return rc;
}

int rcp_node_position(struct coord_client *c, const char *dir,
                      const char *prefix, const struct rcp_node *n,
                      char pred[RCP_NAME_MAX])
{
    struct rcp_pos pos;
    int rc = list_pos(c, dir, prefix, n, 0, &pos);
    if (rc != 0)
        return rc;
    if (pos.ahead == 0)
        return 1;
    memcpy(pred, pos.pred, RCP_NAME_MAX);
    return 0;
}

/* ---- create with a pipelined listing ---------------------------------- */

struct pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;            /* callbacks still to run */
    int crc;                /* the create's status */
    char name[RCP_NAME_MAX];
    uint64_t czxid;
    int lrc;                /* the listing's status */
    char **names;           /* its copy (coord_alloc_mem) */
    size_t n;
};

static void pipe_done(struct pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->pending--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void pipe_created(void *data, int status, const char *path,
                         const struct coord_stat *st)
{
    struct pipe *p = data;
    p->crc = status;
    if (status == 0) {
        const char *slash = strrchr(path, '/');
        snprintf(p->name, sizeof(p->name), "%s",
                 slash != NULL ? slash + 1 : path);
        p->czxid = st->czxid;
    }
    pipe_done(p);
}

static void pipe_listed(void *data, int status,
                        const struct coord_children_page *pg)
{
    struct pipe *p = data;
    p->lrc = status;
    if (status == 0 && pg->more)
        p->lrc = COORD_EAGAIN; /* more than a page: list the usual way */
    if (p->lrc == 0 && pg->n > 0) {
        p->names = coord_alloc_mem(pg->n * sizeof(*p->names));
        for (size_t i = 0; p->names != NULL && i < pg->n; i++) {
            size_t len = strlen(pg->entries[i].name);
            p->names[i] = coord_alloc_mem(len + 1);
            if (p->names[i] == NULL)
                break;
            memcpy(p->names[i], pg->entries[i].name, len + 1);
            p->n = i + 1;
        }
        if (p->names == NULL || p->n != pg->n)
            p->lrc = COORD_ENOMEM;
    }
    pipe_done(p);
}

static void pipe_fini(struct pipe *p)
{
    for (size_t i = 0; i < p->n; i++)
        coord_free_mem(p->names[i]);
    coord_free_mem(p->names);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* Submits the create and, behind it, the local listing; waits for both
 * callbacks. 0 (p filled) or the create's submission error. */
static int pipe_run(struct pipe *p, struct coord_client *c, const char *dir,
                    const char *path, const void *value, size_t len)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->pending = 2;
    p->lrc = COORD_EAGAIN;
    int rc = coord_acreate(c, path, value, len,
                           COORD_EPHEMERAL | COORD_SEQUENTIAL, 0,
                           pipe_created, p);
    if (rc != 0) {
        pipe_fini(p);
        return rc;
    }
    if (coord_achildren(c, dir, COORD_READ_LOCAL, NULL, 0, NULL,
                        pipe_listed, p) != 0)
        pipe_done(p); /* no listing: the create alone */
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Why a listing read right behind our create is enough (also a local,
 * possibly stale one): the server executes a session's requests in the
 * order sent, so it lists dir after it applied our create; every node
 * ahead of ours was created before ours and is in the listing unless it
 * was already deleted, and no node created later can be ahead of ours. */
int rcp_node_create_listed(struct coord_client *c, const char *dir,
                           const char *prefix, const char *guid,
                           const void *value, size_t len,
                           const char *conflicts, struct rcp_node *n,
                           struct rcp_pos *pos)
{
    char path[RCP_PATH_MAX];
    int k = snprintf(path, sizeof(path), "%s/%s-%s-", dir, prefix, guid);
    if (k < 0 || (size_t)k >= sizeof(path))
        return COORD_ETOOBIG;
    pos->known = false;
    n->name[0] = '\0';
    struct pipe p;
    if (pipe_run(&p, c, dir, path, value, len) != 0) /* not submitted */
        return rcp_node_create(c, dir, prefix, guid, value, len, n);
    int rc = p.crc;
    if (rc == 0) {
        memcpy(n->name, p.name, sizeof(n->name));
        n->czxid = p.czxid;
        if (p.lrc == 0 &&
            pos_from(p.names, p.n, conflicts, n, pos) != 0)
            pos->known = false; /* not in it: list again later */
    }
    pipe_fini(&p);
    if (!uncertain(rc))
        return rc;
    int f = find_lost(c, dir, guid, n); /* never create twice blindly */
    if (f != 0)
        return f == 1 ? 0 : f;
    return rcp_node_create(c, dir, prefix, guid, value, len, n);
}

/* ---- exists watches, sent back to back --------------------------------- */

/* One exists read of arm_all's batch. */
struct arm_one {
    struct arm_batch *b;
    int slot;               /* rcp_wait_prearm's, -1 none */
    bool sent;              /* submitted: a reply will come */
    int rc;                 /* its status */
};

struct arm_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;            /* replies still to come */
    struct arm_one one[RCP_WAIT_SLOTS];
};

static void arm_cb(void *data, int status, const struct coord_stat *st)
{
    (void)st;
    struct arm_one *o = data;
    struct arm_batch *b = o->b;
    pthread_mutex_lock(&b->mu);
    o->rc = status;
    b->pending--;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Submits an exists read with a watch for every path[i] ("" none) not
 * watched yet, back to back (one round trip for all), and waits for
 * every reply. Each slot is taken before its read: the event may beat
 * the read's reply. */
static void arm_send(struct coord_client *c, struct rcp_wait *w,
                     char path[][RCP_PATH_MAX], struct arm_batch *b)
{
    struct coord_watcher cw = rcp_watcher(w);
    for (int i = 0; i < RCP_WAIT_SLOTS; i++) {
        struct arm_one *o = &b->one[i];
        o->b = b;
        o->slot = -1;
        if (path[i][0] == '\0' || rcp_wait_is_armed(w, path[i]))
            continue;
        o->slot = rcp_wait_prearm(w, path[i], COORD_WATCH_DATA);
        pthread_mutex_lock(&b->mu);
        b->pending++;
        pthread_mutex_unlock(&b->mu);
        o->sent = true;
        /* o->rc is the callback's (it may run before this returns) */
        int rc = coord_aexists(c, path[i], COORD_READ_LOCAL, &cw, arm_cb, o);
        if (rc != 0) { /* not submitted: no callback, no watch */
            pthread_mutex_lock(&b->mu);
            o->sent = false;
            o->rc = rc;
            b->pending--;
            pthread_mutex_unlock(&b->mu);
        }
    }
    pthread_mutex_lock(&b->mu);
    while (b->pending > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* A watch of ours that could not be removed (libcoord keeps it, with w
 * as its callback's data) and that no slot describes: w must never be
 * freed (rcp_wait_free leaks a waiter with an overflow), or that watch
 * would call back into freed memory. */
static void leak_mark(struct rcp_wait *w)
{
    pthread_mutex_lock(&w->mu);
    w->overflow++;
    pthread_mutex_unlock(&w->mu);
}

/* Exists watches on the tracked paths path[i] (slot i of rcp_wait_track;
 * "" none); a watch of ours still pending on a path is kept as it is (it
 * reports the deletion; rcp_wait_cb). A node already gone marks its slot
 * gone. The watch slot is taken for a DATA watch (what libcoord registers
 * when the node exists); on a missing node libcoord registered an EXISTS
 * watch instead, which is removed at once: the slot is freed only if that
 * removal succeeded. 0, or the first other error. */
static int arm_all(struct coord_client *c, struct rcp_wait *w,
                   char path[][RCP_PATH_MAX])
{
    struct arm_batch b;
    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    arm_send(c, w, path, &b);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    int first = 0;
    for (int i = 0; i < RCP_WAIT_SLOTS; i++) {
        struct arm_one *o = &b.one[i];
        if (o->slot < 0 && !o->sent && o->rc == 0)
            continue; /* nothing sent for this path */
        if (o->sent && o->rc == COORD_ENONODE) {
            /* an exists watch on a missing node: registered; drop it */
            int rr = coord_remove_watch(c, path[i], COORD_WATCH_EXISTS);
            if (rr != 0 && rr != COORD_ENOWATCH)
                leak_mark(w); /* still registered: w outlives it */
            rcp_wait_settle(w, o->slot, path[i], false, true);
            rcp_wait_set_gone(w, i);
            continue;
        }
        rcp_wait_settle(w, o->slot, path[i], o->sent && o->rc == 0,
                        !o->sent);
        if (o->rc != 0 && first == 0)
            first = o->rc;
    }
    return first;
}

/* ---- waiting for the nodes ahead to go ---------------------------------- */

/* What the deletions seen (slot 0: pred, slot 1: pp) say of a listing
 * with ahead nodes ahead of ours: 1 none is left (we are first), 0 wait
 * on, -1 list again (pred went while others may still be ahead of it,
 * or pp went with more ahead than pred and pp). */
static int pos_verdict(int ahead, unsigned gone)
{
    bool pred = (gone & (1u << RCP_SLOT_PRED)) != 0;
    bool pp = (gone & (1u << RCP_SLOT_PP)) != 0;
    if (ahead == 0 || (ahead == 1 && pred) || (ahead == 2 && pred && pp))
        return 1;
    if (pred || (pp && ahead > 2))
        return -1;
    return 0;
}

/* Watches pos's pred and pp, and our own node n, and waits: 1 when every
 * node ahead is gone (no read needed), 0 to list again, COORD_ENONODE
 * when n was deleted, or another error. Why n's own watch is enough:
 * the events of one session arrive in zxid order, and before any reply
 * that reflects their change; so a deletion of n that came before the
 * deletion of the last node ahead is known (the exists reply or the
 * event) by the time that node's event is, and is checked first. */
static int await_step(struct coord_client *c, const char *dir,
                      const struct rcp_node *n, const struct rcp_pos *pos,
                      struct rcp_wait *w, int64_t deadline)
{
    char p[RCP_WAIT_SLOTS][RCP_PATH_MAX] = {""};
    int rc = rcp_join(p[RCP_SLOT_PRED], RCP_PATH_MAX, dir, pos->pred);
    if (rc == 0 && pos->ahead >= 2)
        rc = rcp_join(p[RCP_SLOT_PP], RCP_PATH_MAX, dir, pos->pp);
    if (rc == 0)
        rc = rcp_join(p[RCP_SLOT_OWN], RCP_PATH_MAX, dir, n->name);
    if (rc != 0)
        return rc;
    const char *paths[RCP_WAIT_SLOTS] = {p[0], p[1], p[2]};
    rcp_wait_track(w, paths);
    uint64_t other0;
    rcp_wait_gone(w, &other0);
    rc = arm_all(c, w, p);
    if (transient(rc))
        return 0; /* unknown whether the watch is set: look again */
    if (rc != 0)
        return rc;
    for (;;) {
        uint64_t seen = rcp_wait_seen(w), other;
        unsigned gone = rcp_wait_gone(w, &other);
        if (gone & (1u << RCP_SLOT_OWN))
            return COORD_ENONODE; /* before any verdict: see above */
        int v = pos_verdict(pos->ahead, gone);
        if (v != 0)
            return v > 0 ? 1 : 0;
        if (other != other0)
            return 0; /* another event (a change, MUST_REREAD): list */
        if ((rc = rcp_wait_until(w, seen, deadline, c)) != 0)
            return rc;
    }
}

int rcp_node_await(struct coord_client *c, const char *dir,
                   const char *prefix, const struct rcp_node *n,
                   struct rcp_pos *pos, struct rcp_wait *w,
                   int64_t deadline)
{
    struct rcp_pos own = {.known = false};
    if (pos == NULL)
        pos = &own;
    for (;;) {
        if (!pos->known) {
            int rc = list_pos(c, dir, prefix, n, COORD_READ_LOCAL, pos);
            if (rc < 0 && !transient(rc))
                return rc;
            if (rc < 0) {
                if (deadline >= 0 && rcp_now_ms() >= deadline)
                    return COORD_ETIMEDOUT;
                continue; /* reconnecting: read again */
            }
        }
        if (pos->ahead == 0)
            return 0;
        int rc = await_step(c, dir, n, pos, w, deadline);
        if (rc == 1)
            return 0;
        if (rc < 0)
            return rc;
        if (deadline >= 0 && rcp_now_ms() >= deadline)
            return COORD_ETIMEDOUT;
        pos->known = false;
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
    int64_t end = rcp_now_ms() + SEQNODE_RETRY_MS;
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
