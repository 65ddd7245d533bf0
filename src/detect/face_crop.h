/*
 * Face crops for datasets (`animeface crop`): which detections to keep, the crop
 * rectangle around each face, its pixels (with padding past the image) and the resize
 * to the output size. Pure functions of their arguments; writing files is the caller's.
 *
 * The rectangle, in source-image pixels (the image as decoded, EXIF-upright):
 *  1. the face box (x1, y1, x2, y2), w = x2 - x1, h = y2 - y1, centre (cx, cy);
 *  2. margin m: W = w * (1 + 2m), H = h * (1 + 2m) (m x the box's size on each side);
 *  3. aspect a = W:H of the crop (square: 1): the shorter direction grows, W = max(W, H * a),
 *     H = max(H, W / a), so the grown box stays inside;
 *  4. integer size iw = max(1, round(W)), ih = max(1, round(H)) (round half up), the left
 *     edge x0 = floor(cx - iw / 2 + 0.5), top edge likewise, so [x0, x0 + iw) x [y0, y0 + ih);
 *  5. pad none: a crop larger than the image is shrunk to fit it — both sides by the same
 *     factor s = min(img_w / iw, img_h / ih) (rounded, at most the image) when an aspect
 *     is set, each side to the image's otherwise — recentred as in 4, then shifted inside
 *     the image. The other pad modes keep the rectangle and fill what lies outside:
 *     edge (nearest edge pixel, cv2.BORDER_REPLICATE), a colour (black = 0,0,0).
 */
#ifndef AF_DETECT_FACE_CROP_H
#define AF_DETECT_FACE_CROP_H

#include <stdint.h>

#include "animeface.h"
#include "io/image.h"

typedef enum af_pad_mode { AF_PAD_NONE, AF_PAD_EDGE, AF_PAD_COLOR } af_pad_mode;

typedef struct af_face_crop_opts {
    double margin;   /* >= 0 */
    double aspect;   /* W / H of the crop; 0: the grown box's own */
    af_pad_mode pad;
    uint8_t color[3]; /* AF_PAD_COLOR, RGB */
} af_face_crop_opts;

/* rect = {x0, y0, x1, y1}, exclusive ends; may run past the image unless pad is none.
 * Fails (AF_E_LIMIT) for a crop over 2^28 pixels, AF_E_ARG for a bad box or options. */
af_status af_face_crop_rect(const float box[4], int img_w, int img_h, const af_face_crop_opts *o,
                            int64_t rect[4], af_error *err);

/* The face box in the pixels of the saved crop (out_w x out_h, the rectangle resized). */
void af_face_box_in_crop(const float box[4], const int64_t rect[4], int out_w, int out_h,
                         double out[4]);

/* The rectangle's pixels (c as im), filled past the image as o->pad says. */
af_status af_face_crop_pixels(const af_image *im, const int64_t rect[4], const af_face_crop_opts *o,
                              af_image *out, af_error *err);

/* Resizes to tw x th: cv2 INTER_AREA when neither side grows, INTER_CUBIC otherwise
 * (resize.h); a copy at the same size. no_upscale: a crop that would grow on either side
 * is kept at its size. */
af_status af_face_crop_resize(const af_image *crop, int tw, int th, int no_upscale, af_image *out,
                              af_error *err);

typedef struct af_face_select_opts {
    float conf;            /* keep conf >= this */
    double min_size;       /* face box's shorter side >= (0: off) */
    double max_size;       /* face box's shorter side <= (0: off) */
    double min_rel;        /* max(w / img_w, h / img_h) >= (0: off) */
    int max_faces;         /* keep the K largest by box area, ties by order (0: all) */
    int one_face;          /* keep none unless exactly one face passes the filters above */
    const int *classes;    /* keep only these (NULL: all) */
    int nclasses;
} af_face_select_opts;

/* Indices of the kept detections into keep[] (room for n), in the detections' order
 * (confidence, highest first); returns how many. */
int af_face_select(const af_detection *d, int n, int img_w, int img_h,
                   const af_face_select_opts *o, int *keep);

#endif
