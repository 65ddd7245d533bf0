/*
 * ultralytics 8.1.9 LetterBox (data/augment.py): scale to fit (h, w), pad with a constant.
 * Plan:  r = min(th/h0, tw/w0) (capped at 1 without scaleup); new = round(w0*r), round(h0*r)
 *        (Python round, half to even); pad = target - new, reduced modulo stride when auto_;
 *        centred: top = round(dh/2 - 0.1), bottom = round(dh/2 + 0.1) (same for left/right),
 *        else everything on the bottom/right.
 * Apply: cv2.resize INTER_LINEAR (only if the size changes), then constant border.
 */
#ifndef AF_DETECT_LETTERBOX_H
#define AF_DETECT_LETTERBOX_H

#include <stdint.h>

#include "animeface.h"
#include "io/image.h"

typedef struct af_letterbox {
    int in_h, in_w;   /* padded network input size */
    int new_h, new_w; /* resized image size inside it */
    int top, bottom, left, right;
    double ratio;     /* r: new = orig * r (before rounding) */
} af_letterbox;

/* h0 x w0 image into target_h x target_w; stride used when auto_ (minimal rectangle). */
void af_letterbox_plan(int h0, int w0, int target_h, int target_w, int stride, int auto_,
                       int scaleup, int center, af_letterbox *lb);

/* dst: newly allocated in_h x in_w x src->c (RGB u8 normally); resized only when
 * (new_w, new_h) != (src->w, src->h). src must be lb->... h0 x w0 as planned. */
af_status af_letterbox_apply(const af_image *src, const af_letterbox *lb, uint8_t pad_value,
                             af_image *dst, af_error *err);

/* Maps a point of the letterboxed input back to original-image pixels with the plan's
 * own ratio and offsets: ((x - left) / ratio, (y - top) / ratio). Note: ultralytics'
 * scale_boxes recomputes gain and pad from the shapes instead; use that for goldens. */
void af_letterbox_unmap(const af_letterbox *lb, double x, double y, double *ox, double *oy);

#endif
