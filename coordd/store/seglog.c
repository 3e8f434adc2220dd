/* seglog.c -- the Raft log in preallocated, zero-filled segment files:
 * the implementation of seglog.h (read it first: files, record format,
 * durability and errors are specified there).
 *
 * How it fits: rocks.c routes the "log" column family here. In memory we
 * keep, per segment, an array of record offsets (so a read is two preads)
 * and, for the last segment, the partial block at the write position
 * (l->tail). An append builds [tail block prefix][new records][zeros to
 * the block end] in an aligned buffer and does ONE pwrite at the block-
 * aligned offset, with O_DIRECT|O_DSYNC (direct mode) or followed by
 * fdatasync (buffered mode: tmpfs, tests). The prefix is rewritten with
 * the identical bytes already on disk; a torn write of that block could
 * damage those durable records, which is the same exposure the page cache
 * has when it writes back a partially filled block (RocksDB's WAL and any
 * append + fdatasync log rewrite their last block the same way).
 *
 * Rotation takes the "spare" file (a zero-filled segment made by a
 * background thread) by renaming it, waits for the thread if it is making
 * one, or else makes a segment inline (counted in spare_misses). Segments
 * grow: SEGLOG_SEGMENT_BYTES_FIRST, doubling up to seg_bytes. The thread
 * writes the spare in chunks, paced by the appends (sl_pace): a spare
 * written at full disk speed puts its writes in front of the appends'
 * O_DSYNC writes for as long as it lasts. Open reads every segment once,
 * checks records, contiguity and names, refuses damage in front of valid
 * records, and zeroes everything after the last valid record of the last
 * segment before anything is appended, so stale bytes never reappear.
 *
 * Must not: interpret record values, include RocksDB, assert on anything
 * read from disk, or let the spare thread touch anything but the spare
 * files and its own fields (under l->mu).
 */
#include "seglog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "seglog_int.h"
#include "store.h"
#include "store_int.h"

#define SL_CHUNK (1024u * 1024) /* zero-fill, scan and read chunk */
#define SL_NAME_BYTES 32        /* "<20 digits>.seg" + NUL */
#define SL_SPARE "spare"
#define SL_SPARE_TMP "spare.tmp"
#define SL_SEG_TMP "seg.tmp" /* a segment made inline (deleted at open) */
#define SL_A ((uint64_t)SEGLOG_ALIGN)

struct sl_seg {
    uint64_t first; /* index in the file name */
    uint64_t n;     /* entries */
    uint64_t size;  /* usable bytes: file size rounded down to SL_A */
    uint64_t end;   /* byte after the last record */
    uint32_t seed;  /* CRC32C of the big-endian first index */
    uint32_t *off;  /* off[i]: offset of entry first + i */
    uint64_t cap;   /* of off */
    int fd;         /* O_RDONLY, for reads */
    /* Open: the parse of the last segment checked [end, size) for non-
     * zero bytes while it looked for later records; they lie in
     * [dlo, dhi) (none if dlo >= dhi), so the repair reads only those. */
    bool scanned;
    uint64_t dlo;
    uint64_t dhi;
};

struct seglog {
    char *dir;
    int dfd;
    uint64_t seg_bytes;  /* the largest planned segment (option) */
    uint64_t next_bytes; /* planned size of the next segment (growth) */
    bool direct;
    bool failed; /* a call failed: every later call is refused */
    char ferr[STORE_ERRMSG_BYTES]; /* the message of that failure */
    struct sl_seg *segs;
    size_t nseg;
    size_t segcap;
    uint64_t first;
    uint64_t last;
    int wfd;      /* write fd of the last segment, -1 if none */
    size_t wseg;  /* the segment wfd belongs to */
    uint8_t tail[SEGLOG_ALIGN]; /* [end & ~(A-1), end) of the last seg */
    uint8_t *wraw; /* aligned write buffer (wbuf) and its allocation */
    uint8_t *wbuf;
    size_t wcap;
    uint8_t *zraw; /* SL_CHUNK aligned zeros, read-only after open */
    uint8_t *zbuf;
    struct seglog_stats st;
    /* The spare thread; spare_* under mu. */
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every change of spare_* */
    bool spare_ready; /* the file "spare" exists, zero-filled, synced */
    bool spare_want;  /* make one (cleared when made or after a failure) */
    uint64_t spare_size; /* of the ready spare */
    uint64_t spare_plan; /* size the thread makes the next spare at */
    bool zero_direct; /* l->direct when the thread started */
    bool spare_urgent; /* a rotation waits for the spare: no pacing */
    uint64_t spare_chunk;   /* option; read-only once the thread runs */
    uint64_t spare_idle_us; /* option; likewise */
    atomic_bool stop;
    /* Pacing, written by the appending thread, read by the spare thread:
     * the current segment's size (0: none) and end, appends started, and
     * the end at which the spare thread wants waking (UINT64_MAX: not
     * waiting). The pair is not read atomically: a stale pair only makes
     * one pacing decision early or late. */
    _Atomic uint64_t pace_size;
    _Atomic uint64_t pace_end;
    _Atomic uint64_t pace_appends;
    _Atomic uint64_t pace_at;
    bool pace_idle;        /* spare thread only: the last wait found the */
    uint64_t pace_idle_at; /* log idle at this pace_appends count */
    _Atomic uint64_t sp_chunks; /* stats of the spare thread */
    _Atomic uint64_t sp_paced;
    /* The append between seglog_append_begin and _end (fl.on), and a
     * compaction that had to wait for it (0: none), done by the first
     * synchronous append at or past it, or by the next compaction (never
     * by _end: it runs on coordd's loop). */
    struct {
        bool on;
        uint32_t n;
        uint64_t index; /* of the first record */
        uint64_t bytes; /* records, unpadded */
        uint64_t start; /* file offset of wbuf */
        size_t total;   /* bytes written from start */
        uint64_t compact_below;
    } fl;
};

/* ---- small helpers ---- */

