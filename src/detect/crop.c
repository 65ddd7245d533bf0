#include "detect/crop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "detect/boxes.h"

/* float -> int64 as torch's .long() on x86-64 (cvttss2si): truncation, and
 * the "integer indefinite" INT64_MIN for NaN and out-of-range values. */
static int64_t to_long(float v)
{
    if (isnan(v) || v >= 9.2233720368547758e18f || v < -9.2233720368547758e18f)
        return INT64_MIN;
    return (int64_t)v;
}

static int64_t clamp64(int64_t v, int64_t hi)
{
    return v < 0 ? 0 : v > hi ? hi : v;
}

void af_crop_rect(const af_detection *d, int img_w, int img_h, double gain, double pad, int square,
                  int64_t *x0, int64_t *y0, int64_t *x1, int64_t *y1)
{
    const float xyxy[4] = {d->x1, d->y1, d->x2, d->y2};
    float b[4];
    af_xyxy2xywh(xyxy, b);
    if (square) {
        /* b[:, 2:].max(1): NaN propagates */
        float m = (isnan(b[2]) || isnan(b[3])) ? NAN : (b[3] > b[2] ? b[3] : b[2]);
        b[2] = b[3] = m;
    }
    /* tensor * python float, + python number: scalars cast to float32 */
    const float g = (float)gain, p = (float)pad;
    b[2] = b[2] * g + p;
    b[3] = b[3] * g + p;
    float r[4];
    af_xywh2xyxy(b, r);
    *x0 = clamp64(to_long(r[0]), img_w);
    *y0 = clamp64(to_long(r[1]), img_h);
    *x1 = clamp64(to_long(r[2]), img_w);
    *y1 = clamp64(to_long(r[3]), img_h);
}

af_status af_crop(const af_image *im, const af_detection *d, double gain, double pad, int square,
                  af_image *out, af_error *err)
{
    memset(out, 0, sizeof *out);
    if (!im || !im->data || im->w <= 0 || im->h <= 0 || im->c <= 0 || !d)
        return af_fail(err, AF_E_ARG, "crop: empty image");
    int64_t x0, y0, x1, y1;
    af_crop_rect(d, im->w, im->h, gain, pad, square, &x0, &y0, &x1, &y1);
    out->c = im->c;
    if (x1 <= x0 || y1 <= y0)
        return AF_OK; /* numpy gives an empty array */
    const int w = (int)(x1 - x0), h = (int)(y1 - y0);
    size_t row = (size_t)w * im->c, bytes;
    if (af_mul_size(row, (size_t)h, &bytes))
        return af_fail(err, AF_E_LIMIT, "crop: %dx%d too large", w, h);
    out->data = malloc(bytes);
    if (!out->data)
        return af_fail(err, AF_E_NOMEM, "crop: out of memory for %dx%d", w, h);
    out->w = w;
    out->h = h;
    const size_t src_row = (size_t)im->w * im->c;
    for (int y = 0; y < h; y++)
        memcpy(out->data + (size_t)y * row, im->data + (size_t)(y0 + y) * src_row + (size_t)x0 * im->c,
               row);
    return AF_OK;
}
