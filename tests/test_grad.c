/* Backward passes of the training layers: each against a naive reference
 * (double accumulation) and against central finite differences of a double
 * precision forward written here (L = sum(y * r), r random), plus the
 * composed Conv+BN+SiLU block, BatchNorm statistics precision and running
 * stats, max pool tie-breaking, and two threads running separate training
 * convolutions at once. Sizes stay small so the ASan build stays fast. */
#include <omp.h>
#include <pthread.h>
#include <stdint.h>

#include "testutil.h"

#include "ops/act.h"
#include "core/tensor.h"
#include "ops/bf16.h"
#include "ops/batchnorm.h"
#include "ops/concat.h"
#include "ops/conv_train.h"
#include "ops/engine.h"
#include "ops/grad.h"
#include "ops/pool.h"
#include "ops/upsample.h"

#define FD_STEP 1e-5 /* central differences on a double forward */

/* random numbers: testutil.h's t_frand / t_rand_buf, seeded by main */

static double *to_double(const float *a, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (d)
        for (size_t i = 0; i < n; i++)
            d[i] = a[i];
    return d;
}

/* max |a - b| / max(max |b|, floor): error relative to the tensor's scale. */
static double scaled_err(const float *a, const float *b, size_t n)
{
    double m = 1e-12, e = 0;
    for (size_t i = 0; i < n; i++) {
        double bb = fabs((double)b[i]), d = fabs((double)a[i] - b[i]);
        if (bb > m)
            m = bb;
        if (d > e || d != d)
            e = d;
    }
    return e / m;
}

/* ---- double precision forwards (independent of the library) ---- */

static void conv_d(const af_conv_desc *d, int n, int h, int w, const double *x, const double *wt,
                   const double *b, double *y)
{
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    for (int bi = 0; bi < n; bi++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int co = 0; co < d->cout; co++) {
                    double acc = b ? b[co] : 0;
                    for (int ci = 0; ci < d->cin; ci++)
                        for (int ky = 0; ky < d->k; ky++)
                            for (int kx = 0; kx < d->k; kx++) {
                                int iy = oy * d->stride - d->pad + ky;
                                int ix = ox * d->stride - d->pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                acc += x[(((size_t)bi * h + iy) * w + ix) * d->cin + ci] *
                                       wt[(((size_t)co * d->cin + ci) * d->k + ky) * d->k + kx];
                            }
                    y[(((size_t)bi * oh + oy) * ow + ox) * d->cout + co] = acc;
                }
}

static void bn_train_d(size_t npix, int c, const double *x, const double *g, const double *b,
                       double eps, double *y)
{
    for (int ch = 0; ch < c; ch++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < npix; i++)
            m += x[i * c + ch];
        m /= (double)npix;
        for (size_t i = 0; i < npix; i++)
            v += (x[i * c + ch] - m) * (x[i * c + ch] - m);
        v /= (double)npix;
        double is = 1 / sqrt(v + eps);
        for (size_t i = 0; i < npix; i++)
            y[i * c + ch] = (x[i * c + ch] - m) * is * g[ch] + b[ch];
    }
}

static void maxpool_d(int n, int h, int w, int c, int k, int s, int p, const double *x,
                      double *y)
{
    int oh, ow;
    af_maxpool_out_hw(h, w, k, s, p, &oh, &ow);
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ch = 0; ch < c; ch++) {
                    double m = -INFINITY;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w &&
                                x[(((size_t)b * h + iy) * w + ix) * c + ch] > m)
                                m = x[(((size_t)b * h + iy) * w + ix) * c + ch];
                        }
                    y[(((size_t)b * oh + oy) * ow + ox) * c + ch] = m;
                }
}

