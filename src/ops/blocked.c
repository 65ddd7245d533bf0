/* Conversions and channel copies for the nChw8c / nChw16c layouts (ops/blocked.h). */
#include "ops/blocked.h"

#include <math.h>
#include <string.h>

#include "ops/exp_avx2.h" /* AF_AVX2 */

void af_nhwc_to_blk(int blk, int n, int h, int w, int c, const float *src, float *dst)
{
    const size_t hw = (size_t)h * w;
    const int cp = af_blk_pad(blk, c);
    for (int b = 0; b < n; b++) {
        const float *s = src + (size_t)b * hw * c;
        float *d = dst + (size_t)b * hw * cp;
        for (int cb = 0; cb < cp / blk; cb++) {
            float *plane = d + (size_t)cb * hw * blk;
            int c0 = cb * blk, nl = c - c0 < blk ? c - c0 : blk;
            for (size_t p = 0; p < hw; p++) {
                float *o = plane + p * blk;
                int l = 0;
                for (; l < nl; l++)
                    o[l] = s[p * c + c0 + l];
                for (; l < blk; l++)
                    o[l] = 0.0f;
            }
        }
    }
}

void af_blk_to_nhwc(int blk, int n, int h, int w, int c, const float *src, float *dst,
                    int threads)
{
    const size_t hw = (size_t)h * w;
    const int cp = af_blk_pad(blk, c);
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if (hw * (size_t)n * (size_t)c > 65536)
    for (long r = 0; r < (long)n * h; r++) { /* one image row at a time */
        const size_t b = (size_t)r / (size_t)h, p0 = ((size_t)r % (size_t)h) * (size_t)w;
        const float *s = src + b * hw * (size_t)cp;
        float *d = dst + b * hw * (size_t)c;
        for (int cb = 0; cb < cp / blk; cb++) {
            const float *plane = s + (size_t)cb * hw * blk;
            int c0 = cb * blk, nl = c - c0 < blk ? c - c0 : blk;
            for (size_t p = p0; p < p0 + (size_t)w; p++)
                for (int l = 0; l < nl; l++)
                    d[p * (size_t)c + (size_t)(c0 + l)] = plane[p * blk + (size_t)l];
        }
    }
}

#ifdef AF_HAVE_AVX2_KERNELS
/* 8 RGB pixels (24 floats at s) to 8 values of each plane (d, d + hw, d +
 * 2 hw): per plane, two blends gather its values (at positions 0/3/6 of the
 * first vector, 1/4/7 of the second, 2/5 of the third, rotated per plane)
 * and one permutation orders them. */
static AF_AVX2 void rgb8_to_planes(const float *s, float *d, size_t hw)
{
    const __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8), c = _mm256_loadu_ps(s + 16);
    const __m256 r = _mm256_blend_ps(_mm256_blend_ps(a, b, 0x92), c, 0x24),
                 g = _mm256_blend_ps(_mm256_blend_ps(a, b, 0x24), c, 0x49),
                 bl = _mm256_blend_ps(_mm256_blend_ps(a, b, 0x49), c, 0x92);
    _mm256_storeu_ps(d, _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5)));
    _mm256_storeu_ps(d + hw,
                     _mm256_permutevar8x32_ps(g, _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6)));
    _mm256_storeu_ps(d + 2 * hw,
                     _mm256_permutevar8x32_ps(bl, _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7)));
}
#endif

/* One image row of af_nhwc_to_nchw: s the row's pixels, d its place in the
 * first plane. */
static void row_to_planes(const float *s, float *d, int w, int c, size_t hw)
{
    int x = 0;
#ifdef AF_HAVE_AVX2_KERNELS
    if (c == 3 && af_have_avx2()) /* an RGB image: the network input */
        for (; x + 8 <= w; x += 8)
            rgb8_to_planes(s + (size_t)x * 3, d + x, hw);
#endif
    for (; x < w; x++)
        for (int ch = 0; ch < c; ch++)
            d[(size_t)ch * hw + (size_t)x] = s[(size_t)x * (size_t)c + (size_t)ch];
}

