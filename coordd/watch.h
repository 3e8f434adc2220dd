/* watch.h -- the server's watch registry: which owner (a session attached
 * to this server) watches which path, and how; and the fan-out of the
 * tree's change events to them, with ZooKeeper's trigger rules:
 *
 *   event on p          fires watches of kind
 *   CREATED(p)          DATA/EXISTS on p, PERSISTENT on p, RECURSIVE on p
 *                       or an ancestor
 *   DELETED(p)          DATA/EXISTS and CHILDREN on p, PERSISTENT on p,
 *                       RECURSIVE on p or an ancestor
 *   DATA_CHANGED(p)     DATA/EXISTS on p, PERSISTENT on p, RECURSIVE ...
 *   CHILDREN_CHANGED(p) CHILDREN on p, PERSISTENT on p (RECURSIVE: no,
 *                       its owner sees the child's own CREATED/DELETED)
 *
 * One-shot kinds (DATA, EXISTS, CHILDREN) are removed when they fire. An
 * owner gets at most one notification per event, however many of its
 * watches match. Watches are not replicated: they live on the server the
 * session is connected to and are re-registered by the client (SET_WATCHES)
 * after it reconnects. No sockets here: delivery goes through a callback.
 */
#ifndef COORDD_WATCH_H
#define COORDD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watch;
struct watch_path;

/* Embedded in whoever owns watches (node.c's session). Zero it to init. */
struct watch_owner {
    struct watch *list; /* this owner's watches */
    uint32_t count;
    uint64_t fired_epoch; /* dedup within one event */
};

struct watch_table {
    struct watch_path **buckets;
    uint32_t n_buckets; /* power of two */
    uint32_t n_paths;
    uint64_t n_watches;
    uint64_t n_recursive;
    uint32_t per_owner_max;
    uint64_t epoch;
};

/* Called once per owner notified by an event. path borrowed. */
typedef void (*watch_deliver_cb)(void *data, struct watch_owner *owner,
                                 uint8_t type, const char *path,
                                 size_t path_len, uint64_t zxid);

int watch_table_init(struct watch_table *wt, uint32_t per_owner_max);
/* Frees every watch; owners must not be used with it afterwards. */
void watch_table_close(struct watch_table *wt);
/* Adds a watch (idempotent for the same owner, path and kind). Returns 0,
 * COORD_ETOOMANY (owner at per_owner_max), COORD_EINVAL (kind),
 * COORD_ENOMEM. path is copied. */
int watch_add(struct watch_table *wt, struct watch_owner *o,
              const char *path, size_t len, uint8_t kind);
/* Removes one watch; COORD_ENOWATCH if there is none. kind 0 removes
 * every kind on that path. */
int watch_remove(struct watch_table *wt, struct watch_owner *o,
                 const char *path, size_t len, uint8_t kind);
/* Removes all of an owner's watches. */
void watch_remove_owner(struct watch_table *wt, struct watch_owner *o);
/* Fans out one tree event. */
void watch_fire(struct watch_table *wt, uint8_t type, const char *path,
                size_t len, uint64_t zxid, watch_deliver_cb cb, void *data);
/* True if the event (type, path) would fire one of o's watches; fires
 * and removes nothing. */
bool watch_would_fire(const struct watch_table *wt,
                      const struct watch_owner *o, uint8_t type,
                      const char *path, size_t len);
/* Calls cb for each watch of o (path borrowed). */
void watch_owner_each(struct watch_owner *o,
                      void (*cb)(void *data, const char *path, size_t len,
                                 uint8_t kind),
                      void *data);

#endif /* COORDD_WATCH_H */
