/* config.h -- every coordd option, in ONE table (CONFIG_OPTIONS below), and
 * the loaders that fill struct coordd_config from defaults, an INI file and
 * command-line flags, in that order of precedence.
 *
 * The table generates the struct fields, the defaults, the INI keys (each in
 * its [section]), the flags (--key=value; '-' and '_' are interchangeable),
 * the --help text, the bounds checks, the annotated example config
 * (deploy/coordd.conf.example) and the option table of
 * docs/configuration.md. test_config.c checks that the committed files match.
 *
 * Defaults are the named constants of coordd/limits.h and coord.h: option
 * foo_max defaults to COORDD_FOO_MAX (or COORD_FOO_MAX for client-visible
 * limits). main.c calls config_from_args(); the other modules read the
 * filled struct and never parse anything. This module may read the config
 * file; it must not log (it returns messages), open sockets or allocate.
 *
 * Errors: functions return 0, COORD_EINVAL (a bad value, unknown key, broken
 * cross-option rule) or COORD_EIO (unreadable file), with a one-line message
 * in the caller's err buffer (CONFIG_ERR_BYTES is enough) that names the
 * option, the offending value and what is allowed, and where it came from
 * ("coordd.conf:7: ..." or "--tick-ms: ...").
 */
#ifndef COORDD_CONFIG_H
#define COORDD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coord.h"
#include "coordd/limits.h"
#include "coordd/log.h"
#include "coordd/store/seglog.h"

/* Default ports (DESIGN.md): clients, peers, metrics. */
#define CONFIG_CLIENT_PORT 2281
#define CONFIG_PEER_PORT 2282
#define CONFIG_METRICS_PORT 2283

/* A host name (253) or an IPv6 literal without brackets (45), plus NUL. */
#define CONFIG_HOST_BYTES 256
/* data_dir and the config file path. */
#define CONFIG_PATH_BYTES 1024
/* Enough for any message a function of this module writes. */
#define CONFIG_ERR_BYTES 512
/* The members list as text, continuation lines joined. */
#define CONFIG_MEMBERS_TEXT_BYTES 8192

#define CONFIG__STR2(x) #x
#define CONFIG__STR(x) CONFIG__STR2(x)

/* ---- the option table ---------------------------------------------------
 * X(section, key, TYPE, default, unit, min, max, help)
 *
 * TYPE     C field             default     min .. max
 * UINT     uint64_t            number      bounds (0 <= min, max <= INT64_MAX)
 * INT      int64_t             number      bounds
 * BOOL     bool                true/false  unused (0, 1)
 * NAME     char[max + 1]       string      length; [A-Za-z0-9._-] only
 * PATH     char[max + 1]       string      length; no control characters
 * ADDR     struct config_addr  "host:port" min = port when the value has none
 * ADDROFF  struct config_addr  "" (off)    like ADDR; "" or "off" disables
 * MEMBERS  struct config_members  ""       unused
 * LEVEL    enum log_level      "info"      unused
 *
 * Numbers are decimal; options in bytes also take a KiB, MiB or GiB suffix.
 * Booleans: true/false, yes/no, on/off, 1/0. Keys are unique across
 * sections. Options in [test] are for the test harness only. */
