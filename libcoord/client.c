/* client.c -- the client's I/O thread: connection and session state
 * machine (connect, HELLO, SET_WATCHES, ping, silence detection, reconnect
 * with backoff to the next server, expiry, close), request submission and
 * the public lifecycle calls. Frames are encoded and decoded only by
 * libcoord/shared/wire.c; replies become callbacks in ops.c. One thread per
 * client, poll() on the socket and an eventfd. It must never run a
 * callback while holding the client mutex, and never write a request to a
 * connection twice: requests outlive a dropped connection only if they
 * were never written to it.
 */
#include "client_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* Input buffer: start size; grows up to one frame. */
#define CLIENT_IN_BYTES_MIN (64 * 1024)
/* Stop moving requests to the output buffer past this: the rest wait in
 * the table, so memory stays bounded by what the socket accepts. */
#define CLIENT_OUT_BYTES_HIGH (256 * 1024)

COORD_STATIC_ASSERT(COORD_READ_LOCAL == WIRE_READ_LOCAL, "read flags");
COORD_STATIC_ASSERT(COORD_READ_STATS == WIRE_READ_STATS, "read flags");

_Thread_local bool coord__submit_blocks;

/* ---- Small helpers ------------------------------------------------------- */

void coord__wake(struct coord_client *c)
{
    uint64_t one = 1;
    ssize_t n = write(c->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN: the counter is already non-zero, a wake pends */
}

bool coord__on_io_thread(struct coord_client *c)
{
    if (!c->opts.external_loop)
        return c->io_started && pthread_equal(pthread_self(), c->thread);
    pthread_mutex_lock(&c->mu);
    bool on = c->driving && pthread_equal(pthread_self(), c->driver);
    pthread_mutex_unlock(&c->mu);
    return on;
}

static void set_state(struct coord_client *c, int state)
{
    pthread_mutex_lock(&c->mu);
    c->state = state;
    pthread_mutex_unlock(&c->mu);
    if (c->opts.state_cb != NULL)
        c->opts.state_cb(c->opts.state_data, state);
    coord__listeners_run(c, state);
}

static int out_append(struct coord_client *c, const uint8_t *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *q = coord_realloc(c->out, cap);
        if (q == NULL)
            return COORD_ENOMEM;
        c->out = q;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    c->last_send_ms = coord__now_ms();
    return 0;
}

/* Encodes a session-control request (xid 0) and appends it. */
static int send_ctl(struct coord_client *c, const struct wire_req *req)
{
    struct wire_buf b;
    wire_buf_init(&b, (size_t)c->lim.frame_bytes_max + WIRE_PREFIX_BYTES);
    int err = wire_encode_req(&b, req, &c->lim);
    if (err == 0)
        err = out_append(c, b.data, b.len);
    wire_buf_free(&b);
    return err;
}

/* Runs the callbacks of a list of removed requests with err. */
static void complete_list(struct coord_client *c, struct coord__req *list,
                          int err)
{
    if (list != NULL) {
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->slot_cv);
        pthread_mutex_unlock(&c->mu);
    }
    while (list != NULL) {
        struct coord__req *r = list;
        list = r->next;
        r->next = NULL;
        if (r->cb_kind == COORD__CB_INTERNAL)
            c->close_done = true;
        coord__complete(c, r, NULL, err);
    }
}

/* ---- Connection lifecycle ----------------------------------------------- */

static void conn_reset(struct coord_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
    c->out_len = 0;
}

/* ---- Staying on the leader (prefer_leader) -------------------------------
 * After a handshake with a follower the client asks it who leads (STATUS,
 * admin.c). If the leader's client address is in the list, the client
 * stops writing requests, waits for the ones in flight to be answered,
 * and resumes its session on the leader (MOVE_TO_LEADER). Nothing is
 * reported: the session never was in jeopardy. If the leader cannot be
 * reached, the client goes back to the server it came from (MOVE_BACK),
 * still silently, and avoids that leader for a while; only if the way
 * back fails too does the application hear of a lost connection. It asks
 * again every leader_recheck_ms, on the leader too: leadership can move
 * (a transfer, a partition healed) while the old leader stays up and
 * keeps the connection. */

#define COORD__AVOID_RECHECKS 10 /* an unreachable leader: rechecks skipped */

static void conn_start(struct coord_client *c);

