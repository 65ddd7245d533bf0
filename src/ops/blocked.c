/* Conversions and channel copies for the nChw8c layout (ops/blocked.h). */
#include "ops/blocked.h"

#include <math.h>
#include <string.h>

void af_nhwc_to_blk(int n, int h, int w, int c, const float *src, float *dst)
{
    const size_t hw = (size_t)h * w;
    const int cp = af_blk_pad(c);
    for (int b = 0; b < n; b++) {
        const float *s = src + (size_t)b * hw * c;
        float *d = dst + (size_t)b * hw * cp;
        for (int cb = 0; cb < cp / AF_BLK; cb++) {
            float *plane = d + (size_t)cb * hw * AF_BLK;
            int c0 = cb * AF_BLK, nl = c - c0 < AF_BLK ? c - c0 : AF_BLK;
            for (size_t p = 0; p < hw; p++) {
                float *o = plane + p * AF_BLK;
                int l = 0;
                for (; l < nl; l++)
                    o[l] = s[p * c + c0 + l];
                for (; l < AF_BLK; l++)
                    o[l] = 0.0f;
            }
        }
    }
}

void af_blk_to_nhwc(int n, int h, int w, int c, const float *src, float *dst, int threads)
{
    const size_t hw = (size_t)h * w;
    const int cp = af_blk_pad(c);
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if (hw * (size_t)n * (size_t)c > 65536)
    for (long r = 0; r < (long)n * h; r++) { /* one image row at a time */
        const size_t b = (size_t)r / (size_t)h, p0 = ((size_t)r % (size_t)h) * (size_t)w;
        const float *s = src + b * hw * (size_t)cp;
        float *d = dst + b * hw * (size_t)c;
        for (int cb = 0; cb < cp / AF_BLK; cb++) {
            const float *plane = s + (size_t)cb * hw * AF_BLK;
            int c0 = cb * AF_BLK, nl = c - c0 < AF_BLK ? c - c0 : AF_BLK;
            for (size_t p = p0; p < p0 + (size_t)w; p++)
                for (int l = 0; l < nl; l++)
                    d[p * (size_t)c + (size_t)(c0 + l)] = plane[p * AF_BLK + (size_t)l];
        }
    }
}

void af_nhwc_to_nchw(int n, int h, int w, int c, const float *src, float *dst, int threads)
{
    const size_t hw = (size_t)h * w;
    /* row by row, each pixel read once and its channels scattered to the planes */
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if (hw * (size_t)n * (size_t)c > 65536)
    for (long r = 0; r < (long)n * h; r++) {
        const size_t b = (size_t)r / (size_t)h, y = (size_t)r % (size_t)h;
        const float *s = src + (b * hw + y * (size_t)w) * (size_t)c;
        float *d = dst + b * (size_t)c * hw + y * (size_t)w;
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                d[(size_t)ch * hw + (size_t)x] = s[(size_t)x * (size_t)c + (size_t)ch];
    }
}

void af_nchw_to_nhwc(int n, int h, int w, int c, const float *src, float *dst)
{
    const size_t hw = (size_t)h * w;
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            const float *s = src + ((size_t)b * c + ch) * hw;
            float *d = dst + (size_t)b * hw * c + ch;
            for (size_t p = 0; p < hw; p++)
                d[p * c] = s[p];
        }
}

/* Channels [s_off, s_off + cn) of image src (cs channels) to channels
 * [d_off, d_off + cn) of image dst (cd channels); hw pixels. */
static void copy_channel_range(size_t hw, const float *src, int s_off, float *dst, int d_off,
                               int cn)
{
    if (s_off % AF_BLK == 0 && d_off % AF_BLK == 0) {
        size_t whole = (size_t)(cn / AF_BLK);
        memcpy(dst + (size_t)(d_off / AF_BLK) * hw * AF_BLK,
               src + (size_t)(s_off / AF_BLK) * hw * AF_BLK, whole * hw * AF_BLK * sizeof *dst);
        int done = (int)whole * AF_BLK;
        if (done == cn)
            return;
        s_off += done;
        d_off += done;
        cn -= done;
    }
    for (int k = 0; k < cn; k++) {
        int sc = s_off + k, dc = d_off + k;
        const float *s = src + (size_t)(sc / AF_BLK) * hw * AF_BLK + sc % AF_BLK;
        float *d = dst + (size_t)(dc / AF_BLK) * hw * AF_BLK + dc % AF_BLK;
        for (size_t p = 0; p < hw; p++)
            d[p * AF_BLK] = s[p * AF_BLK];
    }
}

/* Zeroes the padding lanes (channels c..Cp-1) of one image. */
static void zero_padding(size_t hw, int c, float *img)
{
    int cp = af_blk_pad(c);
    if (cp == c)
        return;
    float *plane = img + (size_t)(c / AF_BLK) * hw * AF_BLK;
    for (size_t p = 0; p < hw; p++)
        for (int l = c % AF_BLK; l < AF_BLK; l++)
            plane[p * AF_BLK + l] = 0.0f;
}

void af_blk_concat(int n, int h, int w, int nin, const float *const *srcs, const int *cs,
                   float *dst)
{
    const size_t hw = (size_t)h * w;
    int ctot = 0;
    for (int i = 0; i < nin; i++)
        ctot += cs[i];
    for (int b = 0; b < n; b++) {
        float *d = dst + (size_t)b * af_blk_pad(ctot) * hw;
        int off = 0;
        for (int i = 0; i < nin; i++) {
            copy_channel_range(hw, srcs[i] + (size_t)b * af_blk_pad(cs[i]) * hw, 0, d, off,
                               cs[i]);
            off += cs[i];
        }
        zero_padding(hw, ctot, d);
    }
}

void af_blk_copy_channels(int n, int h, int w, int c_total, int c_off, int c_n,
                          const float *src, float *dst)
{
    const size_t hw = (size_t)h * w;
    for (int b = 0; b < n; b++) {
        float *d = dst + (size_t)b * af_blk_pad(c_n) * hw;
        copy_channel_range(hw, src + (size_t)b * af_blk_pad(c_total) * hw, c_off, d, 0, c_n);
        zero_padding(hw, c_n, d);
    }
}

void af_blk_affine_silu(int n, int h, int w, int c, const float *alpha, const float *beta,
                        float *v)
{
    const size_t hw = (size_t)h * w;
    const int cp = af_blk_pad(c);
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            float *p0 = v + ((size_t)b * cp + (size_t)(ch / AF_BLK) * AF_BLK) * hw + ch % AF_BLK;
            for (size_t p = 0; p < hw; p++) {
                float x = p0[p * AF_BLK] * alpha[ch] + beta[ch];
                p0[p * AF_BLK] = x / (1.0f + expf(-x));
            }
        }
}
