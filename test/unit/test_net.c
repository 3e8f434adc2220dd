/* test_net.c -- tests of coordd/net (loop + client connections) over real
 * loopback sockets: framing, pipelining, flush batching, backpressure
 * (pause/resume), oversized and garbage frames, the connection limit.
 * The loop runs on its own thread; the test is a plain blocking client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/net/net.h"
#include "libcoord/shared/wire.h"

struct fixture {
    struct net *net;
    pthread_t thread;
    struct wire_limits lim;
    int pause_every;   /* pause a conn after this many frames (0: never) */
    int frames;        /* frames seen (loop thread only) */
    int closes;
    int accepts;
    struct net_conn *paused[16];
    int n_paused;
};

static int on_accept(void *data, struct net_conn *c)
{
    struct fixture *f = data;
    (void)c;
    f->accepts++;
    return 0;
}

/* Answers every request with an empty success response of its op/xid. */
static int on_frame(void *data, struct net_conn *c, const uint8_t *msg,
                    size_t len)
{
    struct fixture *f = data;
    struct wire_req req;
    int rc = wire_decode_req(msg, len, &f->lim, &req);
    struct wire_resp resp = {.op = req.op ? req.op : WIRE_OP_PING,
                             .xid = req.xid, .zxid = 1, .err = rc};
    /* Runs on the loop thread: no cmocka asserts here (they longjmp). */
    if (wire_encode_resp(net_conn_out(c), &resp, &f->lim) != 0)
        abort();
    net_conn_mark(c);
    f->frames++;
    if (f->pause_every && f->frames % f->pause_every == 0 &&
        f->n_paused < 16) {
        net_conn_pause(c);
        f->paused[f->n_paused++] = c;
    }
    return 0;
}

static void on_close(void *data, struct net_conn *c, int reason)
{
    struct fixture *f = data;
    (void)reason;
    for (int i = 0; i < f->n_paused; i++)
        if (f->paused[i] == c)
            f->paused[i] = f->paused[--f->n_paused];
    f->closes++;
}

/* Each tick resumes every paused connection. */
static void on_tick(void *data)
{
    struct fixture *f = data;
    while (f->n_paused > 0)
        net_conn_resume(f->paused[--f->n_paused]);
}

static void on_wakeup(void *data)
{
    struct fixture *f = data;
    net_stop(f->net);
}

static void *loop_main(void *arg)
{
    struct fixture *f = arg;
    net_run(f->net);
    return NULL;
}

static struct fixture *start(uint32_t conns_max, int pause_every)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    wire_limits_default(&f.lim);
    f.pause_every = pause_every;
    struct net_config cfg = {.client_host = "127.0.0.1", .client_port = 0,
                             .frame_max = 64 * 1024, .conns_max = conns_max,
                             .out_bytes_max = 1 << 20,
                             .out_pause_bytes = 1 << 18, .tick_ms = 5};
    struct net_callbacks cb = {.data = &f, .on_accept = on_accept,
                               .on_frame = on_frame, .on_close = on_close,
                               .on_tick = on_tick, .on_wakeup = on_wakeup};
    char err[128];
    assert_int_equal(net_init(&f.net, &cfg, &cb, err, sizeof(err)), 0);
    assert_true(net_client_port(f.net) > 0);
    assert_int_equal(pthread_create(&f.thread, NULL, loop_main, &f), 0);
    return &f;
}

static void stop(struct fixture *f)
{
    net_wakeup(f->net);
    pthread_join(f->thread, NULL);
    net_close(f->net);
}

