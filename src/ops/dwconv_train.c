/* Depthwise convolution on NHWC for training: every loop runs over the
 * channels innermost (contiguous), rows split over threads. */
#include "ops/dwconv_train.h"

#include <stdlib.h>
#include <string.h>

void af_dwconv_train_forward(int n, int h, int w, int c, int k, const float *x,
                             const float *weight, float *y, int threads)
{
    const int r = k / 2;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if ((size_t)n * h * w * c > 32768)
    for (long row = 0; row < (long)n * h; row++) {
        const int b = (int)(row / h), oy = (int)(row % h);
        float *o = y + (size_t)row * w * c;
        memset(o, 0, (size_t)w * c * sizeof *o);
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy + ky - r;
            if (iy < 0 || iy >= h)
                continue;
            const float *xr = x + ((size_t)b * h + iy) * w * c;
            for (int ox = 0; ox < w; ox++)
                for (int kx = 0; kx < k; kx++) {
                    const int ix = ox + kx - r;
                    if (ix < 0 || ix >= w)
                        continue;
                    const float *px = xr + (size_t)ix * c;
                    float *po = o + (size_t)ox * c;
                    for (int ch = 0; ch < c; ch++)
                        po[ch] += px[ch] * weight[((size_t)ch * k + ky) * k + kx];
                }
        }
    }
}

void af_dwconv_train_backward(int n, int h, int w, int c, int k, const float *x,
                              const float *weight, const float *dy, float *dx, float *dweight,
                              int threads)
{
    const int r = k / 2, kk = k * k;
    if (dx) { /* dx[iy, ix] = sum over taps of dy[iy - ky + r, ix - kx + r] * w[ky, kx] */
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if ((size_t)n * h * w * c > 32768)
        for (long row = 0; row < (long)n * h; row++) {
            const int b = (int)(row / h), iy = (int)(row % h);
            float *o = dx + (size_t)row * w * c;
            memset(o, 0, (size_t)w * c * sizeof *o);
            for (int ky = 0; ky < k; ky++) {
                const int oy = iy - ky + r;
                if (oy < 0 || oy >= h)
                    continue;
                const float *gr = dy + ((size_t)b * h + oy) * w * c;
                for (int ix = 0; ix < w; ix++)
                    for (int kx = 0; kx < k; kx++) {
                        const int ox = ix - kx + r;
                        if (ox < 0 || ox >= w)
                            continue;
                        const float *pg = gr + (size_t)ox * c;
                        float *po = o + (size_t)ix * c;
                        for (int ch = 0; ch < c; ch++)
                            po[ch] += pg[ch] * weight[((size_t)ch * k + ky) * k + kx];
                    }
            }
        }
    }
    /* dweight[ch][t] = sum over pixels of dy * x shifted by the tap; per tap,
     * double sums over the channels */
    double *acc = calloc((size_t)kk * c, sizeof *acc);
    if (!acc) { /* no memory for the double sums: float, one tap at a time */
        for (int t = 0; t < kk * c; t++)
            dweight[t] = 0;
    }
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if ((size_t)n * h * w * c > 32768)
    for (int t = 0; t < kk; t++) {
        const int ky = t / k, kx = t % k;
        double *a = acc ? acc + (size_t)t * c : NULL;
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < h; oy++) {
                const int iy = oy + ky - r;
                if (iy < 0 || iy >= h)
                    continue;
                for (int ox = 0; ox < w; ox++) {
                    const int ix = ox + kx - r;
                    if (ix < 0 || ix >= w)
                        continue;
                    const float *pg = dy + (((size_t)b * h + oy) * w + ox) * c;
                    const float *px = x + (((size_t)b * h + iy) * w + ix) * c;
                    if (a)
                        for (int ch = 0; ch < c; ch++)
                            a[ch] += (double)pg[ch] * px[ch];
                    else
                        for (int ch = 0; ch < c; ch++)
                            dweight[(size_t)ch * kk + t] += pg[ch] * px[ch];
                }
            }
    }
    if (acc) {
        for (int t = 0; t < kk; t++)
            for (int ch = 0; ch < c; ch++)
                dweight[(size_t)ch * kk + t] = (float)acc[(size_t)t * c + ch];
        free(acc);
    }
}
