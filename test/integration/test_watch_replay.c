/* test_watch_replay.c -- a client never silently loses a watch event
 * across a lost connection (issue 6): real coordd processes; a watching
 * client with persistent-recursive, persistent and one-shot (data,
 * exists) watches has its connection cut while another client changes
 * the tree; after it reconnects, the exact sequence of events it received
 * (type, path, zxid) must equal the changes made: none lost, none twice,
 * in zxid order. The cut is made deterministic with a small TCP proxy in
 * this file that the test closes (and keeps refusing) while the changes
 * happen, so every change of the window can only reach the client by the
 * server's replay from its change history (coordd/changelog.c).
 *
 *   replay_single_node        proxy in front of one coordd
 *   replay_from_other_server  3 nodes: the watcher's follower is
 *                             SIGSTOPped, it resumes on the other follower
 *                             (reached through the proxy, opened only after
 *                             the changes), which replays from its own log
 *   small_history_must_reread watch_history_max=2 and more changes than
 *                             that: MUST_REREAD for the recursive watch
 *   replay_across_restart     the server restarts meanwhile: the log it
 *                             replays at start refills its history
 *   restart_from_snapshot_... restarted from a snapshot newer than the
 *                             watcher's zxid: MUST_REREAD
 *   snapshot_install_...      the watcher's follower falls behind and
 *                             installs the leader's snapshot: MUST_REREAD
 *   two_frames_...            watches re-registered in two SET_WATCHES
 *                             frames: each missed event replayed once
 *
 * Session states are checked too: CONNECTED, DISCONNECTED, RECONNECTED.
 * Waits are condition variables with deadlines, never fixed sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "test/lib/proc.h"
#include "test/lib/rawclient.h"

#define WAIT_MS 30000
#define MAX_SEEN 512

/* ---- a TCP proxy the test can cut ----------------------------------------
 * One forwarded connection at a time. While closed, it drops the current
 * connection and accepts-then-closes every new one. */
struct proxy {
    int lfd;
    uint16_t port;
    char dst_host[32];
    uint16_t dst_port;
    int wake[2];
    pthread_t th;
    pthread_mutex_t mu;
    bool open;
    bool stop;
    int cfd, sfd;
};

static void proxy_drop(struct proxy *p)
{
    if (p->cfd >= 0)
        close(p->cfd);
    if (p->sfd >= 0)
        close(p->sfd);
    p->cfd = p->sfd = -1;
}

static int connect_to(const char *host, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Copies what is readable on from to to; false when the pair is done. */
static bool pump(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN);
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void proxy_accept(struct proxy *p, bool open)
{
    int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (!open) {
        close(fd); /* cut: the client sees the connection drop */
        return;
    }
    proxy_drop(p);
    p->sfd = connect_to(p->dst_host, p->dst_port);
    if (p->sfd < 0) {
        close(fd);
        return;
    }
    p->cfd = fd;
}

static void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    for (;;) {
        struct pollfd f[4] = {{p->wake[0], POLLIN, 0}, {p->lfd, POLLIN, 0},
                              {p->cfd, POLLIN, 0}, {p->sfd, POLLIN, 0}};
        if (poll(f, 4, -1) < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&p->mu);
        bool open = p->open, stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (f[0].revents) {
            char c;
            (void)!read(p->wake[0], &c, 1);
        }
        if (stop)
            break;
        if (!open)
            proxy_drop(p);
        if (f[1].revents)
            proxy_accept(p, open);
        if (p->cfd >= 0 && (f[2].revents & (POLLIN | POLLHUP | POLLERR)) &&
            !pump(p->cfd, p->sfd))
            proxy_drop(p);
        if (p->sfd >= 0 && (f[3].revents & (POLLIN | POLLHUP | POLLERR)) &&
            !pump(p->sfd, p->cfd))
            proxy_drop(p);
    }
    proxy_drop(p);
    return NULL;
}

static void proxy_start(struct proxy *p, const char *host, uint16_t port,
                        bool open)
{
    memset(p, 0, sizeof(*p));
    p->cfd = p->sfd = -1;
    snprintf(p->dst_host, sizeof(p->dst_host), "%s", host);
    p->dst_port = port;
    p->open = open;
    pthread_mutex_init(&p->mu, NULL);
    assert_int_equal(pipe(p->wake), 0);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->lfd, 16), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &al), 0);
    p->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&p->th, NULL, proxy_main, p), 0);
}

