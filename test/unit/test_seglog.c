/* test_seglog.c -- unit tests for coordd/store/seglog.c, the Raft log in
 * preallocated segment files: append/read/reopen, rotation and the spare
 * (its pacing rule, its pacing by the appends, a rotation that catches up
 * with a paced spare), truncate, compact, torn tails, open reading each
 * byte once, corruption (flipped bit, gap, a record with another
 * segment's CRC seed), the on-disk format, bad arguments.
 * Every case runs in buffered mode and, where the temp dir's file system
 * allows it, in direct mode, each in its own mkdtemp dir under /tmp that
 * the test removes. Waiting for the spare polls its file with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/store/seglog.h"
#include "coordd/store/seglog_int.h"
#include "coordd/store/store.h"
#include "coordd/store/store_int.h"
#include "libcoord/shared/alloc.h"
#include "test/lib/tmpdir.h"

struct fx {
    bool buffered;
    char dir[64];
    struct seglog *l;
    uint64_t seg_bytes;
    uint64_t spare_chunk;   /* 0: the default */
    uint64_t spare_idle_us; /* 0: the default */
    char err[STORE_ERRMSG_BYTES];
    uint8_t *buf;
    size_t cap;
};

static struct fx fx_buffered = {.buffered = true};
static struct fx fx_direct = {.buffered = false};

static int fx_setup(void **state)
{
    struct fx *f = *state;
    snprintf(f->dir, sizeof(f->dir), "/tmp/seglog-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->l = NULL;
    f->seg_bytes = 256 * 1024; /* small spares: less disk traffic */
    f->spare_chunk = 0;
    f->spare_idle_us = 0;
    f->buf = NULL;
    f->cap = 0;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    seglog_close(f->l);
    f->l = NULL;
    coord_free(f->buf);
    f->buf = NULL;
    tdir_remove(f->dir);
    return 0;
}

static int fx_open_rc(struct fx *f)
{
    struct seglog_options o = {f->seg_bytes, f->buffered, f->spare_chunk,
                               f->spare_idle_us};
    seglog_close(f->l);
    f->l = NULL;
    f->err[0] = 0;
    return seglog_open(&f->l, f->dir, &o, f->err);
}

static void fx_open(struct fx *f)
{
    int rc = fx_open_rc(f);
    if (rc)
        fprintf(stderr, "open: %s\n", f->err);
    assert_int_equal(rc, 0);
    assert_true(seglog_direct(f->l) == !f->buffered);
}

static void fx_close(struct fx *f)
{
    seglog_close(f->l);
    f->l = NULL;
}

/* The value of entry index under tag: length 1..lenmax, bytes never 0. */
static uint32_t val_len(uint64_t index, uint32_t tag, uint32_t lenmax)
{
    return 1 + (uint32_t)((index * 37 + tag * 11) % lenmax);
}

static void val_fill(uint8_t *p, uint32_t len, uint64_t index, uint32_t tag)
{
    for (uint32_t j = 0; j < len; j++)
        p[j] = (uint8_t)(1 + (index * 7 + tag * 13 + j) % 255);
}

/* Appends [from, to] in batches of 1..5 records. */
static void append_range(struct fx *f, uint64_t from, uint64_t to,
                         uint32_t tag, uint32_t lenmax)
{
    struct seglog_rec r[5];
    uint8_t *v[5];
    for (int i = 0; i < 5; i++)
        v[i] = coord_malloc(lenmax);
    uint64_t i = from;
    while (i <= to) {
        uint32_t n = 1 + (uint32_t)(i % 5);
        if (n > to - i + 1)
            n = (uint32_t)(to - i + 1);
        for (uint32_t k = 0; k < n; k++) {
            r[k].index = i + k;
            r[k].len = val_len(i + k, tag, lenmax);
            r[k].val = v[k];
            val_fill(v[k], r[k].len, i + k, tag);
        }
        int rc = seglog_append(f->l, r, n, f->err);
        if (rc)
            fprintf(stderr, "append %llu: %s\n", (unsigned long long)i,
                    f->err);
        assert_int_equal(rc, 0);
        i += n;
    }
    for (int k = 0; k < 5; k++)
        coord_free(v[k]);
    assert_int_equal(seglog_last(f->l), to);
}

static void check_range(struct fx *f, uint64_t from, uint64_t to,
                        uint32_t tag, uint32_t lenmax)
{
    uint8_t *want = coord_malloc(lenmax);
    for (uint64_t i = from; i <= to; i++) {
        uint32_t len = 0;
        int rc = seglog_read(f->l, i, &f->buf, &f->cap, &len, f->err);
        if (rc)
            fprintf(stderr, "read %llu: %s\n", (unsigned long long)i,
                    f->err);
        assert_int_equal(rc, 0);
        assert_int_equal(len, val_len(i, tag, lenmax));
        val_fill(want, len, i, tag);
        assert_memory_equal(f->buf, want, len);
    }
    coord_free(want);
}

static void seg_path(const struct fx *f, uint64_t first, char *out,
                     size_t n)
{
    snprintf(out, n, "%s/%020llu.seg", f->dir, (unsigned long long)first);
}

static bool file_exists(const char *dir, const char *name)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* The first indexes of the segment files, sorted (at most max). */
static size_t list_segs(const struct fx *f, uint64_t *out, size_t max)
{
    DIR *d = opendir(f->dir);
    size_t n = 0;
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t k = strlen(e->d_name);
        if (k != 24 || strcmp(e->d_name + 20, ".seg") != 0)
            continue;
        assert_true(n < max);
        out[n++] = strtoull(e->d_name, NULL, 10);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Polls for the spare file (the thread makes it); 60 s deadline. */
static void wait_spare(const struct fx *f)
{
    double dl = now_s() + 60;
    while (!file_exists(f->dir, "spare")) {
        assert_true(now_s() < dl);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static uint64_t file_size(const char *p)
{
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return (uint64_t)sb.st_size;
}

static uint8_t *read_file(const char *p, uint64_t *size)
{
    *size = file_size(p);
    uint8_t *b = coord_malloc(*size);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, *size, 0), (ssize_t)*size);
    close(fd);
    return b;
}

/* Every byte of file p from offset `from` to its end is zero. */
static void assert_zero_from(const char *p, uint64_t from)
{
    uint64_t size;
    uint8_t *b = read_file(p, &size);
    for (uint64_t i = from; i < size; i++)
        assert_int_equal(b[i], 0);
    coord_free(b);
}

static void write_at(const char *p, const void *b, size_t n, uint64_t off)
{
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

static uint64_t rec_bytes(uint32_t len)
{
    return (SEGLOG_REC_HDR + (uint64_t)len + 7) & ~7ull;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- cases ---- */

static void empty_open_close(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 0);
    assert_int_equal(seglog_last(f->l), 0);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, 1, &f->buf, &f->cap, &len, f->err),
                     COORD_ENONODE);
    assert_int_equal(seglog_truncate(f->l, 1, f->err), 0);
    assert_int_equal(seglog_compact(f->l, 5, f->err), 0);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 0);
    assert_int_equal(seglog_last(f->l), 0);
    uint64_t segs[4];
    assert_int_equal(list_segs(f, segs, 4), 0);
}

static void append_read_reopen(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 1500, 1, 700);
    check_range(f, 1, 1500, 1, 700);
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    assert_true(st.appends > 1500 / 5 && st.appends < 1500);
    assert_true(st.bytes >= 1500 * 17);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, 1501, &f->buf, &f->cap, &len,
                                 f->err), COORD_ENONODE);
    assert_int_equal(seglog_read(f->l, 0, &f->buf, &f->cap, &len, f->err),
                     COORD_ENONODE);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 1);
    assert_int_equal(seglog_last(f->l), 1500);
    check_range(f, 1, 1500, 1, 700);
    append_range(f, 1501, 1600, 1, 700);
    fx_open(f);
    check_range(f, 1, 1600, 1, 700);
}

