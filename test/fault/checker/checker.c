/* checker.c -- the linearizability checker declared in checker.h: history
 * storage, the text parser, the per-key Wing-Gong-Lowe search and reports.
 *
 * How it fits: test-only code linked into build/test/fault/lincheck, the
 * checker's unit test and the fault runners. Allocates through coord_malloc.
 *
 * What it must not do: accept a history it cannot interpret (bad input is
 * an error, never a guess), or report a verdict the search did not prove
 * (a blown budget is LINCHECK_UNKNOWN).
 *
 * The search, per key (Lowe, "Testing for linearizability", 2017):
 * - every operation becomes a call entry and, unless indeterminate, a return
 *   entry; all entries sit in one doubly linked list sorted by time (calls
 *   before returns at equal times, i.e. ties are treated as concurrent);
 * - walking from the head, a call entry whose operation the model accepts in
 *   the current state is "linearized": lifted out of the list (with its
 *   return) and pushed on a stack, and the walk restarts at the head;
 * - reaching a return entry means that operation was not linearized before
 *   it completed: backtrack (pop, relink, continue after the popped call);
 * - success when every operation with a return entry is linearized
 *   (indeterminate operations left over simply never happened);
 * - every configuration (bitset of linearized operations, model state) is
 *   memoised; a configuration seen before is not explored again.
 * Candidates that completed are tried before indeterminate ones (order only;
 * see lc_search_run). Three prunings keep indeterminate operations from
 * multiplying the search:
 * - an indeterminate operation whose effect would leave the state unchanged
 *   is never linearized (dropping it from any linearization keeps it valid);
 * - symmetry: indeterminate operations of the same kind and expected version
 *   whose value no read returns are interchangeable, except that an earlier
 *   invoked one may go anywhere a later one may. So only the earliest
 *   invoked unused one of such a class is ever tried (any linearization
 *   maps onto one that uses the earliest ones, in order);
 * - without deletes, versions only grow (absent counts as -1, create makes
 *   0, every set adds 1). An operation that recorded a version needs the
 *   state at exactly some version when it linearizes; a step that raises
 *   the version above the smallest such need of an unlinearized operation
 *   can never be completed, so it is refused. A segment tree over the
 *   operations keeps that minimum.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "checker.h"

/* ---- history storage ----------------------------------------------------- */

#define LC_NONE UINT32_MAX
#define LC_REQ_NONE INT64_MAX

/* One kept operation; strings are ids in the history's string table. */
struct lc_hop {
    uint32_t process;
    uint32_t line;
    uint8_t f;
    uint8_t status;
    uint8_t result;
    uint32_t key;
    uint32_t value; /* LC_NONE when the op carries no value */
    int64_t expected;
    int64_t version;
    int64_t invoke;
    int64_t complete;
};

struct lc_init {
    uint32_t key;
    uint32_t value;
    int64_t version;
};

struct lincheck_history {
    struct lc_hop *ops;
    size_t n_ops, cap_ops;
    char **strs; /* interned keys and values */
    size_t n_strs, cap_strs;
    uint32_t *str_ht; /* open addressing: string id + 1, 0 = empty */
    size_t ht_cap;
    struct lc_init *inits;
    size_t n_inits, cap_inits;
};

static void lc_errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void lc_errf(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Grows *p (elements of size sz) so that it holds at least need. */
static int lc_grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = coord_realloc(*p, c * sz);
    if (q == NULL)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static uint64_t lc_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int lc_ht_rehash(struct lincheck_history *h, size_t cap)
{
    uint32_t *t = coord_calloc(cap, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < h->n_strs; i++) {
        size_t j = lc_hash_str(h->strs[i]) & (cap - 1);
        while (t[j] != 0)
            j = (j + 1) & (cap - 1);
        t[j] = (uint32_t)i + 1;
    }
    coord_free(h->str_ht);
    h->str_ht = t;
    h->ht_cap = cap;
    return 0;
}

/* Interns s; returns its id in *id. */
static int lc_intern(struct lincheck_history *h, const char *s, uint32_t *id)
{
    if (h->ht_cap == 0 || (h->n_strs + 1) * 2 > h->ht_cap) {
        int rc = lc_ht_rehash(h, h->ht_cap ? h->ht_cap * 2 : 64);
        if (rc < 0)
            return rc;
    }
    size_t j = lc_hash_str(s) & (h->ht_cap - 1);
    while (h->str_ht[j] != 0) {
        uint32_t cand = h->str_ht[j] - 1;
        if (strcmp(h->strs[cand], s) == 0) {
            *id = cand;
            return 0;
        }
        j = (j + 1) & (h->ht_cap - 1);
    }
    if (h->n_strs >= (1u << 30))
        return -ENOMEM; /* state packing keeps value ids below 2^31 */
    if (lc_grow((void **)&h->strs, &h->cap_strs, h->n_strs + 1,
                sizeof(*h->strs)) < 0)
        return -ENOMEM;
    char *copy = coord_strndup(s, strlen(s));
    if (copy == NULL)
        return -ENOMEM;
    h->strs[h->n_strs] = copy;
    h->str_ht[j] = (uint32_t)h->n_strs + 1;
    *id = (uint32_t)h->n_strs++;
    return 0;
}

struct lincheck_history *lincheck_history_new(void)
{
    return coord_calloc(1, sizeof(struct lincheck_history));
}

void lincheck_history_free(struct lincheck_history *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n_strs; i++)
        coord_free(h->strs[i]);
    coord_free(h->strs);
    coord_free(h->str_ht);
    coord_free(h->ops);
    coord_free(h->inits);
    coord_free(h);
}

size_t lincheck_history_len(const struct lincheck_history *h)
{
    return h->n_ops;
}

static bool lc_token_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] == ' ' || s[n] == '\t' || s[n] == '\n' || s[n] == '\r')
            return false;
    return n <= LINCHECK_TOKEN_BYTES_MAX;
}

/* coord versions are int32_t; absent keys have none. */
static bool lc_version_ok(int64_t v)
{
    return v >= 0 && v <= INT32_MAX;
}

int lincheck_history_init_key(struct lincheck_history *h, const char *key,
                              const char *value, int64_t version)
{
    if (!lc_token_ok(key) || !lc_token_ok(value) || !lc_version_ok(version))
        return -EINVAL;
    uint32_t k, v;
    if (lc_intern(h, key, &k) < 0 || lc_intern(h, value, &v) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < h->n_inits; i++)
        if (h->inits[i].key == k)
            return -EINVAL; /* declared twice */
    if (lc_grow((void **)&h->inits, &h->cap_inits, h->n_inits + 1,
                sizeof(*h->inits)) < 0)
        return -ENOMEM;
    h->inits[h->n_inits++] = (struct lc_init){k, v, version};
    return 0;
}

