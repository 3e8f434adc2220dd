/* test_durability.c -- no acknowledged write is ever lost by one coordd:
 * across a clean restart, across kill -9 in the middle of a pipelined write
 * stream, the same in the store's power-loss mode (where a kill loses
 * exactly what a power cut would, so a write acknowledged before its fsync
 * would be caught), and across restarts from snapshots with a compacted
 * log. Real processes, real RocksDB, loopback only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "test/lib/proc.h"
#include "test/lib/rawclient.h"

#define WINDOW 64

/* Pipelines creates of /d/<i> (WINDOW in flight) until `acks` were
 * acknowledged; returns the number acknowledged, with acked[i] set. */
static int write_stream(struct rawc *c, int acks, bool *acked, int max)
{
    int sent = 0, got = 0, inflight = 0;
    while (got < acks && sent < max) {
        while (inflight < WINDOW && sent < max) {
            char p[32];
            snprintf(p, sizeof(p), "/d/%d", sent);
            struct wire_req q = {.op = WIRE_OP_CREATE, .xid = 1000 + sent};
            q.u.create.path = (struct wire_bytes){p, (uint32_t)strlen(p)};
            q.u.create.data = (struct wire_bytes){"v", 1};
            if (rawc_send(c, &q) < 0)
                return got;
            sent++;
            inflight++;
        }
        struct wire_resp r;
        if (rawc_read(c, &r) != 0)
            return got;
        if (r.xid >= 1000 && r.err == 0) {
            acked[r.xid - 1000] = true;
            got++;
        }
        inflight--;
    }
    c->next_xid = 1000 + sent; /* later requests keep xids increasing */
    return got;
}

static int count_present(struct rawc *c, const bool *acked, int max,
                         int *missing)
{
    int present = 0;
    *missing = 0;
    for (int i = 0; i < max; i++) {
        if (!acked[i])
            continue;
        char p[32];
        snprintf(p, sizeof(p), "/d/%d", i);
        if (rawc_exists(c, p, 0, NULL) == 0)
            present++;
        else
            (*missing)++;
    }
    return present;
}

/* The test's server: teardown stops it even when an assertion failed. */
static struct tproc p;

static int teardown(void **state)
{
    (void)state;
    tproc_cleanup(&p);
    return 0;
}

static void start_or_fail(struct tproc *pp)
{
    if (tproc_start(pp, 15000) != 0) {
        fprintf(stderr, "coordd did not start; log %s\n", pp->log);
        fail();
    }
}

static void connect_session(struct tproc *pp, struct rawc *c)
{
    assert_int_equal(rawc_connect(c, pp->host, pp->port), 0);
    assert_int_equal(rawc_hello(c, 0, NULL, 10000), 0);
}

static void kill_during_stream(const char *extra, int acks)
{
    enum { MAX = 20000 };
    static bool acked[MAX];
    memset(acked, 0, sizeof(acked));
    tproc_init(&p, "127.0.0.1");
    snprintf(p.extra, sizeof(p.extra), "%s", extra);
    start_or_fail(&p);
    struct rawc c;
    connect_session(&p, &c);
    assert_int_equal(rawc_create(&c, "/d", "", 0, NULL, 0), 0);
    int got = write_stream(&c, acks, acked, MAX);
    assert_int_equal(got, acks);
    tproc_kill(&p); /* mid-stream: WINDOW writes are in flight */
    rawc_close(&c);
    start_or_fail(&p);
    connect_session(&p, &c);
    int missing;
    int present = count_present(&c, acked, MAX, &missing);
    assert_int_equal(missing, 0);
    assert_int_equal(present, got);
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 10000), 0);
}

static void kill9_loses_no_acknowledged_write(void **state)
{
    (void)state;
    kill_during_stream("", 3000);
}

static void power_loss_loses_no_acknowledged_write(void **state)
{
    (void)state;
    kill_during_stream("--test-power-loss", 3000);
}

static void restart_from_snapshots_keeps_everything(void **state)
{
    (void)state;
    enum { MAX = 3000 };
    static bool acked[MAX];
    memset(acked, 0, sizeof(acked));
    tproc_init(&p, "127.0.0.1");
    snprintf(p.extra, sizeof(p.extra), "--snapshot-entries=500");
    start_or_fail(&p);
    struct rawc c;
    connect_session(&p, &c);
    assert_int_equal(rawc_create(&c, "/d", "", 0, NULL, 0), 0);
    assert_int_equal(write_stream(&c, 2500, acked, MAX), 2500);
    assert_int_equal(rawc_set(&c, "/d", "last", -1, NULL), 0);
    rawc_close(&c);
    assert_true(tproc_log_has(&p, "snapshot taken"));
    assert_int_equal(tproc_stop(&p, 10000), 0);
    /* Restart twice: from the snapshot plus the log after it. */
    for (int round = 0; round < 2; round++) {
        start_or_fail(&p);
        connect_session(&p, &c);
        int missing;
        assert_int_equal(count_present(&c, acked, MAX, &missing), 2500);
        assert_int_equal(missing, 0);
        char buf[16];
        struct coord_stat st;
        assert_int_equal(rawc_get(&c, "/d", 0, buf, sizeof(buf), &st), 0);
        assert_string_equal(buf, "last");
        assert_true(st.num_children >= 2500); /* + those in flight */
        rawc_close(&c);
        assert_int_equal(tproc_stop(&p, 10000), 0);
    }
    tproc_cleanup(&p);
}

static void foreign_data_dir_is_refused(void **state)
{
    (void)state;
    tproc_init(&p, "127.0.0.1");
    snprintf(p.extra, sizeof(p.extra), "--cluster-id=alpha");
    start_or_fail(&p);
    struct rawc c;
    connect_session(&p, &c);
    assert_int_equal(rawc_create(&c, "/kept", "v", 0, NULL, 0), 0);
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 10000), 0);
    /* Another cluster's name: refused with a clear message, exit 1. */
    snprintf(p.extra, sizeof(p.extra), "--cluster-id=beta");
    assert_int_equal(tproc_start(&p, 5000), -1);
    assert_true(tproc_log_has(&p, "belongs to another cluster or node"));
    /* Its own name still opens it, with the data intact. */
    snprintf(p.extra, sizeof(p.extra), "--cluster-id=alpha");
    start_or_fail(&p);
    connect_session(&p, &c);
    assert_int_equal(rawc_exists(&c, "/kept", 0, NULL), 0);
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 10000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(kill9_loses_no_acknowledged_write,
                                  teardown),
        cmocka_unit_test_teardown(power_loss_loses_no_acknowledged_write,
                                  teardown),
        cmocka_unit_test_teardown(restart_from_snapshots_keeps_everything,
                                  teardown),
        cmocka_unit_test_teardown(foreign_data_dir_is_refused, teardown),
    };
    return cmocka_run_group_tests_name("durability", tests, NULL, NULL);
}