static double dot_d(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* ---- finite differences ---- */

typedef double (*loss_fn)(void *ctx);

/* Central differences of f w.r.t. param[0..n) (every entry when n <= maxn,
 * else an even sample of maxn entries) against `analytic`; returns
 * max |a - fd| / max |fd| over the checked entries. */
static double fd_check(loss_fn f, void *ctx, double *param, size_t n, const float *analytic,
                       size_t maxn)
{
    size_t step = n <= maxn ? 1 : (n + maxn - 1) / maxn;
    double emax = 0, fmax = 1e-12;
    for (size_t i = 0; i < n; i += step) {
        double save = param[i];
        param[i] = save + FD_STEP;
        double lp = f(ctx);
        param[i] = save - FD_STEP;
        double lm = f(ctx);
        param[i] = save;
        double fd = (lp - lm) / (2 * FD_STEP), d = fabs(fd - analytic[i]);
        if (fabs(fd) > fmax)
            fmax = fabs(fd);
        if (d > emax || d != d)
            emax = d;
    }
    return emax / fmax;
}

/* ---- convolution: oneDNN training object vs naive references ---- */

typedef struct shape {
    int cin, cout, k, s, n, h, w, bias;
} shape;

static const shape conv_shapes[] = {
    {3, 8, 3, 2, 2, 9, 7, 0},   {3, 16, 3, 2, 2, 11, 11, 0}, {5, 6, 1, 1, 2, 6, 5, 1},
    {8, 16, 3, 1, 2, 7, 9, 0},  {16, 8, 3, 2, 2, 8, 8, 0},  {7, 5, 1, 2, 2, 9, 9, 1},
    {32, 64, 3, 2, 2, 10, 10, 0}, {64, 32, 1, 1, 2, 6, 6, 1}, {24, 24, 3, 1, 2, 5, 7, 0},
    {16, 65, 1, 1, 2, 3, 3, 1},
    /* 3x3 from 32 input channels: forward and backward-data on blocked copies too */
    {40, 24, 3, 1, 2, 6, 5, 1}, {48, 13, 3, 2, 3, 9, 7, 0}, {32, 32, 3, 1, 1, 8, 8, 1},
    /* 3x3 stride 1 from 32 channels on either side: forward and backward-data by Winograd
     * F(2x2,3x3) on AVX2 CPUs (odd sizes: partial tiles) */
    {48, 40, 3, 1, 2, 11, 9, 0}, {64, 32, 3, 1, 1, 7, 6, 1}, {33, 36, 3, 1, 2, 5, 5, 0},
};

static void fill_desc(const shape *s, af_conv_desc *d)
{
    d->cin = s->cin, d->cout = s->cout, d->k = s->k, d->stride = s->s, d->pad = s->k / 2;
    d->act = AF_ACT_NONE;
}

static float *bf16_round(const float *a, size_t n)
{
    float *r = malloc(n * sizeof *r);
    if (r)
        for (size_t i = 0; i < n; i++)
            r[i] = af_bf16_to_f32(af_bf16_from_f32(a[i]));
    return r;
}

/* The training object against the naive references on every shape: y, dx,
 * dw and db within 1e-5 of the largest value. bf16 (af_conv_train_create_bf16,
 * where oneDNN has bf16 kernels): the references run on the operands rounded
 * to bf16 as documented (forward: x and w; backward-data: dy and w;
 * backward-weights and bias: x and dy), so the same bound checks the
 * rounding; a shape without a bf16 kernel (or a CPU without bf16) runs
 * float32 and is held to the float32 references. */
static void conv_vs_ref(int bf16)
{
    af_engine *e = NULL;
    REQUIRE(af_engine_create(&e, NULL) == AF_OK);
    const int has = af_engine_has_bf16(e, NULL);
    double worst[4] = {0, 0, 0, 0};
    int ran16 = 0;
    for (size_t si = 0; si < sizeof conv_shapes / sizeof conv_shapes[0]; si++) {
        const shape *s = &conv_shapes[si];
        af_conv_desc d;
        fill_desc(s, &d);
        int oh, ow;
        af_conv_out_hw(&d, s->h, s->w, &oh, &ow);
        size_t nx = (size_t)s->n * s->h * s->w * s->cin, ny = (size_t)s->n * oh * ow * s->cout;
        size_t nw = (size_t)s->cout * s->cin * s->k * s->k;
        float *x = t_rand_buf(nx, 1), *wt = t_rand_buf(nw, 0.5f), *b = t_rand_buf(s->cout, 0.5f);
        float *dy = t_rand_buf(ny, 1);
        float *y = calloc(ny, 4), *yr = calloc(ny, 4), *dx = calloc(nx, 4), *dxr = calloc(nx, 4);
        float *dw = calloc(nw, 4), *dwr = calloc(nw, 4), *db = calloc(s->cout, 4),
              *dbr = calloc(s->cout, 4);
        af_conv_train *c = NULL;
        af_error err = {0};
        af_status rc =
            (bf16 ? af_conv_train_create_bf16 : af_conv_train_create)(
                e, &d, s->bias, s->n, s->h, s->w, bf16 ? 2 : 1, &c, &err);
        CHECK_MSG(rc == AF_OK, "%s", err.msg);
        if (rc == AF_OK) {
            const int b16 = af_conv_train_is_bf16(c);
            CHECK(!b16 || (bf16 && has));
            ran16 += b16;
            float *xr = b16 ? bf16_round(x, nx) : x, *wr = b16 ? bf16_round(wt, nw) : wt,
                  *dyr = b16 ? bf16_round(dy, ny) : dy;
            REQUIRE(xr && wr && dyr);
            int a, bb;
            af_conv_train_out_hw(c, &a, &bb);
            CHECK(a == oh && bb == ow);
            CHECK(af_conv_train_forward(c, x, wt, b, y, &err) == AF_OK);
            CHECK(af_conv_train_backward(c, x, wt, dy, dx, dw, s->bias ? db : NULL, &err) ==
                  AF_OK);
            af_conv_train_forward_ref(&d, s->n, s->h, s->w, xr, wr, s->bias ? b : NULL, yr);
            af_conv_bwd_data_ref(&d, s->n, s->h, s->w, wr, dyr, dxr);
            af_conv_bwd_weights_ref(&d, s->n, s->h, s->w, xr, dyr, dwr, dbr);
            double e0 = scaled_err(y, yr, ny), e1 = scaled_err(dx, dxr, nx),
                   e2 = scaled_err(dw, dwr, nw), e3 = s->bias ? scaled_err(db, dbr, s->cout) : 0;
            CHECK_MSG(e0 < 1e-5 && e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5,
                      "shape %zu (%s): fwd %.2g dx %.2g dw %.2g db %.2g", si,
                      b16 ? "bf16" : "fp32", e0, e1, e2, e3);
            double ev[4] = {e0, e1, e2, e3};
            for (int i = 0; i < 4; i++)
                if (ev[i] > worst[i])
                    worst[i] = ev[i];
            if (si == 6 || si == 13)
                fprintf(stderr, "  %sconv %d->%d k%d s%d: fwd %s, bwd-data %s, bwd-weights %s\n",
                        b16 ? "bf16 " : "", s->cin, s->cout, s->k, s->s,
                        af_conv_train_impl(c, 0), af_conv_train_impl(c, 1),
                        af_conv_train_impl(c, 2));
            if (b16)
                free(xr), free(wr), free(dyr);
        }
        af_conv_train_free(c);
        free(x), free(wt), free(b), free(dy), free(y), free(yr), free(dx), free(dxr);
        free(dw), free(dwr), free(db), free(dbr);
    }
    fprintf(stderr, "  %sconv vs naive, max scaled err: fwd %.2g dx %.2g dw %.2g db %.2g\n",
            bf16 ? "bf16 " : "", worst[0], worst[1], worst[2], worst[3]);
    if (bf16) {
        fprintf(stderr, "  bf16 training convs: %d of %zu shapes in bf16%s\n", ran16,
                sizeof conv_shapes / sizeof conv_shapes[0], has ? "" : " (no bf16 on this CPU)");
        CHECK(!has || ran16 > 0);
    }
    af_engine_free(e);
}

static void test_conv_vs_ref(void)
{
    conv_vs_ref(0);
}

static void test_conv_bf16_train(void)
{
    conv_vs_ref(1);
}

/* Partial requests (dx only, dw only, db only) and the naive object. */
static void test_conv_partial(void)
{
    af_engine *e = NULL;
    REQUIRE(af_engine_create(&e, NULL) == AF_OK);
    const shape s = {8, 12, 3, 2, 2, 7, 8, 1};
    af_conv_desc d;
    fill_desc(&s, &d);
    int oh, ow;
    af_conv_out_hw(&d, s.h, s.w, &oh, &ow);
    size_t nx = (size_t)s.n * s.h * s.w * s.cin, ny = (size_t)s.n * oh * ow * s.cout;
    size_t nw = (size_t)s.cout * s.cin * 9;
    float *x = t_rand_buf(nx, 1), *wt = t_rand_buf(nw, 0.5f), *dy = t_rand_buf(ny, 1);
    float *dx = calloc(nx, 4), *dxr = calloc(nx, 4), *dw = calloc(nw, 4), *dwr = calloc(nw, 4);
    float db[12], dbr[12];
    af_conv_bwd_data_ref(&d, s.n, s.h, s.w, wt, dy, dxr);
    af_conv_bwd_weights_ref(&d, s.n, s.h, s.w, x, dy, dwr, dbr);
    af_conv_train *objs[2] = {NULL, NULL};
    CHECK(af_conv_train_create(e, &d, 1, s.n, s.h, s.w, 2, &objs[0], NULL) == AF_OK);
    CHECK(af_conv_train_create_naive(e, &d, 1, s.n, s.h, s.w, &objs[1], NULL) == AF_OK);
    CHECK(objs[1] && strcmp(af_conv_train_impl(objs[1], 1), "ref:naive") == 0);
    for (int o = 0; o < 2; o++) {
        af_conv_train *c = objs[o];
        if (!c)
            continue;
        memset(dx, 0, nx * 4), memset(dw, 0, nw * 4), memset(db, 0, sizeof db);
        CHECK(af_conv_train_backward(c, NULL, wt, dy, dx, NULL, NULL, NULL) == AF_OK);
        CHECK(scaled_err(dx, dxr, nx) < 1e-5);
        CHECK(af_conv_train_backward(c, x, NULL, dy, NULL, dw, NULL, NULL) == AF_OK);
        CHECK(scaled_err(dw, dwr, nw) < 1e-5);
        CHECK(af_conv_train_backward(c, x, NULL, dy, NULL, NULL, db, NULL) == AF_OK);
        CHECK(scaled_err(db, dbr, 12) < 1e-5);
        /* overwrite, not accumulate: a second call gives the same */
        CHECK(af_conv_train_backward(c, x, wt, dy, dx, dw, db, NULL) == AF_OK);
        CHECK(scaled_err(dx, dxr, nx) < 1e-5 && scaled_err(dw, dwr, nw) < 1e-5 &&
              scaled_err(db, dbr, 12) < 1e-5);
    }
    af_conv_train_free(objs[0]);
    af_conv_train_free(objs[1]);
    free(x), free(wt), free(dy), free(dx), free(dxr), free(dw), free(dwr);
    af_engine_free(e);
}

/* Two objects sharing one workspace, used alternately (nothing may persist
 * in the workspace between calls). */
static void test_conv_shared_workspace(void)
{
    af_engine *e = NULL;
    REQUIRE(af_engine_create(&e, NULL) == AF_OK);
    const shape shp[2] = {{16, 24, 3, 2, 2, 9, 10, 0}, {24, 16, 1, 1, 2, 5, 5, 1}};
    af_conv_train *c[2] = {NULL, NULL};
    float *x[2], *wt[2], *b[2], *dy[2], *y[2], *dx[2], *dw[2], *db[2];
    size_t nx[2], ny[2], nw[2], need = 0;
    for (int i = 0; i < 2; i++) {
        const shape *s = &shp[i];
        af_conv_desc d;
        fill_desc(s, &d);
        int oh, ow;
        af_conv_out_hw(&d, s->h, s->w, &oh, &ow);
        nx[i] = (size_t)s->n * s->h * s->w * s->cin, ny[i] = (size_t)s->n * oh * ow * s->cout;
        nw[i] = (size_t)s->cout * s->cin * s->k * s->k;
        x[i] = t_rand_buf(nx[i], 1), wt[i] = t_rand_buf(nw[i], 0.5f), b[i] = t_rand_buf(s->cout, 0.5f);
        dy[i] = t_rand_buf(ny[i], 1), y[i] = malloc(ny[i] * 4), dx[i] = malloc(nx[i] * 4);
        dw[i] = malloc(nw[i] * 4), db[i] = malloc(s->cout * 4);
        REQUIRE(af_conv_train_create(e, &d, s->bias, s->n, s->h, s->w, 2, &c[i], NULL) == AF_OK);
        if (af_conv_train_workspace_size(c[i]) > need)
            need = af_conv_train_workspace_size(c[i]);
    }
    void *ws = aligned_alloc(64, (need + 63) / 64 * 64 + 64);
    REQUIRE(ws);
    for (int i = 0; i < 2; i++)
        af_conv_train_set_workspace(c[i], ws);
    for (int step = 0; step < 4; step++) {
        int i = step & 1;
        CHECK(af_conv_train_forward(c[i], x[i], wt[i], b[i], y[i], NULL) == AF_OK);
        CHECK(af_conv_train_backward(c[i], x[i], wt[i], dy[i], dx[i], dw[i],
                                     shp[i].bias ? db[i] : NULL, NULL) == AF_OK);
    }
    for (int i = 0; i < 2; i++) {
        const shape *s = &shp[i];
        af_conv_desc d;
        fill_desc(s, &d);
        float *yr = malloc(ny[i] * 4), *dxr = malloc(nx[i] * 4), *dwr = malloc(nw[i] * 4),
              *dbr = malloc(s->cout * 4);
        af_conv_train_forward_ref(&d, s->n, s->h, s->w, x[i], wt[i], s->bias ? b[i] : NULL, yr);
        af_conv_bwd_data_ref(&d, s->n, s->h, s->w, wt[i], dy[i], dxr);
        af_conv_bwd_weights_ref(&d, s->n, s->h, s->w, x[i], dy[i], dwr, dbr);
        CHECK(scaled_err(y[i], yr, ny[i]) < 1e-5 && scaled_err(dx[i], dxr, nx[i]) < 1e-5 &&
              scaled_err(dw[i], dwr, nw[i]) < 1e-5);
        if (s->bias)
            CHECK(scaled_err(db[i], dbr, s->cout) < 1e-5);
        free(yr), free(dxr), free(dwr), free(dbr);
        free(x[i]), free(wt[i]), free(b[i]), free(dy[i]), free(y[i]), free(dx[i]), free(dw[i]);
        free(db[i]);
        af_conv_train_free(c[i]);
    }
    free(ws);
    af_engine_free(e);
}

static void test_conv_errors(void)
{
    af_engine *e = NULL;
    REQUIRE(af_engine_create(&e, NULL) == AF_OK);
    af_conv_desc d = {4, 4, 3, 1, 1, AF_ACT_SILU};
    af_conv_train *c = NULL;
    af_error err = {0};
    CHECK(af_conv_train_create(e, &d, 0, 1, 5, 5, 1, &c, &err) == AF_E_ARG && !c);
    d.act = AF_ACT_NONE;
    CHECK(af_conv_train_create(e, &d, 0, 1, 0, 5, 1, &c, &err) == AF_E_ARG && !c);
    d.pad = 3;
    CHECK(af_conv_train_create(e, &d, 0, 1, 5, 5, 1, &c, &err) == AF_E_ARG && !c);
    d.pad = 1;
    REQUIRE(af_conv_train_create(e, &d, 0, 1, 5, 5, 1, &c, &err) == AF_OK);
    float x[100] = {0}, w[144] = {0}, dy[100] = {0}, db[4];
    CHECK(af_conv_train_backward(c, x, w, dy, NULL, NULL, db, &err) == AF_E_ARG);
    CHECK(strstr(err.msg, "bias") != NULL);
    CHECK(af_conv_train_forward(c, NULL, w, NULL, dy, &err) == AF_E_ARG);
    af_conv_train_free(c);
    af_engine_free(e);
}

/* ---- convolution: finite differences ---- */

typedef struct conv_ctx {
    af_conv_desc d;
    int n, h, w;
    size_t ny;
    double *x, *wt, *b, *r, *y;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    conv_d(&c->d, c->n, c->h, c->w, c->x, c->wt, c->b, c->y);
    return dot_d(c->y, c->r, c->ny);
}

static void test_conv_fd(void)
{
    af_engine *e = NULL;
    REQUIRE(af_engine_create(&e, NULL) == AF_OK);
    const shape shapes[] = {{3, 4, 3, 2, 2, 7, 6, 1}, {5, 3, 1, 1, 2, 5, 5, 1},
                            {4, 6, 3, 1, 2, 5, 4, 0}, {6, 4, 1, 2, 2, 5, 7, 1}};
    double worst[3] = {0, 0, 0};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        conv_ctx c;
        fill_desc(s, &c.d);
        c.n = s->n, c.h = s->h, c.w = s->w;
        int oh, ow;
        af_conv_out_hw(&c.d, s->h, s->w, &oh, &ow);
        size_t nx = (size_t)s->n * s->h * s->w * s->cin, nw = (size_t)s->cout * s->cin * s->k * s->k;
        c.ny = (size_t)s->n * oh * ow * s->cout;
        float *x = t_rand_buf(nx, 1), *wt = t_rand_buf(nw, 0.5f), *b = t_rand_buf(s->cout, 0.5f);
        float *r = t_rand_buf(c.ny, 1), *y = calloc(c.ny, 4), *dx = calloc(nx, 4),
              *dw = calloc(nw, 4), *db = calloc(s->cout, 4);
        c.x = to_double(x, nx), c.wt = to_double(wt, nw), c.b = s->bias ? to_double(b, s->cout) : NULL;
        c.r = to_double(r, c.ny), c.y = calloc(c.ny, sizeof(double));
        af_conv_train *ct = NULL;
        af_error err = {0};
        if (af_conv_train_create(e, &c.d, s->bias, s->n, s->h, s->w, 1, &ct, &err) != AF_OK) {
            CHECK_MSG(0, "%s", err.msg);
        } else {
            CHECK(af_conv_train_forward(ct, x, wt, b, y, &err) == AF_OK);
            /* dL/dy = r */
            CHECK(af_conv_train_backward(ct, x, wt, r, dx, dw, s->bias ? db : NULL, &err) ==
                  AF_OK);
            double ex = fd_check(conv_loss, &c, c.x, nx, dx, 400);
            double ew = fd_check(conv_loss, &c, c.wt, nw, dw, 400);
            double eb = s->bias ? fd_check(conv_loss, &c, c.b, s->cout, db, 400) : 0;
            CHECK_MSG(ex < 1e-4 && ew < 1e-4 && eb < 1e-4, "shape %zu: dx %.2g dw %.2g db %.2g",
                      si, ex, ew, eb);
            if (ex > worst[0])
                worst[0] = ex;
            if (ew > worst[1])
                worst[1] = ew;
            if (eb > worst[2])
                worst[2] = eb;
        }
        af_conv_train_free(ct);
        free(x), free(wt), free(b), free(r), free(y), free(dx), free(dw), free(db);
        free(c.x), free(c.wt), free(c.b), free(c.r), free(c.y);
    }
    fprintf(stderr, "  conv finite differences, max rel err: dx %.2g dw %.2g db %.2g\n",
            worst[0], worst[1], worst[2]);
    af_engine_free(e);
}

