/* test_libcoord.c -- libcoord against a real coordd: every operation
 * through the public sync and async API, watch callbacks, multi, paged
 * children, session states, and a session that survives its server's
 * restart (the client reconnects, resumes and keeps its ephemeral node).
 * Waits are condition variables with deadlines, never fixed sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "test/lib/proc.h"
#include "test/lib/rawclient.h"

static struct tproc srv;
static char servers[64];

static int setup(void **state)
{
    (void)state;
    tproc_init(&srv, "127.0.0.1");
    if (tproc_start(&srv, 10000) != 0)
        return -1;
    snprintf(servers, sizeof(servers), "%s:%u", srv.host, srv.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = tproc_stop(&srv, 10000);
    tproc_cleanup(&srv);
    return rc == 0 ? 0 : -1;
}

/* Events and states seen by callbacks (I/O thread), waited for by tests. */
struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int events[16];
    char paths[16][64];
    int n_events;
    int states[16];
    int n_states;
};

static struct seen seen = {PTHREAD_MUTEX_INITIALIZER,
                           PTHREAD_COND_INITIALIZER};

static void reset_seen(void)
{
    pthread_mutex_lock(&seen.mu);
    seen.n_events = seen.n_states = 0;
    pthread_mutex_unlock(&seen.mu);
}

static void watch_cb(void *data, const struct coord_event *ev)
{
    (void)data;
    pthread_mutex_lock(&seen.mu);
    if (seen.n_events < 16) {
        seen.events[seen.n_events] = ev->type;
        snprintf(seen.paths[seen.n_events], 64, "%s", ev->path);
        seen.n_events++;
    }
    pthread_cond_broadcast(&seen.cv);
    pthread_mutex_unlock(&seen.mu);
}

static void state_cb(void *data, int state)
{
    (void)data;
    pthread_mutex_lock(&seen.mu);
    if (seen.n_states < 16)
        seen.states[seen.n_states++] = state;
    pthread_cond_broadcast(&seen.cv);
    pthread_mutex_unlock(&seen.mu);
}

/* Waits until *counter >= n or timeout_ms; returns the counter. */
static int wait_count(int *counter, int n, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&seen.mu);
    while (*counter < n &&
           pthread_cond_timedwait(&seen.cv, &seen.mu, &ts) == 0)
        ;
    int v = *counter;
    pthread_mutex_unlock(&seen.mu);
    return v;
}

static struct coord_client *open_client(uint32_t session_ms)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = session_ms;
    o.state_cb = state_cb;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

static void sync_api_every_operation(void **state)
{
    (void)state;
    struct coord_client *c = open_client(10000);
    char *path = NULL;
    struct coord_stat st;
    assert_int_equal(coord_create(c, "/lib", "v0", 2, COORD_PERSISTENT, 0,
                                  &path, &st), 0);
    assert_string_equal(path, "/lib");
    coord_free_mem(path);
    void *val = NULL;
    size_t len = 0;
    assert_int_equal(coord_get(c, "/lib", 0, NULL, &val, &len, &st), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(val, "v0", 2);
    coord_free_mem(val);
    assert_int_equal(coord_set(c, "/lib", "v1", 2, 0, &st), 0);
    assert_int_equal(st.version, 1);
    assert_int_equal(coord_set(c, "/lib", "v2", 2, 0, NULL),
                     COORD_EBADVERSION);
    assert_int_equal(coord_check(c, "/lib", 1), 0);
    assert_int_equal(coord_check(c, "/lib", 0), COORD_EBADVERSION);
    assert_int_equal(coord_exists(c, "/nope", 0, NULL, NULL), COORD_ENONODE);
    assert_int_equal(coord_get(c, "/lib", COORD_READ_LOCAL, NULL, &val,
                               &len, NULL), 0);
    coord_free_mem(val);
    assert_int_equal(coord_sync(c, "/lib"), 0);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(coord_create(c, "/lib/q-", "", 0,
                                      COORD_SEQUENTIAL, 0, &path, NULL), 0);
        char want[32];
        snprintf(want, sizeof(want), "/lib/q-%010d", i);
        assert_string_equal(path, want);
        coord_free_mem(path);
    }
    struct coord_child_list l;
    assert_int_equal(coord_children(c, "/lib", COORD_READ_STATS, NULL, 3,
                                    NULL, &l), 0);
    assert_int_equal(l.n, 3);
    assert_true(l.more);
    assert_string_equal(l.names[0], "q-0000000000");
    coord_child_list_free(&l);
    assert_int_equal(coord_children_all(c, "/lib", 0, NULL, &l), 0);
    assert_int_equal(l.n, 7);
    coord_child_list_free(&l);
    assert_int_equal(coord_delete(c, "/lib", -1), COORD_ENOTEMPTY);
    assert_int_equal(coord_close(c), 0);
}

