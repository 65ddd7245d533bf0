/* Channel concat and slice: per pixel, contiguous channel runs are copied. */
#include "ops/concat.h"

#include <string.h>

#include "ops/ref.h"

void af_concat_channels(size_t npix, int nin, const float *const *srcs, const int *cs,
                        float *dst)
{
    size_t ctot = 0;
    for (int i = 0; i < nin; i++)
        ctot += (size_t)cs[i];
    for (size_t p = 0; p < npix; p++) {
        float *d = dst + p * ctot;
        for (int i = 0; i < nin; i++) {
            const size_t c = (size_t)cs[i];
            memcpy(d, srcs[i] + p * c, c * sizeof *d);
            d += c;
        }
    }
}

void af_copy_channels(size_t npix, int c_total, int c_off, int c_n, const float *src,
                      float *dst)
{
    const size_t ct = (size_t)c_total, cn = (size_t)c_n;
    src += c_off;
    for (size_t p = 0; p < npix; p++)
        memcpy(dst + p * cn, src + p * ct, cn * sizeof *dst);
}

void af_concat_channels_ref(size_t npix, int nin, const float *const *srcs, const int *cs,
                            float *dst)
{
    int ctot = 0;
    for (int i = 0; i < nin; i++)
        ctot += cs[i];
    for (size_t p = 0; p < npix; p++) {
        int o = 0;
        for (int i = 0; i < nin; i++)
            for (int ch = 0; ch < cs[i]; ch++)
                dst[p * ctot + o++] = srcs[i][p * cs[i] + ch];
    }
}

void af_copy_channels_ref(size_t npix, int c_total, int c_off, int c_n, const float *src,
                          float *dst)
{
    for (size_t p = 0; p < npix; p++)
        for (int ch = 0; ch < c_n; ch++)
            dst[p * c_n + ch] = src[p * c_total + c_off + ch];
}
