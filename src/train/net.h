/* The network in training mode: every convolution with its raw parameters
 * (conv weight, BatchNorm gamma/beta and running statistics, or the head's
 * plain bias), forward with batch statistics, and backward to parameter
 * gradients. Built on a raw af_model (af_model_build_raw), whose parameters
 * it updates in place. */
#ifndef AF_TRAIN_NET_H
#define AF_TRAIN_NET_H

#include <stddef.h>

#include "model/model.h"
#include "train/loss.h"

typedef struct af_tnet af_tnet;

/* One trainable tensor and its gradient, in ultralytics' optimizer groups:
 * 0 = weights with decay (conv), 1 = BatchNorm weights (no decay),
 * 2 = biases (no decay). */
typedef struct af_param {
    float *p, *g;
    size_t n;
    int group;
    const char *unit; /* conv prefix, e.g. "model.2.m.0.cv1" */
    const char *kind; /* "conv.weight", "bn.weight", "bn.bias", "weight", "bias" */
} af_param;

/* m must be a raw model (m->raw); it stays owned by the caller and must
 * outlive the net. momentum: BN running-statistics momentum (0.03). */
af_status af_tnet_create(af_model *m, int threads, float bn_momentum, af_tnet **out,
                         af_error *err);
void af_tnet_free(af_tnet *t);
/* Convolutions in bf16 (ops/conv_train.h's af_conv_train_create_bf16: bf16
 * operands, float32 accumulation, float32 results and master weights; where
 * the CPU has no bf16, float32 as before). Off by default. */
void af_tnet_set_bf16(af_tnet *t, int on);

/* Forward in training mode on x (n, h, w, 3) NHWC float32 (h, w multiples of
 * the max stride). Fills levels[l] with the raw head output of level l,
 * (n, h_l, w_l, 4*reg_max + nc) NHWC, valid until the next forward. */
af_status af_tnet_forward(af_tnet *t, const float *x, int n, int h, int w,
                          af_loss_level *levels, af_error *err);

/* Gradient buffers of the head outputs of the last forward, one per level
 * (same layout as levels), for the loss to write into. */
float *const *af_tnet_head_grads(af_tnet *t);

/* Backward from the head gradients: adds the parameter gradients to the
 * accumulated ones (af_tnet_zero_grad clears them). */
af_status af_tnet_backward(af_tnet *t, af_error *err);

void af_tnet_zero_grad(af_tnet *t);

/* All trainable tensors (the DFL conv is frozen, as ultralytics freezes
 * '.dfl'). The array is owned by t. */
const af_param *af_tnet_params(const af_tnet *t, int *count);

#endif
