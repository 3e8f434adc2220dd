/* limits.h -- every server limit and timeout of coordd, with its unit and
 * the reason for its value. Each is the default of a config option of the
 * same name (lower case, without the COORDD_ prefix) unless marked fixed.
 * Relations between limits are checked with _Static_assert below.
 * Client-visible limits (path, data, frame, multi) live in coord.h. */
#ifndef COORDD_LIMITS_H
#define COORDD_LIMITS_H

#include "coord.h"

/* ---- Raft -------------------------------------------------------------- */
/* Voters plus learners. 7 voters is the practical maximum for a coordination
 * cluster; the rest is room for learners being added. Fixed. */
#define COORDD_MEMBERS_MAX 16
/* One tick is the unit of Raft time. */
#define COORDD_TICK_MS 10
/* Heartbeat every 5 ticks (50 ms); elections after 15..30 ticks (150-300 ms)
 * without a leader: fast failover on a LAN while staying well above loopback
 * and fsync latency spikes. */
#define COORDD_HEARTBEAT_TICKS 5
#define COORDD_ELECTION_TICKS 15
/* AppendEntries messages in flight per follower (pipelining window). */
#define COORDD_INFLIGHT_MSGS_MAX 64
/* Bytes of entries carried by one AppendEntries. */
#define COORDD_APPEND_BYTES_MAX (1024 * 1024)
/* Uncommitted bytes a leader accepts before refusing proposals
 * (backpressure when quorum is slow or lost). */
#define COORDD_UNCOMMITTED_BYTES_MAX (64 * 1024 * 1024)
/* Entries kept in memory since the last snapshot before a new one is taken. */
#define COORDD_SNAPSHOT_ENTRIES 100000
/* Snapshot chunk size for InstallSnapshot. */
#define COORDD_SNAPSHOT_CHUNK_BYTES (1024 * 1024)
/* A forked snapshot child (docs/snapshots.md) still serializing after
 * this long is killed and counted as failed: a stopped or hung child must
 * not keep the log from being compacted forever. Generous: 10^6 nodes
 * took 1-11 s on a loaded 2-core VM. */
#define COORDD_SNAPSHOT_CHILD_TIMEOUT_MS 120000
/* A proposal batch that finds the log full while our own snapshot runs
 * waits for its compaction at most this long, then fails with
 * COORD_EAGAIN (and later batches fail at once until that snapshot
 * ends). */
#define COORDD_SNAPSHOT_HOLD_MS 2000
/* After a snapshot child failed, the next snapshot waits this long. */
#define COORDD_SNAPSHOT_RETRY_MS 1000

/* ---- Clients ----------------------------------------------------------- */
#define COORDD_CONNS_MAX 10000
/* Requests outstanding on one connection before the server stops reading
 * its socket (backpressure). */
#define COORDD_CONN_INFLIGHT_MAX 1024
#define COORDD_SESSIONS_MAX 100000
#define COORDD_WATCHES_PER_SESSION_MAX 100000
#define COORDD_SESSION_TIMEOUT_MS_MIN 1000
#define COORDD_SESSION_TIMEOUT_MS_MAX 60000
/* The widest timeouts the options above may be configured to (config.c's
 * bounds), fixed: the tree accepts exactly this range in a SESSION_OPEN
 * so replicas configured differently never disagree on a command. */
#define COORDD_SESSION_TIMEOUT_MS_FLOOR 100
#define COORDD_SESSION_TIMEOUT_MS_CEIL 86400000
/* Nodes in the tree, and children of one node. */
#define COORDD_NODES_MAX (16 * 1024 * 1024)
#define COORDD_CHILDREN_MAX (1024 * 1024)
/* Ping interval the server asks of clients: under a third of the idle
 * timeout, so two lost pings still leave a margin before a link is declared
 * dead. */
#define COORDD_CLIENT_PING_MS 300
/* Silence after which a connection is dead (DESIGN.md: about a second,
 * well under usual session timeouts, so clients move to another server
 * while their session lives on). */
#define COORDD_CLIENT_IDLE_MS 1000
/* Recent changes kept to replay missed watch events on reconnect: at
 * 50,000 writes/s this covers over a second, longer than a client takes to
 * notice a dead server and reconnect. Beyond it: "must re-read". */
#define COORDD_WATCH_HISTORY_MAX 65536
/* Bytes the change history may hold (paths plus CHANGELOG_EVENT_OVERHEAD
 * per event): 65536 events of typical paths fit several times over, while
 * long paths (up to COORD_PATH_BYTES_MAX) cannot make it grow past this. */
#define COORDD_WATCH_HISTORY_BYTES_MAX (16u * 1024 * 1024)

/* ---- Operation --------------------------------------------------------- */
/* Lines per second per kind of noisy event (session expiries, refused
 * connections): enough to see a pattern, too few to flood journald. */
#define COORDD_LOG_RATE_PER_SEC 10
/* A persist round (queued to durable: write plus fsync) this slow logs
 * "slow fsync": it delays every write and, near an election timeout,
 * elections. Healthy SSDs sync in well under 10 ms. */
#define COORDD_SLOW_FSYNC_MS 100
/* Microseconds the loop may poll for a storage completion expected that
 * soon (by the average of recent fsyncs) instead of sleeping, and the
 * storage thread for its next request after a batch; 0: never spin. A
 * wake-up from idle costs 25-35 us on small VMs (docs/benchmarks.md
 * "1x1 write latency against the floor"). */
#define COORDD_PERSIST_SPIN_US 0
/* Nice value of the storage thread (store_worker_set_nice): a negative
 * one lets it run as soon as the loop wakes it, ahead of the node's (and,
 * on a shared host, the other nodes') runnable threads; it then sleeps
 * in fsync. 0: unchanged: on 2 vCPUs running 3 nodes, -5 and -10 did not
 * lower 1x1 latency and cost 5-17% more CPU per write (docs/benchmarks.md
 * "Storage thread priority"). */
#define COORDD_STORAGE_NICE 0
/* File descriptors beyond client connections: listeners, peer links (two
 * per member), RocksDB's files, metrics, journald. LimitNOFILE= in the
 * systemd unit must be at least conns_max plus this. Fixed. */
#define COORDD_FDS_RESERVED 4096
/* Room for a frame's own headers beside its largest payload (the same
 * 1 KiB coord.h's frame assertion allows). Fixed. */
#define COORDD_FRAME_SLACK_BYTES 1024

_Static_assert(COORDD_ELECTION_TICKS > 2 * COORDD_HEARTBEAT_TICKS,
               "election timeout must exceed two heartbeats");
_Static_assert(COORDD_APPEND_BYTES_MAX <= COORD_FRAME_BYTES_MAX,
               "an append batch must fit a peer frame");
_Static_assert(COORDD_CLIENT_PING_MS * 2 <= COORDD_CLIENT_IDLE_MS,
               "a live connection pings at least twice per idle timeout");
_Static_assert(COORDD_SESSION_TIMEOUT_MS_MIN >=
                   COORDD_ELECTION_TICKS * COORDD_TICK_MS * 2,
               "sessions must outlive an election");

#endif /* COORDD_LIMITS_H */
