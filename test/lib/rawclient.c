/* rawclient.c -- see rawclient.h: a blocking test client on the codec. */
#include "rawclient.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "libcoord/shared/alloc.h"

int rawc_connect(struct rawc *c, const char *host, uint16_t port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    wire_limits_default(&c->lim);
    wire_buf_init(&c->out, 64u << 20);
    c->next_xid = 1;
    return 0;
}

void rawc_close(struct rawc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    wire_buf_free(&c->out);
    coord_free(c->in);
    c->in = NULL;
}

int rawc_send_raw(struct rawc *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int64_t rawc_send(struct rawc *c, struct wire_req *req)
{
    if (req->xid == 0 && req->op != WIRE_OP_HELLO)
        req->xid = c->next_xid++;
    wire_buf_reset(&c->out);
    if (wire_encode_req(&c->out, req, &c->lim) != 0)
        return -1;
    if (rawc_send_raw(c, c->out.data, c->out.len) != 0)
        return -1;
    return req->xid;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int rawc_read(struct rawc *c, struct wire_resp *resp)
{
    uint8_t pre[4];
    if (read_full(c->fd, pre, 4) != 0)
        return -1;
    uint32_t n = (uint32_t)pre[0] << 24 | (uint32_t)pre[1] << 16 |
                 (uint32_t)pre[2] << 8 | pre[3];
    if (n > COORD_FRAME_BYTES_MAX)
        return -1;
    if (n > c->in_cap) {
        coord_free(c->in);
        c->in = coord_malloc(n);
        c->in_cap = n;
    }
    if (read_full(c->fd, c->in, n) != 0)
        return -1;
    int rc = wire_decode_resp(c->in, n, &c->lim, resp);
    if (rc == 0 && resp->zxid > c->last_zxid)
        c->last_zxid = resp->zxid;
    return rc;
}

int rawc_wait(struct rawc *c, int64_t xid, struct wire_resp *resp,
              int *events)
{
    for (;;) {
        if (rawc_read(c, resp) != 0)
            return -1;
        if (resp->xid == xid)
            return 0;
        if (resp->xid == WIRE_XID_EVENT && events)
            (*events)++;
    }
}

int rawc_hello(struct rawc *c, uint64_t session_id, const uint8_t *secret,
               uint32_t timeout_ms)
{
    struct wire_req q = {.op = WIRE_OP_HELLO};
    q.u.hello.version = COORD_PROTOCOL_VERSION;
    q.u.hello.session_id = session_id;
    if (session_id)
        q.u.hello.secret = (struct wire_bytes){(const char *)secret, 32};
    q.u.hello.timeout_ms = timeout_ms;
    q.u.hello.last_zxid = c->last_zxid;
    if (rawc_send(c, &q) < 0)
        return -1;
    struct wire_resp r;
    if (rawc_wait(c, 0, &r, NULL) != 0)
        return -1;
    if (r.err == 0) {
        c->session_id = r.u.hello.session_id;
        memcpy(c->secret, r.u.hello.secret.ptr, 32);
        c->timeout_ms = r.u.hello.timeout_ms;
        c->lim = r.u.hello.limits;
    }
    return r.err;
}

static int call(struct rawc *c, struct wire_req *q, struct wire_resp *r)
{
    int64_t xid = rawc_send(c, q);
    if (xid < 0 || rawc_wait(c, xid, r, NULL) != 0)
        return COORD_ECONNLOSS;
    return r->err;
}

static struct wire_bytes bytes(const char *s)
{
    return (struct wire_bytes){s, s ? (uint32_t)strlen(s) : 0};
}

int rawc_create(struct rawc *c, const char *path, const char *data,
                uint32_t mode, char *out_path, size_t out_len)
{
    struct wire_req q = {.op = WIRE_OP_CREATE};
    q.u.create.path = bytes(path);
    q.u.create.data = bytes(data);
    q.u.create.mode = mode;
    struct wire_resp r;
    int rc = call(c, &q, &r);
    if (rc == 0 && out_path) {
        size_t n = r.u.created.path.len < out_len - 1 ? r.u.created.path.len
                                                      : out_len - 1;
        memcpy(out_path, r.u.created.path.ptr, n);
        out_path[n] = '\0';
    }
    return rc;
}

int rawc_set(struct rawc *c, const char *path, const char *data,
             int32_t version, struct coord_stat *st)
{
    struct wire_req q = {.op = WIRE_OP_SET};
    q.u.set.path = bytes(path);
    q.u.set.data = bytes(data);
    q.u.set.version = version;
    struct wire_resp r;
    int rc = call(c, &q, &r);
    if (rc == 0 && st)
        *st = r.u.stat;
    return rc;
}

int rawc_get(struct rawc *c, const char *path, uint32_t flags, char *data,
             size_t cap, struct coord_stat *st)
{
    struct wire_req q = {.op = WIRE_OP_GET};
    q.u.read.path = bytes(path);
    q.u.read.flags = flags;
    struct wire_resp r;
    int rc = call(c, &q, &r);
    if (rc == 0) {
        size_t n = r.u.get.data.len < cap - 1 ? r.u.get.data.len : cap - 1;
        memcpy(data, r.u.get.data.ptr, n);
        data[n] = '\0';
        if (st)
            *st = r.u.get.stat;
    }
    return rc;
}

int rawc_delete(struct rawc *c, const char *path, int32_t version)
{
    struct wire_req q = {.op = WIRE_OP_DELETE};
    q.u.pv.path = bytes(path);
    q.u.pv.version = version;
    struct wire_resp r;
    return call(c, &q, &r);
}

int rawc_exists(struct rawc *c, const char *path, uint32_t flags,
                struct coord_stat *st)
{
    struct wire_req q = {.op = WIRE_OP_EXISTS};
    q.u.read.path = bytes(path);
    q.u.read.flags = flags;
    struct wire_resp r;
    int rc = call(c, &q, &r);
    if (rc == 0 && st)
        *st = r.u.stat;
    return rc;
}
