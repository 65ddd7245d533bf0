/* A raw (training) model as a checkpoint: ultralytics state-dict names, float32,
 * with the description, class names, strides, BN eps and training args, ready
 * to be saved as safetensors or built into an inference model. */
#ifndef AF_TRAIN_EXPORT_H
#define AF_TRAIN_EXPORT_H

#include "model/checkpoint.h"
#include "model/model.h"

/* train_args: a JSON object copied into the checkpoint (may be NULL). The
 * names are m->names. */
af_status af_model_to_checkpoint(const af_model *m, const cJSON *train_args, af_checkpoint *ck,
                                 af_error *err);

/* Copies every parameter and BN statistic of src into dst (same layout). */
void af_model_copy_params(af_model *dst, const af_model *src);

/* Sets class names (nc strings). */
af_status af_model_set_names(af_model *m, char *const *names, af_error *err);

#endif
