/* semaphore.c -- the counting semaphore recipe (coord_recipes.h,
 * docs/recipes.md): at most N holders, each an ephemeral-sequential node
 * PATH/holders/h-<guid>-<seq>. N is stored as the data of PATH so that
 * every handle agrees. Admission is serialized by an exclusive lock at
 * PATH/gate: only the gate's holder counts the holders and, if fewer than
 * N, creates its holder node in a multi that also checks it still holds
 * the gate; so no herd: waiters queue on the gate (one predecessor watch
 * each) and only the gate holder watches the holders list. Public coord.h
 * API only; must not be called from a libcoord callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

#define SEM_PREFIX "h"
#define SEM_HOLDERS "holders"
#define SEM_GATE "gate"
/* The gate holder re-lists the holders at least this often even without
 * a watch event (a watch of ours removed by another handle of the same
 * client, see docs/recipes.md). */
#define SEM_RELIST_MS 1000

struct coord_semaphore {
    struct coord_client *c;
    char path[RCP_PATH_MAX];
    char holders[RCP_PATH_MAX];
    char guid[RCP_GUID_LEN + 1];
    int n;
    struct coord_lock *gate;
    struct rcp_node node; /* our holder node ("" when none) */
    bool held;
    bool dirty; /* a holder node of ours may exist unknown to us */
    struct rcp_wait *w;
    struct rcp_guard *guard;
};

