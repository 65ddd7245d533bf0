/* The training data loader: per epoch a shuffled order (seeded by seed and
 * epoch), samples augmented by worker threads ahead of the compute (each
 * sample depends only on seed, epoch and its index, so results do not depend
 * on thread timing), collated into NHWC float batches with their targets.
 * Optional RAM cache of the decoded, resized images. */
#ifndef AF_TRAIN_LOADER_H
#define AF_TRAIN_LOADER_H

#include <stdint.h>

#include "animeface.h"
#include "data/dataset.h"
#include "train/augment.h"

typedef struct af_loader af_loader;

typedef struct af_loader_opts {
    int imgsz, batch, workers, cache_ram;
    uint64_t seed;
    af_aug_hyp hyp;
} af_loader_opts;

/* One collated batch: images (n, imgsz, imgsz, 3) NHWC float in [0, 1], and
 * targets as ultralytics' batch dict (batch_idx, cls, bboxes cx cy w h
 * normalised). Owned by the loader, valid until the next call. */
typedef struct af_train_batch {
    int n, imgsz;
    const float *img;
    int nt;
    const float *batch_idx, *cls, *bboxes;
} af_train_batch;

/* ds: the train split (corrupt items are skipped). ds must outlive the loader. */
af_status af_loader_create(const af_dataset *ds, const af_loader_opts *o, af_loader **out,
                           af_error *err);
void af_loader_free(af_loader *l);

/* Images used (non-corrupt) and batches per epoch. */
int af_loader_size(const af_loader *l);
int af_loader_batches(const af_loader *l);

/* Starts an epoch (mosaic on or off, as close_mosaic decides). */
af_status af_loader_start_epoch(af_loader *l, int epoch, int use_mosaic, af_error *err);

/* The next batch of the epoch; *more = 0 (and no batch) at its end. A sample
 * that fails (unreadable image) fails the call with its message. */
af_status af_loader_next(af_loader *l, af_train_batch *b, int *more, af_error *err);

#endif