/* The record bytes on disk are exactly seglog.h's format. */
static void format_on_disk(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = 0; /* the default size */
    fx_open(f);
    uint8_t v1[3] = {1, 2, 3}, v2[9] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
    struct seglog_rec r[2] = {{5, v1, 3}, {6, v2, 9}};
    assert_int_equal(seglog_append(f->l, r, 2, f->err), 0);
    fx_close(f);
    char p[128];
    uint64_t size;
    seg_path(f, 5, p, sizeof(p));
    uint8_t *b = read_file(p, &size);
    /* The growth rule: a log's first segment is small. */
    assert_int_equal(size, SEGLOG_SEGMENT_BYTES_FIRST);
    uint8_t seedb[8];
    put_be(seedb, 5, 8);
    uint32_t seed = store__crc32c(0, seedb, 8);
    assert_int_equal(get_be(b, 4), 3);
    assert_int_equal(get_be(b + 8, 8), 5);
    assert_memory_equal(b + 16, v1, 3);
    assert_int_equal(get_be(b + 4, 4), store__crc32c(seed, b + 8, 8 + 3));
    const uint8_t *q = b + 24; /* 16 + 3 rounded up to 8 */
    assert_int_equal(get_be(q, 4), 9);
    assert_int_equal(get_be(q + 8, 8), 6);
    assert_int_equal(get_be(q + 4, 4), store__crc32c(seed, q + 8, 8 + 9));
    for (uint64_t i = 24 + 32; i < size; i++)
        assert_int_equal(b[i], 0);
    coord_free(b);
}

static void rotation_small_segments(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 400, 2, 1000); /* ~200 KiB: several segments */
    /* A batch bigger than a segment gets a segment of its own. */
    uint32_t big = 40 * 1024;
    uint8_t *v = coord_malloc(big);
    struct seglog_rec r[3];
    for (int k = 0; k < 3; k++) {
        r[k].index = 401 + (uint64_t)k;
        r[k].len = big;
        r[k].val = v;
    }
    memset(v, 0x5a, big);
    assert_int_equal(seglog_append(f->l, r, 3, f->err), 0);
    append_range(f, 404, 500, 2, 1000);
    uint64_t segs[64];
    size_t n = list_segs(f, segs, 64);
    assert_true(n >= 4);
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.rotations, n);
    char p[128];
    seg_path(f, 401, p, sizeof(p));
    assert_int_equal(file_size(p), (3 * rec_bytes(big) + SEGLOG_ALIGN - 1) /
                                       SEGLOG_ALIGN * SEGLOG_ALIGN);
    for (size_t i = 0; i < n; i++) {
        seg_path(f, segs[i], p, sizeof(p));
        if (segs[i] != 401)
            assert_int_equal(file_size(p), SEGLOG_SEGMENT_BYTES_MIN);
    }
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 1);
    assert_int_equal(seglog_last(f->l), 500);
    check_range(f, 1, 400, 2, 1000);
    check_range(f, 404, 500, 2, 1000);
    for (uint64_t i = 401; i <= 403; i++) {
        uint32_t len;
        assert_int_equal(seglog_read(f->l, i, &f->buf, &f->cap, &len,
                                     f->err), 0);
        assert_int_equal(len, big);
        assert_memory_equal(f->buf, v, big);
    }
    coord_free(v);
}

/* Once the spare exists before each rotation, no rotation misses. */
static void spare_used(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    wait_spare(f);
    struct seglog_stats st;
    uint64_t rot = 0;
    for (uint64_t i = 1; i <= 600; i += 5) {
        append_range(f, i, i + 4, 3, 1000);
        seglog_get_stats(f->l, &st);
        assert_int_equal(st.spare_misses, 0);
        if (st.rotations != rot) {
            rot = st.rotations;
            wait_spare(f);
        }
    }
    assert_true(rot >= 4);
    fx_open(f); /* the spare survives a reopen */
    assert_true(file_exists(f->dir, "spare"));
    append_range(f, 601, 1200, 3, 1000);
    seglog_get_stats(f->l, &st);
    assert_true(st.rotations >= 1);
    check_range(f, 1, 1200, 3, 1000);
}

static void truncate_tail_and_across(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 600, 4, 1000);
    uint64_t segs[64];
    size_t n = list_segs(f, segs, 64);
    assert_true(n >= 4);
    /* Inside the tail segment. */
    uint64_t from = segs[n - 1] + 3;
    assert_true(from <= 600);
    assert_int_equal(seglog_truncate(f->l, from, f->err), 0);
    assert_int_equal(seglog_last(f->l), from - 1);
    assert_int_equal(seglog_truncate(f->l, from + 10, f->err), 0);
    assert_int_equal(seglog_last(f->l), from - 1);
    fx_open(f); /* the truncated entries do not come back */
    assert_int_equal(seglog_last(f->l), from - 1);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, from, &f->buf, &f->cap, &len,
                                 f->err), COORD_ENONODE);
    append_range(f, from, 700, 5, 1000);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 700);
    check_range(f, 1, from - 1, 4, 1000);
    check_range(f, from, 700, 5, 1000);
    /* Across segments: from inside segment 1. */
    uint64_t from2 = segs[1] + 2;
    assert_int_equal(seglog_truncate(f->l, from2, f->err), 0);
    assert_int_equal(seglog_last(f->l), from2 - 1);
    uint64_t segs2[64];
    assert_int_equal(list_segs(f, segs2, 64), 2);
    append_range(f, from2, from2 + 20, 6, 1000);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), from2 + 20);
    check_range(f, 1, from2 - 1, 4, 1000);
    check_range(f, from2, from2 + 20, 6, 1000);
    /* Exactly at a segment's first index: that segment goes too. */
    assert_int_equal(seglog_truncate(f->l, segs[1], f->err), 0);
    assert_int_equal(list_segs(f, segs2, 64), 1);
    assert_int_equal(seglog_last(f->l), segs[1] - 1);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), segs[1] - 1);
    append_range(f, segs[1], segs[1] + 5, 7, 1000);
    fx_open(f);
    check_range(f, 1, segs[1] - 1, 4, 1000);
    check_range(f, segs[1], segs[1] + 5, 7, 1000);
    /* From the first index: empty. */
    assert_int_equal(seglog_truncate(f->l, 1, f->err), 0);
    assert_int_equal(seglog_last(f->l), 0);
    assert_int_equal(list_segs(f, segs2, 64), 0);
    append_range(f, 1, 3, 8, 1000);
    fx_open(f);
    check_range(f, 1, 3, 8, 1000);
}

static void compact_prefix_and_past_last(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 600, 9, 1000);
    uint64_t segs[64], segs2[64];
    size_t n = list_segs(f, segs, 64);
    assert_true(n >= 4);
    uint64_t below = segs[2] + 1;
    assert_int_equal(seglog_compact(f->l, below, f->err), 0);
    assert_int_equal(seglog_first(f->l), below);
    assert_int_equal(list_segs(f, segs2, 64), n - 2);
    assert_int_equal(segs2[0], segs[2]);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, below - 1, &f->buf, &f->cap, &len,
                                 f->err), COORD_ENONODE);
    check_range(f, below, 600, 9, 1000);
    /* Compacting inside the last segment keeps it. */
    assert_int_equal(seglog_compact(f->l, 600, f->err), 0);
    assert_int_equal(seglog_first(f->l), 600);
    assert_int_equal(list_segs(f, segs2, 64), 1);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), segs[n - 1]);
    assert_int_equal(seglog_last(f->l), 600);
    check_range(f, segs[n - 1], 600, 9, 1000);
    /* Past last: empty; the next append may start anywhere. */
    assert_int_equal(seglog_compact(f->l, 601, f->err), 0);
    assert_int_equal(seglog_first(f->l), 0);
    assert_int_equal(seglog_last(f->l), 0);
    assert_int_equal(list_segs(f, segs2, 64), 0);
    append_range(f, 1000000, 1000050, 10, 1000);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 1000000);
    assert_int_equal(seglog_last(f->l), 1000050);
    check_range(f, 1000000, 1000050, 10, 1000);
}

