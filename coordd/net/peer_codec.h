/* peer_codec.h -- the Raft peer protocol: struct raft_msg (raft.h) and the
 * link handshake to and from msgpack frames. docs/peer-protocol.md is the
 * same specification in prose; keep the two identical.
 *
 * Pure code on top of libcoord/shared/mp.h: no sockets, no clock, no
 * allocation on the decode path (encoding grows a struct wire_buf). The
 * peer link code (coordd/net/) owns connections and calls these. Decoders
 * never assert on input and return COORD_EPROTO / COORD_ETOOBIG /
 * COORD_ETOOMANY for anything malformed or over a limit.
 *
 * Frame: u32 big-endian N (1 <= N <= frame_bytes_max), then N bytes holding
 * exactly one msgpack array (the same framing as the client protocol:
 * peer_frame_check() is wire_frame_check()). Integers are unsigned unless
 * said otherwise, any msgpack width accepted, the smallest one written.
 *
 * The first frame each side sends on a link is the handshake:
 *   [magic_version, cluster_id, from, to]
 *   magic_version  PEER_MAGIC | version (low byte; this is version 2)
 *   cluster_id     u64, must equal the receiver's (checked by the caller)
 *   from, to       node ids, non-zero
 * A different magic is COORD_EPROTO; a known magic with another version is
 * COORD_EPROTOVERSION whatever follows (a newer version may add fields).
 *
 * Every later frame is one Raft message:
 *   [type, from, to, term, fields of the type...]
 * type is enum raft_msg_type; from and to are non-zero. The fields of each
 * type are exactly those the raft.h struct comment names (fields a type
 * does not use are not sent and decode as 0 / false / NULL):
 *
 *  1 APPEND          index (prev index), log_term (prev term), commit,
 *                    durable, entries: [[term, type, data], ...]
 *  2 APPEND_RESP     index, reject (bool), hint_index, hint_term
 *  3 VOTE            index (last log index), log_term, transfer (bool)
 *  4 VOTE_RESP       reject (bool)
 *  5 PREVOTE         as VOTE
 *  6 PREVOTE_RESP    as VOTE_RESP
 *  7 HEARTBEAT       commit, durable, ctx
 *  8 HEARTBEAT_RESP  ctx
 *  9 SNAPSHOT        snap: [index, term, size, [[id, role], ...]],
 *                    offset, last (bool), chunk (bin)
 * 10 SNAPSHOT_RESP   index, offset, reject (bool)
 * 11 TIMEOUT_NOW     (nothing more)
 * 12 READ_INDEX      ctx
 * 13 READ_INDEX_RESP ctx, read_index, reject (bool)
 *
 * An entry's index is not sent: entries are contiguous after the APPEND's
 * prev index, so entry i has index prev + 1 + i (the encoder refuses
 * anything else). An entry's type is 1..3 (enum raft_entry_type), its data
 * a bin of at most entry_bytes_max bytes; at most entries_max entries. A
 * configuration has at most RAFT_MEMBERS_MAX members, ids non-zero and
 * strictly ascending, roles 1 (voter) or 2 (learner). A chunk is a bin of
 * at most chunk_bytes_max bytes; chunk_len is its length.
 *
 * Zero-copy decoding: entry data and the snapshot chunk point into the
 * frame body (NULL when empty), and entries go into the caller's array.
 */
#ifndef COORDD_NET_PEER_CODEC_H
#define COORDD_NET_PEER_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "coordd/raft/raft.h"
#include "libcoord/shared/wire.h"

/* "cor" in the high bytes of the handshake's first field; the low byte is
 * the protocol version. */
#define PEER_MAGIC 0x636f7200u
#define PEER_VERSION 2
/* Entries per APPEND by default: coordd's proposal batch (node_int.h). */
#define PEER_ENTRIES_MAX 4096
/* The most msgpack bytes one entry adds beside its data: array head (1),
 * term (9), type (1), bin head (5). */
#define PEER_ENTRY_OVERHEAD_MAX 16

struct peer_limits {
    uint32_t frame_bytes_max; /* frame body */
    uint32_t entries_max;     /* entries per APPEND */
    uint32_t entry_bytes_max; /* data bytes of one entry */
    uint32_t chunk_bytes_max; /* bytes of one snapshot chunk */
};

/* Defaults sized for coordd: an entry holds one client frame's command; a
 * frame holds a full APPEND (COORDD_APPEND_BYTES_MAX plus the one entry
 * that may overshoot it, plus per-entry overhead) or a snapshot chunk. */
void peer_limits_default(struct peer_limits *lim);

struct peer_hello {
    uint32_t version; /* PEER_VERSION to send; the peer's when decoded */
    uint64_t cluster_id;
    uint64_t from;
    uint64_t to;
};

/* Looks at the start of a stream buffer: see wire_frame_check() (0 with
 * *frame_bytes when a whole frame is there, COORD_EAGAIN, COORD_ETOOBIG,
 * COORD_EPROTO). */
int peer_frame_check(const uint8_t *buf, size_t len,
                     const struct peer_limits *lim, size_t *frame_bytes);

/* Append one handshake frame. COORD_EINVAL for a version outside 1..255 or
 * a zero from/to; COORD_ENOMEM when b is full. */
int peer_encode_hello(struct wire_buf *b, const struct peer_hello *h);
/* Decode a handshake frame body. COORD_EPROTO (malformed, zero node id),
 * COORD_EPROTOVERSION (out->version holds the peer's version). */
int peer_decode_hello(const uint8_t *body, size_t len,
                      struct peer_hello *out);

/* Append one message frame, only the fields m->type uses. COORD_EINVAL
 * (unknown type, zero from/to, entries not contiguous after m->index or of
 * a bad type, NULL data or chunk with a non-zero length, a bad
 * configuration), COORD_ETOOMANY / COORD_ETOOBIG (over a limit of lim,
 * frame included), COORD_ENOMEM. m is borrowed for the call; on error b is
 * unchanged. */
int peer_encode_msg(struct wire_buf *b, const struct raft_msg *m,
                    const struct peer_limits *lim);

/* Decode a message frame body (exactly one frame's bytes after the prefix)
 * into *out, entries into entries[0..cap). out->entries, entry data and
 * out->chunk point into entries and body: both must outlive every use of
 * *out. COORD_EPROTO (malformed, wrong arity or type, trailing bytes,
 * unknown message type, zero from/to, bad entry type or configuration),
 * COORD_ETOOBIG (body over frame_bytes_max, entry data or chunk over its
 * limit), COORD_ETOOMANY (more entries than entries_max or cap, more
 * members than RAFT_MEMBERS_MAX). */
int peer_decode_msg(const uint8_t *body, size_t len,
                    const struct peer_limits *lim, struct raft_entry *entries,
                    uint32_t cap, struct raft_msg *out);

#endif /* COORDD_NET_PEER_CODEC_H */
