/* test_prefer_leader.c -- libcoord's prefer_leader option against a real
 * 3-node coordd cluster on 127.0.0.1-3: sessions that first land on a
 * follower move to the leader while their writes go on (no error, no
 * state change reported), a client whose list lacks the leader stays where
 * it is, after kill -9 of the leader the sessions end up on the new one,
 * and after a leadership transfer (the old leader stays up, connections
 * open) they move on to the new one. Without the option about two clients in three stay on a follower,
 * so the placement checks fail. Every process is stopped by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "test/lib/proc.h"

#define NCLIENTS 6

static struct tcluster cl;

static int teardown(void **state)
{
    (void)state;
    tcluster_cleanup(&cl);
    return 0;
}

/* State changes a client reported, by state. */
struct states {
    atomic_int n[COORD_STATE_CLOSED + 1];
};

static void on_state(void *data, int state)
{
    struct states *s = data;
    if (state >= 0 && state <= COORD_STATE_CLOSED)
        atomic_fetch_add(&s->n[state], 1);
}

static struct coord_client *client(const char *servers, struct states *s)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.prefer_leader = true;
    o.state_cb = s != NULL ? on_state : NULL;
    o.state_data = s;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

/* The id of the server c is connected to, and that server's leader. */
static void placement(struct coord_client *c, uint64_t *server,
                      uint64_t *leader)
{
    struct coord_status st;
    assert_int_equal(coord_status(c, &st), 0);
    *server = st.server_id;
    *leader = st.leader_id;
}

/* Waits (polling STATUS) until c is connected to the leader; false after
 * timeout_ms. */
static bool on_leader_within(struct coord_client *c, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    for (;;) {
        uint64_t server, leader;
        placement(c, &server, &leader);
        if (leader != 0 && server == leader)
            return true;
        if (tproc_now_ms() >= deadline)
            return false;
        poll(NULL, 0, 20);
    }
}

static uint64_t leader_node_id(void)
{
    int lead = tcluster_leader(&cl, 5000);
    assert_true(lead >= 0);
    return cl.node[lead].node_id;
}

/* Writes from the first moment: the ones in flight when the move is
 * decided are answered before the client leaves, the ones submitted
 * meanwhile wait for the leader, so none fails. */
static void sessions_move_to_leader(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    uint64_t leader = leader_node_id();
    static struct states st[NCLIENTS];
    struct coord_client *c[NCLIENTS];
    memset(st, 0, sizeof(st));
    for (int i = 0; i < NCLIENTS; i++) {
        c[i] = client(cl.servers, &st[i]);
        char p[32];
        snprintf(p, sizeof(p), "/p%d", i);
        assert_int_equal(coord_create(c[i], p, "", 0, 0, 0, NULL, NULL), 0);
        for (int k = 0; k < 100; k++)
            assert_int_equal(coord_set(c[i], p, "v", 1, -1, NULL), 0);
    }
    for (int i = 0; i < NCLIENTS; i++) {
        assert_true(on_leader_within(c[i], 5000));
        uint64_t server, now_leader;
        placement(c[i], &server, &now_leader);
        assert_int_equal(server, leader);
        assert_int_equal(atomic_load(&st[i].n[COORD_STATE_CONNECTED]), 1);
        assert_int_equal(atomic_load(&st[i].n[COORD_STATE_DISCONNECTED]),
                         0);
        assert_int_equal(atomic_load(&st[i].n[COORD_STATE_RECONNECTED]),
                         0);
        coord_close(c[i]);
    }
}

/* The leader's address is not in the list: the preference cannot be met
 * and the client simply works where it is. */