#define CONFIG_OPTIONS(X)                                                    \
    X(node, node_id, UINT, 1, "", 1, INT64_MAX,                              \
      "This server's id: a positive integer, unique in the cluster and "    \
      "never reused for another server. With members set, it must be one "  \
      "of the members' ids.")                                                \
    X(node, data_dir, PATH, "./coordd-data", "path", 1,                      \
      CONFIG_PATH_BYTES - 1,                                                 \
      "Directory of the durable state (Raft log, snapshots, term and "      \
      "vote), created if missing. A relative path is taken from the "       \
      "working directory; the systemd units run in the state directory.")   \
    X(node, client_listen, ADDR, "127.0.0.1:" CONFIG__STR(CONFIG_CLIENT_PORT),\
      "host:port", CONFIG_CLIENT_PORT, 0,                                    \
      "Address clients connect to: IPv4, [IPv6] or a host name, with an "   \
      "optional port (default " CONFIG__STR(CONFIG_CLIENT_PORT) ").")       \
    X(node, peer_listen, ADDR, "127.0.0.1:" CONFIG__STR(CONFIG_PEER_PORT),   \
      "host:port", CONFIG_PEER_PORT, 0,                                      \
      "Address the other servers connect to for Raft traffic (port "        \
      "default " CONFIG__STR(CONFIG_PEER_PORT) ").")                         \
    X(cluster, cluster_id, NAME, "coord", "", 1, 63,                         \
      "Name (or number) of the cluster. Servers refuse peers with another " \
      "cluster_id, so two clusters sharing hosts never mix.")               \
    X(cluster, members, MEMBERS, "", "list", 0, 0,                           \
      "The initial cluster: comma-separated id@host:client_port:peer_port " \
      "entries, one per server, this one included. Empty: a single node. "  \
      "Used to bootstrap a new data directory; later changes go through "   \
      "the log (coordctl). A long list may continue on indented lines.")    \
    X(cluster, join, BOOL, false, "", 0, 1,                                  \
      "Set on a server being added to a running cluster (coordctl member "  \
      "add): a new data directory then takes its configuration from the "   \
      "leader instead of bootstrapping one from members, and this server "  \
      "never campaigns before the leader has added it.")                   \
    X(raft, tick_ms, UINT, COORDD_TICK_MS, "ms", 1, 1000,                    \
      "Length of one tick, the unit of Raft time.")                          \
    X(raft, heartbeat_ticks, UINT, COORDD_HEARTBEAT_TICKS, "ticks", 1, 1000, \
      "A leader sends heartbeats every heartbeat_ticks ticks.")             \
    X(raft, election_ticks, UINT, COORDD_ELECTION_TICKS, "ticks", 3, 10000,  \
      "A follower that hears no leader for a random time between "          \
      "election_ticks and 2 * election_ticks ticks starts an election. "    \
      "Must exceed 2 * heartbeat_ticks.")                                    \
    X(raft, pre_vote, BOOL, true, "", 0, 1,                                  \
      "Pre-vote (Raft dissertation 9.6): a server asks whether it could "   \
      "win before starting an election, so a rejoining server does not "   \
      "depose a healthy leader.")                                            \
    X(raft, check_quorum, BOOL, true, "", 0, 1,                              \
      "A leader that has not heard from a majority for an election "        \
      "timeout steps down, so a partitioned leader stops serving.")         \
    X(raft, pair_commit, BOOL, true, "", 0, 1,                               \
      "With 2 or 3 voters, the leader tells followers its durable log "     \
      "index, so a follower commits a write as soon as its own copy is "    \
      "durable (leader + follower are a quorum) instead of waiting for "    \
      "the leader's commit notice: one round trip less for writes sent "    \
      "to a follower. Off: followers learn commits from the leader only.")  \
    X(raft, inflight_msgs_max, UINT, COORDD_INFLIGHT_MSGS_MAX, "messages",   \
      1, 4096, "AppendEntries messages in flight per follower "              \
      "(pipelining window).")                                                \
    X(raft, append_bytes_max, UINT, COORDD_APPEND_BYTES_MAX, "bytes", 4096,  \
      COORD_FRAME_BYTES_MAX, "Bytes of entries in one AppendEntries. Must "  \
      "fit a frame: at most frame_bytes_max minus 1 KiB.")                   \
    X(raft, uncommitted_bytes_max, UINT, COORDD_UNCOMMITTED_BYTES_MAX,       \
      "bytes", 65536, 16LL << 30,                                            \
      "Uncommitted bytes a leader holds before refusing new proposals "     \
      "(backpressure when the quorum is slow or lost). At least "           \
      "append_bytes_max.")                                                   \
    X(raft, snapshot_entries, UINT, COORDD_SNAPSHOT_ENTRIES, "entries", 16,  \
      1000000000, "Entries applied since the last snapshot before a new "    \
      "one is taken and the log is compacted.")                              \
    X(raft, snapshot_chunk_bytes, UINT, COORDD_SNAPSHOT_CHUNK_BYTES, "bytes",\
      4096, COORD_FRAME_BYTES_MAX, "Bytes of snapshot in one "               \
      "InstallSnapshot message. At most frame_bytes_max minus 1 KiB.")       \
    X(raft, snapshot_child_timeout_ms, UINT,                                 \
      COORDD_SNAPSHOT_CHILD_TIMEOUT_MS, "ms", 100, 86400000,                 \
      "A snapshot child still serializing after this long is killed; the "  \
      "snapshot is retried. Raise it for trees that take longer.")          \
    X(raft, snapshot_hold_ms, UINT, COORDD_SNAPSHOT_HOLD_MS, "ms", 1,        \
      600000, "Longest a write waits for a running snapshot to compact a "   \
      "full log before it fails with COORD_EAGAIN.")                         \
    X(raft, snapshot_retry_ms, UINT, COORDD_SNAPSHOT_RETRY_MS, "ms", 10,     \
      600000, "Pause after a failed snapshot child before the next one.")   \
    X(raft, persist_spin_us, UINT, COORDD_PERSIST_SPIN_US, "us", 0, 10000,   \
      "Bounded spin: the loop polls for a storage completion expected "     \
      "within this time instead of sleeping, and the storage thread for "  \
      "its next request after a batch. Costs CPU; 0 disables.")            \
    X(raft, storage_nice, INT, COORDD_STORAGE_NICE, "nice", -20, 19,         \
      "Nice value of the storage thread (appends and fsyncs), so that it "  \
      "runs first when woken. Negative needs CAP_SYS_NICE or RLIMIT_NICE "  \
      "(systemd LimitNICE=); without: logged, unchanged. 0: as is.")        \
    X(raft, log_aio, BOOL, true, "", 0, 1,                                   \
      "Start log appends from the loop thread with Linux AIO when the "     \
      "storage thread is idle (saves a thread hand-off per write); off: "  \
      "every append goes through the storage thread. Needs log_segments "  \
      "with direct I/O; without, or without kernel AIO, it is unused.")    \
    X(raft, log_segments, BOOL, true, "", 0, 1,                              \
      "Keep the Raft log in preallocated segment files (data_dir/"          \
      "log-segments, direct I/O) instead of RocksDB. A store made with it " \
      "cannot be opened with it off; an older store is migrated.")          \
    X(raft, log_segment_bytes, UINT, SEGLOG_SEGMENT_BYTES_DEFAULT, "bytes",  \
      SEGLOG_SEGMENT_BYTES_MIN, SEGLOG_SEGMENT_BYTES_MAX,                    \
      "Largest log segment file: segments start at 1 MiB and double up to " \
      "this (zero-filled ahead of use; one spare is kept ready). A larger " \
      "batch gets a segment of its own.")                                  \
    X(raft, log_spare_chunk_bytes, UINT, SEGLOG_SPARE_CHUNK_BYTES_DEFAULT,   \
      "bytes", SEGLOG_SPARE_CHUNK_BYTES_MIN, SEGLOG_SPARE_CHUNK_BYTES_MAX,   \
      "The spare segment is zero-filled in writes of this size (rounded "   \
      "down to 4 KiB), paced by the appends: in step with the current "     \
      "segment's fill, done when it is half full; at once when idle.")     \
    X(sessions, session_timeout_ms_min, UINT, COORDD_SESSION_TIMEOUT_MS_MIN, \
      "ms", COORDD_SESSION_TIMEOUT_MS_FLOOR, 3600000,                        \
      "Shortest session timeout granted; a client "                          \
      "asking for less gets this. At least 2 * election_ticks * tick_ms, "  \
      "so sessions outlive an election.")                                    \
    X(sessions, session_timeout_ms_max, UINT, COORDD_SESSION_TIMEOUT_MS_MAX, \
      "ms", COORDD_SESSION_TIMEOUT_MS_FLOOR, COORDD_SESSION_TIMEOUT_MS_CEIL, \
      "Longest session timeout granted.")                                    \
    X(sessions, client_ping_ms, UINT, COORDD_CLIENT_PING_MS, "ms", 10,       \
      60000, "Ping interval the server asks clients to keep (sent in the "   \
      "handshake). At most client_idle_ms / 2.")                             \
    X(sessions, client_idle_ms, UINT, COORDD_CLIENT_IDLE_MS, "ms", 50,       \
      600000, "A connection silent this long is dead: clients move to "      \
      "another server, the server closes it; the session lives on until "   \
      "its timeout.")                                                        \
    X(sessions, watch_history_max, UINT, COORDD_WATCH_HISTORY_MAX, "events", \
      0, 16777216, "Recent changes kept in memory to replay missed watch "   \
      "events to a reconnecting client; a client further behind is told "   \
      "to re-read (events are never silently dropped).")                    \
    X(sessions, watch_history_bytes_max, UINT,                              \
      COORDD_WATCH_HISTORY_BYTES_MAX, "bytes", 0, 1LL << 32,                 \
      "Memory the change history may use (paths plus 48 bytes per event); " \
      "the oldest events are dropped first.")                                \
    X(limits, frame_bytes_max, UINT, COORD_FRAME_BYTES_MAX, "bytes", 65536,  \
      COORD_FRAME_BYTES_MAX, "Largest frame a client or peer may send; "     \
      "checked before allocating. Must hold data_bytes_max + "              \
      "path_bytes_max + 1 KiB.")                                             \
    X(limits, data_bytes_max, UINT, COORD_DATA_BYTES_MAX, "bytes", 1024,     \
      COORD_DATA_BYTES_MAX, "Largest node data.")                            \
    X(limits, path_bytes_max, UINT, COORD_PATH_BYTES_MAX, "bytes", 64,       \
      COORD_PATH_BYTES_MAX, "Longest path.")                                 \
    X(limits, multi_ops_max, UINT, COORD_MULTI_OPS_MAX, "ops", 1,            \
      COORD_MULTI_OPS_MAX, "Operations in one multi.")                       \
    X(limits, children_page_max, UINT, COORD_CHILDREN_PAGE_MAX, "names", 1,  \
      COORD_CHILDREN_PAGE_MAX, "Children returned in one page of a "         \
      "listing.")                                                            \
    X(limits, conns_max, UINT, COORDD_CONNS_MAX, "connections", 1, 1000000,  \
      "Client connections; past it new ones are refused. The systemd "      \
      "unit's LimitNOFILE= must exceed it by COORDD_FDS_RESERVED.")          \
    X(limits, conn_inflight_max, UINT, COORDD_CONN_INFLIGHT_MAX, "requests", \
      1, 65536, "Requests outstanding on one connection before the server " \
      "stops reading it (backpressure).")                                    \
    X(limits, sessions_max, UINT, COORDD_SESSIONS_MAX, "sessions", 1,        \
      10000000, "Open sessions in the cluster.")                             \
    X(limits, watches_per_session_max, UINT, COORDD_WATCHES_PER_SESSION_MAX, \
      "watches", 0, 10000000, "Watches one session may hold.")               \
    X(limits, nodes_max, UINT, COORDD_NODES_MAX, "nodes", 1, 1LL << 30,      \
      "Nodes in the tree.")                                                  \
    X(limits, children_max, UINT, COORDD_CHILDREN_MAX, "nodes", 1,           \
      1LL << 30, "Children of one node.")                                    \
    X(metrics, metrics_listen, ADDROFF, "", "host:port",                     \
      CONFIG_METRICS_PORT, 0, "Address of the HTTP metrics endpoint "        \
      "(Prometheus text format); empty or off: disabled. Port default "     \
      CONFIG__STR(CONFIG_METRICS_PORT) ".")                                  \
    X(log, log_level, LEVEL, "info", "", 0, 0,                               \
      "Least severe level logged: debug, info, warn, error or fatal.")      \
    X(log, log_rate_per_sec, UINT, COORDD_LOG_RATE_PER_SEC, "lines/s", 1,    \
      100000, "Each kind of noisy event (session expiry, refused "           \
      "connection) logs at most this many lines per second; the next line " \
      "counts the suppressed ones.")                                         \
    X(log, slow_fsync_ms, UINT, COORDD_SLOW_FSYNC_MS, "ms", 1, 600000,       \
      "A persist round (write plus fsync of a group commit) slower than "   \
      "this logs a slow fsync warning (rate-limited).")                     \
    X(test, test_power_loss, BOOL, false, "", 0, 1,                          \
      "TEST ONLY, never in production. The store keeps writes in memory "   \
      "until each sync, so kill -9 loses exactly what a power cut would.")  \
    X(test, test_clock_offset_ms, INT, 0, "ms", -86400000, 86400000,         \
      "TEST ONLY, never in production. Added to this server's wall clock "  \
      "(the time a leader stamps on log entries) to test clock skew.")     \
    X(test, test_corrupt_digest_at, UINT, 0, "index", 0, UINT32_MAX,         \
      "TEST ONLY, never in production. From this log index on, this "       \
      "server records wrong tree digests, as if its tree had diverged, so " \
      "the replicas' digest exchange reports a mismatch. 0: off.")

