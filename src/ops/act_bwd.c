/* SiLU and sigmoid backward, element-wise in float with torch's formulas
 * (SiLU's exp on AVX2 where available, as the forward). */
#include <math.h>

#include "ops/exp_avx2.h"
#include "ops/grad.h"

#ifdef AF_HAVE_AVX2_KERNELS
static AF_AVX2 void silu_backward_avx2(size_t n, const float *x, const float *dy, float *dx)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v))));
        /* dy * s * (1 + x * (1 - s)) */
        __m256 t = _mm256_fmadd_ps(v, _mm256_sub_ps(one, s), one);
        _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(dy + i), s), t));
    }
    for (; i < n; i++) {
        float xi = x[i];
        float s = 1.0f / (1.0f + expf(-xi));
        dx[i] = dy[i] * s * (1.0f + xi * (1.0f - s));
    }
}
#endif

void af_silu_backward(size_t n, const float *x, const float *dy, float *dx)
{
#ifdef AF_HAVE_AVX2_KERNELS
    if (af_have_avx2()) {
        const size_t chunk = 1 << 16;
#pragma omp parallel for schedule(static) if (n > 2 * chunk)
        for (size_t i = 0; i < n; i += chunk)
            silu_backward_avx2(n - i < chunk ? n - i : chunk, x + i, dy + i, dx + i);
        return;
    }
#endif
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float xi = x[i];
        float s = 1.0f / (1.0f + expf(-xi));
        dx[i] = dy[i] * s * (1.0f + xi * (1.0f - s));
    }
}

void af_sigmoid_backward(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++) {
        float yi = y[i];
        dx[i] = dy[i] * (1.0f - yi) * yi;
    }
}
