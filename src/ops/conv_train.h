/* Training convolution on NHWC float32 tensors through oneDNN: forward with
 * weights that change every step, backward-data (dx) and backward-weights
 * (dw, db). Square kernel, symmetric padding, groups 1, dilation 1. No fused
 * activation: in training BatchNorm and SiLU are separate layers (ops/grad.h,
 * ops/batchnorm.h).
 *
 * Weights are plain PyTorch OIHW [cout][cin][k][k] on every call; the object
 * reorders them internally into the formats oneDNN's kernels pick for its
 * shape (and the weight gradient back into OIHW). One object serves one input
 * shape (n, h, w) and is used by one thread at a time; distinct objects may
 * run at the same time from different threads (each owns its stream,
 * scratchpad and reorder buffers). */
#ifndef AF_OPS_CONV_TRAIN_H
#define AF_OPS_CONV_TRAIN_H

#include <stddef.h>

#include "animeface.h"
#include "ops/conv.h"
#include "ops/engine.h"

typedef struct af_conv_train af_conv_train;

/* d->act must be AF_ACT_NONE. has_bias: the layer has a bias (forward takes b,
 * backward can give db). threads: OpenMP threads for every call on this
 * object (<= 0: the calling thread's OpenMP setting at creation). If oneDNN
 * has no implementation for the shape the naive loops run instead. */
af_status af_conv_train_create(af_engine *e, const af_conv_desc *d, int has_bias, int n, int h,
                               int w, int threads, af_conv_train **out, af_error *err);
/* The same with bf16 arithmetic where oneDNN has bf16 kernels for the shape
 * (avx512_bf16 or AMX; elsewhere, and for shapes without one, float32 as
 * af_conv_train_create): the source, weights and diff-dst rounded to bf16
 * (nearest even) on their way into the kernels, float32 accumulation, and
 * the results (y, dx, dw, db) in float32, so the caller's tensors and master
 * weights stay float32. af_conv_train_is_bf16 says which it got. */
af_status af_conv_train_create_bf16(af_engine *e, const af_conv_desc *d, int has_bias, int n,
                                    int h, int w, int threads, af_conv_train **out,
                                    af_error *err);
int af_conv_train_is_bf16(const af_conv_train *c);
/* The same object running the naive reference loops (for tests and benches). */
af_status af_conv_train_create_naive(af_engine *e, const af_conv_desc *d, int has_bias, int n,
                                     int h, int w, af_conv_train **out, af_error *err);

/* y (n, oh, ow, cout) = conv(x (n, h, w, cin), w_oihw) + b. b: cout floats,
 * required when created with has_bias, ignored otherwise. y must not overlap x. */
af_status af_conv_train_forward(af_conv_train *c, const float *x, const float *w_oihw,
                                const float *b, float *y, af_error *err);

/* Gradients of the forward above given dy (n, oh, ow, cout):
 *   dx (n, h, w, cin)             OVERWRITTEN; NULL skips backward-data (first layer)
 *   dw OIHW [cout][cin][k][k]     OVERWRITTEN; NULL skips it
 *   db [cout] = sum of dy         OVERWRITTEN; NULL skips it; needs has_bias
 * Everything is overwritten, never accumulated: a caller accumulating
 * gradients over several batches adds the result into its own buffers.
 * x and w_oihw are the forward's input and weights. */
af_status af_conv_train_backward(af_conv_train *c, const float *x, const float *w_oihw,
                                 const float *dy, float *dx, float *dw, float *db,
                                 af_error *err);

void af_conv_train_free(af_conv_train *c);

/* Temporary memory a call needs: oneDNN scratchpads and, for backward-weights,
 * blocked copies of x and dy (the 3x3 backward-weights kernels run 1.3-2.5x
 * faster on blocked layouts). By default the object allocates its own at its
 * first call; objects used by one thread one at a time (the layers of one
 * network replica) can instead share one buffer of the largest size:
 * set_workspace(ws) with ws 64-byte aligned and >= workspace_size bytes, kept
 * alive while the object is used; NULL goes back to the object's own. */
size_t af_conv_train_workspace_size(const af_conv_train *c);
void af_conv_train_set_workspace(af_conv_train *c, void *ws);

void af_conv_train_out_hw(const af_conv_train *c, int *oh, int *ow);

/* Kernel names: which 0 forward, 1 backward-data, 2 backward-weights
 * (oneDNN implementation string, e.g. "jit:avx2", or "ref:naive"). */
const char *af_conv_train_impl(const af_conv_train *c, int which);

/* ---- naive reference loops (conv_train_ref.c), double accumulation ---- */

/* Forward without activation: y = conv(x, w) + b (b may be NULL). */
void af_conv_train_forward_ref(const af_conv_desc *d, int n, int h, int w, const float *x,
                               const float *w_oihw, const float *b, float *y);
/* dx (n, h, w, cin) = conv_transpose(dy, w); overwritten. */
void af_conv_bwd_data_ref(const af_conv_desc *d, int n, int h, int w, const float *w_oihw,
                          const float *dy, float *dx);
/* dw OIHW = sum over n, oh, ow of dy * x-window (overwritten); db [cout] =
 * sum of dy when non-NULL. */
void af_conv_bwd_weights_ref(const af_conv_desc *d, int n, int h, int w, const float *x,
                             const float *dy, float *dw, float *db);

#endif
