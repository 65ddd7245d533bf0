/* Bit-exact reimplementation of OpenCV 4.6 cv::resize(INTER_LINEAR) for 8-bit images.
 * See resize.h for the arithmetic; the comments below name the OpenCV stage each part
 * corresponds to (hal::resize set-up, HResizeLinear, VResizeLinear + its SSE2 vector op). */
#include "detect/resize.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

enum { COEF_BITS = 11, COEF_SCALE = 1 << COEF_BITS };

/* saturate_cast<short>(float): round half to even (cvRound), then clamp. */
static short sat_short_f(float v)
{
    float r = rintf(v);
    if (r > 32767.f)
        return 32767;
    if (r < -32768.f)
        return -32768;
    return (short)r;
}

static uint8_t sat_u8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* saturate_cast<int>(double) is cvRound: nearest, ties to even. */
static int round_int(double v)
{
    return (int)lrint(v);
}

/* INTER_AREA fast path for an exact 2x reduction (resizeAreaFast_ / ResizeAreaFastVec). */
static void area_fast_2x(const uint8_t *src, size_t sstride, int c, uint8_t *dst, int dw, int dh,
                         size_t dstride)
{
    for (int y = 0; y < dh; y++) {
        const uint8_t *s0 = src + (size_t)(2 * y) * sstride;
        const uint8_t *s1 = s0 + sstride;
        uint8_t *d = dst + (size_t)y * dstride;
        for (int x = 0; x < dw; x++) {
            for (int k = 0; k < c; k++) {
                size_t i = (size_t)(2 * x) * c + k;
                int sum = s0[i] + s0[i + c] + s1[i] + s1[i + c];
                /* cn 1/3/4: integer (sum + 2) >> 2; cn 2 takes OpenCV's float path */
                d[(size_t)x * c + k] = c == 2 ? sat_u8((int)rintf((float)sum * 0.25f))
                                              : (uint8_t)((sum + 2) >> 2);
            }
        }
    }
}

/* HResizeLinear<uchar,int,short,2048>: exact integer taps. */
static void hresize_row(const uint8_t *s, int c, int dw, const int *xofs, const short *alpha,
                        int *out)
{
    for (int dx = 0; dx < dw; dx++) {
        const uint8_t *p = s + (size_t)xofs[dx] * c;
        int a0 = alpha[2 * dx], a1 = alpha[2 * dx + 1];
        for (int k = 0; k < c; k++)
            out[dx * c + k] = p[k] * a0 + (a1 ? p[k + c] * a1 : 0);
    }
}

af_status af_resize_check_args(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                               const uint8_t *dst, int dw, int dh, size_t dstride, af_error *err)
{
    if (!src || !dst || sw < 1 || sh < 1 || dw < 1 || dh < 1 || c < 1 || c > 4)
        return af_fail(err, AF_E_ARG, "resize: bad sizes %dx%dx%d -> %dx%d", sw, sh, c, dw, dh);
    size_t wbytes;
    if (af_mul_size((size_t)dw, (size_t)c, &wbytes) || wbytes > (size_t)(1 << 28) ||
        sstride < (size_t)sw * c || dstride < wbytes)
        return af_fail(err, AF_E_ARG, "resize: bad row sizes (%dx%d -> %dx%d)", sw, sh, dw, dh);
    return AF_OK;
}

