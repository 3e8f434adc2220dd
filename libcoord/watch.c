/* watch.c -- the client-side watch table: which callbacks a watch event
 * fires, which one-shot registrations it consumes, and the path lists that
 * SET_WATCHES re-registers on a new connection. ZooKeeper's rules: CREATED
 * fires exists and data watches; DATA_CHANGED data and exists watches;
 * DELETED data, exists and children watches; CHILDREN_CHANGED children
 * watches; persistent watches see every event on their path and recursive
 * ones every event except CHILDREN_CHANGED at or under theirs; MUST_REREAD
 * (docs/protocol.md 3.14: one per watched path whose events were lost)
 * fires every watch on its path. Touched only
 * by the I/O thread after coord_open(); never runs a callback itself.
 * Every operation costs the registrations on the paths it involves (a
 * hash table by path), never a scan of the whole table: a client may hold
 * COORD_CLIENT_WATCHES_MAX of them.
 */
#include "client_int.h"

#include <stdlib.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#define WATCHTAB_BUCKETS_MIN 64

void coord__watchtab_init(struct coord__watchtab *t, size_t max)
{
    coord_assert(max > 0);
    memset(t, 0, sizeof(*t));
    t->max = max;
}

void coord__watchtab_clear(struct coord__watchtab *t)
{
    struct coord__watch *e = t->head;
    while (e != NULL) {
        struct coord__watch *next = e->next;
        coord_free(e->path);
        coord_free(e);
        e = next;
    }
    if (t->buckets != NULL)
        memset(t->buckets, 0, t->n_buckets * sizeof(*t->buckets));
    t->head = t->tail = NULL;
    t->n = t->n_recursive = 0;
}

void coord__watchtab_free(struct coord__watchtab *t)
{
    coord__watchtab_clear(t);
    coord_free(t->buckets);
    t->buckets = NULL;
    t->n_buckets = 0;
}

