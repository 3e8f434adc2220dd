/* test_store.c -- unit tests for coordd/store/: the same cases run against
 * the RocksDB backend with the log in segment files (the default), the
 * RocksDB backend with the log in RocksDB (rocks_log, format 1), both in a
 * mkdtemp directory under /tmp, and the in-memory backend; plus
 * backend-specific ones: group commit and fault injection on the memory
 * disk, foreign directories, kill -9, log segment shapes and the format 1
 * -> 2 migration on RocksDB. Where log segments are durable at once (also
 * unsynced writes in power-loss mode) the cases expect exactly that.
 * Synchronisation with the worker thread uses condition variables only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "coordd/store/seglog.h"
#include "coordd/store/store.h"
#include "coordd/store/store_int.h"
#include "test/lib/tmpdir.h"

/* K_ROCKS: log segments (default); K_ROCKS_LOG: rocks_log. */
enum { K_ROCKS = 1, K_MEM = 2, K_ROCKS_LOG = 3 };

struct fx {
    int kind;
    char dir[64];
    struct store_mem_disk *disk;
    struct store s;
    bool open;
};

static const struct store_options opts_a = {7, 1, false};
static const struct store_options opts_pl = {7, 1, true};

/* The options of f's kind: small segments (fast to preallocate). */
static struct store_options fx_opts(const struct fx *f,
                                    const struct store_options *o)
{
    struct store_options k = *o;
    k.rocks_log = f->kind == K_ROCKS_LOG;
    k.log_segment_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    return k;
}

static int fx_open_with(struct fx *f, const struct store_options *o)
{
    struct store_options k = fx_opts(f, o);
    int rc = f->kind == K_MEM ? store_open_mem(&f->s, f->disk, &k)
                              : store_open_rocks(&f->s, f->dir, &k);
    f->open = rc == 0;
    return rc;
}

static void fx_open(struct fx *f, const struct store_options *o)
{
    int rc = fx_open_with(f, o);
    if (rc)
        fprintf(stderr, "open: %s\n", f->s.errmsg);
    assert_int_equal(rc, 0);
}

static void fx_close(struct fx *f)
{
    if (f->open)
        store_close(&f->s);
    f->open = false;
}

/* A crash: the memory disk drops unsynced writes; RocksDB in power-loss
 * mode drops them at close (outside that mode nothing is lost). */
static void fx_crash(struct fx *f)
{
    if (f->kind == K_MEM)
        store_mem_crash(&f->s);
    else
        store_close(&f->s);
    f->open = false;
}

static int setup_kind(void **state, int kind)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->kind = kind;
    if (kind != K_MEM) {
        snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
        if (!mkdtemp(f->dir))
            return -1;
    } else if (store_mem_disk_new(&f->disk)) {
        return -1;
    }
    *state = f;
    return 0;
}

static int setup_rocks(void **state) { return setup_kind(state, K_ROCKS); }
static int setup_mem(void **state) { return setup_kind(state, K_MEM); }
static int setup_rocks_log(void **state)
{
    return setup_kind(state, K_ROCKS_LOG);
}

/* Log segments: log writes are durable at once, compacted entries may
 * come back at reopen. */
static bool fx_seg(const struct fx *f) { return f->kind == K_ROCKS; }

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    if (f->kind != K_MEM)
        tdir_remove(f->dir);
    else
        store_mem_disk_free(f->disk);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static void payload(char *buf, size_t cap, uint64_t index, uint64_t term)
{
    snprintf(buf, cap, "entry-%llu-term-%llu", (unsigned long long)index,
             (unsigned long long)term);
}

/* Writes entries [lo, hi] with term, optional truncation and hard state. */
static int put_range(struct store *s, uint64_t lo, uint64_t hi, uint64_t term,
                     uint64_t trunc, bool sync)
{
    static struct store_entry es[256];
    static char data[256][48];
    uint32_t n = 0;
    assert_true(hi - lo < 256 || hi < lo);
    for (uint64_t i = lo; i <= hi && hi >= lo; i++, n++) {
        payload(data[n], sizeof(data[n]), i, term);
        es[n] = (struct store_entry){i, term, (uint8_t)(i % 3 + 1),
                                     (uint32_t)strlen(data[n]),
                                     (const uint8_t *)data[n]};
    }
    struct store_write w = {false, 0, 0, trunc, es, n};
    return store_write(s, &w, 1, sync);
}

/* Checks that [lo, hi] reads back with term (payload derived). */
static void expect_range(struct store *s, uint64_t lo, uint64_t hi,
                         uint64_t term)
{
    struct store_entry out[300];
    static uint8_t buf[300 * 64];
    uint32_t n;
    int rc = store_read(s, lo, hi + 1, out, 300, buf, sizeof(buf), &n);
    if (rc)
        fprintf(stderr, "read: %s\n", s->errmsg);
    assert_int_equal(rc, 0);
    assert_int_equal(n, hi - lo + 1);
    for (uint32_t i = 0; i < n; i++) {
        char want[48];
        payload(want, sizeof(want), lo + i, term);
        assert_int_equal(out[i].index, lo + i);
        assert_int_equal(out[i].term, term);
        assert_int_equal(out[i].type, (lo + i) % 3 + 1);
        assert_int_equal(out[i].len, strlen(want));
        assert_memory_equal(out[i].data, want, out[i].len);
    }
}

static void expect_log(struct store *s, uint64_t first, uint64_t last)
{
    struct store_state st;
    int rc = store_load(s, &st);
    if (rc)
        fprintf(stderr, "load: %s\n", s->errmsg);
    assert_int_equal(rc, 0);
    assert_int_equal(st.first, first);
    assert_int_equal(st.last, last);
}

static int hard_state(struct store *s, uint64_t term, uint64_t vote,
                      bool sync)
{
    struct store_write w = {true, term, vote, 0, NULL, 0};
    return store_write(s, &w, 1, sync);
}

/* ---- cases run on both backends ----------------------------------------- */

static void write_read_reopen(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 0);
    assert_int_equal(hard_state(&f->s, 3, 2, false), 0);
    assert_int_equal(put_range(&f->s, 1, 10, 3, 0, true), 0);
    expect_range(&f->s, 1, 10, 3);
    expect_range(&f->s, 4, 6, 3);
    fx_close(f);
    fx_open(f, &opts_a);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.term, 3);
    assert_int_equal(st.vote, 2);
    assert_int_equal(st.cluster_id, 7);
    assert_int_equal(st.node_id, 1);
    assert_int_equal(st.format, f->kind == K_ROCKS_LOG
                                    ? STORE_FORMAT_ROCKS_LOG
                                    : STORE_FORMAT_VERSION);
    assert_int_equal(st.first, 1);
    assert_int_equal(st.last, 10);
    assert_int_equal(st.snap.index, 0);
    expect_range(&f->s, 1, 10, 3);
}

static void read_limits(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 10, 1, 0, true), 0);
    struct store_entry out[4];
    uint8_t buf[64];
    uint32_t n = 99;
    /* Stops when out[] is full, then when buf is. */
    assert_int_equal(store_read(&f->s, 1, 11, out, 4, buf, 1024, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(store_read(&f->s, 1, 11, out, 4, buf, 40, &n), 0);
    assert_int_equal(n, 2); /* each payload is 14 bytes */
    assert_int_equal(out[1].index, 2);
    assert_int_equal(store_read(&f->s, 1, 2, out, 4, buf, 5, &n),
                     COORD_ETOOBIG);
    assert_int_equal(store_read(&f->s, 11, 12, out, 4, buf, 64, &n),
                     COORD_ENONODE);
    assert_non_null(strstr(f->s.errmsg, "11"));
    assert_int_equal(store_read(&f->s, 9, 12, out, 4, buf, 64, &n),
                     COORD_ENONODE);
    assert_int_equal(store_read(&f->s, 0, 2, out, 4, buf, 64, &n),
                     COORD_EINVAL);
    /* Out-of-order entries are refused before anything is written. */
    struct store_entry bad[2] = {{12, 1, 1, 0, NULL}, {11, 1, 1, 0, NULL}};
    struct store_write w = {false, 0, 0, 0, bad, 2};
    assert_int_equal(store_write(&f->s, &w, 1, true), COORD_EINVAL);
    expect_log(&f->s, 1, 10);
}

static void truncate_on_conflict(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 10, 1, 0, true), 0);
    /* A new leader overwrites 6.. with term 2 entries. */
    assert_int_equal(put_range(&f->s, 6, 7, 2, 6, true), 0);
    expect_log(&f->s, 1, 7);
    expect_range(&f->s, 1, 5, 1);
    expect_range(&f->s, 6, 7, 2);
    struct store_entry out[2];
    uint8_t buf[64];
    uint32_t n;
    assert_int_equal(store_read(&f->s, 8, 9, out, 2, buf, 64, &n),
                     COORD_ENONODE);
    /* Truncation alone. */
    assert_int_equal(put_range(&f->s, 1, 0, 0, 3, true), 0);
    expect_log(&f->s, 1, 2);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 2);
    expect_range(&f->s, 1, 2, 1);
}