/* ---- convolution: two threads, separate objects ---- */

typedef struct job {
    af_engine *e;
    af_conv_desc d;
    int n, h, w, iters;
    const float *x, *wt, *dy;
    float *y, *dx, *dw;
    int ok;
} job;

static void *run_job(void *p)
{
    job *j = p;
    af_conv_train *c = NULL;
    j->ok = af_conv_train_create(j->e, &j->d, 0, j->n, j->h, j->w, 1, &c, NULL) == AF_OK;
    for (int it = 0; j->ok && it < j->iters; it++)
        j->ok = af_conv_train_forward(c, j->x, j->wt, NULL, j->y, NULL) == AF_OK &&
                af_conv_train_backward(c, j->x, j->wt, j->dy, j->dx, j->dw, NULL, NULL) == AF_OK;
    af_conv_train_free(c);
    return NULL;
}

static void test_conv_two_threads(void)
{
    af_engine *e = NULL;
    REQUIRE(af_engine_create(&e, NULL) == AF_OK);
    job jobs[2], seq[2];
    const shape shp[2] = {{16, 32, 3, 1, 2, 12, 12, 0}, {32, 16, 3, 2, 2, 13, 11, 0}};
    for (int i = 0; i < 2; i++) {
        const shape *s = &shp[i];
        job *j = &jobs[i];
        memset(j, 0, sizeof *j);
        j->e = e;
        fill_desc(s, &j->d);
        j->n = s->n, j->h = s->h, j->w = s->w, j->iters = 3;
        int oh, ow;
        af_conv_out_hw(&j->d, s->h, s->w, &oh, &ow);
        size_t nx = (size_t)s->n * s->h * s->w * s->cin, ny = (size_t)s->n * oh * ow * s->cout;
        size_t nw = (size_t)s->cout * s->cin * 9;
        j->x = t_rand_buf(nx, 1), j->wt = t_rand_buf(nw, 0.3f), j->dy = t_rand_buf(ny, 1);
        j->y = calloc(ny, 4), j->dx = calloc(nx, 4), j->dw = calloc(nw, 4);
        seq[i] = *j;
        seq[i].iters = 1;
        seq[i].y = calloc(ny, 4), seq[i].dx = calloc(nx, 4), seq[i].dw = calloc(nw, 4);
        run_job(&seq[i]);
        CHECK(seq[i].ok);
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, run_job, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        const shape *s = &shp[i];
        int oh, ow;
        af_conv_out_hw(&jobs[i].d, s->h, s->w, &oh, &ow);
        size_t nx = (size_t)s->n * s->h * s->w * s->cin, ny = (size_t)s->n * oh * ow * s->cout;
        size_t nw = (size_t)s->cout * s->cin * 9;
        CHECK(jobs[i].ok);
        CHECK(memcmp(jobs[i].y, seq[i].y, ny * 4) == 0);
        CHECK(memcmp(jobs[i].dx, seq[i].dx, nx * 4) == 0);
        CHECK(memcmp(jobs[i].dw, seq[i].dw, nw * 4) == 0);
        free((void *)jobs[i].x), free((void *)jobs[i].wt), free((void *)jobs[i].dy);
        free(jobs[i].y), free(jobs[i].dx), free(jobs[i].dw);
        free(seq[i].y), free(seq[i].dx), free(seq[i].dw);
    }
    af_engine_free(e);
}

