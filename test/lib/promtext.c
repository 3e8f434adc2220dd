/* promtext.c -- a strict parser of the Prometheus text format 0.0.4 and
 * a plain-socket HTTP GET, for the metrics tests (see promtext.h). It must
 * stay independent of coordd's renderer: it checks the format from the
 * specification, not from how metrics.c happens to write it. */
#include "promtext.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fail(struct prom_scrape *s, int line, const char *fmt, ...)
{
    va_list ap;
    int k = snprintf(s->err, sizeof(s->err), "line %d: ", line);
    va_start(ap, fmt);
    vsnprintf(s->err + k, sizeof(s->err) - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static bool name_ok(const char *p, size_t n)
{
    if (n == 0 || n >= PROM_NAME_BYTES)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!(isalpha((unsigned char)c) || c == '_' || c == ':' ||
              (i > 0 && isdigit((unsigned char)c))))
            return false;
    }
    return true;
}

static struct prom_family *family(struct prom_scrape *s, const char *name,
                                  bool create)
{
    for (int i = 0; i < s->nf; i++)
        if (strcmp(s->f[i].name, name) == 0)
            return &s->f[i];
    if (!create || s->nf == PROM_FAMILIES_MAX)
        return NULL;
    struct prom_family *f = &s->f[s->nf++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    return f;
}

/* "# HELP name text" or "# TYPE name type"; other comments are allowed. */
static int parse_comment(struct prom_scrape *s, int ln, const char *l)
{
    bool help = strncmp(l, "# HELP ", 7) == 0;
    bool type = strncmp(l, "# TYPE ", 7) == 0;
    if (!help && !type)
        return 0;
    const char *p = l + 7, *e = p;
    while (*e && *e != ' ')
        e++;
    if (!name_ok(p, (size_t)(e - p)) || *e != ' ')
        return fail(s, ln, "bad %s line: %s", help ? "HELP" : "TYPE", l);
    char name[PROM_NAME_BYTES];
    snprintf(name, sizeof(name), "%.*s", (int)(e - p), p);
    struct prom_family *f = family(s, name, true);
    if (!f)
        return fail(s, ln, "too many families");
    if (help) {
        if (f->help)
            return fail(s, ln, "second HELP for %s", name);
        f->help = true;
        return 0;
    }
    const char *t = e + 1;
    if (strcmp(t, "counter") && strcmp(t, "gauge") &&
        strcmp(t, "histogram") && strcmp(t, "summary") &&
        strcmp(t, "untyped"))
        return fail(s, ln, "unknown type %s", t);
    if (f->type_seen)
        return fail(s, ln, "second TYPE for %s", name);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->s[i].family, name) == 0)
            return fail(s, ln, "TYPE of %s after its samples", name);
    f->type_seen = true;
    snprintf(f->type, sizeof(f->type), "%s", t);
    return 0;
}

/* Labels {k="v",...}: p at '{'; returns the char after '}' or NULL. */
static const char *parse_labels(const char *p, char *out, size_t cap)
{
    const char *start = ++p;
    while (*p != '}') {
        const char *k = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (p == k || isdigit((unsigned char)*k) || *p != '=' ||
            p[1] != '"')
            return NULL;
        p += 2;
        while (*p && *p != '"') {
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                    return NULL;
                p++;
            }
            p++;
        }
        if (*p != '"')
            return NULL;
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return NULL;
    }
    if ((size_t)(p - start) >= cap)
        return NULL;
    snprintf(out, cap, "%.*s", (int)(p - start), start);
    return p + 1;
}

static const char *family_of(struct prom_scrape *s, const char *name)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t n = strlen(name);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(sfx[i]);
        if (n > k && strcmp(name + n - k, sfx[i]) == 0) {
            char base[PROM_NAME_BYTES];
            snprintf(base, sizeof(base), "%.*s", (int)(n - k), name);
            struct prom_family *f = family(s, base, false);
            if (f && (strcmp(f->type, "histogram") == 0 ||
                      strcmp(f->type, "summary") == 0))
                return f->name;
        }
    }
    return name;
}

