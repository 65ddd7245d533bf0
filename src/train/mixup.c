/* MixUp's image blend: (img * r + img2 * (1 - r)).astype(np.uint8) in float64, i.e.
 * truncation toward zero of a value in [0, 255]. */
#include "core/error.h"
#include "train/augment.h"

af_status af_mixup_blend(af_image *a, const af_image *b, double r, af_error *err)
{
    if (!a->data || !b->data || a->w != b->w || a->h != b->h || a->c != b->c)
        return af_fail(err, AF_E_ARG, "mixup: images differ in size (%dx%dx%d vs %dx%dx%d)",
                       a->w, a->h, a->c, b->w, b->h, b->c);
    if (!(r >= 0.0 && r <= 1.0))
        return af_fail(err, AF_E_ARG, "mixup: ratio %g is outside [0, 1]", r);
    size_t n = (size_t)a->w * (size_t)a->h * (size_t)a->c;
    double q = 1.0 - r;
    for (size_t i = 0; i < n; i++) {
        double v = (double)a->data[i] * r + (double)b->data[i] * q;
        a->data[i] = (uint8_t)(v > 255.0 ? 255.0 : v);
    }
    return AF_OK;
}
