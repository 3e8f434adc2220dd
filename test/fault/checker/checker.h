/* checker.h -- linearizability checker for key-value register histories.
 *
 * What it is: the fault suite's judge. A history records, per client
 * operation, when it was invoked, when (and whether) it completed and what it
 * returned; the checker decides whether some total order of the operations,
 * consistent with real time, explains every result under coord's data model
 * (a versioned register per key). The search is Wing & Gong's, with Lowe's
 * memoisation of (set of linearized operations, model state), run separately
 * per key (P-compositionality). docs/testing.md describes the model, the text
 * format and the limits.
 *
 * How it fits: test/fault/ runners call the C API directly; the CLI tool
 * build/test/fault/lincheck checks a history file. Test-only code: it never
 * links into coordd or libcoord.
 *
 * What it must not do: give a wrong verdict. When the search budget
 * (LINCHECK_MEMO_BYTES_DEFAULT or the caller's) runs out, the verdict is
 * LINCHECK_UNKNOWN, never a guess. It does no I/O except where a FILE * is
 * passed in.
 */
#ifndef COORD_TEST_LINCHECK_H
#define COORD_TEST_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Operations of the model. A "write" is coord's set with version -1; a "cas"
 * is set with an expected version. */
enum lincheck_f {
    LINCHECK_READ = 1,   /* get(key) -> value, version | not found */
    LINCHECK_WRITE = 2,  /* set(key, value) -> new version | nonode */
    LINCHECK_CAS = 3,    /* set(key, value, expected) -> version | bad |
                          * nonode */
    LINCHECK_CREATE = 4, /* create(key, value) -> version 0 | exists */
    LINCHECK_DELETE = 5, /* delete(key[, expected]) -> ok | bad | nonode */
};

/* How the call ended, in Jepsen's terms. */
enum lincheck_status {
    LINCHECK_OK = 1,   /* it happened; the result fields are meaningful */
    LINCHECK_FAIL = 2, /* it certainly did not happen: dropped */
    LINCHECK_INFO = 3, /* unknown (timeout, lost connection): may happen at
                        * any time after invocation, or never */
};

/* The result of an OK operation. A definite rejection that carries
 * information (bad version, missing node) is recorded as OK with one of
 * these rather than as FAIL, so the checker can use it. */
enum lincheck_result {
    LINCHECK_R_DONE = 0,       /* success (read: found) */
    LINCHECK_R_NOTFOUND = 1,   /* read: no such key */
    LINCHECK_R_NONODE = 2,     /* write/cas/delete: no such key */
    LINCHECK_R_BADVERSION = 3, /* cas/delete: version did not match */
    LINCHECK_R_EXISTS = 4,     /* create: key already exists */
};

/* A version the client did not observe (matches anything), and coord's
 * "any version" for cas/delete expected versions. */
#define LINCHECK_VERSION_UNKNOWN INT64_MIN
#define LINCHECK_VERSION_ANY (-1)
/* Completion time of an operation that never completed (INFO). */
#define LINCHECK_TIME_INF INT64_MAX

/* Memo budget per key: bytes of cached configurations (bitsets, states and
 * the hash table). Past it the key's verdict is LINCHECK_UNKNOWN. 256 MiB
 * holds about two million configurations of a 1,000-operation key. */
#define LINCHECK_MEMO_BYTES_DEFAULT ((size_t)256 << 20)
/* Longest key or value token accepted, in bytes. */
#define LINCHECK_TOKEN_BYTES_MAX 256
/* Candidate states kept for a failure explanation. */
#define LINCHECK_EXPLAIN_STATES_MAX 8

/* One operation as the fault runner records it. Strings are copied by
 * lincheck_history_add(); the struct may be reused afterwards. */
struct lincheck_op {
    uint32_t process;              /* client id; informational */
    enum lincheck_f f;
    enum lincheck_status status;
    const char *key;
    const char *value;             /* write/cas/create: the new value;
                                    * read OK DONE: the value read */
    int64_t expected_version;      /* cas/delete; LINCHECK_VERSION_ANY */
    enum lincheck_result result;   /* OK only */
    int64_t version;               /* OK: the version returned (read: the
                                    * version read; write/cas: the new one);
                                    * LINCHECK_VERSION_UNKNOWN if not seen */
    int64_t invoke_ns;             /* one shared monotonic clock */
    int64_t complete_ns;           /* LINCHECK_TIME_INF for INFO */
    uint32_t line;                 /* source line in a history file, or 0 */
};

struct lincheck_history;

/* Creates an empty history; NULL on allocation failure. */
struct lincheck_history *lincheck_history_new(void);
void lincheck_history_free(struct lincheck_history *h);

/* Declares that key exists before the history starts with this value and
 * version (default: every key is absent). 0, or -EINVAL / -ENOMEM. */
int lincheck_history_init_key(struct lincheck_history *h, const char *key,
                              const char *value, int64_t version);

/* Appends one operation after validating it. FAIL operations and INFO reads
 * are accepted and dropped (they had no effect). 0, -EINVAL (message in err,
 * if err != NULL) or -ENOMEM. */
int lincheck_history_add(struct lincheck_history *h,
                         const struct lincheck_op *op, char *err,
                         size_t err_len);

/* Parses the line-oriented text format (docs/testing.md) and appends its
 * operations. On bad input returns -EINVAL with "line N: reason" in err. */
int lincheck_history_parse(struct lincheck_history *h, FILE *in, char *err,
                           size_t err_len);
int lincheck_history_parse_string(struct lincheck_history *h,
                                  const char *text, char *err,
                                  size_t err_len);

/* Operations kept (after dropping FAIL and INFO reads). */
size_t lincheck_history_len(const struct lincheck_history *h);

enum lincheck_verdict {
    LINCHECK_LINEARIZABLE = 0,
    LINCHECK_NOT_LINEARIZABLE = 1,
    LINCHECK_UNKNOWN = 3, /* budget exhausted: no verdict */
};

struct lincheck_options {
    size_t memo_bytes_max; /* 0: LINCHECK_MEMO_BYTES_DEFAULT */
    /* Plain WGL with memoisation only: no version bound, no symmetry
     * reduction, no completed-first order. Slower; for cross-checking the
     * prunings (the unit tests compare both) and for benchmarks. */
    bool plain;
};

/* Per-key outcome. explain is a NUL-terminated text (owned by the report)
 * naming the operation that could not be linearized and the candidate
 * states, or NULL when the key is linearizable. */
struct lincheck_key_result {
    char *key;
    enum lincheck_verdict verdict;
    size_t ops;            /* operations checked for this key */
    size_t info_ops;       /* of which indeterminate */
    uint64_t configs;      /* configurations memoised */
    uint64_t steps;        /* model steps tried */
    char *explain;
};

struct lincheck_report {
    enum lincheck_verdict verdict; /* NOT > UNKNOWN > LINEARIZABLE */
    size_t n_keys;
    struct lincheck_key_result *keys; /* sorted by key */
};

/* Checks every key of h. Fills *rep (free with lincheck_report_free) and
 * returns 0, or -ENOMEM (rep left empty). opts may be NULL. */
int lincheck_check(const struct lincheck_history *h,
                   const struct lincheck_options *opts,
                   struct lincheck_report *rep);
void lincheck_report_free(struct lincheck_report *rep);

/* Prints one line per key and the explanations of failing keys. */
void lincheck_report_print(const struct lincheck_report *rep, FILE *out);
const char *lincheck_verdict_name(enum lincheck_verdict v);

#endif /* COORD_TEST_LINCHECK_H */
