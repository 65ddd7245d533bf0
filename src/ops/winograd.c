/* Winograd F(2x2, 3x3) convolution on nChw8c activations (see winograd.h).
 *
 * Per block of tiles, each thread:
 *   1. input transform: V[pos][tile][ci] = (B^T d B)[pos] for the 4x4 patch d
 *      of every input channel block (8 lanes at once);
 *   2. 16 products M[pos] = V[pos] (tiles x cinp) . U[pos] (cinp x coutp), by
 *      the 6x16 kernel over panels of 16 output channels;
 *   3. output transform: the 2x2 outputs A^T M A, plus bias, SiLU, stored in
 *      the blocked output (only the pixels inside the image).
 * Transforms with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1]. */
#include "ops/winograd.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "ops/blocked.h"
#include "ops/exp_avx2.h"

#define POS 16  /* values of a transformed 4x4 tile */
#define ROWS 6  /* tiles per kernel call */
#define COLS 16 /* output channels per kernel call (a panel) */
#define MAX_CH 65536

struct af_wino_weights {
    int cin, cout;
    int cinp;    /* cin rounded up to 8 (the blocked input's channels) */
    int coutp;   /* cout rounded up to 16 (whole panels) */
    float *u;    /* [POS][coutp/COLS][cinp][COLS], zeros past cin / cout */
    float *bias; /* coutp floats, zeros past cout */
};

struct af_wino {
    const af_wino_weights *w;
    int n, h, wd, th, tw, threads, tb;
    long ntiles;
    af_act act;
    size_t vfloats, mfloats; /* per thread: V [POS][tb][cinp], M [POS][tb][coutp] */
    float *buf;              /* threads x (V, M) */
};

static int round_up(int x, int m)
{
    return (x + m - 1) / m * m;
}

static void *alloc_zeroed(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n ? n : 64);
    if (p)
        memset(p, 0, n ? n : 64);
    return p;
}

int af_wino_supported(void)
{
#ifdef AF_HAVE_AVX2_KERNELS
    return af_have_avx2();
#else
    return 0;
#endif
}

static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

static size_t u_index(const af_wino_weights *w, int pos, int co, int ci)
{
    return (((size_t)pos * (size_t)(w->coutp / COLS) + (size_t)(co / COLS)) * (size_t)w->cinp +
            (size_t)ci) * COLS + (size_t)(co % COLS);
}

