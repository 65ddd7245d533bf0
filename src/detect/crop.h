/*
 * Crops like ultralytics 8.1.9 save_one_box(xyxy, im, gain=1.02, pad=10,
 * square=False): xyxy -> xywh (float32), optionally square (w = h = max),
 * wh = wh*gain + pad (float32, gain rounded to float as torch does), back to
 * xyxy, truncated to integers (.long()), clipped to [0, w] x [0, h], then
 * im[y1:y2, x1:x2]. Writing the file is the caller's job.
 */
#ifndef AF_DETECT_CROP_H
#define AF_DETECT_CROP_H

#include <stdint.h>

#include "animeface.h"
#include "io/image.h"

#define AF_CROP_GAIN 1.02
#define AF_CROP_PAD 10

/* The crop rectangle [x0, x1) x [y0, y1) for a w x h image (may be empty:
 * x1 <= x0 or y1 <= y0, as numpy slicing gives an empty array). */
void af_crop_rect(const af_detection *d, int img_w, int img_h, double gain, double pad, int square,
                  int64_t *x0, int64_t *y0, int64_t *x1, int64_t *y1);

/* A new image holding the crop (out->data is malloc'd; free() it). An empty
 * crop gives out->w or out->h == 0 and out->data == NULL. */
af_status af_crop(const af_image *im, const af_detection *d, double gain, double pad, int square,
                  af_image *out, af_error *err);

#endif