/* The byte offset after entry `to` in a single segment starting at 1. */
static uint64_t end_of(uint64_t to, uint32_t tag, uint32_t lenmax)
{
    uint64_t end = 0;
    for (uint64_t i = 1; i <= to; i++)
        end += rec_bytes(val_len(i, tag, lenmax));
    return end;
}

static void torn_tail_is_zeroed(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 50, 11, 300);
    fx_close(f);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    uint64_t end = end_of(50, 11, 300);
    /* A partial record (right index and length, bytes missing), then
     * garbage two blocks further. */
    uint8_t rec[64];
    memset(rec, 0x77, sizeof(rec));
    put_be(rec, 200, 4);
    put_be(rec + 8, 51, 8);
    write_at(p, rec, sizeof(rec), end);
    uint8_t junk[100];
    memset(junk, 0xee, sizeof(junk));
    write_at(p, junk, sizeof(junk), end + 2 * SEGLOG_ALIGN + 123);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 50);
    /* What the repair zeroed is reported (for the caller's log). */
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    uint64_t nz = sizeof(junk);
    for (size_t i = 0; i < sizeof(rec); i++)
        nz += rec[i] != 0;
    assert_int_equal(st.tail_zeroed, nz);
    assert_int_equal(st.tail_zeroed_at, end);
    assert_zero_from(p, end);
    append_range(f, 51, 80, 11, 300);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 80);
    check_range(f, 1, 80, 11, 300);
}

/* A record built with another segment's CRC seed, at the right place with
 * the right index, is not accepted (and is zeroed). */
static void foreign_seed_rejected(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 20, 12, 300);
    fx_close(f);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    uint64_t end = end_of(20, 12, 300);
    uint8_t rec[24] = {0};
    uint8_t seedb[8];
    put_be(rec, 5, 4);
    put_be(rec + 8, 21, 8);
    memset(rec + 16, 0x42, 5);
    put_be(seedb, 7, 8); /* as if written in segment 7 */
    put_be(rec + 4, store__crc32c(store__crc32c(0, seedb, 8), rec + 8, 13),
           4);
    write_at(p, rec, sizeof(rec), end);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 20);
    fx_close(f);
    /* The same record with this segment's seed is accepted: the test can
     * tell the difference. */
    put_be(seedb, 1, 8);
    put_be(rec + 4, store__crc32c(store__crc32c(0, seedb, 8), rec + 8, 13),
           4);
    write_at(p, rec, sizeof(rec), end);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 21);
}

/* Builds 3+ segments and closes; returns their first indexes. */
static size_t three_segments(struct fx *f, uint64_t *segs)
{
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 400, 13, 1000);
    fx_close(f);
    size_t n = list_segs(f, segs, 64);
    assert_true(n >= 3);
    return n;
}

static void flipped_bit_in_old_segment(void **state)
{
    struct fx *f = *state;
    uint64_t segs[64];
    three_segments(f, segs);
    char p[128];
    seg_path(f, segs[1], p, sizeof(p));
    uint64_t size;
    uint8_t *b = read_file(p, &size);
    uint64_t off = rec_bytes((uint32_t)get_be(b, 4)) + 20; /* 2nd value */
    b[off] ^= 0x10;
    write_at(p, b + off, 1, off);
    coord_free(b);
    assert_int_equal(fx_open_rc(f), COORD_ECORRUPT);
    char name[32];
    snprintf(name, sizeof(name), "%020llu.seg", (unsigned long long)segs[1]);
    assert_non_null(strstr(f->err, name));
    assert_non_null(strstr(f->err, "bad record at offset"));
    assert_null(f->l);
}

static void gap_between_segments(void **state)
{
    struct fx *f = *state;
    uint64_t segs[64];
    three_segments(f, segs);
    char p[128];
    seg_path(f, segs[1], p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    assert_int_equal(fx_open_rc(f), COORD_ECORRUPT);
    assert_non_null(strstr(f->err, "gap"));
    /* A segment whose name does not match its first record. */
    seg_path(f, segs[2], p, sizeof(p));
    char q[128];
    seg_path(f, segs[1], q, sizeof(q));
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(fx_open_rc(f), COORD_ECORRUPT);
}

static void bad_arguments(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    uint8_t v[8] = {1};
    struct seglog_rec r0 = {0, v, 1};
    assert_int_equal(seglog_append(f->l, &r0, 1, f->err), COORD_EINVAL);
    append_range(f, 1, 10, 14, 100);
    struct seglog_stats st0, st1;
    seglog_get_stats(f->l, &st0);
    struct seglog_rec bad[][2] = {
        {{12, v, 1}, {13, v, 1}},                       /* gap */
        {{10, v, 1}, {11, v, 1}},                       /* overlap */
        {{11, v, 1}, {13, v, 1}},                       /* not contiguous */
        {{11, v, 0}, {12, v, 1}},                       /* len 0 */
        {{11, v, 1}, {12, v, STORE_ENTRY_BYTES_MAX + 1}}, /* too big */
        {{11, NULL, 1}, {12, v, 1}},                    /* no value */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(seglog_append(f->l, bad[i], 2, f->err),
                         COORD_EINVAL);
    assert_int_equal(seglog_append(f->l, bad[0], 0, f->err), COORD_EINVAL);
    seglog_get_stats(f->l, &st1);
    assert_int_equal(st1.appends, st0.appends);
    assert_int_equal(seglog_last(f->l), 10);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 10);
    check_range(f, 1, 10, 14, 100);
    struct seglog_options o = {SEGLOG_SEGMENT_BYTES_MIN - 4096, true};
    struct seglog *l2 = NULL;
    assert_int_equal(seglog_open(&l2, f->dir, &o, f->err), COORD_EINVAL);
    assert_null(l2);
}

/* A valid record (this segment's seed) whose index skips ahead in the
 * last segment means entries are missing in front of a written one:
 * refused. One with an older index (stale) ends the log and is zeroed. */
static void out_of_sequence_tail(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 30, 16, 300);
    fx_close(f);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    uint64_t end = end_of(30, 16, 300);
    uint8_t rec[24] = {0}, seedb[8];
    put_be(rec, 5, 4);
    put_be(rec + 8, 32, 8); /* 31 is missing */
    memset(rec + 16, 0x42, 5);
    put_be(seedb, 1, 8);
    put_be(rec + 4, store__crc32c(store__crc32c(0, seedb, 8), rec + 8, 13),
           4);
    write_at(p, rec, sizeof(rec), end);
    assert_int_equal(fx_open_rc(f), COORD_ECORRUPT);
    assert_non_null(strstr(f->err, "index 32"));
    put_be(rec + 8, 29, 8); /* stale: older than the expected 31 */
    put_be(rec + 4, store__crc32c(store__crc32c(0, seedb, 8), rec + 8, 13),
           4);
    write_at(p, rec, sizeof(rec), end);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 30);
    assert_zero_from(p, end);
}

/* A crash right after a rotation leaves an empty (zero) last segment and
 * maybe temp files and a spare of another size: open cleans them up. */