/* The leader did not answer the move: back to where the session was. */
static void move_back(struct coord_client *c)
{
    uint64_t now = coord__now_ms();
    conn_reset(c);
    c->avoid_idx = c->move_to;
    c->avoid_until_ms =
        now + (uint64_t)c->opts.leader_recheck_ms * COORD__AVOID_RECHECKS;
    c->move = COORD__MOVE_BACK;
    c->server_idx = (c->move_from + c->n_servers - 1) % c->n_servers;
    c->conn = COORD__CONN_IDLE;
    c->conn_deadline_ms = now; /* at once: the session is fine */
}

void coord__leader_seen(struct coord_client *c, bool here, bool listed,
                        size_t idx)
{
    if (c->conn != COORD__CONN_READY || c->closing_seen)
        return; /* the next handshake decides again */
    uint64_t now = coord__now_ms();
    if (!here && listed && idx != c->server_idx &&
        (idx != c->avoid_idx || now >= c->avoid_until_ms)) {
        c->move_to = idx;
        c->move_pending = true;
        c->move_since_ms = now;
        return;
    }
    c->leader_check_ms = now + c->opts.leader_recheck_ms;
}

/* A handshake succeeded on a connection set up as `how`. */
static void leader_hello(struct coord_client *c, int how,
                         const struct wire_hello_reply *h)
{
    c->leader_check_ms = 0;
    if (!c->opts.prefer_leader || c->n_servers < 2)
        return;
    /* Straight after a move the leader may have changed hands: the next
     * check, not an immediate one, keeps two servers from bouncing us. */
    if (how == COORD__MOVE_NONE && h->leader_id != 0 &&
        h->leader_id != h->server_id && coord__ask_leader(c) == 0)
        return;
    c->leader_check_ms = coord__now_ms() + c->opts.leader_recheck_ms;
}

/* The connection failed or went silent: fail what was written to it
 * (ECONNLOSS), report jeopardy once, and schedule the next server. */
static void conn_fail(struct coord_client *c)
{
    if (c->move == COORD__MOVE_TO_LEADER) {
        move_back(c);
        return;
    }
    /* A failed way back from an unreachable leader: the application
     * believed it was connected, so it hears of the loss now. */
    bool was_ready = c->conn == COORD__CONN_READY ||
                     c->move == COORD__MOVE_BACK;
    struct coord__req *lost;

    c->move = COORD__MOVE_NONE;
    c->move_pending = false;
    c->leader_check_ms = 0;

    conn_reset(c);
    pthread_mutex_lock(&c->mu);
    coord__reqtab_drop_sent(&c->reqs, &lost);
    pthread_mutex_unlock(&c->mu);
    uint32_t delay = coord__backoff_ms(&c->rng, c->attempt,
                                       c->opts.backoff_initial_ms,
                                       c->opts.backoff_max_ms);
    if (c->attempt < UINT32_MAX)
        c->attempt++;
    c->conn = COORD__CONN_IDLE;
    c->conn_deadline_ms = coord__now_ms() + delay;
    complete_list(c, lost, COORD_ECONNLOSS);
    if (was_ready)
        set_state(c, COORD_STATE_DISCONNECTED);
}

/* The session is gone: fail everything, report once, stop connecting. */
static void session_dead(struct coord_client *c, int err, int state)
{
    struct coord__req *all;

    conn_reset(c);
    c->conn = COORD__CONN_IDLE;
    c->conn_deadline_ms = UINT64_MAX;
    pthread_mutex_lock(&c->mu);
    c->dead = true;
    c->dead_err = err;
    coord__reqtab_drain(&c->reqs, &all);
    pthread_mutex_unlock(&c->mu);
    coord__watchtab_clear(&c->watches);
    complete_list(c, all, err);
    set_state(c, state);
}

static int send_hello(struct coord_client *c)
{
    struct wire_req q = {.op = WIRE_OP_HELLO, .xid = 0};
    pthread_mutex_lock(&c->mu);
    q.u.hello = (struct wire_hello){
        .version = COORD_PROTOCOL_VERSION,
        .session_id = c->have_session ? c->session_id : 0,
        .secret = {(const char *)c->secret,
                   c->have_session ? COORD_SECRET_BYTES : 0},
        .timeout_ms = c->opts.session_timeout_ms,
        .last_zxid = c->last_zxid,
        .flags = c->opts.read_only ? WIRE_HELLO_READ_ONLY : 0,
    };
    pthread_mutex_unlock(&c->mu);
    c->conn = COORD__CONN_HELLO;
    c->last_recv_ms = coord__now_ms();
    return send_ctl(c, &q);
}

