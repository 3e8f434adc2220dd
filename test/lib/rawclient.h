/* rawclient.h -- a blocking, single-threaded protocol client for tests,
 * built directly on the real codec (libcoord/shared/wire.h): it sends
 * requests and reads responses and watch events frame by frame, so tests
 * can check exactly what the server puts on the wire, including its
 * answers to malformed input. Not libcoord: no reconnects, no threads. */
#ifndef TEST_RAWCLIENT_H
#define TEST_RAWCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcoord/shared/wire.h"

struct rawc {
    int fd;
    int64_t next_xid;
    struct wire_limits lim;
    uint8_t *in;         /* last frame read */
    size_t in_cap;
    struct wire_buf out;
    uint64_t session_id;
    uint8_t secret[32];
    uint32_t timeout_ms;
    uint64_t last_zxid;
};

/* Connects (5 s receive timeout). Returns 0 or -1. */
int rawc_connect(struct rawc *c, const char *host, uint16_t port);
void rawc_close(struct rawc *c);
/* HELLO: session_id 0 opens a new session. Returns the reply's err. */
int rawc_hello(struct rawc *c, uint64_t session_id, const uint8_t *secret,
               uint32_t timeout_ms);
/* Sends one request (xid assigned if req->xid == 0 and op != HELLO).
 * Returns the xid, or -1. */
int64_t rawc_send(struct rawc *c, struct wire_req *req);
/* Sends raw bytes. */
int rawc_send_raw(struct rawc *c, const void *p, size_t n);
/* Reads the next frame (response or event) into *resp (borrowed until the
 * next read). Returns 0, -1 on EOF/timeout, or a decode error. */
int rawc_read(struct rawc *c, struct wire_resp *resp);
/* Reads until the response with xid arrives; events seen on the way are
 * counted into *events (may be NULL). Returns 0 or -1. */
int rawc_wait(struct rawc *c, int64_t xid, struct wire_resp *resp,
              int *events);

/* Conveniences: one request, wait for its reply, return its err. */
int rawc_create(struct rawc *c, const char *path, const char *data,
                uint32_t mode, char *out_path, size_t out_len);
int rawc_set(struct rawc *c, const char *path, const char *data,
             int32_t version, struct coord_stat *st);
int rawc_get(struct rawc *c, const char *path, uint32_t flags, char *data,
             size_t cap, struct coord_stat *st);
int rawc_delete(struct rawc *c, const char *path, int32_t version);
int rawc_exists(struct rawc *c, const char *path, uint32_t flags,
                struct coord_stat *st);

#endif /* TEST_RAWCLIENT_H */
