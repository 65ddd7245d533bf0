/* Nearest-neighbour upsampling by 2 (torch nn.Upsample(scale_factor=2,
 * mode='nearest')) on NHWC float32. */
#ifndef AF_OPS_UPSAMPLE_H
#define AF_OPS_UPSAMPLE_H

/* src (n,h,w,c) -> dst (n,2h,2w,c); must not overlap. Rows split over
 * `threads` OpenMP threads (<= 1: the calling thread). */
void af_upsample_nearest2x(int n, int h, int w, int c, const float *src, float *dst, int threads);

#endif
