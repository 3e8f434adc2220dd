/* changelog.c -- the bounded history of applied change events that lets
 * a reconnecting client be replayed what it missed (contract and coverage
 * rules: changelog.h). A ring of slots, oldest at head, each holding its
 * own copy of the path; bounded by event count and by charged bytes. Runs
 * on the loop thread only; no I/O, no clock.
 */
#include "changelog.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

static struct changelog_event *slot(const struct changelog *cl, uint32_t i)
{
    coord_assert(i < cl->n);
    return &cl->ring[(cl->head + i) & (cl->cap - 1)];
}

static uint64_t charge(size_t len)
{
    return CHANGELOG_EVENT_OVERHEAD + (uint64_t)len;
}

void changelog_init(struct changelog *cl, uint32_t count_max,
                    uint64_t bytes_max, uint64_t floor)
{
    *cl = (struct changelog){.count_max = count_max,
                             .bytes_max = bytes_max,
                             .floor = floor};
}

static void drop_all(struct changelog *cl)
{
    for (uint32_t i = 0; i < cl->n; i++)
        coord_free(slot(cl, i)->path);
    cl->n = 0;
    cl->head = 0;
    cl->bytes = 0;
}

void changelog_close(struct changelog *cl)
{
    drop_all(cl);
    coord_free(cl->ring);
    cl->ring = NULL;
    cl->cap = 0;
}

void changelog_reset(struct changelog *cl, uint64_t floor)
{
    drop_all(cl);
    cl->floor = floor;
}

static uint64_t newest_zxid(const struct changelog *cl)
{
    return cl->n ? slot(cl, cl->n - 1)->zxid : 0;
}

/* Drops the oldest event; its zxid is no longer covered. */
static void evict_oldest(struct changelog *cl)
{
    struct changelog_event *e = slot(cl, 0);
    coord_assert(cl->bytes >= charge(e->len));
    if (e->zxid > cl->floor)
        cl->floor = e->zxid;
    cl->bytes -= charge(e->len);
    coord_free(e->path);
    e->path = NULL;
    cl->head = (cl->head + 1) & (cl->cap - 1);
    cl->n--;
    cl->evicted++;
}

/* An event that is not kept: the floor rises over it (and over all held
 * events, which are older), so no client is told it missed nothing. */
static void give_up(struct changelog *cl, uint64_t zxid)
{
    uint64_t top = newest_zxid(cl);
    if (zxid > top)
        top = zxid;
    drop_all(cl);
    if (top > cl->floor)
        cl->floor = top;
}

/* Doubles the ring (copying the events in order to slot 0..n-1). */
static int grow(struct changelog *cl)
{
    uint32_t cap = cl->cap ? cl->cap * 2 : CHANGELOG_SLOTS_INITIAL;
    struct changelog_event *r = coord_calloc(cap, sizeof(*r));
    if (!r)
        return COORD_ENOMEM;
    for (uint32_t i = 0; i < cl->n; i++)
        r[i] = *slot(cl, i);
    coord_free(cl->ring);
    cl->ring = r;
    cl->cap = cap;
    cl->head = 0;
    return 0;
}

/* Makes room for one event of charge c: evicts the oldest until both
 * bounds hold, grows the ring when it is full below count_max. Returns
 * false when the event cannot be kept at all. */
static bool make_room(struct changelog *cl, uint64_t c)
{
    if (cl->count_max == 0 || c > cl->bytes_max)
        return false;
    while (cl->n > 0 &&
           (cl->n >= cl->count_max || cl->bytes + c > cl->bytes_max))
        evict_oldest(cl);
    if (cl->n == cl->cap && grow(cl) != 0) {
        if (cl->n == 0)
            return false;
        evict_oldest(cl); /* no memory to grow: keep a shorter history */
    }
    return true;
}

int changelog_record(struct changelog *cl, uint64_t zxid, uint8_t type,
                     const char *path, size_t len)
{
    if (zxid <= cl->floor)
        return COORD_EINVAL; /* already covered: nothing to keep */
    if (zxid < newest_zxid(cl) || type < COORD_EVENT_CREATED ||
        type > COORD_EVENT_CHILDREN_CHANGED || !path || len == 0 ||
        len > UINT32_MAX) {
        give_up(cl, zxid);
        return COORD_EINVAL;
    }
    uint64_t c = charge(len);
    if (!make_room(cl, c)) {
        give_up(cl, zxid);
        cl->evicted++;
        return cl->count_max == 0 || c > cl->bytes_max ? 0 : COORD_ENOMEM;
    }
    char *p = coord_malloc(len);
    if (!p) {
        give_up(cl, zxid);
        return COORD_ENOMEM;
    }
    memcpy(p, path, len);
    cl->n++;
    *slot(cl, cl->n - 1) = (struct changelog_event){
        .zxid = zxid, .path = p, .len = (uint32_t)len, .type = type};
    cl->bytes += c;
    coord_assert(cl->n <= cl->count_max && cl->bytes <= cl->bytes_max);
    return 0;
}

bool changelog_covers(const struct changelog *cl, uint64_t last_zxid)
{
    return last_zxid >= cl->floor;
}

/* Index of the first held event with zxid > last (n if none). */
static uint32_t first_after(const struct changelog *cl, uint64_t last)
{
    uint32_t lo = 0, hi = cl->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (slot(cl, mid)->zxid <= last)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t changelog_count_after(const struct changelog *cl,
                               uint64_t last_zxid)
{
    return cl->n - first_after(cl, last_zxid);
}

size_t changelog_replay(const struct changelog *cl, uint64_t last_zxid,
                        changelog_cb cb, void *data)
{
    size_t count = 0;
    for (uint32_t i = first_after(cl, last_zxid); i < cl->n; i++) {
        const struct changelog_event *e = slot(cl, i);
        cb(data, e->type, e->path, e->len, e->zxid);
        count++;
    }
    return count;
}

size_t changelog_replay_watches(const struct changelog *cl,
                                uint64_t last_zxid, struct watch_table *wt,
                                watch_deliver_cb cb, void *data)
{
    size_t count = 0;
    for (uint32_t i = first_after(cl, last_zxid); i < cl->n; i++) {
        if (wt->n_watches == 0)
            break; /* every one-shot watch fired: nothing left to match */
        const struct changelog_event *e = slot(cl, i);
        watch_fire(wt, e->type, e->path, e->len, e->zxid, cb, data);
        count++;
    }
    return count;
}
