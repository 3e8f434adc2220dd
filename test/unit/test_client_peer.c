/* test_client_peer.c -- libcoord's client against scripted peers: small
 * servers written here on loopback sockets (127.0.0.1, ephemeral ports)
 * that speak the real codec of libcoord/shared/wire.h. They check what the
 * client sends (HELLO fields, SET_WATCHES lists, xids) and answer as a
 * script says: handshake, reads, silence, disconnects, session expiry.
 * Every wait is on a condition (a frame, a callback, a state) with a
 * generous deadline; no sleep stands in for synchronisation. */
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
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/client_int.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/wire.h"

/* Deadline of any single wait: far above what a healthy run needs. */
#define WAIT_MS 5000

static uint64_t now_ms(void)
{
    return coord__now_ms();
}

/* ---- The scripted peer ---- */

struct peer {
    int lfd;  /* listener */
    int fd;   /* accepted connection, -1 before */
    uint16_t port;
    uint8_t buf[COORD_FRAME_BYTES_MAX + 8];
    size_t len;     /* bytes in buf */
    size_t consumed; /* bytes of the frame last returned */
    bool answer_pings;
    unsigned pings; /* pings seen */
    struct wire_limits lim;
};

static void peer_listen(struct peer *p)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    p->answer_pings = true;
    wire_limits_default(&p->lim);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->lfd, 4), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &al), 0);
    p->port = ntohs(a.sin_port);
}

static void peer_close_conn(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    p->len = p->consumed = 0;
}

static void peer_free(struct peer *p)
{
    peer_close_conn(p);
    if (p->lfd >= 0)
        close(p->lfd);
    p->lfd = -1;
}

/* Accepts on whichever of n peers the client connects to first. */
static struct peer *peer_accept_any(struct peer **ps, int n)
{
    struct pollfd pf[4];
    for (int i = 0; i < n; i++)
        pf[i] = (struct pollfd){.fd = ps[i]->lfd, .events = POLLIN};
    int r = poll(pf, (nfds_t)n, WAIT_MS);
    assert_true(r > 0);
    for (int i = 0; i < n; i++) {
        if (pf[i].revents & POLLIN) {
            peer_close_conn(ps[i]);
            ps[i]->fd = accept(ps[i]->lfd, NULL, NULL);
            assert_true(ps[i]->fd >= 0);
            return ps[i];
        }
    }
    fail_msg("no connection");
    return NULL;
}

static void peer_accept(struct peer *p)
{
    struct peer *ps[1] = {p};
    assert_ptr_equal(peer_accept_any(ps, 1), p);
}

static void peer_send(struct peer *p, const struct wire_resp *m)
{
    struct wire_buf b;
    wire_buf_init(&b, COORD_FRAME_BYTES_MAX + 8);
    assert_int_equal(wire_encode_resp(&b, m, &p->lim), 0);
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = send(p->fd, b.data + off, b.len - off, MSG_NOSIGNAL);
        assert_true(n > 0);
        off += (size_t)n;
    }
    wire_buf_free(&b);
}

static void peer_reply(struct peer *p, const struct wire_req *q,
                       uint64_t zxid, int err)
{
    struct wire_resp m = {.op = q->op, .xid = q->xid, .zxid = zxid,
                          .err = err};
    peer_send(p, &m);
}

/* Next frame from the client into *q (borrowing p->buf until the next
 * call), answering PINGs meanwhile when p->answer_pings. Returns 0, or -1
 * when the client closed the connection, or -2 on timeout. */
static int peer_recv_ms(struct peer *p, struct wire_req *q, int wait_ms)
{
    uint64_t end = now_ms() + (uint64_t)wait_ms;
    memmove(p->buf, p->buf + p->consumed, p->len - p->consumed);
    p->len -= p->consumed;
    p->consumed = 0;
    for (;;) {
        size_t fb = 0;
        int err = wire_frame_check(p->buf, p->len, p->lim.frame_bytes_max,
                                   &fb);
        if (err == 0) {
            assert_int_equal(wire_decode_req(p->buf + WIRE_PREFIX_BYTES,
                                             fb - WIRE_PREFIX_BYTES,
                                             &p->lim, q),
                             0);
            p->consumed = fb;
            if (q->op != WIRE_OP_PING)
                return 0;
            p->pings++;
            if (p->answer_pings)
                peer_reply(p, q, 0, 0);
            memmove(p->buf, p->buf + fb, p->len - fb);
            p->len -= fb;
            p->consumed = 0;
            continue;
        }
        assert_int_equal(err, COORD_EAGAIN);
        uint64_t now = now_ms();
        if (now >= end)
            return -2;
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - now)) <= 0)
            continue;
        ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
        if (n <= 0)
            return -1;
        p->len += (size_t)n;
    }
}

static void peer_expect(struct peer *p, struct wire_req *q, uint32_t op)
{
    int r = peer_recv_ms(p, q, WAIT_MS);
    assert_int_equal(r, 0);
    assert_int_equal(q->op, op);
}