/* The connect + handshake deadline of the next attempt. A hung server
 * (stopped, its kernel still accepting) never answers HELLO, and only this
 * deadline moves the client past it: in a first round over several
 * servers each attempt gets half of connect_timeout_ms, so a hung server
 * costs half as much; once a whole round has failed (a slow but healthy
 * cluster, e.g. session creation waiting on a slow disk) every attempt
 * gets all of it. A successful handshake resets the round. */
static uint32_t conn_timeout_ms(const struct coord_client *c)
{
    uint32_t t = c->opts.connect_timeout_ms;
    if (c->n_servers > 1 && c->attempt < c->n_servers && t > 1)
        t /= 2;
    return t;
}

/* Starts a non-blocking connect to the next server in the list. */
static void conn_start(struct coord_client *c)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[8];

    c->server_idx = (c->server_idx + 1) % c->n_servers;
    const struct coord__server *s = &c->servers[c->server_idx];
    snprintf(port, sizeof(port), "%u", (unsigned)s->port);
    c->conn_deadline_ms = coord__now_ms() + conn_timeout_ms(c);
    if (getaddrinfo(s->host, port, &hints, &ai) != 0 || ai == NULL)
        goto out_fail;
    c->fd = socket(ai->ai_family,
                   ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   ai->ai_protocol);
    if (c->fd < 0)
        goto out_free_ai;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
        errno != EINPROGRESS)
        goto out_free_ai;
    freeaddrinfo(ai);
    c->conn = COORD__CONN_CONNECTING;
    return;

out_free_ai:
    freeaddrinfo(ai);
out_fail:
    conn_fail(c);
}

/* Re-registers every watch after a reconnect, in frames that fit. */
static int send_set_watches(struct coord_client *c)
{
    size_t n = c->watches.n, got[WIRE_WATCH_KINDS], total = 0;
    if (n == 0)
        return 0;
    struct wire_bytes *all = coord_calloc(n, sizeof(*all));
    if (all == NULL)
        return COORD_ENOMEM;
    for (uint32_t k = 0; k < WIRE_WATCH_KINDS; k++) {
        got[k] = coord__watchtab_paths(&c->watches, k + 1, all + total,
                                       n - total);
        total += got[k];
    }
    struct wire_req q = {.op = WIRE_OP_SET_WATCHES, .xid = 0};
    q.u.set_watches.last_zxid = c->last_zxid;
    size_t pos = 0, bytes = 0, budget = c->lim.frame_bytes_max / 2;
    int err = 0;
    for (uint32_t k = 0; k < WIRE_WATCH_KINDS && err == 0; k++) {
        struct wire_paths *ps = &q.u.set_watches.kinds[k];
        ps->paths = all + pos;
        for (size_t i = 0; i < got[k] && err == 0; i++) {
            if (bytes + all[pos].len + 16 > budget && bytes > 0) {
                err = send_ctl(c, &q); /* a full frame: send, go on */
                memset(q.u.set_watches.kinds, 0,
                       sizeof(q.u.set_watches.kinds));
                ps->paths = all + pos;
                bytes = 0;
            }
            ps->n++;
            bytes += all[pos++].len + 16;
        }
    }
    if (err == 0)
        err = send_ctl(c, &q);
    coord_free(all);
    return err;
}

/* The HELLO reply: session established, resumed, or refused. */
static int on_hello(struct coord_client *c, const struct wire_resp *m)
{
    if (m->err == COORD_ESESSIONEXPIRED || m->err == COORD_ENOSESSION ||
        m->err == COORD_EAUTH) {
        session_dead(c, COORD_ESESSIONEXPIRED, COORD_STATE_EXPIRED);
        return 1;
    }
    if (m->err != 0)
        return m->err; /* this server cannot serve us: try the next */
    const struct wire_hello_reply *h = &m->u.hello;
    if (h->version != COORD_PROTOCOL_VERSION || h->session_id == 0 ||
        h->secret.len != COORD_SECRET_BYTES ||
        wire_limits_check(&h->limits) != 0)
        return COORD_EPROTO;
    pthread_mutex_lock(&c->mu);
    bool resumed = c->have_session;
    bool other = resumed && h->session_id != c->session_id;
    if (!other) {
        c->session_id = h->session_id;
        memcpy(c->secret, h->secret.ptr, COORD_SECRET_BYTES);
        c->have_session = true;
        c->timeout_ms = h->timeout_ms;
        c->answered_ms = coord__now_ms();
        c->lim = h->limits;
    }
    pthread_mutex_unlock(&c->mu);
    if (other) { /* a new session is not ours: ours is gone */
        session_dead(c, COORD_ESESSIONEXPIRED, COORD_STATE_EXPIRED);
        return 1;
    }
    c->conn = COORD__CONN_READY;
    c->attempt = 0;
    int how = c->move;
    c->move = COORD__MOVE_NONE;
    int err = send_set_watches(c);
    if (err != 0)
        return err;
    leader_hello(c, how, h);
    if (how != COORD__MOVE_NONE)
        return 0; /* the application saw this session connected already */
    bool again = c->connected_once;
    c->connected_once = true;
    set_state(c, again ? COORD_STATE_RECONNECTED : COORD_STATE_CONNECTED);
    return 0;
}

