/* test_cluster.c -- real coordd clusters on 127.0.0.1, .2, .3 (...): kill
 * -9 of the leader under a write load (a new leader within 2 s, no
 * acknowledged write lost, sessions and ephemerals survive), a follower
 * that misses compacted history and catches up by snapshot, a hung
 * (SIGSTOPped) leader, and a 5-node cluster that survives two failures.
 * Clients are libcoord with the whole server list. Every process is
 * stopped by the test (teardown too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "test/lib/proc.h"

static struct tcluster cl;

static int teardown(void **state)
{
    (void)state;
    tcluster_cleanup(&cl);
    return 0;
}

static struct coord_client *client(const char *servers)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = 10000;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

/* A writer thread: creates /w/<i> one after another, recording which were
 * acknowledged and the longest gap between two acknowledgements. */
#define WMAX 100000
struct writer {
    struct coord_client *c;
    pthread_t th;
    atomic_bool stop;
    atomic_int acked_n;
    bool acked[WMAX];
    int sent;
    int64_t last_ack_ms;
    int64_t max_gap_ms;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    w->last_ack_ms = tproc_now_ms();
    while (!atomic_load(&w->stop) && w->sent < WMAX) {
        char p[32];
        snprintf(p, sizeof(p), "/w/%d", w->sent);
        int rc = coord_create(w->c, p, "v", 1, 0, 0, NULL, NULL);
        if (rc == 0 || rc == COORD_ENODEEXISTS) {
            /* ENODEEXISTS: an earlier try applied (its reply was lost). */
            int64_t now = tproc_now_ms();
            if (now - w->last_ack_ms > w->max_gap_ms)
                w->max_gap_ms = now - w->last_ack_ms;
            w->last_ack_ms = now;
            if (rc == 0)
                w->acked[w->sent] = true;
            w->sent++;
            atomic_fetch_add(&w->acked_n, 1);
        }
        /* other errors (connection loss, no leader): retry same path */
    }
    return NULL;
}

static void wait_acks(struct writer *w, int n, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    while (atomic_load(&w->acked_n) < n && tproc_now_ms() < deadline)
        poll(NULL, 0, 5);
    assert_true(atomic_load(&w->acked_n) >= n);
}

static void check_acked(struct coord_client *c, const struct writer *w)
{
    for (int i = 0; i < w->sent; i++) {
        if (!w->acked[i])
            continue;
        char p[32];
        snprintf(p, sizeof(p), "/w/%d", i);
        assert_int_equal(coord_exists(c, p, 0, NULL, NULL), 0);
    }
}

static void leader_killed_under_load(void **state)
{
    (void)state;
    static struct writer w;
    memset(&w, 0, sizeof(w));
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    struct coord_client *admin = client(cl.servers);
    assert_int_equal(coord_create(admin, "/w", "", 0, 0, 0, NULL, NULL), 0);
    struct coord_client *owner = client(cl.servers);
    assert_int_equal(coord_create(owner, "/eph", "", 0, COORD_EPHEMERAL, 0,
                                  NULL, NULL), 0);
    uint64_t sid;
    assert_int_equal(coord_session(owner, &sid, NULL), 0);
    w.c = client(cl.servers);
    assert_int_equal(pthread_create(&w.th, NULL, writer_main, &w), 0);
    wait_acks(&w, 200, 10000);
    int lead = tcluster_leader(&cl, 1000);
    assert_true(lead >= 0);
    int64_t t0 = tproc_now_ms();
    tproc_kill(&cl.node[lead]);
    int before = atomic_load(&w.acked_n);
    int nl = tcluster_leader(&cl, 5000);
    int64_t elected = tproc_now_ms() - t0;
    assert_true(nl >= 0 && nl != lead);
    wait_acks(&w, before + 200, 15000);
    atomic_store(&w.stop, true);
    pthread_join(w.th, NULL);
    print_message("failover: new leader after %lld ms; longest write gap "
                  "%lld ms\n", (long long)elected, (long long)w.max_gap_ms);
    assert_true(elected < 2000);
    check_acked(admin, &w);
    struct coord_stat st;
    assert_int_equal(coord_exists(admin, "/eph", 0, NULL, &st), 0);
    assert_int_equal(st.ephemeral_owner, sid);
    /* The old leader comes back as a follower and catches up. */
    assert_int_equal(tproc_start(&cl.node[lead], 15000), 0);
    assert_int_equal(coord_close(w.c), 0);
    assert_int_equal(coord_close(owner), 0);
    assert_int_equal(coord_close(admin), 0);
}

