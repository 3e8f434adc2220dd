/* wire.h -- the client protocol of coord: framing, opcodes, message structs,
 * encoders and decoders. The one definition of the protocol: coordd and
 * libcoord both link wire.c, and nothing else defines a message layout.
 * docs/protocol.md is the full specification; this comment is its summary.
 * Pure code: no I/O, no clock; allocation only inside struct wire_buf.
 * Decoders never allocate, never assert on input and point into the buffer.
 *
 * Frame: u32 big-endian N (1 <= N <= frame limit), then N bytes holding
 * exactly one msgpack array.
 *   request:   [opcode, xid, body...]          xid: int >= 0
 *   response:  [opcode, xid, zxid, err, body...]  err: 0 or a COORD_E* code;
 *              err != 0 => no body. opcode and xid echo the request's.
 *   event:     [WATCH_EVENT, -1, zxid, 0, type, path]   (server push)
 *
 * op  name          request body                   response body (err == 0)
 *  1  HELLO         version, session_id, secret,   version, session_id,
 *                   timeout_ms, last_zxid, flags   secret, timeout_ms,
 *                                                  frame_max, data_max,
 *                                                  path_max, multi_ops_max,
 *                                                  children_page_max,
 *                                                  server_id, leader_id, flags
 *  2  CLOSE         -                              -
 *  3  PING          -                              -
 * 10  CREATE        path, data, mode, ttl_ms, nil  path, stat
 * 11  DELETE        path, version                  -
 * 12  EXISTS        path, flags                    stat
 * 13  GET           path, flags                    data, stat
 * 14  SET           path, data, version            stat
 * 15  CHILDREN      path, flags, start_after,      more, with_stats, entries
 *                   max_count
 * 16  CHECK         path, version                  -
 * 17  MULTI         [op...]                        [result...]
 * 18  SYNC          path                           -
 * 30  ADD_WATCH     path, kind                     -
 * 31  REMOVE_WATCH  path, kind                     -
 * 32  SET_WATCHES   last_zxid, [data paths],       -
 *                   [exists], [children],
 *                   [persistent], [recursive]
 * 40  WATCH_EVENT   (server to client only)        type, path
 * 100 STATUS        -                              server_id, role, term,
 *                                                  leader_id, commit,
 *                                                  applied, last_index,
 *                                                  snap_index, sessions,
 *                                                  watches, connections,
 *                                                  digest_mismatches,
 *                                                  [member...]
 * 101 MEMBER_ADD    id, client_addr, peer_addr     -
 * 102 MEMBER_PROMOTE id                            -
 * 103 MEMBER_REMOVE id                             -
 * 104 LEADER_TRANSFER id (0 = best voter)          -
 * 105 SESSIONS      start_after                    more, [session...]
 * 106 SNAPSHOT_READ export_id, offset              export_id, index,
 *                                                  total, sum, chunk
 * 107 STATS         -                              requests, writes, reads,
 *                                                  errors, fsyncs,
 *                                                  fsync_p99_us,
 *                                                  write_p99_us,
 *                                                  leader_changes
 * 100-199 are admin operations, 200-299 reserved for cluster operations.
 *
 * Types: path, start_after, entry names = str; data, secret = bin (secret is
 * 0 or 32 bytes in HELLO, 32 in its reply); version = int in [-1, 2^31-1]
 * (-1: any); every other number is a non-negative uint; more/with_stats =
 * bool; stat = [czxid, mzxid, pzxid, ctime_ms, mtime_ms, version, cversion,
 * aversion, ephemeral_owner, data_length, num_children].
 * Multi op: [10, path, data, mode, ttl_ms, nil] | [11, path, version] |
 * [14, path, data, version] | [16, path, version]. Multi result:
 * [op, err] or, when err == 0, [10, 0, path, stat] / [14, 0, stat].
 * Children entry: name, or [name, stat] when with_stats.
 * Member (STATUS): [id, role (1 voter, 2 learner), client_addr "host:port",
 * match, lag]; match and lag are 0 unless the answering server leads.
 * Session (SESSIONS): [id, timeout_ms, ephemerals, server_id]; server_id is
 * the answering server's id when the session is connected to it, else 0;
 * sessions come in id order after start_after (0: from the first).
 * SNAPSHOT_READ: export_id 0 asks the server to serialize its tree now
 * (a new export, replacing the previous one); later chunks name the
 * export_id it returned (another export meanwhile: COORD_EAGAIN). index is
 * the zxid the snapshot reflects, total its bytes, sum the
 * wire_snapshot_sum() of all of them, chunk (bin) the bytes at offset.
 */
