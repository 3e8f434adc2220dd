/* store.h -- coordd's durable state: hard state, Raft log and snapshot.
 *
 * How it fits: node.c (through the storage worker below) persists what
 * raft_step() asks for; the simulator and tests use the in-memory backend.
 * Raft entries are opaque bytes here: this module includes nothing from
 * raft/, tree/ or net/, and never touches libev. Two backends implement the
 * same internal ops (store_int.h): rocks.c (RocksDB, the only file that
 * includes <rocksdb/c.h>) and mem.c (in memory, with fault injection). The
 * logic above them (encoding, checksums, identity, snapshot scheme) lives
 * once, in store.c, so both backends behave byte for byte alike.
 *
 * KEY LAYOUT (all integers big-endian; crc = CRC32C, 4 bytes, computed over
 * the key bytes followed by the value bytes after the crc, so a value
 * written under the wrong key is detected too):
 *
 *  column family "log": one record per Raft entry. With log segments on
 *  (the default; format 2) rocks.c keeps these records in segment files
 *  (<data_dir>/log-segments, seglog.h), not in RocksDB: same keys and
 *  values, same iteration order, so this layout still describes them.
 *    key   [0..7]   index (u64)            -> iteration order = index order
 *    value [0..3]   crc
 *          [4..11]  term (u64)
 *          [12]     type (u8, opaque to the store)
 *          [13..16] payload length n (u32)
 *          [17..]   payload (n bytes)
 *
 *  column family "meta": small records, ASCII keys
 *    "ident" value [0..3] crc, [4..7] format version (u32),
 *                  [8..15] cluster id (u64), [16..23] node id (u64)
 *    "hard"  value [0..3] crc, [4..11] term (u64), [12..19] vote (u64)
 *    "snap"  value [0..3] crc, [4..11] generation (u64), [12..19] index,
 *                  [20..27] term, [28..35] size in bytes (u64),
 *                  [36..39] conf blob length c (u32), [40..] conf blob
 *
 *  column family "snap": the latest snapshot's bytes, in chunks
 *    key   [0..7]   generation (u64), [8..15] byte offset of the chunk (u64)
 *    value [0..3]   crc, [4..] the chunk's bytes
 *
 * A snapshot stream writes its chunks under a fresh generation; the commit
 * is ONE synced batch that rewrites meta "snap", deletes every chunk of the
 * previous generation and deletes the covered log prefix. Chunks of a
 * generation that never committed are deleted at the next open.
 *
 * ATOMICITY AND ORDER: one store_write() call (any number of store_write
 * structs) is one atomic batch: after a crash either all of it or none of it
 * is there. Batches become durable in call order: a successful sync (or a
 * write with sync = true) makes every earlier write durable too.
 * Exception, log segments (rocks backend, format 2): a batch is written in
 * two steps, its RocksDB part (hard state, snapshot metadata and chunks)
 * first and durable, then its log operations in order, each durable when
 * done (also unsynced ones, also in power-loss mode). A crash in between
 * leaves the RocksDB part plus a prefix of the log operations; docs/
 * storage.md "Log segments" argues why that is safe for Raft.
 *
 * THREADS: every call on a struct store is serialised by its mutex; a
 * snapshot reader reads from its own consistent view without that mutex,
 * so it runs concurrently with writes. A call blocks while another thread's
 * call (e.g. the worker's fsync) holds the mutex.
 *
 * ERRORS: 0 or a negative COORD_E* code; s->errmsg says what and where.
 * COORD_EIO: the backend failed (after a failed write or sync the caller
 * must stop: never retry, never trust what is in memory). COORD_ECORRUPT: a
 * stored record fails its checksum or is malformed. COORD_EINVAL: bad
 * argument, or a data directory that belongs to another cluster/node, a
 * newer format, or not to coordd at all.
 */
#ifndef COORDD_STORE_H
#define COORDD_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* On-disk format version written at first open. Opening a directory with a
 * newer version fails: an old binary must not rewrite a newer format.
 * 1: the Raft log in RocksDB's "log" column family (still what the rocks
 * backend writes with rocks_log set). 2: the log in segment files; an
 * older binary would see an empty log there, so it must refuse. A version
 * 1 store opened with segments on is migrated to 2 (docs/storage.md). */