static void several_writes_one_batch(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    struct store_entry e1 = {1, 1, 1, 3, (const uint8_t *)"abc"};
    struct store_entry e2 = {2, 1, 1, 0, NULL};
    struct store_entry e2b = {2, 2, 1, 2, (const uint8_t *)"xy"};
    struct store_write w[3] = {
        {true, 1, 1, 0, &e1, 1},
        {false, 0, 0, 0, &e2, 1},
        {true, 2, 0, 2, &e2b, 1}, /* later writes win, in order */
    };
    assert_int_equal(store_write(&f->s, w, 3, true), 0);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.vote, 0);
    assert_int_equal(st.last, 2);
    struct store_entry out[2];
    uint8_t buf[16];
    uint32_t n;
    assert_int_equal(store_read(&f->s, 1, 3, out, 2, buf, 16, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[1].term, 2);
    assert_memory_equal(out[1].data, "xy", 2);
    struct store_stats stats;
    store_get_stats(&f->s, &stats);
    assert_int_equal(stats.writes, 1);
}

/* Hard state and entries of one write survive or vanish together. */
static void hard_state_atomic_with_entries(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_pl);
    assert_int_equal(hard_state(&f->s, 1, 1, false), 0);
    assert_int_equal(put_range(&f->s, 1, 3, 1, 0, true), 0);
    struct store_entry e[2] = {{4, 5, 1, 1, (const uint8_t *)"a"},
                               {5, 5, 1, 1, (const uint8_t *)"b"}};
    struct store_write w = {true, 5, 9, 0, e, 2};
    assert_int_equal(store_write(&f->s, &w, 1, false), 0);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.term, 5); /* visible before the sync ... */
    assert_int_equal(st.last, 5);
    fx_crash(f);                  /* ... and gone, together, after a crash */
    fx_open(f, &opts_pl);
    assert_int_equal(store_load(&f->s, &st), 0);
    if (fx_seg(f)) {
        /* ... or, with segments, kept together: the hard state was
         * synced before the entries were written. */
        assert_int_equal(st.term, 5);
        assert_int_equal(st.vote, 9);
        assert_int_equal(st.last, 5);
        return;
    }
    assert_int_equal(st.term, 1);
    assert_int_equal(st.vote, 1);
    assert_int_equal(st.last, 3);
    assert_int_equal(store_write(&f->s, &w, 1, true), 0);
    fx_crash(f);
    fx_open(f, &opts_pl);
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.term, 5);
    assert_int_equal(st.vote, 9);
    assert_int_equal(st.last, 5);
}

static void power_loss_loses_exactly_unsynced(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_pl);
    assert_int_equal(put_range(&f->s, 1, 5, 1, 0, false), 0);
    assert_int_equal(store_sync(&f->s), 0);
    assert_int_equal(put_range(&f->s, 6, 8, 1, 0, false), 0);
    assert_int_equal(put_range(&f->s, 4, 9, 2, 4, false), 0);
    expect_log(&f->s, 1, 9);
    expect_range(&f->s, 4, 9, 2);
    fx_crash(f);
    fx_open(f, &opts_pl);
    if (fx_seg(f)) { /* log writes are durable at once */
        expect_log(&f->s, 1, 9);
        expect_range(&f->s, 1, 3, 1);
        expect_range(&f->s, 4, 9, 2);
    } else {
        expect_log(&f->s, 1, 5);
        expect_range(&f->s, 1, 5, 1);
    }
    struct store_stats st;
    store_get_stats(&f->s, &st);
    assert_int_equal(st.syncs, 0);
}

static void compaction(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 20, 1, 0, true), 0);
    /* Nothing may be compacted before a snapshot covers it. */
    assert_int_equal(store_compact(&f->s, 2), COORD_EINVAL);
    assert_int_equal(store_snap_begin(&f->s, 12, 1, NULL, 0), 0);
    assert_int_equal(store_snap_write(&f->s, 0, (const uint8_t *)"S", 1), 0);
    assert_int_equal(store_snap_commit(&f->s, 1), 0); /* keep all */
    expect_log(&f->s, 13, 20); /* covered entries are not reported ... */
    expect_range(&f->s, 1, 20, 1); /* ... but kept */
    assert_int_equal(store_compact(&f->s, 11), 0);
    expect_log(&f->s, 13, 20);
    expect_range(&f->s, 11, 20, 1);
    struct store_entry out[2];
    uint8_t buf[64];
    uint32_t n;
    assert_int_equal(store_read(&f->s, 10, 11, out, 2, buf, 64, &n),
                     COORD_ENONODE);
    assert_int_equal(store_compact(&f->s, 14), COORD_EINVAL);
    assert_int_equal(store_compact(&f->s, 13), 0);
    assert_int_equal(store_sync(&f->s), 0);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 13, 20);
    expect_range(&f->s, 13, 20, 1);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

/* Writes a snapshot of size bytes in chunks of chunk bytes. */
static void write_snap(struct store *s, uint64_t index, uint64_t term,
                       const char *conf, uint8_t *data, size_t size,
                       size_t chunk, uint64_t keep_from)
{
    assert_int_equal(store_snap_begin(s, index, term, (const uint8_t *)conf,
                                      (uint32_t)strlen(conf)), 0);
    for (size_t off = 0; off < size; off += chunk) {
        size_t len = size - off < chunk ? size - off : chunk;
        assert_int_equal(store_snap_write(s, off, data + off,
                                          (uint32_t)len), 0);
    }
    int rc = store_snap_commit(s, keep_from);
    if (rc)
        fprintf(stderr, "commit: %s\n", s->errmsg);
    assert_int_equal(rc, 0);
}

static void expect_snap(struct store_snap_reader *r, const uint8_t *data,
                        size_t size)
{
    static uint8_t got[20000];
    assert_true(size <= sizeof(got));
    assert_int_equal(r->meta.size, size);
    /* Odd-sized reads that straddle chunk boundaries. */
    for (size_t off = 0; off < size; off += 777) {
        uint32_t len = (uint32_t)(size - off < 777 ? size - off : 777);
        int rc = store_snap_read(r, off, got + off, len);
        if (rc)
            fprintf(stderr, "snap read: %s\n", r->errmsg);
        assert_int_equal(rc, 0);
    }
    assert_memory_equal(got, data, size);
}

static void snapshot_stream(void **state)
{
    struct fx *f = *state;
    static uint8_t d1[10000], d2[7000];
    fill(d1, sizeof(d1), 1);
    fill(d2, sizeof(d2), 2);
    fx_open(f, &opts_a);
    struct store_snap_reader r;
    assert_int_equal(store_snap_open(&f->s, &r), COORD_ENONODE);
    assert_int_equal(put_range(&f->s, 1, 20, 1, 0, true), 0);
    write_snap(&f->s, 10, 1, "conf-A", d1, sizeof(d1), 3000, 11);
    expect_log(&f->s, 11, 20);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.snap.index, 10);
    assert_int_equal(st.snap.term, 1);
    assert_int_equal(st.snap.size, sizeof(d1));
    assert_int_equal(st.snap.conf_len, 6);
    assert_memory_equal(st.snap.conf, "conf-A", 6);

    /* A reader keeps its view while writes, compaction and a newer
     * snapshot go on. */
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(r.meta.index, 10);
    assert_int_equal(put_range(&f->s, 21, 30, 2, 0, true), 0);
    write_snap(&f->s, 25, 2, "conf-B", d2, sizeof(d2), 1000, 26);
    expect_log(&f->s, 26, 30);
    expect_snap(&r, d1, sizeof(d1));
    uint8_t x;
    assert_int_equal(store_snap_read(&r, sizeof(d1), &x, 1), COORD_EINVAL);
    store_snap_close(&r);

    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(r.meta.index, 25);
    assert_memory_equal(r.meta.conf, "conf-B", 6);
    expect_snap(&r, d2, sizeof(d2));
    store_snap_close(&r);

    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 26, 30);
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(r.meta.index, 25);
    expect_snap(&r, d2, sizeof(d2));
    store_snap_close(&r);
}

