/* The crop rectangle around a face box (the rule is in face_crop.h). */
#include <math.h>

#include "core/error.h"
#include "detect/face_crop.h"

#define MAX_CROP_PIXELS (1.0 * (1 << 28))

static int64_t round_half_up(double v)
{
    return (int64_t)floor(v + 0.5);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

af_status af_face_crop_rect(const float box[4], int img_w, int img_h, const af_face_crop_opts *o,
                            int64_t rect[4], af_error *err)
{
    for (int k = 0; k < 4; k++)
        if (!isfinite(box[k]))
            return af_fail(err, AF_E_ARG, "crop: face box is not finite");
    if (img_w < 1 || img_h < 1 || !(o->margin >= 0) || !(o->aspect >= 0) || !isfinite(o->aspect))
        return af_fail(err, AF_E_ARG, "crop: bad image size or crop options");
    double w = (double)box[2] - box[0], h = (double)box[3] - box[1];
    w = w > 0 ? w : 0;
    h = h > 0 ? h : 0;
    const double cx = ((double)box[0] + box[2]) / 2, cy = ((double)box[1] + box[3]) / 2;
    double W = w * (1 + 2 * o->margin), H = h * (1 + 2 * o->margin);
    if (o->aspect > 0) {
        if (W < H * o->aspect)
            W = H * o->aspect;
        else
            H = W / o->aspect;
    }
    if (!(W * H < MAX_CROP_PIXELS) || W > MAX_CROP_PIXELS || H > MAX_CROP_PIXELS)
        return af_fail(err, AF_E_LIMIT, "crop: a %.0fx%.0f crop is over 2^28 pixels (margin %g)",
                       W, H, o->margin);
    int64_t iw = round_half_up(W), ih = round_half_up(H);
    iw = iw < 1 ? 1 : iw;
    ih = ih < 1 ? 1 : ih;
    if (o->pad == AF_PAD_NONE && (iw > img_w || ih > img_h)) {
        if (o->aspect > 0) {
            double s = fmin((double)img_w / iw, (double)img_h / ih);
            iw = clamp64(round_half_up(iw * s), 1, img_w);
            ih = clamp64(round_half_up(ih * s), 1, img_h);
        } else {
            iw = iw < img_w ? iw : img_w;
            ih = ih < img_h ? ih : img_h;
        }
    }
    int64_t x0 = (int64_t)floor(cx - iw / 2.0 + 0.5), y0 = (int64_t)floor(cy - ih / 2.0 + 0.5);
    if (o->pad == AF_PAD_NONE) {
        x0 = clamp64(x0, 0, img_w - iw);
        y0 = clamp64(y0, 0, img_h - ih);
    }
    rect[0] = x0;
    rect[1] = y0;
    rect[2] = x0 + iw;
    rect[3] = y0 + ih;
    return AF_OK;
}

void af_face_box_in_crop(const float box[4], const int64_t rect[4], int out_w, int out_h,
                         double out[4])
{
    const double sx = (double)out_w / (double)(rect[2] - rect[0]);
    const double sy = (double)out_h / (double)(rect[3] - rect[1]);
    out[0] = ((double)box[0] - rect[0]) * sx;
    out[1] = ((double)box[1] - rect[1]) * sy;
    out[2] = ((double)box[2] - rect[0]) * sx;
    out[3] = ((double)box[3] - rect[1]) * sy;
}