/* Which results each operation may report when OK. */
static bool lc_result_ok(const struct lincheck_op *op)
{
    switch (op->f) {
    case LINCHECK_READ:
        return op->result == LINCHECK_R_DONE ||
               op->result == LINCHECK_R_NOTFOUND;
    case LINCHECK_WRITE:
        return op->result == LINCHECK_R_DONE ||
               op->result == LINCHECK_R_NONODE;
    case LINCHECK_CAS:
    case LINCHECK_DELETE:
        return op->result == LINCHECK_R_DONE ||
               op->result == LINCHECK_R_NONODE ||
               op->result == LINCHECK_R_BADVERSION;
    case LINCHECK_CREATE:
        return op->result == LINCHECK_R_DONE ||
               op->result == LINCHECK_R_EXISTS;
    }
    return false;
}

/* Validates op; NULL if fine, else a reason. */
static const char *lc_validate(const struct lincheck_op *op)
{
    if (op->f < LINCHECK_READ || op->f > LINCHECK_DELETE)
        return "unknown operation";
    if (op->status < LINCHECK_OK || op->status > LINCHECK_INFO)
        return "unknown status";
    if (!lc_token_ok(op->key))
        return "bad key";
    bool takes_value = op->f == LINCHECK_WRITE || op->f == LINCHECK_CAS ||
                       op->f == LINCHECK_CREATE;
    if (takes_value && !lc_token_ok(op->value))
        return "bad or missing value";
    if ((op->f == LINCHECK_CAS || op->f == LINCHECK_DELETE) &&
        op->expected_version != LINCHECK_VERSION_ANY &&
        !lc_version_ok(op->expected_version))
        return "bad expected version";
    if (op->invoke_ns < 0)
        return "negative invocation time";
    if (op->status == LINCHECK_INFO)
        return NULL;
    if (op->complete_ns < op->invoke_ns || op->complete_ns == LINCHECK_TIME_INF)
        return "completion before invocation";
    if (op->status == LINCHECK_FAIL)
        return NULL;
    if (!lc_result_ok(op))
        return "result not possible for this operation";
    if (op->f == LINCHECK_READ && op->result == LINCHECK_R_DONE &&
        !lc_token_ok(op->value))
        return "read without a value";
    if (op->version != LINCHECK_VERSION_UNKNOWN && !lc_version_ok(op->version))
        return "bad version";
    if (op->f == LINCHECK_CREATE && op->result == LINCHECK_R_DONE &&
        op->version != LINCHECK_VERSION_UNKNOWN && op->version != 0)
        return "a created key has version 0";
    return NULL;
}

int lincheck_history_add(struct lincheck_history *h,
                         const struct lincheck_op *op, char *err,
                         size_t err_len)
{
    const char *why = lc_validate(op);
    if (why != NULL) {
        lc_errf(err, err_len, "%s", why);
        return -EINVAL;
    }
    /* Definite failures and indeterminate reads had no effect. */
    if (op->status == LINCHECK_FAIL ||
        (op->status == LINCHECK_INFO && op->f == LINCHECK_READ))
        return 0;
    struct lc_hop o = {
        .process = op->process,
        .line = op->line,
        .f = (uint8_t)op->f,
        .status = (uint8_t)op->status,
        .result = (uint8_t)op->result,
        .value = LC_NONE,
        .expected = op->expected_version,
        .version = op->version,
        .invoke = op->invoke_ns,
        .complete = op->status == LINCHECK_INFO ? LINCHECK_TIME_INF
                                                : op->complete_ns,
    };
    if (o.status == LINCHECK_INFO) {
        o.result = LINCHECK_R_DONE;
        o.version = LINCHECK_VERSION_UNKNOWN;
    }
    if (o.f != LINCHECK_CAS && o.f != LINCHECK_DELETE)
        o.expected = LINCHECK_VERSION_ANY;
    if (lc_intern(h, op->key, &o.key) < 0)
        return -ENOMEM;
    bool has_value = o.f == LINCHECK_WRITE || o.f == LINCHECK_CAS ||
                     o.f == LINCHECK_CREATE ||
                     (o.f == LINCHECK_READ && o.result == LINCHECK_R_DONE);
    if (has_value && lc_intern(h, op->value, &o.value) < 0)
        return -ENOMEM;
    if (lc_grow((void **)&h->ops, &h->cap_ops, h->n_ops + 1,
                sizeof(*h->ops)) < 0)
        return -ENOMEM;
    h->ops[h->n_ops++] = o;
    return 0;
}

/* ---- text parser --------------------------------------------------------- */

#define LC_TOKENS_MAX 8
#define LC_LINE_BYTES_MAX 4096

struct lc_pending {
    struct lincheck_op op;
    char key[LINCHECK_TOKEN_BYTES_MAX + 1];
    char value[LINCHECK_TOKEN_BYTES_MAX + 1];
};

struct lc_parser {
    struct lincheck_history *h;
    struct lc_pending *pend; /* invoked, not yet completed */
    size_t n_pend, cap_pend;
    uint32_t line;
    char *err;
    size_t err_len;
};

static int lc_bad(struct lc_parser *p, const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, arg);
    lc_errf(p->err, p->err_len, "line %" PRIu32 ": %s", p->line, msg);
    return -EINVAL;
}

static bool lc_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* A version token: a number, or "*" for one the client did not see. */
static bool lc_parse_version(const char *s, int64_t *out)
{
    if (strcmp(s, "*") == 0) {
        *out = LINCHECK_VERSION_UNKNOWN;
        return true;
    }
    return lc_parse_i64(s, out) && lc_version_ok(*out);
}

static const struct {
    const char *name;
    enum lincheck_f f;
    int min_args, max_args; /* after the key */
} lc_fnames[] = {
    {"read", LINCHECK_READ, 0, 0},     {"write", LINCHECK_WRITE, 1, 1},
    {"cas", LINCHECK_CAS, 2, 2},       {"create", LINCHECK_CREATE, 1, 1},
    {"delete", LINCHECK_DELETE, 0, 1},
};

static struct lc_pending *lc_find_pending(struct lc_parser *p, uint32_t proc)
{
    for (size_t i = 0; i < p->n_pend; i++)
        if (p->pend[i].op.process == proc)
            return &p->pend[i];
    return NULL;
}

