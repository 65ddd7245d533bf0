/* Depthwise convolution (groups = channels) on the blocked activation layout
 * (ops/blocked.h): YOLO11's DWConv and Attention.pe. k x k, stride 1, padding
 * k/2 (torch's zero padding), one filter per channel. */
#ifndef AF_OPS_DWCONV_H
#define AF_OPS_DWCONV_H

#include "animeface.h"

/* dst = act(conv(src) + bias), or with alpha: act(conv(src) * alpha + beta)
 * (PyTorch's eval BatchNorm after a bias-free conv, the unfused reference mode).
 * weight [c][k][k]; bias, alpha, beta [c] or NULL; silu: apply x * sigmoid(x).
 * src and dst blocked (n, c, h, w) with block blk (<= AF_BLK_MAX), distinct; dst's padding lanes written 0.
 * Split over `threads` OpenMP threads. */
void af_dwconv_blk(int blk, int n, int h, int w, int c, int k, const float *weight,
                   const float *bias, const float *alpha, const float *beta, int silu,
                   const float *src, float *dst, int threads);

#endif