static void multi_is_all_or_nothing(void **state)
{
    (void)state;
    struct coord_client *c = open_client(10000);
    struct coord_multi *m;
    assert_int_equal(coord_multi_new(&m), 0);
    coord_multi_create(m, "/mx", "a", 1, 0, 0);
    coord_multi_create(m, "/mx/y", "b", 1, 0, 0);
    coord_multi_check(m, "/missing", -1);
    assert_int_equal(coord_multi(c, m), COORD_ENONODE);
    assert_int_equal(coord_exists(c, "/mx", 0, NULL, NULL), COORD_ENONODE);
    coord_multi_free(m);
    assert_int_equal(coord_multi_new(&m), 0);
    coord_multi_create(m, "/mx", "a", 1, 0, 0);
    coord_multi_create(m, "/mx/y", "b", 1, 0, 0);
    coord_multi_set(m, "/mx", "c", 1, 0);
    assert_int_equal(coord_multi(c, m), 0);
    const struct coord_op_result *r = coord_multi_result(m, 2);
    assert_non_null(r);
    assert_int_equal(r->stat.version, 1);
    coord_multi_free(m);
    assert_int_equal(coord_close(c), 0);
}

static void watches_reach_callbacks(void **state)
{
    (void)state;
    reset_seen();
    struct coord_client *a = open_client(10000);
    struct coord_client *b = open_client(10000);
    struct coord_watcher w = {watch_cb, NULL};
    assert_int_equal(coord_exists(b, "/wx", 0, &w, NULL), COORD_ENONODE);
    assert_int_equal(coord_create(a, "/wx", "", 0, 0, 0, NULL, NULL), 0);
    assert_int_equal(wait_count(&seen.n_events, 1, 5000), 1);
    assert_int_equal(seen.events[0], COORD_EVENT_CREATED);
    assert_string_equal(seen.paths[0], "/wx");
    assert_int_equal(coord_add_watch(b, "/wx", COORD_WATCH_PERSISTENT_RECURSIVE,
                                     &w), 0);
    assert_int_equal(coord_create(a, "/wx/k", "", 0, 0, 0, NULL, NULL), 0);
    assert_int_equal(coord_set(a, "/wx/k", "1", 1, -1, NULL), 0);
    assert_int_equal(wait_count(&seen.n_events, 3, 5000), 3);
    assert_int_equal(seen.events[1], COORD_EVENT_CREATED);
    assert_int_equal(seen.events[2], COORD_EVENT_DATA_CHANGED);
    assert_string_equal(seen.paths[2], "/wx/k");
    assert_int_equal(coord_remove_watch(b, "/wx",
                                        COORD_WATCH_PERSISTENT_RECURSIVE),
                     0);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
}

static void session_survives_server_restart(void **state)
{
    (void)state;
    reset_seen();
    struct coord_client *c = open_client(8000);
    assert_int_equal(coord_create(c, "/eph", "", 0, COORD_EPHEMERAL, 0,
                                  NULL, NULL), 0);
    struct coord_watcher w = {watch_cb, NULL};
    assert_int_equal(coord_add_watch(c, "/wr", COORD_WATCH_PERSISTENT, &w),
                     0);
    uint64_t sid = 0;
    assert_int_equal(coord_session(c, &sid, NULL), 0);
    assert_int_equal(wait_count(&seen.n_states, 1, 5000), 1);
    assert_int_equal(seen.states[0], COORD_STATE_CONNECTED);
    /* Restart the server: the session and its ephemeral are durable. */
    assert_int_equal(tproc_stop(&srv, 10000), 0);
    assert_true(wait_count(&seen.n_states, 2, 5000) >= 2);
    assert_int_equal(seen.states[1], COORD_STATE_DISCONNECTED);
    assert_int_equal(tproc_start(&srv, 10000), 0);
    assert_true(wait_count(&seen.n_states, 3, 10000) >= 3);
    assert_int_equal(seen.states[2], COORD_STATE_RECONNECTED);
    uint64_t sid2 = 0;
    assert_int_equal(coord_session(c, &sid2, NULL), 0);
    assert_int_equal(sid2, sid);
    struct coord_stat st;
    assert_int_equal(coord_exists(c, "/eph", 0, NULL, &st), 0);
    assert_int_equal(st.ephemeral_owner, sid);
    /* The watch was re-registered on the new connection: it fires. */
    struct coord_client *o = open_client(8000);
    assert_int_equal(coord_create(o, "/wr", "", 0, 0, 0, NULL, NULL), 0);
    assert_true(wait_count(&seen.n_events, 1, 5000) >= 1);
    assert_int_equal(seen.events[0], COORD_EVENT_CREATED);
    assert_string_equal(seen.paths[0], "/wr");
    assert_int_equal(coord_close(o), 0);
    assert_int_equal(coord_close(c), 0);
    /* Closing the session deletes the ephemeral. */
    struct coord_client *d = open_client(8000);
    assert_int_equal(coord_exists(d, "/eph", 0, NULL, NULL), COORD_ENONODE);
    assert_int_equal(coord_close(d), 0);
}

