/* test_server.c -- integration tests of a single coordd process on
 * loopback, driven over the real protocol (test/lib/rawclient): every
 * operation, ephemeral nodes on close and on expiry, watch semantics and
 * ordering, restart and kill -9 durability, malformed and oversized input,
 * and bounded memory under a request flood. Each test starts its own
 * server and stops it by PID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord.h"
#include "test/lib/proc.h"
#include "test/lib/rawclient.h"

static struct tproc srv;

static int setup(void **state)
{
    (void)state;
    tproc_init(&srv, "127.0.0.1");
    snprintf(srv.extra, sizeof(srv.extra),
             "--log-level=info");
    if (tproc_start(&srv, 10000) != 0) {
        fprintf(stderr, "coordd did not start; log %s\n", srv.log);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = tproc_stop(&srv, 10000);
    tproc_cleanup(&srv);
    return rc == 0 ? 0 : -1;
}

static void connect_session(struct rawc *c, uint32_t timeout_ms)
{
    assert_int_equal(rawc_connect(c, srv.host, srv.port), 0);
    assert_int_equal(rawc_hello(c, 0, NULL, timeout_ms), 0);
    assert_true(c->session_id != 0);
}

static void basic_operations(void **state)
{
    (void)state;
    struct rawc c;
    connect_session(&c, 5000);
    char buf[256];
    struct coord_stat st;
    assert_int_equal(rawc_create(&c, "/a", "x", 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/a");
    assert_int_equal(rawc_create(&c, "/a", "y", 0, NULL, 0),
                     COORD_ENODEEXISTS);
    assert_int_equal(rawc_get(&c, "/a", 0, buf, sizeof(buf), &st), 0);
    assert_string_equal(buf, "x");
    assert_int_equal(st.version, 0);
    uint64_t czxid = st.czxid;
    assert_int_equal(rawc_set(&c, "/a", "yy", 0, &st), 0);
    assert_int_equal(st.version, 1);
    assert_int_equal(st.data_length, 2);
    assert_true(st.mzxid > czxid);
    assert_int_equal(st.czxid, czxid);
    assert_int_equal(rawc_set(&c, "/a", "z", 0, NULL), COORD_EBADVERSION);
    assert_int_equal(rawc_create(&c, "/a/b", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_delete(&c, "/a", -1), COORD_ENOTEMPTY);
    assert_int_equal(rawc_create(&c, "/nope/b", "", 0, NULL, 0),
                     COORD_ENONODE);
    assert_int_equal(rawc_create(&c, "bad", "", 0, NULL, 0),
                     COORD_EBADPATH);
    assert_int_equal(rawc_create(&c, "/a/s-", "", COORD_SEQUENTIAL, buf,
                                 sizeof(buf)), 0);
    assert_string_equal(buf, "/a/s-0000000001");
    assert_int_equal(rawc_create(&c, "/a/s-", "", COORD_SEQUENTIAL, buf,
                                 sizeof(buf)), 0);
    assert_string_equal(buf, "/a/s-0000000002");
    assert_int_equal(rawc_exists(&c, "/a", 0, &st), 0);
    assert_int_equal(st.num_children, 3);
    assert_int_equal(rawc_exists(&c, "/zz", 0, NULL), COORD_ENONODE);
    assert_int_equal(rawc_delete(&c, "/a/b", 5), COORD_EBADVERSION);
    assert_int_equal(rawc_delete(&c, "/a/b", 0), 0);
    rawc_close(&c);
}

static void children_and_multi(void **state)
{
    (void)state;
    struct rawc c;
    connect_session(&c, 5000);
    assert_int_equal(rawc_create(&c, "/m", "", 0, NULL, 0), 0);
    char p[32];
    for (int i = 0; i < 25; i++) {
        snprintf(p, sizeof(p), "/m/k%02d", i);
        assert_int_equal(rawc_create(&c, p, "", 0, NULL, 0), 0);
    }
    /* Page through the children, 10 at a time. */
    char after[16] = "";
    int seen = 0;
    for (;;) {
        struct wire_req q = {.op = WIRE_OP_CHILDREN};
        q.u.children.path = (struct wire_bytes){"/m", 2};
        q.u.children.start_after = (struct wire_bytes){after,
                                                       (uint32_t)strlen(after)};
        q.u.children.max_count = 10;
        struct wire_resp r;
        int64_t xid = rawc_send(&c, &q);
        assert_int_equal(rawc_wait(&c, xid, &r, NULL), 0);
        assert_int_equal(r.err, 0);
        struct wire_iter it = r.u.children.it;
        struct wire_child ch;
        while (wire_next_child(&it, &ch)) {
            char want[16];
            snprintf(want, sizeof(want), "k%02d", seen++);
            assert_int_equal(ch.name.len, strlen(want));
            assert_memory_equal(ch.name.ptr, want, ch.name.len);
            memcpy(after, ch.name.ptr, ch.name.len);
            after[ch.name.len] = '\0';
        }
        if (!r.u.children.more)
            break;
    }
    assert_int_equal(seen, 25);
    /* A multi whose last op fails changes nothing. */
    struct wire_multi_op ops[3] = {
        {.op = WIRE_OP_CREATE, .path = {"/m/new", 6}},
        {.op = WIRE_OP_DELETE, .path = {"/m/k00", 6}, .version = -1},
        {.op = WIRE_OP_CHECK, .path = {"/m/k01", 6}, .version = 7},
    };
    struct wire_req q = {.op = WIRE_OP_MULTI};
    q.u.multi.n = 3;
    q.u.multi.ops = ops;
    struct wire_resp r;
    int64_t xid = rawc_send(&c, &q);
    assert_int_equal(rawc_wait(&c, xid, &r, NULL), 0);
    assert_int_equal(r.err, 0);
    struct wire_iter it = r.u.multi.it;
    struct wire_op_result res;
    int errs[3], k = 0;
    while (wire_next_result(&it, &res))
        errs[k++] = res.err;
    assert_int_equal(k, 3);
    /* The failing op carries its error; every other op is skipped
     * (nothing was applied). */
    assert_int_equal(errs[0], COORD_ESKIPPED);
    assert_int_equal(errs[1], COORD_ESKIPPED);
    assert_int_equal(errs[2], COORD_EBADVERSION);
    assert_int_equal(rawc_exists(&c, "/m/new", 0, NULL), COORD_ENONODE);
    assert_int_equal(rawc_exists(&c, "/m/k00", 0, NULL), 0);
    /* The same multi with a right version applies all of it. */
    ops[2].version = 0;
    q.xid = 0;
    xid = rawc_send(&c, &q);
    assert_int_equal(rawc_wait(&c, xid, &r, NULL), 0);
    it = r.u.multi.it;
    while (wire_next_result(&it, &res))
        assert_int_equal(res.err, 0);
    assert_int_equal(rawc_exists(&c, "/m/new", 0, NULL), 0);
    assert_int_equal(rawc_exists(&c, "/m/k00", 0, NULL), COORD_ENONODE);
    rawc_close(&c);
}

