/* Backward passes of the element-wise and data-movement layers (training),
 * NHWC float32, matching PyTorch's CPU kernels. Every function OVERWRITES its
 * gradient output unless its name says "add". The convolution backward is in
 * ops/conv_train.h, BatchNorm in ops/batchnorm.h. */
#ifndef AF_OPS_GRAD_H
#define AF_OPS_GRAD_H

#include <stddef.h>

#include "animeface.h"

/* ---- activations (act_bwd.c) ---- */

/* SiLU backward from the pre-activation x, as torch's silu_backward:
 * dx = dy * s * (1 + x * (1 - s)), s = sigmoid(x). dx may be dy or x. */
void af_silu_backward(size_t n, const float *x, const float *dy, float *dx);

/* Sigmoid backward from the OUTPUT y = sigmoid(x), as torch's
 * sigmoid_backward: dx = dy * (1 - y) * y. dx may be dy or y. */
void af_sigmoid_backward(size_t n, const float *y, const float *dy, float *dx);

/* ---- max pool (pool_bwd.c) ---- */

/* Backward of af_maxpool (torch MaxPool2d: floor mode, -inf padding).
 * x (n,h,w,c) the forward input, dy (n,oh,ow,c), dx (n,h,w,c) overwritten.
 * Each output's gradient goes to the FIRST maximum of its window in scan
 * order (rows, then columns) as torch's CPU max_pool2d_with_indices picks:
 * strict '>' against a running max starting at -inf on the first in-image
 * position, a NaN always taking over. Overlapping windows (stride < k)
 * accumulate in output scan order. Needs k >= 1, s >= 1, 0 <= p <= k/2. */
af_status af_maxpool_backward(int n, int h, int w, int c, int k, int s, int p, const float *x,
                              const float *dy, float *dx, af_error *err);

/* ---- nearest upsampling x2 (upsample_bwd.c) ---- */

/* Backward of af_upsample_nearest2x: dx (n,h,w,c) = sum of its 4 children in
 * dy (n,2h,2w,c), added in torch's order (row 2y: 2x, 2x+1; row 2y+1: 2x, 2x+1). */
void af_upsample_nearest2x_backward(int n, int h, int w, int c, const float *dy, float *dx);

/* ---- concat / channel slices (concat_bwd.c) ---- */

/* dst (npix, c_total)[:, c_off : c_off + c_n] += src (npix, c_n): the
 * gradient of a channel slice (C2f's chunk) flowing back into the whole. */
void af_add_to_channels(size_t npix, int c_total, int c_off, int c_n, const float *src,
                        float *dst);

/* dst (npix, c_n) += src (npix, c_total)[:, c_off : c_off + c_n]: one input's
 * share of a concat's gradient, added to a gradient that already holds other
 * uses of that input (af_copy_channels gives the overwrite form). */
void af_add_from_channels(size_t npix, int c_total, int c_off, int c_n, const float *src,
                          float *dst);

#endif