af_status af_resize_linear_u8_into(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                                   uint8_t *dst, int dw, int dh, size_t dstride, af_error *err)
{
    af_status st = af_resize_check_args(src, sw, sh, sstride, c, dst, dw, dh, dstride, err);
    if (st)
        return st;
    size_t wbytes = (size_t)dw * c;

    if (sw == dw && sh == dh) { /* cv::resize copies */
        for (int y = 0; y < dh; y++)
            memcpy(dst + (size_t)y * dstride, src + (size_t)y * sstride, wbytes);
        return AF_OK;
    }

    double inv_scale_x = (double)dw / sw, inv_scale_y = (double)dh / sh;
    double scale_x = 1. / inv_scale_x, scale_y = 1. / inv_scale_y;
    int iscale_x = round_int(scale_x), iscale_y = round_int(scale_y);
    int area_fast = fabs(scale_x - iscale_x) < DBL_EPSILON && fabs(scale_y - iscale_y) < DBL_EPSILON;
    if (area_fast && iscale_x == 2 && iscale_y == 2) {
        area_fast_2x(src, sstride, c, dst, dw, dh, dstride);
        return AF_OK;
    }

    int width = (int)wbytes;
    int *xofs = malloc((size_t)dw * sizeof *xofs);
    short *alpha = malloc((size_t)dw * 2 * sizeof *alpha);
    int *rowbuf = malloc((size_t)width * 2 * sizeof *rowbuf);
    if (!xofs || !alpha || !rowbuf) {
        free(xofs);
        free(alpha);
        free(rowbuf);
        return af_fail(err, AF_E_NOMEM, "resize: out of memory");
    }

    /* hal::resize: x offsets and coefficients, computed in float from a double position. */
    for (int dx = 0; dx < dw; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        if (sx < 0)
            fx = 0, sx = 0;
        if (sx >= sw - 1)
            fx = 0, sx = sw - 1;
        xofs[dx] = sx;
        alpha[2 * dx] = sat_short_f((1.f - fx) * (float)COEF_SCALE);
        alpha[2 * dx + 1] = sat_short_f(fx * (float)COEF_SCALE);
    }

    int *rows[2] = {rowbuf, rowbuf + width};
    int cached[2] = {-1, -1};
    for (int dy = 0; dy < dh; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy; /* not clamped for rows outside the image: both taps hit the edge row */
        short b0 = sat_short_f((1.f - fy) * (float)COEF_SCALE);
        short b1 = sat_short_f(fy * (float)COEF_SCALE);
        int r[2];
        for (int k = 0; k < 2; k++) {
            int v = sy + k;
            r[k] = v < 0 ? 0 : v >= sh ? sh - 1 : v;
        }
        /* horizontal pass, reusing rows already computed for the previous output row */
        if (cached[0] != r[0] && cached[1] == r[0]) {
            int *tp = rows[0];
            rows[0] = rows[1];
            rows[1] = tp;
            int tc = cached[0];
            cached[0] = cached[1];
            cached[1] = tc;
        }
        for (int k = 0; k < 2; k++) {
            if (cached[k] != r[k]) {
                hresize_row(src + (size_t)r[k] * sstride, c, dw, xofs, alpha, rows[k]);
                cached[k] = r[k];
            }
        }
        /* vertical pass: VResizeLinear<uchar, int, short, ...> specialisation. Its SSE2
         * loop and its scalar tail use the same arithmetic: each 32-bit row value is
         * shifted right by 4, multiplied by the 16-bit beta keeping the high 16 bits, the
         * two products summed and rounded away with (+2) >> 2. (S >> 4 <= 32640 and
         * beta <= 2048, so 16-bit saturation never triggers.) */
        uint8_t *d = dst + (size_t)dy * dstride;
        const int *S0 = rows[0], *S1 = rows[1];
        for (int x = 0; x < width; x++) {
            int t = (((S0[x] >> 4) * b0) >> 16) + (((S1[x] >> 4) * b1) >> 16);
            d[x] = sat_u8((t + 2) >> 2);
        }
    }
    free(xofs);
    free(alpha);
    free(rowbuf);
    return AF_OK;
}

af_status af_resize_linear_u8(const af_image *src, int new_w, int new_h, af_image *dst,
                              af_error *err)
{
    if (!src || !src->data)
        return af_fail(err, AF_E_ARG, "resize: empty source image");
    af_status st = af_image_alloc(dst, new_w, new_h, src->c, err);
    if (st)
        return st;
    st = af_resize_linear_u8_into(src->data, src->w, src->h, (size_t)src->w * src->c, src->c,
                                  dst->data, new_w, new_h, (size_t)new_w * src->c, err);
    if (st)
        af_image_free(dst);
    return st;
}