static int dial(struct fixture *f)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(net_client_port(f->net))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one response frame; returns its xid, or -1000 on EOF. */
static int64_t read_resp(int fd, struct wire_limits *lim, uint8_t *buf)
{
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(fd, buf + got, 4 - got);
        if (r <= 0)
            return -1000;
        got += (size_t)r;
    }
    uint32_t n = (uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
    assert_true(n < 60000);
    for (got = 0; got < n;) {
        ssize_t r = read(fd, buf + 4 + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    struct wire_resp resp;
    assert_int_equal(wire_decode_resp(buf + 4, n, lim, &resp), 0);
    return resp.xid;
}

static void send_pings(int fd, struct wire_limits *lim, int first, int count)
{
    struct wire_buf b;
    wire_buf_init(&b, 1 << 20);
    for (int i = 0; i < count; i++) {
        struct wire_req req = {.op = WIRE_OP_PING, .xid = first + i};
        assert_int_equal(wire_encode_req(&b, &req, lim), 0);
    }
    send_all(fd, b.data, b.len);
    wire_buf_free(&b);
}

static void pipelined_requests_answered_in_order(void **state)
{
    (void)state;
    struct fixture *f = start(16, 0);
    int fd = dial(f);
    uint8_t buf[65536];
    send_pings(fd, &f->lim, 1, 500);
    for (int i = 1; i <= 500; i++)
        assert_int_equal(read_resp(fd, &f->lim, buf), i);
    close(fd);
    stop(f);
}

static void paused_connection_still_answers_everything(void **state)
{
    (void)state;
    /* Pausing after every 7 frames: buffered frames must be delivered on
     * resume even though no new bytes arrive. */
    struct fixture *f = start(16, 7);
    int fd = dial(f);
    uint8_t buf[65536];
    send_pings(fd, &f->lim, 100, 300);
    for (int i = 100; i < 400; i++)
        assert_int_equal(read_resp(fd, &f->lim, buf), i);
    close(fd);
    stop(f);
}

static void oversized_frame_closes_only_that_connection(void **state)
{
    (void)state;
    struct fixture *f = start(16, 0);
    int bad = dial(f);
    int good = dial(f);
    uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
    send_all(bad, huge, 4);
    uint8_t buf[65536];
    assert_int_equal(read_resp(bad, &f->lim, buf), -1000);
    send_pings(good, &f->lim, 5, 1);
    assert_int_equal(read_resp(good, &f->lim, buf), 5);
    uint8_t zero[4] = {0, 0, 0, 0};
    send_all(good, zero, 4);
    assert_int_equal(read_resp(good, &f->lim, buf), -1000);
    close(bad);
    close(good);
    stop(f);
}

static void undecodable_request_gets_error_reply(void **state)
{
    (void)state;
    struct fixture *f = start(16, 0);
    int fd = dial(f);
    /* A msgpack array [3, 9, "junk"]: ping with a stray field. */
    uint8_t frame[] = {0, 0, 0, 8, 0x93, 0x03, 0x09, 0xa4, 'j', 'u', 'n',
                       'k'};
    send_all(fd, frame, sizeof(frame));
    uint8_t buf[65536];
    size_t got = 0;
    while (got < 4)
        got += (size_t)read(fd, buf + got, 4 - got);
    uint32_t n = (uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
    for (got = 0; got < n;)
        got += (size_t)read(fd, buf + 4 + got, n - got);
    struct wire_resp resp;
    assert_int_equal(wire_decode_resp(buf + 4, n, &f->lim, &resp), 0);
    assert_int_equal(resp.xid, 9);
    assert_int_equal(resp.err, COORD_EPROTO);
    close(fd);
    stop(f);
}

static void connection_limit_refuses_extra(void **state)
{
    (void)state;
    struct fixture *f = start(2, 0);
    int a = dial(f), b = dial(f);
    uint8_t buf[65536];
    send_pings(a, &f->lim, 1, 1);
    send_pings(b, &f->lim, 2, 1);
    assert_int_equal(read_resp(a, &f->lim, buf), 1);
    assert_int_equal(read_resp(b, &f->lim, buf), 2);
    int c = dial(f); /* accepted by the kernel, closed by the server */
    assert_int_equal(read_resp(c, &f->lim, buf), -1000);
    close(a);
    close(b);
    close(c);
    stop(f);
}

/* ---- peer links ---- */

struct peerside {
    struct net *net;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int frames;      /* frames received on incoming links */
    int64_t last_xid;
    bool order_ok;
    int ups, downs;
    char from[80];   /* remote address of the last incoming link */
};

static struct peerside pa, pb;

static int peer_frame(void *data, struct net_conn *c, const uint8_t *msg,
                      size_t len)
{
    struct peerside *p = data;
    struct wire_limits lim;
    wire_limits_default(&lim);
    struct wire_req q;
    if (wire_decode_req(msg, len, &lim, &q) != 0)
        return COORD_EPROTO;
    pthread_mutex_lock(&p->mu);
    if (q.xid != 0 && q.xid != p->last_xid + 1)
        p->order_ok = false;
    if (q.xid != 0)
        p->last_xid = q.xid;
    p->frames++;
    snprintf(p->from, sizeof(p->from), "%s", net_conn_peer(c));
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static void peer_up(void *data, uint64_t id, struct wire_buf *out)
{
    struct peerside *p = data;
    struct wire_limits lim;
    wire_limits_default(&lim);
    struct wire_req hs = {.op = WIRE_OP_PING, .xid = 0}; /* "handshake" */
    (void)id;
    if (wire_encode_req(out, &hs, &lim) != 0)
        abort();
    pthread_mutex_lock(&p->mu);
    p->ups++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void peer_down(void *data, uint64_t id)
{
    struct peerside *p = data;
    (void)id;
    pthread_mutex_lock(&p->mu);
    p->downs++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int peer_client_frame(void *data, struct net_conn *c,
                             const uint8_t *msg, size_t len)
{
    (void)data, (void)c, (void)msg, (void)len;
    return 0;
}

/* Sends `count` pings with xids first.. on the loop thread (on_wakeup). */
static int send_first, send_count;
static uint64_t send_to;

static void peer_wakeup(void *data)
{
    struct peerside *p = data;
    if (send_count == 0) {
        net_stop(p->net);
        return;
    }
    struct wire_limits lim;
    wire_limits_default(&lim);
    for (int i = 0; i < send_count; i++) {
        struct wire_buf *out = net_peer_out(p->net, send_to);
        if (!out)
            abort();
        struct wire_req q = {.op = WIRE_OP_PING, .xid = send_first + i};
        if (wire_encode_req(out, &q, &lim) != 0)
            abort();
        net_peer_mark(p->net, send_to);
    }
    send_count = 0;
}

static void *peer_loop(void *arg)
{
    struct peerside *p = arg;
    net_run(p->net);
    return NULL;
}

static void peer_start(struct peerside *p, const char *host, uint16_t port)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->order_ok = true;
    struct net_config cfg = {.client_host = host, .client_port = 0,
                             .frame_max = 64 * 1024, .conns_max = 16,
                             .out_bytes_max = 1 << 20,
                             .out_pause_bytes = 1 << 18, .tick_ms = 5,
                             .peer_host = host, .peer_port = port,
                             .peer_out_bytes_max = 1 << 20};
    struct net_callbacks cb = {.data = p, .on_frame = peer_client_frame,
                               .on_peer_frame = peer_frame,
                               .on_peer_up = peer_up,
                               .on_peer_down = peer_down,
                               .on_wakeup = peer_wakeup};
    char err[128];
    assert_int_equal(net_init(&p->net, &cfg, &cb, err, sizeof(err)), 0);
}

static void peer_run(struct peerside *p)
{
    assert_int_equal(pthread_create(&p->thread, NULL, peer_loop, p), 0);
}

static void peer_stop(struct peerside *p)
{
    send_count = 0;
    net_wakeup(p->net);
    pthread_join(p->thread, NULL);
    net_close(p->net);
}

static bool wait_for(struct peerside *p, int *field, int want)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&p->mu);
    while (*field < want &&
           pthread_cond_timedwait(&p->cv, &p->mu, &ts) == 0)
        ;
    bool ok = *field >= want;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void peer_links_deliver_in_order_and_redial(void **state)
{
    (void)state;
    /* B listens for peers on 127.0.0.3; A dials it from 127.0.0.2. */
    peer_start(&pb, "127.0.0.3", 0);
    uint16_t bport = net_peer_port(pb.net);
    peer_run(&pb);
    peer_start(&pa, "127.0.0.2", 0);
    assert_int_equal(net_peer_add(pa.net, 2, "127.0.0.3", bport), 0);
    assert_int_equal(net_peer_add(pa.net, 2, "127.0.0.3", bport),
                     COORD_EINVAL);
    peer_run(&pa);
    assert_true(wait_for(&pa, &pa.ups, 1));
    assert_true(wait_for(&pb, &pb.frames, 1)); /* the handshake */
    assert_true(strncmp(pb.from, "127.0.0.2:", 10) == 0); /* bound source */
    send_to = 2;
    send_first = 1;
    send_count = 500;
    net_wakeup(pa.net);
    assert_true(wait_for(&pb, &pb.frames, 501));
    assert_true(pb.order_ok);
    /* B goes away: A sees its link drop, then redials B's successor. */
    peer_stop(&pb);
    assert_true(wait_for(&pa, &pa.downs, 1));
    peer_start(&pb, "127.0.0.3", bport);
    peer_run(&pb);
    assert_true(wait_for(&pa, &pa.ups, 2));
    assert_true(wait_for(&pb, &pb.frames, 1));
    peer_stop(&pa);
    peer_stop(&pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelined_requests_answered_in_order),
        cmocka_unit_test(paused_connection_still_answers_everything),
        cmocka_unit_test(oversized_frame_closes_only_that_connection),
        cmocka_unit_test(undecodable_request_gets_error_reply),
        cmocka_unit_test(connection_limit_refuses_extra),
        cmocka_unit_test(peer_links_deliver_in_order_and_redial),
    };
    return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
