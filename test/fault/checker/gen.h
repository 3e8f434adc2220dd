/* gen.h -- seeded generator of key-value register histories for testing the
 * linearizability checker (checker.h).
 *
 * What it is: a simulation of a correct register per key (coord's semantics:
 * set adds one to the version, cas compares it) driven by concurrent clients
 * with random latencies, some indeterminate outcomes (which took effect or
 * not, at random, possibly long after the client gave up) and some definite
 * failures. Every history it produces is linearizable by construction, so
 * tests can check that the checker accepts it and rejects mutated copies.
 *
 * How it fits: used by test/unit/test_checker.c and the bench tool behind
 * `make bench-checker`. Test-only code.
 *
 * What it must not do: depend on anything but its seed (no clock, no libc
 * rand), so a failing seed reproduces.
 */
#ifndef COORD_TEST_LINCHECK_GEN_H
#define COORD_TEST_LINCHECK_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "checker.h"

struct lincheck_gen_params {
    uint64_t seed;
    uint32_t ops;           /* operations in total */
    uint32_t keys;          /* keys k0..k{keys-1}, each initialised */
    uint32_t processes;     /* concurrent clients */
    uint32_t info_permille; /* chance an op ends indeterminate */
    uint32_t fail_permille; /* chance an op fails definitely */
    uint32_t blind_permille; /* chance an OK result omits its version */
};

/* One generated operation; op.key and op.value point into this struct. */
struct lincheck_gen_op {
    struct lincheck_op op;
    char key[16];
    char value[32];
};

struct lincheck_gen {
    struct lincheck_gen_params params;
    struct lincheck_gen_op *ops;
    size_t n;
};

/* Generates a history; 0 or -ENOMEM / -EINVAL. Free with lincheck_gen_free. */
int lincheck_gen_run(const struct lincheck_gen_params *p,
                     struct lincheck_gen *g);
void lincheck_gen_free(struct lincheck_gen *g);

/* Adds the keys' initial states and every operation to h. */
int lincheck_gen_add(const struct lincheck_gen *g, struct lincheck_history *h);

/* Writes the history in the text format (events sorted by time). */
int lincheck_gen_write(const struct lincheck_gen *g, FILE *out);

#endif /* COORD_TEST_LINCHECK_GEN_H */
