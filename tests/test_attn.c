/* YOLO11's ops on the blocked layout against naive loops: the depthwise
 * convolution (DWConv, Attention.pe) and the pixel attention of C2PSA. */
#include <math.h>

#include "ops/attention.h"
#include "ops/attention_train.h"
#include "ops/blocked.h"
#include "ops/dwconv.h"
#include "ops/dwconv_train.h"
#include "testutil.h"

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* NCHW (n, c, h, w) -> blocked. */
static float *to_blk(int blk, int n, int c, int h, int w, const float *nchw)
{
    float *nhwc = malloc((size_t)n * c * h * w * sizeof *nhwc);
    float *out = malloc(af_blk_elems(blk, n, h, w, c) * sizeof *out);
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < h * w; p++)
                nhwc[((size_t)b * h * w + p) * c + ch] = nchw[((size_t)b * c + ch) * h * w + p];
    af_nhwc_to_blk(blk, n, h, w, c, nhwc, out);
    free(nhwc);
    return out;
}

static float blk_get(int blk, const float *t, int c, int h, int w, int b, int ch, int p)
{
    size_t hw = (size_t)h * w;
    return t[(size_t)b * af_blk_pad(blk, c) * hw + (size_t)(ch / blk) * hw * blk +
             (size_t)p * blk + ch % blk];
}

/* Padding lanes (channels c .. pad(c)-1) all zero. */
static int pad_lanes_zero(int blk, const float *t, int n, int c, int h, int w)
{
    for (int b = 0; b < n; b++)
        for (int ch = c; ch < af_blk_pad(blk, c); ch++)
            for (int p = 0; p < h * w; p++)
                if (blk_get(blk, t, c, h, w, b, ch, p) != 0.0f)
                    return 0;
    return 1;
}

static void dwconv_case(int blk, int n, int c, int h, int w, int k, int bn, int silu)
{
    unsigned s = 7u + (unsigned)(c * 31 + k * 7 + bn * 3 + silu);
    size_t nx = (size_t)n * c * h * w;
    float *x = malloc(nx * sizeof *x), *wt = malloc((size_t)c * k * k * sizeof *wt);
    float *bias = malloc((size_t)c * sizeof *bias), *al = malloc((size_t)c * sizeof *al);
    float *be = malloc((size_t)c * sizeof *be);
    for (size_t i = 0; i < nx; i++)
        x[i] = frand(&s);
    for (int i = 0; i < c * k * k; i++)
        wt[i] = frand(&s);
    for (int i = 0; i < c; i++) {
        bias[i] = frand(&s);
        al[i] = 1.0f + 0.5f * frand(&s);
        be[i] = frand(&s);
    }
    float *xb = to_blk(blk, n, c, h, w, x);
    float *yb = malloc(af_blk_elems(blk, n, h, w, c) * sizeof *yb);
    for (size_t i = 0; i < af_blk_elems(blk, n, h, w, c); i++)
        yb[i] = NAN; /* every lane must be written */
    af_dwconv_blk(blk, n, h, w, c, k, wt, bn ? NULL : bias, bn ? al : NULL, bn ? be : NULL, silu,
                  xb, yb, 2);
    double worst = 0;
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    double acc = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = y + ky - k / 2, ix = xx + kx - k / 2;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                acc += (double)wt[(ch * k + ky) * k + kx] *
                                       x[(((size_t)b * c + ch) * h + iy) * w + ix];
                        }
                    double v = bn ? acc * al[ch] + be[ch] : acc + bias[ch];
                    if (silu)
                        v = v / (1 + exp(-v));
                    double d = fabs(v - blk_get(blk, yb, c, h, w, b, ch, y * w + xx));
                    worst = d > worst || d != d ? d : worst;
                }
    printf("   dwconv blk%d n%d c%d %dx%d k%d %s%s: max |d| %.2e\n", blk, n, c, h, w, k,
           bn ? "bn" : "bias", silu ? "+silu" : "", worst);
    CHECK_MSG(worst <= 2e-6, "dwconv differs from the naive loop by %.3g", worst);
    CHECK(pad_lanes_zero(blk, yb, n, c, h, w));
    free(x);
    free(wt);
    free(bias);
    free(al);
    free(be);
    free(xb);
    free(yb);
}

