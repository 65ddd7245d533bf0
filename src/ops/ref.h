/* Naive reference loops for every op: the yardstick of tests/test_ops.c and
 * the fallback when oneDNN refuses a shape. Straightforward code, double
 * accumulation where it matters; all tensors NHWC float32, contiguous. */
#ifndef AF_OPS_REF_H
#define AF_OPS_REF_H

#include <stddef.h>

#include "ops/conv.h"

/* weight OIHW [cout][cin][k][k], bias [cout] or NULL; src (n,h,w,cin) -> dst
 * (n,oh,ow,cout) with oh, ow from af_conv_out_hw; d->act applied. */
void af_conv_ref(const af_conv_desc *d, const float *weight, const float *bias, int n, int h,
                 int w, const float *src, float *dst);

/* Max pooling, floor mode, padding never selected (torch's -inf padding).
 * dst (n,oh,ow,c), oh = (h + 2p - k)/s + 1. */
void af_maxpool_ref(int n, int h, int w, int c, int k, int s, int p, const float *src,
                    float *dst);

/* Nearest-neighbour upsampling by 2: dst (n,2h,2w,c). */
void af_upsample2x_ref(int n, int h, int w, int c, const float *src, float *dst);

/* Channel concatenation of nin tensors of npix pixels with cs[i] channels each. */
void af_concat_channels_ref(size_t npix, int nin, const float *const *srcs, const int *cs,
                            float *dst);

/* dst (npix, c_n) = src (npix, c_total)[:, c_off : c_off + c_n]. */
void af_copy_channels_ref(size_t npix, int c_total, int c_off, int c_n, const float *src,
                          float *dst);

/* x * sigmoid(x), sigmoid, and dst += src, over n values (in double). */
void af_silu_ref(float *x, size_t n);
void af_sigmoid_ref(float *x, size_t n);
void af_add_ref(float *dst, const float *src, size_t n);

#endif
