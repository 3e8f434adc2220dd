/* guard.c -- loss notification for a held recipe node (recipe_int.h): a
 * lock, read-write lock, semaphore or leadership handle arms its guard
 * with the node it holds; the guard follows the session state (a libcoord
 * state listener) and the node itself (an exists watch) and calls the
 * application's coord_hold_cb with MAYBE_LOST (disconnected), LOST
 * (expired, closed, or the node deleted by someone else) and HELD ("safe
 * again": reconnected and a read found the node still there). Runs its
 * listener and watch callbacks on the libcoord I/O thread: there it only
 * issues async calls and never blocks. Public coord.h API only. */
#include <stdio.h>
#include <string.h>

#include "recipe_int.h"

/* Lock order: cbmu before mu. cbmu is held while the application's
 * callback runs, so that disarm/set_cb wait for a running callback. */
struct rcp_guard {
    pthread_mutex_t cbmu;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct coord_client *c;
    coord_hold_cb cb;
    void *data;
    uint64_t lid;               /* state listener id, 0 none */
    char path[RCP_PATH_MAX];    /* the held node, "" when not armed */
    uint64_t gen;               /* hold number */
    int reported;               /* enum coord_lock_state, this hold */
    bool lost;                  /* this hold is lost (final) */
    char wpath[RCP_PATH_MAX];   /* a watch of ours may fire on it */
    int pending;                /* async reads, reports in flight */
};

struct guard_read {
    struct rcp_guard *g;
    uint64_t gen;
};

int rcp_guard_new(struct rcp_guard **out, struct coord_client *c)
{
    struct rcp_guard *g = coord_alloc_mem(sizeof(*g));
    if (g == NULL)
        return COORD_ENOMEM;
    pthread_mutex_init(&g->cbmu, NULL);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->c = c;
    *out = g;
    return 0;
}

/* Decides under mu whether state is news for the current hold and records
 * it; returns the callback to run (NULL: nothing). cbmu held. */
static coord_hold_cb guard_note(struct rcp_guard *g, uint64_t gen, int state,
                                void **data)
{
    coord_hold_cb cb = NULL;
    pthread_mutex_lock(&g->mu);
    bool live = g->path[0] != '\0' && !g->lost && gen == g->gen;
    if (live && state == COORD_LOCK_LOST)
        g->lost = true;
    if (live && (state != COORD_LOCK_HELD ||
                 g->reported == COORD_LOCK_MAYBE_LOST) &&
        g->reported != state) {
        g->reported = state;
        cb = g->cb;
        *data = g->data;
    }
    pthread_mutex_unlock(&g->mu);
    return cb;
}

static void guard_report(struct rcp_guard *g, uint64_t gen, int state)
{
    pthread_mutex_lock(&g->cbmu);
    void *data = NULL;
    coord_hold_cb cb = guard_note(g, gen, state, &data);
    if (cb != NULL) /* cbmu held: disarm and set_cb wait for it */
        cb(data, state);
    pthread_mutex_unlock(&g->cbmu);
}

static void guard_watch_cb(void *data, const struct coord_event *ev);

/* The reply of a read of the held node (after a reconnect or a watch
 * event): present means safe, missing means lost. */