static void test_dwconv_vs_naive(void)
{
    for (int blk = 8; blk <= AF_BLK_MAX; blk *= 2) { /* nChw8c and nChw16c */
        dwconv_case(blk, 2, 13, 5, 7, 3, 0, 1); /* DWConv: bias folded, SiLU */
        dwconv_case(blk, 1, 16, 4, 4, 3, 1, 0); /* Attention.pe unfused: BN, no act */
        dwconv_case(blk, 1, 8, 1, 1, 3, 0, 0);  /* a 1x1 map: only the centre tap */
        dwconv_case(blk, 1, 5, 6, 3, 5, 1, 1);
    }
}

/* A 2-pixel, 1-head case by hand: q = (1, 0), k = (0, 1) (kd 1), v = (2, 4),
 * scale 1: row 0 scores (0, 0) -> out 3; row 1 scores q1*k = (0, 0) too. */
static void test_attention_hand(void)
{
    const int blk = AF_BLK_MAX;
    af_attn_shape s = {1, 1, 2, 1, 1, 1, 1.0f, blk};
    float qkv[6] = {1, 0, /* q */ 0, 1, /* k */ 2, 4 /* v */};
    float *b = to_blk(blk, 1, 3, 1, 2, qkv);
    float *o = malloc(af_blk_elems(blk, 1, 1, 2, 1) * sizeof *o);
    float *v = malloc(af_blk_elems(blk, 1, 1, 2, 1) * sizeof *v);
    af_error err = {0};
    REQUIRE(af_attention_blk(&s, b, o, v, 1, &err) == AF_OK);
    /* row 0: q0 = 1, scores (1*0, 1*1) = (0, 1): softmax (1, e)/(1+e); row 1: q1 = 0: (1/2, 1/2) */
    double e = exp(1.0);
    CHECK_NEAR(blk_get(blk, o, 1, 1, 2, 0, 0, 0), (2 + 4 * e) / (1 + e), 1e-6);
    CHECK_NEAR(blk_get(blk, o, 1, 1, 2, 0, 0, 1), 3.0, 1e-6);
    CHECK(blk_get(blk, v, 1, 1, 2, 0, 0, 0) == 2.0f && blk_get(blk, v, 1, 1, 2, 0, 0, 1) == 4.0f);
    free(b);
    free(o);
    free(v);
}

static void attention_case(int blk, int n, int h, int w, int heads, int kd, int hd, int threads)
{
    af_attn_shape s = {n, h, w, heads, kd, hd, (float)pow(kd, -0.5), blk};
    int cq = heads * (2 * kd + hd), c = heads * hd;
    size_t N = (size_t)h * w, nq = (size_t)n * cq * N;
    unsigned sd = 99u + (unsigned)(h * w + heads);
    float *qkv = malloc(nq * sizeof *qkv);
    for (size_t i = 0; i < nq; i++)
        qkv[i] = 2.0f * frand(&sd);
    float *ref = malloc((size_t)n * c * N * sizeof *ref);
    af_attention_ref(&s, qkv, ref);
    float *b = to_blk(blk, n, cq, h, w, qkv);
    float *o = malloc(af_blk_elems(blk, n, h, w, c) * sizeof *o);
    float *v = malloc(af_blk_elems(blk, n, h, w, c) * sizeof *v);
    for (size_t i = 0; i < af_blk_elems(blk, n, h, w, c); i++)
        o[i] = v[i] = NAN;
    af_error err = {0};
    REQUIRE(af_attention_blk(&s, b, o, v, threads, &err) == AF_OK);
    double worst = 0;
    int vbad = 0;
    for (int bi = 0; bi < n; bi++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < N; p++) {
                double d = fabs(ref[((size_t)bi * c + ch) * N + p] -
                                blk_get(blk, o, c, h, w, bi, ch, (int)p));
                worst = d > worst || d != d ? d : worst;
                int head = ch / hd, j = ch % hd;
                vbad += blk_get(blk, v, c, h, w, bi, ch, (int)p) !=
                        qkv[((size_t)bi * cq + head * (2 * kd + hd) + 2 * kd + j) * N + p];
            }
    printf("   attention blk%d n%d %dx%d heads %d kd %d hd %d: max |d| %.2e\n", blk, n, h, w,
           heads, kd, hd, worst);
    CHECK_MSG(worst <= 2e-6, "attention differs from the naive loops by %.3g", worst);
    CHECK(vbad == 0);
    CHECK(pad_lanes_zero(blk, o, n, c, h, w) && pad_lanes_zero(blk, v, n, c, h, w));
    free(qkv);
    free(ref);
    free(b);
    free(o);
    free(v);
}