/* ---- BatchNorm ---- */

/* Statistics over many pixels with a large common offset (float sums would
 * drift), running stats with momentum and the unbiased variance, eval mode. */
static void test_bn_stats(void)
{
    const size_t npix = 16 * 100 * 120; /* 192000 */
    const int c = 3;
    float *x = malloc(npix * c * 4), *y = malloc(npix * c * 4);
    REQUIRE(x && y);
    for (size_t i = 0; i < npix * c; i++)
        x[i] = (i % c == 0 ? 1000.0f : i % c == 1 ? -3.0f : 0.0f) + t_frand(1.0f) * (float)(1 + i % c);
    float gamma[3] = {1.5f, 0.5f, -2.0f}, beta[3] = {0.1f, -0.2f, 0.3f};
    float rm[3] = {0.5f, -1.0f, 2.0f}, rv[3] = {1.0f, 2.0f, 0.5f}, rm0[3], rv0[3];
    memcpy(rm0, rm, sizeof rm), memcpy(rv0, rv, sizeof rv);
    float sm[3], si[3];
    const float eps = 1e-3f, mom = 0.03f;
    REQUIRE(af_bn_train_forward(npix, c, x, gamma, beta, eps, mom, rm, rv, y, sm, si, NULL) ==
            AF_OK);
    double maxd = 0;
    for (int ch = 0; ch < c; ch++) {
        long double m = 0, v = 0;
        for (size_t i = 0; i < npix; i++)
            m += x[i * c + ch];
        m /= npix;
        for (size_t i = 0; i < npix; i++)
            v += (x[i * c + ch] - m) * (x[i * c + ch] - m);
        double var_b = (double)(v / npix), var_u = (double)(v / (npix - 1));
        double is = 1 / sqrt(var_b + eps);
        CHECK_NEAR(sm[ch], (double)m, fabs((double)m) * 2e-7 + 1e-7);
        CHECK_NEAR(si[ch], is, is * 1e-6);
        double erm = 0.03 * (double)m + 0.97 * rm0[ch], erv = 0.03 * var_u + 0.97 * rv0[ch];
        CHECK_NEAR(rm[ch], erm, fabs(erm) * 1e-6);
        CHECK_NEAR(rv[ch], erv, fabs(erv) * 1e-6);
        for (size_t i = 0; i < npix; i += 97) {
            double want = (x[i * c + ch] - (double)m) * is * gamma[ch] + beta[ch];
            double d = fabs(y[i * c + ch] - want);
            if (d > maxd)
                maxd = d;
        }
    }
    /* y = x * alpha + shift in float (torch's form) with |x * alpha| ~ 2600,
     * where one float ulp is 2.4e-4: a few ulp of that is the floor */
    CHECK_MSG(maxd < 1e-3, "max |y - y_ref| %.3g", maxd);
    fprintf(stderr, "  bn stats: npix %zu, max |y - y_double| %.3g\n", npix, maxd);

    /* eval mode with the updated running stats */
    af_bn_eval_forward(npix, c, x, gamma, beta, eps, rm, rv, y);
    double maxe = 0;
    for (int ch = 0; ch < c; ch++)
        for (size_t i = 0; i < npix; i += 101) {
            double want = (x[i * c + ch] - rm[ch]) / sqrt((double)rv[ch] + eps) * gamma[ch] + beta[ch];
            double d = fabs(y[i * c + ch] - want) / (1 + fabs(want));
            if (d > maxe)
                maxe = d;
        }
    CHECK_MSG(maxe < 2e-5, "eval max rel %.3g", maxe);

    /* one value per channel is refused, as torch does */
    af_error err = {0};
    CHECK(af_bn_train_forward(1, c, x, gamma, beta, eps, mom, rm, rv, y, sm, si, &err) ==
          AF_E_ARG);
    free(x), free(y);
}

