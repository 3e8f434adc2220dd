/* prng.c -- the simulator's only source of randomness, and its hashes.
 *
 * xoshiro256** seeded with splitmix64 from (seed, stream): each model
 * (network, disk, clock, workload, nemesis) draws from its own stream, so a
 * change in one model does not reshuffle the others. No global state: a
 * seed replays bit for bit. Not for cryptographic use.
 */
#include <math.h>

#include "test/sim/sim.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *g, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sim_rng_below(struct sim_rng *g, uint64_t n)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant here. */
    return (uint64_t)(((unsigned __int128)sim_rng_next(g) * n) >> 64);
}

uint64_t sim_rng_range(struct sim_rng *g, uint64_t lo, uint64_t hi)
{
    return lo + sim_rng_below(g, hi - lo + 1);
}

double sim_rng_unit(struct sim_rng *g)
{
    return (double)(sim_rng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

bool sim_rng_chance(struct sim_rng *g, double p)
{
    return p > 0 && sim_rng_unit(g) < p;
}

uint64_t sim_rng_exp(struct sim_rng *g, uint64_t mean)
{
    double u = sim_rng_unit(g);
    double v = -log(1.0 - u) * (double)mean;
    if (v > (double)mean * 20)
        v = (double)mean * 20;
    return (uint64_t)v;
}

uint64_t sim_mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    return splitmix64(&x);
}

/* FNV-1a over data, folded into h. */
uint64_t sim_hash(uint64_t h, const void *data, uint32_t len)
{
    const uint8_t *p = data;
    uint64_t f = 0xcbf29ce484222325ULL;
    for (uint32_t i = 0; i < len; i++)
        f = (f ^ p[i]) * 0x100000001b3ULL;
    return sim_mix(h, f ^ len);
}
