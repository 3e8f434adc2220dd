/* log.c -- coordd's key=value line logger (see log.h for the format).
 *
 * A line is built in a stack buffer and leaves in one write(2) to the log fd,
 * so concurrent threads never interleave within a line. The fields format is
 * walked here, conversion by conversion, so that each value can be quoted on
 * its own; each conversion is rendered by snprintf with its own spec. Must not
 * allocate or take locks: it runs on the loop thread and the storage thread,
 * and during shutdown.
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/check.h"

static atomic_int log_level_cur = LOG_LEVEL_INFO;
static atomic_int log_fd = 2;

static const char *const log_level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",   [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_FATAL] = "fatal",
};

const char *log_level_name(enum log_level level)
{
    if ((unsigned)level >= COORD_ARRAY_LEN(log_level_names))
        return "?";
    return log_level_names[level];
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < COORD_ARRAY_LEN(log_level_names); i++) {
        if (strcmp(s, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return COORD_EINVAL;
}

void log_set_level(enum log_level level)
{
    coord_assert((unsigned)level <= LOG_LEVEL_FATAL);
    atomic_store_explicit(&log_level_cur, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&log_level_cur,
                                                memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
    return (int)level >=
           atomic_load_explicit(&log_level_cur, memory_order_relaxed);
}

void log_set_fd(int fd)
{
    coord_assert(fd >= 0);
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

int64_t log_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t log_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t log_format_ts(char *buf, size_t cap, int64_t wall_ms)
{
    coord_assert(cap >= 25);
    /* Floor division so times before the epoch still print sanely. */
    int64_t secs = wall_ms / 1000;
    int64_t ms = wall_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
        tm.tm_year + 1900 < 0)
        memset(&tm, 0, sizeof(tm));
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)ms);
    coord_assert(n == 24);
    return (size_t)n;
}

/* ---- line builder -------------------------------------------------------
 * out.cap excludes the room reserved for the " truncated=true\n" ending;
 * out.good is the length at the end of the last whole value, where a line
 * that overflows is cut. */
static const char log_trunc_tail[] = " truncated=true";

struct log_out {
    char *buf;
    size_t cap;
    size_t len;
    size_t good;
    bool full;
};

static void out_bytes(struct log_out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    if (n > o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static bool value_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == '=' || c == '\\')
            return true;
    }
    return false;
}

static void out_escaped(struct log_out *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[4] = {'\\', 0, 0, 0};
    size_t n = 2;

    switch (c) {
    case '"': e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\n': e[1] = 'n'; break;
    case '\t': e[1] = 't'; break;
    case '\r': e[1] = 'r'; break;
    default:
        if (c >= 0x20 && c != 0x7f) {
            e[0] = (char)c;
            n = 1;
        } else {
            e[1] = 'x';
            e[2] = hex[c >> 4];
            e[3] = hex[c & 15];
            n = 4;
        }
    }
    out_bytes(o, e, n);
}

/* Appends one value, quoted if it needs to be, and marks a cut point. */
static void out_value(struct log_out *o, const char *s, size_t n, bool quote)
{
    if (!quote && !value_needs_quotes(s, n)) {
        out_bytes(o, s, n);
    } else {
        out_bytes(o, "\"", 1);
        for (size_t i = 0; i < n && !o->full; i++)
            out_escaped(o, (unsigned char)s[i]);
        out_bytes(o, "\"", 1);
    }
    if (!o->full)
        o->good = o->len;
}

/* ---- conversions --------------------------------------------------------
 * One printf conversion, copied out of the fields format so that snprintf
 * renders exactly it. The format attribute on log_emit has the compiler
 * check argument types against the same format, so va_arg below reads the
 * types the caller passed. */
enum log_lenmod { LM_NONE, LM_HH, LM_H, LM_L, LM_LL, LM_Z, LM_J, LM_T, LM_LD };

struct log_spec {
    char text[32];
    char conv;
    enum log_lenmod lm;
    int stars;
};

static enum log_lenmod spec_lenmod(const char **pp)
{
    const char *p = *pp;
    enum log_lenmod lm = LM_NONE;

    switch (*p) {
    case 'h': lm = (p[1] == 'h') ? LM_HH : LM_H; break;
    case 'l': lm = (p[1] == 'l') ? LM_LL : LM_L; break;
    case 'z': lm = LM_Z; break;
    case 'j': lm = LM_J; break;
    case 't': lm = LM_T; break;
    case 'L': lm = LM_LD; break;
    default: return LM_NONE;
    }
    *pp = p + ((lm == LM_HH || lm == LM_LL) ? 2 : 1);
    return lm;
}