#ifndef COORD_WIRE_H
#define COORD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord.h"

/* Bytes of the length prefix of every frame. */
#define WIRE_PREFIX_BYTES 4
/* Reserved xid of server-pushed watch events. Requests use xid >= 0. */
#define WIRE_XID_EVENT (-1)
/* Largest opcode number; opcodes are 1..WIRE_OP_MAX. */
#define WIRE_OP_MAX 65535

/* Opcodes: numbers frozen, never reused. X(NAME, number, "name", request
 * body fields, response body fields); -1 = never sent in that direction. */
#define WIRE_OP_MAP(X)                                                       \
    X(HELLO, 1, "hello", 6, 12)                                              \
    X(CLOSE, 2, "close", 0, 0)                                               \
    X(PING, 3, "ping", 0, 0)                                                 \
    X(CREATE, 10, "create", 5, 2)                                            \
    X(DELETE, 11, "delete", 2, 0)                                            \
    X(EXISTS, 12, "exists", 2, 1)                                            \
    X(GET, 13, "get", 2, 2)                                                  \
    X(SET, 14, "set", 3, 1)                                                  \
    X(CHILDREN, 15, "children", 4, 3)                                        \
    X(CHECK, 16, "check", 2, 0)                                              \
    X(MULTI, 17, "multi", 1, 1)                                              \
    X(SYNC, 18, "sync", 1, 0)                                                \
    X(ADD_WATCH, 30, "add_watch", 2, 0)                                      \
    X(REMOVE_WATCH, 31, "remove_watch", 2, 0)                                \
    X(SET_WATCHES, 32, "set_watches", 6, 0)                                  \
    X(WATCH_EVENT, 40, "watch_event", -1, 2)                                 \
    X(STATUS, 100, "status", 0, 13)                                          \
    X(MEMBER_ADD, 101, "member_add", 3, 0)                                   \
    X(MEMBER_PROMOTE, 102, "member_promote", 1, 0)                           \
    X(MEMBER_REMOVE, 103, "member_remove", 1, 0)                             \
    X(LEADER_TRANSFER, 104, "leader_transfer", 1, 0)                         \
    X(SESSIONS, 105, "sessions", 1, 2)                                       \
    X(SNAPSHOT_READ, 106, "snapshot_read", 2, 5)                             \
    X(STATS, 107, "stats", 0, 8)

enum wire_op {
#define WIRE__OP_ENUM(name, num, str, rq, rs) WIRE_OP_##name = (num),
    WIRE_OP_MAP(WIRE__OP_ENUM)
#undef WIRE__OP_ENUM
};

/* Reserved opcode ranges for operations added later. */
#define WIRE_OP_ADMIN_FIRST 100
#define WIRE_OP_ADMIN_LAST 199
#define WIRE_OP_CLUSTER_FIRST 200
#define WIRE_OP_CLUSTER_LAST 299

/* HELLO flags (request and reply). */
#define WIRE_HELLO_READ_ONLY (1u << 0)
#define WIRE_HELLO_FLAGS_ALL WIRE_HELLO_READ_ONLY
/* Read flags of EXISTS, GET and CHILDREN. Reads are linearizable unless
 * WIRE_READ_LOCAL asks for the connected server's possibly stale view. */
#define WIRE_READ_WATCH (1u << 0)
#define WIRE_READ_LOCAL (1u << 1)
#define WIRE_READ_STATS (1u << 2) /* CHILDREN only: entries carry stats */
#define WIRE_READ_FLAGS_ALL                                                  \
    (WIRE_READ_WATCH | WIRE_READ_LOCAL | WIRE_READ_STATS)