/* An unfinished stream leaves the committed snapshot as it was; bad
 * stream calls are refused. */
static void snapshot_unfinished_and_misuse(void **state)
{
    struct fx *f = *state;
    static uint8_t d1[5000], d2[5000];
    fill(d1, sizeof(d1), 3);
    fill(d2, sizeof(d2), 4);
    fx_open(f, &opts_a);
    assert_int_equal(store_snap_commit(&f->s, 1), COORD_EINVAL);
    assert_int_equal(store_snap_write(&f->s, 0, d1, 10), COORD_EINVAL);
    write_snap(&f->s, 5, 1, "c", d1, sizeof(d1), 2048, STORE_DROP_LOG);
    assert_int_equal(store_snap_begin(&f->s, 9, 2, NULL, 0), 0);
    assert_int_equal(store_snap_write(&f->s, 0, d2, 100), 0);
    assert_int_equal(store_snap_write(&f->s, 50, d2, 10), COORD_EINVAL);
    assert_int_equal(store_snap_commit(&f->s, 11), COORD_EINVAL);
    assert_int_equal(store_sync(&f->s), 0);
    fx_close(f);
    fx_open(f, &opts_a);
    struct store_snap_reader r;
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(r.meta.index, 5);
    expect_snap(&r, d1, sizeof(d1));
    store_snap_close(&r);
    expect_log(&f->s, 6, 5);
    /* A new stream after reopen works and replaces it. */
    write_snap(&f->s, 9, 2, "c2", d2, sizeof(d2), 999, 10);
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(r.meta.index, 9);
    expect_snap(&r, d2, sizeof(d2));
    store_snap_close(&r);
}

/* Installing a snapshot: the log is dropped when asked, or when it does
 * not reach the snapshot's index; entries after it are kept otherwise. */
static void snapshot_install_log_rules(void **state)
{
    struct fx *f = *state;
    uint8_t d[100];
    fill(d, sizeof(d), 5);
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 10, 1, 0, true), 0);
    write_snap(&f->s, 8, 1, "", d, sizeof(d), 64, STORE_DROP_LOG);
    expect_log(&f->s, 9, 8);
    assert_int_equal(put_range(&f->s, 9, 12, 1, 0, true), 0);
    write_snap(&f->s, 20, 3, "", d, sizeof(d), 64, 21);
    expect_log(&f->s, 21, 20); /* the log did not reach 20: dropped */
    assert_int_equal(put_range(&f->s, 21, 25, 3, 0, true), 0);
    expect_log(&f->s, 21, 25);
    write_snap(&f->s, 23, 3, "", d, sizeof(d), 64, 24);
    expect_log(&f->s, 24, 25);
    expect_range(&f->s, 24, 25, 3);
    /* A receiver that learns the metadata with the last chunk. */
    assert_int_equal(store_snap_begin(&f->s, 1, 0, NULL, 0), 0);
    assert_int_equal(store_snap_write(&f->s, 0, d, sizeof(d)), 0);
    assert_int_equal(store_snap_commit_meta(&f->s, 30, 4,
                                            (const uint8_t *)"cf", 2,
                                            STORE_DROP_LOG), 0);
    expect_log(&f->s, 31, 30);
    struct store_snap_reader r;
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(r.meta.index, 30);
    assert_int_equal(r.meta.term, 4);
    assert_memory_equal(r.meta.conf, "cf", 2);
    expect_snap(&r, d, sizeof(d));
    store_snap_close(&r);
}

/* Power-loss mode: range deletes become point deletes over the held batch
 * plus the database, and a snapshot commit makes everything durable. */
static void power_loss_snapshot_and_compaction(void **state)
{
    struct fx *f = *state;
    uint8_t d[3000];
    fill(d, sizeof(d), 6);
    fx_open(f, &opts_pl);
    assert_int_equal(put_range(&f->s, 1, 10, 1, 0, true), 0);
    assert_int_equal(put_range(&f->s, 11, 20, 1, 0, false), 0);
    assert_int_equal(put_range(&f->s, 15, 16, 2, 15, false), 0);
    expect_log(&f->s, 1, 16);
    write_snap(&f->s, 12, 1, "pl", d, sizeof(d), 1024, 10);
    expect_log(&f->s, 13, 16);
    expect_range(&f->s, 10, 14, 1);
    assert_int_equal(put_range(&f->s, 17, 18, 2, 0, false), 0);
    assert_int_equal(store_compact(&f->s, 13), 0);
    expect_log(&f->s, 13, 18);
    fx_crash(f); /* loses 17..18 and the compaction, not the snapshot */
    fx_open(f, &opts_pl);
    if (fx_seg(f)) { /* ... except with segments: 17..18 are kept */
        expect_log(&f->s, 13, 18);
        expect_range(&f->s, 13, 14, 1);
        expect_range(&f->s, 15, 18, 2);
    } else {
        expect_log(&f->s, 13, 16);
        expect_range(&f->s, 10, 14, 1);
        expect_range(&f->s, 15, 16, 2);
    }
    struct store_snap_reader r;
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(r.meta.index, 12);
    expect_snap(&r, d, sizeof(d));
    store_snap_close(&r);
}

static void identity_checked(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 3, 1, 0, true), 0);
    fx_close(f);
    struct store_options o = {8, 1, false};
    assert_int_equal(fx_open_with(f, &o), COORD_EINVAL);
    assert_non_null(strstr(f->s.errmsg, "cluster id 7"));
    o = (struct store_options){7, 2, false};
    assert_int_equal(fx_open_with(f, &o), COORD_EINVAL);
    assert_non_null(strstr(f->s.errmsg, "node id 1"));
    o = (struct store_options){0, 1, false};
    assert_int_equal(fx_open_with(f, &o), COORD_EINVAL);
    /* A newer format is refused, never rewritten. */
    fx_open(f, &opts_a);
    uint8_t v[24];
    uint32_t n = store__encode_ident(v, STORE_FORMAT_VERSION + 1, 7, 1);
    assert_int_equal(store__put_raw(&f->s, STORE_CF_META,
                                    (const uint8_t *)"ident", 5, v, n), 0);
    fx_close(f);
    assert_int_equal(fx_open_with(f, &opts_a), COORD_EINVAL);
    assert_non_null(strstr(f->s.errmsg, "newer"));
    assert_int_equal(fx_open_with(f, &opts_a), COORD_EINVAL);
}

static void garbled_ident_refused(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    uint8_t v[24];
    store__encode_ident(v, STORE_FORMAT_VERSION, 7, 1);
    v[10] ^= 1;
    assert_int_equal(store__put_raw(&f->s, STORE_CF_META,
                                    (const uint8_t *)"ident", 5, v, 24), 0);
    fx_close(f);
    assert_int_equal(fx_open_with(f, &opts_a), COORD_ECORRUPT);
    assert_non_null(strstr(f->s.errmsg, "ident"));
}

static void garbled_hard_state_detected(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(hard_state(&f->s, 4, 2, true), 0);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.term, 4);
    uint8_t junk[20];
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(store__put_raw(&f->s, STORE_CF_META,
                                    (const uint8_t *)"hard", 4, junk, 20), 0);
    assert_int_equal(store_load(&f->s, &st), COORD_ECORRUPT);
    assert_non_null(strstr(f->s.errmsg, "meta/hard"));
    assert_int_equal(store__put_raw(&f->s, STORE_CF_META,
                                    (const uint8_t *)"hard", 4, junk, 7), 0);
    assert_int_equal(store_load(&f->s, &st), COORD_ECORRUPT);
}

