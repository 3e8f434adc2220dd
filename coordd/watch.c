/* watch.c -- the watch registry: a hash table from path to the watches on
 * it, each watch also linked into its owner's list so a closing session
 * drops all of its watches in O(its watches). Trigger rules: watch.h. */
#include "watch.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#define WATCH_BUCKETS_INITIAL 1024

struct watch {
    struct watch_path *wp;
    struct watch_owner *owner;
    uint8_t kind;
    struct watch *next_in_path;
    struct watch *prev_in_path;
    struct watch *next_in_owner;
    struct watch *prev_in_owner;
};

struct watch_path {
    struct watch_path *next; /* bucket chain */
    uint64_t hash;
    struct watch *list;
    uint32_t n_recursive;
    uint32_t len;
    char path[]; /* len bytes */
};

static uint64_t path_hash(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int watch_table_init(struct watch_table *wt, uint32_t per_owner_max)
{
    memset(wt, 0, sizeof(*wt));
    wt->buckets = coord_calloc(WATCH_BUCKETS_INITIAL, sizeof(*wt->buckets));
    if (!wt->buckets)
        return COORD_ENOMEM;
    wt->n_buckets = WATCH_BUCKETS_INITIAL;
    wt->per_owner_max = per_owner_max;
    return 0;
}

void watch_table_close(struct watch_table *wt)
{
    for (uint32_t b = 0; b < wt->n_buckets; b++) {
        struct watch_path *wp = wt->buckets[b];
        while (wp) {
            struct watch_path *next = wp->next;
            struct watch *w = wp->list;
            while (w) {
                struct watch *wn = w->next_in_path;
                coord_free(w);
                w = wn;
            }
            coord_free(wp);
            wp = next;
        }
    }
    coord_free(wt->buckets);
    memset(wt, 0, sizeof(*wt));
}

static struct watch_path *path_find(const struct watch_table *wt,
                                    const char *p, size_t len, uint64_t h)
{
    struct watch_path *wp = wt->buckets[h & (wt->n_buckets - 1)];
    for (; wp; wp = wp->next)
        if (wp->hash == h && wp->len == len && !memcmp(wp->path, p, len))
            return wp;
    return NULL;
}

/* Doubles the bucket array when paths outnumber buckets; on allocation
 * failure keeps the old one (longer chains, still correct). */
static void table_grow(struct watch_table *wt)
{
    uint32_t n = wt->n_buckets * 2;
    struct watch_path **nb = coord_calloc(n, sizeof(*nb));
    if (!nb)
        return;
    for (uint32_t b = 0; b < wt->n_buckets; b++) {
        struct watch_path *wp = wt->buckets[b];
        while (wp) {
            struct watch_path *next = wp->next;
            wp->next = nb[wp->hash & (n - 1)];
            nb[wp->hash & (n - 1)] = wp;
            wp = next;
        }
    }
    coord_free(wt->buckets);
    wt->buckets = nb;
    wt->n_buckets = n;
}

static struct watch_path *path_get(struct watch_table *wt, const char *p,
                                   size_t len)
{
    uint64_t h = path_hash(p, len);
    struct watch_path *wp = path_find(wt, p, len, h);
    if (wp)
        return wp;
    wp = coord_calloc(1, sizeof(*wp) + len);
    if (!wp)
        return NULL;
    wp->hash = h;
    wp->len = (uint32_t)len;
    memcpy(wp->path, p, len);
    if (wt->n_paths >= wt->n_buckets)
        table_grow(wt);
    uint32_t b = (uint32_t)(h & (wt->n_buckets - 1));
    wp->next = wt->buckets[b];
    wt->buckets[b] = wp;
    wt->n_paths++;
    return wp;
}

static void path_release(struct watch_table *wt, struct watch_path *wp)
{
    if (wp->list)
        return;
    struct watch_path **pp = &wt->buckets[wp->hash & (wt->n_buckets - 1)];
    while (*pp != wp)
        pp = &(*pp)->next;
    *pp = wp->next;
    wt->n_paths--;
    coord_free(wp);
}

int watch_add(struct watch_table *wt, struct watch_owner *o,
              const char *path, size_t len, uint8_t kind)
{
    if (kind < COORD_WATCH_DATA || kind > COORD_WATCH_PERSISTENT_RECURSIVE)
        return COORD_EINVAL;
    struct watch_path *wp = path_get(wt, path, len);
    if (!wp)
        return COORD_ENOMEM;
    for (struct watch *w = wp->list; w; w = w->next_in_path)
        if (w->owner == o && w->kind == kind)
            return 0;
    if (o->count >= wt->per_owner_max) {
        path_release(wt, wp);
        return COORD_ETOOMANY;
    }
    struct watch *w = coord_calloc(1, sizeof(*w));
    if (!w) {
        path_release(wt, wp);
        return COORD_ENOMEM;
    }
    w->wp = wp;
    w->owner = o;
    w->kind = kind;
    w->next_in_path = wp->list;
    if (wp->list)
        wp->list->prev_in_path = w;
    wp->list = w;
    w->next_in_owner = o->list;
    if (o->list)
        o->list->prev_in_owner = w;
    o->list = w;
    o->count++;
    wt->n_watches++;
    if (kind == COORD_WATCH_PERSISTENT_RECURSIVE) {
        wp->n_recursive++;
        wt->n_recursive++;
    }
    return 0;
}

/* Unlinks and frees w; frees its path entry when it was the last. */
static void watch_unlink(struct watch_table *wt, struct watch *w)
{
    struct watch_path *wp = w->wp;
    struct watch_owner *o = w->owner;
    if (w->prev_in_path)
        w->prev_in_path->next_in_path = w->next_in_path;
    else
        wp->list = w->next_in_path;
    if (w->next_in_path)
        w->next_in_path->prev_in_path = w->prev_in_path;
    if (w->prev_in_owner)
        w->prev_in_owner->next_in_owner = w->next_in_owner;
    else
        o->list = w->next_in_owner;
    if (w->next_in_owner)
        w->next_in_owner->prev_in_owner = w->prev_in_owner;
    coord_assert(o->count > 0 && wt->n_watches > 0);
    o->count--;
    wt->n_watches--;
    if (w->kind == COORD_WATCH_PERSISTENT_RECURSIVE) {
        wp->n_recursive--;
        wt->n_recursive--;
    }
    coord_free(w);
    path_release(wt, wp);
}

int watch_remove(struct watch_table *wt, struct watch_owner *o,
                 const char *path, size_t len, uint8_t kind)
{
    struct watch_path *wp = path_find(wt, path, len, path_hash(path, len));
    if (!wp)
        return COORD_ENOWATCH;
    int found = 0;
    struct watch *w = wp->list;
    while (w) {
        struct watch *next = w->next_in_path;
        bool last = next == NULL;
        if (w->owner == o && (kind == 0 || w->kind == kind)) {
            found = 1;
            watch_unlink(wt, w); /* may free wp when it was the last */
        }
        if (last)
            break;
        w = next;
    }
    return found ? 0 : COORD_ENOWATCH;
}

void watch_remove_owner(struct watch_table *wt, struct watch_owner *o)
{
    while (o->list)
        watch_unlink(wt, o->list);
    coord_assert(o->count == 0);
}

static bool kind_matches(uint8_t kind, uint8_t type, bool exact)
{
    if (!exact)
        return kind == COORD_WATCH_PERSISTENT_RECURSIVE &&
               type != COORD_EVENT_CHILDREN_CHANGED;
    switch (kind) {
    case COORD_WATCH_DATA:
    case COORD_WATCH_EXISTS:
        return type != COORD_EVENT_CHILDREN_CHANGED;
    case COORD_WATCH_CHILDREN:
        return type == COORD_EVENT_CHILDREN_CHANGED ||
               type == COORD_EVENT_DELETED;
    case COORD_WATCH_PERSISTENT:
        return true;
    case COORD_WATCH_PERSISTENT_RECURSIVE:
        return type != COORD_EVENT_CHILDREN_CHANGED;
    }
    return false;
}

struct fire_ctx {
    struct watch_table *wt;
    uint8_t type;
    const char *path;
    size_t len;
    uint64_t zxid;
    watch_deliver_cb cb;
    void *data;
};

/* Fires matching watches on one path entry (the event's own path when
 * exact, an ancestor's otherwise). */
static void fire_path(struct fire_ctx *fc, struct watch_path *wp, bool exact)
{
    struct watch *w = wp->list;
    while (w) {
        struct watch *next = w->next_in_path;
        bool last = next == NULL;
        if (kind_matches(w->kind, fc->type, exact)) {
            struct watch_owner *o = w->owner;
            if (o->fired_epoch != fc->wt->epoch) {
                o->fired_epoch = fc->wt->epoch;
                fc->cb(fc->data, o, fc->type, fc->path, fc->len, fc->zxid);
            }
            if (w->kind <= COORD_WATCH_CHILDREN)
                watch_unlink(fc->wt, w); /* one-shot; may free wp */
        }
        if (last)
            break;
        w = next;
    }
}

void watch_fire(struct watch_table *wt, uint8_t type, const char *path,
                size_t len, uint64_t zxid, watch_deliver_cb cb, void *data)
{
    if (wt->n_watches == 0)
        return;
    wt->epoch++;
    struct fire_ctx fc = {wt, type, path, len, zxid, cb, data};
    struct watch_path *wp = path_find(wt, path, len, path_hash(path, len));
    if (wp)
        fire_path(&fc, wp, true);
    if (wt->n_recursive == 0)
        return;
    /* Ancestors: "/a/b/c" -> "/a/b", "/a", "/". */
    size_t end = len;
    while (end > 1) {
        while (end > 0 && path[end - 1] != '/')
            end--;
        size_t plen = end > 1 ? end - 1 : 1;
        wp = path_find(wt, path, plen, path_hash(path, plen));
        if (wp && wp->n_recursive)
            fire_path(&fc, wp, false);
        end = plen;
    }
}

/* True if w, on the event's own path (exact) or an ancestor's, is o's
 * and would fire. */
static bool path_would_fire(const struct watch_path *wp,
                            const struct watch_owner *o, uint8_t type,
                            bool exact)
{
    for (const struct watch *w = wp->list; w; w = w->next_in_path)
        if (w->owner == o && kind_matches(w->kind, type, exact))
            return true;
    return false;
}

bool watch_would_fire(const struct watch_table *wt,
                      const struct watch_owner *o, uint8_t type,
                      const char *path, size_t len)
{
    if (o->count == 0)
        return false;
    const struct watch_path *wp =
        path_find(wt, path, len, path_hash(path, len));
    if (wp && path_would_fire(wp, o, type, true))
        return true;
    size_t end = len;
    while (wt->n_recursive && end > 1) {
        while (end > 0 && path[end - 1] != '/')
            end--;
        size_t plen = end > 1 ? end - 1 : 1;
        wp = path_find(wt, path, plen, path_hash(path, plen));
        if (wp && wp->n_recursive && path_would_fire(wp, o, type, false))
            return true;
        end = plen;
    }
    return false;
}

void watch_owner_each(struct watch_owner *o,
                      void (*cb)(void *data, const char *path, size_t len,
                                 uint8_t kind),
                      void *data)
{
    for (struct watch *w = o->list; w; w = w->next_in_owner)
        cb(data, w->wp->path, w->wp->len, w->kind);
}
