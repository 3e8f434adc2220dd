/* gen_wire_corpus.c -- writes the seed corpus of fuzz_wire into a directory:
 * one valid frame (prefix + body) and one bare body per request and
 * response type, a pipelined stream of all of them, and a few malformed
 * inputs. Run by `make fuzz-corpus-wire`; its output is committed in
 * test/fuzz/corpus/wire/. grown/ beside them holds inputs the fuzzer found
 * (merged with -merge=1); crashers found later are added by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "libcoord/shared/wire.h"

static const char *dir;
static struct wire_limits lim;
static struct wire_buf all;

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_wire_corpus: cannot write %s\n", path);
        exit(1);
    }
}

/* Writes name.frame and name.body from the frame just encoded into b. */
static void emit(const char *name, struct wire_buf *b, int rc)
{
    char fn[256];
    if (rc != 0) {
        fprintf(stderr, "gen_wire_corpus: %s: encode failed %d\n", name, rc);
        exit(1);
    }
    snprintf(fn, sizeof(fn), "%s.frame", name);
    write_file(fn, b->data, b->len);
    snprintf(fn, sizeof(fn), "%s.body", name);
    write_file(fn, b->data + 4, b->len - 4);
    if (all.cap - all.len >= b->len) {
        memcpy(all.data + all.len, b->data, b->len);
        all.len += b->len;
    }
    wire_buf_free(b);
}

static void req(const char *name, struct wire_req *q)
{
    struct wire_buf b;
    wire_buf_init(&b, 1 << 22);
    emit(name, &b, wire_encode_req(&b, q, &lim));
}

static void resp(const char *name, struct wire_resp *s)
{
    struct wire_buf b;
    wire_buf_init(&b, 1 << 22);
    emit(name, &b, wire_encode_resp(&b, s, &lim));
}

static struct wire_bytes B(const char *s)
{
    struct wire_bytes b = {s, (uint32_t)strlen(s)};
    return b;
}

static const char secret[COORD_SECRET_BYTES] = "0123456789abcdef0123456789abcde";
static const struct coord_stat stat = {
    .czxid = 5, .mzxid = 70000, .pzxid = 1ull << 40, .ctime_ms = 1700000000000,
    .mtime_ms = -1, .version = 3, .cversion = -7, .aversion = 0,
    .ephemeral_owner = 99, .data_length = 4, .num_children = 2};

static void requests(void)
{
    static const struct wire_multi_op ops[] = {
        {.op = WIRE_OP_CREATE, .path = {"/m/a", 4}, .data = {"xyz", 3},
         .mode = COORD_EPHEMERAL | COORD_SEQUENTIAL},
        {.op = WIRE_OP_DELETE, .path = {"/m/b", 4}, .version = -1},
        {.op = WIRE_OP_SET, .path = {"/m/c", 4}, .data = {"v", 1}},
        {.op = WIRE_OP_CHECK, .path = {"/m", 2}, .version = 2}};
    static const struct wire_bytes paths[] = {{"/a", 2}, {"/b/c", 4}};
    struct wire_req q;
    memset(&q, 0, sizeof(q));
    q.op = WIRE_OP_HELLO;
    q.u.hello = (struct wire_hello){1, 77, {secret, 32}, 10000, 42,
                                    WIRE_HELLO_READ_ONLY};
    req("req_hello_resume", &q);
    q.u.hello = (struct wire_hello){1, 0, {NULL, 0}, 10000, 0, 0};
    req("req_hello_new", &q);
    memset(&q, 0, sizeof(q));
    q.xid = 1;
    q.op = WIRE_OP_CLOSE;
    req("req_close", &q);
    q.op = WIRE_OP_PING;
    req("req_ping", &q);
    q.op = WIRE_OP_CREATE;
    q.u.create = (struct wire_create){B("/app/x"), B("data"), COORD_TTL,
                                      60000};
    req("req_create", &q);
    q.op = WIRE_OP_DELETE;
    q.u.pv = (struct wire_path_version){B("/app/x"), 3};
    req("req_delete", &q);
    q.op = WIRE_OP_CHECK;
    req("req_check", &q);
    q.op = WIRE_OP_EXISTS;
    q.u.read = (struct wire_read){B("/app"), WIRE_READ_WATCH};
    req("req_exists", &q);
    q.op = WIRE_OP_GET;
    q.u.read.flags = WIRE_READ_LOCAL;
    req("req_get", &q);
    q.op = WIRE_OP_SET;
    q.u.set = (struct wire_set){B("/app"), B("new"), -1};
    req("req_set", &q);
    q.op = WIRE_OP_CHILDREN;
    q.u.children = (struct wire_children_req){B("/app"), WIRE_READ_STATS,
                                              B("x-001"), 8};
    req("req_children", &q);
    memset(&q.u, 0, sizeof(q.u));
    q.op = WIRE_OP_MULTI;
    q.u.multi.n = 4;
    q.u.multi.ops = ops;
    req("req_multi", &q);
    q.op = WIRE_OP_SYNC;
    q.u.path = B("/");
    req("req_sync", &q);
    q.op = WIRE_OP_ADD_WATCH;
    q.u.watch = (struct wire_watch_req){B("/app"),
                                        COORD_WATCH_PERSISTENT_RECURSIVE};
    req("req_add_watch", &q);
    q.op = WIRE_OP_REMOVE_WATCH;
    q.u.watch.kind = COORD_WATCH_CHILDREN;
    req("req_remove_watch", &q);
    memset(&q.u, 0, sizeof(q.u));
    q.op = WIRE_OP_SET_WATCHES;
    q.u.set_watches.last_zxid = 1000;
    for (int k = 0; k < WIRE_WATCH_KINDS; k++) {
        q.u.set_watches.kinds[k].n = (uint32_t)(k % 3);
        q.u.set_watches.kinds[k].paths = paths;
    }
    req("req_set_watches", &q);
}

