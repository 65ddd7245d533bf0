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
#include "model/desc.h"

/* One validation batch as a training loss reads it (ultralytics'
 * DetectionValidator during training: model.loss(batch, preds)). */
typedef struct af_val_loss_batch {
    int n, nc;                       /* images, classes */
    int h, w;                        /* the batch's input shape */
    int nlevels;
    const float *raw[AF_MAX_LEVELS]; /* the head's raw outputs per level (af_forward_raw) */
    int rh[AF_MAX_LEVELS], rw[AF_MAX_LEVELS], stride[AF_MAX_LEVELS];
    /* targets as the val dataloader's batch dict holds them: batch_idx (nt),
     * cls (nt), bboxes (nt x 4: cx cy w h normalised to the letterboxed w, h) */
    int nt;
    const float *batch_idx, *cls, *bboxes;
} af_val_loss_batch;

/* Computes the batch's box, cls and dfl loss items (ultralytics loss_items).
 * The trainer sets it: eval knows nothing of training. */
typedef af_status (*af_val_loss_fn)(void *ctx, const af_val_loss_batch *b, float items[3],
                                    af_error *err);

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
    af_val_loss_fn loss; /* non-NULL: the training loss on the val batches (the trainer's val) */
    void *loss_ctx;      /* passed to loss */
} af_val_options;

void af_val_options_default(af_val_options *o);

/* Called after each batch (images done so far, total), e.g. for a progress bar. */
typedef void (*af_val_progress_fn)(void *user, int done, int total);

typedef struct af_val_report {
    af_val_metrics metrics;
    af_val_speed speed; /* ms per image */
    int images;         /* images evaluated (corrupt ones excluded) */
    int skipped;        /* images that could not be read (listed in issues) */
    double loss[3];     /* options' loss: box, cls, dfl loss items, mean over batches */
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
