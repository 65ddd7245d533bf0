/*
 * animeface-train — training of YOLOv8 detectors on the CPU (libanimeface-train).
 * Public API of libanimeface-train. Copyright the animeface authors, AGPL-3.0-or-later.
 *
 * The training run of ultralytics 8.1.9 (engine/trainer.py + detect/train.py):
 * data, model (from a description or a checkpoint, with shape-matched transfer),
 * optimizer groups, warm-up, schedule, EMA, gradient clipping, per-epoch
 * validation, results.csv, last/best checkpoints written atomically with the
 * full training state, resume and early stopping. Same conventions as
 * animeface.h: af_status + af_error, no printing (progress goes through a
 * callback), no exit, no globals. Link: pkg-config --libs animeface-train.
 */
#ifndef ANIMEFACE_TRAIN_H
#define ANIMEFACE_TRAIN_H

#include <stdint.h>

#include "animeface.h"

#ifdef __cplusplus
extern "C" {
#endif
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* Augmentation gains (ultralytics' hsv_h ... mixup), see af_train_args_default. */
typedef struct af_aug_hyp {
    float hsv_h, hsv_s, hsv_v, degrees, translate, scale, shear, perspective, flipud, fliplr,
        mosaic, mixup;
    int labels_pad_rounded; /* without mosaic, LetterBox moves the labels by its rounded padding
                             * (left, top), as ultralytics 8.3 (YOLO11) does; 0: by the
                             * unrounded half padding, as 8.1.9. The trainer sets it from the
                             * model (YOLO11's depthwise Detect head). */
} af_aug_hyp;

typedef struct af_train_args {
    const char *data;      /* data.yaml */
    const char *model;     /* "yolov8n.yaml" (random init) or a .pt / .safetensors checkpoint */
    const char *save_dir;  /* run folder (weights/, results.csv); created */
    int epochs;            /* 100 */
    int batch;             /* 16 */
    int imgsz;             /* 640 */
    int workers;           /* loader threads (2) */
    int threads;           /* compute threads (0: all cores) */
    int patience;          /* 100 (0: off) */
    int close_mosaic;      /* 10 */
    uint64_t seed;         /* 0 */
    const char *optimizer; /* "auto", "SGD", "Adam", "AdamW" */
    double lr0, lrf, momentum, weight_decay, warmup_epochs, warmup_momentum, warmup_bias_lr;
    double box, cls, dfl;
    int nbs;               /* 64 */
    int cos_lr;
    int cache_ram;
    int val;               /* validate every epoch (1) */
    int plots;             /* plots of the final validation (1) */
    int save_period;       /* save epochN every N epochs (-1: off) */
    int max_batches;       /* stop each epoch after this many batches (0: all; for tests) */
    af_aug_hyp aug;
    int resume;            /* continue the run in save_dir from weights/last.state.safetensors */
    int bf16;              /* convolutions in bf16 (bf16 operands, float32 accumulation,
                            * results and master weights) where the CPU has avx512_bf16 or AMX;
                            * float32 elsewhere (0: float32) */
} af_train_args;

/* ultralytics' cfg/default.yaml values. */
void af_train_args_default(af_train_args *a);

typedef enum af_train_event {
    AF_TRAIN_START = 0, /* text: setup summary lines */
    AF_TRAIN_BATCH,     /* progress within an epoch */
    AF_TRAIN_EPOCH_END, /* train part of an epoch done */
    AF_TRAIN_VAL,       /* text: the validation table */
    AF_TRAIN_INFO,      /* text: a message (saved, early stop, ...) */
    AF_TRAIN_DONE
} af_train_event;

typedef struct af_train_progress {
    af_train_event event;
    int epoch, epochs;   /* 1-based epoch */
    int batch, batches;  /* 1-based batch in the epoch */
    double loss[3];      /* running mean box, cls, dfl of the epoch */
    int instances, size; /* targets in the last batch, imgsz */
    double ram_gb;       /* peak RSS */
    double elapsed_s, eta_s;
    const char *text;
} af_train_progress;

typedef void (*af_train_cb)(void *user, const af_train_progress *p);

af_status af_train(const af_train_args *a, af_train_cb cb, void *user, af_error *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif
#ifdef __cplusplus
}
#endif
#endif
