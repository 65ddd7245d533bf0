/* Multi-head self-attention over the pixels of a map, as ultralytics 8.3's
 * Attention (YOLO11's C2PSA) computes it from its qkv convolution's output:
 * qkv (B, heads*(2*kd + hd), H, W) viewed (B, heads, 2*kd + hd, N=H*W) and split
 * per head into q (kd), k (kd), v (hd) channels;
 *   attn = softmax_j((q^T k)[i, j] * scale),   out[d, i] = sum_j v[d, j] attn[i, j],
 * out viewed back as (B, heads*hd, H, W). */
#ifndef AF_OPS_ATTENTION_H
#define AF_OPS_ATTENTION_H

#include "animeface.h"

#define AF_ATTN_MAX_HD 512

typedef struct af_attn_shape {
    int n, h, w;   /* images, map height and width (N = h*w pixels) */
    int heads, kd, hd;
    float scale;   /* kd^-0.5 as Python computes it, rounded to float */
    int blk;       /* af_attention_blk: the block size of its tensors (ops/blocked.h); 0 NHWC */
} af_attn_shape;

/* qkv blocked (n, heads*(2kd+hd), h, w); out and v_out blocked (n, heads*hd, h,
 * w): the attention output and v itself in (B, C, H, W) order (the input of
 * Attention.pe). Split over `threads` OpenMP threads. AF_E_NOMEM if the
 * per-thread scratch (N*(2kd+hd) + N floats) cannot be had; AF_E_UNSUPPORTED
 * for hd > AF_ATTN_MAX_HD. */
af_status af_attention_blk(const af_attn_shape *s, const float *qkv, float *out, float *v_out,
                           int threads, af_error *err);

/* The same on planar (NCHW) tensors with naive loops in double: the reference. */
void af_attention_ref(const af_attn_shape *s, const float *qkv, float *out);

#endif
