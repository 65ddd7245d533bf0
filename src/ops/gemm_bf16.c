/* The bf16 register kernels (ops/gemm_bf16.h). */
#include "ops/gemm_bf16.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AF_BF16 __attribute__((target("avx512f,avx512bf16")))

int af_gemm_bf16_supported(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

/* Written out so that the 12 (6) accumulators stay in registers. */
#define BF16_PAIR(r) _mm512_set1_epi32(load_pair(v + (size_t)(r) * vs + 2 * (size_t)k2))

static inline int32_t load_pair(const uint16_t *p)
{
    int32_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

AF_BF16 void af_gemm6x32_bf16(const uint16_t *v, size_t vs, const uint16_t *u, size_t ustride,
                              int K, float *m, size_t ms)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int k2 = 0; k2 < K / 2; k2++) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)(u + (size_t)k2 * 32)),
                       b1 = (__m512bh)_mm512_load_si512(
                           (const void *)(u + ustride + (size_t)k2 * 32));
        __m512bh a;
#define ROW(r)                                                                                     \
    a = (__m512bh)BF16_PAIR(r);                                                                    \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, a, b0);                                                    \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, a, b1);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
#define STORE(r)                                                                                   \
    _mm512_storeu_ps(m + (size_t)(r) * ms, c##r##0);                                               \
    _mm512_storeu_ps(m + (size_t)(r) * ms + 16, c##r##1);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

AF_BF16 void af_gemm6x16_bf16(const uint16_t *v, size_t vs, const uint16_t *u, int K, float *m,
                              size_t ms)
{
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    for (int k2 = 0; k2 < K / 2; k2++) {
        const __m512bh b = (__m512bh)_mm512_load_si512((const void *)(u + (size_t)k2 * 32));
#define ROW(r) c##r = _mm512_dpbf16_ps(c##r, (__m512bh)BF16_PAIR(r), b);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
#define STORE(r) _mm512_storeu_ps(m + (size_t)(r) * ms, c##r);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}
#undef BF16_PAIR

void af_bf16_pack_panels(const float *b, size_t ks, size_t ns, int K, int N, uint16_t *out)
{
    const int panels = (N + 15) / 16;
    for (int q = 0; q < panels; q++)
        for (int k = 0; k < K; k++)
            for (int c = 0; c < 16; c++) {
                const int n = q * 16 + c;
                out[((size_t)q * (size_t)K / 2 + (size_t)(k / 2)) * 32 + (size_t)c * 2 +
                    (size_t)(k % 2)] =
                    n < N ? af_bf16_from_f32(b[(size_t)k * ks + (size_t)n * ns]) : 0;
            }
}

#else

int af_gemm_bf16_supported(void)
{
    return 0;
}

void af_gemm6x32_bf16(const uint16_t *v, size_t vs, const uint16_t *u, size_t ustride, int K,
                      float *m, size_t ms)
{
    (void)v, (void)vs, (void)u, (void)ustride, (void)K, (void)m, (void)ms;
}

void af_gemm6x16_bf16(const uint16_t *v, size_t vs, const uint16_t *u, int K, float *m,
                      size_t ms)
{
    (void)v, (void)vs, (void)u, (void)K, (void)m, (void)ms;
}

#endif