/* p points at the '%'. Returns the character after the conversion. */
static const char *spec_parse(const char *p, struct log_spec *sp)
{
    const char *start = p++;

    sp->stars = 0;
    while (*p && strchr("-+ #0", *p))
        p++;
    for (int part = 0; part < 2; part++) {
        if (*p == '*') {
            sp->stars++;
            p++;
        }
        while (*p >= '0' && *p <= '9')
            p++;
        if (part == 0 && *p == '.')
            p++;
        else
            break;
    }
    sp->lm = spec_lenmod(&p);
    sp->conv = *p;
    coord_assert(sp->conv != '\0' && strchr("diuoxXcspeEfFgGaA", sp->conv));
    p++;
    size_t n = (size_t)(p - start);
    coord_assert(n < sizeof(sp->text));
    memcpy(sp->text, start, n);
    sp->text[n] = '\0';
    return p;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* Renders one value with its star arguments s0, s1 (when stars says so). */
#define SPEC_SNPRINTF(v)                                                     \
    (sp->stars == 0   ? snprintf(tmp, cap, sp->text, (v))                    \
     : sp->stars == 1 ? snprintf(tmp, cap, sp->text, s0, (v))                \
                      : snprintf(tmp, cap, sp->text, s0, s1, (v)))

static int spec_signed(char *tmp, size_t cap, const struct log_spec *sp,
                       int s0, int s1, va_list *ap)
{
    switch (sp->lm) {
    case LM_L: return SPEC_SNPRINTF(va_arg(*ap, long));
    case LM_LL: return SPEC_SNPRINTF(va_arg(*ap, long long));
    case LM_Z: return SPEC_SNPRINTF(va_arg(*ap, ssize_t));
    case LM_J: return SPEC_SNPRINTF(va_arg(*ap, intmax_t));
    case LM_T: return SPEC_SNPRINTF(va_arg(*ap, ptrdiff_t));
    default: return SPEC_SNPRINTF(va_arg(*ap, int));
    }
}

static int spec_unsigned(char *tmp, size_t cap, const struct log_spec *sp,
                         int s0, int s1, va_list *ap)
{
    switch (sp->lm) {
    case LM_L: return SPEC_SNPRINTF(va_arg(*ap, unsigned long));
    case LM_LL: return SPEC_SNPRINTF(va_arg(*ap, unsigned long long));
    case LM_Z: return SPEC_SNPRINTF(va_arg(*ap, size_t));
    case LM_J: return SPEC_SNPRINTF(va_arg(*ap, uintmax_t));
    case LM_T: return SPEC_SNPRINTF(va_arg(*ap, ptrdiff_t));
    default: return SPEC_SNPRINTF(va_arg(*ap, unsigned));
    }
}

/* Renders the conversion into tmp; returns the length kept in tmp. */
static size_t spec_render(char *tmp, size_t cap, const struct log_spec *sp,
                          va_list *ap)
{
    int s0 = 0, s1 = 0, n;

    if (sp->stars > 0)
        s0 = va_arg(*ap, int);
    if (sp->stars > 1)
        s1 = va_arg(*ap, int);
    switch (sp->conv) {
    case 'd': case 'i':
        n = spec_signed(tmp, cap, sp, s0, s1, ap);
        break;
    case 'u': case 'o': case 'x': case 'X':
        n = spec_unsigned(tmp, cap, sp, s0, s1, ap);
        break;
    case 'c':
        n = SPEC_SNPRINTF(va_arg(*ap, int));
        break;
    case 's': {
        const char *s = va_arg(*ap, const char *);
        n = SPEC_SNPRINTF(s ? s : "(null)");
        break;
    }
    case 'p':
        n = SPEC_SNPRINTF(va_arg(*ap, void *));
        break;
    default:
        if (sp->lm == LM_LD)
            n = SPEC_SNPRINTF(va_arg(*ap, long double));
        else
            n = SPEC_SNPRINTF(va_arg(*ap, double));
    }
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
#undef SPEC_SNPRINTF
#pragma GCC diagnostic pop

/* Walks the fields format: literal text is copied, each conversion becomes
 * one (possibly quoted) value. */
static void out_fields(struct log_out *o, const char *fields, va_list *ap)
{
    char tmp[LOG_LINE_BYTES];
    const char *p = fields;

    while (*p && !o->full) {
        const char *lit = p;
        while (*p && *p != '%') {
            /* Text before a space ends a field: a place to cut. */
            if (*p == ' ' && p > lit) {
                out_bytes(o, lit, (size_t)(p - lit));
                if (!o->full)
                    o->good = o->len;
                lit = p;
            }
            p++;
        }
        out_bytes(o, lit, (size_t)(p - lit));
        if (*p == '\0')
            break;
        if (p[1] == '%') {
            out_bytes(o, "%", 1);
            p += 2;
            continue;
        }
        /* key="%s": the quotes are the caller asking for quoting; drop
         * them and quote (and escape) the value ourselves. */
        bool quoted = p > lit && p[-1] == '"' && !o->full;
        struct log_spec sp;
        p = spec_parse(p, &sp);
        size_t n = spec_render(tmp, sizeof(tmp), &sp, ap);
        if (quoted && *p == '"') {
            o->len--;
            p++;
        } else {
            quoted = false;
        }
        out_value(o, tmp, n, quoted);
    }
    if (!o->full)
        o->good = o->len;
}

size_t log_format(char *buf, size_t cap, int64_t wall_ms,
                  enum log_level level, const char *msg, uint64_t suppressed,
                  const char *fields, va_list ap)
{
    coord_assert(buf != NULL && cap >= 64);
    struct log_out o = {.buf = buf, .cap = cap - sizeof(log_trunc_tail) - 1};
    char head[64];
    va_list aq;

    memcpy(head, "ts=", 3);
    size_t n = 3 + log_format_ts(head + 3, sizeof(head) - 3, wall_ms);
    n += (size_t)snprintf(head + n, sizeof(head) - n, " level=%s msg=",
                          log_level_name(level));
    out_bytes(&o, head, n);
    out_value(&o, msg ? msg : "", msg ? strlen(msg) : 0, false);
    if (fields != NULL && fields[0] != '\0') {
        out_bytes(&o, " ", 1);
        va_copy(aq, ap);
        out_fields(&o, fields, &aq);
        va_end(aq);
    }
    if (suppressed > 0 && !o.full) {
        n = (size_t)snprintf(head, sizeof(head), " suppressed=%llu",
                             (unsigned long long)suppressed);
        out_bytes(&o, head, n);
        if (!o.full)
            o.good = o.len;
    }
    if (o.full) {
        o.len = o.good;
        memcpy(buf + o.len, log_trunc_tail, sizeof(log_trunc_tail) - 1);
        o.len += sizeof(log_trunc_tail) - 1;
    }
    buf[o.len++] = '\n';
    buf[o.len] = '\0';
    coord_assert(o.len < cap);
    return o.len;
}

static void log_write(const char *buf, size_t len)
{
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);

    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report a failing log; drop the line */
        buf += w;
        len -= (size_t)w;
    }
}