#define STORE_FORMAT_VERSION 2
#define STORE_FORMAT_ROCKS_LOG 1
#define STORE_FORMAT_SEGMENTS 2
#define STORE_ERRMSG_BYTES 256
/* Configuration blob kept with a snapshot (raft_conf plus app context). */
#define STORE_CONF_BYTES_MAX 8192
/* Largest entry payload: a Raft entry holds at most one client frame's worth
 * of commands, well under this. */
#define STORE_ENTRY_BYTES_MAX (64u * 1024 * 1024)
/* Largest valid log index; UINT64_MAX is reserved as an end-of-range key. */
#define STORE_INDEX_MAX (UINT64_MAX - 1)
/* store_snap_commit(keep_from): delete the whole log. */
#define STORE_DROP_LOG UINT64_MAX

struct store_entry {
    uint64_t index;      /* >= 1 */
    uint64_t term;
    uint8_t type;        /* opaque to the store */
    uint32_t len;        /* <= STORE_ENTRY_BYTES_MAX */
    const uint8_t *data; /* borrowed (see each call) */
};

/* One persist request: what raft_update asks for in one atomic write. */
struct store_write {
    bool hs_changed;        /* write term and vote */
    uint64_t term;
    uint64_t vote;
    uint64_t truncate_from; /* 0: none; else delete entries >= it first */
    const struct store_entry *entries; /* strictly increasing indexes */
    uint32_t n_entries;
};

struct store_snap_meta {
    uint64_t index; /* 0: no snapshot */
    uint64_t term;
    uint64_t size;  /* bytes of snapshot data */
    uint32_t conf_len;
    uint8_t conf[STORE_CONF_BYTES_MAX];
};

/* What a node restarts from. first/last describe the log after the
 * snapshot: entries [first, last] are present and contiguous, and first
 * == snap.index + 1 when there is a snapshot (entries it covers may still
 * be stored and readable with store_read, but are not reported); an empty
 * log has first == snap.index + 1 and last == snap.index (last >=
 * snap.index). */
struct store_state {
    uint32_t format;
    uint64_t cluster_id;
    uint64_t node_id;
    uint64_t term;
    uint64_t vote;
    struct store_snap_meta snap;
    uint64_t first;
    uint64_t last;
    /* What opening the log repaired: non-zero bytes zeroed after the last
     * valid record of the last segment (a write torn by a crash), and
     * where (log segments only; 0 otherwise). coordd logs it. */
    uint64_t log_zeroed;
    uint64_t log_zeroed_at;
};

struct store_options {
    uint64_t cluster_id; /* non-zero; recorded at first open, then checked */
    uint64_t node_id;    /* non-zero; likewise */
    /* Power-loss test mode: writes are held in memory and reach the
     * backend only at a sync, so a kill (or store_close) loses exactly what
     * a power cut would. Never for production. */
    bool power_loss;
    /* rocks backend only. false (the default): the Raft log lives in
     * segment files (format 2); true: in RocksDB as before (format 1;
     * refused on a format 2 store). */
    bool rocks_log;
    /* Size of a new segment file; 0: SEGLOG_SEGMENT_BYTES_DEFAULT. */
    uint64_t log_segment_bytes;
    /* Chunk of the paced spare zero-fill; 0: the seglog default. */
    uint64_t log_spare_chunk_bytes;
};

struct store_stats {
    uint64_t writes; /* store_write calls that succeeded */
    uint64_t syncs;  /* syncs performed (sync = true writes, store_sync) */
};

struct store_ops; /* store_int.h */
struct store_mem_disk;

/* Per-store snapshot stream being written (store_snap_begin .. commit). */
struct store_snap_pending {
    bool active;
    uint64_t gen;
    uint64_t size;
    struct store_snap_meta meta;
};

struct store {
    const struct store_ops *ops;
    void *impl;
    pthread_mutex_t mu;
    uint64_t snap_gen;              /* generation of the committed snapshot */
    struct store_snap_meta snap;    /* committed snapshot metadata */
    struct store_snap_pending pend;
    struct store_stats stats;
    char errmsg[STORE_ERRMSG_BYTES];
};

/* Opens (creating if needed) the RocksDB data directory dir and checks or
 * records its identity. Initialises *s in place; on failure *s holds only
 * errmsg and needs no close. */
int store_open_rocks(struct store *s, const char *dir,
                     const struct store_options *opts);
