/*
 * Training-time augmentation of ultralytics 8.1.9 for detection (data/augment.py
 * v8_transforms, data/dataset.py YOLODataset.build_transforms), deterministic given
 * (seed, epoch, index).
 *
 * Per sample (af_augment), in ultralytics' order:
 *   pre_transform(index):
 *     Mosaic (p = hyp.mosaic): one uniform(0,1) draw; applied unless it is > p. Centre
 *       yc, xc = int(uniform(s/2, 1.5s)) (yc drawn first), 3 further images, 2s x 2s canvas
 *       filled with 114, the four tiles placed as _mosaic4, labels shifted by the tile
 *       offsets, clipped to [0, 2s] and boxes of zero area dropped; border = -s/2.
 *       Deviation: ultralytics draws the 3 partners from its buffer of recently loaded
 *       images (which depends on loader timing); here they are uniform over the whole
 *       dataset (ultralytics' `buffer=False` rule), so the result depends on the seed only.
 *     else LetterBox(imgsz, imgsz) (auto=False, scaleup=True, centred, pad 114); labels
 *       scaled by r and shifted by the unrounded half paddings dw/2, dh/2; border = 0.
 *     (CopyPaste: no-op for boxes without segments.)
 *     RandomPerspective(degrees, translate, scale, shear, perspective) with that border:
 *       size = in + 2*border; M = T @ S @ R @ P @ C (C centres the input, P perspective,
 *       R = getRotationMatrix2D(a, (0,0), s), S shear, T = uniform(0.5 -+ translate) * size);
 *       draws in that order: P (x, y), a, s, shear x, shear y, T x, T y. Warp (affine, or
 *       perspective when hyp.perspective != 0) unless border == 0 and M == I; boxes by
 *       their 4 corners, clipped to size, filtered by box_candidates(box1 = boxes before *
 *       s, box2 = after, wh_thr 2, ar_thr 100, area_thr 0.1).
 *   MixUp (p = hyp.mixup, only while mosaic is on): one uniform(0,1) draw; if not > p:
 *     partner j = randint(0, n-1), pre_transform(j), r ~ Beta(32, 32),
 *     img = uint8(trunc(img * r + img2 * (1 - r))), labels concatenated.
 *   (Albumentations: ultralytics applies it only when the albumentations package is
 *     installed; not done here.)
 *   RandomHSV(hsv_h, hsv_s, hsv_v): 3 uniform(-1,1) draws (only when a gain is non-zero),
 *     LUTs in cv2's 8-bit HSV space (H 0..179), see hsv.c.
 *   RandomFlip vertical (p = flipud), then horizontal (p = fliplr): one random() draw each.
 *   Format: xyxy -> xywh, normalised by the image size.
 * close_mosaic (use_mosaic = 0): ultralytics sets mosaic = mixup = copy_paste = 0 and
 * rebuilds the same pipeline, i.e. LetterBox + RandomPerspective(border 0) + HSV + flips;
 * that is what use_mosaic = 0 does here (hyp.mosaic and hyp.mixup are then ignored).
 *
 * Images are RGB (ultralytics' are BGR; the HSV conversion accounts for it). imgsz must be
 * even (ultralytics sizes are multiples of the stride) and at most 4096.
 * Random numbers come from train/rng.h, not Python's/numpy's generators: the transforms and
 * distributions are ultralytics', the particular draws are not.
 */
#ifndef AF_TRAIN_AUGMENT_H
#define AF_TRAIN_AUGMENT_H

#include <stdint.h>

#include "animeface-train.h"
#include "io/image.h"
#include "train/rng.h"

/* af_aug_hyp (the gains) is public: include/animeface-train.h */

/* ultralytics default.yaml: hsv 0.015/0.7/0.4, degrees 0, translate 0.1, scale 0.5, shear 0,
 * perspective 0, flipud 0, fliplr 0.5, mosaic 1, mixup 0. */
void af_aug_hyp_default(af_aug_hyp *h);

/* A labelled image as the dataset gives it (load_image with augment=True: RGB, long side
 * resized to imgsz with INTER_LINEAR); labels cx cy w h normalised to the image.
 * owned != 0: af_augment frees img, cls and xywhn (malloc'd, af_image_alloc) when done with
 * them; owned == 0: they stay the loader's (e.g. a cache) and must stay valid and unchanged
 * until af_augment returns (they are only read). */
typedef struct af_labelled {
    af_image img;
    int n;
    int *cls;
    float *xywhn;
    int owned;
} af_labelled;

/* Frees an owned af_labelled (nothing when owned == 0) and zeroes it. */
void af_labelled_free(af_labelled *l);

/* Fills *out for dataset item index (0 <= index < nimages). Must be safe to call from
 * several threads when af_augment is. */
typedef af_status (*af_load_fn)(void *user, int index, af_labelled *out, af_error *err);

/* One augmented sample: imgsz x imgsz RGB; n boxes cx cy w h normalised to imgsz, clipped
 * (Format(bbox_format="xywh", normalize=True)). */
typedef struct af_sample {
    af_image img;
    int n;
    int *cls;
    float *xywhn;
} af_sample;

af_status af_augment(af_load_fn load, void *user, int nimages, int index, int imgsz,
                     const af_aug_hyp *hyp, int use_mosaic, uint64_t seed, int epoch,
                     af_sample *out, af_error *err);
