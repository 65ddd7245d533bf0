/* Depthwise k x k convolution on blocked activations: each block of blk
 * channels is an H x W plane of blk-float lanes, so one output pixel of a
 * block is k*k lane-wise multiply-adds, which the compiler vectorises. */
#include "ops/dwconv.h"

#include <math.h>
#include <stdlib.h>

#include "ops/blocked.h"

static inline float act_of(float x, int silu)
{
    return silu ? x / (1.0f + expf(-x)) : x;
}

void af_dwconv_blk(int blk, int n, int h, int w, int c, int k, const float *weight,
                   const float *bias, const float *alpha, const float *beta, int silu,
                   const float *src, float *dst, int threads)
{
    const int nb = af_blk_pad(blk, c) / blk, r = k / 2;
    const size_t hw = (size_t)h * w;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if (hw * (size_t)n * (size_t)c > 32768)
    for (long job = 0; job < (long)n * nb * h; job++) { /* one output row of one block */
        const int y = (int)(job % h), cb = (int)(job / h % nb), b = (int)(job / h / nb);
        const size_t plane = ((size_t)b * nb + (size_t)cb) * hw * blk;
        const float *s = src + plane;
        float *d = dst + plane + (size_t)y * w * blk;
        float wk[AF_BLK_MAX * 64], b0[AF_BLK_MAX], al[AF_BLK_MAX], be[AF_BLK_MAX]; /* k <= 8 */
        for (int l = 0; l < blk; l++) {
            const int ch = cb * blk + l, live = ch < c;
            for (int t = 0; t < k * k; t++)
                wk[t * blk + l] = live ? weight[(size_t)ch * k * k + (size_t)t] : 0.0f;
            b0[l] = live && bias ? bias[ch] : 0.0f;
            al[l] = live && alpha ? alpha[ch] : 1.0f;
            be[l] = live && beta ? beta[ch] : 0.0f;
        }
        for (int x = 0; x < w; x++) {
            float acc[AF_BLK_MAX];
            for (int l = 0; l < blk; l++)
                acc[l] = 0.0f;
            for (int ky = 0; ky < k; ky++) {
                const int iy = y + ky - r;
                if (iy < 0 || iy >= h)
                    continue;
                for (int kx = 0; kx < k; kx++) {
                    const int ix = x + kx - r;
                    if (ix < 0 || ix >= w)
                        continue;
                    const float *px = s + ((size_t)iy * w + (size_t)ix) * blk;
                    const float *wt = wk + (ky * k + kx) * blk;
                    for (int l = 0; l < blk; l++)
                        acc[l] += px[l] * wt[l];
                }
            }
            float *o = d + (size_t)x * blk;
            for (int l = 0; l < blk; l++) {
                const int live = cb * blk + l < c;
                float v = alpha ? acc[l] * al[l] + be[l] : acc[l] + b0[l];
                o[l] = live ? act_of(v, silu) : 0.0f;
            }
        }
    }
}