/* Opens an in-memory store on disk (which outlives the store: close and
 * reopen keep what a real disk would). */
int store_open_mem(struct store *s, struct store_mem_disk *disk,
                   const struct store_options *opts);
/* Closes s. Unsynced writes survive as they would a process exit (the
 * page cache keeps them), except in power-loss mode, where they are lost. */
void store_close(struct store *s);

/* Reads the durable state and checks every log record (checksum,
 * contiguity). COORD_ECORRUPT names the bad record. */
int store_load(struct store *s, struct store_state *out);

/* Reads entries [lo, hi) in order into out[0..max) with their payloads
 * copied into buf[0..cap); *n is how many fit (stops early when out or buf
 * is full; COORD_ETOOBIG if not even the first fits). out[i].data points
 * into buf. COORD_ENONODE: an index in range is not in the log (compacted
 * or past the end); COORD_ECORRUPT: a record is bad or missing inside. */
int store_read(struct store *s, uint64_t lo, uint64_t hi,
               struct store_entry *out, uint32_t max, uint8_t *buf,
               size_t cap, uint32_t *n);

/* Writes w[0..n) as one atomic batch, in order (each: hard state, then the
 * truncation, then the entries). With sync, the batch and everything before
 * it is durable when this returns 0. Data is borrowed for the call. */
int store_write(struct store *s, const struct store_write *w, uint32_t n,
                bool sync);
/* Asynchronous log append (docs/storage.md "Log writes from the loop"):
 * store_append_begin encodes es[0..n) -- what store_write writes for a
 * request with entries only -- as one write for the caller to issue
 * itself: len bytes of buf at off to fd, which is O_DIRECT|O_DSYNC, so the
 * entries are durable once the write completes. The caller then reports
 * its result (bytes written or a negative errno) to store_append_end,
 * which makes the entries part of the log. In between, the store works as
 * usual (reads, snapshots, compaction) except for writes to the log, which
 * the caller must not make (store_worker holds them back). COORD_EAGAIN,
 * with nothing changed: these entries cannot go this way now (no log
 * segments, buffered segments, RocksDB writes not yet synced, no room in
 * the current segment, another thread in a store call right now): use
 * store_write. buf stays valid and unchanged until store_append_end,
 * which does no disk I/O but takes the store's mutex (like store_read).
 * A failed write is sticky (COORD_EIO), as for store_write. */
struct store_io {
    int fd;
    const uint8_t *buf;
    size_t len;
    uint64_t off;
};
int store_append_begin(struct store *s, const struct store_entry *es,
                       uint32_t n, struct store_io *io);
int store_append_end(struct store *s, int64_t res);
/* Makes everything written so far durable. */
int store_sync(struct store *s);
/* Deletes log entries < below (not durable until the next sync). below
 * may not pass snap.index + 1: entries no snapshot covers are kept. */
int store_compact(struct store *s, uint64_t below);

/* Snapshot stream. begin starts a new pending snapshot (discarding any
 * unfinished one); write appends len bytes at offset, which must equal the
 * bytes written so far; commit makes it the latest snapshot in one synced
 * batch that also deletes the previous snapshot and every log entry with
 * index < keep_from (STORE_DROP_LOG: the whole log; keep_from = index + 1
 * keeps exactly the entries after the snapshot). conf is copied. */
int store_snap_begin(struct store *s, uint64_t index, uint64_t term,
                     const uint8_t *conf, uint32_t conf_len);
int store_snap_write(struct store *s, uint64_t offset, const uint8_t *data,
                     uint32_t len);
int store_snap_commit(struct store *s, uint64_t keep_from);
/* Like store_snap_commit, but with the metadata given now, replacing what
 * begin recorded: for an InstallSnapshot receiver that learns the final
 * (index, term, configuration) only with the last chunk. */
int store_snap_commit_meta(struct store *s, uint64_t index, uint64_t term,
                           const uint8_t *conf, uint32_t conf_len,
                           uint64_t keep_from);

/* Reads the latest committed snapshot from a consistent view: later
 * writes, compactions and even a newer snapshot do not change what this
 * reader sees. Initialised in place; COORD_ENONODE if there is no
 * snapshot. The reader must be closed before its store. */
