/* bf16 1x1 convolutions (ops/pointwise.h). */
#include "ops/pointwise.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/aligned.h"
#include "core/checked.h"
#include "core/error.h"
#include "ops/exp_avx2.h"
#include "ops/gemm_bf16.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define PB 48  /* pixels per block: V (PB x cin bf16) stays in L1/L2 */
#define ROWS 6 /* pixels per kernel call */
#define MAX_CH 65536

struct af_pw_weights {
    int cin, cout;
    int kp;       /* cin rounded up to 16: the nChw16c input's channels */
    int panels;   /* cout rounded up to 16, over 16 */
    uint16_t *u;  /* panels x [kp/2][16][2] bf16 (ops/gemm_bf16.h), zeros past cin / cout */
    float *bias;  /* [panels * 16], zeros past cout */
};

struct af_pw {
    const af_pw_weights *w;
    int n, threads;
    long hw;
    af_act act;
    long bpi;      /* blocks per image */
    uint16_t *buf; /* threads x PB x kp bf16: the gathered input rows */
};

int af_pw_supported(void)
{
#if defined(AF_HAVE_AVX2_KERNELS)
    return af_gemm_bf16_supported() && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && af_have_avx2();
#else
    return 0;
#endif
}

af_status af_pw_weights_create(int cin, int cout, const float *weight, const float *bias,
                               af_pw_weights **out, af_error *err)
{
    *out = NULL;
    if (cin < 1 || cout < 1 || cin > MAX_CH || cout > MAX_CH)
        return af_fail(err, AF_E_ARG, "pointwise conv: bad channels %d -> %d", cin, cout);
    af_pw_weights *w = calloc(1, sizeof *w);
    if (!w)
        return af_fail(err, AF_E_NOMEM, "pointwise conv: out of memory");
    w->cin = cin;
    w->cout = cout;
    w->kp = (cin + 15) / 16 * 16;
    w->panels = (cout + 15) / 16;
    const size_t np = (size_t)w->panels * 16;
    float *b = calloc((size_t)w->kp * np, sizeof *b); /* [kp][np], zero-padded */
    w->u = af_alloc64((size_t)w->kp * np * sizeof *w->u);
    w->bias = af_zalloc64(np * sizeof *w->bias);
    if (!b || !w->u || !w->bias) {
        free(b);
        af_pw_weights_free(w);
        return af_fail(err, AF_E_NOMEM, "pointwise conv: out of memory");
    }
    for (int o = 0; o < cout; o++) {
        w->bias[o] = bias ? bias[o] : 0.0f;
        for (int i = 0; i < cin; i++)
            b[(size_t)i * np + (size_t)o] = weight[(size_t)o * (size_t)cin + (size_t)i];
    }
    af_bf16_pack_panels(b, np, 1, w->kp, (int)np, w->u);
    free(b);
    *out = w;
    return AF_OK;
}

void af_pw_weights_free(af_pw_weights *w)
{
    if (!w)
        return;
    free(w->u);
    free(w->bias);
    free(w);
}

af_status af_pw_create(const af_pw_weights *w, int n, int h, int width, int threads, af_act act,
                       af_pw **out, af_error *err)
{
    *out = NULL;
    if (!af_pw_supported())
        return af_fail(err, AF_E_UNSUPPORTED, "pointwise conv: this CPU lacks avx512_bf16");
    if (n < 1 || h < 1 || width < 1 || threads < 1 || (long)n * h * width > (1L << 40))
        return af_fail(err, AF_E_ARG, "pointwise conv: bad shape %d x %d x %d", n, h, width);
    af_pw *c = calloc(1, sizeof *c);
    if (!c)
        return af_fail(err, AF_E_NOMEM, "pointwise conv: out of memory");
    c->w = w;
    c->n = n;
    c->hw = (long)h * width;
    c->threads = threads;
    c->act = act;
    c->bpi = (c->hw + PB - 1) / PB;
    size_t per;
    if (af_mul_size((size_t)PB * (size_t)w->kp, (size_t)threads, &per) ||
        !(c->buf = af_zalloc64(per * sizeof *c->buf))) { /* zeros: rows past a block's
                                                             * last pixel are read, unused */
        free(c);
        return af_fail(err, AF_E_NOMEM, "pointwise conv: out of memory for the input rows");
    }
    *out = c;
    return AF_OK;
}