static int parse_sample(struct prom_scrape *s, int ln, const char *l)
{
    const char *e = l;
    while (*e && *e != '{' && *e != ' ')
        e++;
    if (!name_ok(l, (size_t)(e - l)))
        return fail(s, ln, "bad metric name: %s", l);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->s = realloc(s->s, (size_t)s->cap * sizeof(*s->s));
        if (!s->s)
            return fail(s, ln, "out of memory");
    }
    struct prom_sample *x = &s->s[s->n];
    memset(x, 0, sizeof(*x));
    snprintf(x->name, sizeof(x->name), "%.*s", (int)(e - l), l);
    if (*e == '{') {
        e = parse_labels(e, x->labels, sizeof(x->labels));
        if (!e)
            return fail(s, ln, "bad labels: %s", l);
    }
    if (*e != ' ')
        return fail(s, ln, "no value: %s", l);
    char *end = NULL;
    x->value = strtod(e + 1, &end);
    if (end == e + 1 || (*end && *end != ' '))
        return fail(s, ln, "bad value: %s", l);
    if (*end == ' ') { /* optional timestamp: an integer */
        char *t = NULL;
        strtoll(end + 1, &t, 10);
        if (t == end + 1 || *t)
            return fail(s, ln, "bad timestamp: %s", l);
    }
    snprintf(x->family, sizeof(x->family), "%s", family_of(s, x->name));
    struct prom_family *f = family(s, x->family, false);
    if (!f || !f->type_seen || !f->help)
        return fail(s, ln, "sample of %s before its HELP and TYPE",
                    x->family);
    if (strcmp(f->type, "counter") == 0 && x->value < 0)
        return fail(s, ln, "negative counter: %s", l);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->s[i].name, x->name) == 0 &&
            strcmp(s->s[i].labels, x->labels) == 0)
            return fail(s, ln, "duplicate series: %s", l);
    s->n++;
    return 0;
}

/* Labels without le="...": the histogram series key. */
static void strip_le(const char *labels, char *out, size_t cap, char *le,
                     size_t lecap)
{
    out[0] = le[0] = '\0';
    const char *p = strstr(labels, "le=\"");
    if (!p) {
        snprintf(out, cap, "%s", labels);
        return;
    }
    const char *q = strchr(p + 4, '"');
    snprintf(le, lecap, "%.*s", (int)(q - p - 4), p + 4);
    size_t pre = (size_t)(p - labels);
    if (pre > 0 && labels[pre - 1] == ',')
        pre--;
    const char *post = q + 1;
    if (*post == ',' && pre == 0)
        post++;
    snprintf(out, cap, "%.*s%s", (int)pre, labels, post);
}

static int check_histogram(struct prom_scrape *s, const char *fam)
{
    char bname[PROM_NAME_BYTES + 8], cname[PROM_NAME_BYTES + 8];
    snprintf(bname, sizeof(bname), "%s_bucket", fam);
    snprintf(cname, sizeof(cname), "%s_count", fam);
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->s[i].name, cname) != 0)
            continue;
        const char *key = s->s[i].labels;
        double last_le = -INFINITY, last_v = 0, inf = -1;
        int buckets = 0;
        for (int j = 0; j < s->n; j++) {
            char k2[PROM_LABELS_BYTES], le[32];
            if (strcmp(s->s[j].name, bname) != 0)
                continue;
            strip_le(s->s[j].labels, k2, sizeof(k2), le, sizeof(le));
            if (strcmp(k2, key) != 0)
                continue;
            double b = strcmp(le, "+Inf") == 0 ? INFINITY : atof(le);
            if (le[0] == '\0' || b <= last_le || s->s[j].value < last_v)
                return fail(s, 0, "%s{%s}: buckets not increasing or not "
                            "cumulative at le=%s", fam, key, le);
            last_le = b;
            last_v = s->s[j].value;
            buckets++;
            if (isinf(b))
                inf = s->s[j].value;
        }
        char sname[PROM_NAME_BYTES + 8];
        snprintf(sname, sizeof(sname), "%s_sum", fam);
        bool has_sum = false;
        prom_get(s, sname, key, &has_sum);
        if (buckets < 1 || inf < 0 || !has_sum)
            return fail(s, 0, "%s{%s}: no +Inf bucket or no _sum", fam,
                        key);
        if (inf != s->s[i].value)
            return fail(s, 0, "%s{%s}: _count %g != +Inf bucket %g", fam,
                        key, s->s[i].value, inf);
    }
    return 0;
}