static void responses(void)
{
    static const struct wire_child kids[] = {{{"a", 1}, {0}},
                                             {{"b-0000000001", 12}, {0}}};
    static struct wire_op_result res[] = {
        {.op = WIRE_OP_CREATE, .path = {"/m/a0000000001", 14}},
        {.op = WIRE_OP_SET},
        {.op = WIRE_OP_DELETE},
        {.op = WIRE_OP_CHECK, .err = COORD_EBADVERSION}};
    res[0].stat = stat;
    res[1].stat = stat;
    struct wire_resp s;
    memset(&s, 0, sizeof(s));
    s.xid = 1;
    s.zxid = 500;
    s.op = WIRE_OP_HELLO;
    s.u.hello = (struct wire_hello_reply){1, 77, {secret, 32}, 10000,
                                          {0}, 2, 1, 0};
    wire_limits_default(&s.u.hello.limits);
    resp("resp_hello", &s);
    uint32_t bodyless[] = {WIRE_OP_CLOSE,        WIRE_OP_PING,
                           WIRE_OP_DELETE,       WIRE_OP_CHECK,
                           WIRE_OP_SYNC,         WIRE_OP_ADD_WATCH,
                           WIRE_OP_REMOVE_WATCH, WIRE_OP_SET_WATCHES};
    for (size_t i = 0; i < sizeof(bodyless) / sizeof(bodyless[0]); i++) {
        char name[64];
        memset(&s.u, 0, sizeof(s.u));
        s.op = bodyless[i];
        snprintf(name, sizeof(name), "resp_%s", wire_op_name(s.op));
        resp(name, &s);
    }
    s.op = WIRE_OP_CREATE;
    s.u.created = (struct wire_created){B("/app/x"), stat};
    resp("resp_create", &s);
    s.op = WIRE_OP_EXISTS;
    s.u.stat = stat;
    resp("resp_exists", &s);
    s.op = WIRE_OP_SET;
    resp("resp_set", &s);
    s.op = WIRE_OP_GET;
    s.u.get = (struct wire_data){B("data"), stat};
    resp("resp_get", &s);
    memset(&s.u, 0, sizeof(s.u));
    s.op = WIRE_OP_CHILDREN;
    s.u.children.more = true;
    s.u.children.n = 2;
    s.u.children.entries = kids;
    resp("resp_children", &s);
    s.u.children.with_stats = true;
    resp("resp_children_stats", &s);
    memset(&s.u, 0, sizeof(s.u));
    s.op = WIRE_OP_MULTI;
    s.u.multi.n = 4;
    s.u.multi.results = res;
    resp("resp_multi", &s);
    memset(&s.u, 0, sizeof(s.u));
    s.op = WIRE_OP_GET;
    s.err = COORD_ENONODE;
    resp("resp_error", &s);
    s.err = 0;
    s.op = WIRE_OP_WATCH_EVENT;
    s.xid = WIRE_XID_EVENT;
    s.u.event = (struct wire_event){COORD_EVENT_MUST_REREAD, B("/")};
    resp("event_must_reread", &s);
    s.u.event = (struct wire_event){COORD_EVENT_DATA_CHANGED, B("/app")};
    resp("event_data_changed", &s);
}