/* The sections, in the order the example config lists them. */
#define CONFIG_SECTIONS(X)                                                   \
    X(node) X(cluster) X(raft) X(sessions) X(limits) X(metrics) X(log) X(test)

enum config_type {
    CONFIG_T_UINT,
    CONFIG_T_INT,
    CONFIG_T_BOOL,
    CONFIG_T_NAME,
    CONFIG_T_PATH,
    CONFIG_T_ADDR,
    CONFIG_T_ADDROFF,
    CONFIG_T_MEMBERS,
    CONFIG_T_LEVEL,
};

/* Option indexes: CONFIG_OPT_tick_ms, ...; CONFIG_OPTS_N counts them. */
enum config_opt_index {
#define CONFIG__INDEX(sec, key, type, def, unit, mn, mx, help) CONFIG_OPT_##key,
    CONFIG_OPTIONS(CONFIG__INDEX)
#undef CONFIG__INDEX
    CONFIG_OPTS_N
};

/* An address. host is "" when an ADDROFF option is off; IPv6 literals are
 * kept without their brackets. */
struct config_addr {
    char host[CONFIG_HOST_BYTES];
    uint16_t port;
};

struct config_member {
    uint64_t id;
    struct config_addr client; /* same host as peer */
    struct config_addr peer;
};

