/* test_partition.c -- network partitions of a real 3-node cluster, cut
 * with iptables by 127.0.0.x address. The test re-executes itself inside a
 * private network namespace (unshare --net, its own loopback), so its
 * rules touch nothing else on the machine. An isolated leader must step
 * down (check-quorum), its clients must move to the majority, writes must
 * go on there, and after the heal the old leader rejoins and converges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "test/lib/proc.h"

static struct tcluster cl;

static int teardown(void **state)
{
    (void)state;
    tcluster_cleanup(&cl);
    return 0;
}

/* Drops every packet between a and b, both ways (add) or removes that. */
static int cut(const char *a, const char *b, bool add)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "iptables -%c INPUT -s %s -d %s -j DROP && "
             "iptables -%c INPUT -s %s -d %s -j DROP",
             add ? 'A' : 'D', a, b, add ? 'A' : 'D', b, a);
    return system(cmd);
}

static struct coord_client *client(const char *servers)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = 10000;
    o.request_timeout_ms = 3000;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

static void isolated_leader_steps_down_and_rejoins(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    int lead = tcluster_leader(&cl, 1000);
    assert_true(lead >= 0);
    if (lead == 0) {
        /* Clients connect from 127.0.0.1: keep node 1 in the majority by
         * moving leadership away (a graceful restart hands it over). */
        assert_int_equal(tproc_stop(&cl.node[0], 5000), 0);
        assert_int_equal(tproc_start(&cl.node[0], 15000), 0);
        lead = tcluster_leader(&cl, 2000);
        assert_true(lead > 0);
    }
    const char *lh = cl.node[lead].host;
    char one[640];
    snprintf(one, sizeof(one), "%s:%u,%s", lh, cl.node[lead].port,
             cl.servers);
    struct coord_client *c = client(one);
    assert_int_equal(coord_create(c, "/p", "0", 1, 0, 0, NULL, NULL), 0);
    for (int i = 0; i < cl.n; i++)
        if (i != lead)
            assert_int_equal(cut(lh, cl.node[i].host, true), 0);
    int64_t t0 = tproc_now_ms();
    /* The majority elects a new leader; writes resume there, also from
     * the client that was on the isolated node. */
    int rc;
    while ((rc = coord_set(c, "/p", "1", 1, -1, NULL)) != 0 &&
           tproc_now_ms() - t0 < 15000)
        ;
    print_message("isolated leader: first write after %lld ms\n",
                  (long long)(tproc_now_ms() - t0));
    assert_int_equal(rc, 0);
    int64_t deadline = tproc_now_ms() + 5000;
    while (tproc_role(&cl.node[lead]) == 'L' && tproc_now_ms() < deadline)
        poll(NULL, 0, 10);
    assert_true(tproc_role(&cl.node[lead]) != 'L'); /* check-quorum */
    assert_int_equal(coord_set(c, "/p", "2", 1, -1, NULL), 0);
    /* Heal: the old leader follows and catches up with what it missed. */
    for (int i = 0; i < cl.n; i++)
        if (i != lead)
            assert_int_equal(cut(lh, cl.node[i].host, false), 0);
    char mine[64];
    snprintf(mine, sizeof(mine), "%s:%u", lh, cl.node[lead].port);
    struct coord_client *o = client(mine);
    void *v = NULL;
    size_t len = 0;
    deadline = tproc_now_ms() + 10000;
    for (;;) {
        rc = coord_get(o, "/p", COORD_READ_LOCAL, NULL, &v, &len, NULL);
        bool done = rc == 0 && len == 1 && *(char *)v == '2';
        coord_free_mem(v);
        v = NULL;
        if (done || tproc_now_ms() > deadline)
            break;
        poll(NULL, 0, 20);
    }
    assert_int_equal(rc, 0);
    assert_false(tproc_log_has(&cl.node[lead], "REPLICA DIVERGENCE"));
    assert_int_equal(coord_close(o), 0);
    assert_int_equal(coord_close(c), 0);
}

/* Runs the tests inside a fresh network namespace: re-exec under
 * `unshare --net` with the loopback up. */
static int enter_netns(char **argv)
{
    if (getenv("COORD_TEST_NETNS"))
        return 0;
    setenv("COORD_TEST_NETNS", "1", 1);
    execlp("unshare", "unshare", "--net", "sh", "-c",
           "ip link set lo up && exec \"$0\"", argv[0], (char *)NULL);
    return -1;
}

int main(int argc, char **argv)
{
    (void)argc;
    if (enter_netns(argv) != 0 || system("iptables -S >/dev/null") != 0) {
        printf("test_partition: needs root, unshare and iptables\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(isolated_leader_steps_down_and_rejoins,
                                  teardown),
    };
    return cmocka_run_group_tests_name("partition", tests, NULL, NULL);
}