static void proxy_set(struct proxy *p, bool open, bool stop)
{
    pthread_mutex_lock(&p->mu);
    p->open = open;
    p->stop = stop;
    pthread_mutex_unlock(&p->mu);
    assert_int_equal(write(p->wake[1], "x", 1), 1);
}

static void proxy_stop(struct proxy *p)
{
    proxy_set(p, false, true);
    pthread_join(p->th, NULL);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
}

/* ---- what the watcher saw ----------------------------------------------- */

struct ev {
    int type;
    int kind;
    uint64_t zxid;
    char path[64];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ev ev[MAX_SEEN];
    int n_ev;
    int states[16];
    int n_states;
} seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

/* Each test's clients carry its generation as callback data, so a
 * client left behind by a failed test cannot pollute the next one. */
static intptr_t gen;
static struct coord_watcher watcher;

static void watch_cb(void *data, const struct coord_event *ev);

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.mu);
    seen.n_ev = seen.n_states = 0;
    gen++;
    watcher = (struct coord_watcher){watch_cb, (void *)gen};
    pthread_mutex_unlock(&seen.mu);
}

static void watch_cb(void *data, const struct coord_event *ev)
{
    pthread_mutex_lock(&seen.mu);
    if ((intptr_t)data == gen && seen.n_ev < MAX_SEEN) {
        struct ev *e = &seen.ev[seen.n_ev++];
        e->type = ev->type;
        e->kind = ev->kind;
        e->zxid = ev->zxid;
        snprintf(e->path, sizeof(e->path), "%s", ev->path);
    }
    pthread_cond_broadcast(&seen.cv);
    pthread_mutex_unlock(&seen.mu);
}

static void state_cb(void *data, int state)
{
    pthread_mutex_lock(&seen.mu);
    if ((intptr_t)data == gen && seen.n_states < 16)
        seen.states[seen.n_states++] = state;
    pthread_cond_broadcast(&seen.cv);
    pthread_mutex_unlock(&seen.mu);
}

/* Waits until *counter >= n or WAIT_MS passed; returns the counter. */
static int wait_count(int *counter, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&seen.mu);
    while (*counter < n &&
           pthread_cond_timedwait(&seen.cv, &seen.mu, &ts) == 0)
        ;
    int v = *counter;
    pthread_mutex_unlock(&seen.mu);
    return v;
}

/* Waits until state was reported (at index >= from); its index or -1. */
static int wait_state(int state, int from)
{
    for (int i = from; i < 16; i++) {
        if (wait_count(&seen.n_states, i + 1) < i + 1)
            return -1;
        pthread_mutex_lock(&seen.mu);
        int s = seen.states[i];
        pthread_mutex_unlock(&seen.mu);
        if (s == state)
            return i;
    }
    return -1;
}

/* Copies the events seen so far (checked outside the lock, so a failed
 * assertion does not leave it held); returns how many. */
static int seen_copy(struct ev *out)
{
    pthread_mutex_lock(&seen.mu);
    int n = seen.n_ev;
    memcpy(out, seen.ev, (size_t)n * sizeof(*out));
    pthread_mutex_unlock(&seen.mu);
    return n;
}

/* Waits until an event with zxid z arrived; false after WAIT_MS. */
static bool wait_zxid(uint64_t z)
{
    for (int n = 1; n <= MAX_SEEN; n++) {
        if (wait_count(&seen.n_ev, n) < n)
            return false;
        pthread_mutex_lock(&seen.mu);
        bool hit = seen.ev[n - 1].zxid == z;
        pthread_mutex_unlock(&seen.mu);
        if (hit)
            return true;
    }
    return false;
}

static struct coord_client *open_client(const char *servers, bool watcher_cb)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = 30000;
    o.connect_timeout_ms = 1000;
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 100;
    /* Generous silence bounds: a loaded test machine must not make a
     * live server look dead (the writer's requests would fail). The
     * watcher still notices a paused server within seconds. */
    o.ping_interval_ms = 500;
    o.silent_timeout_ms = watcher_cb ? 3000 : 15000;
    if (watcher_cb) {
        o.state_cb = state_cb;
        o.state_data = (void *)gen;
    }
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