static void leftovers_cleaned(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = 0; /* the default size */
    fx_open(f);
    append_range(f, 1, 40, 17, 300);
    fx_close(f);
    char p[128];
    const char *names[] = {"spare.tmp", "seg.tmp", "spare"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
        unlink(p);
        int fd = open(p, O_CREAT | O_WRONLY, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 8192), 0);
        close(fd);
    }
    seg_path(f, 41, p, sizeof(p));
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, SEGLOG_SEGMENT_BYTES_MIN), 0);
    close(fd);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 40);
    assert_false(access(p, F_OK) == 0);
    assert_false(file_exists(f->dir, "seg.tmp"));
    /* The 8 KiB spare was deleted; a new one of the planned size (after
     * a first segment of SEGLOG_SEGMENT_BYTES_FIRST) follows. */
    wait_spare(f);
    snprintf(p, sizeof(p), "%s/spare", f->dir);
    assert_int_equal(file_size(p), 2 * SEGLOG_SEGMENT_BYTES_FIRST);
    append_range(f, 41, 60, 17, 300);
    fx_open(f);
    check_range(f, 1, 60, 17, 300);
}

/* seglog_read checks the CRC of what it reads back. */
static void read_checks_crc(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 10, 18, 300);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    uint64_t off = end_of(4, 18, 300) + SEGLOG_REC_HDR; /* value of 5 */
    uint8_t x = 0;
    write_at(p, &x, 1, off);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, 5, &f->buf, &f->cap, &len, f->err),
                     COORD_ECORRUPT);
    assert_non_null(strstr(f->err, "00000000000000000001.seg"));
    check_range(f, 6, 10, 18, 300);
}

/* Direct mode is used where the file system takes O_DIRECT and falls back
 * to buffered where it does not (tmpfs on older kernels). */
static void direct_follows_the_fs(void **state)
{
    struct fx *f = *state;
    char shm[64] = "/dev/shm/seglog-test-XXXXXX";
    if (!mkdtemp(shm))
        skip();
    char p[128];
    snprintf(p, sizeof(p), "%s/probe", shm);
    int fd = open(p, O_CREAT | O_RDWR | O_DIRECT, 0644);
    bool fs_direct = fd >= 0;
    if (fd >= 0)
        close(fd);
    unlink(p);
    struct seglog *l = NULL;
    struct seglog_options o = {SEGLOG_SEGMENT_BYTES_MIN, false};
    assert_int_equal(seglog_open(&l, shm, &o, f->err), 0);
    uint8_t v[3] = {1, 2, 3};
    struct seglog_rec r = {1, v, 3};
    assert_int_equal(seglog_append(l, &r, 1, f->err), 0);
    assert_true(seglog_direct(l) == fs_direct);
    seglog_close(l);
    tdir_remove(shm);
}

/* A failed write (here: a new segment over RLIMIT_FSIZE, EFBIG) is
 * COORD_EIO and every later change is refused; the log on disk is intact
 * and opens again (seg.tmp deleted). */
static void write_error_is_sticky(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 20, 19, 300);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 3 * SEGLOG_SEGMENT_BYTES_MIN;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint32_t big = 4 * SEGLOG_SEGMENT_BYTES_MIN; /* its own segment */
    uint8_t *v = coord_calloc(1, big);
    struct seglog_rec r = {21, v, big};
    int rc = seglog_append(f->l, &r, 1, f->err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, COORD_EIO);
    assert_non_null(strstr(f->err, "00000000000000000021.seg"));
    r.len = 10;
    assert_int_equal(seglog_append(f->l, &r, 1, f->err), COORD_EIO);
    assert_int_equal(seglog_truncate(f->l, 5, f->err), COORD_EIO);
    assert_int_equal(seglog_compact(f->l, 5, f->err), COORD_EIO);
    assert_int_equal(seglog_last(f->l), 20);
    /* Reads are refused too, with the original message. */
    uint32_t len;
    assert_int_equal(seglog_read(f->l, 3, &f->buf, &f->cap, &len, f->err),
                     COORD_EIO);
    assert_non_null(strstr(f->err, "00000000000000000021.seg"));
    coord_free(v);
    fx_open(f);
    assert_false(file_exists(f->dir, "seg.tmp"));
    assert_int_equal(seglog_last(f->l), 20);
    append_range(f, 21, 30, 19, 300);
    check_range(f, 1, 30, 19, 300);
}

/* Makes the unlink of segment `first` fail (EISDIR): moves the file
 * aside and puts a directory in its place. */
static void block_unlink(const struct fx *f, uint64_t first)
{
    char p[128], q[160];
    seg_path(f, first, p, sizeof(p));
    snprintf(q, sizeof(q), "%s.aside", p);
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(mkdir(p, 0755), 0);
}

/* Undoes block_unlink: the disk as a crash right before that unlink would
 * leave it. */
static void unblock_unlink(const struct fx *f, uint64_t first)
{
    char p[128], q[160];
    seg_path(f, first, p, sizeof(p));
    snprintf(q, sizeof(q), "%s.aside", p);
    assert_int_equal(rmdir(p), 0);
    assert_int_equal(rename(q, p), 0);
}

/* A truncate across segments that stops half-way (a crash between two
 * unlinks, here a failed unlink) leaves a prefix of the old log, which
 * opens; unlinking upwards left a gap (COORD_ECORRUPT at open). Reads
 * after the failure are refused (the arrays no longer match the disk). */
static void truncate_interrupted_leaves_prefix(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 800, 20, 1000);
    uint64_t segs[64];
    size_t n = list_segs(f, segs, 64);
    assert_true(n >= 5);
    block_unlink(f, segs[n - 2]);
    assert_int_equal(seglog_truncate(f->l, segs[1] + 2, f->err), COORD_EIO);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, segs[2] + 1, &f->buf, &f->cap, &len,
                                 f->err), COORD_EIO);
    assert_non_null(strstr(f->err, "unlink"));
    fx_close(f);
    unblock_unlink(f, segs[n - 2]);
    int rc = fx_open_rc(f);
    if (rc)
        fprintf(stderr, "open: %s\n", f->err);
    assert_int_equal(rc, 0);
    assert_int_equal(seglog_first(f->l), 1);
    assert_int_equal(seglog_last(f->l), segs[n - 1] - 1);
    check_range(f, 1, segs[n - 1] - 1, 20, 1000);
}

/* Dropping every segment stops half-way: what is left starts at the old
 * first index (a prefix), never a suffix that looks like a valid log. */
static void drop_all_interrupted_leaves_prefix(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 800, 21, 1000);
    uint64_t segs[64];
    size_t n = list_segs(f, segs, 64);
    assert_true(n >= 4);
    block_unlink(f, segs[1]);
    assert_int_equal(seglog_compact(f->l, UINT64_MAX, f->err), COORD_EIO);
    fx_close(f);
    unblock_unlink(f, segs[1]);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 1);
    assert_int_equal(seglog_last(f->l), segs[2] - 1);
    check_range(f, 1, segs[2] - 1, 21, 1000);
    /* The same through truncate(first). */
    block_unlink(f, segs[1]);
    assert_int_equal(seglog_truncate(f->l, 1, f->err), COORD_EIO);
    fx_close(f);
    unblock_unlink(f, segs[1]);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 1);
    assert_int_equal(seglog_last(f->l), segs[2] - 1);
}

/* A bad record in the middle of the last segment with valid records
 * after it is damage (one bad sector), not a torn tail: open refuses,
 * naming the file, the bad offset and the later record; the file is left
 * as it was. */