/* A new client (e.g. a restarted process) resuming an existing session:
 * its writes apply (its xids must continue past the old client's, or the
 * server's (session, xid) dedup would take them for retries), and closing
 * it ends the session and its ephemeral nodes. */
static void another_client_resumes_the_session(void **state)
{
    (void)state;
    /* The first process: some writes, an ephemeral, then it vanishes
     * (its socket closes; the session lives on for its timeout). */
    struct rawc a;
    assert_int_equal(rawc_connect(&a, srv.host, srv.port), 0);
    assert_int_equal(rawc_hello(&a, 0, NULL, 10000), 0);
    char p[32];
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof(p), "/old-%d", i);
        assert_int_equal(rawc_create(&a, p, "", 0, NULL, 0), 0);
    }
    assert_int_equal(rawc_create(&a, "/mine", "", COORD_EPHEMERAL, NULL, 0),
                     0);
    uint64_t sid = a.session_id;
    uint8_t secret[COORD_SECRET_BYTES];
    memcpy(secret, a.secret, sizeof(secret));
    rawc_close(&a);
    /* The restarted process resumes it with libcoord. */
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.resume_session_id = sid;
    o.resume_secret = secret;
    struct coord_client *b = NULL;
    assert_int_equal(coord_open(&b, &o), 0);
    assert_int_equal(coord_create(b, "/mine2", "", 0, COORD_EPHEMERAL, 0,
                                  NULL, NULL), 0);
    struct coord_stat st;
    assert_int_equal(coord_exists(b, "/mine2", 0, NULL, &st), 0);
    assert_int_equal(st.ephemeral_owner, sid);
    assert_int_equal(coord_close(b), 0); /* ends the session */
    struct coord_client *c = open_client(10000);
    assert_int_equal(coord_exists(c, "/mine", 0, NULL, NULL), COORD_ENONODE);
    assert_int_equal(coord_exists(c, "/mine2", 0, NULL, NULL),
                     COORD_ENONODE);
    assert_int_equal(coord_close(c), 0);
}

static void hung_server_is_noticed_by_silence(void **state)
{
    (void)state;
    reset_seen();
    struct coord_client *c = open_client(10000);
    assert_int_equal(coord_create(c, "/hang", "", 0, COORD_EPHEMERAL, 0,
                                  NULL, NULL), 0);
    assert_int_equal(wait_count(&seen.n_states, 1, 5000), 1);
    /* A stopped server keeps its TCP connection open: only the client's
     * own silence timeout (1 s by default) can tell. */
    kill(srv.pid, SIGSTOP);
    int64_t t0 = tproc_now_ms();
    assert_true(wait_count(&seen.n_states, 2, 5000) >= 2);
    int64_t noticed = tproc_now_ms() - t0;
    assert_int_equal(seen.states[1], COORD_STATE_DISCONNECTED);
    assert_true(noticed < 3000);
    kill(srv.pid, SIGCONT);
    assert_true(wait_count(&seen.n_states, 3, 10000) >= 3);
    assert_int_equal(seen.states[2], COORD_STATE_RECONNECTED);
    assert_int_equal(coord_exists(c, "/hang", 0, NULL, NULL), 0);
    assert_int_equal(coord_close(c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sync_api_every_operation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(multi_is_all_or_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(watches_reach_callbacks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(session_survives_server_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(hung_server_is_noticed_by_silence,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(another_client_resumes_the_session,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("libcoord", tests, NULL, NULL);
}
