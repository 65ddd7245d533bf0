/* Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution, and its stride-2 form
 * S2, on nChw8c activations (see winograd.h). With t = m + 2 (the input patch
 * side; 5 for S2) and pos = t * t (25 for S2), per block of tiles each thread
 * does:
 *   1. input transform: V[pos][tile][ci] = (B^T d B)[pos] for the t x t patch d
 *      of every input channel block (8 lanes at once);
 *   2. pos products M[pos] = V[pos] (tiles x cinp) . U[pos] (cinp x coutp), by
 *      the 6x16 kernel over panels of 16 output channels;
 *   3. output transform: the m x m outputs A^T M A, plus bias, SiLU, stored in
 *      the blocked output (only the pixels inside the image).
 * F(2x2): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1].
 * F(4x4): Lavin & Gray's matrices (points 0, +-1, +-2), written out below at
 * BT6 / AT6 and G4. S2: see its comment below (its positions share 16 weight
 * matrices, U[upos[pos]]). */
#include "ops/winograd.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/aligned.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/bf16.h"
#include "ops/blocked.h"
#include "ops/exp_avx2.h"
#include "ops/gemm_bf16.h"

#define ROWS 6  /* tiles per kernel call */
#define COLS 16 /* output channels per kernel call (a panel) */
#define MAX_CH 65536

struct af_wino_weights {
    int m;       /* outputs per tile side: F(m x m, 3x3), 2 or 4 */
    int stride;  /* 1, or 2 (m 2: the polyphase split, S2 below) */
    int t, pos;  /* input patch side, values per transformed patch (t * t; 25 for S2) */
    int nu;      /* weight matrices: pos, or 16 for S2 (some positions share one) */
    unsigned char upos[36]; /* the weight matrix of each position */
    int cin, cout;
    int cinp;    /* cin rounded up to 8 (the blocked input's channels) */
    int coutp;   /* cout rounded up to 16 (whole panels) */
    float *u;    /* [nu][coutp/COLS][cinp][COLS], zeros past cin / cout; NULL once in bf16 */
    size_t ufloats; /* of u */
    float *bias; /* coutp floats, zeros past cout */
    uint16_t *u16; /* af_wino_weights_to_bf16: u in bf16, [nu][coutp/COLS][cinp/2][COLS][2]
                    * (input channel pairs side by side, as VDPBF16PS takes them), or NULL */
};

struct af_wino {
    const af_wino_weights *w;
    int bs; /* block size of the activations: 8 (nChw8c) or 16 (nChw16c) */
    int n, h, wd, oh, ow, th, tw, threads;
    int tb, tbr; /* tiles per block; rows per position in V and M: tb rounded up to ROWS */
    long ntiles;
    af_act act;
    size_t vfloats;   /* per thread: V [pos][tbr][cinp] (float products; else 0) */
    size_t mfloats;   /* per thread: M [pos][tbr][coutp] */
    size_t v16floats; /* per thread, bf16 products: V in bf16 instead (floats' worth) */
    float *buf;              /* threads x (V, M, V16) */
};

static int round_up(int x, int m)
{
    return (x + m - 1) / m * m;
}

int af_wino_supported(void)
{
#ifdef AF_HAVE_AVX2_KERNELS
    return af_have_avx2();
#else
    return 0;
#endif
}

/* G (t x 3) of F(2x2,3x3) and F(4x4,3x3), and their left inverses L (3 x t):
 * g = L (G g G^T) L^T. */
static const double G2[4 * 3] = {1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1};
static const double L2[3 * 4] = {1, 0, 0, 0, 0, 1, -1, 0, 0, 0, 0, 1};
static const double G4[6 * 3] = {1.0 / 4,  0,        0,       -1.0 / 6, -1.0 / 6, -1.0 / 6,
                                 -1.0 / 6, 1.0 / 6,  -1.0 / 6, 1.0 / 24, 1.0 / 12, 1.0 / 6,
                                 1.0 / 24, -1.0 / 12, 1.0 / 6, 0,        0,        1};
static const double L4[3 * 6] = {4, 0, 0, 0, 0, 0, 0, -3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1};

/* S2: 3x3 stride 2 (pad 1) split by the parity of the kernel taps' rows and
 * columns into four convolutions on the even/odd rows and columns of the
 * input, each run as the one-dimensional F(2,2) (points 0, 1, inf:
 * B^T = [1 -1 0; 0 1 0; 0 -1 1], G = [1 0; 1 1; 0 1], A^T = [1 1 0; 0 1 1])
 * along its two-tap directions, per 2x2 output tile from the 5x5 input patch
 * P at (4a - 1, 4b - 1):
 *   EE taps (0,0) (0,2) (2,0) (2,2): 3x3 positions from P[0,2,4][0,2,4]
 *   EO taps (0,1) (2,1):             3x2 positions from P[0,2,4][1,3]
 *   OE taps (1,0) (1,2):             2x3 positions from P[1,3][0,2,4]
 *   OO tap  (1,1):                   2x2 positions P[1,3][1,3]
 * 25 products per tile and channel pair instead of 36 (1.44x fewer), from 16
 * distinct weight matrices (EE 9, EO 3 shared by both columns, OE 3, OO 1).
 * Positions: EE 0..8 (r*3+c), EO 9..14 (9+r*2+c), OE 15..20 (15+r*3+c), OO
 * 21..24 (21+r*2+c); weight matrices: EE 0..8, EO 9..11 (by r), OE 12..14
 * (by c), OO 15. Only adds and subtracts: as exact as F(2x2). */