/* Naive double backward of training-mode BN (textbook formula). */
static void bn_backward_d(size_t npix, int c, const float *x, const float *dy, const float *g,
                          double eps, double *dx, double *dg, double *db)
{
    for (int ch = 0; ch < c; ch++) {
        double m = 0, v = 0, sdy = 0, sdyx = 0;
        for (size_t i = 0; i < npix; i++)
            m += x[i * c + ch];
        m /= (double)npix;
        for (size_t i = 0; i < npix; i++)
            v += (x[i * c + ch] - m) * (x[i * c + ch] - m);
        v /= (double)npix;
        double is = 1 / sqrt(v + eps);
        for (size_t i = 0; i < npix; i++) {
            double xh = (x[i * c + ch] - m) * is;
            sdy += dy[i * c + ch];
            sdyx += dy[i * c + ch] * xh;
        }
        dg[ch] = sdyx, db[ch] = sdy;
        for (size_t i = 0; i < npix; i++) {
            double xh = (x[i * c + ch] - m) * is;
            dx[i * c + ch] = g[ch] * is * (dy[i * c + ch] - sdy / npix - xh * sdyx / npix);
        }
    }
}

typedef struct bn_ctx {
    size_t npix;
    int c;
    double eps;
    double *x, *g, *b, *r, *y;
} bn_ctx;

static double bn_loss(void *p)
{
    bn_ctx *k = p;
    bn_train_d(k->npix, k->c, k->x, k->g, k->b, k->eps, k->y);
    return dot_d(k->y, k->r, k->npix * k->c);
}

static void test_bn_backward(void)
{
    const size_t npix = 2 * 5 * 7;
    const int c = 5;
    const size_t nx = npix * c;
    float *x = t_rand_buf(nx, 2), *r = t_rand_buf(nx, 1), *g = t_rand_buf(c, 1), *b = t_rand_buf(c, 1);
    float *y = malloc(nx * 4), *dx = malloc(nx * 4), dg[5], db[5], sm[5], si[5];
    for (size_t i = 0; i < nx; i++)
        x[i] += (float)(i % c); /* per-channel offsets */
    const float eps = 1e-3f;
    REQUIRE(af_bn_train_forward(npix, c, x, g, b, eps, 0.03f, NULL, NULL, y, sm, si, NULL) ==
            AF_OK);
    af_bn_backward(npix, c, x, r, g, sm, si, dx, dg, db);

    /* against the double textbook backward */
    double *dxd = malloc(nx * sizeof(double)), dgd[5], dbd[5];
    bn_backward_d(npix, c, x, r, g, eps, dxd, dgd, dbd);
    float *dxf = malloc(nx * 4), dgf[5], dbf[5];
    for (size_t i = 0; i < nx; i++)
        dxf[i] = (float)dxd[i];
    for (int i = 0; i < c; i++)
        dgf[i] = (float)dgd[i], dbf[i] = (float)dbd[i];
    double r0 = scaled_err(dx, dxf, nx), r1 = scaled_err(dg, dgf, c), r2 = scaled_err(db, dbf, c);
    CHECK_MSG(r0 < 1e-5 && r1 < 1e-5 && r2 < 1e-5, "vs ref: dx %.2g dg %.2g db %.2g", r0, r1, r2);

    /* finite differences */
    bn_ctx k = {npix, c, eps, to_double(x, nx), to_double(g, c), to_double(b, c), to_double(r, nx),
                calloc(nx, sizeof(double))};
    double ex = fd_check(bn_loss, &k, k.x, nx, dx, 400);
    double eg = fd_check(bn_loss, &k, k.g, c, dg, 400);
    double eb = fd_check(bn_loss, &k, k.b, c, db, 400);
    CHECK_MSG(ex < 1e-4 && eg < 1e-4 && eb < 1e-4, "fd: dx %.2g dgamma %.2g dbeta %.2g", ex, eg,
              eb);
    fprintf(stderr, "  bn backward: vs ref dx %.2g dg %.2g db %.2g; fd dx %.2g dg %.2g db %.2g\n",
            r0, r1, r2, ex, eg, eb);

    /* NULL outputs skipped; dx in place over dy */
    float *dy2 = malloc(nx * 4);
    memcpy(dy2, r, nx * 4);
    af_bn_backward(npix, c, x, dy2, g, sm, si, dy2, NULL, NULL);
    CHECK(memcmp(dy2, dx, nx * 4) == 0);
    free(dy2);
    free(x), free(r), free(g), free(b), free(y), free(dx), free(dxd), free(dxf);
    free(k.x), free(k.g), free(k.b), free(k.r), free(k.y);
}

/* ---- fused BN + SiLU: against the unfused ops and finite differences ---- */

static double bn_silu_loss(void *p)
{
    bn_ctx *k = p;
    bn_train_d(k->npix, k->c, k->x, k->g, k->b, k->eps, k->y);
    for (size_t i = 0; i < k->npix * (size_t)k->c; i++)
        k->y[i] = k->y[i] / (1 + exp(-k->y[i]));
    return dot_d(k->y, k->r, k->npix * k->c);
}

