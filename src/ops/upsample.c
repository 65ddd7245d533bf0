/* Nearest x2 upsampling: each input pixel is copied twice into the even output
 * row, which is then copied whole into the odd row. */
#include "ops/upsample.h"

#include <string.h>

#include "ops/ref.h"

void af_upsample_nearest2x(int n, int h, int w, int c, const float *src, float *dst, int threads)
{
    const size_t cc = (size_t)c, orow = 2 * (size_t)w * cc;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if ((size_t)n * h * orow > 65536)
    for (long rr = 0; rr < (long)n * h; rr++) {
        const size_t r = (size_t)rr;
        const float *in = src + r * w * cc;
        float *o = dst + 2 * r * orow;
        for (int x = 0; x < w; x++) {
            memcpy(o + 2 * x * cc, in + x * cc, cc * sizeof *o);
            memcpy(o + (2 * x + 1) * cc, in + x * cc, cc * sizeof *o);
        }
        memcpy(o + orow, o, orow * sizeof *o);
    }
}

void af_upsample2x_ref(int n, int h, int w, int c, const float *src, float *dst)
{
    int oh = 2 * h, ow = 2 * w;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                for (int ch = 0; ch < c; ch++)
                    dst[(((size_t)b * oh + y) * ow + x) * c + ch] =
                        src[(((size_t)b * h + y / 2) * w + x / 2) * c + ch];
}
