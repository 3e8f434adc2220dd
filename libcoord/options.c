/* options.c -- client options: server list parsing, defaults and bounds,
 * the small PRNG used for shuffling servers and jittering reconnects, and
 * the reconnect backoff. Pure helpers (only the seed reads the kernel's
 * random source and the clock), unit-tested in test_client_parts.c. Must
 * not touch sockets or client state.
 */
#include "client_int.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "libcoord/shared/check.h"

void coord_options_init(struct coord_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->servers = "127.0.0.1:2281";
    opts->session_timeout_ms = 10000;
    opts->connect_timeout_ms = 1000;
    opts->request_timeout_ms = 10000;
    opts->ping_interval_ms = 300;
    opts->silent_timeout_ms = 1000;
    opts->backoff_initial_ms = 50;
    opts->backoff_max_ms = 2000;
    opts->leader_recheck_ms = 1000;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Parses a decimal port in [1, 65535] from s[0..len). */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
    uint32_t v = 0;
    if (len == 0 || len > 5)
        return COORD_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return COORD_EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return COORD_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static bool host_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
           ch == '_' || ch == ':' || ch == '%';
}

/* One entry s[0..len) without surrounding spaces. */
static int parse_entry(const char *s, size_t len, struct coord__server *out)
{
    const char *host = s, *port = NULL;
    size_t host_len = len, port_len = 0;
    if (len > 0 && s[0] == '[') { /* [v6]:port */
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return COORD_EINVAL;
        host = s + 1;
        host_len = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':')
                return COORD_EINVAL;
            port = close + 2;
            port_len = rest - 1;
        }
    } else {
        const char *colon = memrchr(s, ':', len);
        if (colon != NULL && memchr(s, ':', len) != colon)
            return COORD_EINVAL; /* bare IPv6 needs brackets */
        if (colon != NULL) {
            host_len = (size_t)(colon - s);
            port = colon + 1;
            port_len = len - host_len - 1;
        }
    }
    if (host_len == 0 || host_len > COORD__HOST_BYTES_MAX)
        return COORD_EINVAL;
    for (size_t i = 0; i < host_len; i++)
        if (!host_char_ok(host[i]))
            return COORD_EINVAL;
    out->port = COORD_CLIENT_PORT_DEFAULT;
    if (port != NULL && parse_port(port, port_len, &out->port) != 0)
        return COORD_EINVAL;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    return 0;
}

int coord__servers_parse(const char *list, struct coord__server *out,
                         size_t max, size_t *n)
{
    *n = 0;
    if (list == NULL)
        return COORD_EINVAL;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        while (len > 0 && is_space(*s)) {
            s++;
            len--;
        }
        while (len > 0 && is_space(s[len - 1]))
            len--;
        if (len == 0 || *n == max)
            return COORD_EINVAL;
        if (parse_entry(s, len, &out[*n]) != 0)
            return COORD_EINVAL;
        (*n)++;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

int coord__options_resolve(const struct coord_options *in,
                           struct coord_options *out)
{
    struct coord_options d;
    coord_options_init(&d);
    *out = *in;
    if (out->servers == NULL)
        out->servers = d.servers;
#define COORD__DEFAULT(f)                                                    \
    if (out->f == 0)                                                         \
        out->f = d.f;
    COORD__DEFAULT(session_timeout_ms)
    COORD__DEFAULT(connect_timeout_ms)
    COORD__DEFAULT(request_timeout_ms)
    COORD__DEFAULT(ping_interval_ms)
    COORD__DEFAULT(silent_timeout_ms)
    COORD__DEFAULT(backoff_initial_ms)
    COORD__DEFAULT(backoff_max_ms)
    COORD__DEFAULT(leader_recheck_ms)
#undef COORD__DEFAULT
    /* A ping must go out well within the silence bound, or a healthy but
     * idle server would look dead. */
    if (out->ping_interval_ms * 2 > out->silent_timeout_ms)
        return COORD_EINVAL;
    if (out->backoff_initial_ms > out->backoff_max_ms)
        return COORD_EINVAL;
    if (out->resume_session_id != 0 && out->resume_secret == NULL)
        return COORD_EINVAL;
    if (out->resume_session_id == 0 && out->resume_secret != NULL)
        return COORD_EINVAL;
    return 0;
}

uint64_t coord__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void coord__rng_seed(struct coord__rng *r)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
            (uint64_t)(uintptr_t)r;
    }
    r->s = s;
}

uint64_t coord__rng_next(struct coord__rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t coord__rng_below(struct coord__rng *r, uint64_t n)
{
    coord_assert(n > 0);
    /* Rejection sampling: no modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = coord__rng_next(r);
    while (v >= limit);
    return v % n;
}

void coord__servers_shuffle(struct coord__rng *r, struct coord__server *s,
                            size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)coord__rng_below(r, i);
        struct coord__server t = s[i - 1];
        s[i - 1] = s[j];
        s[j] = t;
    }
}

uint32_t coord__backoff_ms(struct coord__rng *r, uint32_t attempt,
                           uint32_t initial_ms, uint32_t max_ms)
{
    coord_assert(initial_ms <= max_ms);
    if (attempt == 0)
        return 0;
    uint64_t base = initial_ms;
    for (uint32_t i = 1; i < attempt && base < max_ms; i++)
        base *= 2;
    if (base > max_ms)
        base = max_ms;
    uint64_t half = base / 2;
    uint64_t d = half + coord__rng_below(r, base - half + 1);
    coord_assert(d <= max_ms);
    return (uint32_t)d;
}