struct store_snap_reader {
    struct store *s;
    void *view;
    uint64_t gen;
    struct store_snap_meta meta;
    char errmsg[STORE_ERRMSG_BYTES];
};
int store_snap_open(struct store *s, struct store_snap_reader *r);
/* Copies bytes [offset, offset + len) of the snapshot into buf. */
int store_snap_read(struct store_snap_reader *r, uint64_t offset,
                    uint8_t *buf, uint32_t len);
void store_snap_close(struct store_snap_reader *r);

void store_get_stats(struct store *s, struct store_stats *out);

/* ---- In-memory disk (mem.c) -------------------------------------------
 * A disk outlives the stores opened on it, so tests and the simulator can
 * crash and reopen a node. Only one store may be open on a disk at a time.
 * Caller frees with store_mem_disk_free() (no store open on it). */
int store_mem_disk_new(struct store_mem_disk **out);
void store_mem_disk_free(struct store_mem_disk *d);
/* Crash the store open on d: everything not synced is lost; s is closed. */
void store_mem_crash(struct store *s);
/* Fault injection: fail the nth next write (or sync) with COORD_EIO
 * (1 = the next one; 0 = never). A failed sync also loses what it should
 * have made durable. */
void store_mem_fail_write(struct store_mem_disk *d, uint64_t nth);
void store_mem_fail_sync(struct store_mem_disk *d, uint64_t nth);
/* A hook run at the start of every sync, on the syncing thread, before the
 * data is made durable: lets a test hold a sync open (no sleeps). */
void store_mem_sync_hook(struct store_mem_disk *d, void (*fn)(void *data),
                         void *data);

/* ---- The storage worker (worker.c) -------------------------------------
 * One thread that owns writing: node.c submits persist requests (seq plus
 * a store_write) from the loop thread; the worker takes EVERYTHING queued
 * while its previous fsync ran and writes it as one batch with one sync
 * (group commit), then calls done_cb(data, 0, seq) with the highest seq
 * made durable. On a failed write or sync it calls done_cb(data, err, seq
 * of the first request of the failed batch) once and stops: the caller
 * must crash (a failed fsync is never retried). done_cb runs on the worker
 * thread, without worker locks held: it must be thread-safe and cheap
 * (the server turns it into an ev_async wake-up). */
typedef void (*store_worker_done_cb)(void *data, int status, uint64_t seq);

struct store_worker_req; /* worker.c */

struct store_worker_stats {
    uint64_t requests; /* persist requests made durable */
    uint64_t batches;  /* backend write batches */
    uint64_t syncs;    /* fsyncs */
    uint64_t max_group; /* most requests in one batch */
    uint64_t aio_writes;    /* requests written from the submitting thread
                             * (store_worker_set_aio) */
    uint64_t aio_fallbacks; /* of those, written with pwrite there because
                             * io_submit refused */
    uint64_t aio_chained;   /* of those, queued behind an append in flight
                             * and taken by its end as the next append */
};

struct store_worker_aio; /* worker.c */

struct store_worker {
    struct store *s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct store_worker_req **q; /* ring of queue_max */
    struct store_worker_req **batch; /* the worker's group, queue_max */
    struct store_write *ws;          /* likewise */
    uint32_t queue_max;
    uint32_t head;
    uint32_t n;
    uint64_t bytes;
    uint64_t bytes_max;
    uint64_t last_seq;
    bool stop;
    bool kick_pending; /* submitter's: queued since the last kick */
    /* Bounded spinning (store_worker_set_spin; 0 disables), read under
     * mu by the worker. The rest is shared between the two threads. */
    uint32_t spin_us;
    _Atomic int64_t busy_since_us; /* a batch is being written since; 0 */
    _Atomic uint64_t batches_done;
    _Atomic uint64_t submitted;
    _Atomic uint32_t ewma_us;      /* of recent batches' write + sync */
    int tid; /* the thread's kernel id, set before store_worker_start
              * returns (store_worker_set_nice, tests) */
    int fatal;
    store_worker_done_cb done_cb;
    void *done_data;
    /* Optional, set after store_worker_start and before the first
     * submit: called on the worker thread after each synced batch with
     * its duration in microseconds (coordd's fsync histogram). */
    void (*on_sync)(void *data, uint64_t us);
    void *on_sync_data;
    struct store_worker_stats stats;
    char errmsg[STORE_ERRMSG_BYTES];
    /* Asynchronous log appends (store_worker_set_aio), the submitting
     * thread's; aio_busy (under mu) holds the thread back meanwhile. */
    struct store_worker_aio *aio;
    bool aio_busy;
};