static void test_attention_vs_naive(void)
{
    for (int blk = 8; blk <= AF_BLK_MAX; blk *= 2) { /* nChw8c and nChw16c */
        attention_case(blk, 2, 3, 5, 2, 4, 8, 2);
        attention_case(blk, 1, 4, 4, 1, 32, 64, 2); /* YOLO11n's C2PSA head shape */
        attention_case(blk, 1, 2, 3, 3, 2, 5, 1);   /* channels not a whole block */
    }
}

/* ---- training (NHWC) forward and backward ---- */

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* Naive depthwise conv on NHWC in double: y, and from g: dx, dw. */
static void dw_naive(int n, int h, int w, int c, int k, const float *x, const float *wt,
                     const float *g, double *y, double *dx, double *dw)
{
    size_t nx = (size_t)n * h * w * c;
    for (size_t i = 0; i < nx; i++)
        y[i] = dx[i] = 0;
    for (int i = 0; i < c * k * k; i++)
        dw[i] = 0;
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < h; oy++)
            for (int ox = 0; ox < w; ox++)
                for (int ch = 0; ch < c; ch++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy + ky - k / 2, ix = ox + kx - k / 2;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            size_t o = (((size_t)b * h + oy) * w + ox) * c + ch;
                            size_t in = (((size_t)b * h + iy) * w + ix) * c + ch;
                            size_t wi = ((size_t)ch * k + ky) * k + kx;
                            y[o] += (double)x[in] * wt[wi];
                            dx[in] += (double)g[o] * wt[wi];
                            dw[wi] += (double)g[o] * x[in];
                        }
}

static void test_dwconv_train_vs_naive_and_fd(void)
{
    const int n = 2, h = 5, w = 4, c = 11, k = 3;
    size_t nx = (size_t)n * h * w * c, nw = (size_t)c * k * k;
    unsigned sd = 5;
    float *x = malloc(nx * sizeof *x), *wt = malloc(nw * sizeof *wt), *g = malloc(nx * sizeof *g);
    float *y = malloc(nx * sizeof *y), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    double *ry = malloc(nx * sizeof *ry), *rdx = malloc(nx * sizeof *rdx),
           *rdw = malloc(nw * sizeof *rdw);
    for (size_t i = 0; i < nx; i++) {
        x[i] = frand(&sd);
        g[i] = frand(&sd);
    }
    for (size_t i = 0; i < nw; i++)
        wt[i] = frand(&sd);
    af_dwconv_train_forward(n, h, w, c, k, x, wt, y, 2);
    af_dwconv_train_backward(n, h, w, c, k, x, wt, g, dx, dw, 2);
    dw_naive(n, h, w, c, k, x, wt, g, ry, rdx, rdw);
    double ey = 0, ex = 0, ew = 0;
    for (size_t i = 0; i < nx; i++) {
        ey = fmax(ey, fabs(y[i] - ry[i]));
        ex = fmax(ex, fabs(dx[i] - rdx[i]));
    }
    for (size_t i = 0; i < nw; i++)
        ew = fmax(ew, fabs(dw[i] - rdw[i]));
    printf("   dwconv train vs naive: y %.1e  dx %.1e  dw %.1e\n", ey, ex, ew);
    CHECK(ey <= 2e-6 && ex <= 2e-6 && ew <= 1e-5);
    /* finite differences of L = sum(g * y) (central, eps 1e-2; L is linear in
     * both, so only float rounding remains) */
    double worst = 0;
    const float eps = 1e-2f;
    for (int which = 0; which < 2; which++) { /* the weights, then the input */
        float *v = which ? x : wt;
        const float *grad = which ? dx : dw;
        for (size_t i = 0; i < (which ? nx : nw); i += which ? 13 : 7) {
            double l[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                float keep = v[i];
                v[i] = keep + (sgn ? -eps : eps);
                af_dwconv_train_forward(n, h, w, c, k, x, wt, y, 1);
                v[i] = keep;
                l[sgn] = 0;
                for (size_t j = 0; j < nx; j++)
                    l[sgn] += (double)g[j] * y[j];
            }
            worst = fmax(worst, fabs((l[0] - l[1]) / (2 * eps) - grad[i]));
        }
    }
    printf("   dwconv finite differences: max |d| %.1e (grads up to %.1f)\n", worst,
           fmax(max_abs(dw, nw), max_abs(dx, nx)));
    CHECK(worst <= 2e-3);
    free(x);
    free(wt);
    free(g);
    free(y);
    free(dx);
    free(dw);
    free(ry);
    free(rdx);
    free(rdw);
}

