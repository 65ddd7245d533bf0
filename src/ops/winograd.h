/* 3x3 convolutions, stride 1, padding 1, by Winograd's minimal filtering
 * F(2x2, 3x3) or F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016), and stride 2 by splitting the kernel
 * into its even/odd rows and columns, each part a stride-1 convolution of the
 * matching input phase run by F(2,2) (af_wino_weights_create_s2), on the
 * blocked nChw8c or nChw16c activations of the inference pass (ops/blocked.h),
 * float32, AVX2+FMA (8 channels at a time in either block: on the AVX-512
 * CPUs measured so far the 256-bit FMAs run as fast as the 512-bit ones).
 *
 * Each m x m block of outputs ("tile") is computed from the (m+2) x (m+2)
 * input patch around it as  Y = A^T [ (G g G^T) (.) (B^T d B) ] A : for
 * F(2x2) 16 products per tile and channel pair instead of the direct
 * method's 36 (2.25x fewer multiply-adds), for F(4x4) 36 instead of 144 (4x).
 * The element-wise products summed over the input channels are matrix
 * products (tiles x cin) by (cin x cout), done by an AVX2 6x16 register-blocked
 * kernel on blocks of tiles small enough to stay in L2; each thread
 * transforms its tiles' inputs, multiplies, and transforms the products back
 * (plus bias and SiLU) without leaving its cache.
 *
 * The transformed weights U = G g G^T (16 or 36 values per channel pair) are
 * prepared once (or at each call in training, af_wino_weights_set). The
 * transform has a left inverse on 3x3 kernels, so the OIHW weights can be
 * given back (af_wino_weights_oihw) for the other code paths.
 *
 * Rounding: F(2x2)'s transforms only add, subtract and halve, so it lands as
 * close to exact as the direct method; F(4x4)'s factors (up to 8 and 1/24)
 * cost it about ten times that rounding error. */
#ifndef AF_OPS_WINOGRAD_H
#define AF_OPS_WINOGRAD_H

#include "animeface.h"
#include "ops/conv.h"

/* Whether this build and CPU can run it (x86-64 with AVX2 and FMA). */
int af_wino_supported(void);

typedef struct af_wino_weights af_wino_weights;

/* F(m x m, 3x3) with m = 2 or 4; weight OIHW [cout][cin][3][3], or NULL for
 * zero weights (and bias) to be set later; bias [cout] or NULL. */
af_status af_wino_weights_create(int m, int cin, int cout, const float *weight,
                                 const float *bias, af_wino_weights **out, af_error *err);
/* 3x3 stride 2, padding 1, by the polyphase split of winograd.c (S2): the
 * kernel's taps by row and column parity, F(2,2) along the two-tap
 * directions, 2x2 outputs per tile from 25 products per channel pair instead
 * of 36. Inference only (af_wino_weights_set with flip 0). */
af_status af_wino_weights_create_s2(int cin, int cout, const float *weight, const float *bias,
                                    af_wino_weights **out, af_error *err);
/* Transforms new weights into w (same shape, no allocation), on `threads`
 * OpenMP threads: for training, where the weights change every step. flip:
 * weight is the forward convolution's OIHW [cin][cout][3][3] of the layer
 * whose backward-data w computes (dx = conv(dy, W rotated 180 degrees, in and
 * out swapped); w made with cin, cout swapped). bias [cout] or NULL (zeros). */
void af_wino_weights_set(af_wino_weights *w, const float *weight, const float *bias, int flip,
                         int threads);
/* m of the weights (2 for stride 2), and their stride (1 or 2). */
int af_wino_weights_tile(const af_wino_weights *w);
int af_wino_weights_stride(const af_wino_weights *w);
void af_wino_weights_free(af_wino_weights *w);
/* Writes the OIHW weights [cout][cin][3][3] back from the transformed ones. */
void af_wino_weights_oihw(const af_wino_weights *w, float *weight);

/* Whether this build and CPU can run the bf16 products (avx512_bf16). */
int af_wino_bf16_supported(void);
/* The products in bf16 (VDPBF16PS, fp32 accumulation) from now on, for the
 * bf16 precision: the transformed weights and, per run, the transformed input
 * rounded to bf16 once (round to nearest even); the transforms themselves
 * stay float. The float copy of the transformed weights is freed (half the
 * memory); af_wino_weights_oihw then gives back the bf16-rounded ones.
 * AF_E_UNSUPPORTED on CPUs without avx512_bf16. af_wino_weights_set goes back
 * to float products. */
af_status af_wino_weights_to_bf16(af_wino_weights *w, af_error *err);
int af_wino_weights_is_bf16(const af_wino_weights *w);

/* An executable for one input shape (n images of h x w) on activations of
 * block size bs (8 or 16), using `threads` OpenMP threads (>= 1), with its
 * own per-thread buffers. */
typedef struct af_wino af_wino;
af_status af_wino_create(const af_wino_weights *w, int bs, int n, int h, int width, int threads,
                         af_act act, af_wino **out, af_error *err);
/* src: n x cin x h x w blocked; dst: n x cout x oh x ow blocked (oh, ow: h, w
 * at stride 1, (h - 1) / 2 + 1, (w - 1) / 2 + 1 at stride 2; padding lanes
 * written as zeros). Must not overlap. Not reentrant for one af_wino. */
void af_wino_forward(af_wino *c, const float *src, float *dst);
void af_wino_free(af_wino *c);

#endif
