/* Running the network: per-thread context (activation buffer pool and
 * oneDNN executables cached per input shape) and the forward pass. */
#ifndef AF_MODEL_FORWARD_H
#define AF_MODEL_FORWARD_H

#include "model/model.h"

typedef struct af_forward af_forward;

af_status af_forward_create(const af_model *m, int threads, af_forward **out, af_error *err);
void af_forward_free(af_forward *f);

/* input: NHWC float32 (n, h, w, 3), h and w multiples of the model's max stride.
 * On success *out points to (n, 4 + nc, *nanchors) float32 owned by f (valid
 * until the next call): rows cx, cy, w, h in input pixels, then sigmoid class
 * scores, anchors ordered level by level, row-major, as ultralytics' Detect. */
af_status af_forward_run(af_forward *f, const float *input, int n, int h, int w,
                         const float **out, int *nanchors, af_error *err);

/* Per-layer wall time of the last run, in ms (array of model->desc.nlayers), for
 * `animeface bench --layers`. */
const double *af_forward_layer_ms(const af_forward *f);

/* Each convolution of the last run (array of model->nconvs, in the order of
 * model->convs): wall time in ms, input height and width, the implementation
 * that ran it (af_conv_impl; valid until the next run) and its place in the
 * run (0, 1, ...); ms, impl and order are 0, NULL and -1 for convolutions the
 * run did not reach. */
typedef struct af_conv_timing {
    double ms;
    int h, w;
    const char *impl;
    int order;
} af_conv_timing;
const af_conv_timing *af_forward_conv_timing(const af_forward *f);

/* Calibration for int8: while absmax is set (an array of model->nconvs, NULL
 * to stop), each run raises absmax[i] to the largest |value| of conv i's input. */
void af_forward_observe(af_forward *f, float *absmax);

/* With a bf16 or int8 model (af_model_set_precision): whether a conv whose
 * output only another conv of that precision reads hands it over narrow (on,
 * the default: bf16, or s8 NHWC quantized for the reader) or in float32 that
 * the reader converts again (off). bf16 gives the same numbers bit for bit
 * (both round to nearest even once); s8 rounds the same way in another order
 * of float operations (see tests/test_forward.c). On halves (bf16) or skips
 * (int8: two reorders per pair) that traffic. For input shapes not run yet. */
void af_forward_set_narrow_activations(af_forward *f, int on);

/* Convolution floating-point operations of each layer in the last run
 * (array of model->desc.nlayers). */
const double *af_forward_layer_flops(const af_forward *f);

/* Floating-point operations (2 per multiply-add) of the last run's convolutions. */
double af_forward_last_flops(const af_forward *f);

/* Keep the head's raw outputs of each level, (n, h_l, w_l, 4*reg_max + nc)
 * NHWC (DFL logits then class logits), for computing a loss on them. */
void af_forward_keep_raw(af_forward *f, int keep);
/* The raw outputs of the last run (valid until the next); returns the number
 * of levels, or 0 when not kept. */
int af_forward_raw(const af_forward *f, const float **raw, int *h, int *w);

#endif
