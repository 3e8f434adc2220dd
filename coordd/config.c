/* config.c -- coordd's options: the table of config.h turned into defaults,
 * an INI loader (libinih), a flag parser, bounds and cross-option checks, and
 * the generated help, example config and documentation table.
 *
 * Called by main.c once at startup (and by tests). It reads only the config
 * file it is given and writes only to the FILE it is handed; it must not
 * log, allocate or keep state between calls: every result is in the caller's
 * struct coordd_config and every error in the caller's err buffer.
 *
 * Include exception: this is the one coordd/ file that includes a third-party
 * header, <ini.h>, because it is the INI parser's only user. Lines are read
 * by our own reader (ini_parse_stream) so that messages carry line numbers,
 * over-long lines are errors instead of being split, and continuation lines
 * can be told apart from repeated keys.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <string.h>

#include "libcoord/shared/check.h"

/* ---- the table ----------------------------------------------------------- */
#define CONFIG__DEF_UINT(d) .def_num = (d)
#define CONFIG__DEF_INT(d) .def_num = (d)
#define CONFIG__DEF_BOOL(d) .def_num = (d)
#define CONFIG__DEF_NAME(d) .def_str = (d)
#define CONFIG__DEF_PATH(d) .def_str = (d)
#define CONFIG__DEF_ADDR(d) .def_str = (d)
#define CONFIG__DEF_ADDROFF(d) .def_str = (d)
#define CONFIG__DEF_MEMBERS(d) .def_str = (d)
#define CONFIG__DEF_LEVEL(d) .def_str = (d)

const struct config_opt config_opts[CONFIG_OPTS_N] = {
#define CONFIG__ROW(sec, k, ty, def, un, mn, mx, hlp)                        \
    [CONFIG_OPT_##k] = {                                                     \
        .section = #sec,                                                     \
        .key = #k,                                                           \
        .type = CONFIG_T_##ty,                                               \
        .unit = (un),                                                        \
        .help = (hlp),                                                       \
        CONFIG__DEF_##ty(def),                                               \
        .min = (mn),                                                         \
        .max = (mx),                                                         \
        .offset = offsetof(struct coordd_config, k),                         \
        .size = sizeof(((struct coordd_config *)0)->k),                      \
    },
    CONFIG_OPTIONS(CONFIG__ROW)
#undef CONFIG__ROW
};

static const char *const config_sections[] = {
#define CONFIG__SEC(s) #s,
    CONFIG_SECTIONS(CONFIG__SEC)
#undef CONFIG__SEC
};

/* Shown in messages: long values (a members list) are cut to this. */
#define SHOW 64

__attribute__((format(printf, 4, 5))) static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void *field(struct coordd_config *cfg, const struct config_opt *o)
{
    return (char *)cfg + o->offset;
}

static const void *cfield(const struct coordd_config *cfg,
                          const struct config_opt *o)
{
    return (const char *)cfg + o->offset;
}

static bool is_section(const char *s)
{
    for (size_t i = 0; i < COORD_ARRAY_LEN(config_sections); i++)
        if (strcmp(s, config_sections[i]) == 0)
            return true;
    return false;
}

/* Copies key into out with '-' turned into '_'; false if it does not fit. */
static bool key_norm(const char *key, size_t len, char *out, size_t cap)
{
    if (len >= cap)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = key[i] == '-' ? '_' : key[i];
    out[len] = '\0';
    return true;
}

const struct config_opt *config_find(const char *key)
{
    char k[64];

    if (!key_norm(key, strlen(key), k, sizeof(k)))
        return NULL;
    for (size_t i = 0; i < CONFIG_OPTS_N; i++)
        if (strcmp(k, config_opts[i].key) == 0)
            return &config_opts[i];
    return NULL;
}

/* Edit distance, capped: enough to suggest "tick_ms" for "tik_ms". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[64];

    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest key within distance 2, or NULL. */
static const char *suggest(const char *key)
{
    char k[64];
    const char *best = NULL;
    size_t best_d = 3;

    if (!key_norm(key, strlen(key), k, sizeof(k)))
        return NULL;
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        size_t d = edit_distance(k, config_opts[i].key);
        if (d < best_d) {
            best_d = d;
            best = config_opts[i].key;
        }
    }
    return best;
}

/* ---- value parsers ------------------------------------------------------- */
static const char *unit_sep(const struct config_opt *o)
{
    return o->unit[0] ? " " : "";
}

/* Decimal, optional '-' (signed only), optional KiB/MiB/GiB (bytes only). */
static bool parse_num(const char *s, bool neg_ok, bool bytes, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0;
    const char *p = s;

    if (*p == '-' && neg_ok) {
        neg = true;
        p++;
    }
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\0') {
        int shift = !bytes                   ? -1
                    : strcmp(p, "KiB") == 0 ? 10
                    : strcmp(p, "MiB") == 0 ? 20
                    : strcmp(p, "GiB") == 0 ? 30
                                            : -1;
        if (shift < 0 || v > ((uint64_t)INT64_MAX >> shift))
            return false;
        v <<= shift;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < COORD_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static int store_num(struct coordd_config *cfg, const struct config_opt *o,
                     const char *v, const char *where, char *err,
                     size_t errlen)
{
    int64_t n;
    bool bytes = strcmp(o->unit, "bytes") == 0;

    if (!parse_num(v, o->type == CONFIG_T_INT, bytes, &n))
        return fail(err, errlen, COORD_EINVAL,
                    "%s: %s = \"%.*s\": not %s integer (allowed "
                    "%lld..%lld%s%s)",
                    where, o->key, SHOW, v, bytes ? "a byte count or" : "an",
                    (long long)o->min, (long long)o->max, unit_sep(o),
                    o->unit);
    if (n < o->min || n > o->max)
        return fail(err, errlen, COORD_EINVAL,
                    "%s: %s = %lld is out of range %lld..%lld%s%s", where,
                    o->key, (long long)n, (long long)o->min,
                    (long long)o->max, unit_sep(o), o->unit);
    if (o->type == CONFIG_T_INT)
        *(int64_t *)field(cfg, o) = n;
    else
        *(uint64_t *)field(cfg, o) = (uint64_t)n;
    return 0;
}

static int store_str(struct coordd_config *cfg, const struct config_opt *o,
                     const char *v, const char *where, char *err,
                     size_t errlen)
{
    size_t len = strlen(v);

    if ((int64_t)len < o->min || (int64_t)len > o->max)
        return fail(err, errlen, COORD_EINVAL,
                    "%s: %s = \"%.*s\" is %zu bytes long; allowed %lld..%lld",
                    where, o->key, SHOW, v, len, (long long)o->min,
                    (long long)o->max);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        bool ok = o->type == CONFIG_T_PATH
                      ? (c >= 0x20 && c != 0x7f)
                      : ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                         c == '-');
        if (!ok)
            return fail(err, errlen, COORD_EINVAL,
                        "%s: %s = \"%.*s\": character %zu is not allowed "
                        "(%s)", where, o->key, SHOW, v, i + 1,
                        o->type == CONFIG_T_PATH
                            ? "no control characters"
                            : "letters, digits, '.', '_' and '-' only");
    }
    coord_assert(len < o->size);
    memcpy(field(cfg, o), v, len + 1);
    return 0;
}

