/* test_client_parts.c -- unit tests of libcoord's client pieces that need
 * no server: server-list and option parsing (good and bad input), the
 * request table (xid matching, deadlines, ECONNLOSS selection on a drop,
 * the in-flight bound), the watch table (which events fire which watches,
 * one-shot removal, registration order, SET_WATCHES path lists, many
 * registrations) and the reconnect backoff
 * (bounds of the jitter, growth, cap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "libcoord/client_int.h"
#include "libcoord/shared/alloc.h"

/* ---- server list ---- */

static void servers_parse_good(void **state)
{
    (void)state;
    struct coord__server s[8];
    size_t n = 0;
    assert_int_equal(coord__servers_parse(
                         "127.0.0.1:2281, host-b.example:9, [::1]:7,h2",
                         s, 8, &n),
                     0);
    assert_int_equal(n, 4);
    assert_string_equal(s[0].host, "127.0.0.1");
    assert_int_equal(s[0].port, 2281);
    assert_string_equal(s[1].host, "host-b.example");
    assert_int_equal(s[1].port, 9);
    assert_string_equal(s[2].host, "::1");
    assert_int_equal(s[2].port, 7);
    assert_string_equal(s[3].host, "h2");
    assert_int_equal(s[3].port, COORD_CLIENT_PORT_DEFAULT);
    assert_int_equal(coord__servers_parse("[fe80::1]", s, 8, &n), 0);
    assert_string_equal(s[0].host, "fe80::1");
    assert_int_equal(s[0].port, COORD_CLIENT_PORT_DEFAULT);
    assert_int_equal(coord__servers_parse("a:65535", s, 8, &n), 0);
    assert_int_equal(s[0].port, 65535);
}

static void servers_parse_bad(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", " ", ",", "a,", ",a", "a,,b", ":80", "a:", "a:0", "a:65536",
        "a:8x", "a:-1", "a:123456", "::1:80", "[::1", "[::1]x", "[]:80",
        "a b:80", "a/b:1", "a:80:90",
    };
    struct coord__server s[4];
    size_t n;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (coord__servers_parse(bad[i], s, 4, &n) != COORD_EINVAL)
            fail_msg("accepted bad server list \"%s\"", bad[i]);
    }
    assert_int_equal(coord__servers_parse(NULL, s, 4, &n), COORD_EINVAL);
    /* Over the bound of entries. */
    assert_int_equal(coord__servers_parse("a,b,c,d,e", s, 4, &n),
                     COORD_EINVAL);
    assert_int_equal(coord__servers_parse("a,b,c,d", s, 4, &n), 0);
    /* Over the host length bound. */
    char host[COORD__HOST_BYTES_MAX + 8];
    memset(host, 'h', sizeof(host));
    host[COORD__HOST_BYTES_MAX + 1] = '\0';
    assert_int_equal(coord__servers_parse(host, s, 4, &n), COORD_EINVAL);
    host[COORD__HOST_BYTES_MAX] = '\0';
    assert_int_equal(coord__servers_parse(host, s, 4, &n), 0);
}

static void options_resolve(void **state)
{
    (void)state;
    struct coord_options o, r;
    memset(&o, 0, sizeof(o));
    assert_int_equal(coord__options_resolve(&o, &r), 0);
    assert_string_equal(r.servers, "127.0.0.1:2281");
    assert_int_equal(r.silent_timeout_ms, 1000);
    assert_true(r.ping_interval_ms * 2 <= r.silent_timeout_ms);
    o.silent_timeout_ms = 100;
    o.ping_interval_ms = 60; /* a ping would not fit twice: idle looks dead */
    assert_int_equal(coord__options_resolve(&o, &r), COORD_EINVAL);
    o.ping_interval_ms = 50;
    assert_int_equal(coord__options_resolve(&o, &r), 0);
    o.backoff_initial_ms = 500;
    o.backoff_max_ms = 100;
    assert_int_equal(coord__options_resolve(&o, &r), COORD_EINVAL);
    o.backoff_max_ms = 0;
    o.backoff_initial_ms = 0;
    o.resume_session_id = 9; /* id without a secret */
    assert_int_equal(coord__options_resolve(&o, &r), COORD_EINVAL);

    struct coord_client *c = NULL;
    coord_options_init(&o);
    o.servers = "a:1,,b:2";
    assert_int_equal(coord_open(&c, &o), COORD_EINVAL);
    assert_null(c);
}