#define S2_POS 25
#define S2_NU 16

static size_t u_index(const af_wino_weights *w, int pos, int co, int ci)
{
    return (((size_t)pos * (size_t)(w->coutp / COLS) + (size_t)(co / COLS)) * (size_t)w->cinp +
            (size_t)ci) * COLS + (size_t)(co % COLS);
}

static af_status weights_create(int m, int stride, int cin, int cout, const float *weight,
                                const float *bias, af_wino_weights **out, af_error *err)
{
    *out = NULL;
    if ((m != 2 && m != 4) || (stride != 1 && stride != 2) || (stride == 2 && m != 2))
        return af_fail(err, AF_E_ARG, "winograd: F(%dx%d, 3x3) stride %d not implemented", m, m,
                       stride);
    if (cin < 1 || cout < 1 || cin > MAX_CH || cout > MAX_CH)
        return af_fail(err, AF_E_ARG, "winograd: bad channel counts %d -> %d", cin, cout);
    af_wino_weights *w = calloc(1, sizeof *w);
    if (!w)
        return af_fail(err, AF_E_NOMEM, "winograd: out of memory");
    w->m = m;
    w->stride = stride;
    w->t = stride == 2 ? 5 : m + 2;
    w->pos = stride == 2 ? S2_POS : w->t * w->t;
    w->nu = stride == 2 ? S2_NU : w->pos;
    for (int p = 0; p < w->pos; p++)
        w->upos[p] = (unsigned char)(stride == 1 ? p
                                     : p < 9    ? p
                                     : p < 15   ? 9 + (p - 9) / 2
                                     : p < 21   ? 12 + (p - 15) % 3
                                                : 15);
    w->cin = cin;
    w->cout = cout;
    w->cinp = af_blk_pad(8, cin);
    w->coutp = round_up(cout, COLS);
    size_t nu;
    if (af_mul3_size((size_t)w->nu, (size_t)w->cinp, (size_t)w->coutp, &nu) ||
        nu > ((size_t)1 << 40) / sizeof(float))
        goto nomem;
    w->ufloats = nu;
    w->u = af_zalloc64(nu * sizeof(float));
    w->bias = af_zalloc64((size_t)w->coutp * sizeof(float));
    if (!w->u || !w->bias)
        goto nomem;
    if (weight) /* else zeros (af_zalloc64), for af_wino_weights_set to fill */
        af_wino_weights_set(w, weight, bias, 0, 1);
    *out = w;
    return AF_OK;
nomem:
    af_wino_weights_free(w);
    return af_fail(err, AF_E_NOMEM, "winograd: out of memory for %d x %d weights", cout, cin);
}

af_status af_wino_weights_create(int m, int cin, int cout, const float *weight,
                                 const float *bias, af_wino_weights **out, af_error *err)
{
    return weights_create(m, 1, cin, cout, weight, bias, out, err);
}

af_status af_wino_weights_create_s2(int cin, int cout, const float *weight, const float *bias,
                                    af_wino_weights **out, af_error *err)
{
    return weights_create(2, 2, cin, cout, weight, bias, out, err);
}

/* S2's 16 transformed values of the 3x3 kernel g (row-major). */
static void s2_transform(const float *g, float *u)
{
    static const double G[3][2] = {{1, 0}, {1, 1}, {0, 1}};
    const double ee[2][2] = {{g[0], g[2]}, {g[6], g[8]}};
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++) {
            double v = 0;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    v += G[r][a] * ee[a][b] * G[c][b];
            u[r * 3 + c] = (float)v;
        }
        u[9 + r] = (float)(G[r][0] * g[1] + G[r][1] * g[7]);  /* EO: taps (0,1), (2,1) */
        u[12 + r] = (float)(G[r][0] * g[3] + G[r][1] * g[5]); /* OE: taps (1,0), (1,2) */
    }
    u[15] = g[4];
}

/* Its inverse: G's first and last rows are the unit vectors. */
static void s2_inverse(const float *u, float *g)
{
    g[0] = u[0], g[2] = u[2], g[6] = u[6], g[8] = u[8];
    g[1] = u[9], g[7] = u[11];
    g[3] = u[12], g[5] = u[14];
    g[4] = u[15];
}