/* Create mode bits defined by enum coord_create_mode. */
#define WIRE_CREATE_MODES_ALL                                                \
    (COORD_EPHEMERAL | COORD_SEQUENTIAL | COORD_CONTAINER | COORD_TTL)
/* SET_WATCHES carries one path list per kind, COORD_WATCH_DATA (index 0)
 * through COORD_WATCH_PERSISTENT_RECURSIVE (index 4). */
#define WIRE_WATCH_KINDS 5
/* STATUS: members per reply, and bytes of a "host:port" address. */
#define WIRE_MEMBERS_MAX 16
#define WIRE_ADDR_BYTES_MAX 128
/* Member roles in STATUS (the Raft core's numbers). */
#define WIRE_ROLE_VOTER 1
#define WIRE_ROLE_LEARNER 2
/* SESSIONS: sessions per reply. */
#define WIRE_SESSIONS_PAGE_MAX 1000
/* SNAPSHOT_READ: chunk bytes per reply, at most (and at most the data
 * limit). */
#define WIRE_SNAPSHOT_CHUNK_BYTES (512u * 1024)
/* Array fields of a coord_stat on the wire. */
#define WIRE_STAT_FIELDS 11

/* Sizes both peers enforce. The server's values travel in the HELLO reply;
 * each is at most the coord.h maximum of the same name. */
struct wire_limits {
    uint32_t frame_bytes_max;   /* msgpack bytes after the prefix */
    uint32_t data_bytes_max;
    uint32_t path_bytes_max;    /* also names and start_after */
    uint32_t multi_ops_max;     /* ops per MULTI and results per reply */
    uint32_t children_page_max; /* entries per CHILDREN reply */
};

/* Fills *lim with the coord.h maxima. */
void wire_limits_default(struct wire_limits *lim);
/* 0 if every limit is in [1, its coord.h maximum], else COORD_EINVAL. */
int wire_limits_check(const struct wire_limits *lim);

/* A string or byte string; borrowed from the decoded buffer (or from the
 * caller when encoding); not NUL-terminated. */
struct wire_bytes {
    const char *ptr;
    uint32_t len;
};

/* A validated list inside a decoded buffer, walked with wire_next_*().
 * Borrowed: valid while the buffer is. Copy it to walk it again. */
struct wire_iter {
    const uint8_t *pos;
    const uint8_t *end;
    uint32_t left;
    bool with_stats; /* children entries are [name, stat] */
    struct wire_limits lim;
};

/* One MULTI operation: op is CREATE, DELETE, SET or CHECK; unused fields
 * are ignored by the encoder and zeroed by the decoder. */
struct wire_multi_op {
    uint32_t op;
    struct wire_bytes path;
    struct wire_bytes data;   /* CREATE, SET */
    uint32_t mode;            /* CREATE: enum coord_create_mode bits */
    uint64_t ttl_ms;          /* CREATE */
    int32_t version;          /* DELETE, SET, CHECK; -1 = any */
};

/* One MULTI result: path is set for a successful CREATE, stat for a
 * successful CREATE or SET. */
struct wire_op_result {
    uint32_t op;
    int32_t err;
    struct wire_bytes path;
    struct coord_stat stat;
};

struct wire_child {
    struct wire_bytes name;
    struct coord_stat stat; /* only with stats */
};

/* Lists: to encode, point the array at n items; if the array is NULL the
 * encoder takes the n items from the iterator instead (re-encoding a decoded
 * message). The decoder sets n and the iterator and leaves the array NULL. */
struct wire_paths {
    uint32_t n;
    const struct wire_bytes *paths;
    struct wire_iter it;
};

struct wire_hello {
    uint32_t version;
    uint64_t session_id;      /* 0 = new session */
    struct wire_bytes secret; /* empty for a new session, else 32 bytes */
    uint32_t timeout_ms;
    uint64_t last_zxid;
    uint32_t flags; /* WIRE_HELLO_*; unknown bits are accepted, ignored */
};