/* Data without an identity record is not silently adopted. */
static void data_without_ident_refused(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 3, 1, 0, true), 0);
    struct store_kv_op op = {STORE_KV_DEL, STORE_CF_META,
                             (const uint8_t *)"ident", 5, NULL, 0};
    assert_int_equal(f->s.ops->apply(f->s.impl, f->s.errmsg, &op, 1, true),
                     0);
    fx_close(f);
    assert_int_equal(fx_open_with(f, &opts_a), COORD_ECORRUPT);
    assert_non_null(strstr(f->s.errmsg, "identity"));
}

static const uint8_t key_end17[17] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* Plants a raw log record at key (8 bytes) as the log's new last entry:
 * entries from key on are deleted first (log segments only append). */
static int plant_log(struct fx *f, const uint8_t *key, const uint8_t *val,
                     uint32_t vlen)
{
    struct store_kv_op ops[2] = {
        {STORE_KV_DELRANGE, STORE_CF_LOG, key, 8, key_end17, 17},
        {STORE_KV_PUT, STORE_CF_LOG, key, 8, val, vlen},
    };
    return f->s.ops->apply(f->s.impl, f->s.errmsg, ops, 2, true);
}

static void corrupt_entry_detected(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 8, 1, 0, true), 0);
    /* Read entry 5's record and flip one payload bit. */
    void *it;
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 5}, val[64];
    size_t vl;
    assert_int_equal(f->s.ops->iter_open(f->s.impl, f->s.errmsg, NULL,
                                         STORE_CF_LOG, &it), 0);
    f->s.ops->iter_seek(it, key, 8);
    assert_true(f->s.ops->iter_valid(it));
    const uint8_t *k, *v;
    size_t kl;
    f->s.ops->iter_get(it, &k, &kl, &v, &vl);
    assert_true(vl <= sizeof(val));
    memcpy(val, v, vl);
    f->s.ops->iter_close(it);
    val[vl - 1] ^= 0x10;
    assert_int_equal(plant_log(f, key, val, (uint32_t)vl), 0);
    struct store_entry out[8];
    uint8_t buf[256];
    uint32_t n;
    assert_int_equal(store_read(&f->s, 1, 9, out, 8, buf, 256, &n),
                     COORD_ECORRUPT);
    assert_non_null(strstr(f->s.errmsg, "entry 5"));
    assert_non_null(strstr(f->s.errmsg, "checksum"));
    assert_int_equal(store_read(&f->s, 1, 5, out, 8, buf, 256, &n), 0);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), COORD_ECORRUPT);
    /* A truncated value, and a record under another index. */
    assert_int_equal(plant_log(f, key, val, 9), 0);
    assert_int_equal(store_read(&f->s, 5, 6, out, 8, buf, 256, &n),
                     COORD_ECORRUPT);
    assert_non_null(strstr(f->s.errmsg, "truncated"));
    val[vl - 1] ^= 0x10;
    key[7] = 6;
    assert_int_equal(plant_log(f, key, val, (uint32_t)vl), 0);
    assert_int_equal(store_read(&f->s, 6, 7, out, 8, buf, 256, &n),
                     COORD_ECORRUPT);
    fx_close(f);
    fx_open(f, &opts_a);
    assert_int_equal(store_load(&f->s, &st), COORD_ECORRUPT);
}

static void corrupt_snapshot_chunk_detected(void **state)
{
    struct fx *f = *state;
    uint8_t d[300];
    fill(d, sizeof(d), 9);
    fx_open(f, &opts_a);
    write_snap(&f->s, 3, 1, "", d, sizeof(d), 100, STORE_DROP_LOG);
    /* Generation 1, chunk at offset 100: replace with garbage. */
    uint8_t key[16] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 100};
    uint8_t junk[104];
    memset(junk, 0xab, sizeof(junk));
    assert_int_equal(store__put_raw(&f->s, STORE_CF_SNAP, key, 16, junk,
                                    sizeof(junk)), 0);
    struct store_snap_reader r;
    uint8_t got[300];
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    assert_int_equal(store_snap_read(&r, 0, got, 100), 0);
    assert_int_equal(store_snap_read(&r, 0, got, 150), COORD_ECORRUPT);
    assert_non_null(strstr(r.errmsg, "offset 100"));
    store_snap_close(&r);
}

/* Records the log column family holds (through the backend). */
static uint64_t log_count(struct fx *f)
{
    void *it;
    uint64_t n = 0;
    assert_int_equal(f->s.ops->iter_open(f->s.impl, f->s.errmsg, NULL,
                                         STORE_CF_LOG, &it), 0);
    for (f->s.ops->iter_seek(it, (const uint8_t *)"", 0);
         f->s.ops->iter_valid(it); f->s.ops->iter_next(it))
        n++;
    assert_int_equal(f->s.ops->iter_status(it, f->s.errmsg), 0);
    f->s.ops->iter_close(it);
    return n;
}

/* The state a crash leaves between a snapshot commit's metadata and its
 * STORE_DROP_LOG (log segments write them in two steps), planted by a
 * commit that keeps the whole log (keep_from 1) under a snapshot whose
 * term differs from the log's entry at its index: the entries after it
 * are of a replaced history. store_load reports none after the snapshot
 * and deletes them, so appends after the snapshot work. */
static void drop_log_crash_window(void **state)
{
    struct fx *f = *state;
    uint8_t d[100];
    fill(d, sizeof(d), 8);
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 10, 1, 0, true), 0);
    write_snap(&f->s, 8, 2, "", d, sizeof(d), 64, 1);
    expect_log(&f->s, 9, 8);
    assert_int_equal(log_count(f), 0);
    struct store_entry out[2];
    uint8_t buf[64];
    uint32_t n;
    assert_int_equal(store_read(&f->s, 9, 10, out, 2, buf, 64, &n),
                     COORD_ENONODE);
    assert_int_equal(put_range(&f->s, 9, 12, 2, 0, true), 0);
    expect_log(&f->s, 9, 12);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 9, 12);
    expect_range(&f->s, 9, 12, 2);
    /* The same with a matching term keeps the log. */
    write_snap(&f->s, 10, 2, "", d, sizeof(d), 64, 1);
    expect_log(&f->s, 11, 12);
    expect_range(&f->s, 9, 12, 2);
}

/* A log that ends before the snapshot (the other shape of that window)
 * is deleted at load, also after a reopen. */
static void log_ends_before_snapshot(void **state)
{
    struct fx *f = *state;
    uint8_t d[100];
    fill(d, sizeof(d), 9);
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 10, 1, 0, true), 0);
    write_snap(&f->s, 8, 1, "", d, sizeof(d), 64, 1);
    assert_int_equal(put_range(&f->s, 1, 0, 0, 6, true), 0); /* [1, 5] */
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 9, 8);
    assert_int_equal(log_count(f), 0);
    assert_int_equal(put_range(&f->s, 9, 11, 2, 0, true), 0);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 9, 11);
    expect_range(&f->s, 9, 11, 2);
}

static void reopen_after_truncation(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 20, 1, 0, true), 0);
    assert_int_equal(put_range(&f->s, 11, 15, 2, 11, true), 0);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 15);
    expect_range(&f->s, 1, 10, 1);
    expect_range(&f->s, 11, 15, 2);
    assert_int_equal(put_range(&f->s, 1, 0, 0, 5, true), 0);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 4);
    expect_range(&f->s, 1, 4, 1);
    assert_int_equal(put_range(&f->s, 5, 6, 3, 0, true), 0);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 6);
    expect_range(&f->s, 1, 4, 1);
    expect_range(&f->s, 5, 6, 3);
}

/* ---- the worker on both backends ----------------------------------------- */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t done_seq;
    int status;
    int calls;
    bool ordered;
    /* sync hook (memory disk) */
    bool block;
    bool in_sync;
    int hooked;
};

static void waiter_init(struct waiter *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->ordered = true;
}

