/* test_changelog.c -- unit tests for coordd/changelog.c, the bounded
 * history of applied change events that SET_WATCHES replays from: the
 * count and byte bounds and what eviction does to the coverage floor,
 * replay order from a last zxid, matching through a watch table (one-shot
 * watches fire once, persistent ones every time, recursive ones on the
 * subtree), bad input, and allocation failure (never a silent loss: the
 * floor rises over what was not kept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "coordd/changelog.h"
#include "coordd/watch.h"
#include "libcoord/shared/alloc.h"

#define S(p) (p), strlen(p)

struct got {
    size_t n;
    uint8_t type[64];
    uint64_t zxid[64];
    char path[64][64];
};

static void collect(void *data, uint8_t type, const char *path, size_t len,
                    uint64_t zxid)
{
    struct got *g = data;
    assert_true(g->n < 64 && len < 64);
    g->type[g->n] = type;
    g->zxid[g->n] = zxid;
    memcpy(g->path[g->n], path, len);
    g->path[g->n][len] = '\0';
    g->n++;
}

static void collect_owner(void *data, struct watch_owner *o, uint8_t type,
                          const char *path, size_t len, uint64_t zxid)
{
    (void)o;
    collect(data, type, path, len, zxid);
}

static void records_and_replays_in_order(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 100, 1 << 20, 10);
    assert_true(changelog_covers(&cl, 10));
    assert_false(changelog_covers(&cl, 9));
    assert_int_equal(changelog_record(&cl, 11, COORD_EVENT_CREATED,
                                      S("/a")), 0);
    assert_int_equal(changelog_record(&cl, 11, COORD_EVENT_CHILDREN_CHANGED,
                                      S("/")), 0);
    assert_int_equal(changelog_record(&cl, 12, COORD_EVENT_DATA_CHANGED,
                                      S("/a")), 0);
    assert_int_equal(changelog_record(&cl, 15, COORD_EVENT_DELETED,
                                      S("/a")), 0);
    struct got g = {0};
    assert_int_equal(changelog_replay(&cl, 10, collect, &g), 4);
    assert_int_equal(g.zxid[0], 11);
    assert_int_equal(g.type[1], COORD_EVENT_CHILDREN_CHANGED);
    assert_string_equal(g.path[1], "/");
    assert_int_equal(g.zxid[3], 15);
    memset(&g, 0, sizeof(g));
    assert_int_equal(changelog_replay(&cl, 11, collect, &g), 2);
    assert_int_equal(g.zxid[0], 12);
    memset(&g, 0, sizeof(g));
    assert_int_equal(changelog_replay(&cl, 13, collect, &g), 1);
    assert_int_equal(g.type[0], COORD_EVENT_DELETED);
    memset(&g, 0, sizeof(g));
    assert_int_equal(changelog_replay(&cl, 15, collect, &g), 0);
    assert_int_equal(changelog_replay(&cl, 99, collect, &g), 0);
    /* counted without a walk: what a replay would go through */
    assert_int_equal(changelog_count_after(&cl, 10), 4);
    assert_int_equal(changelog_count_after(&cl, 11), 2);
    assert_int_equal(changelog_count_after(&cl, 13), 1);
    assert_int_equal(changelog_count_after(&cl, 15), 0);
    assert_int_equal(changelog_count_after(&cl, 99), 0);
    changelog_close(&cl);
}

static void count_bound_evicts_oldest_and_raises_floor(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 5, 1 << 20, 0);
    char p[32];
    for (uint64_t z = 1; z <= 200; z++) {
        snprintf(p, sizeof(p), "/n%llu", (unsigned long long)z);
        assert_int_equal(changelog_record(&cl, z, COORD_EVENT_CREATED,
                                          S(p)), 0);
        assert_true(cl.n <= 5);
        /* Always exactly the last five (or all so far) are held. */
        assert_int_equal(cl.floor, z > 5 ? z - 5 : 0);
    }
    assert_int_equal(cl.evicted, 195);
    assert_true(changelog_covers(&cl, 195));
    assert_false(changelog_covers(&cl, 194));
    struct got g = {0};
    assert_int_equal(changelog_replay(&cl, 195, collect, &g), 5);
    assert_string_equal(g.path[0], "/n196");
    assert_string_equal(g.path[4], "/n200");
    changelog_close(&cl);
}

