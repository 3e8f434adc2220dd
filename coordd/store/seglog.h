/* seglog.h -- the Raft log in preallocated, zero-filled segment files.
 *
 * How it fits: rocks.c keeps hard state, snapshot metadata and snapshot
 * chunks in RocksDB but routes the "log" column family here, because a
 * group commit then costs one aligned write with O_DIRECT|O_DSYNC into
 * blocks that already exist (no file-size change, so no journal commit)
 * instead of RocksDB's WAL append + fdatasync + memtable insert (docs/
 * storage.md "Log segments" has the figures and the crash argument). It
 * stores opaque records (index -> value bytes; store.c's value already
 * carries its own checksum) and must not interpret them, include RocksDB,
 * or know anything of Raft beyond "indexes are contiguous".
 *
 * FILES in dir (created if missing):
 *   <first index, 20 digits>.seg   a segment: records from byte 0, then
 *                                  zeros to the end of the file
 *   spare                          a zero-filled segment ready for the next
 *                                  rotation (made by a background thread)
 *   spare.tmp                      a spare being made (deleted at open)
 *   seg.tmp                        a segment being made inline when no
 *                                  spare was ready (deleted at open)
 * RECORD (integers big-endian), starting at an offset that is a multiple
 * of 8 and padded with zeros to the next multiple of 8:
 *   [0..3] value length n (u32, > 0 for a record)
 *   [4..7] CRC32C, seeded with the segment's first index (so a record
 *          copied from another segment never validates), of [8..16+n)
 *          (precisely: CRC32C over the 8-byte big-endian first index,
 *          continued over [8..16+n); store__crc32c chaining)
 *   [8..15] index (u64)
 *   [16..]  value (n bytes)
 * A zero length word at an offset that is not a multiple of SEGLOG_ALIGN
 * is padding up to the next multiple (a writer may start a batch on a
 * fresh block); a zero length word at a multiple of SEGLOG_ALIGN, or the
 * end of the file, ends the segment's records.
 *
 * DURABILITY: every call that changes the log is durable when it returns
 * 0 (direct mode: each write is O_DIRECT|O_DSYNC; buffered mode, for file
 * systems without O_DIRECT such as tmpfs: write + fdatasync). A crash in
 * the middle of a call leaves either the old log or a prefix of the new
 * one that open() reads back as a valid, contiguous log: open() stops at
 * the first invalid record of the last segment and zeroes everything after
 * it, so stale bytes can never reappear behind later appends -- unless a
 * valid record with the expected index or a later one follows where the
 * records end (a bad record or zeros): that is damage, not a torn tail
 * (truncate zeroes from the end down so as never to leave that shape), and
 * open() refuses with
 * COORD_ECORRUPT (never erases entries that may have been acknowledged).
 * Truncate and drop-all unlink the highest segment first, compaction the
 * lowest, each unlink followed by a directory sync: a crash part-way
 * leaves a prefix (truncate, drop-all) or a suffix (compact) of the log.
 *
 * THREADS: one caller at a time (rocks.c calls under the store's mutex);
 * the spare-making thread touches only the spare files and its own state.
 * It writes the spare in chunks paced by the appends (SEGLOG_SPARE_*):
 * in step with the current segment's fill, at once when the log is idle
 * or a rotation is waiting for it.
 *
 * ERRORS: 0 or a negative COORD_E* code with err (STORE_ERRMSG_BYTES)
 * filled: COORD_EIO (a failed write or sync: the caller must stop and never
 * retry), COORD_ECORRUPT (a bad record where none may be: in a segment
 * that is not the last, in the last one in front of a valid later record,
 * a segment whose name does not match its first record, a gap between
 * segments), COORD_EINVAL (bad arguments: nothing was changed). Every
 * other error is sticky: all later calls, reads included, return COORD_EIO
 * with the original message.
 */
#ifndef COORDD_STORE_SEGLOG_H
#define COORDD_STORE_SEGLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size of a new segment file (config log_segment_bytes). A batch larger
 * than this gets a segment of its own, rounded up to the alignment. */
#define SEGLOG_SEGMENT_BYTES_DEFAULT (64u * 1024 * 1024)
#define SEGLOG_SEGMENT_BYTES_MIN (64u * 1024)
#define SEGLOG_SEGMENT_BYTES_MAX (1024u * 1024 * 1024)
/* Growth rule: the first segment of a log is this big (or segment_bytes
 * if smaller); each new one doubles the previous size up to segment_bytes;
 * open() plans the next from the last segment's size. So a node that
 * keeps little log writes little (make test starts hundreds of nodes). */
#define SEGLOG_SEGMENT_BYTES_FIRST (1024u * 1024)
/* Write alignment for O_DIRECT (the logical block size of every disk we
 * run on divides it). */
#define SEGLOG_ALIGN 4096u
#define SEGLOG_REC_HDR 16u
/* The spare thread zero-fills in chunks of this many bytes (config
 * log_spare_chunk_bytes; rounded down to SEGLOG_ALIGN) and paces them:
 * an append that meets a chunk on the disk waits for at most one chunk
 * (about 0.3 ms for 256 KiB on our VM disk, 0.7 ms for 1 MiB). */
#define SEGLOG_SPARE_CHUNK_BYTES_DEFAULT (256u * 1024)
#define SEGLOG_SPARE_CHUNK_BYTES_MIN SEGLOG_ALIGN
#define SEGLOG_SPARE_CHUNK_BYTES_MAX (1024u * 1024)
/* Pacing: the spare is written in step with the current segment's fill so
 * that it is complete when the segment is this full (so it is ready
 * before the rotation with room to spare, while spreading its writes over
 * half the segment's life instead of one burst at full disk speed). */