void af_nhwc_to_nchw(int n, int h, int w, int c, const float *src, float *dst, int threads)
{
    const size_t hw = (size_t)h * w;
    /* row by row, each pixel read once and its channels scattered to the planes */
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if (hw * (size_t)n * (size_t)c > 65536)
    for (long r = 0; r < (long)n * h; r++) {
        const size_t b = (size_t)r / (size_t)h, y = (size_t)r % (size_t)h;
        row_to_planes(src + (b * hw + y * (size_t)w) * (size_t)c,
                      dst + b * (size_t)c * hw + y * (size_t)w, w, c, hw);
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

/* Channels [s_off, s_off + cn) of image src to channels [d_off, d_off + cn)
 * of image dst, pixels [p0, p1) of the hw of each plane: whole planes where
 * both offsets sit on a block boundary, lane by lane elsewhere. */
static void copy_channel_range(int blk, size_t hw, size_t p0, size_t p1, const float *src,
                               int s_off, float *dst, int d_off, int cn)
{
    for (int c = 0; c < cn;) {
        const int sc = s_off + c, dc = d_off + c;
        const float *s = src + (size_t)(sc / blk) * hw * blk;
        float *d = dst + (size_t)(dc / blk) * hw * blk;
        if (sc % blk == 0 && dc % blk == 0 && cn - c >= blk) { /* a whole plane */
            memcpy(d + p0 * blk, s + p0 * blk, (p1 - p0) * blk * sizeof *d);
            c += blk;
            continue;
        }
        for (size_t p = p0; p < p1; p++)
            d[p * blk + dc % blk] = s[p * blk + sc % blk];
        c++;
    }
}

/* Zeroes the padding lanes (channels c..Cp-1) of pixels [p0, p1) of one image. */
static void zero_padding(int blk, size_t hw, size_t p0, size_t p1, int c, float *img)
{
    if (c % blk == 0)
        return;
    float *plane = img + (size_t)(c / blk) * hw * blk;
    for (size_t p = p0; p < p1; p++)
        for (int l = c % blk; l < blk; l++)
            plane[p * blk + l] = 0.0f;
}

void af_blk_concat(int blk, int n, int h, int w, int nin, const float *const *srcs,
                   const int *cs, float *dst, int threads)
{
    const size_t hw = (size_t)h * w;
    int ctot = 0;
    for (int i = 0; i < nin; i++)
        ctot += cs[i];
    /* each image's pixels in chunks, every part's planes copied per chunk */
    const size_t chunk = 8192 / (size_t)blk; /* pixels: 32 KiB of one plane */
    const long per = (long)((hw + chunk - 1) / chunk), tasks = (long)n * per;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) \
    if (hw * (size_t)n * (size_t)ctot > 65536)
    for (long t = 0; t < tasks; t++) {
        const int b = (int)(t / per);
        const size_t p0 = (size_t)(t % per) * chunk, p1 = p0 + chunk < hw ? p0 + chunk : hw;
        float *d = dst + (size_t)b * af_blk_pad(blk, ctot) * hw;
        int off = 0;
        for (int i = 0; i < nin; i++) {
            copy_channel_range(blk, hw, p0, p1,
                               srcs[i] + (size_t)b * af_blk_pad(blk, cs[i]) * hw, 0, d, off,
                               cs[i]);
            off += cs[i];
        }
        zero_padding(blk, hw, p0, p1, ctot, d);
    }
}

void af_blk_copy_channels(int blk, int n, int h, int w, int c_total, int c_off, int c_n,
                          const float *src, float *dst)
{
    const size_t hw = (size_t)h * w;
    for (int b = 0; b < n; b++) {
        float *d = dst + (size_t)b * af_blk_pad(blk, c_n) * hw;
        copy_channel_range(blk, hw, 0, hw, src + (size_t)b * af_blk_pad(blk, c_total) * hw,
                           c_off, d, 0, c_n);
        zero_padding(blk, hw, 0, hw, c_n, d);
    }
}

void af_blk_affine_act(int blk, int n, int h, int w, int c, const float *alpha,
                       const float *beta, int silu, float *v)
{
    const size_t hw = (size_t)h * w;
    const int cp = af_blk_pad(blk, c);
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            float *p0 = v + ((size_t)b * cp + (size_t)(ch / blk) * blk) * hw + ch % blk;
            for (size_t p = 0; p < hw; p++) {
                float x = p0[p * blk] * alpha[ch] + beta[ch];
                p0[p * blk] = silu ? x / (1.0f + expf(-x)) : x;
            }
        }
}