static void events_sharing_a_zxid_are_evicted_conservatively(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 3, 1 << 20, 0);
    /* One multi at zxid 7 made four events: the first is pushed out, so a
     * client at 6 may have missed it; a client at 7 missed nothing. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(changelog_record(&cl, 7, COORD_EVENT_CREATED,
                                          S("/m")), 0);
    assert_false(changelog_covers(&cl, 6));
    assert_true(changelog_covers(&cl, 7));
    struct got g = {0};
    assert_int_equal(changelog_replay(&cl, 7, collect, &g), 0);
    changelog_close(&cl);
}

static void byte_bound_holds(void **state)
{
    (void)state;
    struct changelog cl;
    char big[1000];
    memset(big, 'x', sizeof(big));
    big[0] = '/';
    uint64_t one = CHANGELOG_EVENT_OVERHEAD + sizeof(big);
    changelog_init(&cl, 1000, 3 * one, 0);
    for (uint64_t z = 1; z <= 10; z++) {
        assert_int_equal(changelog_record(&cl, z, COORD_EVENT_DATA_CHANGED,
                                          big, sizeof(big)), 0);
        assert_true(cl.bytes <= 3 * one);
    }
    assert_int_equal(cl.n, 3);
    assert_int_equal(cl.floor, 7);
    /* Small events fit beside them after big ones are pushed out. */
    assert_int_equal(changelog_record(&cl, 11, COORD_EVENT_CREATED,
                                      S("/s")), 0);
    assert_int_equal(cl.n, 3);
    assert_int_equal(cl.floor, 8);
    /* An event larger than the whole bound cannot be kept: the floor
     * covers it and everything before (clients behind must re-read). */
    changelog_close(&cl);
    changelog_init(&cl, 1000, one - 1, 0);
    assert_int_equal(changelog_record(&cl, 1, COORD_EVENT_CREATED,
                                      S("/s")), 0);
    assert_int_equal(changelog_record(&cl, 2, COORD_EVENT_CREATED, big,
                                      sizeof(big)), 0);
    assert_int_equal(cl.n, 0);
    assert_int_equal(cl.floor, 2);
    assert_false(changelog_covers(&cl, 1));
    changelog_close(&cl);
}

static void zero_count_keeps_nothing_but_tracks_floor(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 0, 1 << 20, 3);
    assert_int_equal(changelog_record(&cl, 4, COORD_EVENT_CREATED,
                                      S("/a")), 0);
    assert_int_equal(cl.n, 0);
    assert_true(changelog_covers(&cl, 4)); /* saw the latest: missed none */
    assert_false(changelog_covers(&cl, 3));
    changelog_close(&cl);
}

static void reset_drops_everything(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 10, 1 << 20, 0);
    for (uint64_t z = 1; z <= 5; z++)
        assert_int_equal(changelog_record(&cl, z, COORD_EVENT_CREATED,
                                          S("/a")), 0);
    changelog_reset(&cl, 100); /* a snapshot at 100 replaced the tree */
    assert_int_equal(cl.n, 0);
    assert_int_equal(cl.bytes, 0);
    assert_false(changelog_covers(&cl, 5));
    assert_true(changelog_covers(&cl, 100));
    assert_int_equal(changelog_record(&cl, 101, COORD_EVENT_CREATED,
                                      S("/b")), 0);
    struct got g = {0};
    assert_int_equal(changelog_replay(&cl, 100, collect, &g), 1);
    assert_string_equal(g.path[0], "/b");
    changelog_close(&cl);
}