void af_wino_weights_set(af_wino_weights *w, const float *weight, const float *bias, int flip,
                         int threads)
{
    const double *G = w->m == 2 ? G2 : G4;
    const int t = w->t, cin = w->cin, cout = w->cout;
    /* new weights: float products until af_wino_weights_to_bf16 again (training's
     * weights, the only ones set again, never go to bf16) */
    if (!w->u && !(w->u = af_zalloc64(w->ufloats * sizeof(float))))
        return; /* out of memory: the bf16 weights stay */
    free(w->u16);
    w->u16 = NULL;
    for (int co = 0; co < cout; co++)
        w->bias[co] = bias ? bias[co] : 0.0f;
    if (w->stride == 2) { /* inference only: no flip */
        (void)flip;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static)
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++) {
                float u[S2_NU];
                s2_transform(weight + ((size_t)co * (size_t)cin + (size_t)ci) * 9, u);
                for (int k = 0; k < S2_NU; k++)
                    w->u[u_index(w, k, co, ci)] = u[k];
            }
        return;
    }
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static)
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            float g[9];
            if (flip) { /* the forward's [ci][co] kernel, rotated by 180 degrees */
                const float *f = weight + ((size_t)ci * (size_t)cout + (size_t)co) * 9;
                for (int k = 0; k < 9; k++)
                    g[k] = f[8 - k];
            } else {
                memcpy(g, weight + ((size_t)co * (size_t)cin + (size_t)ci) * 9, sizeof g);
            }
            double gg[6][3]; /* G g */
            for (int i = 0; i < t; i++)
                for (int b = 0; b < 3; b++)
                    gg[i][b] = G[i * 3] * g[b] + G[i * 3 + 1] * g[3 + b] + G[i * 3 + 2] * g[6 + b];
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++)
                    w->u[u_index(w, i * t + j, co, ci)] =
                        (float)(gg[i][0] * G[j * 3] + gg[i][1] * G[j * 3 + 1] +
                                gg[i][2] * G[j * 3 + 2]);
        }
}

void af_wino_weights_free(af_wino_weights *w)
{
    if (!w)
        return;
    free(w->u);
    free(w->u16);
    free(w->bias);
    free(w);
}

#ifdef AF_HAVE_AVX2_KERNELS
#define AF_BF16_KERNELS 1
#define AF_BF16 __attribute__((target("avx512f,avx512vl,avx512bf16")))
#endif

int af_wino_bf16_supported(void)
{
#ifdef AF_BF16_KERNELS
    return af_wino_supported() && __builtin_cpu_supports("avx512bf16") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

af_status af_wino_weights_to_bf16(af_wino_weights *w, af_error *err)
{
    if (w->u16)
        return AF_OK;
    if (!af_wino_bf16_supported())
        return af_fail(err, AF_E_UNSUPPORTED, "winograd: this CPU lacks avx512_bf16");
    const size_t panels = (size_t)(w->coutp / COLS), n = (size_t)w->nu * panels * w->cinp * COLS;
    if (!(w->u16 = af_alloc64(n * sizeof *w->u16)))
        return af_fail(err, AF_E_NOMEM, "winograd: out of memory for the bf16 weights");
    for (size_t q = 0; q < (size_t)w->nu * panels; q++) /* one K x COLS panel at a time */
        af_bf16_pack_panels(w->u + q * (size_t)w->cinp * COLS, COLS, 1, w->cinp, COLS,
                            w->u16 + q * (size_t)w->cinp * COLS);
    /* the float copy goes: half the memory (x6@1280 in bf16: 1.9 -> ~1.3 GB peak);
     * u_at reads the bf16 values where the float ones are asked for */
    free(w->u);
    w->u = NULL;
    return AF_OK;
}

int af_wino_weights_is_bf16(const af_wino_weights *w)
{
    return w->u16 != NULL;
}

/* Transformed weight idx of the u layout, from u or (after bf16) from u16. */
static float u_at(const af_wino_weights *w, size_t idx)
{
    if (w->u)
        return w->u[idx];
    const size_t per = (size_t)w->cinp * COLS, q = idx / per, k = idx / COLS % (size_t)w->cinp,
                 c = idx % COLS;
    return af_bf16_to_f32(w->u16[q * per + ((k / 2) * COLS + c) * 2 + k % 2]);
}

/* g = L U L^T, L the left inverse of G (after bf16: of the bf16-rounded U). */
void af_wino_weights_oihw(const af_wino_weights *w, float *weight)
{
    const double *L = w->m == 2 ? L2 : L4;
    const int t = w->t;
    if (w->stride == 2) {
        for (int co = 0; co < w->cout; co++)
            for (int ci = 0; ci < w->cin; ci++) {
                float u[S2_NU];
                for (int k = 0; k < S2_NU; k++)
                    u[k] = u_at(w, u_index(w, k, co, ci));
                s2_inverse(u, weight + ((size_t)co * (size_t)w->cin + (size_t)ci) * 9);
            }
        return;
    }
    for (int co = 0; co < w->cout; co++)
        for (int ci = 0; ci < w->cin; ci++) {
            double u[6][6], r[3][6]; /* r = L U */
            for (int p = 0; p < w->pos; p++)
                u[p / t][p % t] = u_at(w, u_index(w, p, co, ci));
            for (int a = 0; a < 3; a++)
                for (int j = 0; j < t; j++) {
                    r[a][j] = 0;
                    for (int i = 0; i < t; i++)
                        r[a][j] += L[a * t + i] * u[i][j];
                }
            float *g = weight + ((size_t)co * (size_t)w->cin + (size_t)ci) * 9;
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    double v = 0;
                    for (int j = 0; j < t; j++)
                        v += r[a][j] * L[b * t + j];
                    g[a * 3 + b] = (float)v;
                }
        }
}

