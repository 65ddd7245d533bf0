/* BatchNorm (training mode) + SiLU fused, forward and backward, on NHWC rows.
 * The training network's Conv units use these so that the BN output is never
 * stored: it is recomputed in the backward from the conv output and the saved
 * statistics. Arithmetic as af_bn_train_forward / af_silu_inplace /
 * af_silu_backward / af_bn_backward, element by element. */
#include <math.h>

#include "ops/batchnorm.h"
#include "ops/bn_chunked.h"
#include "ops/exp_avx2.h"

static inline float silu1(float u)
{
    return u / (1.0f + expf(-u));
}

/* dy * silu'(u), as af_silu_backward */
static inline float silu_grad1(float u, float dy)
{
    float s = 1.0f / (1.0f + expf(-u));
    return dy * s * (1.0f + u * (1.0f - s));
}

#ifdef AF_HAVE_AVX2_KERNELS
/* y = silu(x * alpha + shift) for the whole 8-channel vectors of a row of nb
 * channels; returns how many channels it did (the caller does the rest). */
static AF_AVX2 size_t fwd_row_avx2(const float *x, size_t nb, const float *alpha,
                                   const float *shift, float *y)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        __m256 u = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(alpha + j)),
                                 _mm256_loadu_ps(shift + j));
        __m256 d = _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, u)));
        _mm256_storeu_ps(y + j, _mm256_div_ps(u, d));
    }
    return j;
}

static AF_AVX2 inline void acc8(double *a, __m256 v)
{
    _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a),
                                      _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(a + 4, _mm256_add_pd(_mm256_loadu_pd(a + 4),
                                          _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

/* One row's whole 8-channel vectors: g = dy * silu'(x * alpha + shift) stored
 * in g (may be dy); sum += g, dotp += (x - mean) * g, per channel. Returns how
 * many channels it did. */
static AF_AVX2 size_t bwd_row_avx2(const float *x, const float *dy, size_t nb, const float *alpha,
                                 const float *shift, const float *mean, float *g, double *sum,
                                 double *dotp)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        __m256 xv = _mm256_loadu_ps(x + j);
        __m256 u = _mm256_add_ps(_mm256_mul_ps(xv, _mm256_loadu_ps(alpha + j)),
                                 _mm256_loadu_ps(shift + j));
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, u))));
        __m256 t = _mm256_fmadd_ps(u, _mm256_sub_ps(one, s), one);
        __m256 gv = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(dy + j), s), t);
        _mm256_storeu_ps(g + j, gv);
        acc8(sum + j, gv);
        acc8(dotp + j, _mm256_mul_ps(_mm256_sub_ps(xv, _mm256_loadu_ps(mean + j)), gv));
    }
    return j;
}
#endif

static void fwd_row(int avx2, const float *x, size_t nb, const float *alpha, const float *shift,
                    float *y)
{
    size_t j = 0;
#ifdef AF_HAVE_AVX2_KERNELS
    if (avx2)
        j = fwd_row_avx2(x, nb, alpha, shift, y);
#endif
    (void)avx2;
    for (; j < nb; j++)
        y[j] = silu1(x[j] * alpha[j] + shift[j]);
}

static void bwd_row(int avx2, const float *x, const float *dy, size_t nb, const float *alpha,
                    const float *shift, const float *mean, float *g, double *sum, double *dotp)
{
    size_t j = 0;
#ifdef AF_HAVE_AVX2_KERNELS
    if (avx2)
        j = bwd_row_avx2(x, dy, nb, alpha, shift, mean, g, sum, dotp);
#endif
    (void)avx2;
    for (; j < nb; j++) {
        float gj = silu_grad1(x[j] * alpha[j] + shift[j], dy[j]);
        g[j] = gj;
        sum[j] += gj;
        dotp[j] += (x[j] - mean[j]) * gj;
    }
}

static int use_avx2(void)
{
#ifdef AF_HAVE_AVX2_KERNELS
    return af_have_avx2();
#else
    return 0;
#endif
}

af_status af_bn_silu_train_forward(size_t npix, int c, const float *x, const float *gamma,
                                   const float *beta, float eps, float momentum,
                                   float *running_mean, float *running_var, float *y,
                                   float *save_mean, float *save_invstd, af_error *err)
{
    af_status st = af_bn_train_stats(npix, c, x, eps, momentum, running_mean, running_var,
                                     save_mean, save_invstd, err);
    if (st)
        return st;
    const size_t cc = (size_t)c;
    const int T = bn_threads(npix), avx2 = use_avx2();
    float alpha[AF_BN_BLOCK], shift[AF_BN_BLOCK];
    for (size_t c0 = 0; c0 < cc; c0 += AF_BN_BLOCK) {
        const size_t nb = cc - c0 < AF_BN_BLOCK ? cc - c0 : AF_BN_BLOCK;
        bn_affine(c0, nb, gamma, beta, save_mean, save_invstd, alpha, shift);
#pragma omp parallel for num_threads(T) schedule(static)
        for (size_t i = 0; i < npix; i++)
            fwd_row(avx2, x + i * cc + c0, nb, alpha, shift, y + i * cc + c0);
    }
    return AF_OK;
}

void af_bn_silu_backward(size_t npix, int c, const float *x, const float *dy,
                         const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, float *dx, float *dgamma, float *dbeta)
{
    const size_t cc = (size_t)c;
    const int T = bn_threads(npix), avx2 = use_avx2();
    float alpha[AF_BN_BLOCK], shift[AF_BN_BLOCK];
    double sum[AF_BN_BLOCK], dotp[AF_BN_BLOCK];
    double ps[AF_BN_MAXT][AF_BN_BLOCK], pd[AF_BN_MAXT][AF_BN_BLOCK];
    /* the SiLU gradient goes to dx, then the BN backward runs in place there */
    for (size_t c0 = 0; c0 < cc; c0 += AF_BN_BLOCK) {
        const size_t nb = cc - c0 < AF_BN_BLOCK ? cc - c0 : AF_BN_BLOCK;
        bn_affine(c0, nb, gamma, beta, save_mean, save_invstd, alpha, shift);
        const float *mb = save_mean + c0;
#pragma omp parallel num_threads(T)
        {
            for (int t = omp_get_thread_num(); t < T; t += omp_get_num_threads()) {
                size_t i0 = npix * t / T, i1 = npix * (t + 1) / T;
                for (size_t j = 0; j < nb; j++)
                    ps[t][j] = pd[t][j] = 0;
                for (size_t i = i0; i < i1; i++)
                    bwd_row(avx2, x + i * cc + c0, dy + i * cc + c0, nb, alpha, shift, mb,
                            dx + i * cc + c0, ps[t], pd[t]);
            }
        }
        for (size_t j = 0; j < nb; j++) {
            double s = 0, d = 0;
            for (int t = 0; t < T; t++) {
                s += ps[t][j];
                d += pd[t][j];
            }
            sum[j] = s;
            dotp[j] = d;
        }
        bn_backward_finish(npix, cc, c0, nb, T, x, dx, gamma, save_mean, save_invstd, sum, dotp,
                           dx, dgamma, dbeta);
    }
}
