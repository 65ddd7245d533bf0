/* SiLU, sigmoid and add. The vector kernels use a Cephes-style expf (range
 * reduction by ln 2 in two parts, degree-6 polynomial) accurate to ~2 ulp. */
#include "ops/act.h"

#include <math.h>

#include "ops/ref.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AF_HAVE_AVX2_KERNELS 1

#define AF_AVX2 __attribute__((target("avx2,fma")))

/* exp(x) for 8 floats; inputs clamped to [-87.3, 88.37]. */
static AF_AVX2 inline __m256 exp8(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365447504f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127));
    return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

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

static int have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

void af_silu_inplace(float *x, size_t n)
{
#ifdef AF_HAVE_AVX2_KERNELS
    if (have_avx2()) {
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
    if (have_avx2()) {
        sigmoid_avx2(x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void af_add_inplace(float *dst, const float *src, size_t n)
{
#ifdef AF_HAVE_AVX2_KERNELS
    if (have_avx2()) {
        add_avx2(dst, src, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
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