int prom_parse(const char *text, size_t len, struct prom_scrape *s)
{
    const char *p = text, *end = text + len;
    int ln = 0;
    if (len == 0 || text[len - 1] != '\n')
        return fail(s, 0, "empty, or the last line has no newline");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char line[1024];
        ln++;
        if ((size_t)(nl - p) >= sizeof(line))
            return fail(s, ln, "line too long");
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        p = nl + 1;
        int rc = line[0] == '#' ? parse_comment(s, ln, line)
                 : line[0]      ? parse_sample(s, ln, line)
                                : fail(s, ln, "empty line");
        if (rc)
            return rc;
    }
    for (int i = 0; i < s->nf; i++) {
        if (!s->f[i].help || !s->f[i].type_seen)
            return fail(s, 0, "family %s lacks HELP or TYPE", s->f[i].name);
        if (strcmp(s->f[i].type, "histogram") == 0 &&
            check_histogram(s, s->f[i].name) != 0)
            return -1;
    }
    return 0;
}

void prom_free(struct prom_scrape *s)
{
    free(s->s);
    s->s = NULL;
    s->n = s->cap = 0;
}

double prom_get(const struct prom_scrape *s, const char *name,
                const char *labels, bool *found)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->s[i].name, name) == 0 &&
            strcmp(s->s[i].labels, labels) == 0) {
            if (found)
                *found = true;
            return s->s[i].value;
        }
    if (found)
        *found = false;
    return 0;
}

double prom_sum(const struct prom_scrape *s, const char *name,
                const char *substr)
{
    double v = 0;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->s[i].name, name) == 0 &&
            strstr(s->s[i].labels, substr))
            v += s->s[i].value;
    return v;
}

const char *prom_type(const struct prom_scrape *s, const char *fam)
{
    for (int i = 0; i < s->nf; i++)
        if (strcmp(s->f[i].name, fam) == 0)
            return s->f[i].type;
    return NULL;
}

int prom_check_monotonic(const struct prom_scrape *prev,
                         const struct prom_scrape *cur, char *err,
                         size_t errlen)
{
    for (int i = 0; i < prev->n; i++) {
        const struct prom_sample *x = &prev->s[i];
        const char *t = prom_type(prev, x->family);
        if (!t || (strcmp(t, "counter") && strcmp(t, "histogram")))
            continue;
        bool found = false;
        double v = prom_get(cur, x->name, x->labels, &found);
        if (!found || v < x->value) {
            snprintf(err, errlen, "%s{%s} went from %g to %s%g", x->name,
                     x->labels, x->value, found ? "" : "(missing) ", v);
            return -1;
        }
    }
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads until EOF (HTTP/1.0: the server closes). */
static char *read_all(int fd, int64_t deadline, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        int left = (int)(deadline - now_ms());
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        if (n + 4096 > cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0)
            n += (size_t)r;
    }
    free(buf);
    return NULL;
}

static int connect_to(const char *host, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int prom_fetch(const char *host, uint16_t port, const char *method,
               const char *path, int timeout_ms, int *status, char *ctype,
               size_t ctcap, char **body, size_t *len)
{
    int64_t deadline = now_ms() + timeout_ms;
    int fd = connect_to(host, port);
    if (fd < 0)
        return -1;
    char req[512];
    int k = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n",
                     method, path, host);
    if (write(fd, req, (size_t)k) != k) {
        close(fd);
        return -1;
    }
    size_t n = 0;
    char *resp = read_all(fd, deadline, &n);
    close(fd);
    if (!resp)
        return -1;
    char *hend = strstr(resp, "\r\n\r\n");
    if (!hend || sscanf(resp, "HTTP/1.%*d %d", status) != 1) {
        free(resp);
        return -1;
    }
    *hend = '\0';
    if (ctype) {
        ctype[0] = '\0';
        const char *ct = strcasestr(resp, "\r\nContent-Type: ");
        if (ct) {
            ct += 16;
            const char *e = strstr(ct, "\r\n");
            size_t cl = e ? (size_t)(e - ct) : strlen(ct);
            snprintf(ctype, ctcap, "%.*s", (int)cl, ct);
        }
    }
    size_t off = (size_t)(hend + 4 - resp);
    *len = n - off;
    memmove(resp, resp + off, *len + 1);
    *body = resp;
    return 0;
}