static void malformed(void)
{
    static const uint8_t too_big[] = {0xff, 0xff, 0xff, 0xff, 0x92, 3, 1};
    static const uint8_t zero_len[] = {0, 0, 0, 0};
    static const uint8_t truncated[] = {0, 0, 0, 9, 0x94, 13, 1, 0xa2, '/'};
    static const uint8_t not_array[] = {0, 0, 0, 2, 0xa1, 'x'};
    static const uint8_t nested[] = {0, 0, 0, 8, 0x91, 0x91, 0x91, 0x91,
                                     0x91, 0x91, 0x91, 0x90};
    static const uint8_t huge_count[] = {0x93, 17, 1, 0xdd, 0xff, 0xff,
                                         0xff, 0xff};
    static const uint8_t lying_bin[] = {0x95, 14, 1, 0xa2, '/', 'a', 0xc6,
                                        0x7f, 0xff, 0xff, 0xff, 0};
    static const uint8_t unknown_op[] = {0x92, 0xcd, 0x01, 0x00, 1};
    write_file("bad_too_big", too_big, sizeof(too_big));
    write_file("bad_zero_len", zero_len, sizeof(zero_len));
    write_file("bad_truncated", truncated, sizeof(truncated));
    write_file("bad_not_array", not_array, sizeof(not_array));
    write_file("bad_nested", nested, sizeof(nested));
    write_file("bad_huge_count", huge_count, sizeof(huge_count));
    write_file("bad_lying_bin", lying_bin, sizeof(lying_bin));
    write_file("bad_unknown_op", unknown_op, sizeof(unknown_op));
}

/* Admin operations (100..104): generated after stream_all is written,
 * so the older seeds stay byte-identical. */
static void admin(void)
{
    static const struct wire_member ms[] = {
        {1, WIRE_ROLE_VOTER, {"127.0.0.1:2281", 14}, 900, 0},
        {4, WIRE_ROLE_LEARNER, {"127.0.0.4:2281", 14}, 850, 50},
    };
    struct wire_req q = {.op = WIRE_OP_STATUS, .xid = 1};
    req("req_status", &q);
    q.op = WIRE_OP_MEMBER_ADD;
    q.u.member.id = 4;
    q.u.member.client_addr = B("127.0.0.4:2281");
    q.u.member.peer_addr = B("127.0.0.4:2381");
    req("req_member_add", &q);
    q.op = WIRE_OP_MEMBER_PROMOTE;
    req("req_member_promote", &q);
    q.op = WIRE_OP_MEMBER_REMOVE;
    req("req_member_remove", &q);
    q.op = WIRE_OP_LEADER_TRANSFER;
    q.u.member.id = 0;
    req("req_leader_transfer", &q);
    struct wire_resp r = {.op = WIRE_OP_STATUS, .xid = 1, .zxid = 900};
    r.u.status = (struct wire_status){
        .server_id = 1, .role = 4, .term = 3, .leader_id = 1,
        .commit = 900, .applied = 900, .last_index = 900,
        .snap_index = 512, .sessions = 2, .watches = 5, .connections = 2,
        .n = 2, .members = ms};
    resp("resp_status", &r);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s dir\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    wire_limits_default(&lim);
    static uint8_t stream_mem[1 << 16];
    wire_buf_init_fixed(&all, stream_mem, sizeof(stream_mem));
    requests();
    responses();
    write_file("stream_all", all.data, all.len);
    malformed();
    admin();
    return 0;
}
