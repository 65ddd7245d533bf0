/*
 * Detection validation metrics, the arithmetic of ultralytics 8.1.9 `val`:
 * box IoU (torch float32), the tp matrix of DetectionValidator.match_predictions
 * at the 10 IoU thresholds 0.50:0.05:0.95, ap_per_class (numpy float64: 101-point
 * COCO interpolation, P/R/F1 curves over 1000 confidences, P and R at the
 * confidence of the highest box-filtered mean F1) and the detection
 * ConfusionMatrix.
 *
 * Replicated numpy details (each can move the last bits, or with ties the
 * order): np.argsort's default (portable introsort; numpy builds that dispatch
 * to x86-simd-sort on AVX-512 may order exactly-equal keys differently),
 * np.interp's search and slope formula, pairwise summation of add.reduce
 * (np.sum / np.mean / np.trapz), np.round (half to even).
 */
#ifndef AF_EVAL_METRICS_H
#define AF_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"

#define AF_NIOU 10          /* IoU thresholds 0.50:0.05:0.95 */
#define AF_AP_NCURVE 1000   /* points of the P/R/F1 curves */

/* The thresholds exactly as torch.linspace(0.5, 0.95, 10) gives them in float32. */
const float *af_iou_thresholds(void);

/* ---- box IoU ---------------------------------------------------------- */

/* IoU of every box of a (na x 4, xyxy) with every box of b (nb x 4), into
 * out (na x nb, row-major): inter / (area_a + area_b - inter + 1e-7), all in
 * float32 in the order torch evaluates metrics.box_iou. */
void af_box_iou(const float *a, size_t na, const float *b, size_t nb, float *out);

/* ---- tp matrix -------------------------------------------------------- */

/* DetectionValidator.match_predictions (greedy, use_scipy=False). iou is
 * ntrue x npred (labels x predictions, as box_iou(gt, pred)); tp receives
 * npred x AF_NIOU bytes, 1 = correct at that threshold. */
af_status af_match_predictions(const int *pred_cls, size_t npred, const int *true_cls,
                               size_t ntrue, const float *iou, uint8_t *tp, af_error *err);

/* ---- ap_per_class ----------------------------------------------------- */

typedef struct af_ap_result {
    size_t nc;           /* classes that have labels (np.unique(target_cls)) */
    int *classes;        /* nc: their ids, ascending (unique_classes) */
    int64_t *nt;         /* nc: label count per class */
    double *tp, *fp;     /* nc: counts at the max-F1 confidence (rounded) */
    double *p, *r, *f1;  /* nc: values at the max-F1 confidence */
    double *ap;          /* nc x AF_NIOU */
    double *p_curve, *r_curve, *f1_curve; /* nc x AF_AP_NCURVE over x */
    double *x;           /* AF_AP_NCURVE: np.linspace(0, 1, 1000) */
    size_t n_prec;       /* rows of prec_values: classes with labels AND predictions */
    double *prec_values; /* n_prec x AF_AP_NCURVE: PR curve, precision at recall x */
    size_t *prec_class;  /* n_prec: index into classes[] of each prec_values row */
    size_t best;         /* index into x of the max smoothed mean F1 */
} af_ap_result;

/* ultralytics.utils.metrics.ap_per_class. tp is npred x AF_NIOU (0/1);
 * classes are any ints (predictions of classes without labels are ignored).
 * With no labels at all, out->nc is 0 and only x is filled. */
af_status af_ap_per_class(const uint8_t *tp, const float *conf, const int *pred_cls,
                          size_t npred, const int *target_cls, size_t ntarget,
                          af_ap_result *out, af_error *err);
void af_ap_result_free(af_ap_result *r);

/* metrics.compute_ap for one recall/precision curve of n points: the area under
 * the precision envelope by 101-point interpolation. If mpre/mrec are non-NULL
 * they receive the n+2 envelope points. */
double af_compute_ap(const double *recall, const double *precision, size_t n, double *mrec,
                     double *mpre);

/* ---- numpy building blocks (exposed for tests) ------------------------ */

/* np.argsort(v) with the default kind (numpy's portable introsort, not stable). */
void af_np_argsort_f32(const float *v, size_t n, size_t *idx);
void af_np_argsort_f64(const double *v, size_t n, size_t *idx);
/* np.add.reduce over n doubles a[0], a[stride], ...: numpy's pairwise summation. */
double af_np_pairwise_sum(const double *a, size_t n, size_t stride);
/* np.interp(x, xp, fp, left, right) for non-decreasing xp (nxp >= 1). */
void af_np_interp(const double *x, size_t nx, const double *xp, const double *fp, size_t nxp,
                  double left, double right, double *out);
/* np.linspace(start, stop, num) (endpoint=True). */
void af_np_linspace(double start, double stop, size_t num, double *out);

/* ---- confusion matrix ------------------------------------------------- */

typedef struct af_confusion {
    int nc;
    float conf;      /* detections need conf > this */
    float iou_thres; /* matches need IoU > this */
    double *matrix;  /* (nc+1) x (nc+1): rows predicted, columns true; nc = background */
} af_confusion;

/* conf as given to ConfusionMatrix: a negative value (None) or 0.001 (the val
 * default) means 0.25. */
af_status af_confusion_init(af_confusion *cm, int nc, double conf, double iou_thres,
                            af_error *err);
void af_confusion_free(af_confusion *cm);
/* ConfusionMatrix.process_batch for one image. dets may be NULL (ultralytics'
 * detections=None: the image had no predictions). Classes must lie in [0, nc). */
af_status af_confusion_process(af_confusion *cm, const af_detection *dets, size_t ndet,
                               const float *gt_xyxy, const int *gt_cls, size_t ngt,
                               af_error *err);

#endif