int af_wino_weights_tile(const af_wino_weights *w)
{
    return w->m;
}

int af_wino_weights_stride(const af_wino_weights *w)
{
    return w->stride;
}

/* Tiles per block: a block's V and M within ~256 KiB (half of a Zen 3 L2),
 * 12 to 48 tiles (bench_winograd: 12 to 96 run alike within this machine's
 * noise; fewer keep the buffers small); then evened out so that the blocks
 * split evenly over the threads, and no smaller than 12 tiles where there are
 * few (F(4x4) on 20x20: 25), as each block reads all of the weights again.
 * The kernels take ROWS tiles at a time (a block's last rows are padding):
 * of the even split and the split rounded up to ROWS, the one whose busiest
 * thread has the least work (padded rows for the products plus tiles for the
 * transforms, blocks dealt out in turn). */
static int block_tiles(long ntiles, int pos, int channels, int threads)
{
    int tbmax = 4096 * 16 / pos / channels;
    tbmax = tbmax < 12 ? 12 : tbmax > 48 ? 48 : tbmax;
    long nb = (ntiles + tbmax - 1) / tbmax;
    nb = (nb + threads - 1) / threads * threads;
    while (nb > threads && (ntiles + nb - 1) / nb < 2 * ROWS)
        nb -= threads;
    const long cand[2] = {(ntiles + nb - 1) / nb, round_up((int)((ntiles + nb - 1) / nb), ROWS)};
    long best = cand[0], best_span = -1;
    for (int k = 0; k < 2; k++) {
        long span = 0;
        for (int t = 0; t < threads; t++) {
            long work = 0;
            for (long b = t; b * cand[k] < ntiles; b += threads) {
                const long n = ntiles - b * cand[k] < cand[k] ? ntiles - b * cand[k] : cand[k];
                work += round_up((int)n, ROWS) + n;
            }
            span = work > span ? work : span;
        }
        if (best_span < 0 || span <= best_span)
            best = cand[k], best_span = span;
    }
    return (int)best;
}

af_status af_wino_create(const af_wino_weights *w, int bs, int n, int h, int width, int threads,
                         af_act act, af_wino **out, af_error *err)
{
    *out = NULL;
    if (!af_wino_supported())
        return af_fail(err, AF_E_UNSUPPORTED, "winograd: this CPU lacks AVX2/FMA");
    if (bs != 8 && bs != 16)
        return af_fail(err, AF_E_ARG, "winograd: block size %d (8 or 16)", bs);
    if (n < 1 || h < 1 || width < 1 || threads < 1 || (long)n * h * width > (1L << 40))
        return af_fail(err, AF_E_ARG, "winograd: bad shape %d x %d x %d", n, h, width);
    af_wino *c = calloc(1, sizeof *c);
    if (!c)
        return af_fail(err, AF_E_NOMEM, "winograd: out of memory");
    c->w = w;
    c->bs = bs;
    c->n = n;
    c->h = h;
    c->wd = width;
    c->oh = w->stride == 2 ? (h - 1) / 2 + 1 : h; /* pad 1 */
    c->ow = w->stride == 2 ? (width - 1) / 2 + 1 : width;
    c->th = (c->oh + w->m - 1) / w->m;
    c->tw = (c->ow + w->m - 1) / w->m;
    c->threads = threads;
    c->act = act;
    c->ntiles = (long)n * c->th * c->tw;
    c->tb = block_tiles(c->ntiles, w->pos, w->cinp + w->coutp, threads);
    c->tbr = round_up(c->tb, ROWS);
    const size_t nv = (size_t)w->pos * (size_t)c->tbr * (size_t)w->cinp; /* even: cinp */
    c->vfloats = w->u16 ? 0 : nv;
    c->mfloats = (size_t)w->pos * (size_t)c->tbr * (size_t)w->coutp;
    c->v16floats = w->u16 ? (nv / 2 + 15) / 16 * 16 : 0;
    size_t per, all;
    if (af_add_size(c->vfloats, c->mfloats, &per) || af_add_size(per, c->v16floats, &per) ||
        af_mul_size(per, (size_t)threads, &all) ||
        !(c->buf = af_zalloc64(all * sizeof(float)))) {
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

/* B^T d B of the 4x4 patch at p (rows rs floats apart, pixels px), to
 * v[pos * ps]. Column by column (the row transform d B, then B^T down the
 * column), loading each input where it is needed, so that nothing spills. */
static AF_AVX2 inline void in_patch_f2(const float *p, size_t rs, size_t px, float *v,
                                        size_t ps)
{
#define D(i, j) _mm256_loadu_ps(p + (size_t)(i) * rs + (size_t)(j) * px)
#define COLUMN(j, e0, e1, e2, e3)                                                                  \
    _mm256_storeu_ps(v + (size_t)(0 * 4 + (j)) * ps, _mm256_sub_ps(e0, e2));                       \
    _mm256_storeu_ps(v + (size_t)(1 * 4 + (j)) * ps, _mm256_add_ps(e1, e2));                       \
    _mm256_storeu_ps(v + (size_t)(2 * 4 + (j)) * ps, _mm256_sub_ps(e2, e1));                       \
    _mm256_storeu_ps(v + (size_t)(3 * 4 + (j)) * ps, _mm256_sub_ps(e1, e3));
    {
        const __m256 e0 = _mm256_sub_ps(D(0, 0), D(0, 2)), e1 = _mm256_sub_ps(D(1, 0), D(1, 2)),
                     e2 = _mm256_sub_ps(D(2, 0), D(2, 2)), e3 = _mm256_sub_ps(D(3, 0), D(3, 2));
        COLUMN(0, e0, e1, e2, e3)
    }
    {
        const __m256 a0 = D(0, 1), a1 = D(1, 1), a2 = D(2, 1), a3 = D(3, 1);
        const __m256 b0 = D(0, 2), b1 = D(1, 2), b2 = D(2, 2), b3 = D(3, 2);
        COLUMN(1, _mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1), _mm256_add_ps(a2, b2),
               _mm256_add_ps(a3, b3))
        COLUMN(2, _mm256_sub_ps(b0, a0), _mm256_sub_ps(b1, a1), _mm256_sub_ps(b2, a2),
               _mm256_sub_ps(b3, a3))
    }
    {
        const __m256 e0 = _mm256_sub_ps(D(0, 1), D(0, 3)), e1 = _mm256_sub_ps(D(1, 1), D(1, 3)),
                     e2 = _mm256_sub_ps(D(2, 1), D(2, 3)), e3 = _mm256_sub_ps(D(3, 1), D(3, 3));
        COLUMN(3, e0, e1, e2, e3)
    }
#undef COLUMN
#undef D
}

/* F(4x4,3x3): B^T d B of the 6x6 patch at p (rows rs floats apart), to
 * v[pos * ps]; down the columns into a local tile, then along its rows. With
 * B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
 *        0 2 -1 -2 1 0; 0 4 0 -5 0 1]. */
#define BT6(d0, d1, d2, d3, d4, d5, OUT)                                                           \
    {                                                                                              \
        const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f),                     \
                     two = _mm256_set1_ps(2.0f);                                                   \
        const __m256 d42 = _mm256_sub_ps(d4, d2);                                                  \
        OUT(0, _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4)));                         \
        OUT(1, _mm256_fnmadd_ps(four, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4)));             \
        OUT(2, _mm256_fmadd_ps(four, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3)));              \
        OUT(3, _mm256_fmadd_ps(two, _mm256_sub_ps(d3, d1), d42));                                  \
        OUT(4, _mm256_fmadd_ps(two, _mm256_sub_ps(d1, d3), d42));                                  \
        OUT(5, _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5)));                         \
    }

