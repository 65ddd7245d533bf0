/* Channel concatenation (torch.cat(dim=1)) and channel slices (C2f's chunk)
 * of NHWC float32 tensors. npix = n*h*w pixels. */
#ifndef AF_OPS_CONCAT_H
#define AF_OPS_CONCAT_H

#include <stddef.h>

/* dst (npix, sum cs) = [srcs[0] (npix, cs[0]) | srcs[1] | ...]; cs[i] >= 1. */
void af_concat_channels(size_t npix, int nin, const float *const *srcs, const int *cs,
                        float *dst);

/* dst (npix, c_n) = src (npix, c_total)[:, c_off : c_off + c_n];
 * needs 0 <= c_off, c_n >= 1, c_off + c_n <= c_total. */
void af_copy_channels(size_t npix, int c_total, int c_off, int c_n, const float *src,
                      float *dst);

#endif
