/* out.c -- coordctl's output and error reporting: maps COORD_E* codes to
 * exit codes and one-line actionable messages, formats stats for humans
 * (ISO-8601 times, 0x zxids) and for scripts (JSON), escapes data for JSON
 * (base64 when it is not UTF-8). Prints only; talks to no server and
 * allocates nothing. */
#include "ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ctl_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return CTL_EXIT_OK;
    case COORD_ETIMEDOUT:
    case COORD_EUNAVAILABLE:
        return CTL_EXIT_UNREACHABLE;
    case COORD_ECONNLOSS:
    case COORD_ESESSIONEXPIRED:
    case COORD_ECLOSED:
        return CTL_EXIT_LOST;
    default:
        return CTL_EXIT_FAILED;
    }
}

/* What the user can do about rc; "" when nothing specific. */
static const char *ctl_hint(int rc)
{
    switch (rc) {
    case COORD_ENONODE:
        return "check the path, or create the node (create -p makes "
               "parents)";
    case COORD_ENODEEXISTS:
        return "choose another path, or rm the node first";
    case COORD_EBADVERSION:
        return "re-read the version with 'coordctl stat' and retry";
    case COORD_ENOTEMPTY:
        return "delete its children first, or use rm -r";
    case COORD_ENOCHILDRENFOREPHEMERALS:
        return "create the parent as a persistent node";
    case COORD_EINVAL:
    case COORD_EBADPATH:
        return "paths start with '/', have no empty or '.' components "
               "and no trailing '/'";
    case COORD_ETOOBIG:
        return "node data is limited to 1 MiB";
    case COORD_ETIMEDOUT:
        return "the outcome is unknown; check the cluster and retry, or "
               "raise --timeout";
    case COORD_EUNAVAILABLE:
        return "the cluster has no quorum; retry later";
    case COORD_ECONNLOSS:
        return "the outcome is unknown; re-read the node to learn it";
    case COORD_ESESSIONEXPIRED:
        return "the session ended; the outcome is unknown, re-read and "
               "retry";
    case COORD_ENOTSUP:
        return "this server does not support the operation";
    default:
        return "";
    }
}

int ctl_fail(struct ctl *x, const char *what, int rc)
{
    const char *hint = ctl_hint(rc);
    if (rc == COORD_ETIMEDOUT && x->c != NULL &&
        coord_state(x->c) == COORD_STATE_CONNECTING) {
        fprintf(stderr,
                "coordctl: cannot reach the cluster at %s within %" PRIu32
                " ms (%s); check --servers or COORD_SERVERS and that "
                "coordd is running\n",
                x->servers, x->timeout_ms, coord_errname(rc));
        return CTL_EXIT_UNREACHABLE;
    }
    fprintf(stderr, "coordctl: %s%s%s (%s)%s%s\n", what ? what : "",
            what ? ": " : "", coord_strerror(rc), coord_errname(rc),
            hint[0] ? "; " : "", hint);
    return ctl_exit_code(rc);
}

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("coordctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("; see 'coordctl --help'\n", stderr);
    va_end(ap);
    return CTL_EXIT_USAGE;
}

void ctl_fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "%" PRId64, ms);
        return;
    }
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", base, milli);
}

/* Length of the UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t ctl_utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool ctl_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        size_t len = ctl_utf8_len(s + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

void ctl_json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                fprintf(f, "\\u%04x", ch);
            } else if (ch < 0x80) {
                fputc(ch, f);
            } else {
                /* Keep the output valid JSON whatever the bytes: an
                 * invalid UTF-8 byte becomes U+FFFD. */
                size_t len = ctl_utf8_len((const unsigned char *)s + i,
                                          n - i);
                if (len == 0) {
                    fputs("\\ufffd", f);
                } else {
                    fwrite(s + i, 1, len, f);
                    i += len - 1;
                }
            }
        }
    }
    fputc('"', f);
}

static void ctl_base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', f);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        fputc(tab[(v >> 18) & 63], f);
        fputc(tab[(v >> 12) & 63], f);
        fputc(i + 1 < n ? tab[(v >> 6) & 63] : '=', f);
        fputc(i + 2 < n ? tab[v & 63] : '=', f);
    }
    fputc('"', f);
}

void ctl_json_data(FILE *f, const void *p, size_t n)
{
    if (ctl_utf8_valid(p, n)) {
        fputs("\"data\":", f);
        ctl_json_str(f, p, n);
    } else {
        fputs("\"data_base64\":", f);
        ctl_base64(f, p, n);
    }
}

void ctl_json_stat(FILE *f, const struct coord_stat *st)
{
    fprintf(f,
            "{\"czxid\":%" PRIu64 ",\"mzxid\":%" PRIu64
            ",\"pzxid\":%" PRIu64 ",\"ctime\":%" PRId64
            ",\"mtime\":%" PRId64 ",\"version\":%" PRId32
            ",\"cversion\":%" PRId32 ",\"aversion\":%" PRId32
            ",\"ephemeral_owner\":\"0x%" PRIx64 "\""
            ",\"data_length\":%" PRIu32 ",\"num_children\":%" PRIu32 "}",
            st->czxid, st->mzxid, st->pzxid, st->ctime_ms, st->mtime_ms,
            st->version, st->cversion, st->aversion, st->ephemeral_owner,
            st->data_length, st->num_children);
}

void ctl_print_stat(FILE *f, const char *path, const struct coord_stat *st)
{
    char ct[48], mt[48];
    ctl_fmt_time(st->ctime_ms, ct, sizeof(ct));
    ctl_fmt_time(st->mtime_ms, mt, sizeof(mt));
    if (path != NULL)
        fprintf(f, "path            %s\n", path);
    fprintf(f,
            "czxid           0x%" PRIx64 "\n"
            "mzxid           0x%" PRIx64 "\n"
            "pzxid           0x%" PRIx64 "\n"
            "ctime           %s\n"
            "mtime           %s\n"
            "version         %" PRId32 "\n"
            "cversion        %" PRId32 "\n"
            "aversion        %" PRId32 "\n"
            "ephemeralOwner  0x%" PRIx64 "\n"
            "dataLength      %" PRIu32 "\n"
            "numChildren     %" PRIu32 "\n",
            st->czxid, st->mzxid, st->pzxid, ct, mt, st->version,
            st->cversion, st->aversion, st->ephemeral_owner,
            st->data_length, st->num_children);
}

const char *ctl_event_name(int type)
{
    switch (type) {
    case COORD_EVENT_CREATED:
        return "CREATED";
    case COORD_EVENT_DELETED:
        return "DELETED";
    case COORD_EVENT_DATA_CHANGED:
        return "DATA_CHANGED";
    case COORD_EVENT_CHILDREN_CHANGED:
        return "CHILDREN_CHANGED";
    case COORD_EVENT_MUST_REREAD:
        return "MUST_REREAD";
    default:
        return "UNKNOWN";
    }
}

int ctl_read_stdin(char *buf, size_t size, size_t *len)
{
    size_t n = 0;
    for (;;) {
        char extra;
        char *dst = n < size ? buf + n : &extra;
        size_t want = n < size ? size - n : 1;
        ssize_t r = read(STDIN_FILENO, dst, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return COORD_EIO;
        if (r == 0)
            break;
        if (n >= size)
            return COORD_ETOOBIG;
        n += (size_t)r;
    }
    *len = n;
    return 0;
}

bool ctl_parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}