/* ---- request table ---- */

static struct coord__req *mkreq(int64_t xid, uint64_t deadline)
{
    struct coord__req *r = coord__req_new(1024);
    assert_non_null(r);
    r->xid = xid;
    r->deadline_ms = deadline;
    return r;
}

static size_t list_free(struct coord__req *l, int64_t *xids, size_t max)
{
    size_t n = 0;
    while (l != NULL) {
        struct coord__req *next = l->next;
        if (n < max)
            xids[n] = l->xid;
        n++;
        coord__req_free(l);
        l = next;
    }
    return n;
}

static void reqtab_match_and_bound(void **state)
{
    (void)state;
    struct coord__reqtab t;
    coord__reqtab_init(&t, 4);
    for (int64_t x = 1; x <= 4; x++)
        assert_int_equal(coord__reqtab_add(&t, mkreq(x, 100 + x)), 0);
    assert_true(coord__reqtab_full(&t));
    struct coord__req *extra = mkreq(5, 0);
    assert_int_equal(coord__reqtab_add(&t, extra), COORD_EAGAIN);
    coord__req_free(extra);

    assert_null(coord__reqtab_take(&t, 9));
    struct coord__req *r = coord__reqtab_take(&t, 3);
    assert_non_null(r);
    assert_int_equal(r->xid, 3);
    coord__req_free(r);
    assert_null(coord__reqtab_take(&t, 3)); /* answered once */
    assert_false(coord__reqtab_full(&t));
    assert_int_equal(coord__reqtab_next_deadline(&t), 101);

    /* Deadlines: 101 and 102 expire at 102, 104 stays. */
    struct coord__req *late;
    int64_t xs[8];
    assert_int_equal(coord__reqtab_expire(&t, 102, &late), 2);
    assert_int_equal(list_free(late, xs, 8), 2);
    assert_int_equal(xs[0], 1);
    assert_int_equal(xs[1], 2);
    assert_int_equal(t.n, 1);
    assert_int_equal(coord__reqtab_next_deadline(&t), 104);

    struct coord__req *all;
    assert_int_equal(coord__reqtab_drain(&t, &all), 1);
    assert_int_equal(list_free(all, xs, 8), 1);
    assert_int_equal(xs[0], 4);
    assert_int_equal(coord__reqtab_next_deadline(&t), UINT64_MAX);
}

static void reqtab_drop_sent(void **state)
{
    (void)state;
    struct coord__reqtab t;
    coord__reqtab_init(&t, 16);
    for (int64_t x = 10; x < 15; x++)
        assert_int_equal(coord__reqtab_add(&t, mkreq(x, 1000)), 0);
    /* Written: 10, 11, 12 (a prefix). */
    for (struct coord__req *r = t.head; r && r->xid <= 12; r = r->next)
        r->sent = true;
    assert_int_equal(coord__reqtab_next_unsent(&t)->xid, 13);
    struct coord__req *lost;
    int64_t xs[8];
    assert_int_equal(coord__reqtab_drop_sent(&t, &lost), 3);
    assert_int_equal(list_free(lost, xs, 8), 3);
    assert_int_equal(xs[0], 10);
    assert_int_equal(xs[2], 12);
    /* The unsent ones wait for the next connection, still in order. */
    assert_int_equal(t.n, 2);
    assert_int_equal(coord__reqtab_next_unsent(&t)->xid, 13);
    assert_int_equal(t.head->next->xid, 14);
    struct coord__req *all;
    assert_int_equal(coord__reqtab_drain(&t, &all), 2);
    list_free(all, xs, 8);
}

/* ---- watch table ---- */

static int fired_count[8];
static void w_cb(void *data, const struct coord_event *ev)
{
    (void)ev;
    fired_count[(intptr_t)data]++;
}

static size_t match(struct coord__watchtab *t, uint32_t type,
                    const char *path, uint32_t *kinds)
{
    struct coord__fired f[16];
    char *owned[16];
    size_t before = t->n;
    size_t n = coord__watchtab_match(t, type, path, f, 16, owned, 16);
    for (size_t i = 0; i < n; i++) {
        if (kinds)
            kinds[i] = f[i].kind;
        struct coord_event ev = {(int)type, (int)f[i].kind, f[i].path, 1};
        f[i].w.cb(f[i].w.data, &ev);
    }
    coord__watchtab_release(owned, before - t->n);
    return n;
}