/* ---- addresses ----------------------------------------------------------- */
static bool is_digits_dots(const char *h)
{
    for (; *h; h++)
        if (!(*h == '.' || (*h >= '0' && *h <= '9')))
            return false;
    return true;
}

/* An IPv4 literal, or a DNS name (RFC 1123 labels); IPv6 is checked by the
 * caller. A host of digits and dots must be a valid IPv4 address. */
static bool host_ok(const char *h)
{
    unsigned char a[16];
    size_t label = 0, len = strlen(h);

    if (len == 0 || len > 253)
        return false;
    if (is_digits_dots(h))
        return inet_pton(AF_INET, h, a) == 1;
    for (size_t i = 0; i <= len; i++) {
        char c = h[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || h[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

static bool parse_port(const char *s, uint16_t *out)
{
    int64_t v;

    if (!parse_num(s, false, false, &v) || v < 1 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* Splits "[v6]rest" or "host:rest" style text: host goes to out->host, the
 * text after the host (":..." or "") is returned through *rest. */
static int split_host(const char *s, struct config_addr *out,
                      const char **rest, char *err, size_t errlen)
{
    const char *end;
    unsigned char a[16];

    if (s[0] == '[') {
        end = strchr(s, ']');
        size_t n = end ? (size_t)(end - s - 1) : 0;
        if (end == NULL || n == 0 || n >= sizeof(out->host))
            return fail(err, errlen, COORD_EINVAL, "bad IPv6 literal");
        memcpy(out->host, s + 1, n);
        out->host[n] = '\0';
        if (inet_pton(AF_INET6, out->host, a) != 1)
            return fail(err, errlen, COORD_EINVAL,
                        "\"%s\" is not an IPv6 address", out->host);
        *rest = end + 1;
        return 0;
    }
    end = strchr(s, ':');
    if (end == s || (end != NULL && end[1] == ':'))
        return fail(err, errlen, COORD_EINVAL,
                    "IPv6 addresses go in brackets: [::1]:port");
    size_t n = end ? (size_t)(end - s) : strlen(s);
    if (n >= sizeof(out->host))
        return fail(err, errlen, COORD_EINVAL, "host name too long");
    memcpy(out->host, s, n);
    out->host[n] = '\0';
    if (!host_ok(out->host))
        return fail(err, errlen, COORD_EINVAL,
                    "\"%s\" is not an IPv4 address or host name (IPv6 "
                    "goes in brackets: [::1])", out->host);
    *rest = s + n;
    return 0;
}

int config_parse_addr(const char *s, uint16_t default_port,
                      struct config_addr *out, char *err, size_t errlen)
{
    struct config_addr a = {.port = default_port};
    const char *rest;
    int rc;

    if (s[0] == '\0')
        return fail(err, errlen, COORD_EINVAL, "empty address");
    rc = split_host(s, &a, &rest, err, errlen);
    if (rc != 0)
        return rc;
    if (rest[0] == ':') {
        if (!parse_port(rest + 1, &a.port))
            return fail(err, errlen, COORD_EINVAL,
                        "port \"%.*s\" is not in 1..65535", SHOW, rest + 1);
    } else if (rest[0] != '\0') {
        return fail(err, errlen, COORD_EINVAL,
                    "unexpected \"%.*s\" after the host", SHOW, rest);
    }
    if (a.port == 0)
        return fail(err, errlen, COORD_EINVAL, "no port given");
    *out = a;
    return 0;
}

static bool addr_is_wildcard(const struct config_addr *a)
{
    unsigned char b[16];
    static const unsigned char zero[16];

    if (inet_pton(AF_INET, a->host, b) == 1)
        return memcmp(b, zero, 4) == 0;
    if (inet_pton(AF_INET6, a->host, b) == 1)
        return memcmp(b, zero, 16) == 0;
    return false;
}

static bool addr_eq(const struct config_addr *a, const struct config_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* ---- members ------------------------------------------------------------- */
/* One "id@host:client_port:peer_port" entry (already trimmed). */
static int parse_member(const char *s, struct config_member *m, char *err,
                        size_t errlen)
{
    const char *at = strchr(s, '@');
    char idtext[24];
    int64_t id;
    const char *rest;
    char ports[16];

    if (at == NULL || (size_t)(at - s) >= sizeof(idtext))
        return fail(err, errlen, COORD_EINVAL,
                    "expected id@host:client_port:peer_port");
    memcpy(idtext, s, (size_t)(at - s));
    idtext[at - s] = '\0';
    if (!parse_num(idtext, false, false, &id) || id < 1)
        return fail(err, errlen, COORD_EINVAL,
                    "id \"%s\" is not a positive integer", idtext);
    memset(m, 0, sizeof(*m));
    m->id = (uint64_t)id;
    int rc = split_host(at + 1, &m->client, &rest, err, errlen);
    if (rc != 0)
        return rc;
    const char *sep = rest[0] == ':' ? strchr(rest + 1, ':') : NULL;
    size_t n = sep ? (size_t)(sep - rest - 1) : 0;
    if (sep == NULL || n >= sizeof(ports))
        return fail(err, errlen, COORD_EINVAL,
                    "expected id@host:client_port:peer_port");
    memcpy(ports, rest + 1, n);
    ports[n] = '\0';
    if (!parse_port(ports, &m->client.port) ||
        !parse_port(sep + 1, &m->peer.port))
        return fail(err, errlen, COORD_EINVAL, "ports must be in 1..65535");
    memcpy(m->peer.host, m->client.host, sizeof(m->peer.host));
    if (addr_is_wildcard(&m->client))
        return fail(err, errlen, COORD_EINVAL,
                    "%s is a wildcard address; give one peers can reach",
                    m->client.host);
    return 0;
}

/* Duplicate ids, or one host:port used twice (as client or peer port). */
static int members_unique(const struct config_members *ms, char *err,
                          size_t errlen)
{
    for (uint32_t i = 0; i < ms->n; i++) {
        const struct config_member *a = &ms->m[i];
        if (addr_eq(&a->client, &a->peer))
            return fail(err, errlen, COORD_EINVAL,
                        "member %llu: client and peer port are the same",
                        (unsigned long long)a->id);
        for (uint32_t j = i + 1; j < ms->n; j++) {
            const struct config_member *b = &ms->m[j];
            if (a->id == b->id)
                return fail(err, errlen, COORD_EINVAL,
                            "member id %llu appears twice",
                            (unsigned long long)a->id);
            if (addr_eq(&a->client, &b->client) ||
                addr_eq(&a->client, &b->peer) ||
                addr_eq(&a->peer, &b->client) || addr_eq(&a->peer, &b->peer))
                return fail(err, errlen, COORD_EINVAL,
                            "members %llu and %llu share an address",
                            (unsigned long long)a->id,
                            (unsigned long long)b->id);
        }
    }
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int config_parse_members(const char *s, struct config_members *out,
                         char *err, size_t errlen)
{
    char entry[CONFIG_HOST_BYTES + 64];
    char why[CONFIG_ERR_BYTES];
    uint32_t n = 0;
    const char *p = s;

    while (*p && is_blank(*p))
        p++;
    out->n = 0;
    if (*p == '\0')
        return 0; /* empty: a single node */
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && is_blank(*p))
            p++;
        size_t len = (size_t)(end - p);
        while (len > 0 && is_blank(p[len - 1]))
            len--;
        if (len == 0 || len >= sizeof(entry))
            return fail(err, errlen, COORD_EINVAL, "entry %u is %s", n + 1,
                        len ? "too long" : "empty");
        if (n == COORDD_MEMBERS_MAX)
            return fail(err, errlen, COORD_EINVAL,
                        "more than %d members", COORDD_MEMBERS_MAX);
        memcpy(entry, p, len);
        entry[len] = '\0';
        if (parse_member(entry, &out->m[n], why, sizeof(why)) != 0)
            return fail(err, errlen, COORD_EINVAL, "entry %u \"%.*s\": %s",
                        n + 1, SHOW, entry, why);
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    out->n = n;
    return members_unique(out, err, errlen);
}

/* ---- storing one option -------------------------------------------------- */
static int store_other(struct coordd_config *cfg, const struct config_opt *o,
                       const char *v, const char *where, char *err,
                       size_t errlen)
{
    char why[CONFIG_ERR_BYTES];
    int rc = 0;

    switch (o->type) {
    case CONFIG_T_BOOL:
        if (!parse_bool(v, (bool *)field(cfg, o)))
            return fail(err, errlen, COORD_EINVAL,
                        "%s: %s = \"%.*s\": expected true or false", where,
                        o->key, SHOW, v);
        return 0;
    case CONFIG_T_LEVEL:
        if (log_level_parse(v, (enum log_level *)field(cfg, o)) != 0)
            return fail(err, errlen, COORD_EINVAL,
                        "%s: %s = \"%.*s\": expected debug, info, warn, "
                        "error or fatal", where, o->key, SHOW, v);
        return 0;
    case CONFIG_T_ADDROFF:
        if (v[0] == '\0' || strcmp(v, "off") == 0) {
            memset(field(cfg, o), 0, sizeof(struct config_addr));
            return 0;
        }
        /* fall through */
    case CONFIG_T_ADDR:
        rc = config_parse_addr(v, (uint16_t)o->min, field(cfg, o), why,
                               sizeof(why));
        break;
    case CONFIG_T_MEMBERS:
        rc = config_parse_members(v, field(cfg, o), why, sizeof(why));
        break;
    default:
        coord_assert(!"unhandled option type");
    }
    if (rc != 0)
        return fail(err, errlen, COORD_EINVAL, "%s: %s = \"%.*s\": %s", where,
                    o->key, SHOW, v, why);
    return 0;
}

static int opt_store(struct coordd_config *cfg, const struct config_opt *o,
                     const char *value, enum config_source src,
                     const char *where, char *err, size_t errlen)
{
    int rc;

    switch (o->type) {
    case CONFIG_T_UINT:
    case CONFIG_T_INT:
        rc = store_num(cfg, o, value, where, err, errlen);
        break;
    case CONFIG_T_NAME:
    case CONFIG_T_PATH:
        rc = store_str(cfg, o, value, where, err, errlen);
        break;
    default:
        rc = store_other(cfg, o, value, where, err, errlen);
    }
    if (rc == 0)
        cfg->source[o - config_opts] = (uint8_t)src;
    return rc;
}

int config_set(struct coordd_config *cfg, const char *key, const char *value,
               enum config_source src, char *err, size_t errlen)
{
    const struct config_opt *o = config_find(key);
    const char *hint;

    if (o == NULL) {
        hint = suggest(key);
        return fail(err, errlen, COORD_EINVAL,
                    "unknown option \"%.*s\"%s%s%s", SHOW, key,
                    hint ? " (did you mean " : "", hint ? hint : "",
                    hint ? "?)" : "");
    }
    return opt_store(cfg, o, value, src, o->key, err, errlen);
}

void config_defaults(struct coordd_config *cfg)
{
    char err[CONFIG_ERR_BYTES];
    char num[32];

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        const struct config_opt *o = &config_opts[i];
        const char *v = o->def_str;
        if (v == NULL) {
            snprintf(num, sizeof(num), "%lld", (long long)o->def_num);
            v = num;
        }
        int rc = opt_store(cfg, o, v, CONFIG_SRC_DEFAULT, "default", err,
                           sizeof(err));
        coord_assert(rc == 0); /* the table's defaults are in bounds */
    }
}

/* ---- INI files -------------------------------------------------------------
 * The reader hands inih one line at a time and remembers its number and
 * whether it was indented (a continuation line, in inih's multi-line mode).
 * The handler stores values as they come; members text is collected across
 * continuation lines and parsed at the end. */
struct ini_ctx {
    struct coordd_config *cfg;
    const char *name;
    FILE *f;          /* the source: a file ... */
    const char *text; /* ... or a string */
    int line;
    bool indented;
    int set_line[CONFIG_OPTS_N];
    int prev_opt;
    char members[CONFIG_MEMBERS_TEXT_BYTES];
    size_t members_len;
    int rc;
    int err_line;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int
ini_fail(struct ini_ctx *c, const char *fmt, ...)
{
    char msg[CONFIG_ERR_BYTES];
    va_list ap;

    if (c->rc != 0)
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->rc = fail(c->err, c->errlen, COORD_EINVAL, "%s:%d: %s", c->name,
                 c->line, msg);
    c->err_line = c->line;
    return 0;
}

static int src_getc(struct ini_ctx *c)
{
    if (c->f != NULL)
        return getc(c->f);
    if (*c->text == '\0')
        return EOF;
    return (unsigned char)*c->text++;
}

static char *config_ini_read(char *str, int num, void *stream)
{
    struct ini_ctx *c = stream;
    size_t n = 0, room = num > 2 ? (size_t)num - 2 : 0;
    bool too_long = false, nul = false;
    int ch = src_getc(c);

    if (ch == EOF)
        return NULL;
    c->line++;
    c->indented = ch == ' ' || ch == '\t';
    for (; ch != EOF && ch != '\n'; ch = src_getc(c)) {
        if (ch == '\0')
            nul = true;
        else if (n < room)
            str[n++] = (char)ch;
        else
            too_long = true;
    }
    if (too_long)
        ini_fail(c, "line longer than %zu bytes (split a long members list "
                    "over indented lines)", room);
    else if (nul)
        ini_fail(c, "NUL byte in line");
    if (too_long || nul) {
        n = 0;
        str[n++] = ';'; /* hand inih a comment in its place */
    }
    str[n++] = '\n';
    str[n] = '\0';
    return str;
}

static int ini_members(struct ini_ctx *c, const char *value, bool cont)
{
    size_t len = strlen(value);
    bool comma = cont && c->members_len > 0 &&
                 c->members[c->members_len - 1] != ',';

    if (!cont)
        c->members_len = 0;
    if (c->members_len + comma + len >= sizeof(c->members))
        return ini_fail(c, "members list longer than %zu bytes",
                        sizeof(c->members) - 1);
    if (comma)
        c->members[c->members_len++] = ',';
    memcpy(c->members + c->members_len, value, len + 1);
    c->members_len += len;
    return 1;
}

static int ini_unknown(struct ini_ctx *c, const char *section,
                       const char *key)
{
    const char *hint = suggest(key);

    if (!is_section(section))
        return ini_fail(c, "unknown section [%.*s] (sections: node, "
                           "cluster, raft, sessions, limits, metrics, log, "
                           "test)", SHOW, section);
    return ini_fail(c, "unknown option \"%.*s\" in [%s]%s%s%s", SHOW, key,
                    section, hint ? " (did you mean " : "",
                    hint ? hint : "", hint ? "?)" : "");
}

static int config_ini_key(void *user, const char *section, const char *key,
                       const char *value)
{
    struct ini_ctx *c = user;
    const struct config_opt *o = config_find(key);
    char where[CONFIG_PATH_BYTES + 16];

    if (c->rc != 0)
        return 0;
    if (o == NULL || (section[0] != '\0' && !is_section(section)))
        return ini_unknown(c, section, key);
    int i = (int)(o - config_opts);
    bool cont = c->indented && c->prev_opt == i && c->set_line[i] != 0;
    if (section[0] == '\0')
        return ini_fail(c, "%s belongs in [%s] (it comes before any "
                           "section)", o->key, o->section);
    if (strcmp(section, o->section) != 0)
        return ini_fail(c, "%s belongs in [%s], not [%s]", o->key,
                        o->section, section);
    if (cont && o->type != CONFIG_T_MEMBERS)
        return ini_fail(c, "indented line continues %s; only members may "
                           "span lines", o->key);
    if (!cont && c->set_line[i] != 0)
        return ini_fail(c, "%s set twice (first on line %d)", o->key,
                        c->set_line[i]);
    if (!cont)
        c->set_line[i] = c->line;
    c->prev_opt = i;
    if (o->type == CONFIG_T_MEMBERS)
        return ini_members(c, value, cont);
    snprintf(where, sizeof(where), "%s:%d", c->name, c->line);
    c->rc = opt_store(c->cfg, o, value, CONFIG_SRC_FILE, where, c->err,
                      c->errlen);
    c->err_line = c->line;
    return c->rc == 0;
}

static int ini_run(struct ini_ctx *c)
{
    int r = ini_parse_stream(config_ini_read, c, config_ini_key, c);

    if (c->f != NULL && ferror(c->f))
        return fail(c->err, c->errlen, COORD_EIO, "%s: read error",
                    c->name);
    if (r > 0 && (c->rc == 0 || r < c->err_line))
        return fail(c->err, c->errlen, COORD_EINVAL,
                    "%s:%d: syntax error (expected [section], key = value "
                    "or a comment)", c->name, r);
    if (c->rc != 0)
        return c->rc;
    if (r != 0)
        return fail(c->err, c->errlen, COORD_ENOMEM, "%s: parser failed",
                    c->name);
    if (c->set_line[CONFIG_OPT_members] != 0) {
        const struct config_opt *o = &config_opts[CONFIG_OPT_members];
        char where[CONFIG_PATH_BYTES + 16];
        snprintf(where, sizeof(where), "%s:%d", c->name,
                 c->set_line[CONFIG_OPT_members]);
        return opt_store(c->cfg, o, c->members, CONFIG_SRC_FILE, where,
                         c->err, c->errlen);
    }
    return 0;
}

/* The context is big (the members text): keep it off the caller's frame. */
static int ini_load(struct coordd_config *cfg, FILE *f, const char *text,
                    const char *name, char *err, size_t errlen)
{
    struct ini_ctx c;

    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.name = name;
    c.f = f;
    c.text = text;
    c.prev_opt = -1;
    c.err = err;
    c.errlen = errlen;
    return ini_run(&c);
}

int config_load_string(struct coordd_config *cfg, const char *text,
                       const char *name, char *err, size_t errlen)
{
    return ini_load(cfg, NULL, text, name, err, errlen);
}

int config_load_file(struct coordd_config *cfg, const char *path, char *err,
                     size_t errlen)
{
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(cfg->config_path))
        return fail(err, errlen, COORD_EINVAL,
                    "config file path is empty or too long");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, errlen, COORD_EIO, "cannot read config file %s: %s",
                    path, strerror(errno));
    int rc = ini_load(cfg, f, NULL, path, err, errlen);
    fclose(f);
    if (rc == 0)
        memcpy(cfg->config_path, path, len + 1);
    return rc;
}

/* ---- rules between options ----------------------------------------------- */
static int validate_raft(const struct coordd_config *cfg, char *err,
                         size_t errlen)
{
    uint64_t frame = cfg->frame_bytes_max - COORDD_FRAME_SLACK_BYTES;

    if (cfg->election_ticks <= 2 * cfg->heartbeat_ticks)
        return fail(err, errlen, COORD_EINVAL,
                    "election_ticks (%llu) must exceed 2 * heartbeat_ticks "
                    "(2 * %llu)", (unsigned long long)cfg->election_ticks,
                    (unsigned long long)cfg->heartbeat_ticks);
    if (cfg->append_bytes_max > frame)
        return fail(err, errlen, COORD_EINVAL,
                    "append_bytes_max (%llu) must fit a frame: at most "
                    "frame_bytes_max - %d (%llu)",
                    (unsigned long long)cfg->append_bytes_max,
                    COORDD_FRAME_SLACK_BYTES, (unsigned long long)frame);
    if (cfg->snapshot_chunk_bytes > frame)
        return fail(err, errlen, COORD_EINVAL,
                    "snapshot_chunk_bytes (%llu) must fit a frame: at most "
                    "frame_bytes_max - %d (%llu)",
                    (unsigned long long)cfg->snapshot_chunk_bytes,
                    COORDD_FRAME_SLACK_BYTES, (unsigned long long)frame);
    if (cfg->uncommitted_bytes_max < cfg->append_bytes_max)
        return fail(err, errlen, COORD_EINVAL,
                    "uncommitted_bytes_max (%llu) must be at least "
                    "append_bytes_max (%llu)",
                    (unsigned long long)cfg->uncommitted_bytes_max,
                    (unsigned long long)cfg->append_bytes_max);
    return 0;
}

static int validate_sessions(const struct coordd_config *cfg, char *err,
                             size_t errlen)
{
    uint64_t election_ms = cfg->election_ticks * cfg->tick_ms;

    if (cfg->session_timeout_ms_min > cfg->session_timeout_ms_max)
        return fail(err, errlen, COORD_EINVAL,
                    "session_timeout_ms_min (%llu) exceeds "
                    "session_timeout_ms_max (%llu)",
                    (unsigned long long)cfg->session_timeout_ms_min,
                    (unsigned long long)cfg->session_timeout_ms_max);
    if (cfg->session_timeout_ms_min < 2 * election_ms)
        return fail(err, errlen, COORD_EINVAL,
                    "session_timeout_ms_min (%llu) must be at least 2 * "
                    "election_ticks * tick_ms (2 * %llu * %llu = %llu ms)",
                    (unsigned long long)cfg->session_timeout_ms_min,
                    (unsigned long long)cfg->election_ticks,
                    (unsigned long long)cfg->tick_ms,
                    (unsigned long long)(2 * election_ms));
    if (2 * cfg->client_ping_ms > cfg->client_idle_ms)
        return fail(err, errlen, COORD_EINVAL,
                    "client_ping_ms (%llu) must be at most client_idle_ms "
                    "/ 2 (%llu / 2)",
                    (unsigned long long)cfg->client_ping_ms,
                    (unsigned long long)cfg->client_idle_ms);
    return 0;
}

static int validate_limits(const struct coordd_config *cfg, char *err,
                           size_t errlen)
{
    uint64_t need = cfg->data_bytes_max + cfg->path_bytes_max +
                    COORDD_FRAME_SLACK_BYTES;

    if (need > cfg->frame_bytes_max)
        return fail(err, errlen, COORD_EINVAL,
                    "frame_bytes_max (%llu) must hold data_bytes_max + "
                    "path_bytes_max + %d (%llu)",
                    (unsigned long long)cfg->frame_bytes_max,
                    COORDD_FRAME_SLACK_BYTES, (unsigned long long)need);
    if (cfg->children_max > cfg->nodes_max)
        return fail(err, errlen, COORD_EINVAL,
                    "children_max (%llu) exceeds nodes_max (%llu)",
                    (unsigned long long)cfg->children_max,
                    (unsigned long long)cfg->nodes_max);
    return 0;
}

static int validate_addrs(const struct coordd_config *cfg, char *err,
                          size_t errlen)
{
    const struct config_addr *m = &cfg->metrics_listen;

    if (addr_eq(&cfg->client_listen, &cfg->peer_listen))
        return fail(err, errlen, COORD_EINVAL,
                    "client_listen and peer_listen are both %s:%u",
                    cfg->client_listen.host, cfg->client_listen.port);
    if (m->host[0] != '\0' &&
        (addr_eq(m, &cfg->client_listen) || addr_eq(m, &cfg->peer_listen)))
        return fail(err, errlen, COORD_EINVAL,
                    "metrics_listen %s:%u is already client_listen or "
                    "peer_listen", m->host, m->port);
    if (cfg->members.n > 0 && config_self(cfg) == NULL)
        return fail(err, errlen, COORD_EINVAL,
                    "node_id %llu is not in members (ids: %llu%s)",
                    (unsigned long long)cfg->node_id,
                    (unsigned long long)cfg->members.m[0].id,
                    cfg->members.n > 1 ? ", ..." : "");
    if (cfg->join && cfg->members.n < 2)
        return fail(err, errlen, COORD_EINVAL,
                    "join needs members: the running cluster's servers "
                    "and this one");
    return 0;
}

int config_validate(const struct coordd_config *cfg, char *err,
                    size_t errlen)
{
    int rc = validate_raft(cfg, err, errlen);

    if (rc == 0)
        rc = validate_sessions(cfg, err, errlen);
    if (rc == 0)
        rc = validate_limits(cfg, err, errlen);
    if (rc == 0)
        rc = validate_addrs(cfg, err, errlen);
    return rc;
}

const struct config_member *config_self(const struct coordd_config *cfg)
{
    for (uint32_t i = 0; i < cfg->members.n; i++)
        if (cfg->members.m[i].id == cfg->node_id)
            return &cfg->members.m[i];
    return NULL;
}

bool config_test_mode(const struct coordd_config *cfg)
{
    return cfg->test_power_loss || cfg->test_clock_offset_ms != 0 ||
           cfg->test_corrupt_digest_at != 0;
}

void config_apply_members(struct coordd_config *cfg)
{
    const struct config_member *self = config_self(cfg);

    if (self == NULL)
        return;
    if (cfg->source[CONFIG_OPT_client_listen] == CONFIG_SRC_DEFAULT)
        cfg->client_listen = self->client;
    if (cfg->source[CONFIG_OPT_peer_listen] == CONFIG_SRC_DEFAULT)
        cfg->peer_listen = self->peer;
}

/* ---- flags --------------------------------------------------------------- */
static void flag_name(const struct config_opt *o, char *buf, size_t cap);

struct args_walk {
    bool apply;
    const char *config_path;
    enum config_action action;
};

static int flag_special(struct args_walk *w, const char *name,
                        const char *value, int *i, int argc,
                        char *const *argv, char *err, size_t errlen)
{
    if (strcmp(name, "config") == 0) {
        if (value == NULL && *i + 1 < argc)
            value = argv[++*i];
        if (value == NULL || value[0] == '\0')
            return fail(err, errlen, COORD_EINVAL,
                        "--config needs a file name");
        w->config_path = value;
        return 0;
    }
    if (value != NULL)
        return fail(err, errlen, COORD_EINVAL, "--%s takes no value",
                    name);
    if (strcmp(name, "check_config") == 0)
        w->action = CONFIG_ACTION_CHECK;
    else
        w->action = CONFIG_ACTION_PRINT_EXAMPLE;
    return 0;
}

static int flag_one(struct coordd_config *cfg, struct args_walk *w, int *i,
                    int argc, char *const *argv, char *err, size_t errlen)
{
    const char *a = argv[*i];
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    const char *value = eq ? eq + 1 : NULL;
    char name[64], where[80];

    if (!key_norm(a + 2, len, name, sizeof(name)) || len == 0)
        return fail(err, errlen, COORD_EINVAL, "unknown flag \"%.*s\"",
                    SHOW, a);
    if (strcmp(name, "config") == 0 || strcmp(name, "check_config") == 0 ||
        strcmp(name, "print_example_config") == 0)
        return flag_special(w, name, value, i, argc, argv, err, errlen);
    const struct config_opt *o = config_find(name);
    if (o == NULL) {
        const char *hint = suggest(name);
        char hflag[64] = "";
        if (hint != NULL)
            flag_name(&config_opts[config_find(hint) - config_opts], hflag,
                      sizeof(hflag));
        return fail(err, errlen, COORD_EINVAL,
                    "unknown flag --%.*s%s%s%s (see --help)",
                    (int)(len < SHOW ? len : SHOW), a + 2,
                    hint ? " (did you mean " : "", hflag, hint ? "?)" : "");
    }
    snprintf(where, sizeof(where), "--%.*s", (int)len, a + 2);
    if (value == NULL && o->type == CONFIG_T_BOOL)
        value = "true";
    if (value == NULL && *i + 1 < argc)
        value = argv[++*i];
    if (value == NULL)
        return fail(err, errlen, COORD_EINVAL, "%s needs a value", where);
    if (!w->apply)
        return 0;
    return opt_store(cfg, o, value, CONFIG_SRC_FLAG, where, err, errlen);
}

static int args_walk(struct coordd_config *cfg, struct args_walk *w,
                     int argc, char *const *argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc)
                return fail(err, errlen, COORD_EINVAL,
                            "unexpected argument \"%.*s\"", SHOW,
                            argv[i + 1]);
            break;
        }
        if (a[0] != '-' || a[1] != '-')
            return fail(err, errlen, COORD_EINVAL,
                        "unexpected argument \"%.*s\" (options are "
                        "--key=value; see --help)", SHOW, a);
        int rc = flag_one(cfg, w, &i, argc, argv, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int config_from_args(struct coordd_config *cfg, int argc, char *const *argv,
                     enum config_action *action, char *err, size_t errlen)
{
    struct args_walk w = {.action = CONFIG_ACTION_RUN};
    int rc;

    config_defaults(cfg);
    *action = CONFIG_ACTION_RUN;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            *action = CONFIG_ACTION_HELP;
            return 0;
        }
    }
    rc = args_walk(cfg, &w, argc, argv, err, errlen);
    *action = w.action;
    if (rc != 0 || w.action == CONFIG_ACTION_PRINT_EXAMPLE)
        return rc;
    if (w.config_path != NULL) {
        rc = config_load_file(cfg, w.config_path, err, errlen);
        if (rc != 0)
            return rc;
    }
    w.apply = true;
    rc = args_walk(cfg, &w, argc, argv, err, errlen);
    if (rc != 0)
        return rc;
    config_apply_members(cfg);
    return config_validate(cfg, err, errlen);
}

/* ---- printing ------------------------------------------------------------ */
static int fmt_addr(const struct config_addr *a, char *buf, size_t cap)
{
    if (a->host[0] == '\0')
        return snprintf(buf, cap, "%s", "");
    if (strchr(a->host, ':') != NULL)
        return snprintf(buf, cap, "[%s]:%u", a->host, a->port);
    return snprintf(buf, cap, "%s:%u", a->host, a->port);
}

static int fmt_members(const struct config_members *ms, char *buf, size_t cap)
{
    size_t len = 0;
    char addr[CONFIG_HOST_BYTES + 8];

    buf[0] = '\0';
    for (uint32_t i = 0; i < ms->n; i++) {
        const struct config_member *m = &ms->m[i];
        fmt_addr(&m->client, addr, sizeof(addr));
        int n = snprintf(buf + len, cap - len, "%s%llu@%s:%u", i ? "," : "",
                         (unsigned long long)m->id, addr, m->peer.port);
        if (n < 0 || (size_t)n >= cap - len)
            return COORD_ETOOBIG;
        len += (size_t)n;
    }
    return (int)len;
}

int config_format_value(const struct coordd_config *cfg,
                        const struct config_opt *o, char *buf, size_t cap)
{
    const void *f = cfield(cfg, o);
    int n;

    coord_assert(cap > 0);
    switch (o->type) {
    case CONFIG_T_UINT:
        n = snprintf(buf, cap, "%llu",
                     (unsigned long long)*(const uint64_t *)f);
        break;
    case CONFIG_T_INT:
        n = snprintf(buf, cap, "%lld", (long long)*(const int64_t *)f);
        break;
    case CONFIG_T_BOOL:
        n = snprintf(buf, cap, "%s", *(const bool *)f ? "true" : "false");
        break;
    case CONFIG_T_NAME:
    case CONFIG_T_PATH:
        n = snprintf(buf, cap, "%s", (const char *)f);
        break;
    case CONFIG_T_ADDR:
    case CONFIG_T_ADDROFF:
        n = fmt_addr(f, buf, cap);
        break;
    case CONFIG_T_MEMBERS:
        return fmt_members(f, buf, cap);
    default:
        n = snprintf(buf, cap, "%s",
                     log_level_name(*(const enum log_level *)f));
    }
    if (n < 0 || (size_t)n >= cap)
        return COORD_ETOOBIG;
    return n;
}

/* Writes text word-wrapped at 78 columns, each line starting with prefix. */
static void print_wrapped(FILE *f, const char *prefix, const char *text)
{
    size_t col = 0, plen = strlen(prefix);
    const char *p = text;

    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        if (col > 0 && col + 1 + w > 78) {
            fputc('\n', f);
            col = 0;
        }
        if (col == 0) {
            fputs(prefix, f);
            col = plen;
        } else {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, w, f);
        col += w;
        p += w;
    }
    if (col > 0)
        fputc('\n', f);
}

static void flag_name(const struct config_opt *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "--%s", o->key);
    for (char *p = buf + 2; *p; p++)
        if (*p == '_')
            *p = '-';
}

/* The default as shown to people: "off" or "(empty)" instead of "". */
static const char *def_text(const struct config_opt *o, const char *val)
{
    if (val[0] != '\0')
        return val;
    return o->type == CONFIG_T_ADDROFF ? "off" : "(empty)";
}

static bool is_num(const struct config_opt *o)
{
    return o->type == CONFIG_T_UINT || o->type == CONFIG_T_INT;
}

/* "Default: 10 ms. Range: 1..1000 ms." style facts about an option. */
static void opt_facts(const struct config_opt *o, const char *val, char *buf,
                      size_t cap)
{
    int n = snprintf(buf, cap, "Default: %s%s%s.", def_text(o, val),
                     is_num(o) ? unit_sep(o) : "", is_num(o) ? o->unit : "");
    if (n < 0 || (size_t)n >= cap)
        return;
    if (is_num(o))
        snprintf(buf + n, cap - (size_t)n, " Range: %lld..%lld%s%s.",
                 (long long)o->min, (long long)o->max, unit_sep(o), o->unit);
    else if (o->type == CONFIG_T_NAME || o->type == CONFIG_T_PATH)
        snprintf(buf + n, cap - (size_t)n, " Length: %lld..%lld bytes.",
                 (long long)o->min, (long long)o->max);
}

static const char *metavar(const struct config_opt *o)
{
    switch (o->type) {
    case CONFIG_T_UINT:
    case CONFIG_T_INT:
        return strcmp(o->unit, "ms") == 0      ? "MS"
               : strcmp(o->unit, "bytes") == 0 ? "BYTES"
                                               : "N";
    case CONFIG_T_BOOL: return "BOOL";
    case CONFIG_T_NAME: return "NAME";
    case CONFIG_T_PATH: return "PATH";
    case CONFIG_T_MEMBERS: return "LIST";
    case CONFIG_T_LEVEL: return "LEVEL";
    default: return "HOST:PORT";
    }
}

static const char config_usage[] =
    "Runs one coord server. With no options: a single node serving clients "
    "on 127.0.0.1:2281, with its data in ./coordd-data. Options come from "
    "their defaults, then the INI file given by --config, then the flags. "
    "Every option is both an INI key in its [section] and a flag: key "
    "tick_ms in [raft] is --tick-ms=10 (or --tick_ms 10).";

void config_print_help(FILE *f, const char *prog)
{
    struct coordd_config def;
    char val[CONFIG_MEMBERS_TEXT_BYTES], facts[256], flag[64];

    config_defaults(&def);
    fprintf(f, "Usage: %s [--config=FILE] [--OPTION=VALUE ...]\n\n", prog);
    print_wrapped(f, "", config_usage);
    fputs("\n  --config=FILE           read options from an INI file\n"
          "  --check-config          check the options, print them, exit\n"
          "  --print-example-config  print an annotated config file\n"
          "  -h, --help              print this help\n",
          f);
    for (size_t s = 0; s < COORD_ARRAY_LEN(config_sections); s++) {
        fprintf(f, "\n[%s]\n", config_sections[s]);
        for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
            const struct config_opt *o = &config_opts[i];
            if (strcmp(o->section, config_sections[s]) != 0)
                continue;
            config_format_value(&def, o, val, sizeof(val));
            opt_facts(o, val, facts, sizeof(facts));
            flag_name(o, flag, sizeof(flag));
            fprintf(f, "  %s=%s\n", flag, metavar(o));
            print_wrapped(f, "        ", o->help);
            print_wrapped(f, "        ", facts);
        }
    }
}

