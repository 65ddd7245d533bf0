/*
 * The detection validator's bookkeeping (ultralytics 8.1.9 DetectionValidator
 * update_metrics / get_stats / DetMetrics): per image, predictions and labels
 * in the same pixel space go in; the tp rows, confidences, classes and label
 * classes are kept and the confusion matrix is fed; finalize gives P, R,
 * mAP50, mAP50-95, fitness, the per-class rows, the curves and the matrix.
 *
 * As in 8.1.9, an image without labels is counted (Images) and its
 * predictions count as false positives for AP, but it is not passed to the
 * confusion matrix.
 */
#ifndef AF_EVAL_VAL_STATS_H
#define AF_EVAL_VAL_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"
#include "eval/metrics.h"

typedef struct af_val_stats af_val_stats;

/* nc: the model's class count. The confusion matrix uses conf 0.25 and IoU 0.45. */
af_status af_val_stats_create(int nc, af_val_stats **out, af_error *err);
/* ConfusionMatrix(nc, conf=val_conf, iou_thres): val_conf < 0 (None) or 0.001
 * (the val default) mean 0.25. Call before the first image. */
af_status af_val_stats_set_confusion(af_val_stats *s, double val_conf, double iou_thres,
                                     af_error *err);
void af_val_stats_free(af_val_stats *s);

/* One image: npred detections (after NMS, any order the validator saw them in)
 * and ngt labels (gt_xyxy: ngt x 4), both in the same pixel space. Classes must
 * lie in [0, nc). */
af_status af_val_stats_add_image(af_val_stats *s, const af_detection *pred, size_t npred,
                                 const float *gt_xyxy, const int *gt_cls, size_t ngt,
                                 af_error *err);

size_t af_val_stats_num_predictions(const af_val_stats *s);
/* The kept tp rows (num_predictions x AF_NIOU), in insertion order. */
const uint8_t *af_val_stats_tp(const af_val_stats *s);

typedef struct af_val_class_row {
    int cls;           /* class id (ap_class_index) */
    int images;        /* images seen (8.1.9 prints every image for every class) */
    int64_t instances; /* labels of this class */
    double p, r, map50, map;
} af_val_class_row;

typedef struct af_val_metrics {
    int nc;             /* model classes */
    int images;         /* images seen */
    int64_t instances;  /* labels in all */
    double p, r, map50, map, fitness; /* mean_results() and fitness */
    size_t nrows;       /* classes with labels, when AP was computed (else 0) */
    af_val_class_row *rows;
    int64_t *nt_per_class;  /* nc: np.bincount(target_cls, minlength=nc) */
    double *maps;           /* nc: mAP50-95 per class, the mean for classes without labels */
    int ap_computed;        /* 0 when no prediction was correct at any threshold:
                               ultralytics then leaves every metric at 0 */
    af_ap_result ap;        /* the ap_per_class outputs (curves for plots) when ap_computed */
    double *confusion;      /* (nc+1) x (nc+1), rows predicted, columns true */
    float confusion_conf, confusion_iou;
} af_val_metrics;

af_status af_val_stats_finalize(const af_val_stats *s, af_val_metrics *m, af_error *err);
void af_val_metrics_free(af_val_metrics *m);

#endif