static void watchtab_rules(void **state)
{
    (void)state;
    struct coord__watchtab t;
    coord__watchtab_init(&t, 100);
    struct coord_watcher w1 = {w_cb, (void *)1}, w2 = {w_cb, (void *)2};
    assert_int_equal(coord__watchtab_add(&t, "/a", 2, COORD_WATCH_DATA, &w1),
                     0);
    /* Identical registration kept once; another callback is separate. */
    assert_int_equal(coord__watchtab_add(&t, "/a", 2, COORD_WATCH_DATA, &w1),
                     0);
    assert_int_equal(coord__watchtab_add(&t, "/a", 2, COORD_WATCH_DATA, &w2),
                     0);
    assert_int_equal(t.n, 2);
    assert_int_equal(
        coord__watchtab_add(&t, "/a", 2, COORD_WATCH_CHILDREN, &w1), 0);
    assert_int_equal(
        coord__watchtab_add(&t, "/r", 2, COORD_WATCH_PERSISTENT_RECURSIVE,
                            &w2),
        0);
    assert_int_equal(
        coord__watchtab_add(&t, "/p", 2, COORD_WATCH_PERSISTENT, &w1), 0);

    uint32_t kinds[16];
    /* A child change does not fire data watches. */
    assert_int_equal(match(&t, COORD_EVENT_CHILDREN_CHANGED, "/a", kinds),
                     1);
    assert_int_equal(kinds[0], COORD_WATCH_CHILDREN);
    /* One-shot: the child watch is gone. */
    assert_int_equal(match(&t, COORD_EVENT_CHILDREN_CHANGED, "/a", NULL),
                     0);
    assert_int_equal(match(&t, COORD_EVENT_DATA_CHANGED, "/a", NULL), 2);
    assert_int_equal(match(&t, COORD_EVENT_DATA_CHANGED, "/a", NULL), 0);
    /* Recursive: subtree, not siblings sharing a prefix, no child events. */
    assert_int_equal(match(&t, COORD_EVENT_CREATED, "/r/x/y", NULL), 1);
    assert_int_equal(match(&t, COORD_EVENT_CREATED, "/rx", NULL), 0);
    assert_int_equal(match(&t, COORD_EVENT_CHILDREN_CHANGED, "/r", NULL),
                     0);
    /* Persistent: its own path, every type, and stays. */
    assert_int_equal(match(&t, COORD_EVENT_CHILDREN_CHANGED, "/p", NULL),
                     1);
    assert_int_equal(match(&t, COORD_EVENT_DELETED, "/p", NULL), 1);
    assert_int_equal(match(&t, COORD_EVENT_DELETED, "/p/c", NULL), 0);
    assert_int_equal(t.n, 2);

    struct wire_bytes paths[8];
    assert_int_equal(coord__watchtab_paths(&t, COORD_WATCH_PERSISTENT,
                                           paths, 8),
                     1);
    assert_int_equal(paths[0].len, 2);
    assert_memory_equal(paths[0].ptr, "/p", 2);
    assert_int_equal(
        coord__watchtab_remove(&t, "/p", COORD_WATCH_PERSISTENT), 1);
    assert_int_equal(match(&t, COORD_EVENT_DELETED, "/p", NULL), 0);
    coord__watchtab_free(&t);
}

static void watchtab_must_reread_and_bound(void **state)
{
    (void)state;
    struct coord__watchtab t;
    coord__watchtab_init(&t, 3);
    struct coord_watcher w = {w_cb, (void *)3};
    assert_int_equal(coord__watchtab_add(&t, "/a/b", 4, COORD_WATCH_DATA, &w),
                     0);
    assert_int_equal(
        coord__watchtab_add(&t, "/c", 2, COORD_WATCH_PERSISTENT, &w), 0);
    assert_int_equal(
        coord__watchtab_add(&t, "/a", 2, COORD_WATCH_EXISTS, &w), 0);
    assert_int_equal(
        coord__watchtab_add(&t, "/d", 2, COORD_WATCH_EXISTS, &w),
        COORD_ETOOMANY);
    /* Exactly the watched path, every kind there; one-shots are spent. */
    struct coord__fired f[4];
    char *owned[4];
    size_t n = coord__watchtab_match(&t, COORD_EVENT_MUST_REREAD, "/a", f, 4,
                                     owned, 4);
    assert_int_equal(n, 1);
    assert_int_equal(f[0].kind, COORD_WATCH_EXISTS);
    assert_string_equal(f[0].path, "/a");
    assert_int_equal(t.n, 2);
    coord__watchtab_release(owned, 1);
    n = coord__watchtab_match(&t, COORD_EVENT_MUST_REREAD, "/c", f, 4, owned,
                              4);
    assert_int_equal(n, 1);
    assert_int_equal(t.n, 2); /* persistent: stays */
    n = coord__watchtab_match(&t, COORD_EVENT_MUST_REREAD, "/", f, 4, owned,
                              4);
    assert_int_equal(n, 0);
    coord__watchtab_free(&t);
}

