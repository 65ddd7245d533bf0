/* bfloat16: the upper 16 bits of an IEEE float32, rounded to nearest even
 * (as oneDNN and PyTorch convert). Used to feed bf16 convolutions. */
#ifndef AF_OPS_BF16_H
#define AF_OPS_BF16_H

#include <stddef.h>
#include <stdint.h>

uint16_t af_bf16_from_f32(float x); /* NaN stays a (quiet) NaN; back: af_bf16_to_f32 (core/tensor.h) */

/* dst[i] = af_bf16_from_f32(src[i]), by VCVTNE2PS2BF16 where the CPU has
 * avx512_bf16 (then denormal inputs give signed zeros, as the instruction and
 * oneDNN's own reorder do); threads <= 1 runs on the calling thread. */
void af_bf16_from_f32_array(const float *src, uint16_t *dst, size_t n, int threads);
/* The same on the calling thread only (inside a caller's parallel region). */
void af_bf16_from_f32_run(const float *src, uint16_t *dst, size_t n);

#endif