static AF_AVX2 inline void in_patch_f4(const float *p, size_t rs, size_t px, float *v,
                                        size_t ps)
{
    float tmp[36 * 8] __attribute__((aligned(32)));
    for (int j = 0; j < 6; j++) {
#define D(i) _mm256_loadu_ps(p + (size_t)(i) * rs + (size_t)j * px)
#define TO_TMP(i, x) _mm256_store_ps(tmp + ((i) * 6 + j) * 8, x);
        const __m256 d0 = D(0), d1 = D(1), d2 = D(2), d3 = D(3), d4 = D(4), d5 = D(5);
        BT6(d0, d1, d2, d3, d4, d5, TO_TMP)
#undef TO_TMP
#undef D
    }
    for (int i = 0; i < 6; i++) {
#define T(j) _mm256_load_ps(tmp + (i * 6 + (j)) * 8)
#define TO_V(k, x) _mm256_storeu_ps(v + (size_t)(i * 6 + (k)) * ps, x);
        const __m256 d0 = T(0), d1 = T(1), d2 = T(2), d3 = T(3), d4 = T(4), d5 = T(5);
        BT6(d0, d1, d2, d3, d4, d5, TO_V)
#undef TO_V
#undef T
    }
}

/* S2: the 25 values of the 5x5 patch at p (rows rs floats apart, pixels px),
 * to v[pos * ps] (positions as at S2_POS). */
