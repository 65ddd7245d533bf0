/* The blocked activation layouts of the inference forward pass (oneDNN's
 * nChw8c and nChw16c): per image, the channels in blocks of blk (8 or 16);
 * each block an H x W plane of blk-float lanes. Element (b, c, y, x) of a
 * tensor with C channels lies at
 *   b*Cp*H*W + (c/blk)*H*W*blk + (y*W + x)*blk + c%blk,   Cp = C rounded up to
 * blk, and the lanes of channels C..Cp-1 hold zeros. The block follows the
 * vector width of the kernels oneDNN picks on the CPU (8 with AVX2, 16 with
 * AVX-512; ops/engine.h's af_engine_blk); oneDNN's AVX2 convolutions run up
 * to 2.9x faster on nChw8c than on NHWC for the large maps of the bigger
 * models. A block plane is an NHWC image with blk channels, so the NHWC max
 * pool and upsample run on it unchanged (n = N*Cp/blk, c = blk). Every function
 * here takes the block size first. */
#ifndef AF_OPS_BLOCKED_H
#define AF_OPS_BLOCKED_H

#include <stddef.h>

#define AF_BLK_MAX 16 /* the largest block size (nChw16c) */

/* c rounded up to a multiple of blk. */
static inline int af_blk_pad(int blk, int c)
{
    return (c + blk - 1) / blk * blk;
}

/* n*Cp*h*w: floats of a blocked tensor. */
static inline size_t af_blk_elems(int blk, int n, int h, int w, int c)
{
    return (size_t)n * (size_t)af_blk_pad(blk, c) * (size_t)h * (size_t)w;
}

/* Layout conversions (dst fully written, padding lanes zeroed). */
void af_nhwc_to_blk(int blk, int n, int h, int w, int c, const float *src, float *dst);
/* Blocked -> NHWC (the head outputs for the decode), on `threads` OpenMP threads. */
void af_blk_to_nhwc(int blk, int n, int h, int w, int c, const float *src, float *dst,
                    int threads);
/* NHWC -> NCHW (planar), for the first convolution's input, on `threads`
 * OpenMP threads. */
void af_nhwc_to_nchw(int n, int h, int w, int c, const float *src, float *dst, int threads);
void af_nchw_to_nhwc(int n, int h, int w, int c, const float *src, float *dst);

/* dst (C = sum cs) = channel concat of srcs, all blocked, n images of h x w.
 * Whole blocks are copied where a part starts on a block boundary and spans
 * whole blocks (every YOLOv8 scale), lane by lane elsewhere; pixel chunks
 * split over `threads` OpenMP threads (<= 1: the calling thread). */
void af_blk_concat(int blk, int n, int h, int w, int nin, const float *const *srcs,
                   const int *cs, float *dst, int threads);

/* dst (c_n channels) = src (c_total channels)[c_off : c_off + c_n], blocked. */
void af_blk_copy_channels(int blk, int n, int h, int w, int c_total, int c_off, int c_n,
                          const float *src, float *dst);

/* v = act(v * alpha[c] + beta[c]) on a blocked tensor (the unfused BN mode);
 * act is SiLU, or none when silu is 0 (a module with act=False). */
void af_blk_affine_act(int blk, int n, int h, int w, int c, const float *alpha,
                       const float *beta, int silu, float *v);

#endif
