/* Attention over a map's pixels (ops/attention.h). Per image and head, q, k
 * and v are gathered pixel-major ([N][kd], [N][kd], [N][hd]) so that every
 * dot product runs over contiguous floats; each thread takes rows i of the
 * N x N score matrix, one at a time (the row, its softmax, its output). */
#include "ops/attention.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "core/error.h"
#include "ops/blocked.h"

/* Blocked element (channel ch, pixel p) of one image. */
static inline size_t blk_at(int blk, int ch, size_t p, size_t hw)
{
    return (size_t)(ch / blk) * hw * blk + p * blk + (size_t)(ch % blk);
}

af_status af_attention_blk(const af_attn_shape *s, const float *qkv, float *out, float *v_out,
                           int threads, af_error *err)
{
    const int blk = s->blk;
    const size_t N = (size_t)s->h * s->w;
    const int per = 2 * s->kd + s->hd, cq = s->heads * per, c = s->heads * s->hd;
    const size_t in_img = (size_t)af_blk_pad(blk, cq) * N;
    const size_t out_img = (size_t)af_blk_pad(blk, c) * N;
    const int nt = threads > 1 ? threads : 1;
    if (s->hd > AF_ATTN_MAX_HD || s->kd < 1 || s->hd < 1)
        return af_fail(err, AF_E_UNSUPPORTED, "attention with key dim %d and head dim %d",
                       s->kd, s->hd);
    const size_t gather = N * (size_t)per, row = N;
    float *scratch = malloc((gather + row * (size_t)nt) * sizeof(float));
    if (!scratch)
        return af_fail(err, AF_E_NOMEM, "out of memory for attention over %zu pixels", N);
    for (int b = 0; b < s->n; b++) {
        const float *src = qkv + (size_t)b * in_img;
        float *o = out + (size_t)b * out_img, *vo = v_out + (size_t)b * out_img;
        for (int head = 0; head < s->heads; head++) {
            float *q = scratch, *k = q + N * s->kd, *v = k + N * s->kd;
            const int c0 = head * per;
            for (size_t p = 0; p < N; p++) {
                for (int j = 0; j < s->kd; j++) {
                    q[p * s->kd + j] = src[blk_at(blk, c0 + j, p, N)];
                    k[p * s->kd + j] = src[blk_at(blk, c0 + s->kd + j, p, N)];
                }
                for (int j = 0; j < s->hd; j++) {
                    float x = src[blk_at(blk, c0 + 2 * s->kd + j, p, N)];
                    v[p * s->hd + j] = x;
                    vo[blk_at(blk, head * s->hd + j, p, N)] = x;
                }
            }
#pragma omp parallel num_threads(nt) if (N * N * (size_t)per > 65536)
            {
                float *sc = scratch + gather + row * (size_t)omp_get_thread_num();
                float acc[AF_ATTN_MAX_HD];
#pragma omp for schedule(static)
                for (long i = 0; i < (long)N; i++) {
                    const float *qi = q + (size_t)i * s->kd;
                    float mx = -INFINITY;
                    for (size_t j = 0; j < N; j++) {
                        const float *kj = k + j * s->kd;
                        float d = 0.0f;
                        for (int t = 0; t < s->kd; t++)
                            d += qi[t] * kj[t];
                        sc[j] = d * s->scale;
                        mx = sc[j] > mx ? sc[j] : mx;
                    }
                    float sum = 0.0f;
                    for (size_t j = 0; j < N; j++) {
                        sc[j] = expf(sc[j] - mx);
                        sum += sc[j];
                    }
                    for (int t = 0; t < s->hd; t++)
                        acc[t] = 0.0f;
                    for (size_t j = 0; j < N; j++) {
                        const float pj = sc[j] / sum; /* torch's softmax divides */
                        const float *vj = v + j * s->hd;
                        for (int t = 0; t < s->hd; t++)
                            acc[t] += pj * vj[t];
                    }
                    for (int t = 0; t < s->hd; t++)
                        o[blk_at(blk, head * s->hd + t, (size_t)i, N)] = acc[t];
                }
            }
        }
        /* the padding lanes of out and v_out */
        for (int ch = c; ch < af_blk_pad(blk, c); ch++)
            for (size_t p = 0; p < N; p++)
                o[blk_at(blk, ch, p, N)] = vo[blk_at(blk, ch, p, N)] = 0.0f;
    }
    free(scratch);
    return AF_OK;
}

void af_attention_ref(const af_attn_shape *s, const float *qkv, float *out)
{
    const size_t N = (size_t)s->h * s->w;
    const int per = 2 * s->kd + s->hd;
    double *a = malloc(N * sizeof *a);
    if (!a)
        return;
    for (int b = 0; b < s->n; b++)
        for (int head = 0; head < s->heads; head++) {
            const float *x = qkv + ((size_t)b * s->heads + head) * per * N;
            for (size_t i = 0; i < N; i++) {
                double mx = -INFINITY, sum = 0;
                for (size_t j = 0; j < N; j++) {
                    double d = 0;
                    for (int t = 0; t < s->kd; t++)
                        d += (double)x[t * N + i] * x[(s->kd + t) * N + j];
                    a[j] = d * s->scale;
                    mx = a[j] > mx ? a[j] : mx;
                }
                for (size_t j = 0; j < N; j++)
                    sum += a[j] = exp(a[j] - mx);
                for (int t = 0; t < s->hd; t++) {
                    double acc = 0;
                    for (size_t j = 0; j < N; j++)
                        acc += x[(2 * s->kd + t) * N + j] * (a[j] / sum);
                    out[(((size_t)b * s->heads + head) * s->hd + t) * N + i] = (float)acc;
                }
            }
        }
    free(a);
}