static void lagging_follower_catches_up_by_snapshot(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "--snapshot-entries=100");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    int lead = tcluster_leader(&cl, 1000);
    int f = (lead + 1) % 3;
    tproc_kill(&cl.node[f]);
    struct coord_client *c = client(cl.servers);
    char p[32];
    assert_int_equal(coord_create(c, "/s", "", 0, 0, 0, NULL, NULL), 0);
    for (int i = 0; i < 600; i++) {
        snprintf(p, sizeof(p), "/s/%d", i);
        assert_int_equal(coord_create(c, p, "x", 1, 0, 0, NULL, NULL), 0);
    }
    assert_int_equal(tproc_start(&cl.node[f], 15000), 0);
    /* Ask the follower itself (local reads) until it has everything. */
    char one[64];
    snprintf(one, sizeof(one), "%s:%u", cl.node[f].host, cl.node[f].port);
    struct coord_client *fc = client(one);
    struct coord_stat st = {0};
    int64_t deadline = tproc_now_ms() + 10000;
    while (tproc_now_ms() < deadline &&
           (coord_exists(fc, "/s", COORD_READ_LOCAL, NULL, &st) != 0 ||
            st.num_children < 600))
        poll(NULL, 0, 20);
    assert_int_equal(st.num_children, 600);
    assert_true(tproc_log_has(&cl.node[f], "snapshot installed"));
    assert_int_equal(coord_close(fc), 0);
    assert_int_equal(coord_close(c), 0);
}

static void hung_leader_is_replaced(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    struct coord_client *c = client(cl.servers);
    assert_int_equal(coord_create(c, "/h", "0", 1, 0, 0, NULL, NULL), 0);
    int lead = tcluster_leader(&cl, 1000);
    int64_t t0 = tproc_now_ms();
    kill(cl.node[lead].pid, SIGSTOP);
    int rc;
    while ((rc = coord_set(c, "/h", "1", 1, -1, NULL)) != 0 &&
           tproc_now_ms() - t0 < 15000)
        ;
    int64_t window = tproc_now_ms() - t0;
    print_message("hung leader: first write after %lld ms\n",
                  (long long)window);
    assert_int_equal(rc, 0);
    assert_true(window < 5000);
    kill(cl.node[lead].pid, SIGCONT);
    /* It steps down and follows the new leader: writes keep working and
     * it sees them. */
    int64_t deadline = tproc_now_ms() + 10000;
    while (tproc_role(&cl.node[lead]) == 'L' && tproc_now_ms() < deadline)
        poll(NULL, 0, 10);
    assert_int_equal(tproc_role(&cl.node[lead]), 'F');
    assert_int_equal(coord_set(c, "/h", "2", 1, -1, NULL), 0);
    assert_int_equal(coord_close(c), 0);
}

static void sigterm_hands_leadership_over(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    struct coord_client *c = client(cl.servers);
    assert_int_equal(coord_create(c, "/g", "0", 1, 0, 0, NULL, NULL), 0);
    int lead = tcluster_leader(&cl, 1000);
    int64_t t0 = tproc_now_ms();
    assert_int_equal(tproc_stop(&cl.node[lead], 5000), 0);
    int64_t stopped = tproc_now_ms() - t0;
    int nl = tcluster_leader(&cl, 1000);
    assert_true(nl >= 0 && nl != lead);
    /* No election timeout was waited for: the old leader handed over. */
    assert_true(tproc_log_has(&cl.node[nl], "msg=\"raft state\" role=leader"));
    assert_true(tproc_log_has(&cl.node[lead], "leadership handed over"));
    print_message("graceful stop of the leader took %lld ms\n",
                  (long long)stopped);
    assert_true(stopped < 1000);
    /* A client notices at most one retry's worth. */
    int rc, tries = 0;
    while ((rc = coord_set(c, "/g", "1", 1, -1, NULL)) != 0 && ++tries < 5)
        ;
    assert_int_equal(rc, 0);
    assert_true(tries <= 1);
    assert_int_equal(coord_close(c), 0);
}

static void five_nodes_survive_two_failures(void **state)
{
    (void)state;
    tcluster_init(&cl, 5, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    struct coord_client *c = client(cl.servers);
    assert_int_equal(coord_create(c, "/five", "a", 1, 0, 0, NULL, NULL), 0);
    int lead = tcluster_leader(&cl, 1000);
    tproc_kill(&cl.node[lead]);
    tproc_kill(&cl.node[(lead + 1) % 5]);
    int64_t deadline = tproc_now_ms() + 15000;
    int rc;
    while ((rc = coord_set(c, "/five", "b", 1, -1, NULL)) != 0 &&
           tproc_now_ms() < deadline)
        ;
    assert_int_equal(rc, 0);
    void *v = NULL;
    size_t len = 0;
    assert_int_equal(coord_get(c, "/five", 0, NULL, &v, &len, NULL), 0);
    assert_memory_equal(v, "b", 1);
    coord_free_mem(v);
    assert_int_equal(coord_close(c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(leader_killed_under_load, teardown),
        cmocka_unit_test_teardown(lagging_follower_catches_up_by_snapshot,
                                  teardown),
        cmocka_unit_test_teardown(hung_leader_is_replaced, teardown),
        cmocka_unit_test_teardown(sigterm_hands_leadership_over, teardown),
        cmocka_unit_test_teardown(five_nodes_survive_two_failures,
                                  teardown),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
