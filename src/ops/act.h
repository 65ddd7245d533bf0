/* Element-wise activations and the residual add, in place over n floats.
 * Formulas as torch: silu(x) = x / (1 + exp(-x)), sigmoid(x) = 1 / (1 + exp(-x)).
 * AVX2+FMA kernels where the CPU has them (exp to about 2 ulp), else libm. */
#ifndef AF_OPS_ACT_H
#define AF_OPS_ACT_H

#include <stddef.h>

void af_silu_inplace(float *x, size_t n);
void af_sigmoid_inplace(float *x, size_t n);
/* dst[i] += src[i] (the bottleneck shortcut), split over `threads` OpenMP
 * threads (<= 1: the calling thread). */
void af_add_inplace(float *dst, const float *src, size_t n, int threads);

/* The larger of m and the largest |x[i]| (NaNs ignored). */
float af_absmax(const float *x, size_t n, float m);

#endif
