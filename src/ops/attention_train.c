/* Training attention on NHWC (ops/attention_train.h). Per image and head the
 * rows i of P are split over threads; the backward's dk and dv sum over i, so
 * they are taken per column j instead (P read transposed), which keeps every
 * output row owned by one thread. */
#include "ops/attention_train.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

#define PAR(n) num_threads(threads > 1 ? threads : 1) if ((size_t)(n) > 4096)

af_status af_attention_train_forward(const af_attn_shape *s, const float *qkv, float *out,
                                     float *p, int threads, af_error *err)
{
    const size_t N = (size_t)s->h * s->w;
    const int per = 2 * s->kd + s->hd, cq = s->heads * per, c = s->heads * s->hd;
    if (s->kd < 1 || s->hd < 1)
        return af_fail(err, AF_E_UNSUPPORTED, "attention with key dim %d and head dim %d",
                       s->kd, s->hd);
    for (int b = 0; b < s->n; b++)
        for (int head = 0; head < s->heads; head++) {
            const float *x = qkv + (size_t)b * N * cq + (size_t)head * per;
            float *P = p + ((size_t)b * s->heads + head) * N * N;
            float *o = out + (size_t)b * N * c + (size_t)head * s->hd;
#pragma omp parallel for schedule(static) PAR(N * N)
            for (long i = 0; i < (long)N; i++) {
                const float *qi = x + (size_t)i * cq;
                float *row = P + (size_t)i * N, mx = -INFINITY, sum = 0.0f;
                for (size_t j = 0; j < N; j++) {
                    const float *kj = x + j * cq + s->kd;
                    float d = 0.0f;
                    for (int t = 0; t < s->kd; t++)
                        d += qi[t] * kj[t];
                    row[j] = d * s->scale;
                    mx = row[j] > mx ? row[j] : mx;
                }
                for (size_t j = 0; j < N; j++)
                    sum += row[j] = expf(row[j] - mx);
                float *oi = o + (size_t)i * c;
                for (int t = 0; t < s->hd; t++)
                    oi[t] = 0.0f;
                for (size_t j = 0; j < N; j++) {
                    row[j] /= sum;
                    const float *vj = x + j * cq + 2 * s->kd;
                    for (int t = 0; t < s->hd; t++)
                        oi[t] += row[j] * vj[t];
                }
            }
        }
    return AF_OK;
}

af_status af_attention_train_backward(const af_attn_shape *s, const float *qkv, const float *p,
                                      const float *dout, float *dqkv, int threads,
                                      af_error *err)
{
    const size_t N = (size_t)s->h * s->w;
    const int per = 2 * s->kd + s->hd, cq = s->heads * per, c = s->heads * s->hd;
    float *ds = malloc(N * N * sizeof *ds);
    if (!ds)
        return af_fail(err, AF_E_NOMEM, "out of memory for the attention backward (%zu pixels)",
                       N);
    for (int b = 0; b < s->n; b++)
        for (int head = 0; head < s->heads; head++) {
            const float *x = qkv + (size_t)b * N * cq + (size_t)head * per;
            float *dx = dqkv + (size_t)b * N * cq + (size_t)head * per;
            const float *P = p + ((size_t)b * s->heads + head) * N * N;
            const float *go = dout + (size_t)b * N * c + (size_t)head * s->hd;
            /* dS, row by row (dP[i,j] = dO[i] . v[j]) */
#pragma omp parallel for schedule(static) PAR(N * N)
            for (long i = 0; i < (long)N; i++) {
                const float *gi = go + (size_t)i * c, *pi = P + (size_t)i * N;
                float *di = ds + (size_t)i * N;
                double dot = 0;
                for (size_t j = 0; j < N; j++) {
                    const float *vj = x + j * cq + 2 * s->kd;
                    float d = 0.0f;
                    for (int t = 0; t < s->hd; t++)
                        d += gi[t] * vj[t];
                    di[j] = d;
                    dot += (double)pi[j] * d;
                }
                for (size_t j = 0; j < N; j++)
                    di[j] = pi[j] * (di[j] - (float)dot);
                /* dq[i] = scale * sum_j dS[i,j] k[j] */
                float *dq = dx + (size_t)i * cq;
                for (int t = 0; t < s->kd; t++)
                    dq[t] = 0.0f;
                for (size_t j = 0; j < N; j++) {
                    const float *kj = x + j * cq + s->kd;
                    for (int t = 0; t < s->kd; t++)
                        dq[t] += di[j] * kj[t];
                }
                for (int t = 0; t < s->kd; t++)
                    dq[t] *= s->scale;
            }
            /* per column j: dk[j] = scale * sum_i dS[i,j] q[i], dv[j] = sum_i P[i,j] dO[i] */
#pragma omp parallel for schedule(static) PAR(N * N)
            for (long j = 0; j < (long)N; j++) {
                float *dk = dx + (size_t)j * cq + s->kd, *dv = dk + s->kd;
                for (int t = 0; t < s->kd; t++)
                    dk[t] = 0.0f;
                for (int t = 0; t < s->hd; t++)
                    dv[t] = 0.0f;
                for (size_t i = 0; i < N; i++) {
                    const float sij = ds[i * N + (size_t)j], pij = P[i * N + (size_t)j];
                    const float *qi = x + i * cq, *gi = go + i * c;
                    for (int t = 0; t < s->kd; t++)
                        dk[t] += sij * qi[t];
                    for (int t = 0; t < s->hd; t++)
                        dv[t] += pij * gi[t];
                }
                for (int t = 0; t < s->kd; t++)
                    dk[t] *= s->scale;
            }
        }
    free(ds);
    return AF_OK;
}