/* "<t> <p> invoke <f> <key> [args]" */
static int lc_parse_invoke(struct lc_parser *p, char **tok, int nt,
                           int64_t t, uint32_t proc)
{
    if (lc_find_pending(p, proc) != NULL)
        return lc_bad(p, "process %s invoked while its last op is pending",
                      tok[1]);
    if (nt < 5)
        return lc_bad(p, "%s", "invoke needs an operation and a key");
    size_t i = 0;
    while (i < COORD_ARRAY_LEN(lc_fnames) && strcmp(lc_fnames[i].name, tok[3]))
        i++;
    if (i == COORD_ARRAY_LEN(lc_fnames))
        return lc_bad(p, "unknown operation '%s'", tok[3]);
    int nargs = nt - 5;
    if (nargs < lc_fnames[i].min_args || nargs > lc_fnames[i].max_args)
        return lc_bad(p, "wrong number of arguments for %s", tok[3]);
    if (strlen(tok[4]) > LINCHECK_TOKEN_BYTES_MAX)
        return lc_bad(p, "%s", "key too long");
    if (lc_grow((void **)&p->pend, &p->cap_pend, p->n_pend + 1,
                sizeof(*p->pend)) < 0)
        return -ENOMEM;
    struct lc_pending *pe = &p->pend[p->n_pend++];
    memset(pe, 0, sizeof(*pe));
    pe->op.process = proc;
    pe->op.f = lc_fnames[i].f;
    pe->op.invoke_ns = t;
    pe->op.line = p->line;
    pe->op.expected_version = LINCHECK_VERSION_ANY;
    pe->op.version = LINCHECK_VERSION_UNKNOWN;
    memcpy(pe->key, tok[4], strlen(tok[4]) + 1);
    const char *val = NULL;
    if (pe->op.f == LINCHECK_CAS || (pe->op.f == LINCHECK_DELETE && nargs)) {
        if (!lc_parse_i64(tok[5], &pe->op.expected_version) ||
            (pe->op.expected_version != LINCHECK_VERSION_ANY &&
             !lc_version_ok(pe->op.expected_version))) {
            p->n_pend--;
            return lc_bad(p, "bad expected version '%s'", tok[5]);
        }
        val = pe->op.f == LINCHECK_CAS ? tok[6] : NULL;
    } else if (nargs == 1) {
        val = tok[5];
    }
    if (val != NULL) {
        if (strlen(val) > LINCHECK_TOKEN_BYTES_MAX) {
            p->n_pend--;
            return lc_bad(p, "%s", "value too long");
        }
        memcpy(pe->value, val, strlen(val) + 1);
    }
    return 0;
}

/* The results after "ok" (tok[0..nt)), per docs/testing.md. */
static int lc_parse_result(struct lc_parser *p, struct lc_pending *pe,
                           char **tok, int nt)
{
    struct lincheck_op *op = &pe->op;
    op->result = LINCHECK_R_DONE;
    op->version = LINCHECK_VERSION_UNKNOWN;
    if (op->f == LINCHECK_READ) {
        if (nt == 1 && strcmp(tok[0], "notfound") == 0) {
            op->result = LINCHECK_R_NOTFOUND;
            return 0;
        }
        if (nt != 2 || strlen(tok[0]) > LINCHECK_TOKEN_BYTES_MAX)
            return lc_bad(p, "%s", "read ok needs '<value> <version|*>' "
                                   "or 'notfound'");
        memcpy(pe->value, tok[0], strlen(tok[0]) + 1);
        if (!lc_parse_version(tok[1], &op->version))
            return lc_bad(p, "bad version '%s'", tok[1]);
        return 0;
    }
    if (nt == 0)
        return 0;
    if (nt > 1)
        return lc_bad(p, "%s", "too many results");
    if (strcmp(tok[0], "nonode") == 0)
        op->result = LINCHECK_R_NONODE;
    else if (strcmp(tok[0], "badversion") == 0)
        op->result = LINCHECK_R_BADVERSION;
    else if (strcmp(tok[0], "exists") == 0)
        op->result = LINCHECK_R_EXISTS;
    else if (op->f == LINCHECK_DELETE ||
             !lc_parse_version(tok[0], &op->version))
        return lc_bad(p, "bad result '%s'", tok[0]);
    if (op->f == LINCHECK_CREATE && op->version != LINCHECK_VERSION_UNKNOWN &&
        op->version != 0)
        return lc_bad(p, "%s", "a created key has version 0");
    return 0;
}

static int lc_submit(struct lc_parser *p, struct lc_pending *pe)
{
    pe->op.key = pe->key;
    pe->op.value = pe->value[0] ? pe->value : NULL;
    char why[128];
    int rc = lincheck_history_add(p->h, &pe->op, why, sizeof(why));
    if (rc == -EINVAL) {
        lc_errf(p->err, p->err_len, "line %" PRIu32 " (invoked on line %"
                PRIu32 "): %s", p->line, pe->op.line, why);
    }
    /* Remove pe from the pending table (order does not matter). */
    *pe = p->pend[--p->n_pend];
    return rc;
}

/* "<t> <p> ok|fail|info [...]" */
static int lc_parse_complete(struct lc_parser *p, char **tok, int nt,
                             int64_t t, uint32_t proc)
{
    struct lc_pending *pe = lc_find_pending(p, proc);
    if (pe == NULL)
        return lc_bad(p, "process %s completes nothing", tok[1]);
    if (t < pe->op.invoke_ns)
        return lc_bad(p, "%s", "completion time before invocation time");
    pe->op.complete_ns = t;
    if (strcmp(tok[2], "ok") == 0) {
        pe->op.status = LINCHECK_OK;
        int rc = lc_parse_result(p, pe, tok + 3, nt - 3);
        if (rc < 0)
            return rc;
    } else if (strcmp(tok[2], "fail") == 0) {
        pe->op.status = LINCHECK_FAIL;
    } else {
        pe->op.status = LINCHECK_INFO;
        pe->op.complete_ns = LINCHECK_TIME_INF;
    }
    return lc_submit(p, pe);
}

/* "init <key> <value> <version>" */
static int lc_parse_init(struct lc_parser *p, char **tok, int nt)
{
    int64_t v;
    if (nt != 4 || !lc_parse_i64(tok[3], &v))
        return lc_bad(p, "%s", "init needs '<key> <value> <version>'");
    int rc = lincheck_history_init_key(p->h, tok[1], tok[2], v);
    if (rc == -EINVAL)
        return lc_bad(p, "bad or repeated init of key '%s'", tok[1]);
    return rc;
}

static int lc_parse_line(struct lc_parser *p, char *s)
{
    char *tok[LC_TOKENS_MAX + 1];
    int nt = 0;
    char *save = NULL;
    for (char *w = strtok_r(s, " \t\r\n", &save); w != NULL;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (w[0] == '#')
            break;
        if (nt == LC_TOKENS_MAX)
            return lc_bad(p, "%s", "too many fields");
        tok[nt++] = w;
    }
    if (nt == 0)
        return 0;
    if (strcmp(tok[0], "init") == 0)
        return lc_parse_init(p, tok, nt);
    int64_t t, proc;
    if (nt < 3)
        return lc_bad(p, "%s", "expected '<time_ns> <process> <event> ...'");
    if (!lc_parse_i64(tok[0], &t) || t < 0 || t == LINCHECK_TIME_INF)
        return lc_bad(p, "bad time '%s'", tok[0]);
    if (!lc_parse_i64(tok[1], &proc) || proc < 0 || proc > UINT32_MAX)
        return lc_bad(p, "bad process '%s'", tok[1]);
    if (strcmp(tok[2], "invoke") == 0)
        return lc_parse_invoke(p, tok, nt, t, (uint32_t)proc);
    if (strcmp(tok[2], "ok") == 0 || strcmp(tok[2], "fail") == 0 ||
        strcmp(tok[2], "info") == 0)
        return lc_parse_complete(p, tok, nt, t, (uint32_t)proc);
    return lc_bad(p, "unknown event '%s'", tok[2]);
}