static const uint8_t secret_a[COORD_SECRET_BYTES] = {
    0xab, 0xab, 0xab, 0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

static void peer_hello_ok(struct peer *p, const struct wire_req *q,
                          uint64_t session, uint64_t zxid)
{
    struct wire_resp m = {.op = WIRE_OP_HELLO, .xid = q->xid, .zxid = zxid};
    m.u.hello = (struct wire_hello_reply){
        .version = COORD_PROTOCOL_VERSION,
        .session_id = session,
        .secret = {(const char *)secret_a, COORD_SECRET_BYTES},
        .timeout_ms = q->u.hello.timeout_ms,
        .server_id = 1,
        .leader_id = 1,
    };
    m.u.hello.limits = p->lim;
    peer_send(p, &m);
}

static void peer_event(struct peer *p, uint32_t type, const char *path,
                       uint64_t zxid)
{
    struct wire_resp m = {.op = WIRE_OP_WATCH_EVENT, .xid = WIRE_XID_EVENT,
                          .zxid = zxid};
    m.u.event.type = type;
    m.u.event.path = (struct wire_bytes){path, (uint32_t)strlen(path)};
    peer_send(p, &m);
}

static bool bytes_eq(struct wire_bytes b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

/* ---- What the client reports, recorded under a lock ---- */

#define LOG_MAX 64

struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int states[LOG_MAX];
    int n_states;
    /* An ordered log of callbacks: 'E' event, 'R' reply. */
    char order[LOG_MAX];
    int n_order;
    struct coord_event events[LOG_MAX];
    char event_paths[LOG_MAX][64];
    int n_events;
    int statuses[2048];
    int n_statuses;
    char data[64];
};

static struct rec R;

static void rec_reset(void)
{
    pthread_mutex_destroy(&R.mu);
    pthread_cond_destroy(&R.cv);
    memset(&R, 0, sizeof(R));
    pthread_mutex_init(&R.mu, NULL);
    pthread_cond_init(&R.cv, NULL);
}

static void on_state(void *data, int state)
{
    (void)data;
    pthread_mutex_lock(&R.mu);
    if (R.n_states < LOG_MAX)
        R.states[R.n_states++] = state;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static void on_event(void *data, const struct coord_event *ev)
{
    (void)data;
    pthread_mutex_lock(&R.mu);
    if (R.n_events < LOG_MAX) {
        R.events[R.n_events] = *ev;
        snprintf(R.event_paths[R.n_events], 64, "%s", ev->path);
        R.n_events++;
    }
    if (R.n_order < LOG_MAX)
        R.order[R.n_order++] = 'E';
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static void note_status(int status)
{
    pthread_mutex_lock(&R.mu);
    if (R.n_statuses < 2048)
        R.statuses[R.n_statuses++] = status;
    if (R.n_order < LOG_MAX)
        R.order[R.n_order++] = 'R';
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static void on_void(void *data, int status)
{
    (void)data;
    note_status(status);
}

static void on_stat(void *data, int status, const struct coord_stat *st)
{
    (void)data;
    if (status == 0)
        assert_non_null(st);
    note_status(status);
}

static void on_get(void *data, int status, const void *value, size_t len,
                   const struct coord_stat *st)
{
    (void)data;
    (void)st;
    pthread_mutex_lock(&R.mu);
    if (status == 0 && len < sizeof(R.data)) {
        memcpy(R.data, value, len);
        R.data[len] = '\0';
    }
    pthread_mutex_unlock(&R.mu);
    note_status(status);
}

/* Waits until pred() holds (checked under R.mu). */
static bool rec_wait(bool (*pred)(void *), void *arg)
{
    uint64_t end = now_ms() + WAIT_MS;
    pthread_mutex_lock(&R.mu);
    while (!pred(arg)) {
        uint64_t now = now_ms();
        if (now >= end)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (end - now) * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&R.cv, &R.mu, &ts);
    }
    bool ok = pred(arg);
    pthread_mutex_unlock(&R.mu);
    return ok;
}

static bool has_states(void *arg)
{
    return R.n_states >= *(int *)arg;
}
static bool has_statuses(void *arg)
{
    return R.n_statuses >= *(int *)arg;
}
static bool has_events(void *arg)
{
    return R.n_events >= *(int *)arg;
}

static void wait_states(int n)
{
    assert_true(rec_wait(has_states, &n));
}
static void wait_statuses(int n)
{
    assert_true(rec_wait(has_statuses, &n));
}
static void wait_events(int n)
{
    assert_true(rec_wait(has_events, &n));
}

static struct coord_client *open_client(struct peer **ps, int n,
                                        uint32_t silent_ms,
                                        uint32_t request_ms,
                                        const uint8_t *resume_secret)
{
    char list[128] = "";
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s127.0.0.1:%u",
                                i ? "," : "", (unsigned)ps[i]->port);
    struct coord_options o;
    coord_options_init(&o);
    o.servers = list;
    o.silent_timeout_ms = silent_ms;
    o.ping_interval_ms = silent_ms / 4;
    o.request_timeout_ms = request_ms;
    o.connect_timeout_ms = 2000;
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 40;
    o.session_timeout_ms = 7000;
    o.state_cb = on_state;
    if (resume_secret != NULL) {
        o.resume_session_id = 1234;
        o.resume_secret = resume_secret;
    }
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    assert_non_null(c);
    return c;
}

/* coord_close() on another thread, so this one can play the server. */
static void *closer_main(void *arg)
{
    coord_close(arg);
    return NULL;
}

static void reply_get(struct peer *p, const struct wire_req *q, uint64_t zxid,
                      const char *value)
{
    struct wire_resp m = {.op = WIRE_OP_GET, .xid = q->xid, .zxid = zxid};
    m.u.get.data = (struct wire_bytes){value, (uint32_t)strlen(value)};
    m.u.get.stat.mzxid = zxid;
    m.u.get.stat.data_length = (uint32_t)strlen(value);
    peer_send(p, &m);
}

static struct peer pa, pb; /* big buffers: not on the stack */

/* The brief's scenario: handshake, a read with a watch, a persistent
 * watch, then the server goes silent with its connection open. The client
 * must notice within its silence bound, fail the in-flight request with
 * ECONNLOSS, move to the other server, resume the session with id, secret
 * and last zxid, and re-send every watch; events then arrive in order and
 * before the reply of a later read. */
static void silent_server_reconnect_resume(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    peer_listen(&pb);
    struct peer *ps[2] = {&pa, &pb};
    struct coord_client *c = open_client(ps, 2, 400, 5000, NULL);
    struct peer *p1 = peer_accept_any(ps, 2);
    struct peer *p2 = p1 == &pa ? &pb : &pa;
    struct wire_req q;

    peer_expect(p1, &q, WIRE_OP_HELLO);
    assert_int_equal(q.xid, 0);
    assert_int_equal(q.u.hello.version, COORD_PROTOCOL_VERSION);
    assert_int_equal(q.u.hello.session_id, 0);
    assert_int_equal(q.u.hello.secret.len, 0);
    assert_int_equal(q.u.hello.timeout_ms, 7000);
    assert_int_equal(q.u.hello.last_zxid, 0);
    peer_hello_ok(p1, &q, 77, 5);
    wait_states(1);
    assert_int_equal(R.states[0], COORD_STATE_CONNECTED);
    uint64_t sid = 0;
    uint8_t sec[COORD_SECRET_BYTES];
    assert_int_equal(coord_session(c, &sid, sec), 0);
    assert_int_equal(sid, 77);
    assert_memory_equal(sec, secret_a, COORD_SECRET_BYTES);

    struct coord_watcher w = {on_event, NULL};
    assert_int_equal(coord_aget(c, "/a", 0, &w, on_get, NULL), 0);
    peer_expect(p1, &q, WIRE_OP_GET);
    assert_true(bytes_eq(q.u.read.path, "/a"));
    assert_true(q.u.read.flags & WIRE_READ_WATCH);
    assert_false(q.u.read.flags & WIRE_READ_LOCAL);
    int64_t xid1 = q.xid;
    assert_true(xid1 >= 1);
    reply_get(p1, &q, 7, "hello");
    wait_statuses(1);
    assert_int_equal(R.statuses[0], 0);
    assert_string_equal(R.data, "hello");

    assert_int_equal(coord_aadd_watch(c, "/p", COORD_WATCH_PERSISTENT, &w,
                                      on_void, NULL),
                     0);
    peer_expect(p1, &q, WIRE_OP_ADD_WATCH);
    assert_true(bytes_eq(q.u.watch.path, "/p"));
    assert_int_equal(q.u.watch.kind, COORD_WATCH_PERSISTENT);
    assert_true(q.xid > xid1);
    peer_reply(p1, &q, 6, 0);
    wait_statuses(2);
    assert_int_equal(R.statuses[1], 0);
    assert_int_equal(coord_last_zxid(c), 7); /* max, not latest */

    /* Silence: the connection stays open, nothing is answered. */
    p1->answer_pings = false;
    assert_int_equal(coord_aexists(c, "/x", 0, NULL, on_stat, NULL), 0);
    peer_expect(p1, &q, WIRE_OP_EXISTS);
    int64_t xid3 = q.xid;
    uint64_t t0 = now_ms();
    unsigned pings_before = p1->pings;
    peer_accept(p2);
    uint64_t took = now_ms() - t0;
    assert_true(took >= 200 && took < 3000);
    wait_statuses(3);
    assert_int_equal(R.statuses[2], COORD_ECONNLOSS);
    wait_states(2);
    assert_int_equal(R.states[1], COORD_STATE_DISCONNECTED);
    /* It kept pinging the silent server before giving up on it. */
    assert_int_equal(peer_recv_ms(p1, &q, WAIT_MS), -1);
    assert_true(p1->pings > pings_before);

    peer_expect(p2, &q, WIRE_OP_HELLO);
    assert_int_equal(q.u.hello.session_id, 77);
    assert_int_equal(q.u.hello.secret.len, COORD_SECRET_BYTES);
    assert_memory_equal(q.u.hello.secret.ptr, secret_a, COORD_SECRET_BYTES);
    assert_int_equal(q.u.hello.last_zxid, 7);
    peer_hello_ok(p2, &q, 77, 8);
    peer_expect(p2, &q, WIRE_OP_SET_WATCHES);
    assert_int_equal(q.u.set_watches.last_zxid, 7);
    uint32_t want[WIRE_WATCH_KINDS] = {1, 0, 0, 1, 0};
    for (int k = 0; k < WIRE_WATCH_KINDS; k++)
        assert_int_equal(q.u.set_watches.kinds[k].n, want[k]);
    struct wire_bytes b;
    struct wire_iter it = q.u.set_watches.kinds[0].it;
    assert_true(wire_next_path(&it, &b));
    assert_true(bytes_eq(b, "/a"));
    it = q.u.set_watches.kinds[3].it;
    assert_true(wire_next_path(&it, &b));
    assert_true(bytes_eq(b, "/p"));
    peer_reply(p2, &q, 8, 0);
    wait_states(3);
    assert_int_equal(R.states[2], COORD_STATE_RECONNECTED);

    /* Events first, then the reply of the read that reflects them. */
    assert_int_equal(coord_aget(c, "/a", 0, NULL, on_get, NULL), 0);
    peer_expect(p2, &q, WIRE_OP_GET);
    assert_true(q.xid > xid3); /* xids keep increasing per session */
    peer_event(p2, COORD_EVENT_DATA_CHANGED, "/a", 9);
    peer_event(p2, COORD_EVENT_CREATED, "/p", 10);
    reply_get(p2, &q, 10, "v2");
    wait_statuses(4);
    assert_int_equal(R.n_events, 2);
    assert_int_equal(R.events[0].type, COORD_EVENT_DATA_CHANGED);
    assert_int_equal(R.events[0].kind, COORD_WATCH_DATA);
    assert_int_equal(R.events[0].zxid, 9);
    assert_string_equal(R.event_paths[0], "/a");
    assert_int_equal(R.events[1].type, COORD_EVENT_CREATED);
    assert_int_equal(R.events[1].kind, COORD_WATCH_PERSISTENT);
    assert_int_equal(R.events[1].zxid, 10);
    assert_memory_equal(R.order + R.n_order - 3, "EER", 3);
    assert_string_equal(R.data, "v2");

    /* The one-shot watch is spent; the persistent one stays. */
    peer_event(p2, COORD_EVENT_DATA_CHANGED, "/a", 11);
    peer_event(p2, COORD_EVENT_DELETED, "/p", 12);
    wait_events(3);
    assert_int_equal(R.n_events, 3);
    assert_string_equal(R.event_paths[2], "/p");
    assert_int_equal(coord_last_zxid(c), 12);

    /* Close: a CLOSE request on the session, answered, then CLOSED. */
    int64_t last_xid = q.xid;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, closer_main, c), 0);
    peer_expect(p2, &q, WIRE_OP_CLOSE);
    assert_true(q.xid > last_xid);
    peer_reply(p2, &q, 12, 0);
    pthread_join(th, NULL);
    assert_int_equal(R.states[R.n_states - 1], COORD_STATE_CLOSED);
    peer_free(&pa);
    peer_free(&pb);
}

