/* Nearest x2 upsampling backward: each input pixel gathers its 2x2 children. */
#include "ops/grad.h"

void af_upsample_nearest2x_backward(int n, int h, int w, int c, const float *dy, float *dx)
{
    const size_t cc = (size_t)c, orow = 2 * (size_t)w * cc;
    for (size_t r = 0; r < (size_t)n * h; r++) {
        const float *g0 = dy + 2 * r * orow, *g1 = g0 + orow;
        float *o = dx + r * w * cc;
        for (int x = 0; x < w; x++) {
            const float *a = g0 + 2 * x * cc, *b = a + cc, *e = g1 + 2 * x * cc, *f = e + cc;
            float *ox = o + x * cc;
            for (size_t ch = 0; ch < cc; ch++)
                ox[ch] = ((a[ch] + b[ch]) + e[ch]) + f[ch];
        }
    }
}