/* ---- the scenario --------------------------------------------------------- */

struct expect {
    struct ev ev[MAX_SEEN];
    int n;
};

static void want(struct expect *x, int type, const char *path, uint64_t z)
{
    assert_true(x->n < MAX_SEEN);
    struct ev *e = &x->ev[x->n++];
    e->type = type;
    e->zxid = z;
    snprintf(e->path, sizeof(e->path), "%s", path);
}

static uint64_t mk(struct coord_client *w, const char *path)
{
    struct coord_stat st;
    assert_int_equal(coord_create(w, path, "v", 1, COORD_PERSISTENT, 0, NULL,
                                  &st), 0);
    /* A write's reply carries its own zxid: the client's last zxid (sent
     * when it resumes) covers its writes. */
    assert_true(coord_last_zxid(w) >= st.czxid);
    return st.czxid;
}

static uint64_t put(struct coord_client *w, const char *path, const char *v)
{
    struct coord_stat st;
    assert_int_equal(coord_set(w, path, v, strlen(v), -1, &st), 0);
    return st.mzxid;
}

/* Deletes path; the zxid of the delete is its parent's pzxid after it. */
static uint64_t rm(struct coord_client *w, const char *path,
                   const char *parent)
{
    struct coord_stat st;
    assert_int_equal(coord_delete(w, path, -1), 0);
    assert_int_equal(coord_exists(w, parent, 0, NULL, &st), 0);
    return st.pzxid;
}

/* The tree and the watcher's watches: /r recursive, /p persistent, a data
 * watch on /o and an exists watch on the missing /e. */
static void watch_setup(struct coord_client *w, struct coord_client *c)
{
    mk(w, "/r");
    mk(w, "/p");
    mk(w, "/o");
    /* A linearizable read first: the watcher's server (maybe a follower)
     * has then applied the creates above, which must not fire the
     * persistent watches added next (ADD_WATCH itself waits for nothing). */
    void *v = NULL;
    assert_int_equal(coord_get(c, "/o", 0, &watcher, &v, NULL, NULL), 0);
    coord_free_mem(v);
    assert_int_equal(coord_add_watch(c, "/r", COORD_WATCH_PERSISTENT_RECURSIVE,
                                     &watcher), 0);
    assert_int_equal(coord_add_watch(c, "/p", COORD_WATCH_PERSISTENT,
                                     &watcher), 0);
    assert_int_equal(coord_exists(c, "/e", 0, &watcher, NULL),
                     COORD_ENONODE);
}

/* Changes made while the watcher is cut off, and the events its watches
 * must see for them. */
static void window_changes(struct coord_client *w, struct expect *x)
{
    want(x, COORD_EVENT_DATA_CHANGED, "/r/a", put(w, "/r/a", "1"));
    want(x, COORD_EVENT_CREATED, "/r/a/b", mk(w, "/r/a/b"));
    want(x, COORD_EVENT_DATA_CHANGED, "/p", put(w, "/p", "1"));
    want(x, COORD_EVENT_CHILDREN_CHANGED, "/p", mk(w, "/p/c"));
    want(x, COORD_EVENT_DATA_CHANGED, "/o", put(w, "/o", "1"));
    put(w, "/o", "2"); /* the one-shot data watch fired already */
    mk(w, "/x");       /* watched by nobody */
    want(x, COORD_EVENT_CREATED, "/e", mk(w, "/e"));
    put(w, "/e", "1"); /* the exists watch fired already */
    want(x, COORD_EVENT_DELETED, "/r/a/b", rm(w, "/r/a/b", "/r/a"));
}

static void expect_exactly(const struct expect *x)
{
    /* Every expected event, then nothing more: the last expected event
     * came after any duplicate would have (one connection, in order). */
    wait_count(&seen.n_ev, x->n);
    static struct ev got[MAX_SEEN];
    int n = seen_copy(got);
    for (int i = 0; i < n && i < x->n; i++) {
        const struct ev *g = &got[i], *e = &x->ev[i];
        if (g->type != e->type || g->zxid != e->zxid ||
            strcmp(g->path, e->path) != 0)
            fail_msg("event %d: got type %d %s zxid %llu, want type %d %s "
                     "zxid %llu", i, g->type, g->path,
                     (unsigned long long)g->zxid, e->type, e->path,
                     (unsigned long long)e->zxid);
    }
    assert_int_equal(n, x->n);
}

