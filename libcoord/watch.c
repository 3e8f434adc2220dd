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
 */
#include "client_int.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

void coord__watchtab_init(struct coord__watchtab *t, size_t max)
{
    coord_assert(max > 0);
    memset(t, 0, sizeof(*t));
    t->max = max;
}

void coord__watchtab_clear(struct coord__watchtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        coord_free(t->v[i].path);
    t->n = 0;
}

void coord__watchtab_free(struct coord__watchtab *t)
{
    coord__watchtab_clear(t);
    coord_free(t->v);
    t->v = NULL;
    t->cap = 0;
}

static bool same_watcher(const struct coord_watcher *a,
                         const struct coord_watcher *b)
{
    return a->cb == b->cb && a->data == b->data;
}

int coord__watchtab_add(struct coord__watchtab *t, const char *path,
                        size_t path_len, uint32_t kind,
                        const struct coord_watcher *w)
{
    coord_assert(kind >= COORD_WATCH_DATA &&
                 kind <= COORD_WATCH_PERSISTENT_RECURSIVE);
    for (size_t i = 0; i < t->n; i++) {
        const struct coord__watch *e = &t->v[i];
        if (e->kind == kind && same_watcher(&e->w, w) &&
            strlen(e->path) == path_len &&
            memcmp(e->path, path, path_len) == 0)
            return 0;
    }
    if (t->n == t->max)
        return COORD_ETOOMANY;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        if (cap > t->max)
            cap = t->max;
        struct coord__watch *v = coord_realloc(t->v, cap * sizeof(*v));
        if (v == NULL)
            return COORD_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    char *p = coord_strndup(path, path_len);
    if (p == NULL)
        return COORD_ENOMEM;
    t->v[t->n++] = (struct coord__watch){.path = p, .kind = kind, .w = *w};
    return 0;
}

/* Removes entry i keeping the order of the rest; returns its path. */
static char *remove_at(struct coord__watchtab *t, size_t i)
{
    char *p = t->v[i].path;
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
    t->n--;
    return p;
}

size_t coord__watchtab_remove(struct coord__watchtab *t, const char *path,
                              uint32_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n;) {
        if (t->v[i].kind == kind && strcmp(t->v[i].path, path) == 0) {
            coord_free(remove_at(t, i));
            n++;
        } else {
            i++;
        }
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

size_t coord__watchtab_match(struct coord__watchtab *t, uint32_t type,
                             const char *path, struct coord__fired *out,
                             size_t max, char **owned, size_t owned_max)
{
    size_t n = 0, n_owned = 0;
    coord_assert(owned_max >= max);
    for (size_t i = 0; i < t->n;) {
        struct coord__watch *e = &t->v[i];
        if (!fires(e, type, path) || n >= max) {
            n += fires(e, type, path) ? 1 : 0;
            i++;
            continue;
        }
        out[n] = (struct coord__fired){
            .w = e->w,
            .kind = e->kind,
            .path = path,
        };
        n++;
        if (one_shot(e->kind)) {
            owned[n_owned++] = remove_at(t, i);
            continue;
        }
        i++;
    }
    return n;
}

void coord__watchtab_release(char **owned, size_t n)
{
    for (size_t i = 0; i < n; i++)
        coord_free(owned[i]);
}

size_t coord__watchtab_paths(const struct coord__watchtab *t, uint32_t kind,
                             struct wire_bytes *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n && n < max; i++) {
        const struct coord__watch *e = &t->v[i];
        if (e->kind != kind)
            continue;
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = out[j].len == strlen(e->path) &&
                  memcmp(out[j].ptr, e->path, out[j].len) == 0;
        if (!dup)
            out[n++] = (struct wire_bytes){e->path,
                                           (uint32_t)strlen(e->path)};
    }
    return n;
}
