/* Naive NHWC convolution forward and backward loops (double accumulation):
 * the yardstick of tests/test_grad.c and the fallback of conv_train.c when
 * oneDNN has no kernel for a shape. Each output element is a gather (the
 * weight gradient in blocks of input channels on the stack): no scratch
 * buffers are needed. */
#include "ops/conv_train.h"
#include "ops/ref.h"

#define AF_REF_BLOCK 64 /* input channels per pass of the weight-gradient loop */

/* The forward is the inference reference without an activation. */
void af_conv_train_forward_ref(const af_conv_desc *d, int n, int h, int w, const float *x,
                               const float *w_oihw, const float *b, float *y)
{
    af_conv_desc plain = *d;
    plain.act = AF_ACT_NONE;
    af_conv_ref(&plain, w_oihw, b, n, h, w, x, y);
}

void af_conv_bwd_data_ref(const af_conv_desc *d, int n, int h, int w, const float *w_oihw,
                          const float *dy, float *dx)
{
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    const int k = d->k, s = d->stride, p = d->pad, cin = d->cin, cout = d->cout;
    const size_t kk = (size_t)k * k;
    for (int bi = 0; bi < n; bi++)
        for (int iy = 0; iy < h; iy++)
            for (int ix = 0; ix < w; ix++) {
                float *o = dx + (((size_t)bi * h + iy) * w + ix) * cin;
                for (int ci = 0; ci < cin; ci++) {
                    double acc = 0.0;
                    for (int ky = 0; ky < k; ky++) {
                        int ty = iy + p - ky; /* = oy * s */
                        if (ty < 0 || ty % s)
                            continue;
                        int oy = ty / s;
                        if (oy >= oh)
                            continue;
                        for (int kx = 0; kx < k; kx++) {
                            int tx = ix + p - kx;
                            if (tx < 0 || tx % s)
                                continue;
                            int ox = tx / s;
                            if (ox >= ow)
                                continue;
                            const float *g = dy + (((size_t)bi * oh + oy) * ow + ox) * cout;
                            const float *wt = w_oihw + (size_t)ci * kk + (size_t)ky * k + kx;
                            for (int co = 0; co < cout; co++)
                                acc += (double)g[co] * wt[(size_t)co * cin * kk];
                        }
                    }
                    o[ci] = (float)acc;
                }
            }
}

void af_conv_bwd_weights_ref(const af_conv_desc *d, int n, int h, int w, const float *x,
                             const float *dy, float *dw, float *db)
{
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    const int k = d->k, s = d->stride, p = d->pad, cin = d->cin, cout = d->cout;
    double acc[AF_REF_BLOCK];
    for (int co = 0; co < cout; co++) {
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
                for (int c0 = 0; c0 < cin; c0 += AF_REF_BLOCK) {
                    const int nb = cin - c0 < AF_REF_BLOCK ? cin - c0 : AF_REF_BLOCK;
                    for (int j = 0; j < nb; j++)
                        acc[j] = 0.0;
                    for (int bi = 0; bi < n; bi++)
                        for (int oy = 0; oy < oh; oy++) {
                            int iy = oy * s - p + ky;
                            if (iy < 0 || iy >= h)
                                continue;
                            for (int ox = 0; ox < ow; ox++) {
                                int ix = ox * s - p + kx;
                                if (ix < 0 || ix >= w)
                                    continue;
                                double g = dy[(((size_t)bi * oh + oy) * ow + ox) * cout + co];
                                const float *px = x + (((size_t)bi * h + iy) * w + ix) * cin + c0;
                                for (int j = 0; j < nb; j++)
                                    acc[j] += g * px[j];
                            }
                        }
                    for (int j = 0; j < nb; j++)
                        dw[(((size_t)co * cin + c0 + j) * k + ky) * k + kx] = (float)acc[j];
                }
        if (db) {
            double sum = 0.0;
            for (size_t i = 0; i < (size_t)n * oh * ow; i++)
                sum += dy[i * cout + co];
            db[co] = (float)sum;
        }
    }
}