/* Parsed members list: ids unique and non-zero, addresses unique. */
struct config_members {
    uint32_t n;
    struct config_member m[COORDD_MEMBERS_MAX];
};

enum config_source {
    CONFIG_SRC_DEFAULT = 0,
    CONFIG_SRC_FILE = 1,
    CONFIG_SRC_FLAG = 2,
};

#define CONFIG__FIELD_UINT(key, mx) uint64_t key;
#define CONFIG__FIELD_INT(key, mx) int64_t key;
#define CONFIG__FIELD_BOOL(key, mx) bool key;
#define CONFIG__FIELD_NAME(key, mx) char key[(mx) + 1];
#define CONFIG__FIELD_PATH(key, mx) char key[(mx) + 1];
#define CONFIG__FIELD_ADDR(key, mx) struct config_addr key;
#define CONFIG__FIELD_ADDROFF(key, mx) struct config_addr key;
#define CONFIG__FIELD_MEMBERS(key, mx) struct config_members key;
#define CONFIG__FIELD_LEVEL(key, mx) enum log_level key;

/* Every option as a field named like its key, plus where each came from. */
struct coordd_config {
#define CONFIG__FIELD(sec, key, type, def, unit, mn, mx, help)              \
    CONFIG__FIELD_##type(key, mx)
    CONFIG_OPTIONS(CONFIG__FIELD)
#undef CONFIG__FIELD
    uint8_t source[CONFIG_OPTS_N]; /* enum config_source per option */
    char config_path[CONFIG_PATH_BYTES]; /* "" when no file was read */
};