/* Operations still pending at the end never completed: indeterminate. */
static int lc_parse_finish(struct lc_parser *p)
{
    while (p->n_pend > 0) {
        struct lc_pending *pe = &p->pend[0];
        pe->op.status = LINCHECK_INFO;
        pe->op.complete_ns = LINCHECK_TIME_INF;
        int rc = lc_submit(p, pe);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Feeds lines from either a FILE or a string. */
static int lc_parse(struct lincheck_history *h, FILE *in, const char *text,
                    char *err, size_t err_len)
{
    struct lc_parser p = {.h = h, .err = err, .err_len = err_len};
    char buf[LC_LINE_BYTES_MAX + 2];
    int rc = 0;
    for (;;) {
        if (in != NULL) {
            if (fgets(buf, sizeof(buf), in) == NULL)
                break;
        } else {
            if (*text == '\0')
                break;
            size_t n = strcspn(text, "\n");
            size_t c = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
            memcpy(buf, text, c);
            buf[c] = '\0';
            text += n + (text[n] == '\n');
        }
        p.line++;
        if (strlen(buf) > LC_LINE_BYTES_MAX) {
            rc = lc_bad(&p, "%s", "line too long");
            break;
        }
        rc = lc_parse_line(&p, buf);
        if (rc < 0)
            break;
    }
    if (rc == 0 && in != NULL && ferror(in))
        rc = lc_bad(&p, "%s", "read error");
    if (rc == 0)
        rc = lc_parse_finish(&p);
    coord_free(p.pend);
    return rc;
}

int lincheck_history_parse(struct lincheck_history *h, FILE *in, char *err,
                           size_t err_len)
{
    return lc_parse(h, in, NULL, err, err_len);
}

int lincheck_history_parse_string(struct lincheck_history *h,
                                  const char *text, char *err,
                                  size_t err_len)
{
    return lc_parse(h, NULL, text, err, err_len);
}

/* ---- the model ----------------------------------------------------------- */

/* A state packs into 64 bits: bit 63 = exists, bits 32..62 = value id,
 * bits 0..31 = version. Absent states are all zero. */
#define LC_EXISTS (1ull << 63)

static uint64_t lc_state(uint32_t value, int64_t version)
{
    return LC_EXISTS | ((uint64_t)value << 32) | (uint32_t)version;
}

static bool lc_exists(uint64_t s)
{
    return (s & LC_EXISTS) != 0;
}

static uint32_t lc_value(uint64_t s)
{
    return (uint32_t)((s >> 32) & 0x7fffffffu);
}

/* The version ordering used by the bound: absent is -1. */
static int64_t lc_sver(uint64_t s)
{
    return lc_exists(s) ? (int64_t)(uint32_t)s : -1;
}

/* The effect of op on state s, as coord applies it. */
static uint64_t lc_effect(const struct lc_hop *op, uint64_t s, uint8_t *res)
{
    bool ex = lc_exists(s);
    int64_t ver = lc_sver(s);
    bool match = op->expected == LINCHECK_VERSION_ANY || op->expected == ver;
    switch (op->f) {
    case LINCHECK_READ:
        *res = ex ? LINCHECK_R_DONE : LINCHECK_R_NOTFOUND;
        return s;
    case LINCHECK_WRITE:
    case LINCHECK_CAS:
        *res = !ex ? LINCHECK_R_NONODE
                   : match ? LINCHECK_R_DONE : LINCHECK_R_BADVERSION;
        if (*res != LINCHECK_R_DONE || ver >= INT32_MAX)
            return s;
        return lc_state(op->value, ver + 1);
    case LINCHECK_CREATE:
        *res = ex ? LINCHECK_R_EXISTS : LINCHECK_R_DONE;
        return ex ? s : lc_state(op->value, 0);
    case LINCHECK_DELETE:
        *res = !ex ? LINCHECK_R_NONODE
                   : match ? LINCHECK_R_DONE : LINCHECK_R_BADVERSION;
        return *res == LINCHECK_R_DONE ? 0 : s;
    }
    coord_panic("unknown operation");
}

/* Whether op may linearize in state s; the next state in *next. */
static bool lc_step(const struct lc_hop *op, uint64_t s, uint64_t *next)
{
    uint8_t res;
    *next = lc_effect(op, s, &res);
    if (op->status == LINCHECK_INFO)
        return *next != s; /* a no-op adds nothing: never linearize it */
    if (res != op->result)
        return false;
    if (op->f == LINCHECK_READ && res == LINCHECK_R_DONE) {
        if (lc_value(s) != op->value)
            return false;
        return op->version == LINCHECK_VERSION_UNKNOWN ||
               op->version == lc_sver(s);
    }
    if (res == LINCHECK_R_DONE && op->version != LINCHECK_VERSION_UNKNOWN &&
        (op->f == LINCHECK_WRITE || op->f == LINCHECK_CAS))
        return op->version == lc_sver(*next) && *next != s;
    return true;
}

/* The exact version op needs when it linearizes, or LC_REQ_NONE. */
static int64_t lc_requirement(const struct lc_hop *op)
{
    if (op->status == LINCHECK_INFO)
        return LC_REQ_NONE;
    bool done = op->result == LINCHECK_R_DONE;
    bool known = op->version != LINCHECK_VERSION_UNKNOWN;
    switch (op->f) {
    case LINCHECK_READ:
        if (!done)
            return -1;
        return known ? op->version : LC_REQ_NONE;
    case LINCHECK_WRITE:
    case LINCHECK_CAS:
        if (op->result == LINCHECK_R_NONODE)
            return -1;
        if (!done)
            return LC_REQ_NONE;
        if (op->expected != LINCHECK_VERSION_ANY)
            return op->expected;
        return known ? op->version - 1 : LC_REQ_NONE;
    case LINCHECK_CREATE:
        return done ? -1 : LC_REQ_NONE;
    default:
        return LC_REQ_NONE;
    }
}

/* ---- the search ---------------------------------------------------------- */

/* One list entry: the call or the return of operation op. */
struct lc_entry {
    int32_t op;
    int32_t match; /* call: its return entry, or -1 (indeterminate) */
    int32_t prev, next;
    bool call;
    uint32_t pos; /* position in time order, for explanations */
};

/* A memo slot: a configuration's hash, state and bitset (in the arena). */
struct lc_slot {
    uint64_t hash;
    uint64_t state;
    uint32_t idx1; /* arena entry + 1; 0 = empty slot */
};

struct lc_frame {
    int32_t entry;  /* the call entry linearized */
    uint64_t state; /* the state before it */
};

struct lc_search {
    const struct lincheck_history *h;
    struct lc_hop *ops; /* this key's operations */
    size_t n;
    struct lc_entry *ent; /* [0] is the head sentinel */
    size_t n_ent;
    uint64_t *bits; /* linearized operations */
    size_t words;
    uint64_t bits_hash; /* xor of zob[] over set bits */
    uint64_t *zob;
    struct lc_slot *table;
    size_t cap, used;
    uint64_t *arena; /* used * words bitsets */
    size_t arena_cap; /* in bitsets */
    size_t bytes_max;
    bool plain; /* lincheck_options.plain */
    bool use_bound;
    int32_t *sym_prev; /* symmetry class predecessor, or -1 */
    int64_t *seg; /* min-tree over requirements; leaves at [seg_p + i] */
    size_t seg_p;
    struct lc_frame *stack;
    size_t depth;
    uint64_t steps;
    /* Explanation: the latest (in time order) return entry the search was
     * stuck at, with the states it was stuck in. */
    int64_t best_pos;
    int32_t best_op;
    uint64_t best_states[LINCHECK_EXPLAIN_STATES_MAX];
    size_t n_best_states;
    bool best_more;
    int32_t prune_op, prune_by;     /* last bound prune at this config */
    uint64_t epoch;                 /* changes with every push and pop */
    uint64_t *pruned_epoch;         /* per op: epoch of its last prune */
    int32_t *pruned_by;             /* per op: the op whose need blocked it */
    int32_t best_prune_op, best_prune_by;
};

static uint64_t lc_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull; /* splitmix64 finaliser */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void lc_seg_set(struct lc_search *s, size_t i, int64_t v)
{
    size_t j = s->seg_p + i;
    s->seg[j] = v;
    for (j /= 2; j >= 1; j /= 2) {
        int64_t a = s->seg[2 * j], b = s->seg[2 * j + 1];
        s->seg[j] = a < b ? a : b;
    }
}

/* The unlinearized operation holding the smallest requirement. */
static int32_t lc_seg_argmin(const struct lc_search *s)
{
    size_t j = 1;
    while (j < s->seg_p)
        j = s->seg[2 * j] == s->seg[j] ? 2 * j : 2 * j + 1;
    return (int32_t)(j - s->seg_p);
}

static size_t lc_memo_bytes(const struct lc_search *s, size_t cap,
                            size_t arena_cap)
{
    return cap * sizeof(struct lc_slot) + arena_cap * s->words * 8;
}

static int lc_memo_rehash(struct lc_search *s, size_t cap)
{
    struct lc_slot *t = coord_calloc(cap, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->table[i].idx1 == 0)
            continue;
        size_t j = s->table[i].hash & (cap - 1);
        while (t[j].idx1 != 0)
            j = (j + 1) & (cap - 1);
        t[j] = s->table[i];
    }
    coord_free(s->table);
    s->table = t;
    s->cap = cap;
    return 0;
}

/* Makes room for one more configuration: 0, -ENOMEM, or -ENOSPC when the
 * budget would be exceeded. */
static int lc_memo_reserve(struct lc_search *s)
{
    size_t cap = s->cap, acap = s->arena_cap;
    if ((s->used + 1) * 2 > cap)
        cap = cap ? cap * 2 : 1024;
    if (s->used + 1 > acap)
        acap = acap ? acap * 2 : 1024;
    if (cap == s->cap && acap == s->arena_cap)
        return 0;
    if (lc_memo_bytes(s, cap, acap) > s->bytes_max)
        return -ENOSPC;
    if (cap != s->cap && lc_memo_rehash(s, cap) < 0)
        return -ENOMEM;
    if (acap != s->arena_cap) {
        uint64_t *a = coord_realloc(s->arena, acap * s->words * 8);
        if (a == NULL)
            return -ENOMEM;
        s->arena = a;
        s->arena_cap = acap;
    }
    return 0;
}

/* Records the current bitset with state st: 1 if new, 0 if seen before,
 * or a negative error from lc_memo_reserve(). */
static int lc_memo_insert(struct lc_search *s, uint64_t st)
{
    int rc = lc_memo_reserve(s);
    if (rc < 0)
        return rc;
    uint64_t hash = lc_mix(s->bits_hash ^ lc_mix(st));
    size_t j = hash & (s->cap - 1);
    while (s->table[j].idx1 != 0) {
        const struct lc_slot *sl = &s->table[j];
        if (sl->hash == hash && sl->state == st &&
            memcmp(s->arena + (size_t)(sl->idx1 - 1) * s->words, s->bits,
                   s->words * 8) == 0)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    memcpy(s->arena + s->used * s->words, s->bits, s->words * 8);
    s->table[j] = (struct lc_slot){hash, st, (uint32_t)s->used + 1};
    s->used++;
    return 1;
}

static void lc_flip(struct lc_search *s, int32_t op)
{
    s->bits[op / 64] ^= 1ull << (op % 64);
    s->bits_hash ^= s->zob[op];
}

static void lc_lift(struct lc_search *s, int32_t c)
{
    struct lc_entry *e = s->ent;
    int32_t r = e[c].match;
    e[e[c].prev].next = e[c].next;
    if (e[c].next >= 0)
        e[e[c].next].prev = e[c].prev;
    if (r >= 0) {
        e[e[r].prev].next = e[r].next;
        if (e[r].next >= 0)
            e[e[r].next].prev = e[r].prev;
    }
}

static void lc_unlift(struct lc_search *s, int32_t c)
{
    struct lc_entry *e = s->ent;
    int32_t r = e[c].match;
    if (r >= 0) {
        e[e[r].prev].next = r;
        if (e[r].next >= 0)
            e[e[r].next].prev = r;
    }
    e[e[c].prev].next = c;
    if (e[c].next >= 0)
        e[e[c].next].prev = c;
}

/* The version bound: whether op may move the state to next. On success op's
 * own requirement is withdrawn (it is being linearized). */
static bool lc_bound_take(struct lc_search *s, int32_t op, uint64_t next)
{
    if (!s->use_bound)
        return true;
    int64_t req = s->seg[s->seg_p + op];
    if (req != LC_REQ_NONE)
        lc_seg_set(s, op, LC_REQ_NONE);
    if (lc_sver(next) <= s->seg[1])
        return true;
    s->prune_op = op;
    s->prune_by = lc_seg_argmin(s);
    s->pruned_epoch[op] = s->epoch;
    s->pruned_by[op] = s->prune_by;
    if (req != LC_REQ_NONE)
        lc_seg_set(s, op, req);
    return false;
}

static void lc_bound_give_back(struct lc_search *s, int32_t op)
{
    if (!s->use_bound)
        return;
    int64_t req = lc_requirement(&s->ops[op]);
    if (req != LC_REQ_NONE)
        lc_seg_set(s, op, req);
}

/* Notes that the search is stuck at return entry r in state st. */
static void lc_note_stuck(struct lc_search *s, int32_t r, uint64_t st)
{
    int64_t pos = s->ent[r].pos;
    if (pos > s->best_pos) {
        s->best_pos = pos;
        s->best_op = s->ent[r].op;
        s->n_best_states = 0;
        s->best_more = false;
        s->best_prune_op = s->best_prune_by = -1;
    }
    if (pos != s->best_pos)
        return;
    int32_t op = s->ent[r].op;
    if (s->pruned_epoch[op] == s->epoch) { /* the stuck op was blocked */
        s->best_prune_op = op;
        s->best_prune_by = s->pruned_by[op];
    } else if (s->prune_op >= 0 && s->best_prune_op < 0) {
        s->best_prune_op = s->prune_op;
        s->best_prune_by = s->prune_by;
    }
    for (size_t i = 0; i < s->n_best_states; i++)
        if (s->best_states[i] == st)
            return;
    if (s->n_best_states < LINCHECK_EXPLAIN_STATES_MAX)
        s->best_states[s->n_best_states++] = st;
    else
        s->best_more = true;
}

/* Tries to linearize the operation of call entry c: 1 done (pushed),
 * 0 not possible here, <0 budget or memory. */
static int lc_try(struct lc_search *s, int32_t c, uint64_t *state,
                  size_t *remaining)
{
    int32_t op = s->ent[c].op;
    uint64_t next;
    int32_t sp = s->sym_prev[op];
    if (sp >= 0 && !(s->bits[sp / 64] & (1ull << (sp % 64))))
        return 0; /* an interchangeable earlier op must be used first */
    s->steps++;
    if (!lc_step(&s->ops[op], *state, &next) || !lc_bound_take(s, op, next))
        return 0;
    lc_flip(s, op);
    int rc = lc_memo_insert(s, next);
    if (rc <= 0) {
        lc_flip(s, op);
        lc_bound_give_back(s, op);
        return rc;
    }
    s->stack[s->depth++] = (struct lc_frame){c, *state};
    *state = next;
    lc_lift(s, c);
    if (s->ent[c].match >= 0)
        (*remaining)--;
    s->prune_op = -1;
    s->epoch++;
    return 1;
}

/* Undoes the last linearization; returns the entry to continue from. */
static int32_t lc_pop(struct lc_search *s, uint64_t *state, size_t *remaining)
{
    coord_assert(s->depth > 0);
    struct lc_frame fr = s->stack[--s->depth];
    int32_t op = s->ent[fr.entry].op;
    lc_unlift(s, fr.entry);
    lc_flip(s, op);
    lc_bound_give_back(s, op);
    if (s->ent[fr.entry].match >= 0)
        (*remaining)++;
    *state = fr.state;
    s->prune_op = -1;
    s->epoch++;
    return s->ent[fr.entry].next;
}

/* The WGL loop. Returns the verdict, or -ENOMEM.
 *
 * The candidates at a configuration are the calls before the first return
 * entry. They are tried in two passes: operations that completed first, then
 * indeterminate ones, so a linearizable history is usually found without
 * speculating on indeterminate operations at all. A popped operation
 * resumes the pass it was tried in. */
static int lc_search_run(struct lc_search *s, uint64_t state)
{
    size_t remaining = 0;
    for (size_t i = 1; i < s->n_ent; i++)
        remaining += s->ent[i].call && s->ent[i].match >= 0;
    int32_t e = s->ent[0].next;
    bool info_pass = false;
    while (remaining > 0) {
        coord_assert(e > 0); /* an unlinearized return is still listed */
        if (!s->ent[e].call) {
            if (!info_pass && !s->plain) {
                info_pass = true;
                e = s->ent[0].next;
                continue;
            }
            lc_note_stuck(s, e, state);
            if (s->depth == 0)
                return LINCHECK_NOT_LINEARIZABLE;
            info_pass = !s->plain &&
                        s->ent[s->stack[s->depth - 1].entry].match < 0;
            e = lc_pop(s, &state, &remaining);
            continue;
        }
        if (!s->plain && info_pass != (s->ent[e].match < 0)) {
            e = s->ent[e].next;
            continue;
        }
        int rc = lc_try(s, e, &state, &remaining);
        if (rc == -ENOSPC)
            return LINCHECK_UNKNOWN;
        if (rc < 0)
            return rc;
        if (rc == 1) {
            info_pass = false;
            e = s->ent[0].next;
        } else {
            e = s->ent[e].next;
        }
    }
    return LINCHECK_LINEARIZABLE;
}

/* ---- per-key driver and reports ---------------------------------------- */

static const char *const lc_f_names[] = {
    [LINCHECK_READ] = "read",     [LINCHECK_WRITE] = "write",
    [LINCHECK_CAS] = "cas",       [LINCHECK_CREATE] = "create",
    [LINCHECK_DELETE] = "delete",
};

static const char *const lc_r_names[] = {
    [LINCHECK_R_DONE] = "ok",           [LINCHECK_R_NOTFOUND] = "notfound",
    [LINCHECK_R_NONODE] = "nonode",     [LINCHECK_R_BADVERSION] = "badversion",
    [LINCHECK_R_EXISTS] = "exists",
};

/* Appends to buf (always NUL-terminated, truncating). */
static void lc_cat(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void lc_cat(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static void lc_describe_state(const struct lincheck_history *h, uint64_t st,
                              char *buf, size_t len)
{
    if (!lc_exists(st))
        lc_cat(buf, len, "absent");
    else
        lc_cat(buf, len, "%s@%" PRId64, h->strs[lc_value(st)], lc_sver(st));
}

/* "p3 cas k1 4 v9 -> ok 5 [t0, t1] (line 12)" */
static void lc_describe_op(const struct lincheck_history *h,
                           const struct lc_hop *op, char *buf, size_t len)
{
    lc_cat(buf, len, "p%" PRIu32 " %s %s", op->process, lc_f_names[op->f],
           h->strs[op->key]);
    if (op->f == LINCHECK_CAS ||
        (op->f == LINCHECK_DELETE && op->expected != LINCHECK_VERSION_ANY))
        lc_cat(buf, len, " %" PRId64, op->expected);
    if (op->f != LINCHECK_READ && op->value != LC_NONE)
        lc_cat(buf, len, " %s", h->strs[op->value]);
    if (op->status == LINCHECK_INFO)
        lc_cat(buf, len, " -> info (indeterminate)");
    else if (op->f == LINCHECK_READ && op->result == LINCHECK_R_DONE)
        lc_cat(buf, len, " -> %s@", h->strs[op->value]);
    else
        lc_cat(buf, len, " -> %s", lc_r_names[op->result]);
    if (op->status != LINCHECK_INFO && op->version != LINCHECK_VERSION_UNKNOWN)
        lc_cat(buf, len, "%s%" PRId64,
               op->f == LINCHECK_READ ? "" : " version ", op->version);
    else if (op->f == LINCHECK_READ && op->result == LINCHECK_R_DONE)
        lc_cat(buf, len, "*");
    if (op->complete == LINCHECK_TIME_INF)
        lc_cat(buf, len, " [%" PRId64 ", never]", op->invoke);
    else
        lc_cat(buf, len, " [%" PRId64 ", %" PRId64 "]", op->invoke,
               op->complete);
    if (op->line != 0)
        lc_cat(buf, len, " (line %" PRIu32 ")", op->line);
}

#define LC_EXPLAIN_BYTES 4096

static char *lc_explain(const struct lc_search *s, int verdict,
                        size_t memo_bytes_max)
{
    char buf[LC_EXPLAIN_BYTES] = "";
    if (verdict == LINCHECK_UNKNOWN) {
        lc_cat(buf, sizeof(buf),
               "search budget of %zu bytes exhausted after %zu "
               "configurations; no verdict\n", memo_bytes_max, s->used);
        return coord_strndup(buf, strlen(buf));
    }
    lc_cat(buf, sizeof(buf), "  cannot linearize: ");
    lc_describe_op(s->h, &s->ops[s->best_op], buf, sizeof(buf));
    lc_cat(buf, sizeof(buf), "\n  states reached when it had to complete "
                             "(none accepts it):");
    for (size_t i = 0; i < s->n_best_states; i++) {
        lc_cat(buf, sizeof(buf), " ");
        lc_describe_state(s->h, s->best_states[i], buf, sizeof(buf));
    }
    lc_cat(buf, sizeof(buf), "%s\n", s->best_more ? " ..." : "");
    if (s->best_prune_op >= 0) {
        lc_cat(buf, sizeof(buf), "  blocked: placing ");
        lc_describe_op(s->h, &s->ops[s->best_prune_op], buf, sizeof(buf));
        lc_cat(buf, sizeof(buf), "\n    there would move the version past "
                                 "the one read or expected by ");
        lc_describe_op(s->h, &s->ops[s->best_prune_by], buf, sizeof(buf));
        lc_cat(buf, sizeof(buf), "\n");
    }
    return coord_strndup(buf, strlen(buf));
}

struct lc_event {
    int64_t t;
    int32_t op;
    uint8_t ret; /* 0 call, 1 return: calls first at equal times */
};

static int lc_event_cmp(const void *a, const void *b)
{
    const struct lc_event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->ret != y->ret)
        return x->ret - y->ret;
    return x->op - y->op;
}

/* Builds the entry list of s->ops sorted by time. */
static int lc_build_entries(struct lc_search *s)
{
    struct lc_event *ev = coord_malloc(2 * s->n * sizeof(*ev));
    if (ev == NULL)
        return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        ev[m++] = (struct lc_event){s->ops[i].invoke, (int32_t)i, 0};
        if (s->ops[i].status != LINCHECK_INFO)
            ev[m++] = (struct lc_event){s->ops[i].complete, (int32_t)i, 1};
    }
    qsort(ev, m, sizeof(*ev), lc_event_cmp);
    int32_t *call_of = (int32_t *)s->stack; /* scratch, n entries */
    s->n_ent = m + 1;
    s->ent[0] = (struct lc_entry){-1, -1, -1, m ? 1 : -1, false, 0};
    for (size_t i = 0; i < m; i++) {
        int32_t id = (int32_t)i + 1;
        s->ent[id] = (struct lc_entry){
            .op = ev[i].op, .match = -1, .prev = id - 1,
            .next = i + 1 < m ? id + 1 : -1, .call = !ev[i].ret,
            .pos = (uint32_t)i};
        if (!ev[i].ret)
            call_of[ev[i].op] = id;
        else
            s->ent[call_of[ev[i].op]].match = id;
    }
    coord_free(ev);
    return 0;
}

/* Orders indeterminate operations by symmetry class, then invocation
 * (qsort_r with the key's operations). */
static int lc_sym_cmp(const void *a, const void *b, void *arg)
{
    const struct lc_hop *ops = arg;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    const struct lc_hop *x = &ops[i], *y = &ops[j];
    if (x->f != y->f)
        return x->f - y->f;
    if (x->expected != y->expected)
        return x->expected < y->expected ? -1 : 1;
    if (x->invoke != y->invoke)
        return x->invoke < y->invoke ? -1 : 1;
    return i - j;
}

static int lc_u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Fills s->sym_prev: for each indeterminate operation whose value no read
 * returns, the previous one (by invocation) of its class (f, expected). */
static int lc_symmetry_init(struct lc_search *s)
{
    size_t n = s->n, n_read = 0, n_sym = 0;
    uint32_t *seen = coord_malloc((n ? n : 1) * sizeof(*seen));
    int32_t *sym = coord_malloc((n ? n : 1) * sizeof(*sym));
    if (seen == NULL || sym == NULL) {
        coord_free(seen);
        coord_free(sym);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct lc_hop *o = &s->ops[i];
        s->sym_prev[i] = -1;
        if (o->f == LINCHECK_READ && o->result == LINCHECK_R_DONE)
            seen[n_read++] = o->value;
    }
    qsort(seen, n_read, sizeof(*seen), lc_u32_cmp);
    for (size_t i = 0; i < n; i++) {
        const struct lc_hop *o = &s->ops[i];
        if (o->status != LINCHECK_INFO)
            continue;
        if (o->value != LC_NONE &&
            bsearch(&o->value, seen, n_read, sizeof(*seen), lc_u32_cmp))
            continue; /* observed: not interchangeable */
        sym[n_sym++] = (int32_t)i;
    }
    qsort_r(sym, n_sym, sizeof(*sym), lc_sym_cmp, s->ops);
    for (size_t k = 1; k < n_sym; k++) {
        const struct lc_hop *a = &s->ops[sym[k - 1]], *b = &s->ops[sym[k]];
        if (a->f == b->f && a->expected == b->expected)
            s->sym_prev[sym[k]] = sym[k - 1];
    }
    coord_free(seen);
    coord_free(sym);
    return 0;
}

static void lc_search_free(struct lc_search *s)
{
    coord_free(s->pruned_epoch);
    coord_free(s->pruned_by);
    coord_free(s->sym_prev);
    coord_free(s->ent);
    coord_free(s->bits);
    coord_free(s->zob);
    coord_free(s->table);
    coord_free(s->arena);
    coord_free(s->seg);
    coord_free(s->stack);
}

static int lc_search_init(struct lc_search *s)
{
    size_t n = s->n;
    s->words = (n + 63) / 64;
    s->ent = coord_malloc((2 * n + 1) * sizeof(*s->ent));
    s->bits = coord_calloc(s->words, 8);
    s->zob = coord_malloc(n * sizeof(*s->zob));
    s->stack = coord_malloc(n * sizeof(*s->stack));
    for (s->seg_p = 1; s->seg_p < n;)
        s->seg_p *= 2;
    s->seg = coord_malloc(2 * s->seg_p * sizeof(*s->seg));
    s->sym_prev = coord_malloc(n * sizeof(*s->sym_prev));
    s->pruned_epoch = coord_calloc(n, sizeof(*s->pruned_epoch));
    s->pruned_by = coord_calloc(n, sizeof(*s->pruned_by));
    s->epoch = 1;
    if (!s->ent || !s->bits || !s->zob || !s->stack || !s->seg ||
        !s->sym_prev || !s->pruned_epoch || !s->pruned_by ||
        lc_symmetry_init(s) < 0)
        return -ENOMEM;
    if (s->plain)
        for (size_t i = 0; i < n; i++)
            s->sym_prev[i] = -1;
    s->use_bound = !s->plain;
    for (size_t i = 0; i < n; i++) {
        s->zob[i] = lc_mix(i * 0x2545f4914f6cdd1dull + 1);
        if (s->ops[i].f == LINCHECK_DELETE)
            s->use_bound = false; /* versions may go back to absent */
    }
    for (size_t i = 0; i < 2 * s->seg_p; i++)
        s->seg[i] = LC_REQ_NONE;
    for (size_t i = 0; i < n; i++)
        lc_seg_set(s, i, lc_requirement(&s->ops[i]));
    s->best_pos = -1;
    s->best_op = -1;
    s->prune_op = s->best_prune_op = -1;
    return lc_build_entries(s);
}

/* Checks the operations idx[0..n) of one key into *kr. */
static int lc_check_key(const struct lincheck_history *h, const size_t *idx,
                        size_t n, size_t memo_bytes_max, bool plain,
                        struct lincheck_key_result *kr)
{
    struct lc_search s = {.h = h, .n = n, .bytes_max = memo_bytes_max,
                          .plain = plain};
    uint32_t key = h->ops[idx[0]].key;
    uint64_t st = 0;
    for (size_t i = 0; i < h->n_inits; i++)
        if (h->inits[i].key == key)
            st = lc_state(h->inits[i].value, h->inits[i].version);
    s.ops = coord_malloc(n * sizeof(*s.ops));
    if (s.ops != NULL)
        for (size_t i = 0; i < n; i++)
            s.ops[i] = h->ops[idx[i]];
    int rc = s.ops ? lc_search_init(&s) : -ENOMEM;
    if (rc == 0)
        rc = lc_search_run(&s, st);
    if (rc >= 0) {
        kr->verdict = (enum lincheck_verdict)rc;
        kr->ops = n;
        kr->configs = s.used;
        kr->steps = s.steps;
        for (size_t i = 0; i < n; i++)
            kr->info_ops += s.ops[i].status == LINCHECK_INFO;
        kr->key = coord_strndup(h->strs[key], strlen(h->strs[key]));
        if (rc != LINCHECK_LINEARIZABLE)
            kr->explain = lc_explain(&s, rc, memo_bytes_max);
        if (kr->key == NULL ||
            (rc != LINCHECK_LINEARIZABLE && kr->explain == NULL))
            rc = -ENOMEM;
    }
    lc_search_free(&s);
    coord_free(s.ops);
    return rc < 0 ? rc : 0;
}

/* Orders operation indexes by key name, then index (qsort_r with h). */
static int lc_idx_cmp(const void *a, const void *b, void *arg)
{
    const struct lincheck_history *h = arg;
    const struct lc_hop *x = &h->ops[*(const size_t *)a];
    const struct lc_hop *y = &h->ops[*(const size_t *)b];
    if (x->key != y->key)
        return strcmp(h->strs[x->key], h->strs[y->key]);
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

int lincheck_check(const struct lincheck_history *h,
                   const struct lincheck_options *opts,
                   struct lincheck_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    size_t budget = opts && opts->memo_bytes_max ? opts->memo_bytes_max
                                                 : LINCHECK_MEMO_BYTES_DEFAULT;
    size_t n = h->n_ops;
    size_t *idx = coord_malloc((n ? n : 1) * sizeof(*idx));
    rep->keys = coord_calloc(n ? n : 1, sizeof(*rep->keys));
    if (idx == NULL || rep->keys == NULL) {
        coord_free(idx);
        lincheck_report_free(rep);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), lc_idx_cmp, (void *)h);
    rep->verdict = LINCHECK_LINEARIZABLE;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && h->ops[idx[j]].key == h->ops[idx[i]].key)
            j++;
        struct lincheck_key_result *kr = &rep->keys[rep->n_keys++];
        if (lc_check_key(h, idx + i, j - i, budget, opts && opts->plain,
                         kr) < 0) {
            coord_free(idx);
            lincheck_report_free(rep);
            return -ENOMEM;
        }
        if (kr->verdict == LINCHECK_NOT_LINEARIZABLE ||
            (kr->verdict == LINCHECK_UNKNOWN &&
             rep->verdict == LINCHECK_LINEARIZABLE))
            rep->verdict = kr->verdict;
        i = j;
    }
    coord_free(idx);
    return 0;
}

