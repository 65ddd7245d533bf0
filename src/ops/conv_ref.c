/* Naive NHWC convolution: the reference for the oneDNN path and its fallback. */
#include <math.h>

#include "ops/ref.h"

void af_conv_ref(const af_conv_desc *d, const float *weight, const float *bias, int n, int h,
                 int w, const float *src, float *dst)
{
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    const int k = d->k, cin = d->cin, cout = d->cout;
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float *o = dst + (((size_t)b * oh + oy) * ow + ox) * cout;
                for (int co = 0; co < cout; co++) {
                    double acc = bias ? bias[co] : 0.0;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * d->stride - d->pad + ky;
                        if (iy < 0 || iy >= h)
                            continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * d->stride - d->pad + kx;
                            if (ix < 0 || ix >= w)
                                continue;
                            const float *px = src + (((size_t)b * h + iy) * w + ix) * cin;
                            const float *wt = weight + (size_t)co * cin * k * k + (size_t)ky * k + kx;
                            for (int ci = 0; ci < cin; ci++)
                                acc += (double)px[ci] * wt[(size_t)ci * k * k];
                        }
                    }
                    if (d->act == AF_ACT_SILU)
                        acc = acc / (1.0 + exp(-acc));
                    o[co] = (float)acc;
                }
            }
}