/* Naive attention backward on NHWC qkv, in double, straight from the formulas. */
static void attn_bwd_naive(const af_attn_shape *s, const float *qkv, const float *g, double *dq)
{
    size_t N = (size_t)s->h * s->w;
    int per = 2 * s->kd + s->hd, cq = s->heads * per, c = s->heads * s->hd;
    double *P = malloc(N * N * sizeof *P), *dS = malloc(N * N * sizeof *dS);
    for (size_t i = 0; i < (size_t)s->n * N * cq; i++)
        dq[i] = 0;
    for (int b = 0; b < s->n; b++)
        for (int hh = 0; hh < s->heads; hh++) {
#define Q(i, t) qkv[((size_t)b * N + (i)) * cq + hh * per + (t)]
#define K(j, t) qkv[((size_t)b * N + (j)) * cq + hh * per + s->kd + (t)]
#define V(j, t) qkv[((size_t)b * N + (j)) * cq + hh * per + 2 * s->kd + (t)]
#define G(i, t) g[((size_t)b * N + (i)) * c + hh * s->hd + (t)]
#define D(i, t) dq[((size_t)b * N + (i)) * cq + hh * per + (t)]
            for (size_t i = 0; i < N; i++) {
                double mx = -INFINITY, sum = 0, dot = 0;
                for (size_t j = 0; j < N; j++) {
                    double a = 0;
                    for (int t = 0; t < s->kd; t++)
                        a += (double)Q(i, t) * K(j, t);
                    P[i * N + j] = a * s->scale;
                    mx = fmax(mx, P[i * N + j]);
                }
                for (size_t j = 0; j < N; j++)
                    sum += P[i * N + j] = exp(P[i * N + j] - mx);
                for (size_t j = 0; j < N; j++) {
                    P[i * N + j] /= sum;
                    double dp = 0;
                    for (int t = 0; t < s->hd; t++)
                        dp += (double)G(i, t) * V(j, t);
                    dS[i * N + j] = dp;
                    dot += P[i * N + j] * dp;
                }
                for (size_t j = 0; j < N; j++)
                    dS[i * N + j] = P[i * N + j] * (dS[i * N + j] - dot);
            }
            for (size_t i = 0; i < N; i++)
                for (size_t j = 0; j < N; j++) {
                    for (int t = 0; t < s->kd; t++) {
                        D(i, t) += s->scale * dS[i * N + j] * K(j, t);
                        D(j, s->kd + t) += s->scale * dS[i * N + j] * Q(i, t);
                    }
                    for (int t = 0; t < s->hd; t++)
                        D(j, 2 * s->kd + t) += P[i * N + j] * G(i, t);
                }
#undef Q
#undef K
#undef V
#undef G
#undef D
        }
    free(P);
    free(dS);
}

