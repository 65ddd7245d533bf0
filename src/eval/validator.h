/* Validation of a detector on a dataset split, as ultralytics 8.1.9
 * DetectionValidator: rect batches, multi-label NMS, metrics, confusion
 * matrix, plots and COCO-style predictions. */
#ifndef AF_EVAL_VALIDATOR_H
#define AF_EVAL_VALIDATOR_H

#include <stdio.h>

#include "animeface.h"
#include "data/dataset.h"
#include "eval/report.h"
#include "eval/val_stats.h"

typedef struct af_val_options {
    int imgsz;         /* 0: the model's training imgsz */
    int batch;         /* 16 */
    float conf;        /* 0.001 */
    float iou;         /* 0.7 */
    int max_det;       /* 300 */
    int threads;       /* 0: all cores */
    const char *save_dir; /* plots and predictions.json go here; NULL: nothing written */
    int plots;         /* curves, confusion matrices, val_batch mosaics */
    int save_json;     /* predictions.json (COCO results format) */
    int compute_loss;  /* the training loss on the val batches (as the trainer's val) */
} af_val_options;

void af_val_options_default(af_val_options *o);

/* Called after each batch (images done so far, total), e.g. for a progress bar. */
typedef void (*af_val_progress_fn)(void *user, int done, int total);

typedef struct af_val_report {
    af_val_metrics metrics;
    af_val_speed speed; /* ms per image */
    int images;         /* images evaluated (corrupt ones excluded) */
    int skipped;        /* images that could not be read (listed in issues) */
    double loss[3];     /* compute_loss: box, cls, dfl loss items, mean over batches */
    af_issue_list issues;
} af_val_report;

/* Runs the model over every usable image of ds. names: nc class names (for
 * plots and JSON). Images that fail to decode are skipped and reported in
 * out->issues; they do not stop the run. */
af_status af_validate(const af_model *m, const af_dataset *ds, const char *const *names,
                      const af_val_options *o, af_val_progress_fn progress, void *user,
                      af_val_report *out, af_error *err);
void af_val_report_free(af_val_report *r);

#endif