static void check_bn_silu(size_t npix, int c)
{
    const size_t nx = npix * c;
    const float eps = 1e-3f;
    float *x = t_rand_buf(nx, 2), *r = t_rand_buf(nx, 1), *g = t_rand_buf(c, 1), *b = t_rand_buf(c, 1);
    float *y = malloc(nx * 4), *y2 = malloc(nx * 4), *dx = malloc(nx * 4), *dx2 = malloc(nx * 4);
    float *sm = malloc(c * 4), *si = malloc(c * 4), *sm2 = malloc(c * 4), *si2 = malloc(c * 4);
    float *rm = calloc(c, 4), *rv = calloc(c, 4), *rm2 = calloc(c, 4), *rv2 = calloc(c, 4);
    float *dg = malloc(c * 4), *db = malloc(c * 4), *dg2 = malloc(c * 4), *db2 = malloc(c * 4);
    for (size_t i = 0; i < nx; i++)
        x[i] += (float)(i % c) * 0.25f;
    /* unfused reference path */
    REQUIRE(af_bn_train_forward(npix, c, x, g, b, eps, 0.03f, rm, rv, y, sm, si, NULL) == AF_OK);
    float *u = malloc(nx * 4);
    memcpy(u, y, nx * 4);
    af_silu_inplace(y, nx);
    memcpy(dx, r, nx * 4);
    af_silu_backward(nx, u, dx, dx);
    af_bn_backward(npix, c, x, dx, g, sm, si, dx, dg, db);
    /* fused, dx in place over dy */
    REQUIRE(af_bn_silu_train_forward(npix, c, x, g, b, eps, 0.03f, rm2, rv2, y2, sm2, si2, NULL) ==
            AF_OK);
    memcpy(dx2, r, nx * 4);
    af_bn_silu_backward(npix, c, x, dx2, g, b, sm2, si2, dx2, dg2, db2);
    CHECK(memcmp(sm, sm2, c * 4) == 0 && memcmp(si, si2, c * 4) == 0);
    CHECK(memcmp(rm, rm2, c * 4) == 0 && memcmp(rv, rv2, c * 4) == 0);
    double ey = scaled_err(y2, y, nx), ex = scaled_err(dx2, dx, nx), eg = scaled_err(dg2, dg, c),
           eb = scaled_err(db2, db, c);
    CHECK_MSG(ey < 1e-6 && ex < 1e-5 && eg < 1e-5 && eb < 1e-5,
              "c=%d fused vs unfused: y %.2g dx %.2g dgamma %.2g dbeta %.2g", c, ey, ex, eg, eb);
    /* finite differences of sum(silu(bn(x)) * r) in double */
    bn_ctx k = {npix, c, eps, to_double(x, nx), to_double(g, c), to_double(b, c), to_double(r, nx),
                calloc(nx, sizeof(double))};
    double fx = fd_check(bn_silu_loss, &k, k.x, nx, dx2, 300);
    double fg = fd_check(bn_silu_loss, &k, k.g, c, dg2, 300);
    double fb = fd_check(bn_silu_loss, &k, k.b, c, db2, 300);
    CHECK_MSG(fx < 1e-4 && fg < 1e-4 && fb < 1e-4, "c=%d fd: dx %.2g dgamma %.2g dbeta %.2g", c,
              fx, fg, fb);
    fprintf(stderr,
            "  bn+silu fused c=%d: vs unfused y %.2g dx %.2g dg %.2g db %.2g; fd dx %.2g dg %.2g "
            "db %.2g\n",
            c, ey, ex, eg, eb, fx, fg, fb);
    free(k.x), free(k.g), free(k.b), free(k.r), free(k.y);
    free(x), free(r), free(g), free(b), free(y), free(y2), free(dx), free(dx2), free(u);
    free(sm), free(si), free(sm2), free(si2), free(rm), free(rv), free(rm2), free(rv2);
    free(dg), free(db), free(dg2), free(db2);
}

/* Inside another parallel region the inner team has 1 thread: every row chunk
 * must still be summed, with the same result. */
static void test_bn_nested_region(void)
{
    const size_t npix = 20000;
    const int c = 16;
    float *x = t_rand_buf(npix * c, 3), sm[16], si[16], sm2[16], si2[16];
    REQUIRE(af_bn_train_stats(npix, c, x, 1e-3f, 0.03f, NULL, NULL, sm, si, NULL) == AF_OK);
    int inner = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        {
            inner = omp_get_max_threads();
            af_bn_train_stats(npix, c, x, 1e-3f, 0.03f, NULL, NULL, sm2, si2, NULL);
        }
    }
    CHECK(memcmp(sm, sm2, sizeof sm) == 0 && memcmp(si, si2, sizeof si) == 0);
    fprintf(stderr, "  bn stats inside a parallel region (inner max threads %d): %s\n", inner,
            memcmp(sm, sm2, sizeof sm) ? "DIFFERENT" : "identical");
    free(x);
}

static void test_bn_silu_fused(void)
{
    check_bn_silu(2 * 5 * 7, 5);   /* scalar tails only */
    check_bn_silu(2 * 6 * 6, 24);  /* whole AVX2 vectors */
    check_bn_silu(9000, 72);       /* two threads, a 64-channel block and a tail of 8 */
}

/* ---- SiLU / sigmoid ---- */

static void test_act_backward(void)
{
    const size_t n = 1000;
    float *x = t_rand_buf(n, 8), *dy = t_rand_buf(n, 1), *dx = malloc(n * 4), *y = malloc(n * 4);
    x[0] = 0, x[1] = 30, x[2] = -30, x[3] = 88, x[4] = -88;
    af_silu_backward(n, x, dy, dx);
    /* errors relative to |dx| with a floor of 1% of |dy| (the derivative
     * crosses zero near x = -1.28, where float cancellation is unavoidable) */
    double er = 0, ef = 0;
    for (size_t i = 0; i < n; i++) {
        double xi = x[i], s = 1 / (1 + exp(-xi));
        double want = dy[i] * s * (1 + xi * (1 - s));
        double d = fabs(dx[i] - want) / (fabs(want) + 1e-2 * fabs(dy[i]) + 1e-12);
        if (d > er)
            er = d;
        /* FD of silu in double */
        double h = 1e-6, f = ((xi + h) / (1 + exp(-(xi + h))) - (xi - h) / (1 + exp(-(xi - h)))) /
                             (2 * h) * dy[i];
        double e2 = fabs(dx[i] - f) / (fabs(f) + 1e-2 * fabs(dy[i]) + 1e-12);
        if (e2 > ef)
            ef = e2;
    }
    CHECK_MSG(er < 1e-5, "silu vs ref %.3g", er);
    CHECK_MSG(ef < 1e-5, "silu vs fd %.3g", ef);
    CHECK(dx[0] == dy[0] * 0.5f);

    /* sigmoid backward from the output */
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(1 / (1 + exp(-(double)x[i])));
    af_sigmoid_backward(n, y, dy, dx);
    double es = 0;
    for (size_t i = 0; i < n; i++) {
        double xi = x[i], h = 1e-6;
        double f = (1 / (1 + exp(-(xi + h))) - 1 / (1 + exp(-(xi - h)))) / (2 * h) * dy[i];
        double d = fabs(dx[i] - f) / (fabs(f) + 1e-2 * fabs(dy[i]) + 1e-12);
        if (d > es)
            es = d;
    }
    CHECK_MSG(es < 1e-5, "sigmoid vs fd %.3g", es);
    /* in place */
    memcpy(y, dy, n * 4);
    af_silu_backward(n, x, y, y);
    af_silu_backward(n, x, dy, dx);
    CHECK(memcmp(y, dx, n * 4) == 0);
    fprintf(stderr, "  silu backward: vs ref %.2g, vs fd %.2g; sigmoid vs fd %.2g\n", er, ef, es);
    free(x), free(dy), free(dx), free(y);
}

/* ---- max pool ---- */