static void stays_when_leader_not_listed(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    int lead = tcluster_leader(&cl, 5000);
    assert_true(lead >= 0);
    char servers[256] = "";
    for (int i = 0; i < cl.n; i++) {
        if (i == lead)
            continue;
        size_t len = strlen(servers);
        snprintf(servers + len, sizeof(servers) - len, "%s%s:%u",
                 len ? "," : "", cl.node[i].host, cl.node[i].port);
    }
    struct coord_client *c = client(servers, NULL);
    assert_int_equal(coord_create(c, "/f", "", 0, 0, 0, NULL, NULL), 0);
    for (int k = 0; k < 50; k++)
        assert_int_equal(coord_set(c, "/f", "v", 1, -1, NULL), 0);
    uint64_t server, leader;
    placement(c, &server, &leader);
    assert_int_equal(leader, cl.node[lead].node_id);
    assert_true(server != 0 && server != leader);
    coord_close(c);
}

/* After the leader dies the client reconnects to a survivor (a reported
 * loss), and if that is a follower it moves on to the new leader. */
static void follows_new_leader_after_kill(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    int lead = tcluster_leader(&cl, 5000);
    assert_true(lead >= 0);
    struct coord_client *c[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        c[i] = client(cl.servers, NULL);
        assert_true(on_leader_within(c[i], 5000));
    }
    tproc_kill(&cl.node[lead]); /* pid 0: no longer a candidate below */
    int64_t deadline = tproc_now_ms() + 10000;
    int again = tcluster_leader(&cl, 10000);
    assert_true(again >= 0 && again != lead);
    for (int i = 0; i < NCLIENTS; i++) {
        int rc;
        do { /* a write lost with the old leader comes back as ECONNLOSS */
            rc = coord_create(c[i], "/after", "", 0, 0, 0, NULL, NULL);
        } while ((rc == COORD_ECONNLOSS || rc == COORD_EAGAIN ||
                  rc == COORD_ETIMEDOUT) &&
                 tproc_now_ms() < deadline);
        assert_true(rc == 0 || rc == COORD_ENODEEXISTS);
        assert_true(on_leader_within(c[i], 5000));
        uint64_t server, leader;
        placement(c[i], &server, &leader);
        assert_int_equal(server, cl.node[again].node_id);
        coord_close(c[i]);
    }
}

/* Leadership handed to another member while the old leader stays up and
 * keeps its connections: the clients' periodic check (leader_recheck_ms,
 * on the leader too) moves every session on to the new leader, without a
 * reported state change. */
static void follows_leader_transfer(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    int lead = tcluster_leader(&cl, 5000);
    assert_true(lead >= 0);
    static struct states st[NCLIENTS];
    struct coord_client *c[NCLIENTS];
    memset(st, 0, sizeof(st));
    for (int i = 0; i < NCLIENTS; i++) {
        c[i] = client(cl.servers, &st[i]);
        assert_true(on_leader_within(c[i], 5000));
    }
    int to = (lead + 1) % cl.n;
    assert_int_equal(coord_leader_transfer(c[0], cl.node[to].node_id), 0);
    int64_t deadline = tproc_now_ms() + 10000;
    while (tcluster_leader(&cl, 1000) != to)
        assert_true(tproc_now_ms() < deadline);
    for (int i = 0; i < NCLIENTS; i++) {
        assert_true(on_leader_within(c[i], 5000));
        uint64_t server, leader;
        placement(c[i], &server, &leader);
        assert_int_equal(server, cl.node[to].node_id);
        assert_int_equal(coord_create(c[i], "/x", "", 0, COORD_EPHEMERAL |
                                      COORD_SEQUENTIAL, 0, NULL, NULL), 0);
        assert_int_equal(atomic_load(&st[i].n[COORD_STATE_CONNECTED]), 1);
        assert_int_equal(atomic_load(&st[i].n[COORD_STATE_DISCONNECTED]),
                         0);
        coord_close(c[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(sessions_move_to_leader, teardown),
        cmocka_unit_test_teardown(stays_when_leader_not_listed, teardown),
        cmocka_unit_test_teardown(follows_new_leader_after_kill, teardown),
        cmocka_unit_test_teardown(follows_leader_transfer, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
