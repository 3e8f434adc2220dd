/* promtext.h -- test helpers for coordd's metrics endpoint: fetch a page
 * with a plain HTTP/1.0 GET over a socket, parse the Prometheus text format
 * 0.0.4 strictly (every line well-formed, HELP and TYPE for every family
 * before its samples, histograms cumulative with _count equal to the +Inf
 * bucket) and compare two scrapes (counters never go down). Used by
 * test/unit/test_metrics.c and test/integration/test_metrics.c; not part
 * of any product binary. */
#ifndef TEST_PROMTEXT_H
#define TEST_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_NAME_BYTES 128
#define PROM_LABELS_BYTES 256
#define PROM_FAMILIES_MAX 128

struct prom_sample {
    char name[PROM_NAME_BYTES];     /* the series' metric name */
    char family[PROM_NAME_BYTES];   /* its family (histogram base name) */
    char labels[PROM_LABELS_BYTES]; /* k="v",k2="v2" as written, no braces */
    double value;
};

struct prom_family {
    char name[PROM_NAME_BYTES];
    char type[16];
    bool help;
    bool type_seen;
};

struct prom_scrape {
    struct prom_sample *s;
    int n;
    int cap;
    struct prom_family f[PROM_FAMILIES_MAX];
    int nf;
    char err[512]; /* what was wrong, for the failure message */
};

/* Parses text (len bytes) into *out (zero it first). 0, or -1 with
 * out->err saying which line and why. prom_free() in both cases. */
int prom_parse(const char *text, size_t len, struct prom_scrape *out);
void prom_free(struct prom_scrape *s);

/* The value of the series name{labels} (labels exactly as rendered, ""
 * for none); found says whether it exists (value 0 if not). */
double prom_get(const struct prom_scrape *s, const char *name,
                const char *labels, bool *found);
/* Sum over the series called name whose labels contain substr ("" all). */
double prom_sum(const struct prom_scrape *s, const char *name,
                const char *substr);
/* The type of a family ("counter", ...) or NULL. */
const char *prom_type(const struct prom_scrape *s, const char *family);

/* Every counter and histogram series of prev must be in cur with a value
 * at least as large. 0, or -1 with err filled. */
int prom_check_monotonic(const struct prom_scrape *prev,
                         const struct prom_scrape *cur, char *err,
                         size_t errlen);

/* GET path from host:port over HTTP/1.0. Fills *status, the Content-Type
 * (ctype, may be NULL) and *body (malloc'd, NUL-terminated; free()).
 * 0, or -1 if the connection or the response failed (errno kept for a
 * refused connection). timeout_ms bounds the whole exchange. */
int prom_fetch(const char *host, uint16_t port, const char *method,
               const char *path, int timeout_ms, int *status, char *ctype,
               size_t ctcap, char **body, size_t *len);

#endif /* TEST_PROMTEXT_H */