static void expect_states(void)
{
    pthread_mutex_lock(&seen.mu);
    int n = seen.n_states;
    int s[16];
    memcpy(s, seen.states, sizeof(s));
    pthread_mutex_unlock(&seen.mu);
    assert_int_equal(n, 3);
    assert_int_equal(s[0], COORD_STATE_CONNECTED);
    assert_int_equal(s[1], COORD_STATE_DISCONNECTED);
    assert_int_equal(s[2], COORD_STATE_RECONNECTED);
}

/* ---- tests ------------------------------------------------------------ */

static void replay_single_node(void **state)
{
    (void)state;
    struct tproc srv;
    tproc_init(&srv, "127.0.0.1");
    assert_int_equal(tproc_start(&srv, WAIT_MS), 0);
    char direct[64], via[64];
    snprintf(direct, sizeof(direct), "%s:%u", srv.host, srv.port);
    struct proxy px;
    proxy_start(&px, srv.host, srv.port, true);
    snprintf(via, sizeof(via), "127.0.0.1:%u", px.port);
    seen_reset();
    struct coord_client *w = open_client(direct, false);
    struct coord_client *c = open_client(via, true);
    watch_setup(w, c);
    struct expect x = {0};
    /* Connected: delivered live. */
    want(&x, COORD_EVENT_CREATED, "/r/a", mk(w, "/r/a"));
    assert_int_equal(wait_count(&seen.n_ev, 1), 1);
    /* Cut, change, heal. */
    proxy_set(&px, false, false);
    assert_true(wait_state(COORD_STATE_DISCONNECTED, 1) == 1);
    window_changes(w, &x);
    proxy_set(&px, true, false);
    assert_true(wait_state(COORD_STATE_RECONNECTED, 2) == 2);
    /* Live again. */
    want(&x, COORD_EVENT_DATA_CHANGED, "/r/a", put(w, "/r/a", "2"));
    expect_exactly(&x);
    expect_states();
    /* The one-shot watches were consumed by the replay. */
    put(w, "/o", "3");
    want(&x, COORD_EVENT_DATA_CHANGED, "/p", put(w, "/p", "2"));
    expect_exactly(&x);
    coord_close(c);
    coord_close(w);
    proxy_stop(&px);
    assert_int_equal(tproc_stop(&srv, WAIT_MS), 0);
    tproc_cleanup(&srv);
}

static void replay_from_other_server(void **state)
{
    (void)state;
    struct tcluster cl;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 60000), 0);
    int lead = tcluster_leader(&cl, WAIT_MS);
    assert_true(lead >= 0);
    int f1 = (lead + 1) % 3, f2 = (lead + 2) % 3;
    struct proxy px; /* to f2, closed until the changes are made */
    proxy_start(&px, cl.node[f2].host, cl.node[f2].port, false);
    char direct[64], wsrv[128];
    snprintf(direct, sizeof(direct), "%s:%u", cl.node[lead].host,
             cl.node[lead].port);
    snprintf(wsrv, sizeof(wsrv), "%s:%u,127.0.0.1:%u", cl.node[f1].host,
             cl.node[f1].port, px.port);
    seen_reset();
    struct coord_client *w = open_client(direct, false);
    struct coord_client *c = open_client(wsrv, true); /* lands on f1 */
    watch_setup(w, c);
    struct expect x = {0};
    want(&x, COORD_EVENT_CREATED, "/r/a", mk(w, "/r/a"));
    assert_int_equal(wait_count(&seen.n_ev, 1), 1);
    /* f1 hangs: nothing it applies from now on reaches the watcher, and
     * f2 is unreachable until the changes are made. */
    assert_int_equal(kill(cl.node[f1].pid, SIGSTOP), 0);
    window_changes(w, &x);
    proxy_set(&px, true, false);
    assert_true(wait_state(COORD_STATE_DISCONNECTED, 1) == 1);
    assert_true(wait_state(COORD_STATE_RECONNECTED, 2) == 2);
    want(&x, COORD_EVENT_DATA_CHANGED, "/r/a", put(w, "/r/a", "2"));
    expect_exactly(&x);
    expect_states();
    coord_close(c);
    coord_close(w);
    proxy_stop(&px);
    kill(cl.node[f1].pid, SIGCONT);
    tcluster_cleanup(&cl);
}

