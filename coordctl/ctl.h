/* ctl.h -- coordctl's internal interface: the parsed command line, the
 * exit codes, the command handlers and the output helpers shared by
 * main.c, cmd_node.c, cmd_multi.c, cmd_watch.c, cmd_admin.c and out.c.
 *
 * coordctl is a customer of the public client API only: it includes
 * coord.h and libc, never libcoord/shared/ or coordd/ (test/tidy.sh checks).
 * It allocates nothing itself (the allocator lives in libcoord/shared/):
 * buffers are static or on the stack, and memory returned by libcoord is
 * freed with libcoord's free functions. */
#ifndef COORDCTL_CTL_H
#define COORDCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coord.h"

/* Exit codes (docs/coordctl.md, `coordctl help`). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAILED = 1,      /* the operation failed (node missing, ...) */
    CTL_EXIT_USAGE = 2,       /* bad command line */
    CTL_EXIT_UNREACHABLE = 3, /* no session could be made, or timeout */
    CTL_EXIT_LOST = 4,        /* session expired / connection lost:
                                 the outcome is unknown */
    CTL_EXIT_NOT_ACQUIRED = 5, /* lock/elect/barrier: --try found it held,
                                  or --timeout passed while waiting */
    CTL_EXIT_LOCK_LOST = 6,   /* lock/elect: lost while CMD ran; CMD was
                                 sent SIGTERM */
    CTL_EXIT_EXEC = 127,      /* lock/elect: CMD could not be started */
};

/* Per-command flags: a command accepts the ones in its table entry. */
enum ctl_flag {
    CTL_F_LONG = 1 << 0,       /* -l */
    CTL_F_STAT = 1 << 1,       /* --stat */
    CTL_F_VERSION = 1 << 2,    /* --version V */
    CTL_F_EPHEMERAL = 1 << 3,  /* -e --ephemeral */
    CTL_F_SEQUENTIAL = 1 << 4, /* -s --sequential */
    CTL_F_CONTAINER = 1 << 5,  /* --container */
    CTL_F_TTL = 1 << 6,        /* --ttl MS */
    CTL_F_PARENTS = 1 << 7,    /* -p --parents */
    CTL_F_RECURSIVE = 1 << 8,  /* -r --recursive */
    CTL_F_DEPTH = 1 << 9,      /* --depth N */
    CTL_F_SIZES = 1 << 10,     /* --sizes */
    CTL_F_PERSISTENT = 1 << 11, /* --persistent */
    CTL_F_CHILDREN = 1 << 12,  /* --children */
    CTL_F_TRY = 1 << 13,       /* --try (lock) */
    CTL_F_NAME = 1 << 14,      /* --name NAME (barrier enter/leave) */
};

/* Positional arguments a command can take, at most. */
#define CTL_ARGS_MAX 1024
/* Default request timeout (libcoord's default). */
#define CTL_TIMEOUT_MS_DEFAULT 10000
/* --timeout bounds: 1 ms .. 1 hour. */
#define CTL_TIMEOUT_MS_MAX 3600000

struct ctl {
    struct coord_client *c; /* NULL for commands that need no cluster */
    const char *servers;
    uint32_t timeout_ms;
    bool timeout_given;     /* --timeout was on the command line */
    const char *name;       /* --name, NULL if not given */
    bool json;
    bool verbose;           /* --verbose: session details on stderr */
    unsigned flags;         /* enum ctl_flag bits given */
    int32_t version;        /* --version, -1 if not given */
    long depth;             /* --depth, -1 if not given */
    uint64_t ttl_ms;        /* --ttl, 0 if not given */
    int argc;               /* positional arguments after the command */
    char *argv[CTL_ARGS_MAX];
};

/* A command handler returns an enum ctl_exit. */
typedef int (*ctl_handler)(struct ctl *x);

