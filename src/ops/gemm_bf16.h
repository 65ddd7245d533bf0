/* Register kernels for matrix products with bf16 operands and float32
 * accumulation (VDPBF16PS, avx512_bf16), shared by the Winograd convolutions'
 * bf16 products (ops/winograd.h) and the bf16 1x1 convolutions
 * (ops/pointwise.h):
 *
 *   m[r][0..32) = sum_k v[r][k] u[k][0..32)   for 6 rows r
 *
 * v: 6 rows of K bf16 (K even), vs bf16 apart; u: panels of 16 columns, each
 * [K/2][16][2] bf16 (input channel pairs interleaved, as VDPBF16PS takes
 * them: af_bf16_pack_panels), 64-byte aligned, the second panel ustride bf16
 * after the first; m: 6 rows of floats ms apart (written, not added to).
 * Callers check af_gemm_bf16_supported() first. */
#ifndef AF_OPS_GEMM_BF16_H
#define AF_OPS_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "ops/bf16.h"

int af_gemm_bf16_supported(void);
/* Two panels (32 columns). */
void af_gemm6x32_bf16(const uint16_t *v, size_t vs, const uint16_t *u, size_t ustride, int K,
                      float *m, size_t ms);
/* One panel (16 columns). */
void af_gemm6x16_bf16(const uint16_t *v, size_t vs, const uint16_t *u, int K, float *m,
                      size_t ms);
/* The panels of the K x N matrix b (element (k, n) at b[k * ks + n * ns]),
 * rounded to bf16 (af_bf16_from_f32), columns past N zero: ceil(N / 16)
 * panels of K * 16 bf16 each (K even), to out. */
void af_bf16_pack_panels(const float *b, size_t ks, size_t ns, int K, int N, uint16_t *out);

#endif