void af_sample_free(af_sample *s);

/* collate_fn + the trainer's preprocess_batch: images stacked as float CHW RGB / 255
 * (b x 3 x imgsz x imgsz), targets concatenated with batch_idx = the sample's position. */
typedef struct af_batch {
    int b, imgsz;
    float *img;       /* b*3*imgsz*imgsz */
    int n;            /* targets */
    float *batch_idx; /* n */
    float *cls;       /* n */
    float *bboxes;    /* 4n: cx cy w h normalised */
} af_batch;

/* All samples must have the same square size. */
af_status af_collate(const af_sample *samples, int b, af_batch *out, af_error *err);
void af_batch_free(af_batch *bt);

/* ---- building blocks (one file each) ---- */

/* Boxes in pixels, x1 y1 x2 y2, float32 as ultralytics' Instances. */
typedef struct af_boxes {
    int n, cap;
    int *cls;
    float *xyxy; /* 4n */
} af_boxes;

af_status af_boxes_reserve(af_boxes *b, int cap, af_error *err);
af_status af_boxes_push(af_boxes *b, int cls, const float xyxy[4], af_error *err);
af_status af_boxes_append(af_boxes *dst, const af_boxes *src, af_error *err);
/* Adds a labelled image's boxes: xywhn -> xyxy, * (w, h) of its image, * ratio, + (padw, padh). */
af_status af_boxes_add_labelled(af_boxes *dst, const af_labelled *l, double ratio, double padw,
                                double padh, af_error *err);
void af_boxes_clip(af_boxes *b, float w, float h);
/* Keeps the boxes with keep[i] != 0, in order. */
void af_boxes_select(af_boxes *b, const uint8_t *keep);
void af_boxes_free(af_boxes *b);

/* mosaic.c: the centre draw and the 2x2 mosaic of 4 images (tiles[0] is the sample's own).
 * out: newly allocated 2s x 2s RGB; boxes appended (clipped to 2s, zero-area dropped). */
void af_mosaic_center(af_rng *r, int imgsz, int *xc, int *yc);
af_status af_mosaic4(const af_labelled *tiles[4], int imgsz, int xc, int yc, af_image *out,
                     af_boxes *boxes, af_error *err);

/* perspective.c */
typedef struct af_affine_draw {
    double px, py;     /* perspective terms P[2,0], P[2,1] */
    double angle;      /* degrees, counter-clockwise as cv2.getRotationMatrix2D */
    double scale;
    double shx, shy;   /* shear angles in degrees (x: S[0,1], y: S[1,0]) */
    double tx, ty;     /* uniform(0.5 -+ translate) fractions of the output size */
} af_affine_draw;

/* Draws in ultralytics' order from hyp's ranges. */
void af_affine_sample(af_rng *r, const af_aug_hyp *hyp, af_affine_draw *d);
/* M = T @ S @ R @ P @ C (row-major 3x3, float32 like ultralytics) for an in_w x in_h input
 * and an out_w x out_h output. */
void af_affine_matrix(const af_affine_draw *d, int in_w, int in_h, int out_w, int out_h,
                      float M[9]);
/* cv2.warpAffine / cv2.warpPerspective (INTER_LINEAR, BORDER_CONSTANT) of src by the
 * forward map M (2x3 in the first 6 entries / 3x3), dst newly allocated dw x dh. */
af_status af_warp_affine(const af_image *src, const double M[6], int dw, int dh,
                         uint8_t border, af_image *dst, af_error *err);
af_status af_warp_perspective(const af_image *src, const double M[9], int dw, int dh,
                              uint8_t border, af_image *dst, af_error *err);
/* Each box -> the bounding box of its 4 transformed corners (divided by w when perspective). */
void af_boxes_transform(af_boxes *b, const float M[9], int perspective);
/* ultralytics box_candidates for one box pair (float32 arithmetic, eps 1e-16). */
int af_box_candidate(const float box1[4], const float box2[4], float wh_thr, float ar_thr,
                     float area_thr);
/* The whole RandomPerspective on *img (replaced) and b; border as ultralytics' (0, or -s/2
 * after mosaic). */
af_status af_random_perspective(af_rng *r, const af_aug_hyp *hyp, int border, af_image *img,
                                af_boxes *b, af_error *err);

/* hsv.c: cv2 8-bit COLOR_BGR2HSV / COLOR_HSV2BGR on RGB pixels (H 0..179). */
void af_rgb_to_hsv_u8(const uint8_t rgb[3], uint8_t hsv[3]);
void af_hsv_to_rgb_u8(const uint8_t hsv[3], uint8_t rgb[3]);
/* RandomHSV's LUTs for gains r (each 1 + uniform(-1,1) * gain). */
void af_hsv_luts(const double r[3], uint8_t lut[3][256]);
/* RGB -> HSV, LUT, HSV -> RGB in place. */
void af_hsv_apply(af_image *img, const uint8_t lut[3][256]);
void af_random_hsv(af_rng *r, float hgain, float sgain, float vgain, af_image *img);

/* flip.c */
void af_flip_lr(af_image *img, af_boxes *b);
void af_flip_ud(af_image *img, af_boxes *b);

/* mixup.c: a = uint8(trunc(a * r + b * (1 - r))), same sizes required. */
af_status af_mixup_blend(af_image *a, const af_image *b, double r, af_error *err);

#endif