/* answer: the frame answers a request (the server heard us). */
static void note_zxid(struct coord_client *c, uint64_t zxid, bool answer)
{
    uint64_t now = answer ? coord__now_ms() : 0;
    pthread_mutex_lock(&c->mu);
    if (zxid > c->last_zxid)
        c->last_zxid = zxid;
    if (answer)
        c->answered_ms = now;
    pthread_mutex_unlock(&c->mu);
}

/* One decoded frame. Returns 0 to go on, 1 when the connection is no
 * longer usable (already handled), or an error to drop it. */
static int on_frame(struct coord_client *c, const struct wire_resp *m)
{
    if (c->conn == COORD__CONN_HELLO)
        return m->op == WIRE_OP_HELLO ? on_hello(c, m) : COORD_EPROTO;
    note_zxid(c, m->zxid, m->op != WIRE_OP_WATCH_EVENT);
    if (m->op == WIRE_OP_WATCH_EVENT) {
        if (m->xid != WIRE_XID_EVENT)
            return COORD_EPROTO;
        return coord__deliver_event(c, m);
    }
    if (m->xid == 0 && m->op == WIRE_OP_SET_WATCHES && m->err != 0) {
        coord__watches_lost(c, m->zxid); /* never lose them silently */
        return 0;
    }
    if (m->xid == 0) /* PING and SET_WATCHES replies: liveness only */
        return m->op == WIRE_OP_PING || m->op == WIRE_OP_SET_WATCHES
                   ? 0
                   : COORD_EPROTO;
    if (m->err == COORD_ESESSIONEXPIRED) {
        session_dead(c, COORD_ESESSIONEXPIRED, COORD_STATE_EXPIRED);
        return 1;
    }
    pthread_mutex_lock(&c->mu);
    struct coord__req *r = coord__reqtab_take(&c->reqs, m->xid);
    if (r != NULL)
        pthread_cond_broadcast(&c->slot_cv);
    pthread_mutex_unlock(&c->mu);
    if (r == NULL)
        return 0; /* it timed out earlier */
    if (r->op != m->op) {
        coord__complete(c, r, NULL, COORD_EPROTO);
        return COORD_EPROTO;
    }
    if (r->cb_kind == COORD__CB_INTERNAL)
        c->close_done = true;
    coord__complete(c, r, m, m->err);
    return 0;
}

/* Decodes and handles every whole frame in the input buffer. */
static int read_frames(struct coord_client *c)
{
    size_t off = 0;
    int err = 0;
    while (err == 0) {
        size_t fb;
        err = wire_frame_check(c->in + off, c->in_len - off,
                               c->lim.frame_bytes_max, &fb);
        if (err == COORD_EAGAIN) {
            err = 0;
            if (fb > c->in_cap) {
                uint8_t *p = coord_realloc(c->in, fb);
                if (p == NULL)
                    return COORD_ENOMEM;
                c->in = p;
                c->in_cap = fb;
            }
            break;
        }
        if (err != 0)
            break;
        struct wire_resp m;
        err = wire_decode_resp(c->in + off + WIRE_PREFIX_BYTES,
                               fb - WIRE_PREFIX_BYTES, &c->lim, &m);
        if (err == 0)
            err = on_frame(c, &m);
        off += fb;
    }
    if (err == 0 && off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return err;
}

static int do_read(struct coord_client *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == 0)
            return COORD_ECONNLOSS;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : COORD_EIO;
        c->in_len += (size_t)n;
        c->last_recv_ms = coord__now_ms();
        int err = read_frames(c);
        if (err != 0 || c->fd < 0)
            return err;
    }
}