/* One recursive watch on /r, cut off while `changes` changes are made
 * under it, told to re-read instead of replayed (extra: coordd flags). */
static void reread_after(const char *extra, int changes)
{
    struct tproc srv;
    tproc_init(&srv, "127.0.0.1");
    snprintf(srv.extra, sizeof(srv.extra), "%s", extra);
    assert_int_equal(tproc_start(&srv, WAIT_MS), 0);
    char direct[64], via[64];
    snprintf(direct, sizeof(direct), "%s:%u", srv.host, srv.port);
    struct proxy px;
    proxy_start(&px, srv.host, srv.port, true);
    snprintf(via, sizeof(via), "127.0.0.1:%u", px.port);
    seen_reset();
    struct coord_client *w = open_client(direct, false);
    struct coord_client *c = open_client(via, true);
    mk(w, "/r");
    assert_int_equal(coord_add_watch(c, "/r", COORD_WATCH_PERSISTENT_RECURSIVE,
                                     &watcher), 0);
    proxy_set(&px, false, false);
    assert_true(wait_state(COORD_STATE_DISCONNECTED, 1) == 1);
    mk(w, "/r/a");
    uint64_t last = 0;
    for (int i = 1; i < changes; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        last = put(w, "/r/a", v);
    }
    proxy_set(&px, true, false);
    assert_true(wait_state(COORD_STATE_RECONNECTED, 2) == 2);
    /* The re-read notice answers the watch's re-registration (SET_WATCHES,
     * sent after the HELLO reply that reported RECONNECTED). Only once it
     * is here is the watch surely back: a change made before would be
     * covered by the notice itself and get no event of its own. */
    assert_true(wait_count(&seen.n_ev, 1) >= 1);
    /* Then a live change: the watch stays. Its event comes after anything
     * the reconnect sent, so the list below is all that was sent. */
    uint64_t z = put(w, "/r/a", "live");
    assert_int_equal(wait_count(&seen.n_ev, 2), 2);
    pthread_mutex_lock(&seen.mu);
    struct ev e0 = seen.ev[0], e1 = seen.ev[1];
    int n = seen.n_ev;
    pthread_mutex_unlock(&seen.mu);
    assert_int_equal(e0.type, COORD_EVENT_MUST_REREAD);
    assert_string_equal(e0.path, "/r");
    assert_int_equal(e0.kind, COORD_WATCH_PERSISTENT_RECURSIVE);
    assert_true(e0.zxid >= last);
    assert_int_equal(e1.type, COORD_EVENT_DATA_CHANGED);
    assert_string_equal(e1.path, "/r/a");
    assert_int_equal(e1.zxid, z);
    assert_int_equal(n, 2); /* told to re-read, not half a history */
    coord_close(c);
    coord_close(w);
    proxy_stop(&px);
    assert_int_equal(tproc_stop(&srv, WAIT_MS), 0);
    tproc_cleanup(&srv);
}

/* Four events under /r: two more than the history holds. */
static void small_history_must_reread(void **state)
{
    (void)state;
    reread_after("--watch-history-max=2", 4);
}

/* 300 events under /r, all in the history, but more than 64 per watch of
 * the reconnecting frame (one) and more than 256: matching each against
 * the frame's watches would cost more than re-reading (request.c
 * NODE_REPLAY_EVENTS_*), so the tree-state rule answers (MUST_REREAD for
 * a recursive watch), not a replay of all of them. */
static void long_replay_must_reread(void **state)
{
    (void)state;
    reread_after("", 300);
}

/* The server restarts while the watcher is cut off. Without a snapshot
 * the log replayed at start refills its history from zxid 0: the replay
 * is exact. */
