/* changelog.h -- a bounded in-memory history of the change events this
 * server applied (zxid, event type, path), so a client that reconnects
 * with SET_WATCHES can be sent exactly the watch events it missed
 * (docs/protocol.md, SET_WATCHES). Fed from node.c's apply, one call per
 * tree event; read by request.c's set_watches. Not replicated: every
 * server (leader or follower) keeps its own from what it applies.
 *
 * Coverage. The log keeps a floor: every event with zxid > floor is held.
 * It starts at the applied index the node opened with (its snapshot; the
 * log entries replayed after it are recorded), is raised to an evicted
 * event's zxid when the count bound (watch_history_max) or the byte bound
 * (watch_history_bytes_max) pushes the oldest event out, and is set to the
 * snapshot's index when a snapshot from the leader replaces the tree
 * (changelog_reset: the events in between were never seen here). A client
 * whose last zxid is below the floor may have missed an event that is no
 * longer known: the caller falls back to telling it what changed from the
 * current tree, or COORD_EVENT_MUST_REREAD.
 *
 * Must not: do I/O, read clocks, or know about connections; it never
 * loses an event silently: any event it fails to keep raises the floor.
 */
#ifndef COORDD_CHANGELOG_H
#define COORDD_CHANGELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordd/watch.h"

/* Bytes charged per event beside its path: the slot plus the allocator's
 * header of the path copy (an estimate that keeps the bound honest). */
#define CHANGELOG_EVENT_OVERHEAD 48
/* Initial slots; the ring doubles up to count_max. */
#define CHANGELOG_SLOTS_INITIAL 64

struct changelog_event {
    uint64_t zxid;
    char *path; /* owned, len bytes, not NUL-terminated */
    uint32_t len;
    uint8_t type; /* COORD_EVENT_CREATED .. COORD_EVENT_CHILDREN_CHANGED */
};

struct changelog {
    struct changelog_event *ring;
    uint32_t cap;   /* slots allocated (power of two) */
    uint32_t head;  /* oldest event's slot */
    uint32_t n;     /* events held */
    uint32_t count_max;
    uint64_t bytes_max;
    uint64_t bytes; /* charged bytes of the events held */
    uint64_t floor; /* every event with zxid > floor is held */
    uint64_t evicted; /* events pushed out by a bound (statistics) */
};

/* Called per event replayed, in order. path borrowed. */
typedef void (*changelog_cb)(void *data, uint8_t type, const char *path,
                             size_t len, uint64_t zxid);

/* An empty history covering zxids above floor. count_max 0 keeps no
 * events (every client behind the latest change falls back). Allocates
 * lazily; never fails. */
void changelog_init(struct changelog *cl, uint32_t count_max,
                    uint64_t bytes_max, uint64_t floor);
/* Frees every event. */
void changelog_close(struct changelog *cl);
/* Appends one applied event. zxids must not decrease and must be above
 * the floor; type must be CREATED..CHILDREN_CHANGED; path non-empty.
 * Returns 0; COORD_EINVAL for bad input, COORD_ENOMEM: the event was not
 * kept, and the floor was raised to its zxid (never a silent loss). */
int changelog_record(struct changelog *cl, uint64_t zxid, uint8_t type,
                     const char *path, size_t len);
/* Drops every event; the history covers zxids above floor from now on
 * (after a snapshot install at that index). */
void changelog_reset(struct changelog *cl, uint64_t floor);
/* True when every event with zxid > last_zxid is held. */
bool changelog_covers(const struct changelog *cl, uint64_t last_zxid);
/* How many held events have zxid > last_zxid (a binary search). */
uint32_t changelog_count_after(const struct changelog *cl,
                               uint64_t last_zxid);
/* Calls cb for each held event with zxid > last_zxid, oldest first;
 * returns how many. Only meaningful when changelog_covers(last_zxid). */
size_t changelog_replay(const struct changelog *cl, uint64_t last_zxid,
                        changelog_cb cb, void *data);
/* Fans each held event with zxid > last_zxid out to the watches of wt
 * (watch.h's trigger rules: one-shot watches fire once and are removed,
 * persistent ones see every match), oldest first. wt is normally a
 * private table holding one reconnecting client's watches. Returns the
 * number of events considered. */
size_t changelog_replay_watches(const struct changelog *cl,
                                uint64_t last_zxid, struct watch_table *wt,
                                watch_deliver_cb cb, void *data);

#endif /* COORDD_CHANGELOG_H */