/* A resumed session the cluster no longer knows: EXPIRED, every request
 * fails with ESESSIONEXPIRED, and the client refuses new ones. */
static void resume_expired(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    struct peer *ps[1] = {&pa};
    uint8_t secret[COORD_SECRET_BYTES];
    memset(secret, 0x5a, sizeof(secret));
    struct coord_client *c = open_client(ps, 1, 400, 5000, secret);
    assert_int_equal(coord_aget(c, "/q", 0, NULL, on_get, NULL), 0);
    peer_accept(&pa);
    struct wire_req q;
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    assert_int_equal(q.u.hello.session_id, 1234);
    assert_int_equal(q.u.hello.secret.len, COORD_SECRET_BYTES);
    assert_memory_equal(q.u.hello.secret.ptr, secret, COORD_SECRET_BYTES);
    peer_reply(&pa, &q, 0, COORD_ESESSIONEXPIRED);
    wait_states(1);
    assert_int_equal(R.states[0], COORD_STATE_EXPIRED);
    wait_statuses(1);
    assert_int_equal(R.statuses[0], COORD_ESESSIONEXPIRED);
    assert_int_equal(coord_state(c), COORD_STATE_EXPIRED);
    assert_int_equal(coord_aget(c, "/q", 0, NULL, on_get, NULL),
                     COORD_ESESSIONEXPIRED);
    assert_int_equal(coord_get(c, "/q", 0, NULL, NULL, NULL, NULL),
                     COORD_ESESSIONEXPIRED);
    /* The request was never written: the handshake had not completed. */
    assert_int_equal(peer_recv_ms(&pa, &q, WAIT_MS), -1);
    assert_int_equal(coord_close(c), 0);
    assert_int_equal(R.states[R.n_states - 1], COORD_STATE_CLOSED);
    assert_int_equal(R.n_statuses, 1);
    peer_free(&pa);
}

