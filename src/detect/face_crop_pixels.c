/* A crop's pixels (padded past the image) and its resize to the output size. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/face_crop.h"
#include "detect/resize.h"

static int64_t clamp64(int64_t v, int64_t hi)
{
    return v < 0 ? 0 : v > hi ? hi : v;
}

af_status af_face_crop_pixels(const af_image *im, const int64_t rect[4], const af_face_crop_opts *o,
                              af_image *out, af_error *err)
{
    memset(out, 0, sizeof *out);
    if (!im || !im->data || im->w < 1 || im->h < 1 || im->c < 1 || im->c > 4)
        return af_fail(err, AF_E_ARG, "crop: empty image");
    const int64_t w = rect[2] - rect[0], h = rect[3] - rect[1];
    if (w < 1 || h < 1 || w > 65500 * 8 || h > 65500 * 8 || w * h > (1 << 28))
        return af_fail(err, AF_E_LIMIT, "crop: bad crop size %lldx%lld", (long long)w,
                       (long long)h);
    af_status st = af_image_alloc(out, (int)w, (int)h, im->c, err);
    if (st)
        return st;
    const int c = im->c;
    for (int64_t y = 0; y < h; y++) {
        const int64_t sy = rect[1] + y;
        uint8_t *d = out->data + (size_t)y * w * c;
        const int row_in = sy >= 0 && sy < im->h;
        const uint8_t *srow = im->data + (size_t)clamp64(sy, im->h - 1) * im->w * c;
        for (int64_t x = 0; x < w; x++) {
            const int64_t sx = rect[0] + x;
            const int in = row_in && sx >= 0 && sx < im->w;
            if (in || o->pad == AF_PAD_EDGE)
                memcpy(d + x * c, srow + (size_t)clamp64(sx, im->w - 1) * c, (size_t)c);
            else
                for (int k = 0; k < c; k++)
                    d[x * c + k] = o->color[k < 3 ? k : 2];
        }
    }
    return AF_OK;
}

af_status af_face_crop_resize(const af_image *crop, int tw, int th, int no_upscale, af_image *out,
                              af_error *err)
{
    memset(out, 0, sizeof *out);
    if (!crop || !crop->data || tw < 1 || th < 1)
        return af_fail(err, AF_E_ARG, "crop: bad resize %dx%d", tw, th);
    if (no_upscale && (tw > crop->w || th > crop->h)) {
        tw = crop->w;
        th = crop->h;
    }
    af_status st = af_image_alloc(out, tw, th, crop->c, err);
    if (st)
        return st;
    const size_t ss = (size_t)crop->w * crop->c, ds = (size_t)tw * crop->c;
    if (tw <= crop->w && th <= crop->h)
        st = af_resize_area_u8_into(crop->data, crop->w, crop->h, ss, crop->c, out->data, tw, th,
                                    ds, err);
    else
        st = af_resize_cubic_u8_into(crop->data, crop->w, crop->h, ss, crop->c, out->data, tw, th,
                                     ds, err);
    if (st)
        af_image_free(out);
    return st;
}