static const char config_example_head[] =
    "# coordd.conf.example -- every coordd option with its default and its\n"
    "# allowed values.\n"
    "#\n"
    "# GENERATED from the option table in coordd/config.h: do not edit by\n"
    "# hand; run `make config-files` after changing the table (test_config\n"
    "# fails while this file and the table disagree).\n"
    "#\n"
    "# Install as /etc/coord/coordd.conf, which the systemd unit reads. Every\n"
    "# option below is commented out, so this file as it is runs the\n"
    "# defaults: one node on 127.0.0.1 with its data in ./coordd-data (the\n"
    "# unit runs in /var/lib/coord). Uncomment what you change. Each option\n"
    "# is also a flag, --key=value, and flags override this file. See\n"
    "# docs/configuration.md for the layout, precedence and examples.\n";

static void print_ini_value(FILE *f, const struct config_opt *o,
                            const char *val, bool commented)
{
    const char *c = commented ? "#" : "";

    if (o->type != CONFIG_T_MEMBERS || strchr(val, ',') == NULL) {
        fprintf(f, "%s%s =%s%s\n", c, o->key, val[0] ? " " : "", val);
        return;
    }
    /* One member per line: a long list stays under inih's line limit. */
    fprintf(f, "%s%s =", c, o->key);
    for (const char *p = val; *p;) {
        size_t n = strcspn(p, ",");
        fprintf(f, "%s%.*s%s\n", p == val ? " " : c[0] ? "#    " : "    ",
                (int)n, p, p[n] ? "," : "");
        p += n + (p[n] ? 1 : 0);
    }
}