void lincheck_report_free(struct lincheck_report *rep)
{
    for (size_t i = 0; rep->keys != NULL && i < rep->n_keys; i++) {
        coord_free(rep->keys[i].key);
        coord_free(rep->keys[i].explain);
    }
    coord_free(rep->keys);
    memset(rep, 0, sizeof(*rep));
}

const char *lincheck_verdict_name(enum lincheck_verdict v)
{
    switch (v) {
    case LINCHECK_LINEARIZABLE:
        return "linearizable";
    case LINCHECK_NOT_LINEARIZABLE:
        return "NOT linearizable";
    case LINCHECK_UNKNOWN:
        return "unknown";
    }
    return "?";
}

void lincheck_report_print(const struct lincheck_report *rep, FILE *out)
{
    for (size_t i = 0; i < rep->n_keys; i++) {
        const struct lincheck_key_result *kr = &rep->keys[i];
        fprintf(out, "key %s: %s (%zu ops, %zu indeterminate, %" PRIu64
                " configurations, %" PRIu64 " steps)\n", kr->key,
                lincheck_verdict_name(kr->verdict), kr->ops, kr->info_ops,
                kr->configs, kr->steps);
        if (kr->explain != NULL)
            fputs(kr->explain, out);
    }
    fprintf(out, "verdict: %s (%zu keys)\n",
            lincheck_verdict_name(rep->verdict), rep->n_keys);
}