static void log_vemit_sup(enum log_level level, const char *msg,
                          uint64_t suppressed, const char *fields, va_list ap)
{
    char line[LOG_LINE_BYTES];
    size_t n = log_format(line, sizeof(line), log_wall_ms(), level, msg,
                          suppressed, fields, ap);
    log_write(line, n);
}

void log_vemit(enum log_level level, const char *msg, const char *fields,
               va_list ap)
{
    if (!log_enabled(level))
        return;
    log_vemit_sup(level, msg, 0, fields, ap);
}

void log_emit(enum log_level level, const char *msg, const char *fields, ...)
{
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fields);
    log_vemit_sup(level, msg, 0, fields, ap);
    va_end(ap);
}

/* ---- rate limiting ------------------------------------------------------ */
void log_rate_init(struct log_rate *r, uint32_t per_sec)
{
    memset(r, 0, sizeof(*r));
    r->per_sec = per_sec;
}

static void rate_roll(struct log_rate *r, int64_t now_ms)
{
    if (!r->started || now_ms < r->window_ms ||
        now_ms - r->window_ms >= 1000) {
        r->started = true;
        r->window_ms = now_ms;
        r->used = 0;
    }
}

bool log_rate_allow(struct log_rate *r, int64_t now_ms, uint64_t *suppressed)
{
    rate_roll(r, now_ms);
    if (r->per_sec != 0 && r->used >= r->per_sec) {
        r->suppressed++;
        return false;
    }
    r->used++;
    *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}

bool log_rate_pending(struct log_rate *r, int64_t now_ms, uint64_t *suppressed)
{
    if (r->suppressed == 0 || !r->started ||
        (now_ms >= r->window_ms && now_ms - r->window_ms < 1000))
        return false;
    *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}

void log_emit_rated(struct log_rate *r, enum log_level level, const char *msg,
                    const char *fields, ...)
{
    uint64_t suppressed;
    va_list ap;

    if (!log_enabled(level) ||
        !log_rate_allow(r, log_mono_ms(), &suppressed))
        return;
    va_start(ap, fields);
    log_vemit_sup(level, msg, suppressed, fields, ap);
    va_end(ap);
}
