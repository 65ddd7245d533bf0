/*
 * YOLOv8 detection loss of ultralytics 8.1.9 (utils/loss.py v8DetectionLoss
 * with BboxLoss and the TaskAlignedAssigner), forward and analytic backward
 * with respect to the raw head outputs.
 *
 * What is computed, as ultralytics does it:
 * - anchors at cell centres (x+0.5, y+0.5) in grid units, level by level;
 * - pred_dist: softmax over the reg_max bins of each side (l, t, r, b),
 *   expectation sum(p_i * i); boxes = anchor -+ dist (grid units);
 * - targets (preprocess): grouped per image in target order, padded to the
 *   batch's largest count, (cx, cy, w, h) * (W, H, W, H) with imgsz = level
 *   0's (h, w) * stride, then xywh2xyxy; the assigner runs in pixels on the
 *   sigmoid scores and the predicted boxes * stride and is detached;
 * - target_scores_sum = max(sum(target_scores), 1);
 * - cls = sum BCEWithLogits(logits, target_scores) / target_scores_sum over
 *   every anchor and class;
 * - box = sum over foreground anchors of (1 - CIoU(pred, target/stride)) *
 *   weight / target_scores_sum, weight = the anchor's target score sum;
 * - dfl = sum over foreground anchors of mean over the 4 sides of
 *   (CE(bin tl) * wl + CE(bin tl+1) * wr) * weight / target_scores_sum,
 *   where the target distance (anchor - x1y1, x2y2 - anchor in grid units)
 *   is clamped to [0, reg_max - 1 - 0.01] (8.1.9 builds BboxLoss with
 *   reg_max - 1 = 15, and bbox2dist clamps to that minus 0.01), tl = floor,
 *   wl = tl + 1 - t, wr = 1 - wl;
 * - items = (box * hyp.box, cls * hyp.cls, dfl * hyp.dfl), exactly
 *   ultralytics' loss.detach(); total = sum(items) * batch, the value it
 *   backpropagates and whose gradient is returned.
 */
#ifndef AF_TRAIN_LOSS_H
#define AF_TRAIN_LOSS_H

#include <stdint.h>

#include "animeface.h"

#define AF_LOSS_MAX_REG 64

typedef struct af_loss_hyp {
    float box, cls, dfl; /* 7.5, 0.5, 1.5 */
    int reg_max;         /* bins per side: 16 */
    int topk;            /* 10 */
    float alpha, beta;   /* 0.5, 6.0 */
} af_loss_hyp;

void af_loss_hyp_default(af_loss_hyp *h);

/* Raw head output of one level for the whole batch, NHWC (batch, h, w, C)
 * with C = 4*reg_max + nc: channel side*reg_max + bin (sides l, t, r, b)
 * for the DFL logits, then the nc class logits. */
typedef struct af_loss_level {
    const float *x;
    int h, w, stride;
} af_loss_level;

/* Targets as the ultralytics batch dict holds them: batch_idx (n), cls (n),
 * bboxes (n, 4) cx, cy, w, h normalised to the image size. batch_idx and cls
 * must be whole numbers in [0, batch) and [0, nc). */
typedef struct af_loss_targets {
    int n;
    const float *batch_idx;
    const float *cls;
    const float *bboxes;
} af_loss_targets;

typedef struct af_loss_out {
    float loss_items[3]; /* box*hyp.box, cls*hyp.cls, dfl*hyp.dfl (not times batch) */
    float total;         /* sum(loss_items) * batch: what is backpropagated */
} af_loss_out;

/* Optional outputs for tests and logging. Arrays are caller-allocated with
 * batch*na entries (na = anchors of all levels; target_bboxes 4 per anchor,
 * target_scores nc per anchor) and may each be NULL. They hold the assigner's
 * results as ultralytics returns them (target_bboxes in input pixels, before
 * the loss divides them by the stride). */
typedef struct af_loss_debug {
    int32_t *target_labels;
    float *target_bboxes;
    float *target_scores;
    uint8_t *fg_mask;
    int32_t *target_gt_idx;
    /* always filled */
    float loss_unweighted[3]; /* box (CIoU), cls (BCE), dfl */
    float target_scores_sum;  /* after max(., 1) */
    int n_fg;
    int n_max_boxes;
    double total_f64; /* total from the double-precision sums, before rounding to
                         float (lets finite-difference checks see small changes) */
} af_loss_debug;

/* A fixed assignment (batch*na entries each; bboxes xyxy pixels, scores =
 * target score of `labels`, the other classes being 0). */
typedef struct af_loss_assignment {
    const int32_t *labels;
    const float *bboxes;
    const float *scores;
    const uint8_t *fg;
} af_loss_assignment;

/* Forward and (when grad is non-NULL) backward. grad[l] has the layout of
 * lv[l].x and receives d total / d x (every element is written). img_h and
 * img_w may be 0; otherwise they must equal level 0's h*stride and w*stride
 * (ultralytics derives imgsz from them). */
af_status af_loss_compute(const af_loss_hyp *hyp, int batch, int nc, int img_h, int img_w,
                          const af_loss_level *lv, int nlevels, const af_loss_targets *t,
                          af_loss_out *out, float *const *grad, af_loss_debug *dbg,
                          af_error *err);

/* The same loss with the assignment given instead of computed (the assigner
 * is detached, so this is the function whose exact gradient the loss
 * returns: finite-difference checks use it). */
af_status af_loss_compute_assigned(const af_loss_hyp *hyp, int batch, int nc,
                                   const af_loss_level *lv, int nlevels,
                                   const af_loss_assignment *as, af_loss_out *out,
                                   float *const *grad, af_loss_debug *dbg, af_error *err);

#endif