static void guard_read_cb(void *data, int status,
                          const struct coord_stat *st)
{
    (void)st;
    struct guard_read *r = data;
    struct rcp_guard *g = r->g;
    if (status == 0)
        guard_report(g, r->gen, COORD_LOCK_HELD);
    else if (status == COORD_ENONODE)
        guard_report(g, r->gen, COORD_LOCK_LOST);
    coord_free_mem(r);
    pthread_mutex_lock(&g->mu);
    g->pending--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Reads the held node again, asynchronously (I/O thread); rewatch: set a
 * new watch with it. A read that cannot be submitted is skipped: the
 * next state change tries again. mu held. */
static void guard_read_locked(struct rcp_guard *g, bool rewatch)
{
    struct guard_read *r = coord_alloc_mem(sizeof(*r));
    if (r == NULL)
        return;
    r->g = g;
    r->gen = g->gen;
    struct coord_watcher w = {.cb = guard_watch_cb, .data = g};
    if (rewatch)
        snprintf(g->wpath, sizeof(g->wpath), "%s", g->path);
    int rc = coord_aexists(g->c, g->path, 0, rewatch ? &w : NULL,
                           guard_read_cb, r);
    if (rc != 0) {
        coord_free_mem(r);
        if (rewatch)
            g->wpath[0] = '\0';
        return;
    }
    g->pending++;
}

static void guard_watch_cb(void *data, const struct coord_event *ev)
{
    struct rcp_guard *g = data;
    pthread_mutex_lock(&g->mu);
    if (strcmp(ev->path, g->wpath) == 0)
        g->wpath[0] = '\0'; /* one-shot: fired */
    bool mine = g->path[0] != '\0' && strcmp(ev->path, g->path) == 0 &&
                !g->lost;
    uint64_t gen = g->gen;
    bool deleted = mine && ev->type == COORD_EVENT_DELETED;
    if (mine && !deleted)
        guard_read_locked(g, true); /* changed or must re-read: look */
    if (deleted)
        g->pending++; /* rcp_guard_free waits for the report below */
    pthread_mutex_unlock(&g->mu);
    if (!deleted)
        return;
    guard_report(g, gen, COORD_LOCK_LOST);
    pthread_mutex_lock(&g->mu);
    g->pending--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void guard_state_cb(void *data, int state)
{
    struct rcp_guard *g = data;
    pthread_mutex_lock(&g->mu);
    uint64_t gen = g->gen;
    bool armed = g->path[0] != '\0' && !g->lost;
    if (armed && state == COORD_STATE_RECONNECTED)
        guard_read_locked(g, false);
    pthread_mutex_unlock(&g->mu);
    if (!armed)
        return;
    if (state == COORD_STATE_DISCONNECTED)
        guard_report(g, gen, COORD_LOCK_MAYBE_LOST);
    else if (state == COORD_STATE_EXPIRED || state == COORD_STATE_CLOSED)
        guard_report(g, gen, COORD_LOCK_LOST);
}

int rcp_guard_set_cb(struct rcp_guard *g, coord_hold_cb cb, void *data)
{
    if (cb != NULL && g->lid == 0) {
        int rc = coord_add_state_listener(g->c, guard_state_cb, g, &g->lid);
        if (rc != 0)
            return rc;
    }
    pthread_mutex_lock(&g->cbmu);
    pthread_mutex_lock(&g->mu);
    g->cb = cb;
    g->data = data;
    pthread_mutex_unlock(&g->mu);
    pthread_mutex_unlock(&g->cbmu);
    return 0;
}

/* Drops a watch of ours that may still fire; false if it may remain. */
static bool guard_unwatch(struct rcp_guard *g)
{
    pthread_mutex_lock(&g->mu);
    char wp[RCP_PATH_MAX];
    memcpy(wp, g->wpath, sizeof(wp));
    pthread_mutex_unlock(&g->mu);
    if (wp[0] == '\0')
        return true;
    int st = coord_state(g->c);
    if (st == COORD_STATE_EXPIRED || st == COORD_STATE_CLOSED)
        return true; /* the client dropped every watch */
    int rc = coord_remove_watch(g->c, wp, COORD_WATCH_DATA);
    if (rc != 0 && rc != COORD_ENOWATCH)
        return false;
    pthread_mutex_lock(&g->mu);
    if (strcmp(g->wpath, wp) == 0)
        g->wpath[0] = '\0';
    pthread_mutex_unlock(&g->mu);
    return true;
}

void rcp_guard_arm(struct rcp_guard *g, const char *path)
{
    pthread_mutex_lock(&g->cbmu);
    pthread_mutex_lock(&g->mu);
    g->gen++;
    snprintf(g->path, sizeof(g->path), "%s", path);
    g->lost = false;
    g->reported = COORD_LOCK_HELD;
    bool want = g->cb != NULL;
    pthread_mutex_unlock(&g->mu);
    pthread_mutex_unlock(&g->cbmu);
    if (!want || !guard_unwatch(g))
        return; /* no callback, or an old watch we cannot replace */
    pthread_mutex_lock(&g->mu);
    snprintf(g->wpath, sizeof(g->wpath), "%s", path); /* before: it may
                                                         fire at once */
    pthread_mutex_unlock(&g->mu);
    struct coord_watcher w = {.cb = guard_watch_cb, .data = g};
    int rc = coord_exists(g->c, path, 0, &w, NULL);
    if (rc == COORD_ENONODE) { /* gone already: an exists watch was set */
        coord_remove_watch(g->c, path, COORD_WATCH_EXISTS);
        pthread_mutex_lock(&g->mu);
        g->wpath[0] = '\0';
        uint64_t gen = g->gen;
        pthread_mutex_unlock(&g->mu);
        guard_report(g, gen, COORD_LOCK_LOST);
    }
}

void rcp_guard_disarm(struct rcp_guard *g)
{
    pthread_mutex_lock(&g->cbmu);
    pthread_mutex_lock(&g->mu);
    g->path[0] = '\0';
    g->gen++;
    pthread_mutex_unlock(&g->mu);
    pthread_mutex_unlock(&g->cbmu);
}

bool rcp_guard_lost(struct rcp_guard *g)
{
    pthread_mutex_lock(&g->mu);
    bool lost = g->path[0] != '\0' && g->lost;
    pthread_mutex_unlock(&g->mu);
    return lost;
}

bool rcp_guard_free(struct rcp_guard *g)
{
    if (g == NULL)
        return true;
    rcp_guard_disarm(g);
    if (g->lid != 0)
        coord_remove_state_listener(g->c, g->lid);
    g->lid = 0;
    pthread_mutex_lock(&g->mu);
    while (g->pending > 0) /* each completes within the request timeout */
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    if (!guard_unwatch(g))
        return false; /* leaked: a watch may still call back */
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    pthread_mutex_destroy(&g->cbmu);
    coord_free_mem(g);
    return true;
}