/* The hashed table keeps registration order across the event's own path
 * and its ancestors', answers a too-small array without changing
 * anything, lists each path of a kind once, and stays exact through
 * bucket growth and removals. */
/* Many watchers on one path (each its own callback data): SET_WATCHES
 * lists the path once per kind, in registration order, among others. */
static void watchtab_paths_many_twins(void **state)
{
    (void)state;
    struct coord__watchtab t;
    coord__watchtab_init(&t, 100000);
    for (intptr_t i = 0; i < 6000; i++) {
        struct coord_watcher w = {w_cb, (void *)(i + 1)};
        const char *p = i % 3 == 0 ? "/b" : "/a";
        uint32_t kind = i % 2 ? COORD_WATCH_DATA : COORD_WATCH_EXISTS;
        assert_int_equal(coord__watchtab_add(&t, p, 2, kind, &w), 0);
    }
    assert_int_equal(t.n, 6000);
    struct wire_bytes paths[4];
    /* i = 0 registers /b exists first, i = 1 /a data, i = 3 /b data */
    assert_int_equal(coord__watchtab_paths(&t, COORD_WATCH_DATA, paths, 4),
                     2);
    assert_memory_equal(paths[0].ptr, "/a", 2);
    assert_memory_equal(paths[1].ptr, "/b", 2);
    assert_int_equal(coord__watchtab_paths(&t, COORD_WATCH_EXISTS, paths,
                                           4), 2);
    assert_memory_equal(paths[0].ptr, "/b", 2);
    assert_memory_equal(paths[1].ptr, "/a", 2);
    assert_int_equal(coord__watchtab_paths(&t, COORD_WATCH_CHILDREN, paths,
                                           4), 0);
    coord__watchtab_free(&t);
}

static void watchtab_order_and_many(void **state)
{
    (void)state;
    struct coord__watchtab t;
    coord__watchtab_init(&t, 100000);
    struct coord_watcher w1 = {w_cb, (void *)1}, w2 = {w_cb, (void *)2};
    assert_int_equal(coord__watchtab_add(&t, "/r/x", 4, COORD_WATCH_DATA,
                                         &w1), 0);
    assert_int_equal(coord__watchtab_add(&t, "/r", 2,
                                         COORD_WATCH_PERSISTENT_RECURSIVE,
                                         &w2), 0);
    assert_int_equal(coord__watchtab_add(&t, "/", 1,
                                         COORD_WATCH_PERSISTENT_RECURSIVE,
                                         &w1), 0);
    assert_int_equal(coord__watchtab_add(&t, "/r/x", 4, COORD_WATCH_EXISTS,
                                         &w2), 0);
    assert_int_equal(coord__watchtab_count(&t, COORD_EVENT_DATA_CHANGED,
                                           "/r/x"), 4);
    /* Too small: nothing written, nothing spent. */
    struct coord__fired f[4];
    char *owned[4];
    assert_int_equal(coord__watchtab_match(&t, COORD_EVENT_DATA_CHANGED,
                                           "/r/x", f, 2, owned, 2), 4);
    assert_int_equal(t.n, 4);
    uint32_t kinds[16];
    assert_int_equal(match(&t, COORD_EVENT_DATA_CHANGED, "/r/x", kinds), 4);
    assert_int_equal(kinds[0], COORD_WATCH_DATA);
    assert_int_equal(kinds[1], COORD_WATCH_PERSISTENT_RECURSIVE);
    assert_int_equal(kinds[2], COORD_WATCH_PERSISTENT_RECURSIVE);
    assert_int_equal(kinds[3], COORD_WATCH_EXISTS);
    assert_int_equal(t.n, 2); /* the two one-shots are spent */

    /* Many paths: every one found, each kind's paths listed once. */
    char p[32];
    for (int i = 0; i < 5000; i++) {
        int len = snprintf(p, sizeof(p), "/m/n%d", i);
        assert_int_equal(coord__watchtab_add(&t, p, (size_t)len,
                                             COORD_WATCH_CHILDREN, &w1), 0);
        assert_int_equal(coord__watchtab_add(&t, p, (size_t)len,
                                             COORD_WATCH_CHILDREN, &w2), 0);
    }
    assert_int_equal(t.n, 2 + 10000);
    static struct wire_bytes paths[10000];
    assert_int_equal(coord__watchtab_paths(&t, COORD_WATCH_CHILDREN, paths,
                                           10000), 5000);
    assert_memory_equal(paths[4999].ptr, "/m/n4999", 8);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(p, sizeof(p), "/m/n%d", i);
        assert_int_equal(coord__watchtab_remove(&t, p,
                                                COORD_WATCH_CHILDREN), 2);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(p, sizeof(p), "/m/n%d", i);
        /* the recursive watch on "/" never fires for child events */
        assert_int_equal(match(&t, COORD_EVENT_CHILDREN_CHANGED, p, NULL),
                         i % 2 ? 2 : 0);
    }
    assert_int_equal(t.n, 2);
    coord__watchtab_free(&t);
}