static void midsegment_damage_refused(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 50, 22, 300);
    fx_close(f);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    uint64_t bad = end_of(19, 22, 300); /* record 20 */
    uint8_t x = 0;
    write_at(p, &x, 1, bad + SEGLOG_REC_HDR); /* values are never 0 */
    assert_int_equal(fx_open_rc(f), COORD_ECORRUPT);
    assert_null(f->l);
    char want[64];
    assert_non_null(strstr(f->err, "00000000000000000001.seg"));
    snprintf(want, sizeof(want), "offset %llu ", (unsigned long long)bad);
    assert_non_null(strstr(f->err, want));
    snprintf(want, sizeof(want), "index 21, at offset %llu",
             (unsigned long long)end_of(20, 22, 300));
    assert_non_null(strstr(f->err, want));
    uint64_t size;
    uint8_t *b = read_file(p, &size);
    uint64_t end = end_of(50, 22, 300);
    assert_int_equal(get_be(b + end - rec_bytes(val_len(50, 22, 300)) + 8,
                            8), 50); /* not zeroed */
    coord_free(b);
    assert_int_equal(fx_open_rc(f), COORD_ECORRUPT); /* still refused */
    /* Repaired by hand, it opens whole; the same damage in the last
     * record written (nothing valid after it) is a torn tail. */
    x = (uint8_t)(1 + (20 * 7 + 22 * 13) % 255);
    write_at(p, &x, 1, bad + SEGLOG_REC_HDR);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 50);
    check_range(f, 1, 50, 22, 300);
    assert_int_equal(seglog_truncate(f->l, 21, f->err), 0);
    fx_close(f);
    x = 0;
    write_at(p, &x, 1, bad + SEGLOG_REC_HDR);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 19);
}

/* A truncate that stops part-way (here: writes at or past 3 blocks fail
 * with EFBIG under RLIMIT_FSIZE, which Linux applies to overwrites too)
 * leaves a log that opens: the tail is zeroed from the end down, so the
 * bytes left are a prefix of the old log, never a zeroed block in front of
 * valid records (which open refuses as damage). */
static void truncate_zeroes_from_the_end(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 60, 27, 1000);
    assert_true(end_of(60, 27, 1000) > 5 * SEGLOG_ALIGN);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 3 * SEGLOG_ALIGN;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = seglog_truncate(f->l, 5, f->err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, COORD_EIO);
    rc = fx_open_rc(f);
    if (rc)
        fprintf(stderr, "open: %s\n", f->err);
    assert_int_equal(rc, 0);
    assert_int_equal(seglog_last(f->l), 60);
    check_range(f, 1, 60, 27, 1000);
    assert_int_equal(seglog_truncate(f->l, 5, f->err), 0);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 4);
    check_range(f, 1, 4, 27, 1000);
}

/* A block of zeros in the middle of the last segment (a lost write, a
 * sector read back as zeros) ends the records early; valid records after
 * it make that damage too: refused, not zeroed. */
static void zeroed_block_refused(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 60, 28, 1000);
    fx_close(f);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    uint8_t z[SEGLOG_ALIGN] = {0};
    write_at(p, z, sizeof(z), SEGLOG_ALIGN);
    assert_int_equal(fx_open_rc(f), COORD_ECORRUPT);
    assert_non_null(strstr(f->err, "records end at offset"));
}

/* An allocation failure inside an append is sticky like an I/O error:
 * the caller's RocksDB half is durable already, so nothing may follow. */
static void enomem_is_sticky(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 10, 23, 100);
    uint32_t big = 100 * 1024; /* grows the write buffer: an allocation */
    uint8_t *v = coord_calloc(1, big);
    v[0] = 1;
    struct seglog_rec r = {11, v, big};
    coord_alloc_counting_enable(1);
    int rc = seglog_append(f->l, &r, 1, f->err);
    coord_alloc_counting_disable();
    assert_int_equal(rc, COORD_ENOMEM);
    r.len = 10;
    assert_int_equal(seglog_append(f->l, &r, 1, f->err), COORD_EIO);
    assert_non_null(strstr(f->err, "no memory"));
    coord_free(v);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 10);
    check_range(f, 1, 10, 23, 100);
}

/* A spare that cannot be renamed into place is an I/O error, not a
 * silent fallback to an inline segment. */
static void spare_rename_failure_is_eio(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    wait_spare(f);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    assert_int_equal(mkdir(p, 0755), 0);
    uint8_t v[4] = {1, 2, 3, 4};
    struct seglog_rec r = {1, v, 4};
    assert_int_equal(seglog_append(f->l, &r, 1, f->err), COORD_EIO);
    assert_non_null(strstr(f->err, "rename the spare"));
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.spare_misses, 0);
    assert_int_equal(seglog_append(f->l, &r, 1, f->err), COORD_EIO);
    fx_close(f);
    assert_int_equal(rmdir(p), 0);
    fx_open(f);
    append_range(f, 1, 5, 24, 100);
}

/* Appends ~250 KiB batches until n segments exist; returns their sizes. */
static void grow_to(struct fx *f, uint64_t *next, size_t n, uint64_t *sizes)
{
    uint32_t len = 62 * 1024;
    uint8_t *v = coord_malloc(len);
    struct seglog_rec r[4];
    uint64_t segs[64];
    size_t k;
    while ((k = list_segs(f, segs, 64)) < n) {
        for (int i = 0; i < 4; i++) {
            r[i].index = *next + (uint64_t)i;
            r[i].len = len;
            r[i].val = v;
            val_fill(v, len, *next, 25);
        }
        assert_int_equal(seglog_append(f->l, r, 4, f->err), 0);
        *next += 4;
    }
    for (size_t i = 0; i < k; i++) {
        char p[128];
        seg_path(f, segs[i], p, sizeof(p));
        sizes[i] = file_size(p);
    }
    coord_free(v);
}

/* Growth rule: segments start at SEGLOG_SEGMENT_BYTES_FIRST and double up
 * to segment_bytes; a fresh log's first append waits for the spare thread
 * rather than zero-filling a second segment inline (no miss); a restart
 * keeps growing from the last segment's size. */
static void growth_sequence(void **state)
{
    struct fx *f = *state;
    const uint64_t m = SEGLOG_SEGMENT_BYTES_FIRST;
    f->seg_bytes = 4 * m;
    fx_open(f);
    uint64_t next = 1, sizes[64];
    grow_to(f, &next, 2, sizes);
    assert_int_equal(sizes[0], m);
    assert_int_equal(sizes[1], 2 * m);
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.spare_misses, 0);
    assert_int_equal(st.rotations, 2);
    /* Restart without the spare: the next one is planned from the last
     * segment (2 MiB -> 4 MiB), not from the start. */
    wait_spare(f);
    fx_close(f);
    char p[128];
    snprintf(p, sizeof(p), "%s/spare", f->dir);
    assert_int_equal(unlink(p), 0);
    fx_open(f);
    grow_to(f, &next, 4, sizes);
    assert_int_equal(sizes[2], 4 * m);
    assert_int_equal(sizes[3], 4 * m); /* capped at segment_bytes */
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.spare_misses, 0);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), next - 1);
    /* A small segment_bytes is the first size too. */
    fx_close(f);
    tdir_remove(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    append_range(f, 1, 3, 26, 100);
    seg_path(f, 1, p, sizeof(p));
    assert_int_equal(file_size(p), SEGLOG_SEGMENT_BYTES_MIN);
}

/* ---- open reads each byte once ---- */

/* Sum of the segment files' sizes. */
static uint64_t segs_bytes(const struct fx *f)
{
    uint64_t segs[64], sum = 0;
    char p[128];
    size_t n = list_segs(f, segs, 64);
    for (size_t i = 0; i < n; i++) {
        seg_path(f, segs[i], p, sizeof(p));
        sum += file_size(p);
    }
    return sum;
}