/* Parses the decimal N stored at PATH; -1 if it is not one. */
static long sem_parse(const char *v, size_t len)
{
    if (len == 0 || len > 10)
        return -1;
    long x = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* Creates PATH holding n, or checks that the existing one holds n. */
static int sem_ensure(struct coord_semaphore *s)
{
    char val[16];
    int k = snprintf(val, sizeof(val), "%d", s->n);
    int rc = coord_create(s->c, s->path, val, (size_t)k, 0, 0, NULL, NULL);
    if (rc == COORD_ENONODE) { /* a parent is missing */
        char parent[RCP_PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", s->path);
        char *slash = strrchr(parent, '/');
        *slash = '\0';
        if (parent[0] != '\0' && (rc = rcp_mkpath(s->c, parent)) != 0)
            return rc;
        rc = coord_create(s->c, s->path, val, (size_t)k, 0, 0, NULL, NULL);
    }
    if (rc == 0)
        return 0;
    if (rc != COORD_ENODEEXISTS && rc != COORD_ECONNLOSS &&
        rc != COORD_ETIMEDOUT)
        return rc;
    void *v = NULL;
    size_t len = 0;
    if ((rc = coord_get(s->c, s->path, 0, NULL, &v, &len, NULL)) != 0)
        return rc;
    long have = sem_parse(v, len);
    coord_free_mem(v);
    return have == s->n ? 0 : COORD_EINVAL; /* N disagrees, or not ours */
}

static int sem_init(struct coord_semaphore *s, struct coord_client *c,
                    const char *path, int n)
{
    s->c = c;
    s->n = n;
    snprintf(s->path, sizeof(s->path), "%s", path);
    rcp_guid(s->guid);
    char gate[RCP_PATH_MAX];
    int rc;
    if ((rc = rcp_join(s->holders, sizeof(s->holders), path,
                       SEM_HOLDERS)) != 0 ||
        (rc = rcp_join(gate, sizeof(gate), path, SEM_GATE)) != 0)
        return rc;
    if ((rc = rcp_wait_new(&s->w)) != 0 ||
        (rc = rcp_guard_new(&s->guard, c)) != 0 ||
        (rc = coord_lock_new(&s->gate, c, gate)) != 0)
        return rc;
    if ((rc = sem_ensure(s)) != 0)
        return rc;
    return rcp_mkpath(c, s->holders);
}

int coord_semaphore_new(struct coord_semaphore **out,
                        struct coord_client *c, const char *path, int n)
{
    if (out == NULL || c == NULL || path == NULL || path[0] != '/' ||
        path[1] == '\0' || n < 1 || n > COORD_SEMAPHORE_MAX ||
        strlen(path) + RCP_NAME_MAX + 16 >= RCP_PATH_MAX)
        return COORD_EINVAL;
    struct coord_semaphore *s = coord_alloc_mem(sizeof(*s));
    if (s == NULL)
        return COORD_ENOMEM;
    int rc = sem_init(s, c, path, n);
    if (rc != 0) {
        coord_semaphore_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void coord_semaphore_free(struct coord_semaphore *s)
{
    if (s == NULL)
        return;
    if (s->guard != NULL)
        rcp_guard_disarm(s->guard);
    if (s->node.name[0] != '\0')
        rcp_node_delete(s->c, s->holders, &s->node);
    if (s->dirty)
        rcp_node_purge(s->c, s->holders, s->guid);
    coord_lock_free(s->gate);
    rcp_guard_free(s->guard);
    rcp_wait_free(s->w, s->c);
    coord_free_mem(s);
}

/* Holders now (children named h-*); watches the list if w. */
static int sem_count(struct coord_semaphore *s, bool watch, size_t *n)
{
    struct coord_child_list l;
    struct coord_watcher cw = rcp_watcher(s->w);
    int rc = coord_children_all(s->c, s->holders, 0, watch ? &cw : NULL,
                                &l);
    if (rc != 0)
        return rc;
    if (watch)
        rcp_wait_armed(s->w, s->holders, COORD_WATCH_CHILDREN);
    *n = 0;
    for (size_t i = 0; i < l.n; i++)
        if (strncmp(l.names[i], SEM_PREFIX "-", 2) == 0)
            (*n)++;
    coord_child_list_free(&l);
    return 0;
}

/* Creates our holder node if we still hold the gate; resolves a lost
 * reply by looking for our guid. */
static int sem_enter(struct coord_semaphore *s)
{
    char p[RCP_PATH_MAX];
    int k = snprintf(p, sizeof(p), "%s/%s-%s-", s->holders, SEM_PREFIX,
                     s->guid);
    if (k < 0 || (size_t)k >= sizeof(p))
        return COORD_ETOOBIG;
    struct coord_multi *m;
    int rc = coord_multi_new(&m);
    if (rc != 0)
        return rc;
    if ((rc = coord_lock_check_op(s->gate, m)) == 0 &&
        (rc = coord_multi_create(m, p, "", 0,
                                 COORD_EPHEMERAL | COORD_SEQUENTIAL, 0)) == 0)
        rc = coord_multi(s->c, m);
    const struct coord_op_result *r = coord_multi_result(m, 1);
    if (rc == 0 && r != NULL && r->path != NULL) {
        const char *slash = strrchr(r->path, '/');
        snprintf(s->node.name, sizeof(s->node.name), "%s", slash + 1);
        s->node.czxid = r->stat.czxid;
    } else if (rc == COORD_ECONNLOSS || rc == COORD_ETIMEDOUT) {
        int f = rcp_node_find(s->c, s->holders, s->guid, &s->node);
        rc = f == 1 ? 0 : f == 0 ? COORD_ECONNLOSS : f;
        s->dirty = f != 1; /* it may still apply: purge before retry */
    }
    coord_multi_free(m);
    return rc;
}

/* Holding the gate: waits for a free slot and takes it. */
static int sem_admit(struct coord_semaphore *s, bool wait, int64_t deadline)
{
    for (;;) {
        size_t n;
        uint64_t seen = rcp_wait_seen(s->w);
        int rc = sem_count(s, wait, &n);
        if (rc != 0)
            return rc;
        if (n < (size_t)s->n)
            return sem_enter(s);
        if (!wait)
            return COORD_EBUSY;
        int64_t until = rcp_now_ms() + SEM_RELIST_MS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        rc = rcp_wait_until(s->w, seen, until, s->c);
        if (rc == COORD_ETIMEDOUT && (deadline < 0 || until < deadline))
            continue; /* a periodic re-list, not the caller's deadline */
        if (rc != 0)
            return rc;
    }
}

static int sem_take(struct coord_semaphore *s, int timeout_ms, bool wait,
                    uint64_t *token)
{
    if (s == NULL)
        return COORD_EINVAL;
    if (s->held)
        return COORD_EBUSY;
    int64_t deadline = rcp_deadline(timeout_ms);
    int rc;
    if (s->dirty) {
        if ((rc = rcp_node_purge(s->c, s->holders, s->guid)) != 0)
            return rc;
        s->dirty = false;
    }
    rc = wait ? coord_lock_acquire(s->gate, timeout_ms, NULL)
              : coord_lock_try(s->gate, NULL);
    if (rc != 0)
        return rc;
    rc = sem_admit(s, wait, deadline);
    int rr = coord_lock_release(s->gate);
    (void)rr; /* a gate node left behind is retried by the next acquire */
    if (rc != 0)
        return rc;
    s->held = true;
    char np[RCP_PATH_MAX];
    if (rcp_join(np, sizeof(np), s->holders, s->node.name) == 0)
        rcp_guard_arm(s->guard, np);
    if (token != NULL)
        *token = s->node.czxid;
    return 0;
}

int coord_semaphore_acquire(struct coord_semaphore *s, int timeout_ms,
                            uint64_t *token)
{
    return sem_take(s, timeout_ms, true, token);
}

int coord_semaphore_try(struct coord_semaphore *s, uint64_t *token)
{
    return sem_take(s, 0, false, token);
}

int coord_semaphore_release(struct coord_semaphore *s)
{
    if (s == NULL || (!s->held && s->node.name[0] == '\0'))
        return COORD_EINVAL;
    s->held = false;
    rcp_guard_disarm(s->guard);
    char name[RCP_NAME_MAX];
    memcpy(name, s->node.name, sizeof(name));
    int rc = rcp_node_delete(s->c, s->holders, &s->node);
    if (rc != 0) { /* keep the name so that a second call retries */
        memcpy(s->node.name, name, sizeof(name));
        s->dirty = true;
    }
    return rc;
}

int coord_semaphore_state(struct coord_semaphore *s)
{
    if (s == NULL)
        return COORD_LOCK_FREE;
    return rcp_hold_state(s->c, s->held, s->guard);
}

uint64_t coord_semaphore_token(struct coord_semaphore *s)
{
    return s != NULL && s->held ? s->node.czxid : 0;
}

int coord_semaphore_check_op(struct coord_semaphore *s,
                             struct coord_multi *m)
{
    if (s == NULL || m == NULL || !s->held)
        return COORD_EINVAL;
    char path[RCP_PATH_MAX];
    int rc = rcp_join(path, sizeof(path), s->holders, s->node.name);
    return rc != 0 ? rc : coord_multi_check(m, path, 0);
}

int coord_semaphore_on_loss(struct coord_semaphore *s, coord_hold_cb cb,
                            void *data)
{
    return s == NULL ? COORD_EINVAL : rcp_guard_set_cb(s->guard, cb, data);
}
