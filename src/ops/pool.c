/* Max pooling, NHWC. For each output row the k input rows are reduced into a
 * row buffer (w*c contiguous floats), then each output pixel takes the max
 * over its k columns; both inner loops run over contiguous channels. */
#include "ops/pool.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "ops/ref.h"

#if defined(__SSE__)
#include <immintrin.h>
#endif

void af_maxpool_out_hw(int h, int w, int k, int s, int p, int *oh, int *ow)
{
    long long eh = (long long)h + 2LL * p - k, ew = (long long)w + 2LL * p - k;
    *oh = (s > 0 && eh >= 0) ? (int)(eh / s + 1) : 0;
    *ow = (s > 0 && ew >= 0) ? (int)(ew / s + 1) : 0;
}

/* d[i] = max(d[i], s[i]) */
static void vmax(float *d, const float *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE__)
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(d + i, _mm_max_ps(_mm_loadu_ps(d + i), _mm_loadu_ps(s + i)));
#endif
    for (; i < n; i++)
        d[i] = s[i] > d[i] ? s[i] : d[i];
}

af_status af_maxpool(int n, int h, int w, int c, int k, int s, int p, const float *src,
                     float *dst, int threads, af_error *err)
{
    if (n < 1 || h < 1 || w < 1 || c < 1)
        return af_fail(err, AF_E_ARG, "maxpool: empty input %dx%dx%dx%d", n, h, w, c);
    if (k < 1 || s < 1 || p < 0 || p > k / 2)
        return af_fail(err, AF_E_ARG, "maxpool: kernel %d stride %d pad %d not supported", k, s,
                       p);
    int oh, ow;
    af_maxpool_out_hw(h, w, k, s, p, &oh, &ow);
    if (oh < 1 || ow < 1)
        return af_fail(err, AF_E_ARG, "maxpool: input %dx%d smaller than kernel %d", h, w, k);
    size_t rowlen, all;
    if (threads < 1)
        threads = 1;
    if (af_mul_size((size_t)w, (size_t)c, &rowlen) || rowlen > ((size_t)1 << 28) ||
        af_mul_size(rowlen, (size_t)threads, &all))
        return af_fail(err, AF_E_LIMIT, "maxpool: row of %d x %d too large", w, c);
    float *rows = malloc(all * sizeof *rows); /* one row buffer per thread */
    if (!rows)
        return af_fail(err, AF_E_NOMEM, "maxpool: out of memory");
    const size_t cc = (size_t)c;
    const long tasks = (long)n * oh;
#pragma omp parallel for num_threads(threads) schedule(static) \
    if ((size_t)tasks * (size_t)ow * cc > 65536)
    for (long t = 0; t < tasks; t++) {
        const int b = (int)(t / oh), oy = (int)(t % oh);
        float *row = rows + (size_t)omp_get_thread_num() * rowlen;
        const float *in = src + (size_t)b * h * rowlen;
        float *out = dst + ((size_t)b * oh + (size_t)oy) * ow * cc;
        int y0, y1;
        af_pool_window(oy, k, s, p, h, &y0, &y1);
        memcpy(row, in + (size_t)y0 * rowlen, rowlen * sizeof *row);
        for (int y = y0 + 1; y < y1; y++)
            vmax(row, in + (size_t)y * rowlen, rowlen);
        for (int ox = 0; ox < ow; ox++) {
            int x0, x1;
            af_pool_window(ox, k, s, p, w, &x0, &x1);
            float *o = out + (size_t)ox * cc;
            memcpy(o, row + (size_t)x0 * cc, cc * sizeof *o);
            for (int x = x0 + 1; x < x1; x++)
                vmax(o, row + (size_t)x * cc, cc);
        }
    }
    free(rows);
    return AF_OK;
}

void af_maxpool_ref(int n, int h, int w, int c, int k, int s, int p, const float *src,
                    float *dst)
{
    int oh, ow;
    af_maxpool_out_hw(h, w, k, s, p, &oh, &ow);
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ch = 0; ch < c; ch++) {
                    float m = -INFINITY;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            float v = src[(((size_t)b * h + iy) * w + ix) * c + ch];
                            if (v > m)
                                m = v;
                        }
                    dst[(((size_t)b * oh + oy) * ow + ox) * c + ch] = m;
                }
}