/* A reset connection: the written request fails with ECONNLOSS, one
 * submitted while disconnected waits and goes out on the next connection
 * (same server: the list has one), with a higher xid. */
static void reset_connloss_and_queued_request(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    struct peer *ps[1] = {&pa};
    struct coord_client *c = open_client(ps, 1, 400, 5000, NULL);
    struct wire_req q;
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    peer_hello_ok(&pa, &q, 88, 3);
    wait_states(1);
    assert_int_equal(coord_aget(c, "/a", 0, NULL, on_get, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_GET);
    int64_t x1 = q.xid;
    peer_close_conn(&pa);
    wait_statuses(1);
    assert_int_equal(R.statuses[0], COORD_ECONNLOSS);
    wait_states(2);
    assert_int_equal(R.states[1], COORD_STATE_DISCONNECTED);
    assert_int_equal(coord_aget(c, "/b", 0, NULL, on_get, NULL), 0);
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    assert_int_equal(q.u.hello.session_id, 88);
    peer_hello_ok(&pa, &q, 88, 3);
    peer_expect(&pa, &q, WIRE_OP_GET); /* no SET_WATCHES: none active */
    assert_true(bytes_eq(q.u.read.path, "/b"));
    assert_true(q.xid > x1);
    reply_get(&pa, &q, 4, "bee");
    wait_statuses(2);
    assert_int_equal(R.statuses[1], 0);
    assert_string_equal(R.data, "bee");
    wait_states(3);
    assert_int_equal(R.states[2], COORD_STATE_RECONNECTED);
    peer_close_conn(&pa); /* close without a session: no CLOSE awaited */
    assert_int_equal(coord_close(c), 0);
    peer_free(&pa);
}

/* A request without a reply fails with ETIMEDOUT near its deadline; a
 * late reply is ignored; the sync API is bounded the same way. */
static void request_timeout(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    struct peer *ps[1] = {&pa};
    struct coord_client *c = open_client(ps, 1, 4000, 300, NULL);
    struct wire_req q;
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    peer_hello_ok(&pa, &q, 99, 1);
    wait_states(1);
    uint64_t t0 = now_ms();
    assert_int_equal(coord_aget(c, "/slow", 0, NULL, on_get, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_GET);
    struct wire_req late = q;
    wait_statuses(1);
    uint64_t took = now_ms() - t0;
    assert_int_equal(R.statuses[0], COORD_ETIMEDOUT);
    assert_true(took >= 290 && took < 3000);
    reply_get(&pa, &late, 2, "late");
    assert_int_equal(coord_aget(c, "/next", 0, NULL, on_get, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_GET);
    reply_get(&pa, &q, 3, "ok");
    wait_statuses(2);
    assert_int_equal(R.n_statuses, 2);
    assert_int_equal(R.statuses[1], 0);
    assert_string_equal(R.data, "ok");
    t0 = now_ms();
    assert_int_equal(coord_get(c, "/slow", 0, NULL, NULL, NULL, NULL),
                     COORD_ETIMEDOUT);
    took = now_ms() - t0;
    assert_true(took >= 290 && took < 3000);
    peer_close_conn(&pa);
    assert_int_equal(coord_close(c), 0);
    peer_free(&pa);
}

/* COORD_INFLIGHT_MAX: async submission past it is COORD_EAGAIN; close
 * fails every pending request with ECLOSED, exactly once each. */
static int blocked_get_rc = 1;
static void *blocked_get_main(void *arg)
{
    blocked_get_rc = coord_get(arg, "/never", 0, NULL, NULL, NULL, NULL);
    return NULL;
}

/* Waits until n threads are inside sync calls on c (polls the counter:
 * the library has no event for it). */
static void wait_users(struct coord_client *c, int n)
{
    uint64_t end = now_ms() + WAIT_MS;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool ok = c->users >= n && c->reqs.n > 0;
        pthread_mutex_unlock(&c->mu);
        if (ok)
            return;
        assert_true(now_ms() < end);
        sched_yield();
    }
}

static void inflight_bound_and_close(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa); /* never answers: the handshake never completes */
    struct peer *ps[1] = {&pa};
    struct coord_client *c = open_client(ps, 1, 400, 20000, NULL);
    for (int i = 0; i < COORD_INFLIGHT_MAX; i++)
        assert_int_equal(coord_adelete(c, "/d", -1, on_void, NULL), 0);
    assert_int_equal(coord_adelete(c, "/d", -1, on_void, NULL),
                     COORD_EAGAIN);
    /* Bad input never takes a slot or runs a callback. */
    assert_int_equal(coord_adelete(c, "rel", -1, on_void, NULL),
                     COORD_EINVAL);
    assert_int_equal(coord_adelete(c, "/d", -2, on_void, NULL),
                     COORD_EINVAL);
    /* A thread blocked in a sync call (waiting for a slot) when close
     * comes: it returns ECLOSED and close waits for it to leave. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocked_get_main, c), 0);
    wait_users(c, 1);
    assert_int_equal(coord_close(c), 0);
    pthread_join(th, NULL);
    assert_int_equal(blocked_get_rc, COORD_ECLOSED);
    assert_int_equal(R.n_statuses, COORD_INFLIGHT_MAX);
    for (int i = 0; i < COORD_INFLIGHT_MAX; i++)
        assert_int_equal(R.statuses[i], COORD_ECLOSED);
    assert_int_equal(R.states[R.n_states - 1], COORD_STATE_CLOSED);
    peer_free(&pa);
}

/* Callbacks run on the I/O thread: sync calls and close refuse there. */
static struct coord_client *busy_client;
static int busy_rc[2] = {1, 1};
static void on_state_busy(void *data, int state)
{
    (void)data;
    if (state == COORD_STATE_CONNECTED) {
        busy_rc[0] = coord_exists(busy_client, "/x", 0, NULL, NULL);
        busy_rc[1] = coord_close(busy_client);
    }
    on_state(NULL, state);
}

static void io_thread_refuses_blocking(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    char list[64];
    snprintf(list, sizeof(list), "127.0.0.1:%u", (unsigned)pa.port);
    struct coord_options o;
    coord_options_init(&o);
    o.servers = list;
    o.state_cb = on_state_busy;
    assert_int_equal(coord_open(&busy_client, &o), 0);
    struct wire_req q;
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    peer_hello_ok(&pa, &q, 5, 1);
    wait_states(1);
    assert_int_equal(busy_rc[0], COORD_EBUSY);
    assert_int_equal(busy_rc[1], COORD_EBUSY);
    peer_close_conn(&pa);
    assert_int_equal(coord_close(busy_client), 0);
    peer_free(&pa);
}

/* A peer thread serving the sync API: children in two pages, a multi, a
 * sequential create, a get; then the CLOSE. Records what it checked. */
static int script_failures;

static void script_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "peer script: %s\n", what);
        __atomic_add_fetch(&script_failures, 1, __ATOMIC_SEQ_CST);
    }
}

