/* 1x1 convolutions (stride 1, no padding) with bf16 products between
 * nChw16c activations, for the bf16 precision on CPUs with avx512_bf16: per
 * block of 48 pixels, the input gathered into rows of bf16 (rounded to
 * nearest even as af_bf16_from_f32, or taken as it is from a bf16 conv), a
 * matrix product by the register kernels of ops/gemm_bf16.h (float32
 * accumulation), then bias and SiLU in float32 and the store, float32 or bf16.
 * The same arithmetic as oneDNN's bf16 1x1 kernels (bf16 operands, float32
 * sums; only the order of the sums differs), faster inside the network:
 * yolov8n_face@640, 2 threads, AMD EPYC Zen 5 (bench/README.md). ops/conv.h
 * takes this path for bf16 1x1 convs between nChw16c activations
 * (AF_POINTWISE=0 in the environment turns it off, for comparisons). */
#ifndef AF_OPS_POINTWISE_H
#define AF_OPS_POINTWISE_H

#include "animeface.h"
#include "ops/conv.h"

/* Whether this build and CPU can run it (avx512_bf16 with VL and DQ). */
int af_pw_supported(void);

typedef struct af_pw_weights af_pw_weights;
/* weight [cout][cin] (OIHW of a 1x1 conv), bias [cout] or NULL; rounded to
 * bf16 once. */
af_status af_pw_weights_create(int cin, int cout, const float *weight, const float *bias,
                               af_pw_weights **out, af_error *err);
void af_pw_weights_free(af_pw_weights *w);

typedef struct af_pw af_pw;
/* A run on n images of h x width pixels with `threads` OpenMP threads and
 * the activation act after the bias. */
af_status af_pw_create(const af_pw_weights *w, int n, int h, int width, int threads, af_act act,
                       af_pw **out, af_error *err);
/* src nChw16c [n][cin/16][h][w][16], float32 or (src_bf16) uint16_t bf16,
 * its padding channels zero; dst likewise with cout channels (its padding
 * channels get zeros), float32 or (dst_bf16) bf16. */
void af_pw_forward(af_pw *c, const void *src, int src_bf16, void *dst, int dst_bf16);
void af_pw_free(af_pw *c);

#endif