static uint64_t sl_align(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static uint64_t sl_rec_bytes(uint32_t len)
{
    return sl_align(SEGLOG_REC_HDR + (uint64_t)len, 8);
}

/* The CRC seed of a segment: CRC32C of its first index (8 bytes, big-
 * endian); a record's CRC continues from it over [8..16+n). */
static uint32_t sl_seed(uint64_t first)
{
    uint8_t b[8];
    store__put_u64(b, first);
    return store__crc32c(0, b, 8);
}

static uint32_t sl_rec_crc(uint32_t seed, const uint8_t *rec, uint32_t len)
{
    return store__crc32c(seed, rec + 8, 8 + (size_t)len);
}

static void sl_name(char *buf, uint64_t first)
{
    snprintf(buf, SL_NAME_BYTES, "%020" PRIu64 ".seg", first);
}

static bool sl_is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* An SL_A-aligned block of n bytes inside a coord_malloc'd *raw. */
static uint8_t *sl_aligned_alloc(size_t n, uint8_t **raw)
{
    *raw = coord_malloc(n + SL_A);
    if (!*raw)
        return NULL;
    uintptr_t p = ((uintptr_t)*raw + SL_A - 1) & ~(uintptr_t)(SL_A - 1);
    return (uint8_t *)p;
}

static int sl_wbuf(struct seglog *l, size_t n, char *err)
{
    if (n <= l->wcap)
        return 0;
    size_t cap = l->wcap ? l->wcap : SL_A;
    while (cap < n)
        cap *= 2;
    uint8_t *raw;
    uint8_t *b = sl_aligned_alloc(cap, &raw);
    if (!b) {
        store__errf(err, "seglog: no memory for a %zu-byte write", cap);
        return COORD_ENOMEM;
    }
    coord_free(l->wraw);
    l->wraw = raw;
    l->wbuf = b;
    l->wcap = cap;
    return 0;
}

static int sl_pwrite(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Reads up to n bytes; returns the count (short only at end of file) or
 * -1 with errno. */
static ssize_t sl_pread(int fd, uint8_t *p, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Fills err naming the file and errno; marks the log failed (the caller
 * must stop: contract). */
static int sl_fail(struct seglog *l, char *err, const char *what,
                   const char *name)
{
    int e = errno ? errno : EIO;
    l->failed = true;
    store__errf(err, "seglog: %s %s/%s: %s", what, l->dir, name,
                strerror(e));
    snprintf(l->ferr, sizeof(l->ferr), "%s", err);
    return COORD_EIO;
}

/* Makes the error rc (err already filled) sticky: a change may be half
 * applied, and the RocksDB half of the batch is durable already. */
static int sl_stick(struct seglog *l, char *err, int rc)
{
    if (rc != 0 && !l->failed) {
        l->failed = true;
        snprintf(l->ferr, sizeof(l->ferr), "%s", err);
    }
    return rc;
}

static int sl_failed(const struct seglog *l, char *err)
{
    store__errf(err, "seglog: refused after an earlier failure: %s",
                l->ferr);
    return COORD_EIO;
}

static int sl_corrupt(const struct seglog *l, char *err, const char *name,
                      uint64_t off, const char *why)
{
    store__errf(err, "seglog: %s/%s: bad record at offset %" PRIu64 " (%s)",
                l->dir, name, off, why);
    return COORD_ECORRUPT;
}

/* ---- spare pacing ---- */

uint64_t seglog__spare_allowed(uint64_t spare, uint64_t chunk, uint64_t end,
                               uint64_t size)
{
    if (size == 0 || end >= size)
        return spare;
    /* frac: the fill in 1/2^20 (end < size < 2^32); spare * frac stays
     * below 2^64 for any spare below 2^44 (ours are at most 1 GiB). */
    uint64_t frac = (end << 20) / size;
    uint64_t a = ((spare * frac) >> 20) * 100 / SEGLOG_SPARE_DONE_PCT;
    a += chunk;
    return a < spare ? a : spare;
}

uint64_t seglog__spare_wake_end(uint64_t spare, uint64_t chunk,
                                uint64_t done, uint64_t size)
{
    if (seglog__spare_allowed(spare, chunk, size, size) <= done)
        return UINT64_MAX;
    uint64_t lo = 0, hi = size; /* allowed(hi) > done; monotonic in end */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (seglog__spare_allowed(spare, chunk, mid, size) > done)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void sl_deadline(struct timespec *ts, uint64_t us)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(us / 1000000);
    ts->tv_nsec += (long)(us % 1000000) * 1000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Spare thread, under mu, before it writes past done bytes of a spare of
 * size bytes: waits while the spare is ahead of the current segment's
 * fill (seglog__spare_allowed), unless a rotation waits for it, the log
 * closes, or no append started for spare_idle_us (an idle disk). The
 * appender wakes us when its end reaches pace_at; the timeout bounds the
 * wait for anything the flags missed. */
static void sl_pace(struct seglog *l, uint64_t done, uint64_t size)
{
    for (;;) {
        if (atomic_load(&l->stop) || l->spare_urgent)
            break;
        /* Still idle since the last wait: the rest at once. */
        if (l->pace_idle && atomic_load(&l->pace_appends) == l->pace_idle_at)
            break;
        l->pace_idle = false;
        uint64_t at = seglog__spare_wake_end(size, l->spare_chunk, done,
                                             atomic_load(&l->pace_size));
        atomic_store(&l->pace_at, at);
        /* After publishing pace_at (seq_cst), so an append that ends
         * past it either is seen here or wakes us under mu. */
        if (atomic_load(&l->pace_end) >= at)
            break;
        uint64_t seen = atomic_load(&l->pace_appends);
        struct timespec dl;
        sl_deadline(&dl, l->spare_idle_us);
        atomic_fetch_add(&l->sp_paced, 1);
        int rc = pthread_cond_timedwait(&l->cv, &l->mu, &dl);
        if (rc == ETIMEDOUT && atomic_load(&l->pace_appends) == seen) {
            l->pace_idle = true;
            l->pace_idle_at = seen;
            break;
        }
    }
    atomic_store(&l->pace_at, UINT64_MAX);
}

/* Appending thread: publishes the current segment's fill for the pacing
 * and wakes the spare thread when it reached what that one waits for. */
static void sl_pace_note(struct seglog *l)
{
    const struct sl_seg *s = l->nseg ? &l->segs[l->nseg - 1] : NULL;
    uint64_t end = s ? s->end : 0;
    atomic_store(&l->pace_size, s ? s->size : 0);
    atomic_store(&l->pace_end, end);
    if (end >= atomic_load(&l->pace_at)) {
        pthread_mutex_lock(&l->mu);
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
}

/* Creates name in l->dfd as a zero-filled file of size bytes, written for
 * real (so its blocks are allocated and written: later overwrites change
 * no metadata) and synced. With direct I/O the zeros bypass the page
 * cache (64 MiB of dirty pages would otherwise compete with the appends'
 * writes at the next writeback). spare: the spare thread's file, in
 * chunks of spare_chunk paced by sl_pace, given up (ECANCELED) when the
 * log closes; otherwise a segment made inline by a rotation, at once. */
static int sl_make_zero_file(struct seglog *l, const char *name,
                             uint64_t size, bool spare)
{
    int fl = O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC;
    bool direct = spare ? l->zero_direct : l->direct;
    uint64_t chunk = spare ? l->spare_chunk : SL_CHUNK;
    int fd = direct ? openat(l->dfd, name, fl | O_DIRECT, 0644) : -1;
    if (fd < 0)
        fd = openat(l->dfd, name, fl, 0644);
    if (fd < 0)
        return -1;
    for (uint64_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        if (spare) {
            pthread_mutex_lock(&l->mu);
            sl_pace(l, off, size);
            pthread_mutex_unlock(&l->mu);
        }
        if (spare && atomic_load(&l->stop)) {
            errno = ECANCELED;
            goto fail;
        }
        if (sl_pwrite(fd, l->zbuf, n, off) != 0)
            goto fail;
        if (spare)
            atomic_fetch_add(&l->sp_chunks, 1);
    }
    if (fdatasync(fd) != 0)
        goto fail;
    close(fd);
    return 0;
fail:;
    int e = errno;
    close(fd);
    (void)unlinkat(l->dfd, name, 0);
    errno = e;
    return -1;
}

/* ---- the spare thread ---- */

static void *sl_spare_main(void *arg)
{
    struct seglog *l = arg;
    /* Named for top -H and traces (15 bytes at most). */
    pthread_setname_np(pthread_self(), "coordd-seglog");
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!atomic_load(&l->stop) && (l->spare_ready || !l->spare_want))
            pthread_cond_wait(&l->cv, &l->mu);
        if (atomic_load(&l->stop))
            break;
        uint64_t size = l->spare_plan;
        pthread_mutex_unlock(&l->mu);
        int rc = sl_make_zero_file(l, SL_SPARE_TMP, size, true);
        pthread_mutex_lock(&l->mu);
        /* Renamed under mu, so a rotation sees the flag and the file
         * change together. The directory sync is best effort: a rotation
         * syncs the directory after renaming the spare anyway. */
        if (rc == 0 &&
            renameat(l->dfd, SL_SPARE_TMP, l->dfd, SL_SPARE) == 0) {
            (void)fsync(l->dfd);
            l->spare_ready = true;
            l->spare_size = size;
        } else {
            (void)unlinkat(l->dfd, SL_SPARE_TMP, 0);
        }
        /* Made, or failed: retried at the next rotation, not in a loop. */
        l->spare_want = false;
        l->spare_urgent = false;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- segments in memory ---- */

static int sl_push_off(struct sl_seg *s, uint64_t i, uint32_t off)
{
    if (i >= s->cap) {
        uint64_t cap = s->cap ? s->cap * 2 : 256;
        while (cap <= i)
            cap *= 2;
        uint32_t *p = coord_realloc(s->off, cap * sizeof(*p));
        if (!p)
            return COORD_ENOMEM;
        s->off = p;
        s->cap = cap;
    }
    s->off[i] = off;
    return 0;
}

static int sl_seg_new(struct seglog *l, uint64_t first, char *err)
{
    if (l->nseg == l->segcap) {
        size_t cap = l->segcap ? l->segcap * 2 : 8;
        struct sl_seg *p = coord_realloc(l->segs, cap * sizeof(*p));
        if (!p) {
            store__errf(err, "seglog: no memory for segments");
            return COORD_ENOMEM;
        }
        l->segs = p;
        l->segcap = cap;
    }
    struct sl_seg *s = &l->segs[l->nseg++];
    memset(s, 0, sizeof(*s));
    s->first = first;
    s->seed = sl_seed(first);
    s->fd = -1;
    return 0;
}

/* Opens the read fd of segment s and records its usable size. */
static int sl_seg_open(struct seglog *l, struct sl_seg *s, char *err)
{
    char name[SL_NAME_BYTES];
    struct stat sb;
    sl_name(name, s->first);
    s->fd = openat(l->dfd, name, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0 || fstat(s->fd, &sb) != 0) {
        int rc = sl_fail(l, err, "open", name);
        l->failed = false; /* nothing was written */
        return rc;
    }
    if ((uint64_t)sb.st_size > UINT32_MAX) {
        store__errf(err, "seglog: %s/%s: %lld bytes (4 GiB at most)",
                    l->dir, name, (long long)sb.st_size);
        return COORD_ECORRUPT;
    }
    s->size = (uint64_t)sb.st_size & ~(SL_A - 1);
    return 0;
}

static void sl_seg_free(struct sl_seg *s)
{
    if (s->fd >= 0)
        close(s->fd);
    coord_free(s->off);
    s->fd = -1;
    s->off = NULL;
}

/* Index of the segment holding index (largest first <= index). */
static size_t sl_find(const struct seglog *l, uint64_t index)
{
    size_t lo = 0, hi = l->nseg;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->segs[mid].first <= index)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static void sl_close_wfd(struct seglog *l)
{
    if (l->wfd >= 0)
        close(l->wfd);
    l->wfd = -1;
}

/* Opens the write fd of the last segment (if not open yet) and loads the
 * partial block at its write position into l->tail. */
static int sl_open_tail(struct seglog *l, char *err)
{
    coord_assert(l->nseg > 0);
    struct sl_seg *s = &l->segs[l->nseg - 1];
    char name[SL_NAME_BYTES];
    sl_name(name, s->first);
    if (l->wfd < 0 || l->wseg != l->nseg - 1) {
        sl_close_wfd(l);
        int fl = O_RDWR | O_CLOEXEC;
        if (l->direct)
            l->wfd = openat(l->dfd, name, fl | O_DIRECT | O_DSYNC);
        if (l->direct && l->wfd < 0 && errno == EINVAL)
            l->direct = false; /* the file system refuses O_DIRECT */
        if (!l->direct)
            l->wfd = openat(l->dfd, name, fl);
        if (l->wfd < 0)
            return sl_fail(l, err, "open for writing", name);
        l->wseg = l->nseg - 1;
    }
    uint64_t start = s->end & ~(SL_A - 1);
    size_t pre = (size_t)(s->end - start);
    memset(l->tail, 0, sizeof(l->tail));
    if (pre > 0 && sl_pread(s->fd, l->tail, pre, start) != (ssize_t)pre) {
        if (errno == 0)
            errno = EIO;
        return sl_fail(l, err, "read tail of", name);
    }
    return 0;
}

/* Unlinks segment i, syncs the directory (unlinks are not ordered for us
 * otherwise: ext4 without a journal) and removes it from the array, so
 * the array matches the disk after every step. */
static int sl_unlink_one(struct seglog *l, size_t i, char *err)
{
    char name[SL_NAME_BYTES];
    sl_name(name, l->segs[i].first);
    if (unlinkat(l->dfd, name, 0) != 0 && errno != ENOENT)
        return sl_fail(l, err, "unlink", name);
    if (fsync(l->dfd) != 0)
        return sl_fail(l, err, "sync directory after unlinking", name);
    sl_seg_free(&l->segs[i]);
    memmove(&l->segs[i], &l->segs[i + 1],
            (l->nseg - i - 1) * sizeof(*l->segs));
    l->nseg--;
    if (l->wfd >= 0 && l->wseg > i)
        l->wseg--;
    return 0;
}

/* Unlinks segments [lo, hi). down (truncate, drop-all): the highest
 * first, so a crash in between leaves a prefix of the log, which open()
 * accepts; otherwise (compact) the lowest first, leaving a suffix. */
static int sl_unlink_segs(struct seglog *l, size_t lo, size_t hi, bool down,
                          char *err)
{
    if (hi == l->nseg || (l->wfd >= 0 && l->wseg >= lo && l->wseg < hi))
        sl_close_wfd(l);
    for (size_t k = lo; k < hi; k++) {
        int rc = sl_unlink_one(l, down ? hi - 1 - (k - lo) : lo, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int sl_drop_all(struct seglog *l, char *err)
{
    int rc = sl_unlink_segs(l, 0, l->nseg, true, err);
    l->first = 0;
    l->last = 0;
    sl_pace_note(l);
    return rc;
}

/* ---- append ---- */

/* The planned size after a segment of size bytes: twice that, within
 * [the first size, seg_bytes] (growth rule, docs/storage.md). */
static uint64_t sl_next_size(const struct seglog *l, uint64_t size)
{
    uint64_t lo = SEGLOG_SEGMENT_BYTES_FIRST < l->seg_bytes
                      ? SEGLOG_SEGMENT_BYTES_FIRST
                      : l->seg_bytes;
    uint64_t n = size > l->seg_bytes / 2 ? l->seg_bytes : size * 2;
    return n < lo ? lo : n;
}

/* Under mu: takes the spare as segment name if it holds need bytes,
 * waiting for the thread when it is making one that will. 0 and
 * *size = the spare's size if taken, 1 if not, or COORD_EIO. */
static int sl_take_spare(struct seglog *l, const char *name, uint64_t need,
                         uint64_t *size)
{
    while (!l->spare_ready && l->spare_want && l->spare_plan >= need) {
        l->st.spare_waits++;
        l->spare_urgent = true; /* the thread stops pacing */
        pthread_cond_broadcast(&l->cv);
        pthread_cond_wait(&l->cv, &l->mu);
    }
    if (!l->spare_ready || l->spare_size < need)
        return 1;
    l->spare_ready = false;
    if (renameat(l->dfd, SL_SPARE, l->dfd, name) != 0)
        return COORD_EIO;
    *size = l->spare_size;
    return 0;
}

/* Starts segment `first`, big enough for need bytes: takes the spare (or
 * waits for the one being made), else makes one inline at the planned
 * size, then makes it the last segment and plans the next one. */
static int sl_rotate(struct seglog *l, uint64_t first, uint64_t need,
                     char *err)
{
    char name[SL_NAME_BYTES];
    uint64_t size = sl_align(need, SL_A);
    sl_name(name, first);
    pthread_mutex_lock(&l->mu);
    int took = sl_take_spare(l, name, size, &size);
    int e = errno;
    pthread_mutex_unlock(&l->mu);
    errno = e;
    if (took < 0)
        return sl_fail(l, err, "rename the spare to", name);
    if (took > 0) {
        l->st.spare_misses++;
        if (size < l->next_bytes)
            size = l->next_bytes;
        if (sl_make_zero_file(l, SL_SEG_TMP, size, false) ||
            renameat(l->dfd, SL_SEG_TMP, l->dfd, name) != 0)
            return sl_fail(l, err, "make segment", name);
    }
    if (fsync(l->dfd) != 0)
        return sl_fail(l, err, "sync directory for", name);
    l->st.rotations++;
    l->next_bytes = sl_next_size(l, size);
    int rc = sl_seg_new(l, first, err);
    if (rc == 0)
        rc = sl_seg_open(l, &l->segs[l->nseg - 1], err);
    if (rc == 0)
        rc = sl_open_tail(l, err);
    /* The new segment's fill first, so the next spare is paced by it. */
    sl_pace_note(l);
    pthread_mutex_lock(&l->mu);
    if (!l->spare_ready && !l->spare_want) {
        l->spare_want = true;
        l->spare_plan = l->next_bytes;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return sl_stick(l, err, rc);
}

/* Checks a batch; *bytes = its size in the file. */
static int sl_check_batch(const struct seglog *l, const struct seglog_rec *r,
                          uint32_t n, uint64_t *bytes, char *err)
{
    if (n == 0 || !r) {
        store__errf(err, "seglog: empty append");
        return COORD_EINVAL;
    }
    uint64_t want = l->nseg ? l->last + 1 : r[0].index;
    if (r[0].index == 0 || r[0].index != want ||
        r[0].index > UINT64_MAX - n) {
        store__errf(err, "seglog: append at %" PRIu64 ", want %" PRIu64,
                    r[0].index, want);
        return COORD_EINVAL;
    }
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].index != r[0].index + i || r[i].len == 0 ||
            r[i].len > STORE_ENTRY_BYTES_MAX || !r[i].val) {
            store__errf(err, "seglog: bad record %" PRIu32 " of the batch "
                        "(index %" PRIu64 ", %" PRIu32 " bytes)", i,
                        r[i].index, r[i].len);
            return COORD_EINVAL;
        }
        sum += sl_rec_bytes(r[i].len);
    }
    /* Offsets are kept as u32: a batch's own segment stays below 4 GiB. */
    if (sum > UINT32_MAX - 2 * SL_A) {
        store__errf(err, "seglog: batch of %" PRIu64 " bytes", sum);
        return COORD_EINVAL;
    }
    *bytes = sum;
    return 0;
}

/* Encodes r[0..n) at p (the file offset of p is off) and records their
 * offsets in s past s->n. */
static int sl_encode(struct sl_seg *s, const struct seglog_rec *r,
                     uint32_t n, uint8_t *p, uint64_t off)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t rb = sl_rec_bytes(r[i].len);
        if (sl_push_off(s, s->n + i, (uint32_t)off) != 0)
            return COORD_ENOMEM;
        store__put_u32(p, r[i].len);
        store__put_u64(p + 8, r[i].index);
        memcpy(p + SEGLOG_REC_HDR, r[i].val, r[i].len);
        memset(p + SEGLOG_REC_HDR + r[i].len, 0,
               rb - SEGLOG_REC_HDR - r[i].len);
        store__put_u32(p + 4, sl_rec_crc(s->seed, p, r[i].len));
        p += rb;
        off += rb;
    }
    return 0;
}

/* Writes and syncs buf at off through wfd. */
static int sl_write(struct seglog *l, const uint8_t *buf, size_t n,
                    uint64_t off)
{
    if (sl_pwrite(l->wfd, buf, n, off) != 0)
        return -1;
    if (!l->direct && fdatasync(l->wfd) != 0)
        return -1;
    return 0;
}

/* Encodes recs[0..n) (bytes unpadded, sl_check_batch) for the last
 * segment s into wbuf, from *start (s->end rounded down: the tail block
 * is written again with the new records after it) for *total bytes. */
static int sl_prepare(struct seglog *l, struct sl_seg *s,
                      const struct seglog_rec *recs, uint32_t n,
                      uint64_t bytes, uint64_t *start, size_t *total,
                      char *err)
{
    *start = s->end & ~(SL_A - 1);
    size_t pre = (size_t)(s->end - *start);
    *total = (size_t)(sl_align(s->end + bytes, SL_A) - *start);
    int rc = sl_wbuf(l, *total, err);
    if (rc != 0)
        return sl_stick(l, err, rc);
    memcpy(l->wbuf, l->tail, pre);
    if (sl_encode(s, recs, n, l->wbuf + pre, s->end) != 0) {
        store__errf(err, "seglog: no memory for the index");
        return sl_stick(l, err, COORD_ENOMEM);
    }
    memset(l->wbuf + pre + bytes, 0, *total - pre - bytes);
    return 0;
}

/* The n records from index, prepared in wbuf from start (total bytes),
 * are durable in the last segment: they join the log. */
static void sl_appended(struct seglog *l, uint64_t index, uint32_t n,
                        uint64_t bytes, uint64_t start, size_t total)
{
    struct sl_seg *s = &l->segs[l->nseg - 1];
    uint64_t end = s->end + bytes;
    memcpy(l->tail, l->wbuf + ((end & ~(SL_A - 1)) - start),
           (size_t)(end & (SL_A - 1)));
    if (l->first == 0)
        l->first = index;
    l->last = index + n - 1;
    s->n += n;
    s->end = end;
    l->st.appends++;
    l->st.bytes += total;
    sl_pace_note(l);
}

static int sl_busy(char *err, const char *what)
{
    store__errf(err, "seglog: %s while an append is in flight", what);
    return COORD_EINVAL;
}

/* Does the compaction that waited for an append in flight before an
 * append at index at or past its bound (an append below it continues the
 * log as it stands). coordd orders a snapshot install's compaction after
 * every persist queued before it (node.c snap_wait_persisted), so what
 * waits here is a compaction within the records that were in flight. */
static int sl_pending(struct seglog *l, uint64_t index, char *err)
{
    if (l->fl.compact_below == 0 || index < l->fl.compact_below)
        return 0;
    return seglog_compact(l, 0, err);
}

int seglog_append(struct seglog *l, const struct seglog_rec *recs,
                  uint32_t n, char *err)
{
    if (l->fl.on)
        return sl_busy(err, "append");
    int rc = sl_pending(l, n && recs ? recs[0].index : 0, err);
    if (rc != 0)
        return rc;
    uint64_t bytes;
    rc = sl_check_batch(l, recs, n, &bytes, err);
    if (rc != 0)
        return rc;
    if (l->failed)
        return sl_failed(l, err);
    atomic_fetch_add(&l->pace_appends, 1);
    struct sl_seg *s = l->nseg ? &l->segs[l->nseg - 1] : NULL;
    if (!s || s->end + bytes > s->size) {
        if ((rc = sl_rotate(l, recs[0].index, bytes, err)) != 0)
            return rc;
        s = &l->segs[l->nseg - 1];
    }
    uint64_t start;
    size_t total;
    if ((rc = sl_prepare(l, s, recs, n, bytes, &start, &total, err)) != 0)
        return rc;
    if (sl_write(l, l->wbuf, total, start) != 0) {
        char name[SL_NAME_BYTES];
        sl_name(name, s->first);
        return sl_fail(l, err, "write", name);
    }
    sl_appended(l, recs[0].index, n, bytes, start, total);
    return 0;
}

static int sl_sync_path(char *err)
{
    store__errf(err, "seglog: this append needs the synchronous path");
    return COORD_EAGAIN;
}

int seglog_append_begin(struct seglog *l, const struct seglog_rec *recs,
                        uint32_t n, struct seglog_io *io, char *err)
{
    if (l->failed)
        return sl_failed(l, err);
    /* First: with a compaction pending, the log's last index is not yet
     * what the caller appends after (a snapshot was installed past it). */
    struct sl_seg *s = l->nseg ? &l->segs[l->nseg - 1] : NULL;
    if (l->fl.on || l->fl.compact_below || !l->direct || !s ||
        l->wfd < 0 || l->wseg != l->nseg - 1)
        return sl_sync_path(err);
    uint64_t bytes;
    int rc = sl_check_batch(l, recs, n, &bytes, err);
    if (rc != 0)
        return rc;
    if (s->end + bytes > s->size)
        return sl_sync_path(err);
    atomic_fetch_add(&l->pace_appends, 1);
    uint64_t start;
    size_t total;
    if ((rc = sl_prepare(l, s, recs, n, bytes, &start, &total, err)) != 0)
        return rc;
    l->fl.on = true;
    l->fl.n = n;
    l->fl.index = recs[0].index;
    l->fl.bytes = bytes;
    l->fl.start = start;
    l->fl.total = total;
    *io = (struct seglog_io){l->wfd, l->wbuf, total, start};
    return 0;
}

int seglog_append_end(struct seglog *l, int64_t res, char *err)
{
    if (!l->fl.on) {
        store__errf(err, "seglog: no append in flight");
        return COORD_EINVAL;
    }
    l->fl.on = false;
    if (res != (int64_t)l->fl.total) {
        char name[SL_NAME_BYTES];
        sl_name(name, l->segs[l->nseg - 1].first);
        errno = res < 0 ? (int)-res : EIO; /* short: no errno of its own */
        return sl_fail(l, err, "write", name);
    }
    sl_appended(l, l->fl.index, l->fl.n, l->fl.bytes, l->fl.start,
                l->fl.total);
    return 0;
}

/* ---- read, truncate, compact ---- */

int seglog_read(struct seglog *l, uint64_t index, uint8_t **buf,
                size_t *cap, uint32_t *len, char *err)
{
    /* After a failure the arrays may not match the disk (a segment
     * half-made, a tail not reopened): no reads either. */
    if (l->failed)
        return sl_failed(l, err);
    if (l->nseg == 0 || index < l->first || index > l->last) {
        store__errf(err, "seglog: no entry %" PRIu64, index);
        return COORD_ENONODE;
    }
    struct sl_seg *s = &l->segs[sl_find(l, index)];
    uint64_t off = s->off[index - s->first];
    char name[SL_NAME_BYTES];
    uint8_t h[SEGLOG_REC_HDR];
    sl_name(name, s->first);
    errno = 0;
    if (sl_pread(s->fd, h, sizeof(h), off) != (ssize_t)sizeof(h))
        goto io;
    uint32_t n = store__get_u32(h);
    if (n == 0 || n > STORE_ENTRY_BYTES_MAX ||
        off + SEGLOG_REC_HDR + n > s->size || store__get_u64(h + 8) != index)
        return sl_corrupt(l, err, name, off, "bad header on read");
    if (*cap < n) {
        uint8_t *p = coord_realloc(*buf, n);
        if (!p) {
            store__errf(err, "seglog: no memory for %" PRIu32 " bytes", n);
            return COORD_ENOMEM;
        }
        *buf = p;
        *cap = n;
    }
    if (sl_pread(s->fd, *buf, n, off + SEGLOG_REC_HDR) != (ssize_t)n)
        goto io;
    uint32_t crc = store__crc32c(store__crc32c(s->seed, h + 8, 8), *buf, n);
    if (crc != store__get_u32(h + 4))
        return sl_corrupt(l, err, name, off, "checksum mismatch on read");
    *len = n;
    return 0;
io:
    if (errno == 0)
        errno = EIO;
    store__errf(err, "seglog: read %s/%s: %s", l->dir, name,
                strerror(errno));
    return COORD_EIO;
}

/* Zeroes [from, end) of the last segment through wfd (the first block
 * keeps its bytes before from) and sets the tail. Block by block from the
 * END down, each write durable before the next: a crash part-way leaves
 * the truncated records intact up to some point and zeros after it (a
 * longer prefix of the old log), never a bad record in front of a valid
 * later one, which open() would refuse as damage. Truncations are rare and
 * short (uncommitted entries), so one sync per block is affordable. */
static int sl_zero_tail(struct seglog *l, uint64_t from, char *err)
{
    struct sl_seg *s = &l->segs[l->nseg - 1];
    char name[SL_NAME_BYTES];
    uint64_t start = from & ~(SL_A - 1);
    size_t pre = (size_t)(from - start);
    int rc = sl_wbuf(l, SL_A, err);
    sl_name(name, s->first);
    if (rc != 0)
        return sl_stick(l, err, rc);
    for (uint64_t o = sl_align(s->end, SL_A); o > start + SL_A; o -= SL_A)
        if (sl_write(l, l->zbuf, SL_A, o - SL_A) != 0)
            return sl_fail(l, err, "zero", name);
    memset(l->wbuf, 0, SL_A);
    errno = 0;
    if (pre > 0 && sl_pread(s->fd, l->wbuf, pre, start) != (ssize_t)pre)
        return sl_fail(l, err, "read", name);
    if (sl_write(l, l->wbuf, SL_A, start) != 0)
        return sl_fail(l, err, "zero", name);
    memset(l->tail, 0, sizeof(l->tail));
    memcpy(l->tail, l->wbuf, pre);
    s->end = from;
    return 0;
}

int seglog_truncate(struct seglog *l, uint64_t from, char *err)
{
    if (l->fl.on)
        return sl_busy(err, "truncate");
    if (l->failed)
        return sl_failed(l, err);
    int rc = 0;
    if (l->nseg == 0 || from > l->last)
        return 0;
    if (from <= l->first)
        return sl_drop_all(l, err);
    size_t k = sl_find(l, from);
    size_t keep = l->segs[k].first == from ? k : k + 1;
    coord_assert(keep >= 1);
    /* Highest segment first, each unlink synced: a crash in between
     * leaves a prefix of the log. */
    rc = sl_unlink_segs(l, keep, l->nseg, true, err);
    if (rc == 0)
        rc = sl_open_tail(l, err);
    if (rc != 0)
        return rc;
    struct sl_seg *s = &l->segs[l->nseg - 1];
    if (keep == k + 1) {
        if ((rc = sl_zero_tail(l, s->off[from - s->first], err)) != 0)
            return rc;
        s->n = from - s->first;
    }
    l->last = from - 1;
    sl_pace_note(l);
    return 0;
}

int seglog_compact(struct seglog *l, uint64_t below, char *err)
{
    if (l->failed)
        return sl_failed(l, err);
    if (below > l->last && l->fl.on) {
        /* Would unlink the segment being written: done later (sl_pending),
         * when the records in flight and any older batch queued behind
         * them are part of the log (and go too, being below). A crash
         * before then finds the log as it was, which compaction allows. */
        /* Never past the records in flight: what is appended after them
         * was written after this call, so this call cannot cover it (an
         * unbounded drop kept pending would erase those later). */
        uint64_t cap = l->fl.index + l->fl.n;
        if (below > cap)
            below = cap;
        if (below > l->fl.compact_below)
            l->fl.compact_below = below;
        return 0;
    }
    if (!l->fl.on && l->fl.compact_below) {
        if (l->fl.compact_below > below)
            below = l->fl.compact_below;
        l->fl.compact_below = 0;
    }
    if (l->nseg == 0 || below <= l->first)
        return 0;
    if (below > l->last)
        return sl_drop_all(l, err);
    size_t k = 0;
    while (k + 1 < l->nseg && l->segs[k + 1].first <= below)
        k++;
    int rc = sl_unlink_segs(l, 0, k, false, err);
    if (rc == 0)
        l->first = below;
    return rc;
}

uint64_t seglog_first(const struct seglog *l)
{
    return l->first;
}

uint64_t seglog_last(const struct seglog *l)
{
    return l->last;
}

bool seglog_direct(const struct seglog *l)
{
    return l->direct;
}

void seglog_get_stats(const struct seglog *l, struct seglog_stats *out)
{
    *out = l->st;
    out->spare_chunks = atomic_load(&l->sp_chunks);
    out->spare_paced = atomic_load(&l->sp_paced);
}

/* ---- open ---- */

/* Sequential reads of one segment through a window buffer. */
struct sl_rd {
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap;
    uint64_t base; /* file offset of buf[0] */
    size_t have;
    uint64_t nread; /* bytes read (seglog_stats.open_read_bytes) */
};

/* Points *p at the file's bytes [off, off + n). 0, 1 past the end, or -1
 * (errno). */
static int sl_rd_get(struct sl_rd *r, uint64_t off, size_t n,
                     const uint8_t **p)
{
    if (off + n > r->size)
        return 1;
    if (off >= r->base && off + n <= r->base + r->have) {
        *p = r->buf + (off - r->base);
        return 0;
    }
    size_t want = n > SL_CHUNK ? n : SL_CHUNK;
    if (want > r->cap) {
        uint8_t *b = coord_realloc(r->buf, want);
        if (!b) {
            errno = ENOMEM;
            return -1;
        }
        r->buf = b;
        r->cap = want;
    }
    if (r->size - off < want)
        want = (size_t)(r->size - off);
    ssize_t got = sl_pread(r->fd, r->buf, want, off);
    if (got < 0)
        return -1;
    r->nread += (uint64_t)got;
    r->base = off;
    r->have = (size_t)got;
    if ((size_t)got < n)
        return 1; /* the file shrank under us */
    *p = r->buf;
    return 0;
}

/* A record with a valid CRC (so written with this segment's seed) whose
 * index is not the file's name: corrupt even in the last segment. */
static const char sl_why_name[] = "first index does not match the name";

/* Checks the record at pos (length word len != 0): NULL if valid, else
 * why not. -1 in *io on a read error. */
static const char *sl_rec_check(struct sl_rd *r, const struct sl_seg *s,
                                uint64_t pos, uint32_t len, int *io)
{
    const uint8_t *p;
    if (len > STORE_ENTRY_BYTES_MAX)
        return "length too large";
    int g = sl_rd_get(r, pos, SEGLOG_REC_HDR + (size_t)len, &p);
    if (g < 0)
        *io = -1;
    if (g != 0)
        return "runs past the end of the file";
    if (store__get_u32(p + 4) != sl_rec_crc(s->seed, p, len))
        return "checksum mismatch";
    if (store__get_u64(p + 8) != s->first + s->n)
        return s->n == 0 ? sl_why_name : "index out of sequence";
    return NULL;
}

/* Widens s's dirty range to hold [lo, hi). */
static void sl_dirty(struct sl_seg *s, uint64_t lo, uint64_t hi)
{
    if (s->dlo >= s->dhi) {
        s->dlo = lo;
        s->dhi = hi;
        return;
    }
    s->dlo = lo < s->dlo ? lo : s->dlo;
    s->dhi = hi > s->dhi ? hi : s->dhi;
}

/* The tail check that spares open a second read of the tail: notes the
 * non-zero bytes of the reader's window from *zc on (the bytes before *zc
 * were checked) in s's dirty range and moves *zc to the window's end. A
 * gap between *zc and the window (the reader skipped ahead) counts as
 * dirty: the repair reads it again. */
static void sl_zcheck(const struct seglog *l, const struct sl_rd *r,
                      struct sl_seg *s, uint64_t *zc)
{
    uint64_t top = r->base + r->have;
    if (*zc >= top)
        return;
    if (*zc < r->base) {
        sl_dirty(s, *zc, r->base);
        *zc = r->base;
    }
    const uint8_t *p = r->buf + (*zc - r->base);
    size_t n = (size_t)(top - *zc);
    for (size_t k = 0; k < n; k += SL_CHUNK) { /* zbuf: SL_CHUNK zeros */
        size_t m = n - k < SL_CHUNK ? n - k : SL_CHUNK;
        if (memcmp(p + k, l->zbuf, m) == 0)
            continue;
        size_t i = k, j = k + m;
        while (!p[i])
            i++;
        while (!p[j - 1])
            j--;
        sl_dirty(s, *zc + i, *zc + j);
    }
    *zc = top;
}

/* After the records of the last segment end at bad (a bad record, or a
 * zero length word where a record may start): looks (8-byte steps, to the
 * end of the file; open reads it anyway to repair the tail) for a record
 * that validates with this segment's seed and holds the expected index or
 * a later one. Found, the end is not a torn tail but damage in front of
 * entries that were written (and maybe acknowledged): COORD_ECORRUPT,
 * never a silent repair. 0 if none; -1 in *io on a read error. On 0,
 * s->scanned is set and s->dlo/dhi hold the non-zero bytes after s->end
 * (sl_zcheck), so sl_repair_tail does not read the tail again. */
static int sl_scan_on(struct seglog *l, struct sl_rd *r, struct sl_seg *s,
                      uint64_t bad, const char *name, int *io, char *err)
{
    uint64_t want = s->first + s->n;
    uint64_t zc = s->end;
    sl_zcheck(l, r, s, &zc);
    for (uint64_t q = bad; q + SEGLOG_REC_HDR <= r->size; q += 8) {
        const uint8_t *p;
        int g = sl_rd_get(r, q, SEGLOG_REC_HDR, &p);
        if (g != 0) {
            *io = g < 0 ? -1 : 0;
            return 0;
        }
        sl_zcheck(l, r, s, &zc);
        uint32_t len = store__get_u32(p);
        uint64_t idx = store__get_u64(p + 8);
        if (len == 0 || len > STORE_ENTRY_BYTES_MAX || idx < want)
            continue;
        g = sl_rd_get(r, q, SEGLOG_REC_HDR + (size_t)len, &p);
        if (g < 0) {
            *io = -1;
            return 0;
        }
        sl_zcheck(l, r, s, &zc);
        if (g != 0 || store__get_u32(p + 4) != sl_rec_crc(s->seed, p, len))
            continue;
        store__errf(err, "seglog: %s/%s: records end at offset %" PRIu64
                    " (bad record or zeros; want index %" PRIu64 "), yet "
                    "a valid record, index %" PRIu64 ", at offset %" PRIu64
                    ": damage, not a torn tail; refusing to start "
                    "(docs/storage.md)", l->dir, name, bad, want, idx, q);
        return COORD_ECORRUPT;
    }
    if (zc < r->size) /* the last few bytes, past the last 8-byte step */
        sl_dirty(s, zc, r->size);
    s->scanned = true;
    return 0;
}

/* Reads segment s's records into s->off, s->n, s->end. strict (not the
 * last segment): a bad record is COORD_ECORRUPT; otherwise the records end
 * there (a torn tail) unless a valid later record follows (sl_scan_on). A
 * valid first record whose index is not the name's is COORD_ECORRUPT
 * either way. */
static int sl_parse(struct seglog *l, struct sl_seg *s, bool strict,
                    char *err)
{
    char name[SL_NAME_BYTES];
    struct sl_rd r = {.fd = s->fd, .size = s->size};
    uint64_t pos = 0;
    int rc = 0, io = 0;
    sl_name(name, s->first);
    for (;;) {
        const uint8_t *h;
        int g = sl_rd_get(&r, pos, 4, &h);
        if (g != 0) {
            io = g;
            break;
        }
        uint32_t len = store__get_u32(h);
        if (len == 0 && pos % SL_A != 0) { /* padding */
            pos = sl_align(pos, SL_A);
            continue;
        }
        if (len == 0) { /* the end: nothing valid may follow */
            if (!strict)
                rc = sl_scan_on(l, &r, s, pos, name, &io, err);
            break;
        }
        const char *why = sl_rec_check(&r, s, pos, len, &io);
        if (io < 0)
            break;
        if (why && (strict || why == sl_why_name)) {
            rc = sl_corrupt(l, err, name, pos, why);
            break;
        }
        if (why) {
            rc = sl_scan_on(l, &r, s, pos, name, &io, err);
            break;
        }
        if (sl_push_off(s, s->n, (uint32_t)pos) != 0) {
            errno = ENOMEM;
            io = -1;
            break;
        }
        s->n++;
        pos += sl_rec_bytes(len);
        s->end = pos;
    }
    coord_free(r.buf);
    l->st.open_read_bytes += r.nread;
    if (rc == 0 && io < 0) {
        rc = sl_fail(l, err, "read", name);
        l->failed = false;
    }
    return rc;
}

/* Zeroes every non-zero byte after the last record of the last segment
 * (read in SL_CHUNK chunks; only dirty blocks are written), then syncs.
 * If the parse checked the tail already (s->scanned), only the blocks of
 * its dirty range are read, so a clean tail is not read twice. */
static int sl_repair_tail(struct seglog *l, char *err)
{
    struct sl_seg *s = &l->segs[l->nseg - 1];
    char name[SL_NAME_BYTES];
    bool dirty = false;
    uint64_t a = s->end & ~(SL_A - 1), z = s->size;
    if (s->scanned && s->dlo >= s->dhi)
        return 0;
    if (s->scanned) {
        a = (s->dlo & ~(SL_A - 1)) > a ? s->dlo & ~(SL_A - 1) : a;
        z = sl_align(s->dhi, SL_A) < z ? sl_align(s->dhi, SL_A) : z;
    }
    int rc = sl_wbuf(l, SL_CHUNK, err);
    sl_name(name, s->first);
    if (rc != 0)
        return rc;
    int fd = openat(l->dfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return sl_fail(l, err, "open for repair", name);
    for (uint64_t c = a; c < z; c += SL_CHUNK) {
        size_t len = z - c < SL_CHUNK ? (size_t)(z - c) : SL_CHUNK;
        errno = 0;
        if (sl_pread(fd, l->wbuf, len, c) != (ssize_t)len)
            goto fail;
        l->st.open_read_bytes += len;
        for (size_t b = 0; b < len; b += SL_A) {
            size_t lo = c + b < s->end ? (size_t)(s->end - c) : b;
            if (sl_is_zero(l->wbuf + lo, b + SL_A - lo))
                continue;
            for (size_t k = lo; k < b + SL_A; k++)
                l->st.tail_zeroed += l->wbuf[k] != 0;
            if (!dirty)
                l->st.tail_zeroed_at = c + lo;
            memset(l->wbuf + lo, 0, b + SL_A - lo);
            if (sl_pwrite(fd, l->wbuf + b, SL_A, c + b) != 0)
                goto fail;
            dirty = true;
        }
    }
    if (dirty && fdatasync(fd) != 0)
        goto fail;
    close(fd);
    return 0;
fail:
    rc = sl_fail(l, err, "repair tail of", name);
    close(fd);
    return rc;
}

static int sl_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "<20 digits>.seg" -> its index (0: not a segment name). */
static uint64_t sl_parse_name(const char *n)
{
    uint64_t v = 0;
    if (strlen(n) != 24 || strcmp(n + 20, ".seg") != 0)
        return 0;
    for (int i = 0; i < 20; i++) {
        if (n[i] < '0' || n[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(n[i] - '0');
    }
    return v;
}

/* Handles one directory entry: temp files are deleted, a spare of the
 * wrong size too; a segment's index is added to *firsts. */
static int sl_dirent(struct seglog *l, const char *n, uint64_t **firsts,
                     size_t *nf, size_t *cap)
{
    struct stat sb;
    if (!strcmp(n, SL_SPARE_TMP) || !strcmp(n, SL_SEG_TMP))
        return unlinkat(l->dfd, n, 0);
    if (!strcmp(n, SL_SPARE)) {
        /* Any valid segment size (the growth rule makes several). */
        uint64_t size = fstatat(l->dfd, n, &sb, 0) == 0
                            ? (uint64_t)sb.st_size : 0;
        if (size % SL_A == 0 && size >= SEGLOG_SEGMENT_BYTES_MIN &&
            size <= SEGLOG_SEGMENT_BYTES_MAX) {
            l->spare_ready = true;
            l->spare_size = size;
            return 0;
        }
        return unlinkat(l->dfd, n, 0);
    }
    uint64_t first = sl_parse_name(n);
    if (first == 0)
        return 0; /* not ours */
    if (*nf == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        uint64_t *p = coord_realloc(*firsts, c * sizeof(*p));
        if (!p) {
            errno = ENOMEM;
            return -1;
        }
        *firsts = p;
        *cap = c;
    }
    (*firsts)[(*nf)++] = first;
    return 0;
}

/* Lists dir: cleans temp files, notes the spare, opens every segment in
 * index order (not yet parsed). */
static int sl_scan_dir(struct seglog *l, char *err)
{
    uint64_t *firsts = NULL;
    size_t nf = 0, cap = 0;
    int rc = 0, dfd2 = dup(l->dfd);
    DIR *d = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
    if (!d) {
        if (dfd2 >= 0)
            close(dfd2);
        rc = sl_fail(l, err, "list", ".");
        goto out;
    }
    rewinddir(d);
    struct dirent *e;
    errno = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (sl_dirent(l, e->d_name, &firsts, &nf, &cap) != 0)
            rc = sl_fail(l, err, "clean", e->d_name);
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = sl_fail(l, err, "list", ".");
    closedir(d);
    /* Temp files or a bad spare may have been unlinked above. */
    if (rc == 0 && fsync(l->dfd) != 0)
        rc = sl_fail(l, err, "sync", ".");
    if (nf > 1)
        qsort(firsts, nf, sizeof(*firsts), sl_cmp_u64);
    for (size_t i = 0; rc == 0 && i < nf; i++) {
        rc = sl_seg_new(l, firsts[i], err);
        if (rc == 0)
            rc = sl_seg_open(l, &l->segs[l->nseg - 1], err);
    }
out:
    coord_free(firsts);
    l->failed = false;
    return rc;
}

/* Parses every segment, checks contiguity, unlinks empty segments,
 * repairs the tail and sets the bounds and write state. */
static int sl_load(struct seglog *l, char *err)
{
    char a[SL_NAME_BYTES], b[SL_NAME_BYTES];
    size_t prev = SIZE_MAX;
    for (size_t i = 0; i < l->nseg; i++) {
        int rc = sl_parse(l, &l->segs[i], i + 1 < l->nseg, err);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < l->nseg; i++) {
        const struct sl_seg *s = &l->segs[i];
        const struct sl_seg *p = prev != SIZE_MAX ? &l->segs[prev] : NULL;
        if (s->n == 0)
            continue;
        if (p && p->first + p->n != s->first) {
            sl_name(a, p->first);
            sl_name(b, s->first);
            store__errf(err, "seglog: %s: gap between %s (last %" PRIu64
                        ") and %s", l->dir, a, p->first + p->n - 1, b);
            return COORD_ECORRUPT;
        }
        prev = i;
    }
    for (size_t i = l->nseg; i-- > 0;) {
        int rc = l->segs[i].n ? 0 : sl_unlink_one(l, i, err);
        if (rc != 0)
            return rc;
    }
    if (l->nseg == 0)
        return 0;
    /* A restart keeps growing from the last segment's size. */
    l->next_bytes = sl_next_size(l, l->segs[l->nseg - 1].size);
    int rc = sl_repair_tail(l, err);
    if (rc == 0)
        rc = sl_open_tail(l, err);
    l->first = l->segs[0].first;
    l->last = l->segs[l->nseg - 1].first + l->segs[l->nseg - 1].n - 1;
    return rc;
}

/* Direct mode unless the file system refuses O_DIRECT (tmpfs). */
static void sl_probe_direct(struct seglog *l)
{
    int fd = openat(l->dfd, ".", O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC,
                    0600);
    if (fd >= 0)
        close(fd);
    else if (errno == EINVAL)
        l->direct = false;
}

/* fsyncs the directory that holds dir (so dir's own entry is durable).
 * 0 or -1 with errno. */
static int sl_sync_parent(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    while (n > 0 && dir[n - 1] != '/')
        n--;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    char *p = n ? coord_strndup(dir, n) : coord_strndup(".", 1);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
    int e = errno;
    if (fd >= 0)
        close(fd);
    coord_free(p);
    errno = e;
    return rc;
}

static int sl_init(struct seglog *l, const char *dir,
                   const struct seglog_options *o, char *err)
{
    l->dfd = -1;
    l->wfd = -1;
    l->seg_bytes = o && o->segment_bytes ? o->segment_bytes
                                         : SEGLOG_SEGMENT_BYTES_DEFAULT;
    l->next_bytes = sl_next_size(l, 0);
    l->direct = !(o && o->buffered);
    l->spare_chunk = o && o->spare_chunk_bytes
                         ? o->spare_chunk_bytes & ~(SL_A - 1)
                         : SEGLOG_SPARE_CHUNK_BYTES_DEFAULT;
    l->spare_idle_us = o && o->spare_idle_us ? o->spare_idle_us
                                             : SEGLOG_SPARE_IDLE_US;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca; /* timed pacing waits: monotonic */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&l->stop, false);
    atomic_init(&l->pace_at, UINT64_MAX);
    l->dir = coord_strndup(dir, strlen(dir));
    l->zbuf = sl_aligned_alloc(SL_CHUNK, &l->zraw);
    if (!l->dir || !l->zbuf) {
        store__errf(err, "seglog: no memory");
        return COORD_ENOMEM;
    }
    memset(l->zbuf, 0, SL_CHUNK);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sl_fail(l, err, "create", ".");
    /* Also when it existed: a crash may have come between an earlier
     * mkdir and its parent's sync. */
    if (sl_sync_parent(l->dir) != 0)
        return sl_fail(l, err, "sync the parent directory of", ".");
    l->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->dfd < 0)
        return sl_fail(l, err, "open", ".");
    return 0;
}

int seglog_open(struct seglog **out, const char *dir,
                const struct seglog_options *o, char *err)
{
    *out = NULL;
    uint64_t sb = o && o->segment_bytes ? o->segment_bytes
                                        : SEGLOG_SEGMENT_BYTES_DEFAULT;
    uint64_t cb = o && o->spare_chunk_bytes
                      ? o->spare_chunk_bytes
                      : SEGLOG_SPARE_CHUNK_BYTES_DEFAULT;
    if (!dir || sb < SEGLOG_SEGMENT_BYTES_MIN ||
        sb > SEGLOG_SEGMENT_BYTES_MAX || sb % SL_A != 0 ||
        cb < SEGLOG_SPARE_CHUNK_BYTES_MIN ||
        cb > SEGLOG_SPARE_CHUNK_BYTES_MAX) {
        store__errf(err, "seglog: bad options (segment_bytes %" PRIu64
                    ", spare_chunk_bytes %" PRIu64 ")", sb, cb);
        return COORD_EINVAL;
    }
    struct seglog *l = coord_calloc(1, sizeof(*l));
    if (!l) {
        store__errf(err, "seglog: no memory");
        return COORD_ENOMEM;
    }
    int rc = sl_init(l, dir, o, err);
    if (rc == 0 && l->direct)
        sl_probe_direct(l);
    if (rc == 0)
        rc = sl_scan_dir(l, err);
    if (rc == 0)
        rc = sl_load(l, err);
    if (rc == 0) {
        l->spare_want = !l->spare_ready;
        l->spare_plan = l->next_bytes;
        l->zero_direct = l->direct;
        sl_pace_note(l);
        if (pthread_create(&l->th, NULL, sl_spare_main, l) != 0) {
            store__errf(err, "seglog: cannot start the spare thread");
            rc = COORD_EIO;
        } else {
            l->th_started = true;
        }
    }
    if (rc != 0) {
        seglog_close(l);
        return rc;
    }
    l->failed = false;
    *out = l;
    return 0;
}

void seglog_close(struct seglog *l)
{
    if (!l)
        return;
    if (l->th_started) {
        pthread_mutex_lock(&l->mu);
        atomic_store(&l->stop, true);
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
    }
    for (size_t i = 0; i < l->nseg; i++)
        sl_seg_free(&l->segs[i]);
    coord_free(l->segs);
    sl_close_wfd(l);
    if (l->dfd >= 0)
        close(l->dfd);
    coord_free(l->wraw);
    coord_free(l->zraw);
    coord_free(l->dir);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    coord_free(l);
}