struct wire_hello_reply {
    uint32_t version;
    uint64_t session_id;
    struct wire_bytes secret; /* COORD_SECRET_BYTES */
    uint32_t timeout_ms;
    struct wire_limits limits;
    uint64_t server_id;
    uint64_t leader_id; /* 0 = no leader known */
    uint32_t flags;
};

struct wire_create {
    struct wire_bytes path;
    struct wire_bytes data;
    uint32_t mode;
    uint64_t ttl_ms;
};

struct wire_path_version { /* DELETE, CHECK */
    struct wire_bytes path;
    int32_t version;
};

struct wire_read { /* EXISTS, GET */
    struct wire_bytes path;
    uint32_t flags; /* WIRE_READ_WATCH | WIRE_READ_LOCAL */
};

struct wire_set {
    struct wire_bytes path;
    struct wire_bytes data;
    int32_t version;
};

struct wire_children_req {
    struct wire_bytes path;
    uint32_t flags;                /* WIRE_READ_* */
    struct wire_bytes start_after; /* empty = from the first child */
    uint32_t max_count;            /* 0 = the server's page maximum */
};

struct wire_multi_req {
    uint32_t n;
    const struct wire_multi_op *ops;
    struct wire_iter it;
};

struct wire_watch_req { /* ADD_WATCH, REMOVE_WATCH */
    struct wire_bytes path;
    uint32_t kind; /* enum coord_watch_kind; ADD: PERSISTENT[_RECURSIVE] */
};

struct wire_set_watches {
    uint64_t last_zxid;
    struct wire_paths kinds[WIRE_WATCH_KINDS]; /* [kind - 1] */
};

/* MEMBER_ADD (all fields), MEMBER_PROMOTE, MEMBER_REMOVE and
 * LEADER_TRANSFER (id only; 0 = any for LEADER_TRANSFER). */
struct wire_member_req {
    uint64_t id;
    struct wire_bytes client_addr; /* "host:port" */
    struct wire_bytes peer_addr;   /* "host:port" */
};

/* STATS: the answering server's counters since it started (coordd's
 * metrics; p99s are the upper bound of the histogram bucket, 0 if empty). */
struct wire_stats {
    uint64_t requests;     /* replies sent */
    uint64_t writes;       /* replies to writes */
    uint64_t reads;        /* replies to reads */
    uint64_t errors;       /* replies with an error */
    uint64_t fsyncs;       /* synced write batches */
    uint64_t fsync_p99_us;
    uint64_t write_p99_us; /* request to reply, writes */
    uint64_t leader_changes;
};

/* One member in a STATUS reply. */
struct wire_member {
    uint64_t id;
    uint32_t role;          /* WIRE_ROLE_* */
    struct wire_bytes addr; /* client "host:port"; may be empty */
    uint64_t match;         /* leader only: replicated up to */
    uint64_t lag;           /* leader only: last_index - match */
};

/* One session in a SESSIONS reply. */
struct wire_session {
    uint64_t id;
    uint32_t timeout_ms;
    uint32_t ephemerals;
    uint64_t server_id; /* the answering server if connected to it, or 0 */
};

struct wire_sessions {
    bool more; /* sessions after the last one */
    uint32_t n; /* at most WIRE_SESSIONS_PAGE_MAX */
    const struct wire_session *sessions;
    struct wire_iter it;
};

struct wire_snapshot_req {
    uint64_t export_id; /* 0: start a new export */
    uint64_t offset;
};

struct wire_snapshot_chunk {
    uint64_t export_id;
    uint64_t index; /* the zxid the snapshot reflects */
    uint64_t total; /* bytes of the whole snapshot */
    uint64_t sum;   /* wire_snapshot_sum() of the whole snapshot */
    struct wire_bytes chunk; /* bytes at the requested offset */
};

struct wire_status {
    uint64_t server_id;
    uint32_t role; /* enum raft_role numbers: 1 follower .. 4 leader */
    uint64_t term;
    uint64_t leader_id;
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snap_index;
    uint64_t sessions;
    uint64_t watches;
    uint64_t connections;
    uint64_t digest_mismatches;
    uint32_t n; /* members, at most WIRE_MEMBERS_MAX */
    const struct wire_member *members;
    struct wire_iter it;
};