static void test_attention_train_vs_naive_and_fd(void)
{
    af_attn_shape s = {2, 2, 3, 2, 3, 4, (float)pow(3, -0.5), 0}; /* NHWC: no block */
    size_t N = 6;
    int cq = s.heads * (2 * s.kd + s.hd), c = s.heads * s.hd;
    size_t nq = (size_t)s.n * N * cq, no = (size_t)s.n * N * c;
    unsigned sd = 11;
    float *qkv = malloc(nq * sizeof *qkv), *g = malloc(no * sizeof *g), *o = malloc(no * sizeof *o);
    float *p = malloc((size_t)s.n * s.heads * N * N * sizeof *p), *dq = malloc(nq * sizeof *dq);
    double *rdq = malloc(nq * sizeof *rdq);
    for (size_t i = 0; i < nq; i++)
        qkv[i] = 1.5f * frand(&sd);
    for (size_t i = 0; i < no; i++)
        g[i] = frand(&sd);
    af_error err = {0};
    REQUIRE(af_attention_train_forward(&s, qkv, o, p, 2, &err) == AF_OK);
    /* forward vs the planar reference */
    float *planar = malloc(nq * sizeof *planar), *ref = malloc(no * sizeof *ref);
    for (int b = 0; b < s.n; b++)
        for (size_t i = 0; i < N; i++)
            for (int ch = 0; ch < cq; ch++)
                planar[((size_t)b * cq + ch) * N + i] = qkv[((size_t)b * N + i) * cq + ch];
    af_attention_ref(&s, planar, ref);
    double ef = 0;
    for (int b = 0; b < s.n; b++)
        for (size_t i = 0; i < N; i++)
            for (int ch = 0; ch < c; ch++)
                ef = fmax(ef, fabs(o[((size_t)b * N + i) * c + ch] -
                                   ref[((size_t)b * c + ch) * N + i]));
    REQUIRE(af_attention_train_backward(&s, qkv, p, g, dq, 2, &err) == AF_OK);
    attn_bwd_naive(&s, qkv, g, rdq);
    double eb = 0;
    for (size_t i = 0; i < nq; i++)
        eb = fmax(eb, fabs(dq[i] - rdq[i]));
    /* central finite differences of L = sum(g * out) over every input */
    double fd = 0;
    const float eps = 1e-2f;
    for (size_t i = 0; i < nq; i++) {
        double l[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            float keep = qkv[i];
            qkv[i] = keep + (sgn ? -eps : eps);
            for (int b = 0; b < s.n; b++)
                for (size_t j = 0; j < N; j++)
                    for (int ch = 0; ch < cq; ch++)
                        planar[((size_t)b * cq + ch) * N + j] = qkv[((size_t)b * N + j) * cq + ch];
            qkv[i] = keep;
            af_attention_ref(&s, planar, ref);
            l[sgn] = 0;
            for (int b = 0; b < s.n; b++)
                for (size_t j = 0; j < N; j++)
                    for (int ch = 0; ch < c; ch++)
                        l[sgn] += (double)g[((size_t)b * N + j) * c + ch] *
                                  ref[((size_t)b * c + ch) * N + j];
        }
        fd = fmax(fd, fabs((l[0] - l[1]) / (2 * eps) - dq[i]));
    }
    printf("   attention train: forward vs ref %.1e, backward vs naive %.1e, vs finite "
           "differences %.1e (grads up to %.2f)\n",
           ef, eb, fd, max_abs(dq, nq));
    CHECK(ef <= 1e-6);
    CHECK(eb <= 1e-5);
    CHECK(fd <= 2e-3);
    free(qkv);
    free(g);
    free(o);
    free(p);
    free(dq);
    free(rdq);
    free(planar);
    free(ref);
}

int main(void)
{
    RUN(test_dwconv_vs_naive);
    RUN(test_attention_hand);
    RUN(test_attention_vs_naive);
    RUN(test_dwconv_train_vs_naive_and_fd);
    RUN(test_attention_train_vs_naive_and_fd);
    return t_summary();
}