/* Polls until exists(path) returns want, or the deadline. */
static int wait_exists(struct rawc *c, const char *path, int want,
                       int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    int rc;
    while ((rc = rawc_exists(c, path, 0, NULL)) != want &&
           tproc_now_ms() < deadline)
        poll(NULL, 0, 20);
    return rc;
}

static void ephemerals_end_with_their_session(void **state)
{
    (void)state;
    struct rawc a, b, x;
    connect_session(&a, 5000);
    connect_session(&b, 5000);
    connect_session(&x, 1000);
    assert_int_equal(rawc_create(&a, "/e1", "", COORD_EPHEMERAL, NULL, 0), 0);
    assert_int_equal(rawc_create(&x, "/e2", "", COORD_EPHEMERAL, NULL, 0), 0);
    assert_int_equal(rawc_create(&a, "/e1/c", "", 0, NULL, 0),
                     COORD_ENOCHILDRENFOREPHEMERALS);
    struct coord_stat st;
    assert_int_equal(rawc_exists(&b, "/e1", 0, &st), 0);
    assert_int_equal(st.ephemeral_owner, a.session_id);
    /* Closing the session deletes its ephemeral at once. */
    struct wire_req q = {.op = WIRE_OP_CLOSE};
    struct wire_resp r;
    int64_t xid = rawc_send(&a, &q);
    assert_int_equal(rawc_wait(&a, xid, &r, NULL), 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(rawc_exists(&b, "/e1", 0, NULL), COORD_ENONODE);
    /* A silent session expires after its timeout (1 s), not before. */
    int64_t t0 = tproc_now_ms();
    assert_int_equal(rawc_exists(&b, "/e2", 0, NULL), 0);
    assert_int_equal(wait_exists(&b, "/e2", COORD_ENONODE, 5000),
                     COORD_ENONODE);
    assert_true(tproc_now_ms() - t0 >= 800);
    /* Resuming an expired session is refused. */
    struct rawc y;
    assert_int_equal(rawc_connect(&y, srv.host, srv.port), 0);
    assert_int_equal(rawc_hello(&y, x.session_id, x.secret, 1000),
                     COORD_ESESSIONEXPIRED);
    rawc_close(&y);
    rawc_close(&x);
    rawc_close(&a);
    rawc_close(&b);
}

/* A long tick (250 ms, above the 100 ms scan interval) is no stall: a
 * silent session still expires about its timeout after it went quiet.
 * Taking every scan's gap past 100 ms for a stall credited 150 ms of each
 * 250 to every session, and a 2 s session lived about 5 s. */
static void silent_session_expires_on_time_with_long_ticks(void **state)
{
    (void)state;
    assert_int_equal(tproc_stop(&srv, 10000), 0);
    tproc_cleanup(&srv);
    tproc_init(&srv, "127.0.0.1");
    snprintf(srv.extra, sizeof(srv.extra),
             "--log-level=info --tick-ms=250 --heartbeat-ticks=1 "
             "--election-ticks=4 --session-timeout-ms-min=2000");
    assert_int_equal(tproc_start(&srv, 20000), 0);
    struct rawc b, x;
    connect_session(&b, 20000);
    connect_session(&x, 2000);
    assert_int_equal(rawc_create(&x, "/t", "", COORD_EPHEMERAL, NULL, 0), 0);
    int64_t t0 = tproc_now_ms(); /* x's last word */
    assert_int_equal(wait_exists(&b, "/t", COORD_ENONODE, 15000),
                     COORD_ENONODE);
    int64_t took = tproc_now_ms() - t0;
    fprintf(stderr, "2 s session, 250 ms ticks: gone after %lld ms\n",
            (long long)took);
    assert_true(took >= 1700);
    assert_true(took < 3800);
    rawc_close(&x);
    rawc_close(&b);
}

static int snap_read(struct rawc *c, uint64_t id, uint64_t off,
                     struct wire_snapshot_chunk *out)
{
    struct wire_req q = {.op = WIRE_OP_SNAPSHOT_READ};
    q.u.snapshot = (struct wire_snapshot_req){id, off};
    struct wire_resp r;
    int64_t xid = rawc_send(c, &q);
    assert_int_equal(rawc_wait(c, xid, &r, NULL), 0);
    if (r.err == 0)
        *out = r.u.snapshot;
    return r.err;
}

/* SNAPSHOT_READ: the export reflects the latest write (a snapshot taken
 * the normal way when the last one is older), and a second export is
 * refused while the first is being fetched (each costs a copy of the
 * tree on the loop thread; repeated ones stalled it). */
static void snapshot_export_one_at_a_time(void **state)
{
    (void)state;
    struct rawc c;
    connect_session(&c, 5000);
    static char big[200 * 1024];
    memset(big, 'v', sizeof(big) - 1);
    struct coord_stat st;
    for (int i = 0; i < 4; i++) { /* 800 KiB: more than one chunk */
        char path[16];
        snprintf(path, sizeof(path), "/big%d", i);
        assert_int_equal(rawc_create(&c, path, big, 0, NULL, 0), 0);
    }
    assert_int_equal(rawc_set(&c, "/big0", "small", -1, &st), 0);
    struct wire_snapshot_chunk k;
    assert_int_equal(snap_read(&c, 0, 0, &k), 0);
    assert_true(k.index >= st.mzxid); /* not an older snapshot */
    assert_true(k.total > k.chunk.len);
    struct wire_snapshot_chunk k2;
    assert_int_equal(snap_read(&c, 0, 0, &k2), COORD_EBUSY);
    uint64_t off = k.chunk.len;
    while (off < k.total) {
        assert_int_equal(snap_read(&c, k.export_id, off, &k2), 0);
        assert_true(k2.chunk.len > 0);
        off += k2.chunk.len;
    }
    /* fetched: the next export may start, from the same snapshot (it
     * still covers everything: no pass over the tree needed) */
    assert_int_equal(snap_read(&c, 0, 0, &k2), 0);
    assert_int_equal(k2.index, k.index);
    assert_int_equal(k2.sum, k.sum);
    for (off = k2.chunk.len; off < k2.total; off += k2.chunk.len)
        assert_int_equal(snap_read(&c, k2.export_id, off, &k2), 0);
    /* after a write it would need a new pass: not within 10 s of the
     * last one (NODE_EXPORT_PASS_GAP_MS) */
    assert_int_equal(rawc_set(&c, "/big1", "small", -1, NULL), 0);
    assert_int_equal(snap_read(&c, 0, 0, &k2), COORD_EBUSY);
    rawc_close(&c);
}

static void session_resumes_on_new_connection(void **state)
{
    (void)state;
    struct rawc a, b;
    connect_session(&a, 5000);
    assert_int_equal(rawc_create(&a, "/r1", "", COORD_EPHEMERAL, NULL, 0), 0);
    uint8_t bad[32] = {0};
    assert_int_equal(rawc_connect(&b, srv.host, srv.port), 0);
    assert_int_equal(rawc_hello(&b, a.session_id, bad, 5000), COORD_EAUTH);
    rawc_close(&b);
    assert_int_equal(rawc_connect(&b, srv.host, srv.port), 0);
    b.last_zxid = a.last_zxid;
    assert_int_equal(rawc_hello(&b, a.session_id, a.secret, 5000), 0);
    assert_int_equal(b.session_id, a.session_id);
    rawc_close(&a); /* the old connection goes; the session stays */
    assert_int_equal(rawc_create(&b, "/r2", "", COORD_EPHEMERAL, NULL, 0), 0);
    struct coord_stat st;
    assert_int_equal(rawc_exists(&b, "/r1", 0, &st), 0);
    assert_int_equal(st.ephemeral_owner, b.session_id);
    rawc_close(&b);
}

static void watches_fire_once_and_before_reads(void **state)
{
    (void)state;
    struct rawc a, b;
    connect_session(&a, 5000);
    connect_session(&b, 5000);
    assert_int_equal(rawc_create(&a, "/w", "0", 0, NULL, 0), 0);
    char buf[64];
    assert_int_equal(rawc_get(&b, "/w", WIRE_READ_WATCH, buf, sizeof(buf),
                              NULL), 0);
    struct coord_stat st1, st2;
    assert_int_equal(rawc_set(&a, "/w", "1", -1, &st1), 0);
    assert_int_equal(rawc_set(&a, "/w", "2", -1, &st2), 0);
    /* b's next frame is the one event, for the first change; then its
     * read of the new value. No second event: the watch was one-shot. */
    struct wire_resp r;
    assert_int_equal(rawc_read(&b, &r), 0);
    assert_int_equal(r.xid, WIRE_XID_EVENT);
    assert_int_equal(r.u.event.type, COORD_EVENT_DATA_CHANGED);
    assert_int_equal(r.zxid, st1.mzxid);
    struct wire_req q = {.op = WIRE_OP_GET};
    q.u.read.path = (struct wire_bytes){"/w", 2};
    int64_t xid = rawc_send(&b, &q);
    assert_int_equal(rawc_read(&b, &r), 0);
    assert_int_equal(r.xid, xid);
    assert_int_equal(r.u.get.stat.version, 2);
    /* A child watch and an exists watch on a missing node. */
    int events = 0;
    struct wire_req cq = {.op = WIRE_OP_CHILDREN};
    cq.u.children.path = (struct wire_bytes){"/w", 2};
    cq.u.children.flags = WIRE_READ_WATCH;
    xid = rawc_send(&b, &cq);
    assert_int_equal(rawc_wait(&b, xid, &r, NULL), 0);
    assert_int_equal(rawc_exists(&b, "/w/kid", WIRE_READ_WATCH, NULL),
                     COORD_ENONODE);
    assert_int_equal(rawc_create(&a, "/w/kid", "", 0, NULL, 0), 0);
    struct wire_req ping = {.op = WIRE_OP_PING};
    xid = rawc_send(&b, &ping);
    assert_int_equal(rawc_wait(&b, xid, &r, &events), 0);
    assert_int_equal(events, 2); /* CHILDREN_CHANGED(/w) + CREATED(kid) */
    rawc_close(&a);
    rawc_close(&b);
}

static void persistent_recursive_watch_sees_subtree(void **state)
{
    (void)state;
    struct rawc a, b;
    connect_session(&a, 5000);
    connect_session(&b, 5000);
    assert_int_equal(rawc_create(&a, "/p", "", 0, NULL, 0), 0);
    struct wire_req q = {.op = WIRE_OP_ADD_WATCH};
    q.u.watch.path = (struct wire_bytes){"/p", 2};
    q.u.watch.kind = COORD_WATCH_PERSISTENT_RECURSIVE;
    struct wire_resp r;
    int64_t xid = rawc_send(&b, &q);
    assert_int_equal(rawc_wait(&b, xid, &r, NULL), 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(rawc_create(&a, "/p/x", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_create(&a, "/p/x/y", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_set(&a, "/p/x/y", "v", -1, NULL), 0);
    assert_int_equal(rawc_delete(&a, "/p/x/y", -1), 0);
    uint8_t want[] = {COORD_EVENT_CREATED, COORD_EVENT_CREATED,
                      COORD_EVENT_DATA_CHANGED, COORD_EVENT_DELETED};
    uint64_t last = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rawc_read(&b, &r), 0);
        assert_int_equal(r.xid, WIRE_XID_EVENT);
        assert_int_equal(r.u.event.type, want[i]);
        assert_true(r.zxid > last); /* in zxid order */
        last = r.zxid;
    }
    rawc_close(&a);
    rawc_close(&b);
}

static void malformed_input_closes_only_that_connection(void **state)
{
    (void)state;
    struct rawc good, bad;
    connect_session(&good, 5000);
    assert_int_equal(rawc_connect(&bad, srv.host, srv.port), 0);
    /* Not a HELLO first. */
    struct wire_req ping = {.op = WIRE_OP_PING};
    rawc_send(&bad, &ping);
    struct wire_resp r;
    assert_int_equal(rawc_read(&bad, &r), 0);
    assert_int_equal(r.err, COORD_EPROTO);
    assert_int_equal(rawc_read(&bad, &r), -1); /* closed */
    rawc_close(&bad);
    /* Garbage bytes; then an oversized length prefix. */
    assert_int_equal(rawc_connect(&bad, srv.host, srv.port), 0);
    uint8_t junk[] = {0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
    rawc_send_raw(&bad, junk, sizeof(junk));
    while (rawc_read(&bad, &r) == 0)
        ;
    rawc_close(&bad);
    assert_int_equal(rawc_connect(&bad, srv.host, srv.port), 0);
    uint8_t huge[] = {0x7f, 0, 0, 0};
    rawc_send_raw(&bad, huge, sizeof(huge));
    assert_int_equal(rawc_read(&bad, &r), -1);
    rawc_close(&bad);
    /* Data over the limit: a clear error. */
    size_t big = COORD_DATA_BYTES_MAX + 1;
    char *data = malloc(big + 1);
    memset(data, 'd', big);
    data[big] = '\0';
    struct rawc c2;
    connect_session(&c2, 5000);
    c2.lim.data_bytes_max = (uint32_t)big; /* let the client send it */
    c2.lim.frame_bytes_max = COORD_FRAME_BYTES_MAX;
    assert_int_equal(rawc_create(&c2, "/big", data, 0, NULL, 0),
                     COORD_ETOOBIG);
    free(data);
    rawc_close(&c2);
    /* The good connection never noticed. */
    assert_int_equal(rawc_create(&good, "/still", "ok", 0, NULL, 0), 0);
    rawc_close(&good);
}

static void flood_does_not_grow_memory(void **state)
{
    (void)state;
    struct rawc f, g;
    connect_session(&f, 5000);
    connect_session(&g, 5000);
    assert_int_equal(rawc_create(&g, "/flood", "0123456789abcdef", 0, NULL,
                                 0), 0);
    long rss0 = tproc_rss_kb(&srv);
    /* Pipeline GETs without ever reading the replies, until the server
     * stops reading our socket and the kernel buffers fill. */
    fcntl(f.fd, F_SETFL, O_NONBLOCK);
    struct wire_buf b;
    wire_buf_init(&b, 1u << 20);
    struct wire_req q = {.op = WIRE_OP_GET};
    q.u.read.path = (struct wire_bytes){"/flood", 6};
    for (int i = 0; i < 20000; i++) {
        q.xid = i + 10;
        wire_encode_req(&b, &q, &f.lim);
    }
    size_t sent = 0, rounds = 0;
    int64_t deadline = tproc_now_ms() + 5000;
    while (tproc_now_ms() < deadline && rounds < 200) {
        ssize_t w = send(f.fd, b.data, b.len, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            rounds++;
        } else if (errno == EAGAIN) {
            break; /* the server stopped reading: backpressure works */
        }
    }
    assert_true(sent > 0);
    long rss1 = tproc_rss_kb(&srv);
    /* Output pause (4 MiB) + a connection's in-flight bound, far below
     * what the unread replies would take. */
    assert_true(rss1 - rss0 < 64 * 1024);
    /* Others are served meanwhile. */
    assert_int_equal(rawc_create(&g, "/flood2", "", 0, NULL, 0), 0);
    wire_buf_free(&b);
    rawc_close(&f);
    rawc_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(basic_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(children_and_multi, setup, teardown),
        cmocka_unit_test_setup_teardown(ephemerals_end_with_their_session,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            silent_session_expires_on_time_with_long_ticks, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_export_one_at_a_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(session_resumes_on_new_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(watches_fire_once_and_before_reads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            persistent_recursive_watch_sees_subtree, setup, teardown),
        cmocka_unit_test_setup_teardown(
            malformed_input_closes_only_that_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(flood_does_not_grow_memory, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