static int do_write(struct coord_client *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : COORD_EIO;
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    return 0;
}

/* Moves unsent requests into the output buffer, in xid order; none while
 * a move to the leader waits for the written ones to be answered. */
static int flush_requests(struct coord_client *c)
{
    int err = 0;
    if (c->move_pending)
        return 0;
    pthread_mutex_lock(&c->mu);
    struct coord__req *r = coord__reqtab_next_unsent(&c->reqs);
    for (; r != NULL && err == 0 && c->out_len < CLIENT_OUT_BYTES_HIGH;
         r = r->next) {
        err = out_append(c, r->frame.data, r->frame.len);
        r->sent = err == 0;
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

static void send_ping(struct coord_client *c)
{
    struct wire_req q = {.op = WIRE_OP_PING, .xid = 0};
    c->last_ping_ms = coord__now_ms();
    if (send_ctl(c, &q) != 0)
        conn_fail(c);
}

/* The silence bound passed. Bytes may be waiting unread (callbacks kept
 * this thread busy), so read first; a server that is still silent is hung
 * or cut off: move on. */
static void check_silence(struct coord_client *c)
{
    int err = do_read(c);
    if (err < 0)
        conn_fail(c);
    else if (err == 0 && c->conn == COORD__CONN_READY &&
             coord__now_ms() >= c->last_recv_ms + c->opts.silent_timeout_ms)
        conn_fail(c);
}

/* When to ping: after ping_interval of not sending, and also after
 * ping_interval of not hearing anything (a busy client still learns that
 * its server is alive: the server answers a PING at once, ahead of
 * requests waiting for the disk), at most once per interval. */
static uint64_t next_ping(const struct coord_client *c)
{
    uint64_t quiet = c->last_recv_ms > c->last_ping_ms ? c->last_recv_ms
                                                       : c->last_ping_ms;
    uint64_t a = c->last_send_ms + c->opts.ping_interval_ms;
    uint64_t b = quiet + c->opts.ping_interval_ms;
    return a < b ? a : b;
}

/* Time-driven work: request deadlines, connect and handshake deadlines,
 * server silence, pings, the backoff timer. */
static void run_timers(struct coord_client *c, uint64_t now)
{
    struct coord__req *late;

    pthread_mutex_lock(&c->mu);
    coord__reqtab_expire(&c->reqs, now, &late);
    pthread_mutex_unlock(&c->mu);
    complete_list(c, late, COORD_ETIMEDOUT);
    now = coord__now_ms(); /* callbacks may have taken a while */

    switch (c->conn) {
    case COORD__CONN_IDLE:
        if (now >= c->conn_deadline_ms && !c->closing_seen)
            conn_start(c);
        break;
    case COORD__CONN_CONNECTING:
    case COORD__CONN_HELLO:
        if (now >= c->conn_deadline_ms)
            conn_fail(c);
        break;
    case COORD__CONN_READY:
        if (c->leader_check_ms != 0 && now >= c->leader_check_ms) {
            c->leader_check_ms = 0;
            if (coord__ask_leader(c) != 0)
                c->leader_check_ms = now + c->opts.leader_recheck_ms;
        }
        if (now >= c->last_recv_ms + c->opts.silent_timeout_ms)
            check_silence(c);
        else if (now >= next_ping(c))
            send_ping(c);
        break;
    }
}

static uint64_t next_wakeup(struct coord_client *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t t = coord__reqtab_next_deadline(&c->reqs);
    pthread_mutex_unlock(&c->mu);
    uint64_t d = UINT64_MAX;
    if (c->conn == COORD__CONN_READY) {
        d = c->last_recv_ms + c->opts.silent_timeout_ms;
        uint64_t p = next_ping(c);
        d = p < d ? p : d;
        if (c->leader_check_ms != 0 && c->leader_check_ms < d)
            d = c->leader_check_ms;
        uint64_t m = c->move_since_ms + c->opts.leader_recheck_ms;
        if (c->move_pending && m < d)
            d = m;
    } else if (!c->closing_seen || c->conn != COORD__CONN_IDLE) {
        d = c->conn_deadline_ms;
    }
    return d < t ? d : t;
}

/* prefer_leader: once nothing written is unanswered (a request in flight
 * would fail with COORD_ECONNLOSS), leave this server for the leader and
 * resume the session there. The unsent requests wait for the new
 * connection, as after any reconnect. */
static void maybe_move(struct coord_client *c)
{
    if (c->conn != COORD__CONN_READY || c->closing_seen) {
        c->move_pending = false;
        return;
    }
    pthread_mutex_lock(&c->mu);
    bool busy = coord__reqtab_any_sent(&c->reqs);
    pthread_mutex_unlock(&c->mu);
    uint64_t now = coord__now_ms();
    if (busy && now >= c->move_since_ms + c->opts.leader_recheck_ms) {
        /* a slow request holds the others back: stay, ask again later */
        c->move_pending = false;
        c->leader_check_ms = now + c->opts.leader_recheck_ms;
        return;
    }
    if (busy)
        return;
    conn_reset(c);
    c->conn = COORD__CONN_IDLE;
    c->move_pending = false;
    c->move = COORD__MOVE_TO_LEADER;
    c->move_from = c->server_idx;
    c->server_idx = (c->move_to + c->n_servers - 1) % c->n_servers;
    conn_start(c); /* takes server_idx + 1 */
}

/* A non-blocking connect finished (POLLOUT): check it, then say HELLO. */
static void on_connected(struct coord_client *c)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
        soerr != 0 || send_hello(c) != 0)
        conn_fail(c);
}