/* One row of the table, for loaders, help and generators. */
struct config_opt {
    const char *section;
    const char *key;
    enum config_type type;
    const char *unit;
    const char *help;
    int64_t def_num;     /* UINT, INT, BOOL */
    const char *def_str; /* the other types */
    int64_t min;
    int64_t max;
    size_t offset; /* of the field in struct coordd_config */
    size_t size;
};

/* The table: CONFIG_OPTS_N rows in CONFIG_OPTIONS order. */
extern const struct config_opt config_opts[CONFIG_OPTS_N];

/* The row for key ('-' and '_' alike), or NULL. */
const struct config_opt *config_find(const char *key);

/* Fills cfg with every default; always valid (test_config checks). */
void config_defaults(struct coordd_config *cfg);

/* Sets one option from text, bounds-checked; where prefixes messages. */
int config_set(struct coordd_config *cfg, const char *key, const char *value,
               enum config_source src, char *err, size_t errlen);

/* Applies an INI file (or text) on top of cfg. Unknown sections and keys,
 * keys in the wrong section, keys given twice and bad values are errors.
 * name labels messages ("name:line: ..."). cfg is left partly updated on
 * error: discard it. config_load_file returns COORD_EIO if path cannot be
 * read. */
int config_load_file(struct coordd_config *cfg, const char *path, char *err,
                     size_t errlen);