static AF_AVX2 inline void in_patch_s2(const float *p, size_t rs, size_t px, float *v,
                                        size_t ps)
{
#define P(i, j) _mm256_loadu_ps(p + (size_t)(i) * rs + (size_t)(j) * px)
#define V(pos, x) _mm256_storeu_ps(v + (size_t)(pos) * ps, x)
    __m256 e[3][3]; /* EE, the rows' transform: B^T down each even column */
    for (int c = 0; c < 3; c++) {
        const __m256 a0 = P(0, 2 * c), a1 = P(2, 2 * c), a2 = P(4, 2 * c);
        e[0][c] = _mm256_sub_ps(a0, a1), e[1][c] = a1, e[2][c] = _mm256_sub_ps(a2, a1);
    }
    for (int r = 0; r < 3; r++) { /* then along the rows */
        V(r * 3 + 0, _mm256_sub_ps(e[r][0], e[r][1]));
        V(r * 3 + 1, e[r][1]);
        V(r * 3 + 2, _mm256_sub_ps(e[r][2], e[r][1]));
    }
    for (int c = 0; c < 2; c++) { /* EO: B^T down the odd columns */
        const __m256 a0 = P(0, 2 * c + 1), a1 = P(2, 2 * c + 1), a2 = P(4, 2 * c + 1);
        V(9 + 0 * 2 + c, _mm256_sub_ps(a0, a1));
        V(9 + 1 * 2 + c, a1);
        V(9 + 2 * 2 + c, _mm256_sub_ps(a2, a1));
    }
    for (int r = 0; r < 2; r++) { /* OE: B along the odd rows; OO as they are */
        const __m256 d0 = P(2 * r + 1, 0), d1 = P(2 * r + 1, 2), d2 = P(2 * r + 1, 4);
        V(15 + r * 3 + 0, _mm256_sub_ps(d0, d1));
        V(15 + r * 3 + 1, d1);
        V(15 + r * 3 + 2, _mm256_sub_ps(d2, d1));
        V(21 + r * 2 + 0, P(2 * r + 1, 1));
        V(21 + r * 2 + 1, P(2 * r + 1, 3));
    }
#undef V
#undef P
}

/* The t x t patch at (y0, x0) of 8 channels of a blocked plane (pixels px
 * floats apart: the block size; zeros outside the image; t = 5 for S2),
 * transformed, to v[pos * ps]. Border patches go through a zero-padded copy. */
static AF_AVX2 void in_transform(int m, int t, const float *plane, size_t px, int h, int w,
                                 int y0, int x0, float *v, size_t ps)
{
    float patch[36 * 8] __attribute__((aligned(32)));
    const float *p = patch;
    size_t rs = (size_t)t * 8, ppx = 8;
    if (y0 >= 0 && x0 >= 0 && y0 + t <= h && x0 + t <= w) {
        p = plane + ((size_t)y0 * (size_t)w + (size_t)x0) * px;
        rs = (size_t)w * px;
        ppx = px;
    } else {
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++) {
                const int y = y0 + i, x = x0 + j;
                _mm256_store_ps(patch + (i * t + j) * 8,
                                y >= 0 && y < h && x >= 0 && x < w
                                    ? _mm256_loadu_ps(plane +
                                                      ((size_t)y * (size_t)w + (size_t)x) * px)
                                    : _mm256_setzero_ps());
            }
    }
    if (t == 5)
        in_patch_s2(p, rs, ppx, v, ps);
    else if (m == 4)
        in_patch_f4(p, rs, ppx, v, ps);
    else
        in_patch_f2(p, rs, ppx, v, ps);
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

#ifdef AF_BF16_KERNELS

/* One tile's transformed input, v[pos][8] floats, to V16 in bf16 (round to
 * nearest even, as af_bf16_from_f32): position pos at v16 + pos * ps. */
static AF_BF16 void store_v16(const float *v, int npos, uint16_t *v16, size_t ps)
{
    for (int pos = 0; pos < npos; pos++)
        _mm_storeu_si128((__m128i *)(v16 + (size_t)pos * ps),
                         (__m128i)_mm256_cvtneps_pbh(_mm256_load_ps(v + pos * 8)));
}

#endif

/* The 2x2 outputs at (y0, x0) of one 8-channel plane from the 16 products
 * m[pos * ps]: A^T M A plus bias, activation; only pixels inside the image. */
static AF_AVX2 void out_transform(const float *m, size_t ps, __m256 bias, int silu, float *plane,
                                  size_t px,
                                  int h, int w, int y0, int x0)
{
#define M(pos) _mm256_loadu_ps(m + (size_t)(pos) * ps)
    /* s0j = m0j + m1j + m2j, s1j = m1j - m2j - m3j, column by column */
#define S(j, s0, s1)                                                                               \
    __m256 s0, s1;                                                                                 \
    {                                                                                              \
        const __m256 a = M(4 + (j)), b = M(8 + (j));                                               \
        s0 = _mm256_add_ps(_mm256_add_ps(M(j), a), b);                                             \
        s1 = _mm256_sub_ps(_mm256_sub_ps(a, b), M(12 + (j)));                                      \
    }
    S(0, s00, s10) S(1, s01, s11) S(2, s02, s12) S(3, s03, s13)
#undef S
#undef M
    __m256 y00 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s00, s01), s02), bias);
    __m256 y01 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s01, s02), s03), bias);
    __m256 y10 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s10, s11), s12), bias);
    __m256 y11 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s11, s12), s13), bias);
    if (silu) {
        y00 = silu8(y00), y01 = silu8(y01), y10 = silu8(y10), y11 = silu8(y11);
    }
    float *o = plane + ((size_t)y0 * (size_t)w + (size_t)x0) * px;
    const int right = x0 + 1 < w, below = y0 + 1 < h;
    _mm256_storeu_ps(o, y00);
    if (right)
        _mm256_storeu_ps(o + px, y01);
    if (below) {
        _mm256_storeu_ps(o + (size_t)w * px, y10);
        if (right)
            _mm256_storeu_ps(o + (size_t)w * px + px, y11);
    }
}