/* Straight per-element scan: first max in (ky, kx) order, NaN takes over. */
static void maxpool_bwd_naive(int n, int h, int w, int c, int k, int s, int p, const float *x,
                              const float *dy, float *dx)
{
    int oh, ow;
    af_maxpool_out_hw(h, w, k, s, p, &oh, &ow);
    memset(dx, 0, (size_t)n * h * w * c * 4);
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    long best = -1;
                    float m = -INFINITY;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            long idx = (((long)b * h + iy) * w + ix) * c + ch;
                            if (best < 0)
                                best = idx;
                            if (x[idx] > m || isnan(x[idx]))
                                m = x[idx], best = idx;
                        }
                    dx[best] += dy[(((size_t)b * oh + oy) * ow + ox) * c + ch];
                }
}

typedef struct pool_bwd_case {
    int n, h, w, c, k, s, p;
    const float *x, *dy;
} pool_bwd_case;

static int maxpool_bwd_fast(void *ctx, float *dx)
{
    const pool_bwd_case *q = ctx;
    return af_maxpool_backward(q->n, q->h, q->w, q->c, q->k, q->s, q->p, q->x, q->dy, dx, NULL);
}

static int maxpool_bwd_naive_impl(void *ctx, float *dx)
{
    const pool_bwd_case *q = ctx;
    maxpool_bwd_naive(q->n, q->h, q->w, q->c, q->k, q->s, q->p, q->x, q->dy, dx);
    return 0;
}

typedef struct pool_ctx {
    int n, h, w, c, k, s, p;
    size_t ny;
    double *x, *r, *y;
} pool_ctx;

static double pool_loss(void *q)
{
    pool_ctx *k = q;
    maxpool_d(k->n, k->h, k->w, k->c, k->k, k->s, k->p, k->x, k->y);
    return dot_d(k->y, k->r, k->ny);
}

static void test_maxpool_backward(void)
{
    /* hand case: all equal -> each window's first position */
    float x9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, dy4[4] = {1, 2, 3, 4}, dx9[9];
    REQUIRE(af_maxpool_backward(1, 3, 3, 1, 2, 1, 0, x9, dy4, dx9, NULL) == AF_OK);
    const float want9[9] = {1, 2, 0, 3, 4, 0, 0, 0, 0};
    CHECK(memcmp(dx9, want9, sizeof want9) == 0);
    /* all -inf with padding: the first in-image position, never the padding */
    float xi[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, dyi[4] = {1, 1, 1, 1}, dxi[4];
    REQUIRE(af_maxpool_backward(1, 2, 2, 1, 3, 1, 1, xi, dyi, dxi, NULL) == AF_OK);
    CHECK(dxi[0] == 4 && dxi[1] == 0 && dxi[2] == 0 && dxi[3] == 0);

    const int cfg[][7] = {/* n h w c k s p */
                          {2, 7, 9, 3, 5, 1, 2},  {2, 8, 7, 5, 3, 2, 1}, {2, 9, 9, 4, 2, 2, 0},
                          {1, 6, 5, 70, 5, 1, 2}, {2, 5, 6, 3, 3, 1, 1}, {1, 4, 4, 2, 1, 1, 0}};
    double worst_fd = 0;
    for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
        const int *q = cfg[t];
        int n = q[0], h = q[1], w = q[2], c = q[3], k = q[4], s = q[5], p = q[6], oh, ow;
        af_maxpool_out_hw(h, w, k, s, p, &oh, &ow);
        size_t nx = (size_t)n * h * w * c, ny = (size_t)n * oh * ow * c;
        float *x = malloc(nx * 4), *dy = t_rand_buf(ny, 1), *dx = malloc(nx * 4);
        /* ties: values quantised to 5 levels */
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)((int)((t_frand(1) + 1) * 2.5f)) * 0.25f;
        pool_bwd_case bc = {n, h, w, c, k, s, p, x, dy};
        char what[96];
        snprintf(what, sizeof what, "n%d %dx%dx%d k%d s%d p%d, ties", n, h, w, c, k, s, p);
        t_vs_naive("maxpool backward", what, nx, 1e-6, maxpool_bwd_fast, maxpool_bwd_naive_impl,
                   &bc);
        /* distinct values (a shuffled ramp) for finite differences */
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)i * 0.01f;
        for (size_t i = nx - 1; i > 0; i--) {
            size_t j = (size_t)((t_frand(1) + 1) * 0.5f * (float)(i + 1)) % (i + 1);
            float tmp = x[i];
            x[i] = x[j], x[j] = tmp;
        }
        REQUIRE(af_maxpool_backward(n, h, w, c, k, s, p, x, dy, dx, NULL) == AF_OK);
        snprintf(what, sizeof what, "n%d %dx%dx%d k%d s%d p%d, distinct", n, h, w, c, k, s, p);
        t_vs_naive("maxpool backward", what, nx, 1e-6, maxpool_bwd_fast, maxpool_bwd_naive_impl,
                   &bc);
        pool_ctx pc = {n, h, w, c, k, s, p, ny, to_double(x, nx), to_double(dy, ny),
                       calloc(ny, sizeof(double))};
        double e = fd_check(pool_loss, &pc, pc.x, nx, dx, 300);
        CHECK_MSG(e < 1e-6, "fd cfg %zu: %.3g", t, e);
        if (e > worst_fd)
            worst_fd = e;
        free(pc.x), free(pc.r), free(pc.y);
        free(x), free(dy), free(dx);
    }
    /* NaN takes the gradient (torch's isnan rule) */
    float xn[4] = {1, NAN, 3, 2}, dyn[1] = {5}, dxn[4];
    REQUIRE(af_maxpool_backward(1, 2, 2, 1, 2, 2, 0, xn, dyn, dxn, NULL) == AF_OK);
    CHECK(dxn[0] == 0 && dxn[1] == 5 && dxn[2] == 0 && dxn[3] == 0);
    CHECK(af_maxpool_backward(1, 2, 2, 1, 3, 1, 2, xn, dyn, dxn, NULL) == AF_E_ARG);
    fprintf(stderr, "  maxpool backward: fd max rel err %.2g\n", worst_fd);
}

/* ---- upsample ---- */

typedef struct up_ctx {
    int n, h, w, c;
    size_t ny;
    double *x, *r;
} up_ctx;

static double up_loss(void *q)
{
    up_ctx *k = q;
    double s = 0;
    for (int b = 0; b < k->n; b++)
        for (int y = 0; y < 2 * k->h; y++)
            for (int x = 0; x < 2 * k->w; x++)
                for (int ch = 0; ch < k->c; ch++)
                    s += k->x[(((size_t)b * k->h + y / 2) * k->w + x / 2) * k->c + ch] *
                         k->r[(((size_t)b * 2 * k->h + y) * 2 * k->w + x) * k->c + ch];
    return s;
}