static void on_socket(struct coord_client *c, short revents)
{
    int err = 0;
    if (c->conn == COORD__CONN_CONNECTING) {
        if (revents & (POLLOUT | POLLERR | POLLHUP))
            on_connected(c);
        return;
    }
    if (revents & (POLLIN | POLLERR | POLLHUP))
        err = do_read(c);
    if (err == 0 && c->fd >= 0 && (revents & POLLOUT))
        err = do_write(c);
    if (err < 0)
        conn_fail(c);
}

/* First sight of coord_close(): a CLOSE request if a session is up. */
static void begin_close(struct coord_client *c)
{
    c->closing_seen = true;
    if (c->conn != COORD__CONN_READY)
        return;
    struct coord__req *r = coord__req_new(c->lim.frame_bytes_max);
    if (r == NULL)
        return;
    r->op = WIRE_OP_CLOSE;
    r->cb_kind = COORD__CB_INTERNAL;
    pthread_mutex_lock(&c->mu);
    r->xid = c->next_xid++;
    r->deadline_ms = coord__now_ms() + c->opts.request_timeout_ms;
    struct wire_req q = {.op = WIRE_OP_CLOSE, .xid = r->xid};
    int err = wire_encode_req(&r->frame, &q, &c->lim);
    if (err == 0) {
        c->reqs.cap++; /* CLOSE always fits */
        err = coord__reqtab_add(&c->reqs, r);
    }
    pthread_mutex_unlock(&c->mu);
    if (err != 0)
        coord__req_free(r);
    else
        c->close_sent = true;
}

/* Waits for the socket, a wakeup or the next timer, at most max_ms (-1:
 * no cap), then handles what is ready. */
static void poll_once(struct coord_client *c, int max_ms)
{
    struct pollfd p[2] = {{.fd = c->wake_fd, .events = POLLIN}};
    nfds_t n = 1;
    if (c->fd >= 0) {
        p[1].fd = c->fd;
        p[1].events = POLLIN;
        if (c->conn == COORD__CONN_CONNECTING || c->out_len > 0)
            p[1].events |= POLLOUT;
        n = 2;
    }
    uint64_t now = coord__now_ms(), at = next_wakeup(c);
    int ms = at == UINT64_MAX ? -1
             : at <= now      ? 0
             : at - now > 60000 ? 60000
                                : (int)(at - now);
    if (max_ms >= 0 && (ms < 0 || ms > max_ms))
        ms = max_ms;
    if (poll(p, n, ms) < 0)
        return; /* EINTR: the loop recomputes */
    if (p[0].revents & POLLIN) {
        uint64_t v;
        ssize_t r = read(c->wake_fd, &v, sizeof(v));
        (void)r;
    }
    if (n == 2 && p[1].revents != 0)
        on_socket(c, p[1].revents);
}

uint64_t coord__io_next_wakeup(struct coord_client *c)
{
    return next_wakeup(c);
}