/* Open parses every segment and, for the last one, checks the unused
 * remainder for later records and for non-zero bytes to repair: one read
 * of each byte (it used to read that remainder a second time to repair
 * it, even when it was all zeros). */
static void open_reads_each_byte_once(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 1200, 27, 1000); /* 256 KiB segments: 3 of them */
    fx_close(f);
    uint64_t total = segs_bytes(f);
    fx_open(f);
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    assert_true(st.open_read_bytes >= total);
    assert_true(st.open_read_bytes <= total + SEGLOG_ALIGN);
    assert_int_equal(st.tail_zeroed, 0);
    check_range(f, 1, 1200, 27, 1000);
    /* The default segment size: one 1 MiB segment, mostly zeros. */
    fx_close(f);
    tdir_remove(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    f->seg_bytes = 0;
    fx_open(f);
    append_range(f, 1, 30, 27, 1000);
    fx_close(f);
    total = segs_bytes(f);
    assert_int_equal(total, SEGLOG_SEGMENT_BYTES_FIRST);
    fx_open(f);
    seglog_get_stats(f->l, &st);
    assert_true(st.open_read_bytes >= total);
    assert_true(st.open_read_bytes <= total + SEGLOG_ALIGN);
}

/* Non-zero bytes after the last record, in the padding of its block, in
 * the middle and in the very last byte of the file, are all found by the
 * single read and zeroed; only their blocks are read again. */
static void tail_dirty_spots_zeroed(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 40, 28, 300);
    fx_close(f);
    char p[128];
    seg_path(f, 1, p, sizeof(p));
    uint64_t end = end_of(40, 28, 300), size = file_size(p);
    uint8_t x = 0xee;
    /* end + 5: the length word at end is 0, so this is padding. */
    write_at(p, &x, 1, end + 5);
    write_at(p, &x, 1, size / 2 + 3);
    write_at(p, &x, 1, size - 1);
    fx_open(f);
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.tail_zeroed, 3);
    assert_int_equal(st.tail_zeroed_at, end);
    assert_true(st.open_read_bytes <= 2 * size);
    assert_zero_from(p, end);
    check_range(f, 1, 40, 28, 300);
    /* One spot near the end: the repair reads one block, not the tail. */
    fx_close(f);
    write_at(p, &x, 1, size - 100);
    fx_open(f);
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.tail_zeroed, 1);
    assert_int_equal(st.tail_zeroed_at, (size - 100) & ~(uint64_t)4095);
    assert_true(st.open_read_bytes <= size + SEGLOG_ALIGN);
    append_range(f, 41, 60, 28, 300);
    fx_open(f);
    check_range(f, 1, 60, 28, 300);
}

/* ---- spare pacing ---- */

/* The rule: in step with the current segment's fill, complete at
 * SEGLOG_SPARE_DONE_PCT, one chunk ahead; unpaced without a segment; the
 * wake-up point is the first end that allows more. */
static void spare_pacing_rule(void **state)
{
    (void)state;
    const uint64_t m = 1024 * 1024, c = 64 * 1024;
    assert_int_equal(seglog__spare_allowed(8 * m, c, 0, 0), 8 * m);
    assert_int_equal(seglog__spare_allowed(8 * m, c, 0, 4 * m), c);
    uint64_t half = 4 * m * SEGLOG_SPARE_DONE_PCT / 100;
    assert_int_equal(seglog__spare_allowed(8 * m, c, half, 4 * m), 8 * m);
    assert_int_equal(seglog__spare_allowed(8 * m, c, half / 2, 4 * m),
                     4 * m + c);
    assert_int_equal(seglog__spare_allowed(8 * m, c, 4 * m, 4 * m), 8 * m);
    uint64_t prev = 0;
    for (uint64_t e = 0; e <= 4 * m; e += 4093) {
        uint64_t a = seglog__spare_allowed(8 * m, c, e, 4 * m);
        assert_true(a >= prev && a <= 8 * m && a >= c);
        prev = a;
    }
    /* The largest sizes do not overflow. */
    uint64_t g = SEGLOG_SEGMENT_BYTES_MAX, big = UINT32_MAX - 4095;
    assert_int_equal(seglog__spare_allowed(g, c, big - 1, big), g);
    assert_true(seglog__spare_allowed(g, c, big / 4, big) > g / 4);
    for (uint64_t d = 0; d < 8 * m; d += 333 * 1024) {
        uint64_t w = seglog__spare_wake_end(8 * m, c, d, 4 * m);
        assert_true(w <= 4 * m);
        assert_true(seglog__spare_allowed(8 * m, c, w, 4 * m) > d);
        if (w > 0)
            assert_true(seglog__spare_allowed(8 * m, c, w - 1, 4 * m) <= d);
    }
    assert_int_equal(seglog__spare_wake_end(8 * m, c, 8 * m, 4 * m),
                     UINT64_MAX);
}

/* Polls the stats until the spare thread waits for the fill (it writes
 * what the rule allows first); 60 s deadline. */
static void wait_paced(struct fx *f, struct seglog_stats *st)
{
    double dl = now_s() + 60;
    for (;;) {
        seglog_get_stats(f->l, st);
        if (st->spare_paced > 0)
            return;
        assert_true(now_s() < dl);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* 1 MiB segments, 64 KiB chunks, an idle timeout far beyond the test;
 * records 1-2 (tag) appended once the first spare is ready (made unpaced:
 * no segment yet); returns once the next spare is being paced (st). */
static void paced_start(struct fx *f, uint32_t tag, struct seglog_stats *st)
{
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_FIRST;
    f->spare_chunk = 64 * 1024;
    f->spare_idle_us = 20 * 1000 * 1000;
    fx_open(f);
    wait_spare(f);
    append_range(f, 1, 2, tag, 300);
    wait_paced(f, st);
}

/* The spare made after the first rotation is written a chunk or two ahead
 * of the fill, then waits; once appends fill half the segment, it is
 * finished at once (the appender wakes the thread) and the next rotation
 * takes it without waiting. */
static void spare_paced_by_appends(void **state)
{
    struct fx *f = *state;
    const uint64_t m = SEGLOG_SEGMENT_BYTES_FIRST;
    struct seglog_stats st;
    paced_start(f, 29, &st);
    assert_int_equal(st.rotations, 1);
    assert_false(file_exists(f->dir, "spare"));
    char p[128];
    snprintf(p, sizeof(p), "%s/spare.tmp", f->dir);
    assert_true(file_size(p) <= 2 * f->spare_chunk);
    /* Half the segment: ~500-byte records. */
    uint64_t last = 2;
    while (end_of(last, 29, 1000) < m / 2 + 4096)
        last++;
    double t0 = now_s();
    append_range(f, 3, last, 29, 1000);
    wait_spare(f);
    assert_true(now_s() - t0 < 10); /* not the idle timeout */
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.spare_chunks, 2 * m / f->spare_chunk);
    /* Fill the segment: the rotation takes the spare, no wait. */
    uint64_t to = last;
    while (st.rotations == 1) {
        to += 50;
        append_range(f, to - 49, to, 29, 1000);
        seglog_get_stats(f->l, &st);
    }
    assert_int_equal(st.spare_waits, 0);
    assert_int_equal(st.spare_misses, 0);
    fx_open(f);
    check_range(f, 3, to, 29, 1000);
}

/* A rotation that comes while the paced spare is far behind (one batch
 * that does not fit the rest of the segment) waits for it, and the thread
 * then writes the rest at once instead of waiting for a fill that cannot
 * come (the appender is the one waiting) or for the idle timeout. */
static void rotation_hurries_paced_spare(void **state)
{
    struct fx *f = *state;
    const uint64_t m = SEGLOG_SEGMENT_BYTES_FIRST;
    struct seglog_stats st;
    paced_start(f, 30, &st);
    uint32_t big = (uint32_t)(m - SEGLOG_REC_HDR - 64);
    uint8_t *v = coord_malloc(big);
    memset(v, 0x3c, big);
    struct seglog_rec r = {3, v, big};
    double t0 = now_s();
    assert_int_equal(seglog_append(f->l, &r, 1, f->err), 0);
    assert_true(now_s() - t0 < 10); /* not the idle timeout */
    seglog_get_stats(f->l, &st);
    assert_int_equal(st.rotations, 2);
    assert_true(st.spare_waits >= 1);
    assert_int_equal(st.spare_misses, 0);
    fx_open(f);
    check_range(f, 1, 2, 30, 300);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, 3, &f->buf, &f->cap, &len, f->err),
                     0);
    assert_int_equal(len, big);
    assert_memory_equal(f->buf, v, big);
    coord_free(v);
}

