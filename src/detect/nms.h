/*
 * Non-maximum suppression with the exact semantics of ultralytics 8.1.9
 * ops.non_max_suppression (torch 1.13 + torchvision 0.14 CPU kernels).
 *
 * What is reproduced, step by step:
 * - candidates: an anchor is kept when the max of its class scores is > conf
 *   (compared in float32, as torch compares a float tensor with a Python
 *   scalar). A NaN class score makes that max NaN (torch.amax propagates NaN),
 *   so an anchor with any NaN score is dropped;
 * - best class: the first index of the highest score (torch.max(dim));
 *   multi_label (only when nc > 1): every (anchor, class) pair with score >
 *   conf, anchor-major then class order (torch.where);
 * - classes filter, then, when more than max_nms remain, the top max_nms by a
 *   NON-stable descending argsort (torch 1.13 uses std::sort, libstdc++
 *   introsort; reproduced here step for step so ties land as in torch);
 * - boxes xywh -> xyxy in float32 (x - w/2 ...), offset by cls*max_wh in
 *   float32 (0 when agnostic);
 * - torchvision.ops.nms: scores sorted by a STABLE descending sort (torchvision
 *   >= 0.12), areas (x2-x1)*(y2-y1), inter w/h clamped at 0 exactly like
 *   std::max/std::min, ovr = inter/(area_i+area_j-inter) in float32, suppress
 *   when (double)ovr > iou_threshold (a double: see af_nms_decimal_threshold);
 * - keep the first max_det.
 * Output boxes are the un-offset xyxy boxes in the input (letterbox) pixels.
 */
#ifndef AF_DETECT_NMS_H
#define AF_DETECT_NMS_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"

typedef struct af_nms_params {
    float conf_thres, iou_thres;
    int max_det;
    int agnostic;
    int multi_label; /* ignored when nc == 1, as ultralytics does */
    const int *classes; /* keep only these classes; NULL: all */
    int nclasses;
    int max_nms;  /* 30000 */
    float max_wh; /* 7680 */
} af_nms_params;

/* 0.25, 0.7, 300, 0, 0, NULL, 0, 30000, 7680 */
void af_nms_params_default(af_nms_params *p);

/* pred: raw model output for ONE image, (4+nc, n) row-major (rows cx, cy, w,
 * h, then nc sigmoid scores). out: capacity >= max_det. *nout gets the count,
 * in torchvision's order (descending score). */
af_status af_nms(const float *pred, int nc, int n, const af_nms_params *p, af_detection *out,
                 int *nout, af_error *err);

/* The double a user meant by a float threshold: the shortest decimal that
 * reads back as f (0.6f -> 0.6), as a double. torchvision compares the float
 * IoU with the Python double, and for thresholds whose float rounds up
 * (0.6f > 0.6) comparing with the float would differ at ovr == 0.6f. */
double af_nms_decimal_threshold(float f);

/* One (value, index) pair as torch's CPU sort moves them. */
typedef struct af_sort_pair {
    float v;
    int64_t i;
} af_sort_pair;

/* torch 1.13 CPU sort(descending=True, stable=False): libstdc++ std::sort
 * (introsort) with KeyValueCompDesc (NaN first). Exposed for the tests. */
void af_sort_desc_unstable(af_sort_pair *a, size_t n);

#endif