/* Starts the worker on the open store s (borrowed; close the worker first).
 * At most queue_max requests and bytes_max payload bytes wait at once. */
int store_worker_start(struct store_worker *w, struct store *s,
                       uint32_t queue_max, uint64_t bytes_max,
                       store_worker_done_cb done_cb, void *data);
/* Queues a copy of wr (entries and payloads copied; wr is borrowed for the
 * call) under seq, which must exceed every earlier seq. COORD_EAGAIN: the
 * queue is full (backpressure: retry after a completion). After a fatal
 * error, returns that error. */
int store_worker_submit(struct store_worker *w, uint64_t seq,
                        const struct store_write *wr);
/* Like store_worker_submit, but does not wake the thread: the caller
 * promises a store_worker_kick() before it next sleeps. coordd's loop
 * queues during an iteration and kicks after it has flushed its sockets,
 * so a leader's AppendEntries leave before its own storage thread (which
 * on a busy CPU would preempt the loop) runs. */
int store_worker_submit_quiet(struct store_worker *w, uint64_t seq,
                              const struct store_write *wr);
/* Wakes the thread if requests were queued since the last kick. Cheap
 * when there is nothing to wake it for. Submit and kick from one thread
 * (kick_pending is that thread's). */
void store_worker_kick(struct store_worker *w);
/* For the submitting thread, just before it would sleep: when a batch is
 * being written and the average of recent batches says it ends within
 * spin_us, polls for its end for at most spin_us instead of sleeping
 * (a wake-up from idle costs more than that on small VMs). Returns true if
 * a batch completed meanwhile (its done_cb has run). The worker likewise
 * polls for new requests for up to spin_us after each batch before it
 * sleeps. Costs CPU only when spin_us != 0. */
bool store_worker_spin(struct store_worker *w);
/* Sets the spin budget in microseconds (0: never spin). From the
 * submitting thread. */
void store_worker_set_spin(struct store_worker *w, uint32_t spin_us);
/* Sets the worker thread's nice value (setpriority on its tid: Linux
 * nice is per thread), so that when the loop signals it, it runs before
 * the other runnable threads and starts its fsync earlier; it then
 * sleeps in the fsync and costs the others little (docs/benchmarks.md
 * "Storage thread priority"). nice 0 leaves the thread as it is. Returns
 * 0, COORD_EINVAL (nice outside -20..19) or COORD_EAUTH (a negative
 * value beyond RLIMIT_NICE without CAP_SYS_NICE: the caller logs it
 * and carries on). */
int store_worker_set_nice(struct store_worker *w, int nice);
/* Log appends from the submitting thread (docs/storage.md "Log writes from
 * the loop"): a request with entries only, submitted while nothing else is
 * queued or being written, is not handed to the thread; the submitter
 * encodes it (store_append_begin) and store_worker_kick starts its write
 * with Linux AIO (io_submit, never blocking on the disk), whose completion
 * signals store_worker_aio_fd(). The submitter then calls
 * store_worker_reap, which finishes the request (done_cb, on the
 * submitting thread) and lets the thread take what queued meanwhile, in
 * seq order as ever. Everything else goes to the thread as before. Returns
 * 0, or COORD_EIO if the kernel offers no AIO (the caller logs it and
 * carries on without). From the submitting thread, before the first
 * submit. */
int store_worker_set_aio(struct store_worker *w);
/* The eventfd signalled when an asynchronous append completes; -1 when
 * not in use. */
int store_worker_aio_fd(const struct store_worker *w);
/* Finishes the asynchronous append if it completed (drains the eventfd).
 * Returns true if one was finished (its done_cb has run). Requests queued
 * meanwhile with entries only become the next asynchronous append, which
 * the next store_worker_kick starts; others go to the thread. */
bool store_worker_reap(struct store_worker *w);
/* Makes everything queued durable (unless a fatal error happened), stops
 * the thread and frees the queue; waits for an append in flight. */
void store_worker_stop(struct store_worker *w);
void store_worker_get_stats(struct store_worker *w,
                            struct store_worker_stats *out);

#endif /* COORDD_STORE_H */