static void serve_children(struct peer *p, const struct wire_req *q)
{
    static const struct wire_child page1[] = {{{"a", 1}, {.version = 1}},
                                              {{"b", 1}, {.version = 2}}};
    static const struct wire_child page2[] = {{{"c", 1}, {.version = 3}}};
    struct wire_resp m = {.op = WIRE_OP_CHILDREN, .xid = q->xid, .zxid = 20};
    bool first = q->u.children.start_after.len == 0;
    script_check(first || bytes_eq(q->u.children.start_after, "b"),
                 "second page starts after the last name");
    script_check(((q->u.children.flags & WIRE_READ_WATCH) != 0) == first,
                 "watch set with the first page only");
    script_check(q->u.children.flags & WIRE_READ_STATS, "stats asked");
    m.u.children.more = first;
    m.u.children.with_stats = true;
    m.u.children.n = first ? 2 : 1;
    m.u.children.entries = first ? page1 : page2;
    peer_send(p, &m);
}

static void serve_multi(struct peer *p, const struct wire_req *q)
{
    struct wire_multi_op op;
    struct wire_iter it = q->u.multi.it;
    uint32_t ops[4], n = 0;
    while (n < 4 && wire_next_op(&it, &op))
        ops[n++] = op.op;
    script_check(n == 3 && ops[0] == WIRE_OP_CREATE &&
                     ops[1] == WIRE_OP_SET && ops[2] == WIRE_OP_CHECK,
                 "multi ops in order");
    static const char created[] = "/m/x0000000001";
    /* First a successful multi, then one whose last op fails: the others
     * are COORD_ESKIPPED (protocol.md 3.11). */
    static int calls;
    bool fail = calls++ > 0;
    struct wire_op_result res[3] = {
        {.op = WIRE_OP_CREATE, .path = {created, sizeof(created) - 1},
         .stat = {.czxid = 21}},
        {.op = WIRE_OP_SET, .stat = {.version = 4}},
        {.op = WIRE_OP_CHECK},
    };
    if (fail) {
        res[0] = (struct wire_op_result){.op = WIRE_OP_CREATE,
                                         .err = COORD_ESKIPPED};
        res[1] = (struct wire_op_result){.op = WIRE_OP_SET,
                                         .err = COORD_ESKIPPED};
        res[2].err = COORD_EBADVERSION;
    }
    struct wire_resp m = {.op = WIRE_OP_MULTI, .xid = q->xid, .zxid = 21};
    m.u.multi.n = 3;
    m.u.multi.results = res;
    peer_send(p, &m);
}

static void serve_create(struct peer *p, const struct wire_req *q)
{
    char path[64];
    snprintf(path, sizeof(path), "%.*s0000000007",
             (int)q->u.create.path.len, q->u.create.path.ptr);
    script_check(q->u.create.mode == (COORD_EPHEMERAL | COORD_SEQUENTIAL),
                 "create mode");
    struct wire_resp m = {.op = WIRE_OP_CREATE, .xid = q->xid, .zxid = 22};
    m.u.created.path = (struct wire_bytes){path, (uint32_t)strlen(path)};
    m.u.created.stat.czxid = 22;
    m.u.created.stat.ephemeral_owner = 42;
    peer_send(p, &m);
}

static void *sync_peer_main(void *arg)
{
    struct peer *p = arg;
    struct wire_req q;
    peer_accept(p);
    if (peer_recv_ms(p, &q, WAIT_MS) != 0 || q.op != WIRE_OP_HELLO) {
        script_check(false, "hello");
        return NULL;
    }
    peer_hello_ok(p, &q, 42, 19);
    while (peer_recv_ms(p, &q, WAIT_MS) == 0) {
        switch (q.op) {
        case WIRE_OP_CHILDREN:
            serve_children(p, &q);
            break;
        case WIRE_OP_MULTI:
            serve_multi(p, &q);
            break;
        case WIRE_OP_CREATE:
            serve_create(p, &q);
            break;
        case WIRE_OP_GET:
            reply_get(p, &q, 23, "value");
            break;
        case WIRE_OP_CLOSE:
            peer_reply(p, &q, 23, 0);
            return NULL;
        default:
            peer_reply(p, &q, 23, 0);
            break;
        }
    }
    script_check(false, "connection ended before CLOSE");
    return NULL;
}

static void sync_api_round_trips(void **state)
{
    (void)state;
    rec_reset();
    script_failures = 0;
    peer_listen(&pa);
    struct peer *ps[1] = {&pa};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sync_peer_main, &pa), 0);
    struct coord_client *c = open_client(ps, 1, 1000, 5000, NULL);

    struct coord_child_list l;
    struct coord_watcher w = {on_event, NULL};
    assert_int_equal(
        coord_children_all(c, "/dir", COORD_READ_STATS, &w, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.names[0], "a");
    assert_string_equal(l.names[2], "c");
    assert_non_null(l.stats);
    assert_int_equal(l.stats[2].version, 3);
    coord_child_list_free(&l);

    struct coord_multi *m;
    assert_int_equal(coord_multi_new(&m), 0);
    assert_int_equal(coord_multi_create(m, "/m/x", "v", 1,
                                        COORD_SEQUENTIAL, 0),
                     0);
    assert_int_equal(coord_multi_set(m, "/m/y", "w", 1, 3), 0);
    assert_int_equal(coord_multi_check(m, "/m/z", 9), 0);
    assert_int_equal(coord_multi_check(m, "bad", 9), COORD_EINVAL);
    assert_int_equal(coord_multi_count(m), 3);
    assert_int_equal(coord_multi(c, m), 0);
    const struct coord_op_result *r0 = coord_multi_result(m, 0);
    assert_non_null(r0);
    assert_string_equal(r0->path, "/m/x0000000001");
    assert_int_equal(r0->stat.czxid, 21);
    assert_int_equal(coord_multi_result(m, 1)->stat.version, 4);
    assert_int_equal(coord_multi_result(m, 2)->err, 0);
    assert_null(coord_multi_result(m, 3));
    /* The same builder again; now the check fails: the multi's status is
     * the failing op's error, not the COORD_ESKIPPED of the others. */
    assert_int_equal(coord_multi(c, m), COORD_EBADVERSION);
    assert_int_equal(coord_multi_result(m, 0)->err, COORD_ESKIPPED);
    assert_null(coord_multi_result(m, 0)->path);
    assert_int_equal(coord_multi_result(m, 2)->err, COORD_EBADVERSION);
    coord_multi_free(m);

    char *path = NULL;
    struct coord_stat st;
    assert_int_equal(coord_create(c, "/e/n-", "x", 1,
                                  COORD_EPHEMERAL | COORD_SEQUENTIAL, 0,
                                  &path, &st),
                     0);
    assert_string_equal(path, "/e/n-0000000007");
    assert_int_equal(st.ephemeral_owner, 42);
    coord_free_mem(path);

    void *value = NULL;
    size_t len = 0;
    assert_int_equal(coord_get(c, "/g", COORD_READ_LOCAL, NULL, &value,
                               &len, &st),
                     0);
    assert_int_equal(len, 5);
    assert_string_equal(value, "value");
    coord_free_mem(value);
    assert_int_equal(coord_last_zxid(c), 23);

    assert_int_equal(coord_close(c), 0);
    pthread_join(th, NULL);
    assert_int_equal(script_failures, 0);
    peer_free(&pa);
}