#define SEGLOG_SPARE_DONE_PCT 50u
/* ... unless no append started for this long: an idle disk has nothing
 * to compete with, so the rest of the spare is written at once. */
#define SEGLOG_SPARE_IDLE_US 5000u

struct seglog;

struct seglog_options {
    uint64_t segment_bytes; /* 0: SEGLOG_SEGMENT_BYTES_DEFAULT */
    bool buffered;          /* never O_DIRECT (tests; set automatically
                             * where the file system refuses O_DIRECT) */
    uint64_t spare_chunk_bytes; /* 0: SEGLOG_SPARE_CHUNK_BYTES_DEFAULT */
    uint64_t spare_idle_us;     /* 0: SEGLOG_SPARE_IDLE_US (tests) */
};

/* One record to append; val borrowed for the call. */
struct seglog_rec {
    uint64_t index;
    const uint8_t *val;
    uint32_t len; /* > 0 */
};

/* Opens (creating if needed) the log in dir, reads every segment, checks
 * records and contiguity, repairs a torn tail as described above and starts
 * the spare-making thread. */
int seglog_open(struct seglog **out, const char *dir,
                const struct seglog_options *o, char *err);
/* Stops the thread and closes. Everything appended is already durable. */
void seglog_close(struct seglog *l);

/* The log's bounds: entries [first, last] are present; an empty log has
 * first == 0 and last == 0. */
uint64_t seglog_first(const struct seglog *l);
uint64_t seglog_last(const struct seglog *l);
/* True if direct I/O is in use (for logs and tests). */
bool seglog_direct(const struct seglog *l);

/* Appends recs[0..n) in one write, durable on return. recs[0].index must
 * be last + 1, or anything >= 1 when the log is empty; the rest follow
 * contiguously. */
int seglog_append(struct seglog *l, const struct seglog_rec *recs,
                  uint32_t n, char *err);
/* Asynchronous append, for a caller that issues the write itself
 * (coordd: Linux AIO from the loop thread; docs/storage.md "Log writes
 * from the loop"). seglog_append_begin encodes recs[0..n) (as for
 * seglog_append) as one aligned write and describes it in *io; the caller
 * writes io->len bytes of io->buf at io->off to io->fd (O_DIRECT|O_DSYNC:
 * durable when complete) and reports the result to seglog_append_end,
 * which makes the records part of the log. In between, the log reads as
 * before the call; compaction works, except that one that would unlink the
 * segment being written waits, bounded by the records in flight (what is
 * appended after them is not covered): the first seglog_append at or
 * past that bound, or the next seglog_compact, does it
 * (seglog_append_end never touches the disk), and seglog_append_begin
 * answers COORD_EAGAIN until then; appends and truncation are refused
 * (COORD_EINVAL). COORD_EAGAIN, with nothing changed: this batch cannot
 * go this way (buffered mode, no room left in the current segment, an
 * append already in flight, a compaction waiting): use seglog_append.
 * io->buf stays valid and unchanged until seglog_append_end. */
struct seglog_io {
    int fd;
    const uint8_t *buf;
    size_t len;
    uint64_t off;
};
int seglog_append_begin(struct seglog *l, const struct seglog_rec *recs,
                        uint32_t n, struct seglog_io *io, char *err);
/* res: bytes written, or a negative errno. Anything but io->len fails the
 * log (COORD_EIO, sticky: a failed write is never retried). */
int seglog_append_end(struct seglog *l, int64_t res, char *err);
/* Deletes entries >= from (no-op if from > last), durable on return:
 * later segments are unlinked, highest first, each followed by a directory
 * sync, before the tail of the segment holding from is zeroed. */
int seglog_truncate(struct seglog *l, uint64_t from, char *err);
/* Deletes entries < below: whole segments whose entries all lie below are
 * unlinked; entries below in a kept segment are only forgotten (open() may
 * return them again: callers must tolerate a log that starts earlier than
 * they compacted). below > last empties the log and unlinks every segment,
 * so the next append may start at any index. */
int seglog_compact(struct seglog *l, uint64_t below, char *err);

/* Copies the value of entry index into *buf (grown with coord_realloc as
 * needed; *cap is its size), checking the record's CRC. COORD_ENONODE if
 * index is outside [first, last]. */
int seglog_read(struct seglog *l, uint64_t index, uint8_t **buf,
                size_t *cap, uint32_t *len, char *err);

struct seglog_stats {
    uint64_t appends;        /* seglog_append calls */
    uint64_t bytes;          /* bytes written by appends, padding included */
    uint64_t rotations;      /* segments started */
    uint64_t spare_misses;   /* rotations that had to make a segment inline */
    uint64_t spare_waits;    /* rotations that waited for the spare thread */
    uint64_t tail_zeroed;    /* open: non-zero bytes zeroed after the last
                              * record (a torn tail; for the caller's log) */
    uint64_t tail_zeroed_at; /* open: offset in the last segment where the
                              * zeroing started (when tail_zeroed > 0) */
    uint64_t open_read_bytes; /* open: bytes read from segments (each byte
                               * about once: the tail check shares the
                               * parse's reads; only dirty blocks are read
                               * again to be zeroed) */
    uint64_t spare_chunks;   /* chunks the spare thread wrote */
    uint64_t spare_paced;    /* times it waited for the segment's fill */
};
void seglog_get_stats(const struct seglog *l, struct seglog_stats *out);

#endif /* COORDD_STORE_SEGLOG_H */