int config_load_string(struct coordd_config *cfg, const char *text,
                       const char *name, char *err, size_t errlen);

/* Checks the rules between options (election vs heartbeat, session bounds
 * vs election timeout, frame vs data + path, members contain node_id, ...). */
int config_validate(const struct coordd_config *cfg, char *err,
                    size_t errlen);

/* What main.c should do after config_from_args(). */
enum config_action {
    CONFIG_ACTION_RUN = 0,
    CONFIG_ACTION_HELP,          /* -h, --help: config_print_help() */
    CONFIG_ACTION_PRINT_EXAMPLE, /* --print-example-config */
    CONFIG_ACTION_CHECK,         /* --check-config: print cfg, exit 0 */
};

/* Defaults, then the --config=FILE file if given, then the other flags
 * (--key=value or --key value; a bare --bool-key means true; "--" ends the
 * flags; a flag given twice: the last wins), then config_validate().
 * argv[0] is the program name and is skipped. For HELP and PRINT_EXAMPLE
 * nothing is loaded or validated. */
int config_from_args(struct coordd_config *cfg, int argc, char *const *argv,
                     enum config_action *action, char *err, size_t errlen);

/* The option's value as text in the form the parsers accept (canonical:
 * plain numbers, "true"/"false", "[v6]:port"). Returns the length, or
 * COORD_ETOOBIG if it does not fit cap (the text is then cut). */
int config_format_value(const struct coordd_config *cfg,
                        const struct config_opt *opt, char *buf, size_t cap);

/* With members set, fills client_listen and peer_listen from this server's
 * entry where they were left at their defaults, so a cluster config needs
 * only node_id and members. config_from_args() calls it before validating. */
void config_apply_members(struct coordd_config *cfg);

/* This server's entry in cfg->members, or NULL when members is empty. */
const struct config_member *config_self(const struct coordd_config *cfg);

/* True if any [test] option differs from its default (main.c warns). */
bool config_test_mode(const struct coordd_config *cfg);

/* Parsers shared with coordctl-like tools and tests. Both 0 or
 * COORD_EINVAL with a message. parse_addr takes the port used when s has
 * none; wildcard hosts (0.0.0.0, ::) are accepted. parse_members rejects
 * wildcards, duplicate ids and duplicate addresses. */
int config_parse_addr(const char *s, uint16_t default_port,
                      struct config_addr *out, char *err, size_t errlen);
int config_parse_members(const char *s, struct config_members *out,
                         char *err, size_t errlen);

/* Generated text. help: usage and every flag. ini: an INI file of cfg's
 * values; with annotate, each option is preceded by its help, flag, unit and
 * range, and defaults are commented out (config_print_ini(f, defaults, true)
 * is deploy/coordd.conf.example). markdown: the option table of
 * docs/configuration.md. */
void config_print_help(FILE *f, const char *prog);
void config_print_ini(FILE *f, const struct coordd_config *cfg,
                      bool annotate);
void config_print_markdown(FILE *f);

#endif /* COORDD_CONFIG_H */