/* Read-only flag, the server's advertised limits, exists watches on a
 * missing node, MUST_REREAD, and a malformed frame (the client drops the
 * connection and resumes, re-sending its exists watch). */
static void limits_reread_and_bad_frame(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    char list[64];
    snprintf(list, sizeof(list), "127.0.0.1:%u", (unsigned)pa.port);
    struct coord_options o;
    coord_options_init(&o);
    o.servers = list;
    o.read_only = true;
    o.state_cb = on_state;
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 20;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    struct wire_req q;
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    assert_int_equal(q.u.hello.flags, WIRE_HELLO_READ_ONLY);
    pa.lim.data_bytes_max = 8;
    peer_hello_ok(&pa, &q, 61, 2);
    wait_states(1);
    assert_int_equal(coord_aset(c, "/s", "123456789", 9, -1, on_stat, NULL),
                     COORD_ETOOBIG);
    assert_int_equal(coord_aset(c, "/s", "12345678", 8, 4, on_stat, NULL),
                     0);
    peer_expect(&pa, &q, WIRE_OP_SET);
    assert_int_equal(q.u.set.version, 4);
    assert_int_equal(q.u.set.data.len, 8);
    struct wire_resp m = {.op = WIRE_OP_SET, .xid = q.xid, .zxid = 3};
    m.u.stat.version = 5;
    peer_send(&pa, &m);
    wait_statuses(1);
    assert_int_equal(R.statuses[0], 0);

    struct coord_watcher w = {on_event, NULL};
    assert_int_equal(coord_aexists(c, "/nx", 0, &w, on_stat, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_EXISTS);
    assert_true(q.u.read.flags & WIRE_READ_WATCH);
    peer_reply(&pa, &q, 3, COORD_ENONODE);
    assert_int_equal(coord_aexists(c, "/ny", 0, &w, on_stat, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_EXISTS);
    peer_reply(&pa, &q, 3, COORD_ENONODE);
    wait_statuses(3);
    assert_int_equal(R.statuses[1], COORD_ENONODE);
    peer_event(&pa, COORD_EVENT_MUST_REREAD, "/nx", 4);
    peer_event(&pa, COORD_EVENT_CREATED, "/nx", 5); /* spent: no event */
    peer_event(&pa, COORD_EVENT_CREATED, "/other", 6);
    peer_event(&pa, COORD_EVENT_DATA_CHANGED, "/s", 7);
    /* Garbage: a frame whose body is not a msgpack array. */
    static const uint8_t junk[] = {0, 0, 0, 2, 0xc0, 0xc0};
    assert_int_equal(send(pa.fd, junk, sizeof(junk), MSG_NOSIGNAL),
                     (ssize_t)sizeof(junk));
    wait_states(2);
    assert_int_equal(R.states[1], COORD_STATE_DISCONNECTED);
    assert_int_equal(R.n_events, 1);
    assert_int_equal(R.events[0].type, COORD_EVENT_MUST_REREAD);
    assert_int_equal(R.events[0].kind, COORD_WATCH_EXISTS);
    assert_string_equal(R.event_paths[0], "/nx");
    assert_int_equal(coord_last_zxid(c), 7);

    peer_accept(&pa);
    pa.lim.data_bytes_max = COORD_DATA_BYTES_MAX;
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    assert_int_equal(q.u.hello.flags, WIRE_HELLO_READ_ONLY);
    assert_int_equal(q.u.hello.session_id, 61);
    assert_int_equal(q.u.hello.last_zxid, 7);
    peer_hello_ok(&pa, &q, 61, 7);
    peer_expect(&pa, &q, WIRE_OP_SET_WATCHES);
    uint32_t want[WIRE_WATCH_KINDS] = {0, 1, 0, 0, 0};
    for (int k = 0; k < WIRE_WATCH_KINDS; k++)
        assert_int_equal(q.u.set_watches.kinds[k].n, want[k]);
    struct wire_bytes b;
    struct wire_iter it = q.u.set_watches.kinds[1].it;
    assert_true(wire_next_path(&it, &b));
    assert_true(bytes_eq(b, "/ny"));
    peer_reply(&pa, &q, 7, 0);
    wait_states(3);
    assert_int_equal(R.states[2], COORD_STATE_RECONNECTED);
    peer_close_conn(&pa);
    assert_int_equal(coord_close(c), 0);
    peer_free(&pa);
}

/* Past COORD_INFLIGHT_MAX a sync call blocks (rather than failing with
 * EAGAIN) and proceeds as soon as one reply frees a slot. */
static struct coord_client *blocked_client;
static int blocked_rc = 1;
static void *blocked_main(void *arg)
{
    (void)arg;
    blocked_rc = coord_delete(blocked_client, "/last", 3);
    return NULL;
}

static void sync_blocks_at_inflight_bound(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    struct peer *ps[1] = {&pa};
    struct coord_client *c = open_client(ps, 1, 2000, 10000, NULL);
    blocked_client = c;
    struct wire_req q;
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    peer_hello_ok(&pa, &q, 71, 1);
    wait_states(1);
    for (int i = 0; i < COORD_INFLIGHT_MAX; i++)
        assert_int_equal(coord_adelete(c, "/d", -1, on_void, NULL), 0);
    assert_int_equal(coord_adelete(c, "/d", -1, on_void, NULL),
                     COORD_EAGAIN);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocked_main, NULL), 0);
    /* The table is full: everything the peer sees now was submitted
     * before the sync call; answer the first to free one slot. */
    peer_expect(&pa, &q, WIRE_OP_DELETE);
    int64_t first = q.xid;
    peer_reply(&pa, &q, 2, 0);
    for (int i = 1; i < COORD_INFLIGHT_MAX; i++) {
        peer_expect(&pa, &q, WIRE_OP_DELETE);
        assert_true(bytes_eq(q.u.pv.path, "/d"));
        assert_int_equal(q.xid, first + i);
    }
    peer_expect(&pa, &q, WIRE_OP_DELETE);
    assert_true(bytes_eq(q.u.pv.path, "/last"));
    assert_int_equal(q.u.pv.version, 3);
    peer_reply(&pa, &q, 3, COORD_EBADVERSION);
    pthread_join(th, NULL);
    assert_int_equal(blocked_rc, COORD_EBADVERSION);
    wait_statuses(1);
    assert_int_equal(R.statuses[0], 0);
    peer_close_conn(&pa); /* the other 1023 were written: ECONNLOSS */
    wait_statuses(COORD_INFLIGHT_MAX);
    for (int i = 1; i < COORD_INFLIGHT_MAX; i++)
        assert_int_equal(R.statuses[i], COORD_ECONNLOSS);
    assert_int_equal(coord_close(c), 0);
    peer_free(&pa);
}