void config_print_ini(FILE *f, const struct coordd_config *cfg,
                      bool annotate)
{
    static const char *const src_names[] = {"default", "file", "flag"};
    char val[CONFIG_MEMBERS_TEXT_BYTES], facts[256], flag[64];

    if (annotate)
        fputs(config_example_head, f);
    for (size_t s = 0; s < COORD_ARRAY_LEN(config_sections); s++) {
        fprintf(f, "%s[%s]\n", s > 0 || annotate ? "\n" : "",
                config_sections[s]);
        for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
            const struct config_opt *o = &config_opts[i];
            if (strcmp(o->section, config_sections[s]) != 0)
                continue;
            config_format_value(cfg, o, val, sizeof(val));
            if (annotate) {
                flag_name(o, flag, sizeof(flag));
                int n = snprintf(facts, sizeof(facts), "Flag: %s=%s. ", flag,
                                 metavar(o));
                opt_facts(o, val, facts + n, sizeof(facts) - (size_t)n);
                fputc('\n', f);
                print_wrapped(f, "# ", o->help);
                print_wrapped(f, "# ", facts);
            } else if (cfg->source[i] != CONFIG_SRC_DEFAULT) {
                fprintf(f, "# from the %s\n", src_names[cfg->source[i]]);
            }
            print_ini_value(f, o, val,
                            annotate && cfg->source[i] ==
                                            CONFIG_SRC_DEFAULT);
        }
    }
}