static void bad_input_is_refused_and_never_hides_a_loss(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 10, 1 << 20, 5);
    /* At or below the floor: already covered, nothing changes. */
    assert_int_equal(changelog_record(&cl, 5, COORD_EVENT_CREATED,
                                      S("/a")), COORD_EINVAL);
    assert_int_equal(cl.floor, 5);
    assert_int_equal(changelog_record(&cl, 6, COORD_EVENT_CREATED,
                                      S("/a")), 0);
    assert_int_equal(changelog_record(&cl, 8, 0, S("/a")), COORD_EINVAL);
    assert_int_equal(cl.floor, 8); /* not kept: zxid 8 is not covered */
    assert_int_equal(cl.n, 0);
    assert_int_equal(changelog_record(&cl, 9, COORD_EVENT_MUST_REREAD,
                                      S("/a")), COORD_EINVAL);
    assert_int_equal(changelog_record(&cl, 10, COORD_EVENT_CREATED, "", 0),
                     COORD_EINVAL);
    assert_int_equal(changelog_record(&cl, 11, COORD_EVENT_CREATED, NULL, 2),
                     COORD_EINVAL);
    assert_int_equal(cl.floor, 11);
    assert_int_equal(changelog_record(&cl, 20, COORD_EVENT_CREATED,
                                      S("/a")), 0);
    /* Going back in time is a caller bug: refuse, cover the newest. */
    assert_int_equal(changelog_record(&cl, 15, COORD_EVENT_CREATED,
                                      S("/a")), COORD_EINVAL);
    assert_int_equal(cl.floor, 20);
    assert_false(changelog_covers(&cl, 19));
    changelog_close(&cl);
}

static void allocation_failure_raises_floor(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 1000, 1 << 20, 0);
    assert_int_equal(changelog_record(&cl, 1, COORD_EVENT_CREATED,
                                      S("/a")), 0);
    /* The ring exists; the next allocation is the path copy. */
    coord_alloc_counting_enable(1);
    int rc = changelog_record(&cl, 2, COORD_EVENT_CREATED, S("/b"));
    coord_alloc_counting_disable();
    assert_int_equal(rc, COORD_ENOMEM);
    assert_int_equal(cl.floor, 2);
    assert_false(changelog_covers(&cl, 1));
    assert_int_equal(changelog_record(&cl, 3, COORD_EVENT_CREATED,
                                      S("/c")), 0);
    assert_true(changelog_covers(&cl, 2));
    /* Growth failing (ring full at CHANGELOG_SLOTS_INITIAL): the oldest
     * goes instead, the new event is kept. */
    for (uint64_t z = 4; cl.n < CHANGELOG_SLOTS_INITIAL; z++)
        assert_int_equal(changelog_record(&cl, z, COORD_EVENT_CREATED,
                                          S("/d")), 0);
    uint64_t top = 3 + CHANGELOG_SLOTS_INITIAL;
    coord_alloc_counting_enable(1);
    rc = changelog_record(&cl, top, COORD_EVENT_CREATED, S("/e"));
    coord_alloc_counting_disable();
    assert_int_equal(rc, 0);
    assert_int_equal(cl.n, CHANGELOG_SLOTS_INITIAL);
    assert_int_equal(cl.floor, 3);
    changelog_close(&cl);
}

/* The matching SET_WATCHES uses: a private watch table with one client's
 * watches, every missed event fanned out to it. */
static void replay_through_watches_matches_like_live(void **state)
{
    (void)state;
    struct changelog cl;
    changelog_init(&cl, 100, 1 << 20, 0);
    struct { uint64_t z; uint8_t t; const char *p; } ev[] = {
        {1, COORD_EVENT_CREATED, "/r/a"},
        {1, COORD_EVENT_CHILDREN_CHANGED, "/r"},
        {2, COORD_EVENT_DATA_CHANGED, "/o"},
        {3, COORD_EVENT_DATA_CHANGED, "/o"},
        {4, COORD_EVENT_CHILDREN_CHANGED, "/p"},
        {5, COORD_EVENT_DATA_CHANGED, "/r/a"},
        {6, COORD_EVENT_CREATED, "/x"},
        {7, COORD_EVENT_DELETED, "/r/a"},
        {7, COORD_EVENT_CHILDREN_CHANGED, "/r"},
        {8, COORD_EVENT_CREATED, "/ra"}, /* not under /r */
    };
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
        assert_int_equal(changelog_record(&cl, ev[i].z, ev[i].t,
                                          S(ev[i].p)), 0);
    struct watch_table wt;
    struct watch_owner o = {0};
    assert_int_equal(watch_table_init(&wt, 100), 0);
    assert_int_equal(watch_add(&wt, &o, S("/r"),
                               COORD_WATCH_PERSISTENT_RECURSIVE), 0);
    assert_int_equal(watch_add(&wt, &o, S("/p"), COORD_WATCH_PERSISTENT),
                     0);
    assert_int_equal(watch_add(&wt, &o, S("/o"), COORD_WATCH_DATA), 0);
    assert_int_equal(watch_add(&wt, &o, S("/x"), COORD_WATCH_EXISTS), 0);
    struct got g = {0};
    changelog_replay_watches(&cl, 0, &wt, collect_owner, &g);
    const char *want_p[] = {"/r/a", "/o", "/p", "/r/a", "/x", "/r/a"};
    uint64_t want_z[] = {1, 2, 4, 5, 6, 7};
    assert_int_equal(g.n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(g.path[i], want_p[i]);
        assert_int_equal(g.zxid[i], want_z[i]);
    }
    assert_int_equal(g.type[5], COORD_EVENT_DELETED);
    /* The one-shot watches fired and are gone; persistent ones remain. */
    assert_int_equal(o.count, 2);
    assert_int_equal(watch_remove(&wt, &o, S("/o"), 0), COORD_ENOWATCH);
    /* From a later zxid only the later events count. */
    memset(&g, 0, sizeof(g));
    changelog_replay_watches(&cl, 5, &wt, collect_owner, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.zxid[0], 7);
    watch_table_close(&wt);
    changelog_close(&cl);
}

