/* log.h -- coordd's leveled logging: one line per event on stderr, as
 * key=value fields that journald keeps and grep/awk read:
 *
 *   ts=2026-11-23T03:41:07.123Z level=info msg="leader elected" term=4 leader=2
 *
 * Used by every file of coordd/ and by the storage thread. Each line is built
 * in a stack buffer and written with one write(2), so lines from two threads
 * never interleave (a line is at most LOG_LINE_BYTES = PIPE_BUF). This module
 * must not allocate, must not block on anything but that write, and is not
 * for raft/ or tree/ (they are pure; node.c logs what they report).
 *
 * Fields: the fields argument is a printf format of literal "key=" text and
 * conversions; each conversion is one value and is quoted (with \" \\ \n \t
 * \r \xNN escapes) when it is empty or holds a space, a control byte, '"',
 * '=' or '\\'. Write one conversion per key: "term=%" PRIu64 " path=%.*s".
 * Writing key="%s" is the same as key=%s except that the value is always
 * quoted (the literal quotes are dropped, the value escaped). Pass NULL for
 * no fields. msg is quoted by the same rule as values. Supported
 * conversions: d i u o x X c s p e E f F g G %, with flags, width, precision
 * (also '*') and the length modifiers hh h l ll z j t L. A line that does not
 * fit is cut after its last whole value and ends with "truncated=true".
 *
 * Levels: debug < info < warn < error < fatal. Lines below the current level
 * cost one atomic load (the macros do not evaluate their arguments then).
 * fatal only logs: the caller decides to exit.
 *
 * Noisy events (session expiries, refused connections) go through a
 * struct log_rate: at most per_sec lines per one-second window; the first
 * line let through after some were dropped carries "suppressed=K".
 */
#ifndef COORDD_LOG_H
#define COORDD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_FATAL = 4,
};

/* The longest line, newline included: PIPE_BUF, so a write to a pipe is
 * atomic, and a whole COORD_PATH_BYTES_MAX path still fits. */
#define LOG_LINE_BYTES 4096

/* "debug", "info", "warn", "error", "fatal"; "?" for anything else. */
const char *log_level_name(enum log_level level);
/* Parses one of the names above (exactly, lower case). 0 or COORD_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* The filter: lines below level are dropped. Default info. Thread-safe. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* Where lines go: a file descriptor, default 2 (stderr). Tests point it at a
 * pipe. Set at startup; the fd is borrowed and must stay open. */
void log_set_fd(int fd);

/* Logs one event at level if level is enabled. See the header comment for
 * the fields format; fields may be NULL. */
void log_emit(enum log_level level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));
void log_vemit(enum log_level level, const char *msg, const char *fields,
               va_list ap);

/* Builds one line into buf (at most cap bytes, cap >= 64), NUL-terminated,
 * ending in '\n'; returns its length without the NUL. wall_ms is the time
 * stamp (ms since the epoch, UTC). suppressed > 0 appends "suppressed=K".
 * This is what log_emit writes; exposed so tests pin the format. */
size_t log_format(char *buf, size_t cap, int64_t wall_ms,
                  enum log_level level, const char *msg, uint64_t suppressed,
                  const char *fields, va_list ap);

/* Writes "2026-11-23T03:41:07.123Z" (24 bytes + NUL) into buf; returns 24.
 * cap must be at least 25. */
size_t log_format_ts(char *buf, size_t cap, int64_t wall_ms);

/* Clocks: wall (CLOCK_REALTIME) for time stamps, monotonic for rates. */
int64_t log_wall_ms(void);
int64_t log_mono_ms(void);

/* ---- rate limiting ------------------------------------------------------
 * One struct log_rate per kind of noisy event, owned by one thread (it is
 * not locked). per_sec == 0 means no limit. */
struct log_rate {
    uint32_t per_sec;     /* lines allowed per window */
    uint32_t used;        /* lines let through in the current window */
    int64_t window_ms;    /* start of the current window (monotonic ms) */
    uint64_t suppressed;  /* lines dropped since the last one let through */
    bool started;         /* a window has begun */
};

void log_rate_init(struct log_rate *r, uint32_t per_sec);
/* Counts one event at now_ms (monotonic; a clock going back starts a new
 * window). Returns true if it may be logged; then *suppressed is the number
 * dropped since the previous line let through (0 if none), and the count
 * restarts. Returns false if the event is dropped (it is counted). */
bool log_rate_allow(struct log_rate *r, int64_t now_ms, uint64_t *suppressed);
/* For a periodic timer: true if events were dropped and their window has
 * ended without a line to carry the count; *suppressed receives the count,
 * which restarts. The caller logs a line saying so. */
bool log_rate_pending(struct log_rate *r, int64_t now_ms, uint64_t *suppressed);

/* log_emit through a rate limiter: drops the line if r says so, else adds
 * "suppressed=K" when lines were dropped before it. Uses log_mono_ms(). */
void log_emit_rated(struct log_rate *r, enum log_level level, const char *msg,
                    const char *fields, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG__AT(level, ...)                                                  \
    do {                                                                     \
        if (log_enabled(level))                                              \
            log_emit((level), __VA_ARGS__);                                  \
    } while (0)

/* log_info("leader elected", "term=%" PRIu64 " leader=%" PRIu64, t, id);
 * log_info("started", NULL); arguments are not evaluated when filtered. */
#define log_debug(...) LOG__AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) LOG__AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) LOG__AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) LOG__AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_fatal(...) LOG__AT(LOG_LEVEL_FATAL, __VA_ARGS__)

#endif /* COORDD_LOG_H */
