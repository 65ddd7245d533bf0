/* float32 -> bfloat16 with round-to-nearest-even. */
#include "ops/bf16.h"

#include <string.h>

uint16_t af_bf16_from_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
        return (uint16_t)((u >> 16) | 0x0040u); /* NaN: keep sign, force quiet */
    u += 0x7fffu + ((u >> 16) & 1u);            /* ties to even; may carry into the exponent */
    return (uint16_t)(u >> 16);
}

void af_bf16_from_f32_array(const float *src, uint16_t *dst, size_t n, int threads)
{
    long long nn = (long long)n;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) if (n > 65536)
    for (long long i = 0; i < nn; i++)
        dst[i] = af_bf16_from_f32(src[i]);
}
