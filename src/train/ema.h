/* ultralytics ModelEMA: a moving average of every floating-point entry of the
 * state dict (weights, BN affine and running statistics), decay
 * 0.9999 * (1 - exp(-updates / 2000)). */
#ifndef AF_TRAIN_EMA_H
#define AF_TRAIN_EMA_H

#include "model/model.h"

typedef struct af_ema {
    af_model *ema; /* a raw model, same layout as the trained one */
    long updates;
    double decay, tau;
} af_ema;

/* ema must be a raw model of the same description as src (its params are set to src's). */
void af_ema_init(af_ema *e, af_model *ema, const af_model *src);
void af_ema_update(af_ema *e, const af_model *src);

#endif