/* F(4x4,3x3): the 4x4 outputs at (y0, x0) of one 8-channel plane from the 36
 * products m[pos * ps]: A^T M A (down the columns, then along the rows) plus
 * bias, activation; only pixels inside the image. A^T = [1 1 1 1 1 0;
 * 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. */
#define AT6(m0, m1, m2, m3, m4, m5, OUT)                                                           \
    {                                                                                              \
        const __m256 p12 = _mm256_add_ps(m1, m2), d12 = _mm256_sub_ps(m1, m2),                     \
                     p34 = _mm256_add_ps(m3, m4), d34 = _mm256_sub_ps(m3, m4);                     \
        OUT(0, _mm256_add_ps(_mm256_add_ps(m0, p12), p34));                                        \
        OUT(1, _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d34, d12));                                   \
        OUT(2, _mm256_fmadd_ps(_mm256_set1_ps(4.0f), p34, p12));                                   \
        OUT(3, _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d34, d12), m5));                \
    }

static AF_AVX2 void out_transform_f4(const float *m, size_t ps, __m256 bias, int silu,
                                     float *plane, size_t px, int h, int w, int y0, int x0)
{
    float tmp[24 * 8] __attribute__((aligned(32)));
    for (int j = 0; j < 6; j++) {
#define MM(i) _mm256_loadu_ps(m + (size_t)((i) * 6 + j) * ps)
#define TO_TMP(a, x) _mm256_store_ps(tmp + ((a) * 6 + j) * 8, x);
        const __m256 m0 = MM(0), m1 = MM(1), m2 = MM(2), m3 = MM(3), m4 = MM(4), m5 = MM(5);
        AT6(m0, m1, m2, m3, m4, m5, TO_TMP)
#undef TO_TMP
#undef MM
    }
    const int nx = w - x0 < 4 ? w - x0 : 4;
    for (int a = 0; a < 4 && y0 + a < h; a++) {
        float *o = plane + ((size_t)(y0 + a) * (size_t)w + (size_t)x0) * px;
        __m256 y[4];
#define T(j) _mm256_load_ps(tmp + (a * 6 + (j)) * 8)
#define TO_Y(b, x) y[b] = _mm256_add_ps(x, bias);
        const __m256 t0 = T(0), t1 = T(1), t2 = T(2), t3 = T(3), t4 = T(4), t5 = T(5);
        AT6(t0, t1, t2, t3, t4, t5, TO_Y)
#undef TO_Y
#undef T
        for (int b = 0; b < nx; b++)
            _mm256_storeu_ps(o + (size_t)b * px, silu ? silu8(y[b]) : y[b]);
    }
}

/* S2: the 2x2 outputs at (y0, x0) of one 8-channel plane (h x w) from the 25
 * products m[pos * ps]: A^T M_EE A + A^T M_EO + M_OE A + M_OO, plus bias,
 * activation; only pixels inside the image. */
static AF_AVX2 void out_transform_s2(const float *m, size_t ps, __m256 bias, int silu,
                                     float *plane, size_t px, int h, int w, int y0, int x0)
{
#define M(pos) _mm256_loadu_ps(m + (size_t)(pos) * ps)
    __m256 y[2][2];
    for (int p = 0; p < 2; p++) {
        __m256 s[3]; /* A^T down the EE columns */
        for (int c = 0; c < 3; c++)
            s[c] = _mm256_add_ps(M(p * 3 + c), M((p + 1) * 3 + c));
        for (int q = 0; q < 2; q++) {
            __m256 v = _mm256_add_ps(s[q], s[q + 1]);
            v = _mm256_add_ps(v, _mm256_add_ps(M(9 + p * 2 + q), M(9 + (p + 1) * 2 + q)));
            v = _mm256_add_ps(v, _mm256_add_ps(M(15 + p * 3 + q), M(15 + p * 3 + q + 1)));
            y[p][q] = _mm256_add_ps(_mm256_add_ps(v, M(21 + p * 2 + q)), bias);
        }
    }
#undef M
    for (int p = 0; p < 2 && y0 + p < h; p++)
        for (int q = 0; q < 2 && x0 + q < w; q++)
            _mm256_storeu_ps(plane + ((size_t)(y0 + p) * (size_t)w + (size_t)(x0 + q)) * px,
                             silu ? silu8(y[p][q]) : y[p][q]);
}

