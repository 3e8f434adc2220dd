/* hist.h -- coordbench's latency histogram: log-linear buckets (HDR-like)
 * over nanoseconds, exact below 128 ns and within 1/64 (1.6%) above, up to
 * 2^40 ns (18 minutes). Every recorded value lands in a bucket, so
 * percentiles come from all samples, never from averages. One writer per
 * histogram (no locking); merge per-connection histograms after the run.
 * Knows nothing of coord: it must not include coord.h or do I/O. */
#ifndef COORDBENCH_HIST_H
#define COORDBENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)  /* exact values below this */
#define HIST_HALF (HIST_SUB / 2)
#define HIST_MAX_BITS 40                /* values >= 2^40 ns clamp */
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 2) * HIST_HALF)

struct hist {
    uint64_t count;
    uint64_t min_ns; /* exact; UINT64_MAX when empty */
    uint64_t max_ns; /* exact */
    uint64_t clamped; /* values above the top bucket (counted in it) */
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
/* into += from. */
void hist_merge(struct hist *into, const struct hist *from);
/* The value at quantile q in [0,1]: the highest value equivalent to the
 * bucket holding the ceil(q*count)-th smallest sample (never above the
 * exact max). 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);
/* Bucket index of a value and the bounds of a bucket (for tests). */
unsigned hist_index(uint64_t ns);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);

#endif /* COORDBENCH_HIST_H */
