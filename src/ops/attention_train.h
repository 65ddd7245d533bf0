/* The attention of ops/attention.h for training, on NHWC float32: forward
 * keeping the softmax P (n * heads * N * N floats, N = h*w) for the backward.
 * With S = scale * q^T k, P = softmax_j(S), O = P v^T per head:
 *   dv[j] = sum_i P[i,j] dO[i];  dP[i,j] = dO[i] . v[j];
 *   dS[i,j] = P[i,j] (dP[i,j] - sum_j' P[i,j'] dP[i,j']);
 *   dq[i] = scale * sum_j dS[i,j] k[j];  dk[j] = scale * sum_i dS[i,j] q[i]. */
#ifndef AF_OPS_ATTENTION_TRAIN_H
#define AF_OPS_ATTENTION_TRAIN_H

#include "ops/attention.h"

/* qkv (n, h, w, heads*(2kd+hd)) NHWC; out (n, h, w, heads*hd); p: the saved
 * softmax, n*heads*N*N floats. */
af_status af_attention_train_forward(const af_attn_shape *s, const float *qkv, float *out,
                                     float *p, int threads, af_error *err);

/* dqkv (same shape as qkv, overwritten) from dout; p from the forward. */
af_status af_attention_train_backward(const af_attn_shape *s, const float *qkv, const float *p,
                                      const float *dout, float *dqkv, int threads,
                                      af_error *err);

#endif