/* The query a later SET_WATCHES frame uses to skip events an earlier
 * frame's watches already delivered: matches like firing, changes
 * nothing, sees only the given owner. */
static void would_fire_matches_without_firing(void **state)
{
    (void)state;
    struct watch_table wt;
    struct watch_owner o = {0}, other = {0};
    assert_int_equal(watch_table_init(&wt, 100), 0);
    assert_false(watch_would_fire(&wt, &o, COORD_EVENT_CREATED, S("/r/a")));
    assert_int_equal(watch_add(&wt, &o, S("/r"),
                               COORD_WATCH_PERSISTENT_RECURSIVE), 0);
    assert_int_equal(watch_add(&wt, &o, S("/o"), COORD_WATCH_DATA), 0);
    assert_int_equal(watch_add(&wt, &other, S("/x"), COORD_WATCH_DATA), 0);
    assert_true(watch_would_fire(&wt, &o, COORD_EVENT_CREATED, S("/r/a")));
    assert_true(watch_would_fire(&wt, &o, COORD_EVENT_DELETED,
                                 S("/r/a/b/c")));
    assert_true(watch_would_fire(&wt, &o, COORD_EVENT_DATA_CHANGED,
                                 S("/r")));
    /* Recursive watches skip CHILDREN_CHANGED, at the path and below. */
    assert_false(watch_would_fire(&wt, &o, COORD_EVENT_CHILDREN_CHANGED,
                                  S("/r")));
    assert_false(watch_would_fire(&wt, &o, COORD_EVENT_CHILDREN_CHANGED,
                                  S("/r/a")));
    assert_false(watch_would_fire(&wt, &o, COORD_EVENT_CREATED, S("/ra")));
    assert_true(watch_would_fire(&wt, &o, COORD_EVENT_DATA_CHANGED,
                                 S("/o")));
    assert_false(watch_would_fire(&wt, &o, COORD_EVENT_CHILDREN_CHANGED,
                                  S("/o")));
    /* Another owner's watch does not count for o. */
    assert_false(watch_would_fire(&wt, &o, COORD_EVENT_DATA_CHANGED,
                                  S("/x")));
    assert_true(watch_would_fire(&wt, &other, COORD_EVENT_DATA_CHANGED,
                                 S("/x")));
    /* Nothing fired: the one-shot watch is still there. */
    assert_int_equal(o.count, 2);
    assert_int_equal(watch_remove(&wt, &o, S("/o"), COORD_WATCH_DATA), 0);
    watch_table_close(&wt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_and_replays_in_order),
        cmocka_unit_test(count_bound_evicts_oldest_and_raises_floor),
        cmocka_unit_test(events_sharing_a_zxid_are_evicted_conservatively),
        cmocka_unit_test(byte_bound_holds),
        cmocka_unit_test(zero_count_keeps_nothing_but_tracks_floor),
        cmocka_unit_test(reset_drops_everything),
        cmocka_unit_test(bad_input_is_refused_and_never_hides_a_loss),
        cmocka_unit_test(allocation_failure_raises_floor),
        cmocka_unit_test(replay_through_watches_matches_like_live),
        cmocka_unit_test(would_fire_matches_without_firing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
