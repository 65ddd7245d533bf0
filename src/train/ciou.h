/*
 * Complete IoU of two xyxy boxes with the exact float32 semantics of
 * ultralytics 8.1.9 metrics.bbox_iou(box1, box2, xywh=False, CIoU=True,
 * eps=1e-7), and its gradient as torch autograd computes it:
 *   w = x2 - x1, h = y2 - y1 + eps (both boxes)
 *   inter = clamp(min(x2) - max(x1), 0) * clamp(min(y2) - max(y1), 0)
 *   union = w1*h1 + w2*h2 - inter + eps, iou = inter / union
 *   c2 = cw^2 + ch^2 + eps over the enclosing box
 *   rho2 = ((b2x1 + b2x2 - b1x1 - b1x2)^2 + (same in y)^2) / 4
 *   v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2
 *   alpha = v / (v - iou + 1 + eps)    (under torch.no_grad: a constant)
 *   ciou = iou - (rho2/c2 + v*alpha)
 * The order of box1/box2 matters for float rounding only: the loss passes
 * (pred, target), the assigner (gt, pred).
 */
#ifndef AF_TRAIN_CIOU_H
#define AF_TRAIN_CIOU_H

typedef struct af_ciou_parts {
    float iou, rho2, c2, v, alpha, ciou;
} af_ciou_parts;

/* CIoU of b1 and b2 (x1, y1, x2, y2). parts may be NULL. */
float af_ciou(const float b1[4], const float b2[4], af_ciou_parts *parts);

/* iou - (rho2/c2 + v*alpha) with a given alpha: the function whose gradient
 * af_ciou_backward returns (for finite-difference checks). */
float af_ciou_fixed_alpha(const float b1[4], const float b2[4], float alpha);

/* d(g * ciou)/d b1 into d1 and d/d b2 into d2 (either may be NULL), alpha
 * held constant. Ties of min/max split the gradient in halves and
 * clamp(.., 0) passes it at exactly 0, as torch 1.13 does. Returns ciou. */
float af_ciou_backward(const float b1[4], const float b2[4], float g, float d1[4],
                       float d2[4]);

#endif