static void replay_across_restart(void **state)
{
    (void)state;
    struct tproc srv;
    tproc_init(&srv, "127.0.0.1");
    assert_int_equal(tproc_start(&srv, WAIT_MS), 0);
    char direct[64], via[64];
    snprintf(direct, sizeof(direct), "%s:%u", srv.host, srv.port);
    struct proxy px;
    proxy_start(&px, srv.host, srv.port, true);
    snprintf(via, sizeof(via), "127.0.0.1:%u", px.port);
    seen_reset();
    struct coord_client *w = open_client(direct, false);
    struct coord_client *c = open_client(via, true);
    watch_setup(w, c);
    struct expect x = {0};
    want(&x, COORD_EVENT_CREATED, "/r/a", mk(w, "/r/a"));
    assert_int_equal(wait_count(&seen.n_ev, 1), 1);
    proxy_set(&px, false, false);
    assert_true(wait_state(COORD_STATE_DISCONNECTED, 1) == 1);
    window_changes(w, &x);
    coord_close(w);
    assert_int_equal(tproc_stop(&srv, WAIT_MS), 0);
    assert_int_equal(tproc_start(&srv, WAIT_MS), 0);
    w = open_client(direct, false);
    proxy_set(&px, true, false);
    assert_true(wait_state(COORD_STATE_RECONNECTED, 2) == 2);
    want(&x, COORD_EVENT_DATA_CHANGED, "/r/a", put(w, "/r/a", "2"));
    expect_exactly(&x);
    expect_states();
    coord_close(c);
    coord_close(w);
    proxy_stop(&px);
    assert_int_equal(tproc_stop(&srv, WAIT_MS), 0);
    tproc_cleanup(&srv);
}

/* Restarted from a snapshot taken after the watcher's last zxid: the
 * history starts at the snapshot, so the recursive watch must re-read. */
static void restart_from_snapshot_must_reread(void **state)
{
    (void)state;
    struct tproc srv;
    tproc_init(&srv, "127.0.0.1");
    snprintf(srv.extra, sizeof(srv.extra), "--snapshot-entries=16");
    assert_int_equal(tproc_start(&srv, WAIT_MS), 0);
    char direct[64], via[64];
    snprintf(direct, sizeof(direct), "%s:%u", srv.host, srv.port);
    struct proxy px;
    proxy_start(&px, srv.host, srv.port, true);
    snprintf(via, sizeof(via), "127.0.0.1:%u", px.port);
    seen_reset();
    struct coord_client *w = open_client(direct, false);
    struct coord_client *c = open_client(via, true);
    mk(w, "/r");
    assert_int_equal(coord_add_watch(c, "/r", COORD_WATCH_PERSISTENT_RECURSIVE,
                                     &watcher), 0);
    proxy_set(&px, false, false);
    assert_true(wait_state(COORD_STATE_DISCONNECTED, 1) == 1);
    mk(w, "/r/a");
    uint64_t last = 0;
    for (int i = 0; i < 40; i++)
        last = put(w, "/r/a", "x");
    coord_close(w);
    assert_int_equal(tproc_stop(&srv, WAIT_MS), 0);
    assert_int_equal(tproc_start(&srv, WAIT_MS), 0);
    w = open_client(direct, false);
    proxy_set(&px, true, false);
    assert_true(wait_state(COORD_STATE_RECONNECTED, 2) == 2);
    /* the re-read notice first: the watch is back (see reread_after) */
    assert_true(wait_count(&seen.n_ev, 1) >= 1);
    uint64_t z = put(w, "/r/a", "y");
    assert_int_equal(wait_count(&seen.n_ev, 2), 2);
    pthread_mutex_lock(&seen.mu);
    struct ev e0 = seen.ev[0], e1 = seen.ev[1];
    int n = seen.n_ev;
    pthread_mutex_unlock(&seen.mu);
    assert_int_equal(e0.type, COORD_EVENT_MUST_REREAD);
    assert_string_equal(e0.path, "/r");
    assert_true(e0.zxid >= last);
    assert_int_equal(e1.type, COORD_EVENT_DATA_CHANGED);
    assert_int_equal(e1.zxid, z);
    assert_int_equal(n, 2);
    coord_close(c);
    coord_close(w);
    proxy_stop(&px);
    assert_int_equal(tproc_stop(&srv, WAIT_MS), 0);
    tproc_cleanup(&srv);
}