static void waiter_destroy(struct waiter *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void done_cb(void *data, int status, uint64_t seq)
{
    struct waiter *w = data;
    pthread_mutex_lock(&w->mu);
    if (seq <= w->done_seq)
        w->ordered = false;
    w->done_seq = seq;
    w->status = status;
    w->calls++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void wait_done(struct waiter *w, uint64_t seq)
{
    pthread_mutex_lock(&w->mu);
    while (w->done_seq < seq && w->status == 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static int submit_range(struct store_worker *wk, uint64_t seq, uint64_t lo,
                        uint64_t hi, uint64_t term)
{
    struct store_entry es[16];
    char data[16][48];
    uint32_t n = 0;
    for (uint64_t i = lo; i <= hi; i++, n++) {
        payload(data[n], sizeof(data[n]), i, term);
        es[n] = (struct store_entry){i, term, (uint8_t)(i % 3 + 1),
                                     (uint32_t)strlen(data[n]),
                                     (const uint8_t *)data[n]};
    }
    struct store_write w = {true, term, 1, 0, es, n};
    return store_worker_submit(wk, seq, &w);
}

static void worker_persists_in_order(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    struct waiter wt;
    waiter_init(&wt);
    static uint8_t d[6000];
    fill(d, sizeof(d), 8);
    write_snap(&f->s, 1, 1, "w", d, sizeof(d), 2500, 1);
    struct store_snap_reader r;
    assert_int_equal(store_snap_open(&f->s, &r), 0);
    struct store_worker wk;
    assert_int_equal(store_worker_start(&wk, &f->s, 256, 1 << 20, done_cb,
                                        &wt), 0);
    for (uint64_t seq = 1; seq <= 100; seq++) {
        assert_int_equal(submit_range(&wk, seq, 2 * seq - 1, 2 * seq, 1), 0);
        /* The snapshot reads consistently while the worker writes. */
        if (seq % 25 == 0)
            expect_snap(&r, d, sizeof(d));
    }
    assert_int_equal(submit_range(&wk, 100, 201, 201, 1), COORD_EINVAL);
    wait_done(&wt, 100);
    store_snap_close(&r);
    assert_int_equal(wt.status, 0);
    assert_true(wt.ordered);
    struct store_worker_stats ws;
    store_worker_get_stats(&wk, &ws);
    assert_int_equal(ws.requests, 100);
    assert_int_equal(ws.syncs, ws.batches);
    assert_true(ws.batches >= 1 && ws.batches <= 100);
    assert_int_equal(wt.calls, ws.batches);
    store_worker_stop(&wk);
    waiter_destroy(&wt);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 2, 200); /* the snapshot covers 1 */
    expect_range(&f->s, 1, 200, 1);
}

/* ---- memory disk only ------------------------------------------------------ */

static void hold_sync(void *data)
{
    struct waiter *w = data;
    pthread_mutex_lock(&w->mu);
    w->hooked++;
    w->in_sync = true;
    pthread_cond_broadcast(&w->cv);
    while (w->block)
        pthread_cond_wait(&w->cv, &w->mu);
    w->in_sync = false;
    pthread_mutex_unlock(&w->mu);
}

/* Everything submitted while one fsync runs goes into the next batch. */
static void mem_group_commit(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    struct waiter wt;
    waiter_init(&wt);
    wt.block = true;
    store_mem_sync_hook(f->disk, hold_sync, &wt);
    struct store_worker wk;
    assert_int_equal(store_worker_start(&wk, &f->s, 64, 1 << 20, done_cb,
                                        &wt), 0);
    assert_int_equal(submit_range(&wk, 1, 1, 1, 1), 0);
    pthread_mutex_lock(&wt.mu);
    while (!wt.in_sync)
        pthread_cond_wait(&wt.cv, &wt.mu);
    pthread_mutex_unlock(&wt.mu);
    /* The first fsync is in progress: queue 49 more. */
    for (uint64_t seq = 2; seq <= 50; seq++)
        assert_int_equal(submit_range(&wk, seq, seq, seq, 1), 0);
    pthread_mutex_lock(&wt.mu);
    assert_int_equal(wt.done_seq, 0); /* nothing durable yet */
    wt.block = false;
    pthread_cond_broadcast(&wt.cv);
    pthread_mutex_unlock(&wt.mu);
    wait_done(&wt, 50);
    struct store_worker_stats ws;
    store_worker_get_stats(&wk, &ws);
    assert_int_equal(wt.status, 0);
    assert_true(wt.ordered);
    assert_int_equal(wt.calls, 2);
    assert_int_equal(ws.requests, 50);
    assert_int_equal(ws.batches, 2);
    assert_int_equal(ws.syncs, 2);
    assert_int_equal(ws.max_group, 49);
    assert_int_equal(wt.hooked, 2);
    store_worker_stop(&wk);
    store_mem_sync_hook(f->disk, NULL, NULL);
    waiter_destroy(&wt);
    expect_range(&f->s, 1, 50, 1);
}

/* The queue is bounded: a full queue answers COORD_EAGAIN. */
static void mem_worker_backpressure(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    struct waiter wt;
    waiter_init(&wt);
    wt.block = true;
    store_mem_sync_hook(f->disk, hold_sync, &wt);
    struct store_worker wk;
    assert_int_equal(store_worker_start(&wk, &f->s, 4, 1 << 20, done_cb,
                                        &wt), 0);
    assert_int_equal(submit_range(&wk, 1, 1, 1, 1), 0);
    pthread_mutex_lock(&wt.mu);
    while (!wt.in_sync)
        pthread_cond_wait(&wt.cv, &wt.mu);
    pthread_mutex_unlock(&wt.mu);
    for (uint64_t seq = 2; seq <= 4; seq++)
        assert_int_equal(submit_range(&wk, seq, seq, seq, 1), 0);
    assert_int_equal(submit_range(&wk, 5, 5, 5, 1), COORD_EAGAIN);
    pthread_mutex_lock(&wt.mu);
    wt.block = false;
    pthread_cond_broadcast(&wt.cv);
    pthread_mutex_unlock(&wt.mu);
    wait_done(&wt, 4);
    assert_int_equal(submit_range(&wk, 5, 5, 5, 1), 0);
    wait_done(&wt, 5);
    store_worker_stop(&wk);
    store_mem_sync_hook(f->disk, NULL, NULL);
    waiter_destroy(&wt);
    expect_range(&f->s, 1, 5, 1);
}

static void mem_fault_injection(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 3, 1, 0, true), 0);
    store_mem_fail_write(f->disk, 2);
    assert_int_equal(put_range(&f->s, 4, 4, 1, 0, false), 0);
    assert_int_equal(put_range(&f->s, 5, 5, 1, 0, false), COORD_EIO);
    assert_non_null(strstr(f->s.errmsg, "write"));
    expect_log(&f->s, 1, 4); /* the failed batch left nothing behind */
    store_mem_fail_sync(f->disk, 1);
    assert_int_equal(put_range(&f->s, 5, 6, 1, 0, true), COORD_EIO);
    assert_non_null(strstr(f->s.errmsg, "fsync"));
    /* The caller must crash now; what the failed sync covered is lost. */
    fx_crash(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 3);
    struct store_stats st;
    store_get_stats(&f->s, &st);
    assert_int_equal(st.writes, 0);
}

static void mem_worker_fatal_error(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    struct waiter wt;
    waiter_init(&wt);
    struct store_worker wk;
    assert_int_equal(store_worker_start(&wk, &f->s, 16, 1 << 20, done_cb,
                                        &wt), 0);
    assert_int_equal(submit_range(&wk, 1, 1, 2, 1), 0);
    wait_done(&wt, 1);
    store_mem_fail_sync(f->disk, 1);
    assert_int_equal(submit_range(&wk, 2, 3, 3, 1), 0);
    pthread_mutex_lock(&wt.mu);
    while (wt.status == 0)
        pthread_cond_wait(&wt.cv, &wt.mu);
    pthread_mutex_unlock(&wt.mu);
    assert_int_equal(wt.status, COORD_EIO);
    assert_int_equal(wt.done_seq, 2);
    assert_int_equal(submit_range(&wk, 3, 4, 4, 1), COORD_EIO);
    assert_non_null(strstr(wk.errmsg, "fsync"));
    store_worker_stop(&wk);
    waiter_destroy(&wt);
    fx_crash(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 2);
}

/* Closing without power-loss mode keeps unsynced writes (a process exit
 * keeps the page cache); a crash does not. */
static void mem_close_versus_crash(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 3, 1, 0, false), 0);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 3);
    assert_int_equal(put_range(&f->s, 4, 5, 1, 0, false), 0);
    fx_crash(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 3);
    struct store s2;
    assert_int_equal(store_open_mem(&s2, f->disk, &opts_a), COORD_EBUSY);
}

