/* args.h -- strict number parsing for the benchmark tools' options
 * (coordbench, coordlockbench): the whole string must be a number in
 * range, so a typo is an error, never a silent zero. No I/O, no coord. */
#ifndef COORDBENCH_ARGS_H
#define COORDBENCH_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* A decimal unsigned integer in [lo, hi]. */
bool bench_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* Seconds, fractions allowed, in [0, 86400]. */
bool bench_parse_secs(const char *s, double *out);

#endif
