/* gen_peer_corpus.c -- writes the seed corpus of fuzz_peer into a
 * directory: one valid frame (prefix + body) and one bare body per Raft
 * message type (small values and extreme ones: every field at its widest),
 * the handshake, a stream of a handshake followed by every message, and a
 * few malformed inputs. Run by `make fuzz-corpus-peer`; its output is
 * committed in test/fuzz/corpus/peer/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "coordd/net/peer_codec.h"
#include "coordd/raft/raft.h"
#include "libcoord/shared/wire.h"

static const char *dir;
static struct peer_limits lim;
static struct wire_buf all;
static uint8_t pool[600];
static const char *const names[] = {
    "", "append", "append_resp", "vote", "vote_resp", "prevote",
    "prevote_resp", "heartbeat", "heartbeat_resp", "snapshot",
    "snapshot_resp", "timeout_now", "read_index", "read_index_resp",
};

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_peer_corpus: cannot write %s\n", path);
        exit(1);
    }
}

/* Writes name.frame and name.body from the frame just encoded into b and
 * appends the frame to the stream. */
static void emit(const char *name, struct wire_buf *b, int rc)
{
    char fn[256];
    if (rc != 0) {
        fprintf(stderr, "gen_peer_corpus: %s: encode failed %d\n", name, rc);
        exit(1);
    }
    snprintf(fn, sizeof(fn), "%s.frame", name);
    write_file(fn, b->data, b->len);
    snprintf(fn, sizeof(fn), "%s.body", name);
    write_file(fn, b->data + 4, b->len - 4);
    memcpy(all.data + all.len, b->data, b->len);
    all.len += b->len;
}

static void msg(const char *name, const struct raft_msg *m)
{
    struct wire_buf b;
    wire_buf_init(&b, 1 << 20);
    emit(name, &b, peer_encode_msg(&b, m, &lim));
    wire_buf_free(&b);
}

/* Every field of type t set; big: every integer at its widest. */
static void make(struct raft_msg *m, struct raft_entry *e, uint8_t t,
                 bool big)
{
    uint64_t v = big ? UINT64_MAX : 5;
    memset(m, 0, sizeof(*m));
    m->type = t;
    m->from = big ? UINT64_MAX : 1;
    m->to = big ? UINT64_MAX - 1 : 2;
    m->term = v;
    m->index = big ? UINT64_MAX - 3 : 10;
    m->log_term = v;
    m->commit = v;
    m->reject = big;
    m->hint_index = v;
    m->hint_term = v;
    m->transfer = big;
    m->ctx = v;
    m->read_index = v;
    m->offset = v;
    m->last = !big;
    for (uint32_t i = 0; i < 3; i++) {
        e[i].index = m->index + 1 + i;
        e[i].term = v;
        e[i].type = (uint8_t)(RAFT_ENTRY_NORMAL + i);
        e[i].len = i == 1 ? 0 : (big ? 300 : 5);
        e[i].data = e[i].len ? pool : NULL;
    }
    m->entries = e;
    m->n_entries = 3;
    m->snap.index = v;
    m->snap.term = v;
    m->snap.size = v;
    m->snap.conf.n = big ? RAFT_MEMBERS_MAX : 3;
    for (uint32_t i = 0; i < m->snap.conf.n; i++) {
        m->snap.conf.members[i].id = big ? UINT64_MAX - 20 + i : i + 1;
        m->snap.conf.members[i].role = i % 3 == 2 ? RAFT_LEARNER : RAFT_VOTER;
    }
    m->chunk = pool;
    m->chunk_len = big ? 600 : 7;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_peer_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    peer_limits_default(&lim);
    for (size_t i = 0; i < sizeof(pool); i++)
        pool[i] = (uint8_t)(i * 37 + 1);
    wire_buf_init(&all, 1 << 20);
    all.data = malloc(1 << 20);
    all.cap = 1 << 20;
    all.fixed = true;
    struct wire_buf b;
    struct peer_hello h = {PEER_VERSION, 0x1234567890abcdefull, 1, 2};
    wire_buf_init(&b, 256);
    emit("hello", &b, peer_encode_hello(&b, &h));
    wire_buf_free(&b);
    for (uint8_t t = RAFT_MSG_APPEND; t <= RAFT_MSG_READ_INDEX_RESP; t++) {
        struct raft_msg m;
        struct raft_entry e[3];
        char name[64];
        for (int big = 0; big < 2; big++) {
            make(&m, e, t, big);
            snprintf(name, sizeof(name), "%s%s", names[t],
                     big ? "_big" : "");
            msg(name, &m);
        }
    }
    write_file("stream_all", all.data, all.len);
    static const uint8_t bad_huge_count[] = {0, 0, 0, 14, 0x98, 1, 1, 2, 3,
                                             0, 0, 0, 0xdd, 0xff, 0xff, 0xff,
                                             0xff, 0x90};
    static const uint8_t bad_too_big[] = {0xff, 0xff, 0xff, 0xff, 0x94};
    static const uint8_t bad_not_array[] = {0, 0, 0, 1, 0x80};
    static const uint8_t bad_unknown_type[] = {0, 0, 0, 5, 0x94, 14, 1, 2,
                                               3};
    write_file("bad_huge_count", bad_huge_count, sizeof(bad_huge_count));
    write_file("bad_too_big", bad_too_big, sizeof(bad_too_big));
    write_file("bad_not_array", bad_not_array, sizeof(bad_not_array));
    write_file("bad_unknown_type", bad_unknown_type,
               sizeof(bad_unknown_type));
    free(all.data);
    return 0;
}
