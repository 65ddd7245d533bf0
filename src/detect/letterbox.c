/* Letterbox planning and application (ultralytics 8.1.9 LetterBox semantics). */
#include "detect/letterbox.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "detect/resize.h"

/* Python round() of a double: nearest, ties to even (rint in the default rounding mode). */
static int py_round(double v)
{
    return (int)nearbyint(v);
}

/* numpy.mod for ints: result has the sign of the divisor. */
static int py_mod(int a, int b)
{
    int m = a % b;
    return m != 0 && ((m < 0) != (b < 0)) ? m + b : m;
}

void af_letterbox_plan(int h0, int w0, int target_h, int target_w, int stride, int auto_,
                       int scaleup, int center, af_letterbox *lb)
{
    memset(lb, 0, sizeof *lb);
    if (h0 < 1 || w0 < 1 || target_h < 1 || target_w < 1)
        return;
    double r = fmin((double)target_h / h0, (double)target_w / w0);
    if (!scaleup)
        r = fmin(r, 1.0);
    int new_w = py_round(w0 * r), new_h = py_round(h0 * r);
    int dw = target_w - new_w, dh = target_h - new_h;
    if (auto_ && stride > 0) {
        dw = py_mod(dw, stride);
        dh = py_mod(dh, stride);
    }
    if (center) {
        double hw = dw / 2.0, hh = dh / 2.0;
        lb->top = py_round(hh - 0.1);
        lb->bottom = py_round(hh + 0.1);
        lb->left = py_round(hw - 0.1);
        lb->right = py_round(hw + 0.1);
    } else {
        lb->top = 0;
        lb->bottom = py_round(dh + 0.1);
        lb->left = 0;
        lb->right = py_round(dw + 0.1);
    }
    lb->new_w = new_w;
    lb->new_h = new_h;
    lb->ratio = r;
    lb->in_h = new_h + lb->top + lb->bottom;
    lb->in_w = new_w + lb->left + lb->right;
}

af_status af_letterbox_apply(const af_image *src, const af_letterbox *lb, uint8_t pad_value,
                             af_image *dst, af_error *err)
{
    if (!src || !src->data || src->w < 1 || src->h < 1)
        return af_fail(err, AF_E_ARG, "letterbox: empty source image");
    if (lb->new_w < 1 || lb->new_h < 1 || lb->top < 0 || lb->bottom < 0 || lb->left < 0 ||
        lb->right < 0 || lb->in_w != lb->new_w + lb->left + lb->right ||
        lb->in_h != lb->new_h + lb->top + lb->bottom)
        return af_fail(err, AF_E_ARG, "letterbox: invalid plan (resized %dx%d, input %dx%d)",
                       lb->new_w, lb->new_h, lb->in_w, lb->in_h);
    int c = src->c;
    af_status st = af_image_alloc(dst, lb->in_w, lb->in_h, c, err);
    if (st)
        return st;
    size_t dstride = (size_t)lb->in_w * c;
    /* border rows and columns */
    for (int y = 0; y < lb->in_h; y++) {
        uint8_t *row = dst->data + (size_t)y * dstride;
        if (y < lb->top || y >= lb->top + lb->new_h) {
            memset(row, pad_value, dstride);
        } else {
            memset(row, pad_value, (size_t)lb->left * c);
            memset(row + (size_t)(lb->left + lb->new_w) * c, pad_value, (size_t)lb->right * c);
        }
    }
    uint8_t *inner = dst->data + (size_t)lb->top * dstride + (size_t)lb->left * c;
    st = af_resize_linear_u8_into(src->data, src->w, src->h, (size_t)src->w * c, c, inner,
                                  lb->new_w, lb->new_h, dstride, err);
    if (st)
        af_image_free(dst);
    return st;
}

void af_letterbox_unmap(const af_letterbox *lb, double x, double y, double *ox, double *oy)
{
    double r = lb->ratio > 0 ? lb->ratio : 1.0;
    *ox = (x - lb->left) / r;
    *oy = (y - lb->top) / r;
}
