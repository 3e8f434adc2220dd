/* restore.c -- `coordd --restore-snapshot FILE`: turns a snapshot file
 * written by `coordctl snapshot save` (header and checksum: wire.h's
 * snapshot file) into a new data directory for the configured node and
 * members, offline, then exits. The tree is loaded once to validate every
 * byte and learn its zxid; the store then gets that snapshot as its
 * latest (term 1, the configured members as the configuration) and an
 * empty log, which is exactly what a node restarted after compaction
 * sees. Refuses a data directory that already holds state. Runs before
 * any loop or socket exists; never part of a running node.
 */
#include "node_int.h"

#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "coordd/log.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* Reads the whole file into *buf; checks the header and the sum. */
static int restore_read(const char *file, uint8_t **buf, size_t *len,
                        struct wire_snapfile *h, char *err, size_t cap)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, cap, "cannot open %s", file);
        return COORD_EIO;
    }
    uint8_t hdr[WIRE_SNAPFILE_HEADER_BYTES];
    int rc = fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr)
                 ? wire_snapfile_decode(hdr, h)
                 : COORD_ECORRUPT;
    if (rc == 0 && (h->bytes == 0 || h->bytes > SIZE_MAX / 2))
        rc = COORD_ECORRUPT;
    *buf = rc == 0 ? coord_malloc(h->bytes) : NULL;
    if (rc == 0 && !*buf)
        rc = COORD_ENOMEM;
    if (rc == 0 && fread(*buf, 1, h->bytes, f) != h->bytes)
        rc = COORD_ECORRUPT; /* truncated */
    if (rc == 0 && fgetc(f) != EOF)
        rc = COORD_ECORRUPT; /* trailing bytes */
    if (rc == 0 &&
        wire_snapshot_sum(WIRE_SNAPSHOT_SUM_INIT, *buf, h->bytes) != h->sum)
        rc = COORD_ECORRUPT;
    fclose(f);
    if (rc) {
        coord_free(*buf);
        *buf = NULL;
        snprintf(err, cap, "%s is not a whole coord snapshot file (bad "
                 "header, length or checksum)", file);
        return rc;
    }
    *len = h->bytes;
    return 0;
}

struct restore_src {
    const uint8_t *p;
    size_t left;
};

static long restore_src_read(void *data, void *buf, size_t cap)
{
    struct restore_src *m = data;
    size_t k = m->left < cap ? m->left : cap;
    memcpy(buf, m->p, k);
    m->p += k;
    m->left -= k;
    return (long)k;
}

/* Validates the snapshot by loading it; its zxid, node count, digest. */
static int restore_check(const struct node_config *cfg, const uint8_t *p,
                         size_t len, struct node_restore_info *out)
{
    struct tree_config tc = {.nodes_max = cfg->nodes_max,
                             .children_max = cfg->children_max,
                             .data_bytes_max = cfg->limits.data_bytes_max,
                             .sessions_max = cfg->sessions_max};
    struct restore_src src = {p, len};
    struct tree *t = NULL;
    int rc = tree_snapshot_load(&t, &tc, restore_src_read, &src);
    if (rc)
        return rc;
    out->index = tree_applied_index(t);
    out->nodes = tree_node_count(t);
    out->sessions = tree_session_count(t);
    out->digest = tree_digest(t);
    tree_close(t);
    return out->index == 0 ? COORD_ECORRUPT : 0;
}

/* Writes the snapshot into the (empty) store of node n. */
static int restore_write(struct node *n, const uint8_t *p, size_t len,
                         uint64_t index)
{
    static uint8_t conf[NODE_CONF_BLOB_MAX];
    uint32_t cl = node_conf_encode(&n->conf, conf);
    cl += node_addrs_encode(n, &n->conf, conf + cl);
    struct store *s = n->store;
    int rc = store_snap_begin(s, index, 1, conf, cl);
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t k = len - off < (1u << 20) ? len - off : 1u << 20;
        rc = store_snap_write(s, off, p + off, (uint32_t)k);
        off += k;
    }
    if (rc == 0)
        rc = store_snap_commit(s, STORE_DROP_LOG);
    struct store_write w = {.hs_changed = true, .term = 1, .vote = 0};
    if (rc == 0)
        rc = store_write(s, &w, 1, true);
    return rc;
}

int node_restore_snapshot(const struct node_config *cfg, struct store *s,
                          const char *file, struct node_restore_info *out,
                          char *err, size_t cap)
{
    struct store_state st;
    int rc = store_load(s, &st);
    if (rc == 0 && (st.snap.index != 0 || st.last != 0 || st.term != 0)) {
        snprintf(err, cap, "the data directory already holds state; "
                 "restore into a new, empty --data-dir");
        return COORD_EINVAL;
    }
    if (rc) {
        snprintf(err, cap, "loading state: %s", s->errmsg);
        return rc;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    struct wire_snapfile h;
    if ((rc = restore_read(file, &buf, &len, &h, err, cap)) != 0)
        return rc;
    rc = restore_check(cfg, buf, len, out);
    if (rc == 0 && out->index != h.index)
        rc = COORD_ECORRUPT;
    if (rc) {
        snprintf(err, cap, "%s: the snapshot does not load (%s)", file,
                 coord_errname(rc));
        coord_free(buf);
        return rc;
    }
    struct node *n = NULL;
    rc = node_open(&n, cfg, s, err, cap);
    if (rc == 0) {
        node_stop_threads(n); /* the store is ours alone from here */
        rc = restore_write(n, buf, len, out->index);
        if (rc)
            snprintf(err, cap, "writing the snapshot: %s", s->errmsg);
        node_close(n);
    }
    coord_free(buf);
    return rc;
}