static uint64_t path_hash(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The chain of registrations whose path hashes like h (NULL if none). */
static struct coord__watch *chain(const struct coord__watchtab *t,
                                  uint64_t h)
{
    return t->n_buckets ? t->buckets[h & (t->n_buckets - 1)] : NULL;
}

static bool same_path(const struct coord__watch *e, const char *p,
                      size_t len, uint64_t h)
{
    return e->hash == h && e->len == len && memcmp(e->path, p, len) == 0;
}

static bool same_watcher(const struct coord_watcher *a,
                         const struct coord_watcher *b)
{
    return a->cb == b->cb && a->data == b->data;
}

/* Keeps at least one bucket per registration; on allocation failure the
 * old array stays (longer chains, still correct). False only when there is
 * no array at all. */
static bool grow(struct coord__watchtab *t)
{
    if (t->n_buckets > t->n)
        return true;
    size_t n = t->n_buckets ? t->n_buckets * 2 : WATCHTAB_BUCKETS_MIN;
    struct coord__watch **nb = coord_calloc(n, sizeof(*nb));
    if (nb == NULL)
        return t->n_buckets > 0;
    for (size_t b = 0; b < t->n_buckets; b++) {
        struct coord__watch *e = t->buckets[b];
        while (e != NULL) {
            struct coord__watch *next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    coord_free(t->buckets);
    t->buckets = nb;
    t->n_buckets = n;
    return true;
}

static void link_entry(struct coord__watchtab *t, struct coord__watch *e)
{
    struct coord__watch **b = &t->buckets[e->hash & (t->n_buckets - 1)];
    e->hnext = *b;
    *b = e;
    e->prev = t->tail;
    e->next = NULL;
    if (t->tail != NULL)
        t->tail->next = e;
    else
        t->head = e;
    t->tail = e;
    t->n++;
    if (e->kind == COORD_WATCH_PERSISTENT_RECURSIVE)
        t->n_recursive++;
}

int coord__watchtab_add(struct coord__watchtab *t, const char *path,
                        size_t path_len, uint32_t kind,
                        const struct coord_watcher *w)
{
    coord_assert(kind >= COORD_WATCH_DATA &&
                 kind <= COORD_WATCH_PERSISTENT_RECURSIVE);
    uint64_t h = path_hash(path, path_len);
    for (const struct coord__watch *e = chain(t, h); e; e = e->hnext)
        if (e->kind == kind && same_watcher(&e->w, w) &&
            same_path(e, path, path_len, h))
            return 0;
    if (t->n == t->max)
        return COORD_ETOOMANY;
    if (!grow(t))
        return COORD_ENOMEM;
    struct coord__watch *e = coord_calloc(1, sizeof(*e));
    char *p = coord_strndup(path, path_len);
    if (e == NULL || p == NULL) {
        coord_free(e);
        coord_free(p);
        return COORD_ENOMEM;
    }
    *e = (struct coord__watch){.path = p, .kind = kind, .w = *w,
                               .seq = ++t->seq, .hash = h,
                               .len = path_len};
    link_entry(t, e);
    return 0;
}

/* Unlinks e and frees it; returns its path (the caller's now). */
static char *remove_entry(struct coord__watchtab *t, struct coord__watch *e)
{
    struct coord__watch **pp = &t->buckets[e->hash & (t->n_buckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    t->n--;
    if (e->kind == COORD_WATCH_PERSISTENT_RECURSIVE)
        t->n_recursive--;
    char *p = e->path;
    coord_free(e);
    return p;
}

size_t coord__watchtab_remove(struct coord__watchtab *t, const char *path,
                              uint32_t kind)
{
    size_t n = 0, len = strlen(path);
    uint64_t h = path_hash(path, len);
    struct coord__watch *e = chain(t, h);
    while (e != NULL) {
        struct coord__watch *next = e->hnext;
        if (e->kind == kind && same_path(e, path, len, h)) {
            coord_free(remove_entry(t, e));
            n++;
        }
        e = next;
    }
    return n;
}

/* True if path is at or under root. */
static bool under(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0)
        return true;
    return strncmp(path, root, n) == 0 &&
           (path[n] == '\0' || path[n] == '/');
}

static bool fires(const struct coord__watch *e, uint32_t type,
                  const char *path)
{
    if (type == COORD_EVENT_MUST_REREAD) /* names the watched path */
        return strcmp(e->path, path) == 0;
    if (e->kind == COORD_WATCH_PERSISTENT_RECURSIVE)
        return type != COORD_EVENT_CHILDREN_CHANGED && under(path, e->path);
    if (strcmp(e->path, path) != 0)
        return false;
    switch (e->kind) {
    case COORD_WATCH_DATA:
    case COORD_WATCH_EXISTS:
        return type == COORD_EVENT_CREATED || type == COORD_EVENT_DELETED ||
               type == COORD_EVENT_DATA_CHANGED;
    case COORD_WATCH_CHILDREN:
        return type == COORD_EVENT_DELETED ||
               type == COORD_EVENT_CHILDREN_CHANGED;
    case COORD_WATCH_PERSISTENT:
        return true;
    default:
        return false;
    }
}

static bool one_shot(uint32_t kind)
{
    return kind == COORD_WATCH_DATA || kind == COORD_WATCH_EXISTS ||
           kind == COORD_WATCH_CHILDREN;
}

/* Calls visit(e, arg) for every registration (type, path) fires, in no
 * particular order: those on path itself, then (recursive ones only, and
 * not for MUST_REREAD, which names one watched path) those on each
 * proper ancestor of path. visit must not change the table. */
static void each_firing(const struct coord__watchtab *t, uint32_t type,
                        const char *path,
                        void (*visit)(struct coord__watch *e, void *arg),
                        void *arg)
{
    size_t len = strlen(path);
    uint64_t h = path_hash(path, len);
    for (struct coord__watch *e = chain(t, h); e; e = e->hnext)
        if (same_path(e, path, len, h) && fires(e, type, path))
            visit(e, arg);
    if (t->n_recursive == 0 || type == COORD_EVENT_MUST_REREAD)
        return;
    /* "/a/b/c" -> "/a/b", "/a", "/" */
    while (len > 1) {
        while (len > 0 && path[len - 1] != '/')
            len--;
        len = len > 1 ? len - 1 : 1;
        h = path_hash(path, len);
        for (struct coord__watch *e = chain(t, h); e; e = e->hnext)
            if (e->kind == COORD_WATCH_PERSISTENT_RECURSIVE &&
                same_path(e, path, len, h) && fires(e, type, path))
                visit(e, arg);
    }
}

static void count_one(struct coord__watch *e, void *arg)
{
    (void)e;
    (*(size_t *)arg)++;
}

size_t coord__watchtab_count(const struct coord__watchtab *t, uint32_t type,
                             const char *path)
{
    size_t n = 0;
    each_firing(t, type, path, count_one, &n);
    return n;
}

struct collect {
    struct coord__fired *out;
    const char *path;
    size_t n;
};

static void collect_one(struct coord__watch *e, void *arg)
{
    struct collect *c = arg;
    c->out[c->n++] = (struct coord__fired){.w = e->w, .kind = e->kind,
                                           .path = c->path, .entry = e};
}

static int by_seq(const void *a, const void *b)
{
    const struct coord__fired *x = a, *y = b;
    return x->entry->seq < y->entry->seq ? -1
                                         : x->entry->seq > y->entry->seq;
}

size_t coord__watchtab_match(struct coord__watchtab *t, uint32_t type,
                             const char *path, struct coord__fired *out,
                             size_t max, char **owned, size_t owned_max)
{
    coord_assert(owned_max >= max);
    size_t total = coord__watchtab_count(t, type, path);
    if (total > max)
        return total; /* nothing done: the caller passes a bigger array */
    struct collect c = {out, path, 0};
    each_firing(t, type, path, collect_one, &c);
    coord_assert(c.n == total);
    qsort(out, total, sizeof(*out), by_seq);
    size_t n_owned = 0;
    for (size_t i = 0; i < total; i++) {
        if (one_shot(out[i].kind))
            owned[n_owned++] = remove_entry(t, out[i].entry);
        out[i].entry = NULL;
    }
    return total;
}

void coord__watchtab_release(char **owned, size_t n)
{
    for (size_t i = 0; i < n; i++)
        coord_free(owned[i]);
}

/* True if a registration before e (in registration order) has e's path
 * and kind. */
static bool earlier_twin(const struct coord__watchtab *t,
                         const struct coord__watch *e)
{
    for (const struct coord__watch *o = chain(t, e->hash); o; o = o->hnext)
        if (o->seq < e->seq && o->kind == e->kind &&
            same_path(o, e->path, e->len, e->hash))
            return true;
    return false;
}

/* Adds e to an open-addressing set of entries (cap a power of two, more
 * slots than entries) unless one with its path is there: true if so. */
static bool seen_path(const struct coord__watch **set, size_t cap,
                      const struct coord__watch *e)
{
    for (size_t i = e->hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (set[i] == NULL) {
            set[i] = e;
            return false;
        }
        if (same_path(set[i], e->path, e->len, e->hash))
            return true;
    }
}

/* Each path of kind once, in registration order. The paths listed so far
 * are kept in a scratch set (linear in the table, also with k watchers on
 * one path); without memory for it, each entry's hash chain is searched
 * for an earlier twin instead (quadratic in k, still correct). */
size_t coord__watchtab_paths(const struct coord__watchtab *t, uint32_t kind,
                             struct wire_bytes *out, size_t max)
{
    size_t cap = 16;
    while (cap < 2 * t->n)
        cap *= 2;
    const struct coord__watch **set = coord_calloc(cap, sizeof(*set));
    size_t n = 0;
    for (const struct coord__watch *e = t->head; e && n < max; e = e->next) {
        if (e->kind != kind)
            continue;
        bool twin = set ? seen_path(set, cap, e) : earlier_twin(t, e);
        if (!twin)
            out[n++] = (struct wire_bytes){e->path, (uint32_t)e->len};
    }
    coord_free(set);
    return n;
}
