/*
 * A small deterministic PRNG for training-time augmentation.
 *
 * Generator: PCG32 (O'Neill 2014, "PCG XSH RR 64/32"): 64-bit LCG state
 *   state = state * 6364136223846793005 + inc   (inc odd),
 * output = rotr32(((state >> 18) ^ state) >> 27, state >> 59), computed from the state
 * before the step.
 *
 * Seeding by (seed, epoch, index) goes through splitmix64 (Steele, Lea, Flood 2014:
 * x += 0x9E3779B97F4A7C15; z = x; z = (z ^ z>>30) * 0xBF58476D1CE4E5B9;
 * z = (z ^ z>>27) * 0x94D049BB133111EB; z ^ z>>31) used as a sponge:
 *   x = seed;        a = sm(x)
 *   x = a ^ epoch;   b = sm(x)
 *   x = b ^ index;   state0 = sm(x), inc = sm(x) | 1   (x advancing between the calls)
 * then the PCG32 initialisation (state = 0; step; state += state0; step). A sample's random
 * stream therefore depends only on those three numbers, never on thread scheduling.
 *
 * Floats: af_rng_double = (u32_hi >> 5 * 2^26 + u32_lo >> 6) / 2^53 (53 random bits,
 * [0, 1)); uniform(a, b) = a + (b - a) * double, as Python's random.uniform.
 * Integers: Lemire's unbiased multiply-and-reject on 32 bits.
 */
#ifndef AF_TRAIN_RNG_H
#define AF_TRAIN_RNG_H

#include <stdint.h>

typedef struct af_rng {
    uint64_t state, inc;
} af_rng;

/* One splitmix64 step: advances *x and returns the mixed output. */
uint64_t af_rng_splitmix64(uint64_t *x);

/* PCG32 with an explicit initial state and stream (inc is forced odd). */
void af_rng_seed(af_rng *r, uint64_t initstate, uint64_t stream);

/* The per-sample seeding described above. */
void af_rng_seed3(af_rng *r, uint64_t seed, int64_t epoch, int64_t index);

uint32_t af_rng_u32(af_rng *r);

/* [0, 1), 53 bits. */
double af_rng_double(af_rng *r);

/* a + (b - a) * u, u in [0, 1): [a, b) for a < b (a when a == b). */
double af_rng_uniform(af_rng *r, double a, double b);

/* Uniform integer in [lo, hi] (inclusive, like Python's random.randint); lo when hi <= lo. */
int af_rng_int(af_rng *r, int lo, int hi);

/* Uniform index in [0, n); 0 when n <= 1. */
int af_rng_choice(af_rng *r, int n);

/* Standard normal (Marsaglia polar method; one value per call, the second discarded). */
double af_rng_normal(af_rng *r);

/* Gamma(shape, 1) for shape >= 1 (Marsaglia-Tsang 2000); shape < 1 via the
 * Gamma(shape + 1) * U^(1/shape) boost. shape <= 0 gives 0. */
double af_rng_gamma(af_rng *r, double shape);

/* Beta(a, b) = X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b) (numpy draws the same distribution;
 * its stream differs). */
double af_rng_beta(af_rng *r, double a, double b);

#endif
