/* OpenCV 4.6 cv::resize(INTER_AREA) for 8-bit images when shrinking (both scales >= 1),
 * bit-exact with its SSE2 baseline build; see resize.h. The names below are OpenCV's. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/resize.h"

/* saturate_cast<uchar>(float): cvRound (nearest, ties to even), then clamp. */
static uint8_t sat_u8_f(float v)
{
    long r = lrintf(v);
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* resizeAreaFast_ for an integer scale other than 2x2: the plain sum of each cell,
 * times the float 1/area, rounded. */
static void area_fast(const uint8_t *src, size_t sstride, int c, int sx, int sy, uint8_t *dst,
                      int dw, int dh, size_t dstride)
{
    const float scale = 1.f / (float)(sx * sy);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int k = 0; k < c; k++) {
                int sum = 0;
                for (int j = 0; j < sy; j++) {
                    const uint8_t *s = src + (size_t)(y * sy + j) * sstride + (size_t)x * sx * c + k;
                    for (int i = 0; i < sx; i++)
                        sum += s[(size_t)i * c];
                }
                dst[(size_t)y * dstride + (size_t)x * c + k] = sat_u8_f((float)sum * scale);
            }
}

typedef struct decimate_alpha {
    int si, di;
    float alpha;
} decimate_alpha;

/* computeResizeAreaTab: the source cells (whole and partial) of each output pixel. */
static int area_tab(int ssize, int dsize, int cn, double scale, decimate_alpha *tab)
{
    int k = 0;
    for (int dx = 0; dx < dsize; dx++) {
        double fsx1 = dx * scale;
        double fsx2 = fsx1 + scale;
        double cell = scale < ssize - fsx1 ? scale : ssize - fsx1;
        int sx1 = (int)ceil(fsx1), sx2 = (int)floor(fsx2);
        sx2 = sx2 < ssize - 1 ? sx2 : ssize - 1;
        sx1 = sx1 < sx2 ? sx1 : sx2;
        if (sx1 - fsx1 > 1e-3)
            tab[k++] = (decimate_alpha){(sx1 - 1) * cn, dx * cn, (float)((sx1 - fsx1) / cell)};
        for (int sx = sx1; sx < sx2; sx++)
            tab[k++] = (decimate_alpha){sx * cn, dx * cn, (float)(1.0 / cell)};
        if (fsx2 - sx2 > 1e-3) {
            double part = fsx2 - sx2 < 1. ? fsx2 - sx2 : 1.;
            tab[k++] = (decimate_alpha){sx2 * cn, dx * cn, (float)((part < cell ? part : cell) / cell)};
        }
    }
    return k;
}

/* ResizeArea_Invoker<uchar, float>: float weights, row by row. */
static af_status area_general(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                              uint8_t *dst, int dw, int dh, size_t dstride, double scale_x,
                              double scale_y, af_error *err)
{
    const int width = dw * c;
    decimate_alpha *xtab = malloc((size_t)sw * 2 * c * sizeof *xtab);
    decimate_alpha *ytab = malloc((size_t)sh * 2 * sizeof *ytab);
    float *buf = malloc((size_t)width * 2 * sizeof *buf);
    if (!xtab || !ytab || !buf) {
        free(xtab);
        free(ytab);
        free(buf);
        return af_fail(err, AF_E_NOMEM, "resize: out of memory");
    }
    float *sum = buf + width;
    int nx = area_tab(sw, dw, c, scale_x, xtab);
    /* OpenCV expands the tab per channel: entry (si + k, di + k) for k < cn */
    int ny = area_tab(sh, dh, 1, scale_y, ytab);
    for (int dx = 0; dx < width; dx++)
        sum[dx] = 0.f;
    int prev_dy = ny > 0 ? ytab[0].di : 0;
    for (int j = 0; j < ny; j++) {
        const float beta = ytab[j].alpha;
        const int dy = ytab[j].di;
        const uint8_t *S = src + (size_t)ytab[j].si * sstride;
        for (int dx = 0; dx < width; dx++)
            buf[dx] = 0.f;
        for (int k = 0; k < nx; k++) {
            const int sxn = xtab[k].si, dxn = xtab[k].di;
            const float alpha = xtab[k].alpha;
            for (int ch = 0; ch < c; ch++)
                buf[dxn + ch] = buf[dxn + ch] + (float)S[sxn + ch] * alpha;
        }
        if (dy != prev_dy) {
            uint8_t *D = dst + (size_t)prev_dy * dstride;
            for (int dx = 0; dx < width; dx++) {
                D[dx] = sat_u8_f(sum[dx]);
                sum[dx] = beta * buf[dx];
            }
            prev_dy = dy;
        } else {
            for (int dx = 0; dx < width; dx++)
                sum[dx] = sum[dx] + beta * buf[dx];
        }
    }
    uint8_t *D = dst + (size_t)prev_dy * dstride;
    for (int dx = 0; dx < width; dx++)
        D[dx] = sat_u8_f(sum[dx]);
    free(xtab);
    free(ytab);
    free(buf);
    return AF_OK;
}

af_status af_resize_area_u8_into(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                                 uint8_t *dst, int dw, int dh, size_t dstride, af_error *err)
{
    af_status st = af_resize_check_args(src, sw, sh, sstride, c, dst, dw, dh, dstride, err);
    if (st)
        return st;
    if (dw > sw || dh > sh)
        return af_fail(err, AF_E_ARG, "resize: INTER_AREA here only shrinks (%dx%d -> %dx%d)",
                       sw, sh, dw, dh);
    double scale_x = 1. / ((double)dw / sw), scale_y = 1. / ((double)dh / sh);
    int iscale_x = (int)lrint(scale_x), iscale_y = (int)lrint(scale_y);
    int fast = fabs(scale_x - iscale_x) < DBL_EPSILON && fabs(scale_y - iscale_y) < DBL_EPSILON;
    if ((sw == dw && sh == dh) || (fast && iscale_x == 2 && iscale_y == 2))
        /* a copy, or the 2x2 fast path the INTER_LINEAR code shares */
        return af_resize_linear_u8_into(src, sw, sh, sstride, c, dst, dw, dh, dstride, err);
    if (fast) {
        area_fast(src, sstride, c, iscale_x, iscale_y, dst, dw, dh, dstride);
        return AF_OK;
    }
    return area_general(src, sw, sh, sstride, c, dst, dw, dh, dstride, scale_x, scale_y, err);
}
