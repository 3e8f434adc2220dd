/* test_failover_errors.c -- a leader change the cluster absorbs must not
 * show as errors to clients of the followers: a 3-node coordd cluster
 * under a steady create + linearizable get load from several clients,
 * each connected to one follower only; kill -9 of the leader. The
 * followers keep forwarded writes and re-forward them to the new leader
 * (docs/cluster.md), and reads retry their read index, so every call
 * succeeds: no COORD_ECONNLOSS, ENOTLEADER, EUNAVAILABLE or other error,
 * and every acknowledged create is read back afterwards. Every process is
 * stopped by the test (teardown too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
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

/* One load thread: create /f/<t>-<i>, then get it (linearizable), next i;
 * never retries, so every error a call returns is counted. */
#define LMAX 20000
struct loader {
    struct coord_client *c;
    int t;
    pthread_t th;
    atomic_bool stop;
    atomic_int done;        /* create+get pairs completed without error */
    int sent;
    bool acked[LMAX];
    int n_err;              /* calls that returned any error */
    int n_connloss;
    int n_notleader;
    int n_unavailable;
    int n_timedout;
    int n_missing;          /* get after an acked create found nothing */
    int last_err;
};

static void count_err(struct loader *l, int rc)
{
    l->n_err++;
    l->last_err = rc;
    if (rc == COORD_ECONNLOSS)
        l->n_connloss++;
    else if (rc == COORD_ENOTLEADER)
        l->n_notleader++;
    else if (rc == COORD_EUNAVAILABLE)
        l->n_unavailable++;
    else if (rc == COORD_ETIMEDOUT)
        l->n_timedout++;
}

static void *loader_main(void *arg)
{
    struct loader *l = arg;
    while (!atomic_load(&l->stop) && l->sent < LMAX) {
        char p[48];
        snprintf(p, sizeof(p), "/f/%d-%d", l->t, l->sent);
        int rc = coord_create(l->c, p, "v", 1, 0, 0, NULL, NULL);
        l->acked[l->sent] = rc == 0;
        l->sent++;
        if (rc) {
            count_err(l, rc);
            continue;
        }
        void *data = NULL;
        size_t len = 0;
        rc = coord_get(l->c, p, 0, NULL, &data, &len, NULL);
        if (rc == 0)
            coord_free_mem(data);
        else if (rc == COORD_ENONODE)
            l->n_missing++;
        else
            count_err(l, rc);
        if (rc == 0)
            atomic_fetch_add(&l->done, 1);
    }
    return NULL;
}

#define NLOAD 4

static int total_done(struct loader *ls)
{
    int s = 0;
    for (int i = 0; i < NLOAD; i++)
        s += atomic_load(&ls[i].done);
    return s;
}

static void wait_done(struct loader *ls, int n, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    while (total_done(ls) < n && tproc_now_ms() < deadline)
        poll(NULL, 0, 5);
    assert_true(total_done(ls) >= n);
}

static void leader_kill_costs_follower_clients_nothing(void **state)
{
    (void)state;
    static struct loader ls[NLOAD];
    memset(ls, 0, sizeof(ls));
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    struct coord_client *admin = client(cl.servers);
    assert_int_equal(coord_create(admin, "/f", "", 0, 0, 0, NULL, NULL), 0);
    int lead = tcluster_leader(&cl, 5000);
    assert_true(lead >= 0);
    int k = 0;
    for (int i = 0; i < NLOAD; i++) {
        while (k == lead)
            k = (k + 1) % 3;
        char srv[64];
        snprintf(srv, sizeof(srv), "%s:%u", cl.node[k].host,
                 (unsigned)cl.node[k].port);
        ls[i].c = client(srv);
        ls[i].t = i;
        k = (k + 1) % 3;
        assert_int_equal(pthread_create(&ls[i].th, NULL, loader_main, &ls[i]),
                         0);
    }
    wait_done(ls, 400, 20000);
    int64_t t0 = tproc_now_ms();
    tproc_kill(&cl.node[lead]);
    int before = total_done(ls);
    int nl = tcluster_leader(&cl, 10000);
    assert_true(nl >= 0 && nl != lead);
    int64_t elected = tproc_now_ms() - t0;
    wait_done(ls, before + 400, 30000);
    int errs = 0, connloss = 0, notleader = 0, unavail = 0, tmo = 0;
    int missing = 0, sent = 0;
    for (int i = 0; i < NLOAD; i++) {
        atomic_store(&ls[i].stop, true);
        pthread_join(ls[i].th, NULL);
        errs += ls[i].n_err;
        connloss += ls[i].n_connloss;
        notleader += ls[i].n_notleader;
        unavail += ls[i].n_unavailable;
        tmo += ls[i].n_timedout;
        missing += ls[i].n_missing;
        sent += ls[i].sent;
        if (ls[i].n_err)
            print_message("loader %d: last error %d\n", i, ls[i].last_err);
    }
    print_message("failover: new leader after %lld ms; %d creates; errors "
                  "%d (connloss %d, notleader %d, unavailable %d, "
                  "timedout %d); reads missing their write %d\n",
                  (long long)elected, sent, errs, connloss, notleader,
                  unavail, tmo, missing);
    assert_int_equal(connloss, 0);
    assert_int_equal(notleader, 0);
    assert_int_equal(unavail, 0);
    assert_int_equal(errs, 0);
    assert_int_equal(missing, 0);
    /* Nothing acknowledged is lost: read back through the survivors. */
    for (int i = 0; i < NLOAD; i++) {
        for (int j = 0; j < ls[i].sent; j++) {
            if (!ls[i].acked[j])
                continue;
            char p[48];
            snprintf(p, sizeof(p), "/f/%d-%d", i, j);
            assert_int_equal(coord_exists(admin, p, 0, NULL, NULL), 0);
        }
        assert_int_equal(coord_close(ls[i].c), 0);
    }
    assert_int_equal(coord_close(admin), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(leader_kill_costs_follower_clients_nothing,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