/* ---- RocksDB only ------------------------------------------------------------ */

static void rocks_foreign_dir_refused(void **state)
{
    struct fx *f = *state;
    char p[96];
    snprintf(p, sizeof(p), "%s/notes.txt", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("not a database\n", fp);
    fclose(fp);
    assert_int_equal(fx_open_with(f, &opts_a), COORD_EINVAL);
    assert_non_null(strstr(f->s.errmsg, "not a coordd data directory"));
    remove(p);
    fx_open(f, &opts_a);
    fx_close(f);
    /* A missing parent directory is an I/O error with a message. */
    struct store s;
    assert_int_equal(store_open_rocks(&s, "/nonexistent-dir/x", &opts_a),
                     COORD_EIO);
    assert_non_null(strstr(s.errmsg, "/nonexistent-dir/x"));
}

/* The child side of kill9_child, in a freshly exec'd process (forking a
 * process that already runs RocksDB threads is unsafe): writes A synced
 * and B unsynced, reports on fd, waits to be killed. */
static int kill9_child_main(const char *dir, bool power_loss, int kind,
                            int fd)
{
    struct store s;
    struct fx k = {.kind = kind};
    struct store_options po = {7, 1, power_loss};
    struct store_options o = fx_opts(&k, &po);
    if (store_open_rocks(&s, dir, &o) || put_range(&s, 1, 5, 1, 0, true) ||
        put_range(&s, 6, 9, 1, 0, false))
        return 1;
    if (write(fd, "x", 1) != 1)
        return 1;
    for (;;)
        pause();
}

/* A child writes A synced and B unsynced, then is killed with SIGKILL.
 * Without power-loss mode B survives (the page cache does); with it, B is
 * lost, as after a power cut. */
static void kill9_child(struct fx *f, bool power_loss)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char fdarg[16];
        close(pfd[0]);
        snprintf(fdarg, sizeof(fdarg), "%d", pfd[1]);
        execl("/proc/self/exe", "test_store", "--kill9-child", f->dir,
              power_loss ? "1" : "0", f->kind == K_ROCKS ? "1" : "3", fdarg,
              (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char c;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
}

static void rocks_kill9_power_loss(void **state)
{
    struct fx *f = *state;
    kill9_child(f, false);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 9);
    fx_close(f);
    tdir_remove(f->dir);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    kill9_child(f, true);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, fx_seg(f) ? 9 : 5); /* segments: durable at once */
    expect_range(&f->s, 1, fx_seg(f) ? 9 : 5, 1);
}

/* ---- log segments (RocksDB with segments) ------------------------------ */

/* Only the shapes store.c emits reach the segments; the rest is refused
 * with a message and changes nothing. */
static void seg_only_log_shapes(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 5, 1, 0, true), 0);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    /* An older binary (format 1 only) refuses this store. */
    assert_int_equal(st.format, STORE_FORMAT_SEGMENTS);
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 3}, key2[8] = {0};
    uint8_t val[32] = {1};
    /* An overwrite inside the log is not an append. */
    assert_int_not_equal(store__put_raw(&f->s, STORE_CF_LOG, key, 8, val,
                                        sizeof(val)), 0);
    struct store_kv_op bad[4] = {
        {STORE_KV_DEL, STORE_CF_LOG, key, 8, NULL, 0},
        {STORE_KV_DELRANGE, STORE_CF_LOG, key, 8, key2, 8},
        {STORE_KV_PUT, STORE_CF_LOG, key, 4, val, 4},
        {STORE_KV_PUT, STORE_CF_LOG, key, 8, val, 0},
    };
    for (int i = 0; i < 4; i++) {
        struct store_kv_op two[2] = {
            {STORE_KV_PUT, STORE_CF_META, (const uint8_t *)"x", 1, val, 1},
            bad[i],
        };
        f->s.errmsg[0] = 0;
        assert_int_equal(f->s.ops->apply(f->s.impl, f->s.errmsg, two, 2,
                                         true), COORD_EINVAL);
        assert_non_null(strstr(f->s.errmsg, "not an append"));
    }
    void *view, *it;
    assert_int_equal(f->s.ops->view_open(f->s.impl, f->s.errmsg, &view), 0);
    assert_int_equal(f->s.ops->iter_open(f->s.impl, f->s.errmsg, view,
                                         STORE_CF_LOG, &it), COORD_EINVAL);
    f->s.ops->view_close(f->s.impl, view);
    /* Nothing of the refused batches was written, even their meta part. */
    uint8_t got[8];
    assert_int_equal(f->s.ops->iter_open(f->s.impl, f->s.errmsg, NULL,
                                         STORE_CF_META, &it), 0);
    f->s.ops->iter_seek(it, (const uint8_t *)"x", 1);
    bool x = false;
    if (f->s.ops->iter_valid(it)) {
        const uint8_t *k, *v;
        size_t kl, vl;
        f->s.ops->iter_get(it, &k, &kl, &v, &vl);
        x = kl == 1 && k[0] == 'x';
    }
    f->s.ops->iter_close(it);
    assert_false(x);
    (void)got;
    expect_log(&f->s, 1, 5);
    expect_range(&f->s, 1, 5, 1);
    /* Iterator edges: seek past the end, seek_prev before the start. */
    uint8_t k9[8] = {0, 0, 0, 0, 0, 0, 0, 9}, k0[8] = {0};
    assert_int_equal(f->s.ops->iter_open(f->s.impl, f->s.errmsg, NULL,
                                         STORE_CF_LOG, &it), 0);
    f->s.ops->iter_seek(it, k9, 8);
    assert_false(f->s.ops->iter_valid(it));
    f->s.ops->iter_seek_prev(it, k9, 8);
    assert_true(f->s.ops->iter_valid(it));
    const uint8_t *k, *v;
    size_t kl, vl;
    f->s.ops->iter_get(it, &k, &kl, &v, &vl);
    assert_int_equal(kl, 8);
    assert_int_equal(k[7], 5);
    f->s.ops->iter_seek_prev(it, k0, 8);
    assert_false(f->s.ops->iter_valid(it));
    f->s.ops->iter_seek_prev(it, key_end17, 17);
    assert_true(f->s.ops->iter_valid(it));
    f->s.ops->iter_get(it, &k, &kl, &v, &vl);
    assert_int_equal(k[7], 5);
    f->s.ops->iter_close(it);
    /* Segments on disk; segments off is refused on this store. */
    char p[128];
    snprintf(p, sizeof(p), "%s/log-segments", f->dir);
    assert_int_equal(access(p, F_OK), 0);
    fx_close(f);
    f->kind = K_ROCKS_LOG;
    assert_int_equal(fx_open_with(f, &opts_a), COORD_EINVAL);
    assert_non_null(strstr(f->s.errmsg, "log_segments off"));
    f->kind = K_ROCKS;
}

/* Writes entries [1, n] with term 1 in pieces of 200. */
static void put_many(struct store *s, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = lo; i <= hi; i += 200) {
        uint64_t e = i + 199 < hi ? i + 199 : hi;
        assert_int_equal(put_range(s, i, e, 1, 0, true), 0);
    }
}

static void expect_many(struct store *s, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = lo; i <= hi; i += 250) {
        uint64_t e = i + 249 < hi ? i + 249 : hi;
        expect_range(s, i, e, 1);
    }
}

/* A format 1 store (log in RocksDB) opened with segments on is migrated:
 * same hard state, snapshot and entries (more than one copy batch), format
 * 2; it then stays format 2 and refuses segments off. */