bool coord__io_round(struct coord_client *c, int max_wait_ms)
{
    pthread_mutex_lock(&c->mu);
    bool closing = c->closing;
    pthread_mutex_unlock(&c->mu);
    if (closing && !c->closing_seen)
        begin_close(c);
    if (c->closing_seen && (!c->close_sent || c->close_done))
        return false;
    run_timers(c, coord__now_ms());
    if (c->move_pending)
        maybe_move(c);
    if (c->conn == COORD__CONN_READY && flush_requests(c) != 0)
        conn_fail(c);
    if (c->fd >= 0 && c->conn != COORD__CONN_CONNECTING &&
        c->out_len > 0 && do_write(c) != 0)
        conn_fail(c);
    /* The CLOSE may have ended in this very round (a connection loss
     * fails it): with no connection and no request left, the poll below
     * would wait forever (coord_close hung joining the I/O thread). */
    if (c->closing_seen && c->close_done)
        return false;
    poll_once(c, max_wait_ms);
    return true;
}

void coord__io_finish(struct coord_client *c)
{
    conn_reset(c);
    session_dead(c, COORD_ECLOSED, COORD_STATE_CLOSED);
}

static void *io_main(void *arg)
{
    struct coord_client *c = arg;
    pthread_mutex_lock(&c->mu); /* coord_open() has set c->thread */
    coord_assert(c->io_started);
    pthread_mutex_unlock(&c->mu);
    while (coord__io_round(c, -1))
        continue;
    coord__io_finish(c);
    return NULL;
}

/* ---- Public lifecycle ---------------------------------------------------- */

/* xids of a session must keep increasing across the clients that use it:
 * the server applies a write once per (session, xid) and answers an old
 * xid from its cache. A client resuming a session another process opened
 * cannot know the last xid used, so it starts at the wall clock in
 * microseconds: above any count an earlier client could have reached
 * (it started lower, at 1 or at an earlier time), as long as the clock
 * does not step back. */
static int64_t resume_first_xid(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int client_init(struct coord_client *c, const struct coord_options *o)
{
    int err = coord__options_resolve(o, &c->opts);
    if (err != 0)
        return err;
    err = coord__servers_parse(c->opts.servers, c->servers,
                               COORD_SERVERS_MAX, &c->n_servers);
    if (err != 0)
        return err;
    c->opts.servers = NULL; /* borrowed only for coord_open() */
    coord__rng_seed(&c->rng);
    coord__servers_shuffle(&c->rng, c->servers, c->n_servers);
    c->server_idx = c->n_servers - 1; /* the first attempt takes [0] */
    c->fd = -1;
    c->ep_fd = -1;
    c->timer_fd = -1;
    c->next_xid = 1;
    c->state = COORD_STATE_CONNECTING;
    wire_limits_default(&c->lim);
    coord__reqtab_init(&c->reqs, COORD_INFLIGHT_MAX);
    coord__watchtab_init(&c->watches, COORD_CLIENT_WATCHES_MAX);
    if (o->resume_session_id != 0) {
        c->session_id = o->resume_session_id;
        memcpy(c->secret, o->resume_secret, COORD_SECRET_BYTES);
        c->have_session = true;
        c->next_xid = resume_first_xid();
    }
    c->in = coord_malloc(CLIENT_IN_BYTES_MIN);
    if (c->in == NULL)
        return COORD_ENOMEM;
    c->in_cap = CLIENT_IN_BYTES_MIN;
    return 0;
}

int coord_open(struct coord_client **out, const struct coord_options *opts)
{
    pthread_condattr_t ca;
    int err = COORD_EIO;

    *out = NULL;
    if (opts == NULL)
        return COORD_EINVAL;
    struct coord_client *c = coord_calloc(1, sizeof(*c));
    if (c == NULL)
        return COORD_ENOMEM;
    err = client_init(c, opts);
    if (err != 0)
        goto out_free;
    err = COORD_EIO;
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0)
        goto out_free;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->slot_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&c->users_cv, NULL);
    if (c->opts.external_loop) {
        if (coord__drive_init(c) != 0)
            goto out_destroy;
        *out = c;
        return 0;
    }
    pthread_mutex_lock(&c->mu); /* publish c->thread before it runs */
    if (pthread_create(&c->thread, NULL, io_main, c) != 0) {
        pthread_mutex_unlock(&c->mu);
        goto out_destroy;
    }
    c->io_started = true;
    pthread_mutex_unlock(&c->mu);
    *out = c;
    return 0;

out_destroy:
    pthread_cond_destroy(&c->users_cv);
    pthread_cond_destroy(&c->slot_cv);
    pthread_mutex_destroy(&c->mu);
    close(c->wake_fd);
out_free:
    coord_free(c->in);
    coord_free(c);
    return err;
}

