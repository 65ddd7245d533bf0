/* SiLU, sigmoid and add; AVX2 kernels use exp8 from ops/exp_avx2.h. */
#include "ops/act.h"

#include <math.h>

#include "ops/exp_avx2.h"
#include "ops/ref.h"

#ifdef AF_HAVE_AVX2_KERNELS
static AF_AVX2 void silu_avx2(float *x, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 d = _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v)));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, d));
    }
    for (; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

static AF_AVX2 void sigmoid_avx2(float *x, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 d = _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v)));
        _mm256_storeu_ps(x + i, _mm256_div_ps(one, d));
    }
    for (; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

static AF_AVX2 void add_avx2(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i,
                         _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
    for (; i < n; i++)
        dst[i] += src[i];
}

#endif

void af_silu_inplace(float *x, size_t n)
{
#ifdef AF_HAVE_AVX2_KERNELS
    if (af_have_avx2()) {
        /* element-wise: split across the OpenMP team in 64-float-aligned chunks */
        size_t chunk = 1 << 16;
#pragma omp parallel for schedule(static) if (n > 2 * chunk)
        for (size_t i = 0; i < n; i += chunk)
            silu_avx2(x + i, n - i < chunk ? n - i : chunk);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

void af_sigmoid_inplace(float *x, size_t n)
{
#ifdef AF_HAVE_AVX2_KERNELS
    if (af_have_avx2()) {
        sigmoid_avx2(x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void add_part(float *dst, const float *src, size_t n)
{
#ifdef AF_HAVE_AVX2_KERNELS
    if (af_have_avx2()) {
        add_avx2(dst, src, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

void af_add_inplace(float *dst, const float *src, size_t n, int threads)
{
    const size_t chunk = 16384; /* floats: 64 KiB, a multiple of 8 */
    const long parts = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) if (parts > 2)
    for (long i = 0; i < parts; i++) {
        const size_t a = (size_t)i * chunk;
        add_part(dst + a, src + a, n - a < chunk ? n - a : chunk);
    }
}

/* References, in double. */
void af_silu_ref(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

void af_sigmoid_ref(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

void af_add_ref(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)((double)dst[i] + src[i]);
}

float af_absmax(const float *x, size_t n, float m)
{
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}