/* A follower that fell behind the leader's log installs a snapshot: it
 * closes its clients' connections, and the watcher resuming there with a
 * zxid older than the snapshot must be told to re-read (the events the
 * snapshot skipped were never in that server's history). */
static void snapshot_install_must_reread(void **state)
{
    (void)state;
    struct tcluster cl;
    tcluster_init(&cl, 3, "--snapshot-entries=16");
    assert_int_equal(tcluster_start(&cl, 60000), 0);
    int lead = tcluster_leader(&cl, WAIT_MS);
    assert_true(lead >= 0);
    int f1 = (lead + 1) % 3;
    char direct[64], wsrv[64];
    snprintf(direct, sizeof(direct), "%s:%u", cl.node[lead].host,
             cl.node[lead].port);
    snprintf(wsrv, sizeof(wsrv), "%s:%u", cl.node[f1].host,
             cl.node[f1].port);
    seen_reset();
    struct coord_client *w = open_client(direct, false);
    struct coord_options o;
    coord_options_init(&o);
    o.servers = wsrv;
    o.session_timeout_ms = 60000;
    o.silent_timeout_ms = 50000; /* stays on the paused f1 */
    o.state_cb = state_cb;
    o.state_data = (void *)gen;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    mk(w, "/r");
    assert_int_equal(coord_sync(c, "/r"), 0);
    assert_int_equal(coord_add_watch(c, "/r", COORD_WATCH_PERSISTENT_RECURSIVE,
                                     &watcher), 0);
    assert_int_equal(kill(cl.node[f1].pid, SIGSTOP), 0);
    /* Far more entries than the leader keeps for a slow follower. */
    mk(w, "/r/a");
    static uint64_t zs[401];
    for (int i = 0; i < 400; i++)
        zs[i] = put(w, "/r/a", "x");
    assert_int_equal(kill(cl.node[f1].pid, SIGCONT), 0);
    assert_true(wait_state(COORD_STATE_DISCONNECTED, 1) == 1);
    assert_true(wait_state(COORD_STATE_RECONNECTED, 2) == 2);
    zs[400] = put(w, "/r/a", "y");
    /* f1 may first apply entries already in its socket, then install one
     * snapshot or more (each closes the connection: the watcher resumes
     * and is told to re-read as of f1's state), then apply the rest. */
    assert_true(wait_zxid(zs[400]));
    assert_true(tproc_log_has(&cl.node[f1], "snapshot installed"));
    static struct ev ev[MAX_SEEN];
    int n = seen_copy(ev), rereads = 0;
    uint64_t prev = 0, reread_max = 0;
    for (int i = 0; i < n; i++) {
        const struct ev *e = &ev[i];
        assert_true(e->zxid >= prev); /* in order */
        if (e->type == COORD_EVENT_MUST_REREAD) {
            assert_string_equal(e->path, "/r");
            rereads++;
            reread_max = e->zxid;
        } else {
            assert_true(e->zxid > prev || i == 0); /* none twice */
            assert_string_equal(e->path, "/r/a");
        }
        prev = e->zxid;
    }
    /* Every change reached the watcher, or a later re-read covers it. */
    for (int i = 0; i <= 400; i++) {
        bool got = zs[i] <= reread_max;
        for (int j = 0; j < n && !got; j++)
            got = ev[j].zxid == zs[i] &&
                  ev[j].type == COORD_EVENT_DATA_CHANGED;
        if (!got)
            fail_msg("change at zxid %llu lost",
                     (unsigned long long)zs[i]);
    }
    assert_true(rereads >= 1);
    /* A snapshot may cover even the last change (the re-read then has
     * its zxid); either way, once f1 has caught up, the next change must
     * arrive as itself. */
    uint64_t zf = put(w, "/r/a", "z");
    assert_true(wait_zxid(zf));
    pthread_mutex_lock(&seen.mu);
    int last_type = seen.ev[seen.n_ev - 1].type;
    uint64_t last_zxid = seen.ev[seen.n_ev - 1].zxid;
    pthread_mutex_unlock(&seen.mu);
    assert_int_equal(last_zxid, zf);
    assert_int_equal(last_type, COORD_EVENT_DATA_CHANGED);
    coord_close(c);
    coord_close(w);
    tcluster_cleanup(&cl);
}