int coord_close(struct coord_client *c)
{
    if (c == NULL)
        return 0;
    if (coord__on_io_thread(c))
        return COORD_EBUSY;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->slot_cv);
    pthread_mutex_unlock(&c->mu);
    coord__wake(c);
    if (c->opts.external_loop)
        coord__drive_close(c); /* runs the loop here until it ends */
    else
        pthread_join(c->thread, NULL);
    coord_assert(c->reqs.n == 0);
    /* Every request has completed; let woken sync callers leave. */
    pthread_mutex_lock(&c->mu);
    while (c->users > 0)
        pthread_cond_wait(&c->users_cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    coord__watchtab_free(&c->watches);
    coord__drive_free(c);
    close(c->wake_fd);
    pthread_cond_destroy(&c->users_cv);
    pthread_cond_destroy(&c->slot_cv);
    pthread_mutex_destroy(&c->mu);
    coord_free(c->in);
    coord_free(c->out);
    coord_free(c);
    return 0;
}

int coord_state(struct coord_client *c)
{
    pthread_mutex_lock(&c->mu);
    int s = c->state;
    pthread_mutex_unlock(&c->mu);
    return s;
}

int coord_session(struct coord_client *c, uint64_t *session_id,
                  uint8_t *secret)
{
    int err = COORD_EAGAIN;
    pthread_mutex_lock(&c->mu);
    if (c->have_session && c->timeout_ms != 0) {
        if (session_id != NULL)
            *session_id = c->session_id;
        if (secret != NULL)
            memcpy(secret, c->secret, COORD_SECRET_BYTES);
        err = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

int coord_session_timing(struct coord_client *c, uint32_t *timeout_ms,
                         uint64_t *heard_ago_ms)
{
    uint64_t now = coord__now_ms();
    int err = COORD_EAGAIN;
    pthread_mutex_lock(&c->mu);
    if (c->have_session && c->timeout_ms != 0) {
        if (timeout_ms != NULL)
            *timeout_ms = c->timeout_ms;
        if (heard_ago_ms != NULL)
            *heard_ago_ms = now > c->answered_ms ? now - c->answered_ms : 0;
        err = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

uint64_t coord_last_zxid(struct coord_client *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t z = c->last_zxid;
    pthread_mutex_unlock(&c->mu);
    return z;
}

void coord_free_mem(void *p)
{
    coord_free(p);
}

void *coord_alloc_mem(size_t size)
{
    return size == 0 ? NULL : coord_calloc(1, size);
}

/* Waits for a free request slot; mu held. */
static int wait_slot(struct coord_client *c, bool block, uint64_t deadline)
{
    while (!c->closing && !c->dead && coord__reqtab_full(&c->reqs)) {
        if (!block)
            return COORD_EAGAIN;
        struct timespec ts = {(time_t)(deadline / 1000),
                              (long)(deadline % 1000) * 1000000};
        if (pthread_cond_timedwait(&c->slot_cv, &c->mu, &ts) == ETIMEDOUT)
            return COORD_ETIMEDOUT;
    }
    if (c->closing)
        return COORD_ECLOSED;
    if (c->dead)
        return c->dead_err;
    return 0;
}

/* coord__on_io_thread() without taking mu (held by the caller): the
 * I/O thread's own mode only; an external loop's driver must be woken
 * (its round may already be past the point that sends). */
static bool submit_on_io_thread(struct coord_client *c)
{
    return !c->opts.external_loop && c->io_started &&
           pthread_equal(pthread_self(), c->thread);
}

int coord__submit(struct coord_client *c, struct coord__req *r,
                  coord__encode_fn enc, const void *arg, bool block)
{
    uint64_t now = coord__now_ms();
    pthread_mutex_lock(&c->mu);
    int err = wait_slot(c, block, now + c->opts.request_timeout_ms);
    if (err == 0) {
        /* Read under mu: deadlines then grow with xids (request.c). */
        now = coord__now_ms();
        r->xid = c->next_xid++;
        r->deadline_ms = now + c->opts.request_timeout_ms;
        err = enc(c, r, arg);
    }
    if (err == 0)
        err = coord__reqtab_add(&c->reqs, r);
    /* Under mu: c is not touched after the unlock. Not from the I/O
     * thread itself (a completion callback issuing the next request):
     * its round sends unsent requests before it polls again, so the
     * eventfd write and the extra poll round would be pure cost. */
    if (err == 0 && !submit_on_io_thread(c))
        coord__wake(c);
    pthread_mutex_unlock(&c->mu);
    if (err != 0)
        coord__req_free(r);
    return err;
}