/* cmd_node.c */
int ctl_cmd_ls(struct ctl *x);
int ctl_cmd_tree(struct ctl *x);
int ctl_cmd_get(struct ctl *x);
int ctl_cmd_set(struct ctl *x);
int ctl_cmd_create(struct ctl *x);
int ctl_cmd_rm(struct ctl *x);
int ctl_cmd_stat(struct ctl *x);
int ctl_cmd_sync(struct ctl *x);
/* cmd_multi.c */
int ctl_cmd_multi(struct ctl *x);
/* cmd_watch.c */
int ctl_cmd_watch(struct ctl *x);
/* cmd_admin.c */
int ctl_cmd_status(struct ctl *x);
int ctl_cmd_members(struct ctl *x);
int ctl_cmd_member(struct ctl *x);
int ctl_cmd_leader(struct ctl *x);
int ctl_cmd_health(struct ctl *x);
/* cmd_recipe.c */
int ctl_cmd_lock(struct ctl *x);
int ctl_cmd_locks(struct ctl *x);
int ctl_cmd_elect(struct ctl *x);
int ctl_cmd_elections(struct ctl *x);
int ctl_cmd_barrier(struct ctl *x);
/* cmd_sessions.c */
int ctl_cmd_sessions(struct ctl *x);
/* cmd_snapshot.c */
int ctl_cmd_snapshot(struct ctl *x);

/* supervise.c: runs argv as a child process with the extra environment
 * already set, and waits for it while watching a hold (lock, leadership).
 * lost() is called on the main thread whenever something changed (session
 * state, a watch fired: see ctl_supervise_wake) and returns true once the
 * hold is gone; what names the hold in messages ("lock /locks/a").
 * Returns CMD's exit status (128 + signal if killed), CTL_EXIT_EXEC if it
 * could not start, CTL_EXIT_LOCK_LOST once lost (CMD is sent SIGTERM, then
 * SIGKILL 1/6 of the granted session timeout later, at most
 * CTL_KILL_GRACE_MS). No server answering for 2/3 of the granted session
 * timeout counts as lost: the cluster may expire the session a timeout
 * after it last heard from us, and CMD must be stopped by then. */
#define CTL_KILL_GRACE_MS 10000
int ctl_supervise(struct ctl *x, char **argv, const char *what,
                  bool (*lost)(void *data), void *data);
/* Asks the supervising loop to call lost() again; async-signal-safe and
 * callable from libcoord's I/O thread. */
void ctl_supervise_wake(void);

/* session.c: the session state callback main.c installs at open, and
 * what it recorded. ctl_session_init() before coord_open(). */
void ctl_session_init(void);
void ctl_state_cb(void *data, int state);
/* The last enum coord_state reported (CONNECTING before any). */
int ctl_session_state(void);
/* hook runs (on the I/O thread) after every state change; NULL for none.
 * It must not block. */
void ctl_session_hook(void (*hook)(void));
/* Waits at most timeout_ms for the first handshake: 0 once connected,
 * COORD_ETIMEDOUT if still connecting, COORD_ESESSIONEXPIRED. */
int ctl_wait_connected(uint32_t timeout_ms);

/* out.c: reporting. ctl_fail prints one line to stderr naming the error
 * and what to do, and returns the exit code for rc (rc < 0). what is the
 * path or object concerned (may be NULL). */
int ctl_fail(struct ctl *x, const char *what, int rc);
/* The exit code for a COORD_E* code (0 for 0). */
int ctl_exit_code(int rc);
/* Prints "coordctl: " + message to stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* out.c: formatting. */
/* ISO-8601 UTC with milliseconds, "2026-11-23T04:10:00.123Z". */
void ctl_fmt_time(int64_t ms, char *buf, size_t size);
/* A JSON string (quotes included) of n bytes; bytes that are not UTF-8
 * become U+FFFD (use ctl_json_data for data that must survive). */
void ctl_json_str(FILE *f, const char *s, size_t n);
bool ctl_utf8_valid(const void *p, size_t n);
/* "data":"..." when valid UTF-8, else "data_base64":"...". */
void ctl_json_data(FILE *f, const void *p, size_t n);
/* The stat as a JSON object (no trailing newline). */
void ctl_json_stat(FILE *f, const struct coord_stat *st);
/* The stat as aligned "name value" lines for humans. */
void ctl_print_stat(FILE *f, const char *path, const struct coord_stat *st);
/* The name of an event type, "DATA_CHANGED"; "UNKNOWN" if none. */
const char *ctl_event_name(int type);

/* Reads all of stdin into buf (at most size bytes); COORD_ETOOBIG if more,
 * COORD_EIO on a read error. */
int ctl_read_stdin(char *buf, size_t size, size_t *len);
/* Parses a decimal integer in [min, max]; false if s is not one. */
bool ctl_parse_long(const char *s, long min, long max, long *out);

#endif /* COORDCTL_CTL_H */