static void seg_migration_from_rocks_log(void **state)
{
    struct fx *f = *state;
    uint8_t d[500];
    fill(d, sizeof(d), 3);
    f->kind = K_ROCKS_LOG;
    fx_open(f, &opts_a);
    assert_int_equal(hard_state(&f->s, 4, 2, true), 0);
    put_many(&f->s, 1, 2100);
    write_snap(&f->s, 50, 1, "c", d, sizeof(d), 128, 41);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.format, STORE_FORMAT_ROCKS_LOG);
    fx_close(f);
    f->kind = K_ROCKS;
    for (int round = 0; round < 2; round++) {
        fx_open(f, &opts_a);
        assert_int_equal(store_load(&f->s, &st), 0);
        assert_int_equal(st.format, STORE_FORMAT_SEGMENTS);
        assert_int_equal(st.term, 4);
        assert_int_equal(st.vote, 2);
        assert_int_equal(st.snap.index, 50);
        assert_int_equal(st.first, 51);
        assert_int_equal(st.last, 2100);
        expect_many(&f->s, 41, 2100);
        struct store_snap_reader r;
        assert_int_equal(store_snap_open(&f->s, &r), 0);
        expect_snap(&r, d, sizeof(d));
        store_snap_close(&r);
        fx_close(f);
    }
    fx_open(f, &opts_a);
    put_many(&f->s, 2101, 2110);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 51, 2110);
    expect_many(&f->s, 41, 60);
    expect_many(&f->s, 2000, 2110);
    fx_close(f);
    f->kind = K_ROCKS_LOG;
    assert_int_equal(fx_open_with(f, &opts_a), COORD_EINVAL);
    f->kind = K_ROCKS;
}

/* A migration interrupted by a crash (format still 1, part of the log
 * already in segments: planted with junk) is redone from the start. */
static void seg_migration_redone_after_crash(void **state)
{
    struct fx *f = *state;
    f->kind = K_ROCKS_LOG;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 20, 1, 0, true), 0);
    fx_close(f);
    char p[128], err[STORE_ERRMSG_BYTES];
    snprintf(p, sizeof(p), "%s/log-segments", f->dir);
    struct seglog *l;
    struct seglog_options so = {.segment_bytes = SEGLOG_SEGMENT_BYTES_MIN};
    assert_int_equal(seglog_open(&l, p, &so, err), 0);
    struct seglog_rec junk[3] = {{1, (const uint8_t *)"junk", 4},
                                 {2, (const uint8_t *)"junk", 4},
                                 {3, (const uint8_t *)"junk", 4}};
    assert_int_equal(seglog_append(l, junk, 3, err), 0);
    seglog_close(l);
    f->kind = K_ROCKS;
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 20);
    expect_range(&f->s, 1, 20, 1);
}

/* A log-only batch without sync is durable at once (segments), so the
 * unsynced RocksDB write before it (held in power-loss mode) must become
 * durable first: batches become durable in call order. */
static void seg_log_only_batch_syncs_earlier(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_pl);
    assert_int_equal(hard_state(&f->s, 5, 3, false), 0);
    assert_int_equal(put_range(&f->s, 1, 3, 1, 0, false), 0);
    fx_crash(f);
    fx_open(f, &opts_pl);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.last, 3); /* the later batch survived ... */
    assert_int_equal(st.term, 5); /* ... so the earlier one must have */
    assert_int_equal(st.vote, 3);
}

/* Counts the meta keys starting with "t-" (test keys planted below). */
static int count_test_keys(struct fx *f)
{
    void *it;
    int n = 0;
    assert_int_equal(f->s.ops->iter_open(f->s.impl, f->s.errmsg, NULL,
                                         STORE_CF_META, &it), 0);
    for (f->s.ops->iter_seek(it, (const uint8_t *)"t-", 2);
         f->s.ops->iter_valid(it); f->s.ops->iter_next(it)) {
        const uint8_t *k, *v;
        size_t kl, vl;
        f->s.ops->iter_get(it, &k, &kl, &v, &vl);
        if (kl < 2 || memcmp(k, "t-", 2) != 0)
            break;
        n++;
    }
    f->s.ops->iter_close(it);
    return n;
}

/* Errors in the log half of a batch whose RocksDB half is durable are
 * sticky (COORD_EIO, every later write and sync refused); running out of
 * memory for the append happens before anything is written. */
static void seg_errors_after_durable_half_sticky(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    uint8_t k5[8] = {0, 0, 0, 0, 0, 0, 0, 5}, k9[8] = {0, 0, 0, 0, 0, 0, 0, 9};
    struct store_kv_op ops[2] = {
        {STORE_KV_PUT, STORE_CF_META, (const uint8_t *)"t-a", 3,
         (const uint8_t *)"v", 1},
        {STORE_KV_PUT, STORE_CF_LOG, k5, 8, (const uint8_t *)"e", 1},
    };
    /* The append scratch's allocation fails: nothing written. */
    coord_alloc_counting_enable(1);
    int rc = f->s.ops->apply(f->s.impl, f->s.errmsg, ops, 2, true);
    coord_alloc_counting_disable();
    assert_int_equal(rc, COORD_ENOMEM);
    assert_int_equal(count_test_keys(f), 0);
    assert_int_equal(put_range(&f->s, 1, 3, 1, 0, true), 0);
    /* RocksDB half durable, then the append is refused (index 5 after 3):
     * half applied, so sticky. */
    rc = f->s.ops->apply(f->s.impl, f->s.errmsg, ops, 2, true);
    assert_int_equal(rc, COORD_EIO);
    assert_int_equal(count_test_keys(f), 1);
    ops[1].key = k9;
    ops[0].key = (const uint8_t *)"t-b";
    assert_int_equal(f->s.ops->apply(f->s.impl, f->s.errmsg, ops, 1, true),
                     COORD_EIO);
    assert_int_equal(f->s.ops->sync(f->s.impl, f->s.errmsg), COORD_EIO);
    assert_non_null(strstr(f->s.errmsg, "append at 5"));
    assert_int_equal(count_test_keys(f), 1);
}

/* Migration copies in batches of at most half a segment: with big
 * entries no batch gets a segment of its own larger than
 * log_segment_bytes (with 1024 records per batch it would; with bigger
 * entries such a batch exceeds what seglog accepts). */
static void seg_migration_batches_by_bytes(void **state)
{
    struct fx *f = *state;
    static uint8_t big[20][16 * 1024];
    static struct store_entry es[20];
    f->kind = K_ROCKS_LOG;
    fx_open(f, &opts_a);
    for (uint64_t b = 0; b < 5; b++) {
        for (uint64_t i = 0; i < 20; i++) {
            fill(big[i], sizeof(big[i]), b * 20 + i);
            es[i] = (struct store_entry){b * 20 + i + 1, 1, 1,
                                         sizeof(big[i]), big[i]};
        }
        struct store_write w = {false, 0, 0, 0, es, 20};
        assert_int_equal(store_write(&f->s, &w, 1, true), 0);
    }
    fx_close(f);
    f->kind = K_ROCKS;
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 100);
    char p[128];
    snprintf(p, sizeof(p), "%s/log-segments", f->dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    struct dirent *de;
    int nseg = 0;
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl < 4 || strcmp(de->d_name + nl - 4, ".seg") != 0)
            continue;
        struct stat sb;
        assert_int_equal(fstatat(dirfd(d), de->d_name, &sb, 0), 0);
        assert_true((uint64_t)sb.st_size <= SEGLOG_SEGMENT_BYTES_MIN);
        nseg++;
    }
    closedir(d);
    assert_true(nseg >= 25);
    struct store_entry out[1];
    static uint8_t buf[sizeof(big[0]) + 64];
    uint32_t n;
    assert_int_equal(store_read(&f->s, 77, 78, out, 1, buf, sizeof(buf), &n),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].len, sizeof(big[0]));
    fill(big[0], sizeof(big[0]), 76);
    assert_memory_equal(out[0].data, big[0], sizeof(big[0]));
}

/* With segments, load does not decode every entry again (seglog checked
 * each record's CRC and the contiguity at open): an entry whose store.c
 * checksum is bad but whose seglog record is valid (only a writer bug can
 * make one) in the middle of the log passes load and is caught at read;
 * the last entry is still decoded at load. */