static void test_upsample_backward(void)
{
    const int n = 2, h = 3, w = 5, c = 7;
    size_t nx = (size_t)n * h * w * c, ny = 4 * nx;
    float *dy = t_rand_buf(ny, 1), *dx = malloc(nx * 4), *dxr = calloc(nx, 4);
    af_upsample_nearest2x_backward(n, h, w, c, dy, dx);
    for (int b = 0; b < n; b++)
        for (int y = 0; y < 2 * h; y++)
            for (int x = 0; x < 2 * w; x++)
                for (int ch = 0; ch < c; ch++)
                    dxr[(((size_t)b * h + y / 2) * w + x / 2) * c + ch] +=
                        dy[(((size_t)b * 2 * h + y) * 2 * w + x) * c + ch];
    CHECK(memcmp(dx, dxr, nx * 4) == 0); /* same summation order */
    up_ctx u = {n, h, w, c, ny, calloc(nx, sizeof(double)), to_double(dy, ny)};
    double e = fd_check(up_loss, &u, u.x, nx, dx, 300);
    CHECK_MSG(e < 1e-6, "fd %.3g", e);
    /* transpose identity with the forward: <up(x), dy> = <x, up^T(dy)> */
    float *x = t_rand_buf(nx, 1), *y = malloc(ny * 4);
    af_upsample_nearest2x(n, h, w, c, x, y, 1);
    double l = 0, rr = 0;
    for (size_t i = 0; i < ny; i++)
        l += (double)y[i] * dy[i];
    for (size_t i = 0; i < nx; i++)
        rr += (double)x[i] * dx[i];
    CHECK_NEAR(l, rr, 1e-4);
    fprintf(stderr, "  upsample backward: fd max rel err %.2g\n", e);
    free(u.x), free(u.r), free(dy), free(dx), free(dxr), free(x), free(y);
}

/* ---- concat / slice helpers ---- */

static void test_channel_helpers(void)
{
    /* npix 2, c_total 5, slice [1, 3) */
    float whole[10] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
    float part[4] = {100, 200, 300, 400};
    af_add_to_channels(2, 5, 1, 2, part, whole);
    const float w1[10] = {0, 101, 202, 3, 4, 10, 311, 412, 13, 14};
    CHECK(memcmp(whole, w1, sizeof w1) == 0);
    float acc[4] = {1, 1, 1, 1};
    af_add_from_channels(2, 5, 3, 2, whole, acc);
    const float w2[4] = {4, 5, 14, 15};
    CHECK(memcmp(acc, w2, sizeof w2) == 0);
    /* concat backward: slices of dy, then summed back equal the whole */
    float *dyc = t_rand_buf(3 * 9, 1), back[27] = {0}, a[12], b[15];
    af_copy_channels(3, 9, 0, 4, dyc, a);
    af_copy_channels(3, 9, 4, 5, dyc, b);
    af_add_to_channels(3, 9, 0, 4, a, back);
    af_add_to_channels(3, 9, 4, 5, b, back);
    CHECK(memcmp(back, dyc, sizeof back) == 0);
    free(dyc);
}

/* ---- composed Conv + BN + SiLU block ---- */

typedef struct block_ctx {
    af_conv_desc d;
    int n, h, w, oh, ow;
    double eps;
    double *x, *wt, *g, *b, *r, *t1, *t2;
} block_ctx;

static double block_loss(void *p)
{
    block_ctx *k = p;
    size_t ny = (size_t)k->n * k->oh * k->ow * k->d.cout;
    conv_d(&k->d, k->n, k->h, k->w, k->x, k->wt, NULL, k->t1);
    bn_train_d((size_t)k->n * k->oh * k->ow, k->d.cout, k->t1, k->g, k->b, k->eps, k->t2);
    double s = 0;
    for (size_t i = 0; i < ny; i++)
        s += k->t2[i] / (1 + exp(-k->t2[i])) * k->r[i];
    return s;
}

static void test_block_fd(void)
{
    af_engine *e = NULL;
    REQUIRE(af_engine_create(&e, NULL) == AF_OK);
    block_ctx k;
    k.d = (af_conv_desc){3, 6, 3, 2, 1, AF_ACT_NONE};
    k.n = 2, k.h = 9, k.w = 8, k.eps = 1e-3;
    af_conv_out_hw(&k.d, k.h, k.w, &k.oh, &k.ow);
    const int co = k.d.cout;
    size_t nx = (size_t)k.n * k.h * k.w * 3, nw = (size_t)co * 3 * 9;
    size_t npix = (size_t)k.n * k.oh * k.ow, ny = npix * co;
    float *x = t_rand_buf(nx, 1), *wt = t_rand_buf(nw, 0.4f), *g = t_rand_buf(co, 1),
          *b = t_rand_buf(co, 1), *r = t_rand_buf(ny, 1);
    float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *y3 = malloc(ny * 4), *g2 = malloc(ny * 4),
          *g1 = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4);
    float rm[6] = {0}, rv[6] = {1, 1, 1, 1, 1, 1}, sm[6], si[6], dg[6], db[6];
    af_conv_train *c = NULL;
    REQUIRE(af_conv_train_create(e, &k.d, 0, k.n, k.h, k.w, 1, &c, NULL) == AF_OK);
    /* forward */
    CHECK(af_conv_train_forward(c, x, wt, NULL, y1, NULL) == AF_OK);
    CHECK(af_bn_train_forward(npix, co, y1, g, b, (float)k.eps, 0.03f, rm, rv, y2, sm, si, NULL) ==
          AF_OK);
    memcpy(y3, y2, ny * 4);
    af_silu_inplace(y3, ny);
    /* backward, dL/dy3 = r */
    af_silu_backward(ny, y2, r, g2);
    af_bn_backward(npix, co, y1, g2, g, sm, si, g1, dg, db);
    CHECK(af_conv_train_backward(c, x, wt, g1, dx, dw, NULL, NULL) == AF_OK);
    /* finite differences through the double block */
    k.x = to_double(x, nx), k.wt = to_double(wt, nw), k.g = to_double(g, co);
    k.b = to_double(b, co), k.r = to_double(r, ny);
    k.t1 = calloc(ny, sizeof(double)), k.t2 = calloc(ny, sizeof(double));
    double ex = fd_check(block_loss, &k, k.x, nx, dx, 500);
    double ew = fd_check(block_loss, &k, k.wt, nw, dw, 500);
    double eg = fd_check(block_loss, &k, k.g, co, dg, 100);
    double eb = fd_check(block_loss, &k, k.b, co, db, 100);
    CHECK_MSG(ex < 2e-4 && ew < 2e-4 && eg < 2e-4 && eb < 2e-4,
              "dx %.2g dw %.2g dgamma %.2g dbeta %.2g", ex, ew, eg, eb);
    fprintf(stderr, "  conv+bn+silu block fd, max rel err: dx %.2g dw %.2g dgamma %.2g dbeta %.2g\n",
            ex, ew, eg, eb);
    af_conv_train_free(c);
    free(x), free(wt), free(g), free(b), free(r), free(y1), free(y2), free(y3), free(g1), free(g2);
    free(dx), free(dw), free(k.x), free(k.wt), free(k.g), free(k.b), free(k.r), free(k.t1),
        free(k.t2);
    af_engine_free(e);
}

int main(void)
{
    t_seed(0x2545f491u);
    RUN(test_conv_vs_ref);
    RUN(test_conv_bf16_train);
    RUN(test_conv_partial);
    RUN(test_conv_shared_workspace);
    RUN(test_conv_errors);
    RUN(test_conv_fd);
    RUN(test_conv_two_threads);
    RUN(test_bn_stats);
    RUN(test_bn_backward);
    RUN(test_bn_silu_fused);
    RUN(test_bn_nested_region);
    RUN(test_act_backward);
    RUN(test_maxpool_backward);
    RUN(test_upsample_backward);
    RUN(test_channel_helpers);
    RUN(test_block_fd);
    return t_summary();
}