void af_pw_free(af_pw *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c);
}

#ifdef AF_HAVE_AVX2_KERNELS

#define AF_PW_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512dq,avx512bf16")))

/* Bias, activation and the store of 16 output channels of one pixel. */
static AF_PW_TARGET inline void put16(const float *m, const float *bias, int silu, void *dst,
                                      int dst_bf16, size_t at)
{
    __m512 v = _mm512_add_ps(_mm512_loadu_ps(m), _mm512_load_ps(bias));
    if (silu)
        v = _mm512_insertf32x8(_mm512_castps256_ps512(silu8(_mm512_castps512_ps256(v))),
                               silu8(_mm512_extractf32x8_ps(v, 1)), 1);
    if (dst_bf16)
        _mm256_storeu_si256((__m256i *)((uint16_t *)dst + at), (__m256i)_mm512_cvtneps_pbh(v));
    else
        _mm512_storeu_ps((float *)dst + at, v);
}

/* Block b: its pixels' input rows to V (bf16), then per pair of 16-channel
 * panels and 6 pixels a kernel call and the stores. */
static AF_PW_TARGET void run_block(const af_pw *c, long b, const void *src, int src_bf16,
                                   void *dst, int dst_bf16, uint16_t *V)
{
    const af_pw_weights *w = c->w;
    const int kp = w->kp, kb = kp / 16, silu = c->act == AF_ACT_SILU;
    const size_t img = (size_t)(b / c->bpi), hw = (size_t)c->hw,
                 p0 = (size_t)(b % c->bpi) * PB, in_img = (size_t)kp * hw,
                 out_img = (size_t)w->panels * 16 * hw;
    const int np = (int)(hw - p0 < PB ? hw - p0 : PB);
    for (int i = 0; i < np; i++)
        for (int cb = 0; cb < kb; cb++) {
            const size_t at = img * in_img + ((size_t)cb * hw + p0 + (size_t)i) * 16;
            uint16_t *row = V + (size_t)i * (size_t)kp + (size_t)cb * 16;
            if (src_bf16)
                memcpy(row, (const uint16_t *)src + at, 16 * sizeof *row);
            else
                _mm256_storeu_si256((__m256i *)row, (__m256i)_mm512_cvtneps_pbh(
                                                        _mm512_loadu_ps((const float *)src + at)));
        }
    float m[ROWS * 32] __attribute__((aligned(64)));
    const size_t up = (size_t)kp * 16; /* bf16 per panel */
    for (int q = 0; q < w->panels; q += 2) {
        const int two = q + 1 < w->panels;
        for (int r = 0; r < np; r += ROWS) {
            if (two)
                af_gemm6x32_bf16(V + (size_t)r * (size_t)kp, (size_t)kp, w->u + (size_t)q * up,
                                 up, kp, m, 32);
            else
                af_gemm6x16_bf16(V + (size_t)r * (size_t)kp, (size_t)kp, w->u + (size_t)q * up,
                                 kp, m, 32);
            for (int i = 0; i < ROWS && r + i < np; i++)
                for (int h = 0; h <= two; h++)
                    put16(m + i * 32 + h * 16, w->bias + (size_t)(q + h) * 16, silu, dst,
                          dst_bf16,
                          img * out_img + ((size_t)(q + h) * hw + p0 + (size_t)(r + i)) * 16);
        }
    }
}

void af_pw_forward(af_pw *c, const void *src, int src_bf16, void *dst, int dst_bf16)
{
    const long nblocks = (long)c->n * c->bpi;
    const size_t per = (size_t)PB * (size_t)c->w->kp;
#pragma omp parallel num_threads(c->threads)
    {
        uint16_t *V = c->buf + (size_t)omp_get_thread_num() * per;
#pragma omp for schedule(dynamic, 1)
        for (long b = 0; b < nblocks; b++)
            run_block(c, b, src, src_bf16, dst, dst_bf16, V);
    }
}

#else

void af_pw_forward(af_pw *c, const void *src, int src_bf16, void *dst, int dst_bf16)
{
    (void)c, (void)src, (void)src_bf16, (void)dst, (void)dst_bf16; /* af_pw_create refuses */
}

#endif
