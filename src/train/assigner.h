/*
 * TaskAlignedAssigner of ultralytics 8.1.9 (utils/tal.py), for one image,
 * in pixel units, with the same float32 arithmetic and tie-breaking:
 * - select_candidates_in_gts: anchor centre strictly inside the gt box,
 *   min(ax - x1, ay - y1, x2 - ax, y2 - ay) > eps (1e-9, compared in float);
 * - get_box_metrics (only for in-gt anchors of gts whose box sum > 0):
 *   overlap = clamp(CIoU(gt, pred), 0), align = score^alpha * overlap^beta
 *   (score = the sigmoid score of the gt's class);
 * - select_topk_candidates: torch.topk(k) over ALL anchors of the row,
 *   reproduced as torch 1.13's CPU kernel does it for k*64 <= n, i.e.
 *   libstdc++ std::partial_sort (heap select) over (value, index) pairs with
 *   a NaN-first ">" comparison: among equal values the survivors are those
 *   that entered the heap first. (For rows shorter than 64*k torch uses
 *   nth_element; this keeps the heap select there too, which can differ
 *   only on exactly tied metrics.) Picks outside the gt are dropped;
 * - select_highest_overlaps: an anchor picked by several gts goes to the
 *   first gt with the largest overlap (over all gts, 0 where not in a gt);
 * - get_targets + normalisation: target score of a foreground anchor =
 *   align * max_overlap(gt) / (max_align(gt) + eps), both maxima over the
 *   anchors finally assigned to that gt.
 * Only in-gt anchors are visited: the work is O(anchors inside gts + gts*k
 * log k + multi-assigned anchors * gts * log), never anchors x gts.
 */
#ifndef AF_TRAIN_ASSIGNER_H
#define AF_TRAIN_ASSIGNER_H

#include <stdint.h>

#include "animeface.h"

typedef struct af_tal_params {
    int topk;        /* 10 */
    int num_classes; /* nc: also bg_idx, the label when the batch has no gts */
    float alpha;     /* 0.5 */
    float beta;      /* 6.0 */
    float eps;       /* 1e-9 */
} af_tal_params;

/* One pyramid level of anchors: h x w cells, centres at ((x+0.5)*stride,
 * (y+0.5)*stride) pixels; anchors are numbered level by level, row-major. */
typedef struct af_tal_level {
    int h, w, stride;
} af_tal_level;

/* A ground-truth box in pixels (x1, y1, x2, y2) and its class (0..nc-1). */
typedef struct af_tal_gt {
    float box[4];
    int label;
} af_tal_gt;

/* Called for in-gt anchors only: the predicted box of `anchor` in pixels
 * (xyxy, already decoded and multiplied by the stride) and the sigmoid score
 * of class `cls`. */
typedef void (*af_tal_pred_fn)(const void *ctx, int anchor, int cls, float box[4],
                               float *score);

/* Per-anchor outputs for one image (caller-allocated, na entries; bboxes
 * 4*na). As ultralytics returns them: for background anchors gt_idx is 0 and
 * labels/bboxes are those of gt 0 (zeros when the image has no gt while the
 * batch has some; label nc and zero boxes when the batch has none), score 0.
 * scores holds the target score of the anchor's label (the one-hot row times
 * the normalised metric); the other classes' target scores are 0. */
typedef struct af_tal_result {
    int32_t *labels;
    float *bboxes;
    float *scores;
    uint8_t *fg;
    int32_t *gt_idx;
} af_tal_result;

void af_tal_params_default(af_tal_params *p, int num_classes);

/* Assigns one image. gts: this image's ngt boxes in target order;
 * n_max_boxes: the batch's largest per-image count (>= ngt; 0 means the
 * batch has no targets at all). */
af_status af_tal_assign(const af_tal_params *p, const af_tal_level *lv, int nlevels,
                        af_tal_pred_fn pred, const void *pred_ctx, const af_tal_gt *gts,
                        int ngt, int n_max_boxes, af_tal_result *out, af_error *err);

#endif
