/* float32 -> bfloat16 with round-to-nearest-even. */
#include "ops/bf16.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AF_HAVE_BF16_KERNEL 1
#endif

uint16_t af_bf16_from_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
        return (uint16_t)((u >> 16) | 0x0040u); /* NaN: keep sign, force quiet */
    u += 0x7fffu + ((u >> 16) & 1u);            /* ties to even; may carry into the exponent */
    return (uint16_t)(u >> 16);
}

#ifdef AF_HAVE_BF16_KERNEL
/* 16 floats at a time by VCVTNEPS2BF16: round to nearest even, NaN kept quiet
 * with its sign, as af_bf16_from_f32; denormal inputs become signed zeros (the
 * instruction's rule, and oneDNN's own f32 -> bf16 reorder on these CPUs).
 * The tail goes through the scalar rule. */
__attribute__((target("avx512f,avx512bf16"))) static void from_f32_avx512(const float *src,
                                                                          uint16_t *dst,
                                                                          size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a = _mm512_loadu_ps(src + i), b = _mm512_loadu_ps(src + i + 16);
        _mm512_storeu_si512((void *)(dst + i), (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
    for (; i < n; i++)
        dst[i] = af_bf16_from_f32(src[i]);
}
#endif

static void from_f32_scalar(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = af_bf16_from_f32(src[i]);
}

void af_bf16_from_f32_run(const float *src, uint16_t *dst, size_t n)
{
#ifdef AF_HAVE_BF16_KERNEL
    if (__builtin_cpu_supports("avx512bf16")) {
        from_f32_avx512(src, dst, n);
        return;
    }
#endif
    from_f32_scalar(src, dst, n);
}

void af_bf16_from_f32_array(const float *src, uint16_t *dst, size_t n, int threads)
{
    void (*fn)(const float *, uint16_t *, size_t) = af_bf16_from_f32_run;
    /* slices of 4096 floats (whole 64-byte lines on both sides) */
    const long long chunks = (long long)((n + 4095) / 4096);
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) if (n > 65536)
    for (long long c = 0; c < chunks; c++) {
        const size_t off = (size_t)c * 4096, len = n - off < 4096 ? n - off : 4096;
        fn(src + off, dst + off, len);
    }
}