/* A request. The union member used is named after the body's shape. */
struct wire_req {
    uint32_t op;
    int64_t xid;
    union {
        struct wire_hello hello;             /* HELLO */
        struct wire_create create;           /* CREATE */
        struct wire_path_version pv;         /* DELETE, CHECK */
        struct wire_read read;               /* EXISTS, GET */
        struct wire_set set;                 /* SET */
        struct wire_children_req children;   /* CHILDREN */
        struct wire_multi_req multi;         /* MULTI */
        struct wire_bytes path;              /* SYNC */
        struct wire_watch_req watch;         /* ADD_WATCH, REMOVE_WATCH */
        struct wire_set_watches set_watches; /* SET_WATCHES */
        struct wire_member_req member;       /* MEMBER_*, LEADER_TRANSFER */
        uint64_t start_after;                /* SESSIONS */
        struct wire_snapshot_req snapshot;   /* SNAPSHOT_READ */
    } u;
};

struct wire_created {
    struct wire_bytes path;
    struct coord_stat stat;
};

struct wire_data {
    struct wire_bytes data;
    struct coord_stat stat;
};

struct wire_children_resp {
    bool more; /* more children after the last entry */
    bool with_stats;
    uint32_t n;
    const struct wire_child *entries;
    struct wire_iter it;
};

struct wire_multi_resp {
    uint32_t n;
    const struct wire_op_result *results;
    struct wire_iter it;
};

struct wire_event {
    uint32_t type; /* enum coord_event_type */
    struct wire_bytes path;
};

/* A response or a watch event (op WATCH_EVENT, xid WIRE_XID_EVENT, zxid of
 * the change). With err != 0 the union is unused. */
struct wire_resp {
    uint32_t op;
    int64_t xid;
    uint64_t zxid;
    int32_t err;
    union {
        struct wire_hello_reply hello;      /* HELLO */
        struct wire_created created;        /* CREATE */
        struct coord_stat stat;             /* EXISTS, SET */
        struct wire_data get;               /* GET */
        struct wire_children_resp children; /* CHILDREN */
        struct wire_multi_resp multi;       /* MULTI */
        struct wire_event event;            /* WATCH_EVENT */
        struct wire_status status;          /* STATUS */
        struct wire_sessions sessions;      /* SESSIONS */
        struct wire_snapshot_chunk snapshot; /* SNAPSHOT_READ */
        struct wire_stats stats;            /* STATS */
    } u;
};

/* The name of an opcode ("create"), or NULL if it is not in the table. */
const char *wire_op_name(uint32_t op);

/* ---- Frames ---------------------------------------------------------- */

/* Looks at the start of a stream buffer. Returns 0 when buf holds a whole
 * frame: *frame_bytes = prefix + body. COORD_EAGAIN when more bytes are
 * needed: *frame_bytes = bytes needed for the whole frame (or for the prefix
 * when fewer than 4 bytes are there), so the caller can wait without
 * allocating. COORD_ETOOBIG when the prefix exceeds frame_max (checked
 * before any body byte is awaited); COORD_EPROTO for a zero length or a body
 * that does not start with a msgpack array. */
int wire_frame_check(const uint8_t *buf, size_t len, uint32_t frame_max,
                     size_t *frame_bytes);

/* ---- Encoding -------------------------------------------------------- */

/* An output buffer of frames. Growable (storage from coord_malloc, at most
 * max bytes) or fixed (caller's storage, never grown or freed). Encoders
 * append one whole frame or, on error, nothing. */
struct wire_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
    bool fixed;
    /* Private to wire.c, while one frame is encoded. */
    int err;
    size_t frame_start;
    uint32_t frame_max;
};

/* A growable buffer holding at most max bytes; allocates on first use.
 * Caller frees with wire_buf_free(). */