/* A markdown table cell: '|' would end the cell early. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s, f);
    }
}

void config_print_markdown(FILE *f)
{
    struct coordd_config def;
    char val[CONFIG_MEMBERS_TEXT_BYTES], facts[256], flag[64];

    config_defaults(&def);
    for (size_t s = 0; s < COORD_ARRAY_LEN(config_sections); s++) {
        fprintf(f, "%s### [%s]\n\n", s ? "\n" : "", config_sections[s]);
        fputs("| Key / flag | Default | Allowed | Meaning |\n"
              "|---|---|---|---|\n", f);
        for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
            const struct config_opt *o = &config_opts[i];
            if (strcmp(o->section, config_sections[s]) != 0)
                continue;
            config_format_value(&def, o, val, sizeof(val));
            flag_name(o, flag, sizeof(flag));
            if (is_num(o))
                snprintf(facts, sizeof(facts), "%lld..%lld",
                         (long long)o->min, (long long)o->max);
            else if (o->type == CONFIG_T_NAME || o->type == CONFIG_T_PATH)
                snprintf(facts, sizeof(facts), "%lld..%lld bytes",
                         (long long)o->min, (long long)o->max);
            else
                snprintf(facts, sizeof(facts), "%s", metavar(o));
            fprintf(f, "| `%s` `%s` | %s%s%s%s%s | %s | ", o->key, flag,
                    val[0] ? "`" : "", def_text(o, val), val[0] ? "`" : "",
                    is_num(o) ? unit_sep(o) : "", is_num(o) ? o->unit : "",
                    facts);
            md_cell(f, o->help);
            fputs(" |\n", f);
        }
    }
}
