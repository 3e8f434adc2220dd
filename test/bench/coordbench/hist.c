/* hist.c -- the log-linear latency histogram of coordbench (hist.h).
 * Bucket i < HIST_SUB holds exactly the value i; above, a value v with top
 * bit at position p (p >= HIST_SUB_BITS) has exponent e = p - 6 and
 * mantissa m = v >> e in [64, 128), and lands in bucket e * 64 + m: each
 * power of two is split into 64 equal sub-buckets. Pure arithmetic: no
 * allocation, no I/O. */
#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

unsigned hist_index(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (unsigned)ns;
    unsigned top = 63u - (unsigned)__builtin_clzll(ns);
    if (top >= HIST_MAX_BITS)
        return HIST_BUCKETS - 1;
    unsigned e = top - (HIST_SUB_BITS - 1);
    return e * HIST_HALF + (unsigned)(ns >> e);
}

uint64_t hist_bucket_low(unsigned idx)
{
    if (idx < HIST_SUB)
        return idx;
    unsigned e = idx / HIST_HALF - 1;
    uint64_t m = idx % HIST_HALF + HIST_HALF;
    return m << e;
}

uint64_t hist_bucket_high(unsigned idx)
{
    if (idx < HIST_SUB)
        return idx;
    unsigned e = idx / HIST_HALF - 1;
    uint64_t m = idx % HIST_HALF + HIST_HALF;
    return ((m + 1) << e) - 1;
}

void hist_record(struct hist *h, uint64_t ns)
{
    unsigned idx = hist_index(ns);
    if (ns > hist_bucket_high(HIST_BUCKETS - 1))
        h->clamped++;
    h->b[idx]++;
    h->count++;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->clamped += from->clamped;
    if (from->min_ns < into->min_ns)
        into->min_ns = from->min_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min_ns;
    if (q >= 1)
        return h->max_ns;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++; /* ceil */
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max_ns)
                v = h->max_ns;
            if (v < h->min_ns)
                v = h->min_ns;
            return v;
        }
    }
    return h->max_ns;
}
