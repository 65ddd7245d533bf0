/* Channel-slice gradient helpers for concat / chunk backward. */
#include "ops/grad.h"

void af_add_to_channels(size_t npix, int c_total, int c_off, int c_n, const float *src,
                        float *dst)
{
    const size_t ct = (size_t)c_total, cn = (size_t)c_n;
    for (size_t i = 0; i < npix; i++) {
        float *d = dst + i * ct + c_off;
        const float *s = src + i * cn;
        for (size_t j = 0; j < cn; j++)
            d[j] += s[j];
    }
}

void af_add_from_channels(size_t npix, int c_total, int c_off, int c_n, const float *src,
                          float *dst)
{
    const size_t ct = (size_t)c_total, cn = (size_t)c_n;
    for (size_t i = 0; i < npix; i++) {
        float *d = dst + i * cn;
        const float *s = src + i * ct + c_off;
        for (size_t j = 0; j < cn; j++)
            d[j] += s[j];
    }
}