/* Direct mode really is in use where the file system allows it. */
static void direct_mode_on_tmp(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 5, 15, 100);
    assert_true(seglog_direct(f->l));
}

static bool tmp_allows_direct(void)
{
    char p[] = "/tmp/seglog-probe-XXXXXX";
    int fd = mkstemp(p);
    if (fd < 0)
        return false;
    close(fd);
    fd = open(p, O_RDWR | O_DIRECT);
    unlink(p);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* ---- asynchronous append (seglog_append_begin / _end) ---- */

struct abatch {
    struct seglog_rec r[8];
    uint8_t v[8][300];
};

/* Records [from, from + n) under tag, as append_range makes them. */
static void abatch_fill(struct abatch *b, uint64_t from, uint32_t n,
                        uint32_t tag)
{
    assert_true(n <= 8);
    for (uint32_t k = 0; k < n; k++) {
        b->r[k].index = from + k;
        b->r[k].len = val_len(from + k, tag, 300);
        b->r[k].val = b->v[k];
        val_fill(b->v[k], b->r[k].len, from + k, tag);
    }
}

/* Does the write the caller of seglog_append_begin owes. */
static int64_t io_do(const struct seglog_io *io)
{
    ssize_t w = pwrite(io->fd, io->buf, io->len, (off_t)io->off);
    return w < 0 ? -errno : w;
}

static void async_append_roundtrip(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 10, 21, 300);
    struct abatch b;
    struct seglog_io io;
    abatch_fill(&b, 11, 3, 21);
    assert_int_equal(seglog_append_begin(f->l, b.r, 3, &io, f->err), 0);
    assert_true(io.len % SEGLOG_ALIGN == 0 && io.off % SEGLOG_ALIGN == 0);
    /* In flight: the log reads as before; no other change goes in. */
    assert_int_equal(seglog_last(f->l), 10);
    check_range(f, 1, 10, 21, 300);
    uint32_t len;
    assert_int_equal(seglog_read(f->l, 11, &f->buf, &f->cap, &len, f->err),
                     COORD_ENONODE);
    assert_int_equal(seglog_append(f->l, b.r, 3, f->err), COORD_EINVAL);
    assert_int_equal(seglog_truncate(f->l, 5, f->err), COORD_EINVAL);
    assert_int_equal(seglog_append_begin(f->l, b.r, 3, &io, f->err),
                     COORD_EAGAIN);
    assert_int_equal(seglog_append_end(f->l, io_do(&io), f->err), 0);
    assert_int_equal(seglog_last(f->l), 13);
    check_range(f, 1, 13, 21, 300);
    assert_int_equal(seglog_append_end(f->l, 0, f->err), COORD_EINVAL);
    /* Mixed with synchronous appends, then read back after a reopen. */
    append_range(f, 14, 20, 21, 300);
    abatch_fill(&b, 21, 8, 21);
    assert_int_equal(seglog_append_begin(f->l, b.r, 8, &io, f->err), 0);
    assert_int_equal(seglog_append_end(f->l, io_do(&io), f->err), 0);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 1);
    assert_int_equal(seglog_last(f->l), 28);
    check_range(f, 1, 28, 21, 300);
}

static void async_compact_waits_for_end(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 10, 22, 300);
    struct abatch b;
    struct seglog_io io;
    abatch_fill(&b, 11, 2, 22);
    assert_int_equal(seglog_append_begin(f->l, b.r, 2, &io, f->err), 0);
    /* Past the last durable entry: would unlink the segment in flight. */
    assert_int_equal(seglog_compact(f->l, 11, f->err), 0);
    assert_int_equal(seglog_first(f->l), 1);
    check_range(f, 1, 10, 22, 300);
    assert_int_equal(seglog_append_end(f->l, io_do(&io), f->err), 0);
    /* The end does no disk work: the next synchronous call compacts, and
     * no asynchronous append goes before it. */
    assert_int_equal(seglog_first(f->l), 1);
    assert_int_equal(seglog_last(f->l), 12);
    abatch_fill(&b, 13, 1, 22);
    assert_int_equal(seglog_append_begin(f->l, b.r, 1, &io, f->err),
                     COORD_EAGAIN);
    append_range(f, 13, 13, 22, 300);
    assert_int_equal(seglog_first(f->l), 11);
    assert_int_equal(seglog_last(f->l), 13);
    check_range(f, 11, 13, 22, 300);
    /* Past the records in flight: capped at them (what is appended after
     * was written after the call and is not covered), done by the first
     * append at or past that bound, never by the end; nothing goes
     * asynchronously meanwhile. */
    abatch_fill(&b, 14, 1, 22);
    assert_int_equal(seglog_append_begin(f->l, b.r, 1, &io, f->err), 0);
    assert_int_equal(seglog_compact(f->l, UINT64_MAX, f->err), 0);
    /* Within the durable log: done at once, as ever. */
    assert_int_equal(seglog_compact(f->l, 12, f->err), 0);
    assert_int_equal(seglog_first(f->l), 12);
    assert_int_equal(seglog_last(f->l), 13);
    assert_int_equal(seglog_append_end(f->l, io_do(&io), f->err), 0);
    assert_int_equal(seglog_first(f->l), 12);
    assert_int_equal(seglog_last(f->l), 14);
    abatch_fill(&b, 15, 1, 22);
    assert_int_equal(seglog_append_begin(f->l, b.r, 1, &io, f->err),
                     COORD_EAGAIN);
    append_range(f, 15, 20, 22, 300); /* compacts all, then appends */
    assert_int_equal(seglog_first(f->l), 15);
    fx_open(f);
    assert_int_equal(seglog_first(f->l), 15);
    assert_int_equal(seglog_last(f->l), 20);
    check_range(f, 15, 20, 22, 300);
}

static void async_failed_write_is_sticky(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    append_range(f, 1, 10, 23, 300);
    struct abatch b;
    struct seglog_io io;
    abatch_fill(&b, 11, 2, 23);
    assert_int_equal(seglog_append_begin(f->l, b.r, 2, &io, f->err), 0);
    assert_int_equal(seglog_append_end(f->l, -EIO, f->err), COORD_EIO);
    assert_non_null(strstr(f->err, "00000000000000000001.seg"));
    assert_int_equal(seglog_last(f->l), 10);
    assert_int_equal(seglog_append(f->l, b.r, 2, f->err), COORD_EIO);
    assert_int_equal(seglog_append_begin(f->l, b.r, 2, &io, f->err),
                     COORD_EIO);
    fx_open(f);
    /* A short write is a failure too. */
    assert_int_equal(seglog_append_begin(f->l, b.r, 2, &io, f->err), 0);
    assert_int_equal(seglog_append_end(f->l, (int64_t)io.len - 512,
                                       f->err), COORD_EIO);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), 10);
    check_range(f, 1, 10, 23, 300);
}

