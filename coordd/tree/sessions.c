/* sessions.c -- the replicated session table of the tree state machine:
 * open, close and expire through the log, ephemeral ownership, and the
 * per-session request deduplication window.
 *
 * Session ids, secrets and timeouts come in the command, chosen by the
 * proposer; liveness (pings, timers) lives in coordd/lease.c, which proposes
 * expiry. Ending a session deletes its ephemeral nodes in path order, in the
 * same apply, so every replica emits the same events in the same order.
 * Must not: read a clock, draw random numbers, do I/O.
 */
#include "tree_int.h"

#include <stdlib.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* The fixed part (id, secret, timeout) is hashed once, at open. */
static uint64_t session_base_hash(const struct tree_session *s)
{
    uint64_t h = tree_hash_bytes(s->secret, sizeof(s->secret), s->id);
    return tree_hash_bytes(NULL, 0, h + s->timeout_ms);
}

uint64_t tree_session_digest(const struct tree_session *s)
{
    return tree_hash_bytes(NULL, 0, s->base_hash ^ s->last_xid);
}

static uint32_t sbucket(const struct tree *t, uint64_t id)
{
    return (uint32_t)(tree_hash_bytes(NULL, 0, id) & (t->n_sbuckets - 1));
}

struct tree_session *tree_session_find(const struct tree *t, uint64_t id)
{
    struct tree_session *s = t->sbuckets[sbucket(t, id)];
    while (s != NULL && s->id != id)
        s = s->hnext;
    return s;
}

static void sessions_grow(struct tree *t)
{
    uint32_t old = t->n_sbuckets;
    struct tree_session **ob = t->sbuckets;
    t->n_sbuckets = old * 2;
    t->sbuckets = coord_calloc(t->n_sbuckets, sizeof(*t->sbuckets));
    if (t->sbuckets == NULL)
        coord_panic("tree: out of memory growing the session table");
    for (uint32_t i = 0; i < old; i++) {
        struct tree_session *s = ob[i], *next;
        for (; s != NULL; s = next) {
            next = s->hnext;
            s->hnext = t->sbuckets[sbucket(t, s->id)];
            t->sbuckets[sbucket(t, s->id)] = s;
        }
    }
    coord_free(ob);
}

/* Inserts a new session (not yet in the table) and counts it in the
 * digest. */
void tree_session_insert(struct tree *t, struct tree_session *s)
{
    coord_assert(tree_session_find(t, s->id) == NULL);
    s->base_hash = session_base_hash(s);
    if (t->n_sessions >= t->n_sbuckets)
        sessions_grow(t);
    uint32_t b = sbucket(t, s->id);
    s->hnext = t->sbuckets[b];
    t->sbuckets[b] = s;
    t->n_sessions++;
    t->digest += tree_session_digest(s);
}

int tree_session_open(struct tree *t, const struct tree_cmd *cmd)
{
    if (cmd->session_id == 0 ||
        cmd->timeout_ms < COORDD_SESSION_TIMEOUT_MS_FLOOR ||
        cmd->timeout_ms > COORDD_SESSION_TIMEOUT_MS_CEIL)
        return COORD_EINVAL;
    struct tree_session *s = tree_session_find(t, cmd->session_id);
    if (s != NULL) {
        /* A retried open of the same session is not an error; nothing is
         * applied, so the result says "cached". */
        bool same = memcmp(s->secret, cmd->secret, sizeof(s->secret)) == 0 &&
                    s->timeout_ms == cmd->timeout_ms;
        t->result.cached = same;
        return same ? 0 : COORD_EAUTH;
    }
    if (t->n_sessions >= t->cfg.sessions_max)
        return COORD_ETOOMANY;
    s = coord_calloc(1, sizeof(*s));
    if (s == NULL)
        coord_panic("tree: out of memory opening a session");
    s->id = cmd->session_id;
    s->timeout_ms = cmd->timeout_ms;
    memcpy(s->secret, cmd->secret, sizeof(s->secret));
    tree_session_insert(t, s);
    return 0;
}