void wire_buf_init(struct wire_buf *b, size_t max);
/* A fixed buffer over mem[0..cap); mem is borrowed while b is used. */
void wire_buf_init_fixed(struct wire_buf *b, uint8_t *mem, size_t cap);
/* Drops the contents, keeps the storage. */
void wire_buf_reset(struct wire_buf *b);
/* Drops the first n bytes (sent), keeping the rest in order. */
void wire_buf_consume(struct wire_buf *b, size_t n);
void wire_buf_free(struct wire_buf *b);

/* Append one frame. Errors: COORD_EINVAL (unknown or misdirected op, bad
 * flags, kind or field value, negative request xid), COORD_ETOOBIG (a path,
 * data or the frame over its limit), COORD_ETOOMANY (a list over its limit),
 * COORD_ENOMEM (allocation failed or the buffer's max reached). The request
 * or response is borrowed for the call. */
int wire_encode_req(struct wire_buf *b, const struct wire_req *req,
                    const struct wire_limits *lim);
/* An error response (err != 0) may carry any opcode 1..WIRE_OP_MAX: the
 * server may answer a request it could not decode. */
int wire_encode_resp(struct wire_buf *b, const struct wire_resp *resp,
                     const struct wire_limits *lim);

/* ---- Decoding -------------------------------------------------------- */

/* Decode one frame body (the bytes after the prefix, exactly one frame's).
 * *out points into msg: msg must outlive every use of *out. On failure
 * out->op and out->xid hold what was read before the error (0 if nothing),
 * so the server can answer the right xid. Errors: COORD_EPROTO (bad type,
 * truncation, wrong arity, trailing bytes, out-of-range number, bad flags),
 * COORD_ETOOBIG (path or data over its limit, len over the frame limit),
 * COORD_ETOOMANY (list over its limit), COORD_ENOTSUP (well-formed but
 * unknown opcode). */
int wire_decode_req(const uint8_t *msg, size_t len,
                    const struct wire_limits *lim, struct wire_req *out);
int wire_decode_resp(const uint8_t *msg, size_t len,
                     const struct wire_limits *lim, struct wire_resp *out);

/* Next item of a decoded list; false when the list is exhausted. Items
 * were validated by the decoder; a false before the end means the buffer
 * changed underneath. */
bool wire_next_op(struct wire_iter *it, struct wire_multi_op *out);
bool wire_next_result(struct wire_iter *it, struct wire_op_result *out);
bool wire_next_child(struct wire_iter *it, struct wire_child *out);
bool wire_next_path(struct wire_iter *it, struct wire_bytes *out);
bool wire_next_member(struct wire_iter *it, struct wire_member *out);
bool wire_next_session(struct wire_iter *it, struct wire_session *out);

/* ---- Snapshot files ---------------------------------------------------
 * `coordctl snapshot save` writes, and `coordd --restore-snapshot` reads:
 * a header of WIRE_SNAPFILE_HEADER_BYTES, then the tree snapshot's bytes
 * (coordd/tree's format). Header, big-endian: magic "COORDSN1" (8), index
 * u64, bytes u64, sum u64, server_id u64. */
#define WIRE_SNAPFILE_MAGIC "COORDSN1"
#define WIRE_SNAPFILE_HEADER_BYTES 40
#define WIRE_SNAPSHOT_SUM_INIT 14695981039346656037ULL
struct wire_snapfile {
    uint64_t index;
    uint64_t bytes;
    uint64_t sum;
    uint64_t server_id;
};
/* The running checksum (64-bit FNV-1a) of n more bytes: start from
 * WIRE_SNAPSHOT_SUM_INIT. */
uint64_t wire_snapshot_sum(uint64_t h, const void *p, size_t n);
void wire_snapfile_encode(uint8_t out[WIRE_SNAPFILE_HEADER_BYTES],
                          const struct wire_snapfile *h);
/* COORD_ECORRUPT when the magic is wrong. */
int wire_snapfile_decode(const uint8_t in[WIRE_SNAPFILE_HEADER_BYTES],
                         struct wire_snapfile *h);

#endif /* COORD_WIRE_H */
