/* PCG32 + splitmix64 seeding; see rng.h. */
#include "train/rng.h"

#include <math.h>

uint64_t af_rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t af_rng_u32(af_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ull + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

void af_rng_seed(af_rng *r, uint64_t initstate, uint64_t stream)
{
    r->state = 0;
    r->inc = (stream << 1) | 1u;
    (void)af_rng_u32(r);
    r->state += initstate;
    (void)af_rng_u32(r);
}

void af_rng_seed3(af_rng *r, uint64_t seed, int64_t epoch, int64_t index)
{
    uint64_t x = seed;
    uint64_t a = af_rng_splitmix64(&x);
    x = a ^ (uint64_t)epoch;
    uint64_t b = af_rng_splitmix64(&x);
    x = b ^ (uint64_t)index;
    uint64_t s0 = af_rng_splitmix64(&x);
    uint64_t st = af_rng_splitmix64(&x);
    af_rng_seed(r, s0, st);
}

double af_rng_double(af_rng *r)
{
    uint32_t hi = af_rng_u32(r) >> 5, lo = af_rng_u32(r) >> 6;
    return ((double)hi * 67108864.0 + (double)lo) * (1.0 / 9007199254740992.0);
}

double af_rng_uniform(af_rng *r, double a, double b)
{
    return a + (b - a) * af_rng_double(r);
}

/* Lemire (2019): unbiased integer in [0, n) for n >= 1. */
static uint32_t bounded(af_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)af_rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)af_rng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

int af_rng_int(af_rng *r, int lo, int hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)((int64_t)hi - (int64_t)lo + 1); /* <= 2^32 */
    if (span > UINT32_MAX) /* the whole int range */
        return (int)((int64_t)lo + af_rng_u32(r));
    return (int)((int64_t)lo + bounded(r, (uint32_t)span));
}

int af_rng_choice(af_rng *r, int n)
{
    return n <= 1 ? 0 : (int)bounded(r, (uint32_t)n);
}

double af_rng_normal(af_rng *r)
{
    for (;;) {
        double u = 2.0 * af_rng_double(r) - 1.0, v = 2.0 * af_rng_double(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0)
            return u * sqrt(-2.0 * log(s) / s);
    }
}

double af_rng_gamma(af_rng *r, double shape)
{
    if (!(shape > 0.0))
        return 0.0;
    if (shape < 1.0) {
        double u = af_rng_double(r);
        return af_rng_gamma(r, shape + 1.0) * pow(1.0 - u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = af_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = 1.0 - af_rng_double(r); /* (0, 1] */
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

double af_rng_beta(af_rng *r, double a, double b)
{
    double x = af_rng_gamma(r, a), y = af_rng_gamma(r, b);
    double s = x + y;
    return s > 0.0 ? x / s : 0.5;
}