/* ---- backoff ---- */

static void backoff_bounds(void **state)
{
    (void)state;
    struct coord__rng r;
    coord__rng_seed(&r);
    assert_int_equal(coord__backoff_ms(&r, 0, 50, 2000), 0);
    uint32_t lo[12], hi[12];
    for (int a = 1; a < 12; a++) {
        lo[a] = UINT32_MAX;
        hi[a] = 0;
        for (int i = 0; i < 2000; i++) {
            uint32_t d = coord__backoff_ms(&r, (uint32_t)a, 50, 2000);
            lo[a] = d < lo[a] ? d : lo[a];
            hi[a] = d > hi[a] ? d : hi[a];
        }
        uint64_t base = 50ull << (a - 1);
        if (base > 2000)
            base = 2000;
        assert_true(lo[a] >= base / 2);
        assert_true(hi[a] <= base);
        /* Jitter: the draws spread over the interval. */
        assert_true(hi[a] - lo[a] >= (base - base / 2) / 2);
    }
    assert_true(hi[11] == 2000 || hi[11] >= 1900); /* capped */
    assert_true(coord__backoff_ms(&r, UINT32_MAX, 50, 2000) <= 2000);
    /* Two generators do not move in lockstep. */
    struct coord__rng a, b;
    a.s = 1;
    b.s = 2;
    assert_int_not_equal(coord__rng_next(&a), coord__rng_next(&b));
    for (int i = 0; i < 1000; i++)
        assert_true(coord__rng_below(&r, 7) < 7);
}

static void shuffle_is_permutation(void **state)
{
    (void)state;
    struct coord__rng r = {42};
    struct coord__server s[10];
    int first_counts[10] = {0};
    for (int round = 0; round < 500; round++) {
        for (int i = 0; i < 10; i++)
            s[i].port = (uint16_t)i;
        coord__servers_shuffle(&r, s, 10);
        int seen[10] = {0};
        for (int i = 0; i < 10; i++)
            seen[s[i].port]++;
        for (int i = 0; i < 10; i++)
            assert_int_equal(seen[i], 1);
        first_counts[s[0].port]++;
    }
    for (int i = 0; i < 10; i++)
        assert_true(first_counts[i] > 10); /* every server leads sometimes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(servers_parse_good),
        cmocka_unit_test(servers_parse_bad),
        cmocka_unit_test(options_resolve),
        cmocka_unit_test(reqtab_match_and_bound),
        cmocka_unit_test(reqtab_drop_sent),
        cmocka_unit_test(watchtab_rules),
        cmocka_unit_test(watchtab_must_reread_and_bound),
        cmocka_unit_test(watchtab_order_and_many),
        cmocka_unit_test(watchtab_paths_many_twins),
        cmocka_unit_test(backoff_bounds),
        cmocka_unit_test(shuffle_is_permutation),
    };
    return cmocka_run_group_tests_name("client_parts", tests, NULL, NULL);
}
