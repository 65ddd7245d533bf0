/* Max pool backward, NHWC. The argmax of each window is recomputed from the
 * forward input (no index tensor is kept), channels in blocks of AF_PB_BLOCK
 * so the running max / index live on the stack. */
#include <math.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "ops/grad.h"
#include "ops/pool.h"

#define AF_PB_BLOCK 64

af_status af_maxpool_backward(int n, int h, int w, int c, int k, int s, int p, const float *x,
                              const float *dy, float *dx, af_error *err)
{
    if (n < 1 || h < 1 || w < 1 || c < 1)
        return af_fail(err, AF_E_ARG, "maxpool backward: empty input %dx%dx%dx%d", n, h, w, c);
    if (k < 1 || s < 1 || p < 0 || p > k / 2)
        return af_fail(err, AF_E_ARG, "maxpool backward: kernel %d stride %d pad %d not supported",
                       k, s, p);
    int oh, ow;
    af_maxpool_out_hw(h, w, k, s, p, &oh, &ow);
    if (oh < 1 || ow < 1)
        return af_fail(err, AF_E_ARG, "maxpool backward: input %dx%d smaller than kernel %d", h,
                       w, k);
    size_t total;
    if (af_mul3_size((size_t)n, (size_t)h, (size_t)w, &total) ||
        af_mul_size(total, (size_t)c, &total))
        return af_fail(err, AF_E_LIMIT, "maxpool backward: tensor too large");
    memset(dx, 0, total * sizeof *dx);
    const size_t cc = (size_t)c;
    float bv[AF_PB_BLOCK];
    size_t bi[AF_PB_BLOCK];
    for (int b = 0; b < n; b++) {
        const float *xin = x + (size_t)b * h * w * cc;
        float *din = dx + (size_t)b * h * w * cc;
        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            af_pool_window(oy, k, s, p, h, &y0, &y1);
            for (int ox = 0; ox < ow; ox++) {
                int x0, x1;
                af_pool_window(ox, k, s, p, w, &x0, &x1);
                const float *g = dy + (((size_t)b * oh + oy) * ow + ox) * cc;
                for (size_t c0 = 0; c0 < cc; c0 += AF_PB_BLOCK) {
                    size_t nb = cc - c0 < AF_PB_BLOCK ? cc - c0 : AF_PB_BLOCK;
                    size_t first = (size_t)y0 * w + x0;
                    for (size_t j = 0; j < nb; j++) {
                        bv[j] = -INFINITY;
                        bi[j] = first;
                    }
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) {
                            size_t idx = (size_t)iy * w + ix;
                            const float *v = xin + idx * cc + c0;
                            for (size_t j = 0; j < nb; j++)
                                if (v[j] > bv[j] || isnan(v[j])) {
                                    bv[j] = v[j];
                                    bi[j] = idx;
                                }
                        }
                    for (size_t j = 0; j < nb; j++)
                        din[bi[j] * cc + c0 + j] += g[c0 + j];
                }
            }
        }
    }
    return AF_OK;
}