/* What cannot go asynchronously is refused with nothing changed: a batch
 * that needs a new segment, and anything in buffered mode. */
static void async_refused_cases(void **state)
{
    struct fx *f = *state;
    f->seg_bytes = SEGLOG_SEGMENT_BYTES_MIN;
    fx_open(f);
    struct abatch b;
    struct seglog_io io;
    abatch_fill(&b, 1, 1, 24);
    /* An empty log has no segment to write into yet. */
    assert_int_equal(seglog_append_begin(f->l, b.r, 1, &io, f->err),
                     COORD_EAGAIN);
    append_range(f, 1, 10, 24, 300);
    abatch_fill(&b, 11, 1, 24);
    int rc = seglog_append_begin(f->l, b.r, 1, &io, f->err);
    assert_int_equal(rc, f->buffered ? COORD_EAGAIN : 0);
    if (rc == 0)
        assert_int_equal(seglog_append_end(f->l, io_do(&io), f->err), 0);
    else
        append_range(f, 11, 11, 24, 300);
    /* Fill the segment to within one record of its end. */
    uint64_t i = 12;
    struct seglog_stats st;
    seglog_get_stats(f->l, &st);
    uint64_t rot = st.rotations;
    while (st.rotations == rot) {
        append_range(f, i, i, 24, 300);
        i++;
        seglog_get_stats(f->l, &st);
    }
    /* i - 1 opened a new segment: fill that one up to the brim. */
    uint64_t room = 0;
    for (;;) {
        abatch_fill(&b, i, 8, 24);
        rc = seglog_append_begin(f->l, b.r, 8, &io, f->err);
        if (rc != 0)
            break;
        assert_int_equal(seglog_append_end(f->l, io_do(&io), f->err), 0);
        i += 8;
        room++;
    }
    assert_int_equal(rc, COORD_EAGAIN);
    assert_true(f->buffered ? room == 0 : room > 0);
    assert_int_equal(seglog_last(f->l), i - 1);
    assert_int_equal(seglog_append(f->l, b.r, 8, f->err), 0);
    fx_open(f);
    assert_int_equal(seglog_last(f->l), i + 7);
    check_range(f, 1, i + 7, 24, 300);
}

#define CASES(fx)                                                          \
    cmocka_unit_test_prestate_setup_teardown(empty_open_close, fx_setup,   \
                                             fx_teardown, &fx),            \
        cmocka_unit_test_prestate_setup_teardown(                          \
            append_read_reopen, fx_setup, fx_teardown, &fx),               \
        cmocka_unit_test_prestate_setup_teardown(format_on_disk, fx_setup, \
                                                 fx_teardown, &fx),        \
        cmocka_unit_test_prestate_setup_teardown(                          \
            rotation_small_segments, fx_setup, fx_teardown, &fx),          \
        cmocka_unit_test_prestate_setup_teardown(spare_used, fx_setup,     \
                                                 fx_teardown, &fx),        \
        cmocka_unit_test_prestate_setup_teardown(                          \
            truncate_tail_and_across, fx_setup, fx_teardown, &fx),         \
        cmocka_unit_test_prestate_setup_teardown(                          \
            compact_prefix_and_past_last, fx_setup, fx_teardown, &fx),     \
        cmocka_unit_test_prestate_setup_teardown(                          \
            torn_tail_is_zeroed, fx_setup, fx_teardown, &fx),              \
        cmocka_unit_test_prestate_setup_teardown(                          \
            foreign_seed_rejected, fx_setup, fx_teardown, &fx),            \
        cmocka_unit_test_prestate_setup_teardown(                          \
            flipped_bit_in_old_segment, fx_setup, fx_teardown, &fx),       \
        cmocka_unit_test_prestate_setup_teardown(                          \
            gap_between_segments, fx_setup, fx_teardown, &fx),             \
        cmocka_unit_test_prestate_setup_teardown(bad_arguments, fx_setup,  \
                                                 fx_teardown, &fx),        \
        cmocka_unit_test_prestate_setup_teardown(                          \
            out_of_sequence_tail, fx_setup, fx_teardown, &fx),             \
        cmocka_unit_test_prestate_setup_teardown(                          \
            leftovers_cleaned, fx_setup, fx_teardown, &fx),                \
        cmocka_unit_test_prestate_setup_teardown(                          \
            read_checks_crc, fx_setup, fx_teardown, &fx),                  \
        cmocka_unit_test_prestate_setup_teardown(                          \
            write_error_is_sticky, fx_setup, fx_teardown, &fx),            \
        cmocka_unit_test_prestate_setup_teardown(                          \
            truncate_interrupted_leaves_prefix, fx_setup, fx_teardown, &fx),\
        cmocka_unit_test_prestate_setup_teardown(                          \
            drop_all_interrupted_leaves_prefix, fx_setup, fx_teardown, &fx),\
        cmocka_unit_test_prestate_setup_teardown(                          \
            midsegment_damage_refused, fx_setup, fx_teardown, &fx),        \
        cmocka_unit_test_prestate_setup_teardown(                          \
            enomem_is_sticky, fx_setup, fx_teardown, &fx),                 \
        cmocka_unit_test_prestate_setup_teardown(                          \
            spare_rename_failure_is_eio, fx_setup, fx_teardown, &fx),      \
        cmocka_unit_test_prestate_setup_teardown(                          \
            growth_sequence, fx_setup, fx_teardown, &fx),                  \
        cmocka_unit_test_prestate_setup_teardown(                          \
            truncate_zeroes_from_the_end, fx_setup, fx_teardown, &fx),     \
        cmocka_unit_test_prestate_setup_teardown(                          \
            zeroed_block_refused, fx_setup, fx_teardown, &fx),             \
        cmocka_unit_test_prestate_setup_teardown(                          \
            open_reads_each_byte_once, fx_setup, fx_teardown, &fx),        \
        cmocka_unit_test_prestate_setup_teardown(                          \
            tail_dirty_spots_zeroed, fx_setup, fx_teardown, &fx),          \
        cmocka_unit_test_prestate_setup_teardown(                          \
            spare_paced_by_appends, fx_setup, fx_teardown, &fx),           \
        cmocka_unit_test_prestate_setup_teardown(                          \
            rotation_hurries_paced_spare, fx_setup, fx_teardown, &fx),     \
        cmocka_unit_test_prestate_setup_teardown(                          \
            async_refused_cases, fx_setup, fx_teardown, &fx)

int main(void)
{
    const struct CMUnitTest buffered[] = {
        CASES(fx_buffered),
        cmocka_unit_test(spare_pacing_rule),
    };
    const struct CMUnitTest direct[] = {
        CASES(fx_direct),
        cmocka_unit_test_prestate_setup_teardown(
            direct_mode_on_tmp, fx_setup, fx_teardown, &fx_direct),
        cmocka_unit_test_prestate_setup_teardown(
            direct_follows_the_fs, fx_setup, fx_teardown, &fx_direct),
        cmocka_unit_test_prestate_setup_teardown(
            async_append_roundtrip, fx_setup, fx_teardown, &fx_direct),
        cmocka_unit_test_prestate_setup_teardown(
            async_compact_waits_for_end, fx_setup, fx_teardown, &fx_direct),
        cmocka_unit_test_prestate_setup_teardown(
            async_failed_write_is_sticky, fx_setup, fx_teardown,
            &fx_direct),
    };
    int rc = cmocka_run_group_tests_name("seglog_buffered", buffered, NULL,
                                         NULL);
    if (tmp_allows_direct())
        rc += cmocka_run_group_tests_name("seglog_direct", direct, NULL,
                                          NULL);
    else
        fprintf(stderr, "seglog: /tmp refuses O_DIRECT: direct cases "
                        "skipped\n");
    return rc;
}