void tree_session_free(struct tree_session *s)
{
    for (uint32_t i = 0; i < TREE_DEDUP_WINDOW; i++)
        coord_free(s->cache[i].bytes);
    coord_free(s->eph.v);
    coord_free(s);
}

static int node_path_cmp(const void *a, const void *b)
{
    const struct tree_node *x = *(const struct tree_node *const *)a;
    const struct tree_node *y = *(const struct tree_node *const *)b;
    return tree_name_cmp(x->path, x->path_len, y->path, y->path_len);
}

/* Deletes the session's ephemerals (in path order, with events) and
 * removes it. The caller commits. */
void tree_session_end(struct tree *t, struct tree_session *s)
{
    uint32_t n = s->n_ephemerals, i = 0;
    struct tree_node **v = NULL;
    if (n > 0) {
        v = coord_malloc(n * sizeof(*v));
        if (v == NULL)
            coord_panic("tree: out of memory ending a session");
        coord_assert(s->eph.n == n);
        for (i = 0; i < n; i++)
            v[i] = s->eph.v[i];
        qsort(v, n, sizeof(*v), node_path_cmp);
        for (i = 0; i < n; i++)
            tree_delete_node(t, v[i]);
        coord_free(v);
    }
    coord_assert(s->n_ephemerals == 0 && s->eph.n == 0);
    struct tree_session **pp = &t->sbuckets[sbucket(t, s->id)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    t->n_sessions--;
    t->digest -= tree_session_digest(s);
    tree_session_free(s);
}

void tree_session_cache_put(struct tree_session *s, uint64_t xid,
                            const struct tree_result *r)
{
    struct tree_cache_entry *c = &s->cache[s->cache_next];
    size_t n = tree_result_size(r);
    if (n > c->cap) {
        coord_free(c->bytes);
        c->bytes = coord_malloc(n);
        if (c->bytes == NULL)
            coord_panic("tree: out of memory caching a result");
        c->cap = (uint32_t)n;
    }
    tree_result_encode(r, c->bytes);
    c->len = (uint32_t)n;
    c->xid = xid;
    s->cache_next = (s->cache_next + 1) % TREE_DEDUP_WINDOW;
    if (s->n_cache < TREE_DEDUP_WINDOW)
        s->n_cache++;
}

const struct tree_cache_entry *tree_session_cache_get(
    const struct tree_session *s, uint64_t xid)
{
    for (uint32_t i = 0; i < TREE_DEDUP_WINDOW; i++)
        if (s->cache[i].bytes != NULL && s->cache[i].xid == xid)
            return &s->cache[i];
    return NULL;
}

void tree_sessions_free_all(struct tree *t)
{
    for (uint32_t i = 0; i < t->n_sbuckets; i++) {
        struct tree_session *s = t->sbuckets[i], *next;
        for (; s != NULL; s = next) {
            next = s->hnext;
            tree_session_free(s);
        }
        t->sbuckets[i] = NULL;
    }
    t->n_sessions = 0;
}

int tree_session_get(const struct tree *t, uint64_t id, uint32_t *timeout_ms,
                     uint32_t *ephemerals, uint64_t *last_xid)
{
    const struct tree_session *s = tree_session_find(t, id);
    if (s == NULL)
        return COORD_ENOSESSION;
    if (timeout_ms != NULL)
        *timeout_ms = s->timeout_ms;
    if (ephemerals != NULL)
        *ephemerals = s->n_ephemerals;
    if (last_xid != NULL)
        *last_xid = s->last_xid;
    return 0;
}

bool tree_session_secret_ok(const struct tree *t, uint64_t id,
                            const uint8_t secret[COORD_SECRET_BYTES])
{
    const struct tree_session *s = tree_session_find(t, id);
    return s != NULL && memcmp(s->secret, secret, COORD_SECRET_BYTES) == 0;
}

uint32_t tree_session_count(const struct tree *t)
{
    return t->n_sessions;
}

void tree_sessions_each(const struct tree *t,
                        void (*cb)(void *data, uint64_t id), void *data)
{
    for (uint32_t i = 0; i < t->n_sbuckets; i++)
        for (struct tree_session *s = t->sbuckets[i]; s; s = s->hnext)
            cb(data, s->id);
}
