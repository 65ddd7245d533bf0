/* Max pooling on NHWC float32 (torch MaxPool2d semantics: floor mode,
 * padding never wins, i.e. -inf padding; NaNs are not propagated). */
#ifndef AF_OPS_POOL_H
#define AF_OPS_POOL_H

#include "animeface.h"

/* Output size; 0 where the input is too small. */
void af_maxpool_out_hw(int h, int w, int k, int s, int p, int *oh, int *ow);

/* The input range [*a, *b) of output index o's window along a side of n,
 * clipped to the input (the padding never wins). */
static inline void af_pool_window(int o, int k, int s, int p, int n, int *a, int *b)
{
    *a = o * s - p;
    *b = *a + k;
    if (*a < 0)
        *a = 0;
    if (*b > n)
        *b = n;
}

/* src (n,h,w,c) -> dst (n,oh,ow,c). Needs k >= 1, s >= 1, 0 <= p <= k/2 (as
 * torch). Separable: a column max into a row buffer, then a row max; output
 * rows split over `threads` OpenMP threads (<= 1: the calling thread). */
af_status af_maxpool(int n, int h, int w, int c, int k, int s, int p, const float *src,
                     float *dst, int threads, af_error *err);

#endif