static void seg_load_skips_middle_entries(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 8, 1, 0, true), 0);
    static uint8_t vals[4][64];
    uint32_t lens[4];
    uint8_t keys[4][8] = {{0}};
    void *it;
    assert_int_equal(f->s.ops->iter_open(f->s.impl, f->s.errmsg, NULL,
                                         STORE_CF_LOG, &it), 0);
    for (int i = 0; i < 4; i++) {
        keys[i][7] = (uint8_t)(5 + i);
        f->s.ops->iter_seek(it, keys[i], 8);
        assert_true(f->s.ops->iter_valid(it));
        const uint8_t *k, *v;
        size_t kl, vl;
        f->s.ops->iter_get(it, &k, &kl, &v, &vl);
        assert_true(vl <= sizeof(vals[i]));
        memcpy(vals[i], v, vl);
        lens[i] = (uint32_t)vl;
    }
    f->s.ops->iter_close(it);
    vals[0][lens[0] - 1] ^= 0x10;
    struct store_kv_op ops[5] = {
        {STORE_KV_DELRANGE, STORE_CF_LOG, keys[0], 8, key_end17, 17},
    };
    for (int i = 0; i < 4; i++)
        ops[1 + i] = (struct store_kv_op){STORE_KV_PUT, STORE_CF_LOG,
                                          keys[i], 8, vals[i], lens[i]};
    assert_int_equal(f->s.ops->apply(f->s.impl, f->s.errmsg, ops, 5, true),
                     0);
    fx_close(f);
    fx_open(f, &opts_a);
    expect_log(&f->s, 1, 8);
    struct store_entry out[8];
    uint8_t buf[256];
    uint32_t n;
    assert_int_equal(store_read(&f->s, 1, 9, out, 8, buf, 256, &n),
                     COORD_ECORRUPT);
    assert_non_null(strstr(f->s.errmsg, "entry 5"));
    /* Now the last entry: load decodes it. */
    vals[0][lens[0] - 1] ^= 0x10;
    vals[3][lens[3] - 1] ^= 0x10;
    assert_int_equal(f->s.ops->apply(f->s.impl, f->s.errmsg, ops, 5, true),
                     0);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), COORD_ECORRUPT);
    assert_non_null(strstr(f->s.errmsg, "entry 8"));
}

#define BOTH(X)                                                               \
    X(write_read_reopen)                                                      \
    X(read_limits)                                                            \
    X(truncate_on_conflict)                                                   \
    X(several_writes_one_batch)                                               \
    X(hard_state_atomic_with_entries)                                         \
    X(power_loss_loses_exactly_unsynced)                                      \
    X(compaction)                                                             \
    X(snapshot_stream)                                                        \
    X(snapshot_unfinished_and_misuse)                                         \
    X(snapshot_install_log_rules)                                             \
    X(power_loss_snapshot_and_compaction)                                     \
    X(identity_checked)                                                       \
    X(garbled_ident_refused)                                                  \
    X(garbled_hard_state_detected)                                            \
    X(data_without_ident_refused)                                             \
    X(corrupt_entry_detected)                                                 \
    X(corrupt_snapshot_chunk_detected)                                        \
    X(drop_log_crash_window)                                                  \
    X(log_ends_before_snapshot)                                               \
    X(reopen_after_truncation)                                                \
    X(worker_persists_in_order)

#define ROCKS_TEST(name)                                                      \
    cmocka_unit_test_setup_teardown(name, setup_rocks, teardown),
#define MEM_TEST(name)                                                        \
    cmocka_unit_test_setup_teardown(name, setup_mem, teardown),
#define ROCKS_LOG_TEST(name)                                                  \
    cmocka_unit_test_setup_teardown(name, setup_rocks_log, teardown),

/* CRC32C (the instruction where the CPU has it, else the table) gives
 * the standard check values, whole and in pieces, at every alignment. */
static void crc32c_known_answers(void **state)
{
    (void)state;
    assert_int_equal(store__crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(store__crc32c(0, "", 0), 0);
    static uint8_t zeros[32];
    assert_int_equal(store__crc32c(0, zeros, 32), 0x8a9136aau);
    uint8_t buf[64 + 9];
    for (size_t off = 0; off < 64; off++) {
        memcpy(buf + off, "123456789", 9);
        uint32_t c = store__crc32c(0, buf + off, 4);
        assert_int_equal(store__crc32c(c, buf + off + 4, 5), 0xe3069283u);
    }
}

/* A torn tail (junk after the last record of the last segment, as a write
 * a crash interrupted leaves it) is zeroed at open and reported by
 * store_load (coordd logs it); a clean log reports nothing. */
static void seg_torn_tail_reported(void **state)
{
    struct fx *f = *state;
    fx_open(f, &opts_a);
    assert_int_equal(put_range(&f->s, 1, 6, 1, 0, true), 0);
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_true(st.log_zeroed == 0 && st.log_zeroed_at == 0);
    fx_close(f);
    char p[160];
    snprintf(p, sizeof(p), "%s/log-segments/%020llu.seg", f->dir, 1ULL);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    /* Find the end of the records (seglog.h: a u32 length, 16-byte
     * header, padded to 8; a zero length ends them). */
    uint8_t hdr[4];
    off_t end = 0;
    while (pread(fd, hdr, 4, end) == 4) {
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                       (uint32_t)hdr[2] << 8 | hdr[3];
        if (len == 0)
            break;
        end += (off_t)((SEGLOG_REC_HDR + len + 7) / 8 * 8);
    }
    assert_true(end > 0 && end + 64 < sb.st_size);
    uint8_t junk[40];
    memset(junk, 0xa5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), end), (ssize_t)40);
    close(fd);
    fx_open(f, &opts_a);
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.last, 6);
    assert_int_equal(st.log_zeroed_at, (uint64_t)end);
    assert_true(st.log_zeroed > 0);
    expect_log(&f->s, 1, 6);
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--kill9-child") == 0)
        return kill9_child_main(argv[2], argv[3][0] == '1',
                                argv[4][0] == '1' ? K_ROCKS : K_ROCKS_LOG,
                                (int)strtol(argv[5], NULL, 10));
    const struct CMUnitTest rocks_tests[] = {
        BOTH(ROCKS_TEST)
        ROCKS_TEST(rocks_foreign_dir_refused)
        ROCKS_TEST(rocks_kill9_power_loss)
        ROCKS_TEST(seg_only_log_shapes)
        ROCKS_TEST(seg_migration_from_rocks_log)
        ROCKS_TEST(seg_migration_redone_after_crash)
        ROCKS_TEST(seg_log_only_batch_syncs_earlier)
        ROCKS_TEST(seg_errors_after_durable_half_sticky)
        ROCKS_TEST(seg_migration_batches_by_bytes)
        ROCKS_TEST(seg_load_skips_middle_entries)
        ROCKS_TEST(seg_torn_tail_reported)
    };
    const struct CMUnitTest rocks_log_tests[] = {
        BOTH(ROCKS_LOG_TEST)
        ROCKS_LOG_TEST(rocks_foreign_dir_refused)
        ROCKS_LOG_TEST(rocks_kill9_power_loss)
    };
    const struct CMUnitTest mem_tests[] = {
        BOTH(MEM_TEST)
        MEM_TEST(mem_group_commit)
        MEM_TEST(mem_worker_backpressure)
        MEM_TEST(mem_fault_injection)
        MEM_TEST(mem_worker_fatal_error)
        MEM_TEST(mem_close_versus_crash)
    };
    const struct CMUnitTest crc_tests[] = {
        cmocka_unit_test(crc32c_known_answers),
    };
    int rc = cmocka_run_group_tests_name("store_crc", crc_tests, NULL, NULL);
    rc |= cmocka_run_group_tests_name("store_rocks", rocks_tests, NULL,
                                      NULL);
    rc |= cmocka_run_group_tests_name("store_rocks_log", rocks_log_tests,
                                      NULL, NULL);
    rc |= cmocka_run_group_tests_name("store_mem", mem_tests, NULL, NULL);
    return rc;
}