af_status af_wino_weights_create(int cin, int cout, const float *weight, const float *bias,
                                 af_wino_weights **out, af_error *err)
{
    *out = NULL;
    if (cin < 1 || cout < 1 || cin > MAX_CH || cout > MAX_CH || !weight)
        return af_fail(err, AF_E_ARG, "winograd: bad channel counts %d -> %d", cin, cout);
    af_wino_weights *w = calloc(1, sizeof *w);
    if (!w)
        return af_fail(err, AF_E_NOMEM, "winograd: out of memory");
    w->cin = cin;
    w->cout = cout;
    w->cinp = af_blk_pad(cin);
    w->coutp = round_up(cout, COLS);
    size_t nu;
    if (af_mul3_size(POS, (size_t)w->cinp, (size_t)w->coutp, &nu) ||
        nu > ((size_t)1 << 40) / sizeof(float))
        goto nomem;
    w->u = alloc_zeroed(nu * sizeof(float));
    w->bias = alloc_zeroed((size_t)w->coutp * sizeof(float));
    if (!w->u || !w->bias)
        goto nomem;
    for (int co = 0; co < cout; co++) {
        if (bias)
            w->bias[co] = bias[co];
        for (int ci = 0; ci < cin; ci++) {
            const float *g = weight + ((size_t)co * (size_t)cin + (size_t)ci) * 9;
            double t[4][3]; /* G g */
            for (int i = 0; i < 4; i++)
                for (int b = 0; b < 3; b++)
                    t[i][b] = G[i][0] * g[b] + G[i][1] * g[3 + b] + G[i][2] * g[6 + b];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    w->u[u_index(w, i * 4 + j, co, ci)] =
                        (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
    }
    *out = w;
    return AF_OK;
nomem:
    af_wino_weights_free(w);
    return af_fail(err, AF_E_NOMEM, "winograd: out of memory for %d x %d weights", cout, cin);
}

void af_wino_weights_free(af_wino_weights *w)
{
    if (!w)
        return;
    free(w->u);
    free(w->bias);
    free(w);
}

/* g = L U L^T with L = [1 0 0 0; 0 1 -1 0; 0 0 0 1], the left inverse of G. */
void af_wino_weights_oihw(const af_wino_weights *w, float *weight)
{
    for (int co = 0; co < w->cout; co++)
        for (int ci = 0; ci < w->cin; ci++) {
            double u[4][4], r[3][4];
            for (int p = 0; p < POS; p++)
                u[p / 4][p % 4] = w->u[u_index(w, p, co, ci)];
            for (int j = 0; j < 4; j++) {
                r[0][j] = u[0][j];
                r[1][j] = u[1][j] - u[2][j];
                r[2][j] = u[3][j];
            }
            float *g = weight + ((size_t)co * (size_t)w->cin + (size_t)ci) * 9;
            for (int a = 0; a < 3; a++) {
                g[a * 3 + 0] = (float)r[a][0];
                g[a * 3 + 1] = (float)(r[a][1] - r[a][2]);
                g[a * 3 + 2] = (float)r[a][3];
            }
        }
}

size_t af_wino_weights_bytes(const af_wino_weights *w)
{
    return ((size_t)POS * (size_t)w->cinp * (size_t)w->coutp + (size_t)w->coutp) * sizeof(float);
}

af_status af_wino_create(const af_wino_weights *w, int n, int h, int width, int threads,
                         af_act act, af_wino **out, af_error *err)
{
    *out = NULL;
    if (!af_wino_supported())
        return af_fail(err, AF_E_UNSUPPORTED, "winograd: this CPU lacks AVX2/FMA");
    if (n < 1 || h < 1 || width < 1 || threads < 1 || (long)n * h * width > (1L << 40))
        return af_fail(err, AF_E_ARG, "winograd: bad shape %d x %d x %d", n, h, width);
    af_wino *c = calloc(1, sizeof *c);
    if (!c)
        return af_fail(err, AF_E_NOMEM, "winograd: out of memory");
    c->w = w;
    c->n = n;
    c->h = h;
    c->wd = width;
    c->th = (h + 1) / 2;
    c->tw = (width + 1) / 2;
    c->threads = threads;
    c->act = act;
    c->ntiles = (long)n * c->th * c->tw;
    /* Tiles per block: a block's V and M within ~256 KiB (half of a Zen 3 L2),
     * 12 to 48 tiles (bench_winograd: 12 to 96 run alike within this machine's
     * noise; fewer keep the buffers small); then evened out so that the blocks
     * split evenly over the threads. */
    int tbmax = 4096 / (w->cinp + w->coutp);
    tbmax = tbmax < 12 ? 12 : tbmax > 48 ? 48 : tbmax;
    long nb = (c->ntiles + tbmax - 1) / tbmax;
    nb = (nb + threads - 1) / threads * threads;
    long tb = (c->ntiles + nb - 1) / nb;
    c->tb = round_up((int)tb, ROWS);
    c->vfloats = (size_t)POS * (size_t)c->tb * (size_t)w->cinp;
    c->mfloats = (size_t)POS * (size_t)c->tb * (size_t)w->coutp;
    size_t per, all;
    if (af_add_size(c->vfloats, c->mfloats, &per) || af_mul_size(per, (size_t)threads, &all) ||
        !(c->buf = alloc_zeroed(all * sizeof(float)))) {
        af_wino_free(c);
        return af_fail(err, AF_E_NOMEM, "winograd: out of memory for the tile buffers");
    }
    *out = c;
    return AF_OK;
}

void af_wino_free(af_wino *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c);
}

#ifdef AF_HAVE_AVX2_KERNELS

/* The 4x4 patch at (y0, x0) of one 8-channel plane (zeros outside the image),
 * transformed, to v[pos * ps]. */
static AF_AVX2 void in_transform(const float *plane, int h, int w, int y0, int x0, float *v,
                                 size_t ps)
{
    __m256 d[4][4];
    if (y0 >= 0 && x0 >= 0 && y0 + 3 < h && x0 + 3 < w) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                d[i][j] = _mm256_loadu_ps(plane + ((size_t)(y0 + i) * (size_t)w + (size_t)(x0 + j)) * 8);
    } else {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const int y = y0 + i, x = x0 + j;
                d[i][j] = y >= 0 && y < h && x >= 0 && x < w
                              ? _mm256_loadu_ps(plane + ((size_t)y * (size_t)w + (size_t)x) * 8)
                              : _mm256_setzero_ps();
            }
    }
    __m256 t[4][4];
    for (int j = 0; j < 4; j++) {
        t[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
        t[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
        t[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
        t[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(v + (size_t)(i * 4 + 0) * ps, _mm256_sub_ps(t[i][0], t[i][2]));
        _mm256_storeu_ps(v + (size_t)(i * 4 + 1) * ps, _mm256_add_ps(t[i][1], t[i][2]));
        _mm256_storeu_ps(v + (size_t)(i * 4 + 2) * ps, _mm256_sub_ps(t[i][2], t[i][1]));
        _mm256_storeu_ps(v + (size_t)(i * 4 + 3) * ps, _mm256_sub_ps(t[i][1], t[i][3]));
    }
}

/* m[r][0..16) = sum_k v[r][k] u[k][0..16) for 6 rows r (v rows vs apart, m
 * rows ms apart); u is K x 16, 32-byte aligned. */
static AF_AVX2 void kernel6x16(const float *v, size_t vs, const float *u, int K, float *m,
                               size_t ms)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *v0 = v, *v1 = v + vs, *v2 = v + 2 * vs, *v3 = v + 3 * vs, *v4 = v + 4 * vs,
                *v5 = v + 5 * vs;
    for (int k = 0; k < K; k++) {
        const __m256 u0 = _mm256_load_ps(u + (size_t)k * COLS);
        const __m256 u1 = _mm256_load_ps(u + (size_t)k * COLS + 8);
        __m256 b;
#define ROW(r)                                                                                     \
    b = _mm256_broadcast_ss(v##r + k);                                                             \
    c##r##0 = _mm256_fmadd_ps(b, u0, c##r##0);                                                     \
    c##r##1 = _mm256_fmadd_ps(b, u1, c##r##1);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
#define STORE(r)                                                                                   \
    _mm256_storeu_ps(m + (size_t)(r) * ms, c##r##0);                                               \
    _mm256_storeu_ps(m + (size_t)(r) * ms + 8, c##r##1);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

static AF_AVX2 inline __m256 silu8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(x, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* The 2x2 outputs at (y0, x0) of one 8-channel plane from the 16 products
 * m[pos * ps], plus bias, activation; only pixels inside the image. */
static AF_AVX2 void out_transform(const float *m, size_t ps, __m256 bias, int silu, float *plane,
                                  int h, int w, int y0, int x0)
{
    __m256 s[2][4];
    for (int j = 0; j < 4; j++) {
        const __m256 m0 = _mm256_loadu_ps(m + (size_t)(0 + j) * ps);
        const __m256 m1 = _mm256_loadu_ps(m + (size_t)(4 + j) * ps);
        const __m256 m2 = _mm256_loadu_ps(m + (size_t)(8 + j) * ps);
        const __m256 m3 = _mm256_loadu_ps(m + (size_t)(12 + j) * ps);
        s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    for (int i = 0; i < 2; i++) {
        if (y0 + i >= h)
            break;
        __m256 y[2];
        y[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[i][0], s[i][1]), s[i][2]), bias);
        y[1] = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[i][1], s[i][2]), s[i][3]), bias);
        for (int j = 0; j < 2 && x0 + j < w; j++)
            _mm256_storeu_ps(plane + ((size_t)(y0 + i) * (size_t)w + (size_t)(x0 + j)) * 8,
                             silu ? silu8(y[j]) : y[j]);
    }
}

static AF_AVX2 void run_block(const af_wino *c, long blk, const float *src, float *dst, float *V,
                              float *M)
{
    const af_wino_weights *w = c->w;
    const int h = c->h, wd = c->wd, cbi = w->cinp / 8, cbo = af_blk_pad(w->cout) / 8;
    const size_t plane = (size_t)h * (size_t)wd * 8, per_img = (size_t)c->th * (size_t)c->tw;
    const long t0 = blk * c->tb;
    const int nt = (int)(c->ntiles - t0 < c->tb ? c->ntiles - t0 : c->tb);
    const size_t vps = (size_t)c->tb * (size_t)w->cinp, mps = (size_t)c->tb * (size_t)w->coutp;

    for (int i = 0; i < nt; i++) {
        const size_t g = (size_t)(t0 + i), b = g / per_img, r = g % per_img;
        const int y0 = 2 * (int)(r / (size_t)c->tw) - 1, x0 = 2 * (int)(r % (size_t)c->tw) - 1;
        for (int cb = 0; cb < cbi; cb++)
            in_transform(src + (b * (size_t)cbi + (size_t)cb) * plane, h, wd, y0, x0,
                         V + (size_t)i * (size_t)w->cinp + (size_t)cb * 8, vps);
    }
    const int rows = round_up(nt, ROWS), panels = w->coutp / COLS;
    for (int pos = 0; pos < POS; pos++)
        for (int p = 0; p < panels; p++) {
            const float *u = w->u + ((size_t)pos * (size_t)panels + (size_t)p) *
                                        (size_t)w->cinp * COLS;
            for (int r = 0; r < rows; r += ROWS)
                kernel6x16(V + pos * vps + (size_t)r * (size_t)w->cinp, (size_t)w->cinp, u,
                           w->cinp, M + pos * mps + (size_t)r * (size_t)w->coutp + (size_t)p * COLS,
                           (size_t)w->coutp);
        }
    const int silu = c->act == AF_ACT_SILU;
    for (int i = 0; i < nt; i++) {
        const size_t g = (size_t)(t0 + i), b = g / per_img, r = g % per_img;
        const int y0 = 2 * (int)(r / (size_t)c->tw), x0 = 2 * (int)(r % (size_t)c->tw);
        for (int ob = 0; ob < cbo; ob++)
            out_transform(M + (size_t)i * (size_t)w->coutp + (size_t)ob * 8, mps,
                          _mm256_loadu_ps(w->bias + (size_t)ob * 8), silu,
                          dst + (b * (size_t)cbo + (size_t)ob) * plane, h, wd, y0, x0);
    }
}

void af_wino_forward(af_wino *c, const float *src, float *dst)
{
    const long nblocks = (c->ntiles + c->tb - 1) / c->tb;
    const size_t per = c->vfloats + c->mfloats;
#pragma omp parallel num_threads(c->threads)
    {
        float *V = c->buf + (size_t)omp_get_thread_num() * per, *M = V + c->vfloats;
#pragma omp for schedule(static)
        for (long blk = 0; blk < nblocks; blk++)
            run_block(c, blk, src, dst, V, M);
    }
}

#else

void af_wino_forward(af_wino *c, const float *src, float *dst)
{
    (void)c, (void)src, (void)dst; /* af_wino_create refuses where there are no kernels */
}

#endif