/* Sends one SET_WATCHES frame with one path of one kind; its xid. */
static int64_t raw_set_watches(struct rawc *r, uint64_t last, uint8_t kind,
                               const char *path)
{
    struct wire_bytes p = {path, (uint32_t)strlen(path)};
    struct wire_req q = {.op = WIRE_OP_SET_WATCHES};
    q.u.set_watches.last_zxid = last;
    q.u.set_watches.kinds[kind - 1] = (struct wire_paths){.n = 1,
                                                          .paths = &p};
    int64_t xid = rawc_send(r, &q);
    assert_true(xid > 0);
    return xid;
}

/* Reads frames until the reply to xid, appending the events to x. */
static void raw_collect(struct rawc *r, int64_t xid, struct expect *x)
{
    for (;;) {
        struct wire_resp m;
        assert_int_equal(rawc_read(r, &m), 0);
        if (m.xid == xid) {
            assert_int_equal(m.err, 0);
            return;
        }
        assert_int_equal(m.xid, WIRE_XID_EVENT);
        char path[64];
        assert_true(m.u.event.path.len < sizeof(path));
        memcpy(path, m.u.event.path.ptr, m.u.event.path.len);
        path[m.u.event.path.len] = '\0';
        want(x, (int)m.u.event.type, path, m.zxid);
    }
}

/* Watches re-registered in two SET_WATCHES frames (as a client with more
 * watches than fit one frame sends them): an event matching watches of
 * both frames is replayed once, by the first. Speaks the wire directly. */
static void two_frames_replay_each_event_once(void **state)
{
    (void)state;
    struct tproc srv;
    tproc_init(&srv, "127.0.0.1");
    assert_int_equal(tproc_start(&srv, WAIT_MS), 0);
    struct rawc a, r;
    assert_int_equal(rawc_connect(&a, srv.host, srv.port), 0);
    assert_int_equal(rawc_hello(&a, 0, NULL, 30000), 0);
    assert_int_equal(rawc_create(&a, "/m", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_create(&a, "/m/x", "", 0, NULL, 0), 0);
    uint64_t last = a.last_zxid;
    /* Missed while "disconnected": */
    struct coord_stat st;
    assert_int_equal(rawc_set(&a, "/m/x", "1", -1, &st), 0);
    struct expect want_x = {0};
    want(&want_x, COORD_EVENT_DATA_CHANGED, "/m/x", st.mzxid);
    assert_int_equal(rawc_create(&a, "/m/y", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_exists(&a, "/m/y", 0, &st), 0);
    want(&want_x, COORD_EVENT_CREATED, "/m/y", st.czxid);
    /* Resume the session on a new connection, watches in two frames. */
    assert_int_equal(rawc_connect(&r, srv.host, srv.port), 0);
    r.last_zxid = last;
    assert_int_equal(rawc_hello(&r, a.session_id, a.secret, 30000), 0);
    struct expect got = {0};
    int64_t x1 = raw_set_watches(&r, last, COORD_WATCH_PERSISTENT_RECURSIVE,
                                 "/m");
    raw_collect(&r, x1, &got);
    int64_t x2 = raw_set_watches(&r, last, COORD_WATCH_PERSISTENT, "/m/x");
    raw_collect(&r, x2, &got);
    assert_int_equal(got.n, want_x.n);
    for (int i = 0; i < got.n; i++) {
        assert_int_equal(got.ev[i].type, want_x.ev[i].type);
        assert_string_equal(got.ev[i].path, want_x.ev[i].path);
        assert_int_equal(got.ev[i].zxid, want_x.ev[i].zxid);
    }
    rawc_close(&r);
    rawc_close(&a);
    assert_int_equal(tproc_stop(&srv, WAIT_MS), 0);
    tproc_cleanup(&srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_single_node),
        cmocka_unit_test(small_history_must_reread),
        cmocka_unit_test(long_replay_must_reread),
        cmocka_unit_test(replay_from_other_server),
        cmocka_unit_test(replay_across_restart),
        cmocka_unit_test(restart_from_snapshot_must_reread),
        cmocka_unit_test(snapshot_install_must_reread),
        cmocka_unit_test(two_frames_replay_each_event_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