/* A callback that keeps the I/O thread busy past the silence bound while
 * the server keeps talking: the client must read what arrived before
 * judging the server silent, and keep the connection. */
static bool slow_in_cb, slow_sent;
static void slow_get_cb(void *data, int status, const void *value,
                        size_t len, const struct coord_stat *st)
{
    (void)data;
    (void)value;
    (void)len;
    (void)st;
    (void)status;
    uint64_t until = now_ms() + 700; /* the slow application */
    pthread_mutex_lock(&R.mu);
    slow_in_cb = true;
    pthread_cond_broadcast(&R.cv);
    while (!slow_sent || now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&R.cv, &R.mu, &ts);
    }
    pthread_mutex_unlock(&R.mu);
    note_status(status);
}

static bool is_in_cb(void *arg)
{
    (void)arg;
    return slow_in_cb;
}

static void busy_callback_is_not_silence(void **state)
{
    (void)state;
    rec_reset();
    slow_in_cb = slow_sent = false;
    peer_listen(&pa);
    struct peer *ps[1] = {&pa};
    struct coord_client *c = open_client(ps, 1, 400, 300, NULL);
    struct wire_req q;
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    peer_hello_ok(&pa, &q, 31, 1);
    wait_states(1);
    /* Unanswered: its ETIMEDOUT callback (run from the timer path, not
     * from a read) is the slow one. */
    assert_int_equal(coord_aget(c, "/s", 0, NULL, slow_get_cb, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_GET);
    assert_true(rec_wait(is_in_cb, NULL));
    peer_event(&pa, COORD_EVENT_CREATED, "/nobody", 3); /* a sign of life */
    pthread_mutex_lock(&R.mu);
    slow_sent = true;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
    wait_statuses(1);
    assert_int_equal(R.statuses[0], COORD_ETIMEDOUT);
    assert_int_equal(coord_aget(c, "/t", 0, NULL, on_get, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_GET);
    reply_get(&pa, &q, 4, "t");
    wait_statuses(2);
    assert_int_equal(R.statuses[1], 0);
    assert_int_equal(R.n_states, 1); /* never DISCONNECTED */
    assert_int_equal(coord_last_zxid(c), 4);
    peer_close_conn(&pa);
    assert_int_equal(coord_close(c), 0);
    peer_free(&pa);
}

/* More watches than one frame holds under the server's advertised frame
 * limit: SET_WATCHES goes out in several frames, each within the limit,
 * together carrying every path once. A refused SET_WATCHES turns every
 * watch into a MUST_REREAD event and drops it. */
#define MANY_WATCHES 40
static void set_watches_split_and_refused(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    struct peer *ps[1] = {&pa};
    struct coord_client *c = open_client(ps, 1, 1000, 5000, NULL);
    struct wire_req q;
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    pa.lim.frame_bytes_max = 256;
    peer_hello_ok(&pa, &q, 12, 1);
    wait_states(1);
    struct coord_watcher w = {on_event, NULL};
    char path[32];
    for (int i = 0; i < MANY_WATCHES; i++) {
        snprintf(path, sizeof(path), "/w/path-%02d", i);
        assert_int_equal(coord_aadd_watch(c, path, COORD_WATCH_PERSISTENT,
                                          &w, on_void, NULL),
                         0);
        peer_expect(&pa, &q, WIRE_OP_ADD_WATCH);
        peer_reply(&pa, &q, 2, 0);
    }
    wait_statuses(MANY_WATCHES);
    peer_close_conn(&pa);
    peer_accept(&pa);
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    peer_hello_ok(&pa, &q, 12, 2);
    bool seen[MANY_WATCHES] = {false};
    int got = 0, frames = 0;
    while (got < MANY_WATCHES) {
        /* peer_expect decodes with the 256-byte limit: a bigger frame
         * fails the test. */
        peer_expect(&pa, &q, WIRE_OP_SET_WATCHES);
        frames++;
        assert_int_equal(q.u.set_watches.last_zxid, 2);
        struct wire_iter it = q.u.set_watches.kinds[3].it;
        struct wire_bytes b;
        while (wire_next_path(&it, &b)) {
            int i = -1;
            assert_int_equal(sscanf(b.ptr, "/w/path-%02d", &i), 1);
            assert_true(i >= 0 && i < MANY_WATCHES && !seen[i]);
            seen[i] = true;
            got++;
        }
        /* Refuse the first frame; accept the rest. */
        peer_reply(&pa, &q, 3, frames == 1 ? COORD_ETOOMANY : 0);
    }
    assert_true(frames > 1);
    wait_events(MANY_WATCHES);
    for (int i = 0; i < MANY_WATCHES; i++) {
        assert_int_equal(R.events[i].type, COORD_EVENT_MUST_REREAD);
        assert_int_equal(R.events[i].kind, COORD_WATCH_PERSISTENT);
        snprintf(path, sizeof(path), "/w/path-%02d", i);
        assert_string_equal(R.event_paths[i], path);
    }
    /* Dropped: a later event on a formerly watched path fires nothing; a
     * read after it proves the event was processed. */
    peer_event(&pa, COORD_EVENT_DELETED, "/w/path-00", 4);
    assert_int_equal(coord_aget(c, "/g", 0, NULL, on_get, NULL), 0);
    peer_expect(&pa, &q, WIRE_OP_GET);
    reply_get(&pa, &q, 4, "g");
    wait_statuses(MANY_WATCHES + 1);
    assert_int_equal(R.n_events, MANY_WATCHES);
    peer_close_conn(&pa);
    assert_int_equal(coord_close(c), 0);
    peer_free(&pa);
}

/* A server that cannot serve the session (here: behind its last zxid)
 * answers HELLO with an error: the client tries the next server, and the
 * session is not reported as expired. */
static void hello_error_moves_on(void **state)
{
    (void)state;
    rec_reset();
    peer_listen(&pa);
    peer_listen(&pb);
    struct peer *ps[2] = {&pa, &pb};
    struct coord_client *c = open_client(ps, 2, 1000, 5000, NULL);
    struct wire_req q;
    struct peer *p1 = peer_accept_any(ps, 2);
    struct peer *p2 = p1 == &pa ? &pb : &pa;
    peer_expect(p1, &q, WIRE_OP_HELLO);
    peer_reply(p1, &q, 0, COORD_ESTALE);
    peer_accept(p2);
    peer_expect(p2, &q, WIRE_OP_HELLO);
    assert_int_equal(q.u.hello.session_id, 0);
    peer_hello_ok(p2, &q, 13, 1);
    wait_states(1);
    assert_int_equal(R.states[0], COORD_STATE_CONNECTED);
    assert_int_equal(R.n_states, 1);
    peer_close_conn(p2);
    assert_int_equal(coord_close(c), 0);
    peer_free(&pa);
    peer_free(&pb);
}

/* External-loop mode: no I/O thread; the test's thread polls coord_fd()
 * and calls coord_process(), and the callbacks run right there. Timers
 * (a request deadline) make the descriptor readable by themselves. */
static pthread_t ext_thread;
static int ext_wrong_thread;
static void on_get_ext(void *data, int status, const void *value, size_t len,
                       const struct coord_stat *st)
{
    if (!pthread_equal(pthread_self(), ext_thread))
        ext_wrong_thread++;
    on_get(data, status, value, len, st);
}

/* Drives c until pred holds or peer p (if any) has bytes to read. */
static void drive_until(struct coord_client *c, struct peer *p,
                        bool (*pred)(void *), void *arg)
{
    uint64_t end = now_ms() + WAIT_MS;
    for (;;) {
        struct pollfd pf[2] = {{.fd = coord_fd(c), .events = POLLIN},
                               {.fd = p ? p->fd : -1, .events = POLLIN}};
        int r = poll(pf, 2, (int)(end - now_ms()));
        assert_true(r > 0);
        if (pf[0].revents & POLLIN)
            assert_int_equal(coord_process(c), 0);
        pthread_mutex_lock(&R.mu);
        bool done = pred != NULL && pred(arg);
        pthread_mutex_unlock(&R.mu);
        if (done)
            return;
        if (p != NULL && (pf[1].revents & POLLIN))
            return;
        assert_true(now_ms() < end);
    }
}

static void external_loop_mode(void **state)
{
    (void)state;
    rec_reset();
    ext_thread = pthread_self();
    ext_wrong_thread = 0;
    peer_listen(&pa);
    char list[64];
    snprintf(list, sizeof(list), "127.0.0.1:%u", (unsigned)pa.port);
    struct coord_options o;
    coord_options_init(&o);
    o.servers = list;
    o.external_loop = true;
    o.request_timeout_ms = 300;
    o.state_cb = on_state;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    assert_true(coord_fd(c) >= 0);
    /* Nothing happens without coord_process(): the timer says "now". */
    struct pollfd pf = {.fd = coord_fd(c), .events = POLLIN};
    assert_int_equal(poll(&pf, 1, WAIT_MS), 1);
    assert_int_equal(coord_process(c), 0);
    peer_accept(&pa);
    drive_until(c, &pa, NULL, NULL); /* until the HELLO is out */
    struct wire_req q;
    peer_expect(&pa, &q, WIRE_OP_HELLO);
    peer_hello_ok(&pa, &q, 55, 1);
    int one = 1;
    drive_until(c, NULL, has_states, &one);
    assert_int_equal(R.states[0], COORD_STATE_CONNECTED);

    struct coord_watcher w = {on_event, NULL};
    assert_int_equal(coord_aget(c, "/e", 0, &w, on_get_ext, NULL), 0);
    drive_until(c, &pa, NULL, NULL);
    peer_expect(&pa, &q, WIRE_OP_GET);
    reply_get(&pa, &q, 2, "ext");
    drive_until(c, NULL, has_statuses, &one);
    assert_int_equal(R.statuses[0], 0);
    assert_string_equal(R.data, "ext");
    peer_event(&pa, COORD_EVENT_DELETED, "/e", 3);
    drive_until(c, NULL, has_events, &one);
    assert_int_equal(R.events[0].type, COORD_EVENT_DELETED);
    /* Sync calls on the driving thread inside a callback would wait for
     * themselves; outside coord_process() this thread is not the I/O
     * thread, but nothing would drive: not tested here. */

    /* A deadline with nothing else happening wakes the descriptor. */
    uint64_t t0 = now_ms();
    assert_int_equal(coord_aget(c, "/slow", 0, NULL, on_get_ext, NULL), 0);
    int two = 2;
    drive_until(c, NULL, has_statuses, &two);
    assert_int_equal(R.statuses[1], COORD_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 290);
    assert_int_equal(ext_wrong_thread, 0);

    /* coord_close() drives the CLOSE itself: answer it from a thread. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, closer_main, c), 0);
    do /* skip the timed-out GET */
        assert_int_equal(peer_recv_ms(&pa, &q, WAIT_MS), 0);
    while (q.op != WIRE_OP_CLOSE);
    peer_reply(&pa, &q, 3, 0);
    pthread_join(th, NULL);
    assert_int_equal(R.states[R.n_states - 1], COORD_STATE_CLOSED);
    peer_free(&pa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(silent_server_reconnect_resume),
        cmocka_unit_test(resume_expired),
        cmocka_unit_test(reset_connloss_and_queued_request),
        cmocka_unit_test(request_timeout),
        cmocka_unit_test(inflight_bound_and_close),
        cmocka_unit_test(io_thread_refuses_blocking),
        cmocka_unit_test(sync_api_round_trips),
        cmocka_unit_test(limits_reread_and_bad_frame),
        cmocka_unit_test(sync_blocks_at_inflight_bound),
        cmocka_unit_test(busy_callback_is_not_silence),
        cmocka_unit_test(set_watches_split_and_refused),
        cmocka_unit_test(hello_error_moves_on),
        cmocka_unit_test(external_loop_mode),
    };
    pthread_mutex_init(&R.mu, NULL);
    pthread_cond_init(&R.cv, NULL);
    return cmocka_run_group_tests_name("client_peer", tests, NULL, NULL);
}
