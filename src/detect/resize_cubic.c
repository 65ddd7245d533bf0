/* OpenCV 4.6 cv::resize(INTER_CUBIC) for 8-bit images, bit-exact with its SSE2
 * baseline build; see resize.h. The names below are OpenCV's (resizeGeneric_,
 * HResizeCubic, VResizeCubic, VResizeCubicVec_32s8u). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/resize.h"

enum { COEF_BITS = 11, COEF_SCALE = 1 << COEF_BITS, VEC = 8 };

/* interpolateCubic, A = -0.75, in float (no FMA: the build has none, nor OpenCV's SSE2). */
static void cubic_coeffs(float x, float *c)
{
    const float A = -0.75f;
    c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = 1.f - c[0] - c[1] - c[2];
}

/* saturate_cast<short>(float * 2048) */
static void fixed_coeffs(float x, short *out)
{
    float c[4];
    cubic_coeffs(x, c);
    for (int k = 0; k < 4; k++) {
        float r = rintf(c[k] * (float)COEF_SCALE);
        out[k] = (short)(r > 32767.f ? 32767 : r < -32768.f ? -32768 : r);
    }
}

/* The source position of an output pixel: float((d + 0.5) * scale - 0.5), split. */
static int src_pos(int d, double scale, float *frac)
{
    float f = (float)((d + 0.5) * scale - 0.5);
    int s = (int)floorf(f);
    *frac = f - (float)s;
    return s;
}

static int clampi(int v, int n)
{
    return v < 0 ? 0 : v >= n ? n - 1 : v;
}

/* HResizeCubic: four taps at sx-1..sx+2, edge pixels repeated past the borders. */
static void hresize(const uint8_t *s, int sw, int c, int dw, const int *xofs, const short *alpha,
                    int *out)
{
    for (int dx = 0; dx < dw; dx++) {
        const short *a = alpha + 4 * dx;
        int t[4];
        for (int j = 0; j < 4; j++)
            t[j] = clampi(xofs[dx] - 1 + j, sw) * c;
        for (int k = 0; k < c; k++)
            out[dx * c + k] = s[t[0] + k] * a[0] + s[t[1] + k] * a[1] + s[t[2] + k] * a[2] +
                              s[t[3] + k] * a[3];
    }
}

static uint8_t sat_u8(long v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* VResizeCubic: the vector op takes 8 values at a time in float (beta / 2^22, the
 * products summed from the last row up, rounded to even); the tail is OpenCV's
 * fixed point (sum + 2^21) >> 22. */
static void vresize(const int *const *S, const short *beta, int width, uint8_t *d)
{
    const float scale = 1.f / (float)(COEF_SCALE * COEF_SCALE);
    float b[4];
    for (int k = 0; k < 4; k++)
        b[k] = (float)beta[k] * scale;
    const int bulk = width / VEC * VEC; /* for (x = 0; x <= width - 8; x += 8) */
    int x = 0;
    for (; x < bulk; x++) {
        float t = (float)S[3][x] * b[3];
        t = (float)S[2][x] * b[2] + t;
        t = (float)S[1][x] * b[1] + t;
        t = (float)S[0][x] * b[0] + t;
        d[x] = sat_u8(lrintf(t));
    }
    for (; x < width; x++) {
        long v = (long)S[0][x] * beta[0] + (long)S[1][x] * beta[1] + (long)S[2][x] * beta[2] +
                 (long)S[3][x] * beta[3];
        d[x] = sat_u8((v + (1L << 21)) >> 22);
    }
}

af_status af_resize_cubic_u8_into(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                                  uint8_t *dst, int dw, int dh, size_t dstride, af_error *err)
{
    af_status st = af_resize_check_args(src, sw, sh, sstride, c, dst, dw, dh, dstride, err);
    if (st)
        return st;
    if (sw == dw && sh == dh) /* cv::resize copies */
        return af_resize_linear_u8_into(src, sw, sh, sstride, c, dst, dw, dh, dstride, err);
    const double scale_x = 1. / ((double)dw / sw), scale_y = 1. / ((double)dh / sh);
    const int width = dw * c;
    int *xofs = malloc((size_t)dw * sizeof *xofs);
    short *alpha = malloc((size_t)dw * 4 * sizeof *alpha);
    int *rowbuf = malloc((size_t)width * 4 * sizeof *rowbuf);
    if (!xofs || !alpha || !rowbuf) {
        free(xofs);
        free(alpha);
        free(rowbuf);
        return af_fail(err, AF_E_NOMEM, "resize: out of memory");
    }
    for (int dx = 0; dx < dw; dx++) {
        float fx;
        xofs[dx] = src_pos(dx, scale_x, &fx);
        fixed_coeffs(fx, alpha + 4 * dx);
    }
    const int *rows[4];
    for (int dy = 0; dy < dh; dy++) {
        float fy;
        int sy = src_pos(dy, scale_y, &fy);
        short beta[4];
        fixed_coeffs(fy, beta);
        for (int k = 0; k < 4; k++) {
            int *r = rowbuf + (size_t)k * width;
            hresize(src + (size_t)clampi(sy - 1 + k, sh) * sstride, sw, c, dw, xofs, alpha, r);
            rows[k] = r;
        }
        vresize(rows, beta, width, dst + (size_t)dy * dstride);
    }
    free(xofs);
    free(alpha);
    free(rowbuf);
    return AF_OK;
}