static AF_AVX2 void run_block(const af_wino *c, long blk, const float *src, float *dst, float *V,
                              float *M, uint16_t *V16)
{
    const af_wino_weights *w = c->w;
    /* the kernels take 8 channels at a time: group g of a block-bs tensor
     * starts at (g / (bs/8)) planes + (g % (bs/8)) * 8 floats, pixels bs apart;
     * the output's groups include its block padding (zeros: zero weights and bias) */
    const int bs = c->bs, sub = bs / 8, h = c->h, wd = c->wd, cbi = w->cinp / 8,
              cbo = af_blk_pad(bs, w->cout) / 8;
    const size_t hw = (size_t)h * (size_t)wd, ohw = (size_t)c->oh * (size_t)c->ow,
                 per_img = (size_t)c->th * (size_t)c->tw,
                 in_img = (size_t)af_blk_pad(bs, w->cin) * hw,
                 out_img = (size_t)af_blk_pad(bs, w->cout) * ohw;
    const int s = w->stride; /* input patch origin: (s m a - 1, s m b - 1) */
    const long t0 = blk * c->tb;
    const int nt = (int)(c->ntiles - t0 < c->tb ? c->ntiles - t0 : c->tb);
    const size_t vps = (size_t)c->tbr * (size_t)w->cinp, mps = (size_t)c->tbr * (size_t)w->coutp;

    const int m = w->m;
    for (int i = 0; i < nt; i++) {
        const size_t g = (size_t)(t0 + i), b = g / per_img, r = g % per_img;
        const int y0 = s * m * (int)(r / (size_t)c->tw) - 1,
                  x0 = s * m * (int)(r % (size_t)c->tw) - 1;
        for (int cb = 0; cb < cbi; cb++) {
            const float *plane =
                src + b * in_img + (size_t)(cb / sub) * hw * bs + (size_t)(cb % sub) * 8;
            const size_t at = (size_t)i * (size_t)w->cinp + (size_t)cb * 8;
#ifdef AF_BF16_KERNELS
            if (V16) { /* bf16 products: the transform rounded once, straight from L1 */
                float v[36 * 8] __attribute__((aligned(32)));
                in_transform(m, w->t, plane, (size_t)bs, h, wd, y0, x0, v, 8);
                store_v16(v, w->pos, V16 + at, vps);
                continue;
            }
#endif
            in_transform(m, w->t, plane, (size_t)bs, h, wd, y0, x0, V + at, vps);
        }
    }
    const int rows = round_up(nt, ROWS), panels = w->coutp / COLS;
#ifdef AF_BF16_KERNELS
    if (V16) { /* the products in bf16, two panels per kernel call */
        const size_t up = (size_t)w->cinp * COLS; /* bf16 per panel */
        for (int pos = 0; pos < w->pos; pos++)
            for (int p = 0; p < panels; p += 2)
                for (int r = 0; r < rows; r += ROWS) {
                    const uint16_t *vr = V16 + pos * vps + (size_t)r * (size_t)w->cinp,
                                   *u = w->u16 +
                                        ((size_t)w->upos[pos] * (size_t)panels + (size_t)p) * up;
                    float *mr = M + pos * mps + (size_t)r * (size_t)w->coutp + (size_t)p * COLS;
                    if (panels - p > 1)
                        af_gemm6x32_bf16(vr, (size_t)w->cinp, u, up, w->cinp, mr,
                                        (size_t)w->coutp);
                    else
                        af_gemm6x16_bf16(vr, (size_t)w->cinp, u, w->cinp, mr, (size_t)w->coutp);
                }
    } else
#else
    (void)V16;
#endif
    for (int pos = 0; pos < w->pos; pos++)
        for (int p = 0; p < panels; p++) {
            const float *u = w->u + ((size_t)w->upos[pos] * (size_t)panels + (size_t)p) *
                                        (size_t)w->cinp * COLS;
            for (int r = 0; r < rows; r += ROWS)
                kernel6x16(V + pos * vps + (size_t)r * (size_t)w->cinp, (size_t)w->cinp, u,
                           w->cinp, M + pos * mps + (size_t)r * (size_t)w->coutp + (size_t)p * COLS,
                           (size_t)w->coutp);
        }
    const int silu = c->act == AF_ACT_SILU;
    for (int i = 0; i < nt; i++) {
        const size_t g = (size_t)(t0 + i), b = g / per_img, r = g % per_img;
        const int y0 = m * (int)(r / (size_t)c->tw), x0 = m * (int)(r % (size_t)c->tw);
        for (int ob = 0; ob < cbo; ob++)
            (s == 2 ? out_transform_s2 : m == 4 ? out_transform_f4 : out_transform)(
                M + (size_t)i * (size_t)w->coutp + (size_t)ob * 8, mps,
                _mm256_loadu_ps(w->bias + (size_t)ob * 8), silu,
                dst + b * out_img + (size_t)(ob / sub) * ohw * bs + (size_t)(ob % sub) * 8,
                (size_t)bs, c->oh, c->ow, y0, x0);
    }
}

void af_wino_forward(af_wino *c, const float *src, float *dst)
{
    const long nblocks = (c->ntiles + c->tb - 1) / c->tb;
    const size_t per = c->vfloats + c->mfloats + c->v16floats;
#pragma omp parallel num_threads(c->threads)
    {
        float *V = c->buf + (size_t)omp_get_thread_num() * per, *M = V + c->vfloats;
        uint16_t *V16 = c->v16floats ? (uint16_t *)(M + c->mfloats) : NULL;
        /* dynamic: on a shared VM one core often runs slower for a while; equal static
         * shares then wait for it (yolov8n@640: 53.2 against 55.5 ms, 6 rounds) */
#pragma omp for schedule(dynamic, 1)
        for (long blk = 0; blk < nblocks; blk++)
            run_block(c, blk, src, dst, V, M, V16);
    }
}

#else

void af_wino_forward(af_wino *c, const float *src, float *dst)
{
    (void)c, (void)src, (void)dst; /* af_wino_create refuses where there are no kernels */
}

#endif
