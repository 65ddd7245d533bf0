/* Layer kernels against the naive references (and the references against
 * hand-computed values): oneDNN convolution, max pool, upsample, concat,
 * channel slice, SiLU/sigmoid/add, Winograd F(2x2,3x3) and F(4x4,3x3). */
#include <pthread.h>
#include <stdint.h>

#include "testutil.h"

#include "core/tensor.h"
#include "ops/act.h"
#include "ops/bf16.h"
#include "ops/blocked.h"
#include "ops/concat.h"
#include "ops/conv.h"
#include "ops/engine.h"
#include "ops/pointwise.h"
#include "ops/pool.h"
#include "ops/ref.h"
#include "ops/upsample.h"
#include "ops/winograd.h"

/* ---- reference conv on hand-computed cases ---- */

static void test_conv_ref_hand(void)
{
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, y[9];
    float b = 0.5f;
    af_conv_desc d = {1, 1, 3, 1, 1, AF_ACT_NONE};
    af_conv_ref(&d, ones, &b, 1, 3, 3, x, y);
    const float want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(y[i], want[i] + 0.5f, 0);
    d.stride = 2; /* output 2x2: windows centred on (0,0) (0,2) (2,0) (2,2) */
    af_conv_ref(&d, ones, NULL, 1, 3, 3, x, y);
    const float want2[4] = {12, 16, 24, 28};
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(y[i], want2[i], 0);
    /* 1x1, 2 -> 3 channels, NHWC pixels (1,2) and (-1,0.5); OIHW weight [co][ci]. */
    float px[4] = {1, 2, -1, 0.5f}, w[6] = {1, 0, 0, 1, 0.5f, -1}, bias[3] = {0, 0, 1};
    float out[6];
    af_conv_desc d1 = {2, 3, 1, 1, 0, AF_ACT_SILU};
    af_conv_ref(&d1, w, bias, 1, 1, 2, px, out);
    /* pre-activation: pixel0 (1, 2, 1+0.5-2=-0.5), pixel1 (-1, 0.5, 1-0.5-0.5=0) */
    CHECK_NEAR(out[0], 0.7310585786f, 1e-7);   /* silu(1) */
    CHECK_NEAR(out[1], 1.7615941560f, 1e-7);   /* silu(2) */
    CHECK_NEAR(out[2], -0.1887703343f, 1e-7);  /* silu(-0.5) */
    CHECK_NEAR(out[3], -0.2689414214f, 1e-7);  /* silu(-1) */
    CHECK_NEAR(out[4], 0.3112296657f, 1e-7);   /* silu(0.5) */
    CHECK_NEAR(out[5], 0.0f, 0);
    int oh, ow;
    af_conv_desc d2 = {3, 16, 3, 2, 1, AF_ACT_SILU};
    af_conv_out_hw(&d2, 640, 640, &oh, &ow);
    CHECK(oh == 320 && ow == 320);
    af_conv_out_hw(&d2, 13, 17, &oh, &ow);
    CHECK(oh == 7 && ow == 9);
}

/* ---- oneDNN conv vs reference ---- */

typedef struct conv_case {
    af_conv_desc d;
    int n, h, w, bias;
} conv_case;

typedef struct conv_run {
    af_conv *c;
    const af_conv_desc *d;
    const float *wt, *bias, *src;
    int n, h, w;
} conv_run;

static int conv_fast(void *ctx, float *out)
{
    const conv_run *r = ctx;
    af_error err = {0};
    af_status st = af_conv_forward(r->c, r->src, out, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    return st;
}

static int conv_naive(void *ctx, float *out)
{
    const conv_run *r = ctx;
    af_conv_ref(r->d, r->wt, r->bias, r->n, r->h, r->w, r->src, out);
    return 0;
}

/* Runs one case through af_conv and af_conv_ref; returns 1 if within tolerance. */
static int run_conv_case(af_engine *e, const af_conv_weights *cw, const float *wt,
                         const float *bias, const af_conv_desc *d, int n, int h, int w,
                         int threads) /* threads 0: naive path */
{
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    size_t ni = (size_t)n * h * w * d->cin, no = (size_t)n * oh * ow * d->cout;
    float *src = t_rand_buf(ni, 1.0f);
    af_conv *c = NULL;
    af_error err = {0};
    int ok = 0;
    if (!src)
        goto done;
    af_status st = threads ? af_conv_create(e, cw, n, h, w, threads, &c, &err)
                           : af_conv_create_naive(e, cw, n, h, w, &c, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (st)
        goto done;
    conv_run r = {c, d, wt, bias, src, n, h, w};
    char shape[160];
    snprintf(shape, sizeof shape, "%3d->%3d k%d s%d p%d %s%s n%d %2dx%-2d t%d (%s%s)", d->cin,
             d->cout, d->k, d->stride, d->pad, d->act ? "silu" : "none", bias ? "+b" : "  ", n,
             h, w, threads, af_conv_impl(c),
             af_conv_get_path(c) == AF_CONV_DNNL_PRIVATE ? ", private weights" : "");
    ok = t_vs_naive("conv", shape, no, 1e-4, conv_fast, conv_naive, &r);
    /* The oneDNN path must be a real kernel, not its slow reference. */
    if (threads)
        CHECK_MSG(strncmp(af_conv_impl(c), "ref", 3) != 0, "slow kernel %s", af_conv_impl(c));
    else
        CHECK(af_conv_get_path(c) == AF_CONV_REF);
done:
    af_conv_free(c);
    free(src);
    return ok;
}

static void test_conv_vs_ref(void)
{
    static const conv_case cases[] = {
        {{3, 16, 3, 2, 1, AF_ACT_SILU}, 1, 33, 31, 1}, /* first layer, odd size */
        {{3, 16, 3, 2, 1, AF_ACT_SILU}, 2, 13, 17, 1},
        {{16, 24, 3, 1, 1, AF_ACT_SILU}, 2, 13, 17, 1},
        {{16, 32, 3, 2, 1, AF_ACT_SILU}, 1, 13, 17, 1},
        {{32, 20, 1, 1, 0, AF_ACT_SILU}, 1, 13, 17, 1}, /* cout not a multiple of 8 */
        {{8, 13, 3, 2, 1, AF_ACT_NONE}, 2, 13, 17, 0},
        {{24, 40, 3, 1, 0, AF_ACT_NONE}, 1, 9, 11, 1}, /* pad 0 */
        {{5, 7, 3, 2, 0, AF_ACT_SILU}, 1, 15, 15, 0},
        {{64, 64, 1, 1, 0, AF_ACT_NONE}, 2, 7, 5, 1}, /* detect head output conv */
        {{48, 80, 3, 1, 1, AF_ACT_SILU}, 1, 10, 10, 1},
        {{96, 1, 1, 1, 0, AF_ACT_NONE}, 1, 6, 9, 1}, /* nc = 1 */
        {{40, 24, 1, 1, 0, AF_ACT_SILU}, 2, 13, 17, 0},
        {{16, 8, 1, 2, 0, AF_ACT_SILU}, 1, 13, 17, 1}, /* 1x1 stride 2 */
        {{3, 5, 1, 2, 0, AF_ACT_NONE}, 1, 13, 17, 1},  /* oneDNN 2.6: private weights */
        {{8, 16, 5, 1, 2, AF_ACT_SILU}, 1, 7, 6, 1},
    };
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *cc = &cases[i];
        const af_conv_desc *d = &cc->d;
        size_t nw = (size_t)d->cout * d->cin * d->k * d->k;
        float scale = 1.0f / sqrtf((float)(d->cin * d->k * d->k));
        float *wt = t_rand_buf(nw, scale), *bias = cc->bias ? t_rand_buf((size_t)d->cout, 0.5f) : NULL;
        af_conv_weights *cw = NULL;
        af_status st = af_conv_weights_create(e, d, wt, bias, &cw, &err);
        CHECK_MSG(st == AF_OK, "%s", err.msg);
        if (st == AF_OK) {
            run_conv_case(e, cw, wt, bias, d, cc->n, cc->h, cc->w, 1);
            if (i % 3 == 0)
                run_conv_case(e, cw, wt, bias, d, cc->n, cc->h, cc->w, 2);
            if (i % 4 == 1) /* the fallback path, weights back from the blocked format */
                run_conv_case(e, cw, wt, bias, d, cc->n, cc->h, cc->w, 0);
        }
        af_conv_weights_free(cw);
        free(wt), free(bias);
    }
    af_engine_free(e);
}

/* One prepared weights object used for several input shapes. */
static void test_conv_weights_two_shapes(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    const af_conv_desc ds[2] = {{32, 24, 3, 1, 1, AF_ACT_SILU}, {24, 40, 1, 1, 0, AF_ACT_SILU}};
    for (int k = 0; k < 2; k++) {
        const af_conv_desc *d = &ds[k];
        size_t nw = (size_t)d->cout * d->cin * d->k * d->k;
        float *wt = t_rand_buf(nw, 0.2f), *bias = t_rand_buf((size_t)d->cout, 0.5f);
        af_conv_weights *cw = NULL;
        af_status st = af_conv_weights_create(e, d, wt, bias, &cw, &err);
        CHECK_MSG(st == AF_OK, "%s", err.msg);
        if (st == AF_OK) {
            run_conv_case(e, cw, wt, bias, d, 1, 13, 17, 1);
            run_conv_case(e, cw, wt, bias, d, 2, 20, 8, 2);
            run_conv_case(e, cw, wt, bias, d, 1, 3, 2, 1); /* tiny: borders everywhere */
            /* 1x1 input: oneDNN 2.6 picks gemm for the 3x3 and wants other weights */
            run_conv_case(e, cw, wt, bias, d, 1, 1, 1, 1);
            run_conv_case(e, cw, wt, bias, d, 1, 13, 17, 1); /* first shape again */
        }
        af_conv_weights_free(cw);
        free(wt), free(bias);
    }
    af_engine_free(e);
}

/* ---- two threads, one weights object ---- */

typedef struct thread_job {
    af_engine *e;
    const af_conv_weights *cw;
    const float *src;
    float *dst;
    int n, h, w, threads, iters;
    af_status st;
    int stable; /* every iteration gave the same bits */
} thread_job;

static void *conv_thread(void *arg)
{
    thread_job *j = arg;
    af_conv *c = NULL;
    j->st = af_conv_create(j->e, j->cw, j->n, j->h, j->w, j->threads, &c, NULL);
    if (j->st)
        return NULL;
    int oh, ow;
    af_conv_get_out_hw(c, &oh, &ow);
    size_t no = (size_t)j->n * oh * ow * af_conv_weights_desc(j->cw)->cout;
    float *tmp = malloc(no * sizeof *tmp);
    j->stable = tmp != NULL;
    for (int it = 0; it < j->iters && !j->st && tmp; it++) {
        j->st = af_conv_forward(c, j->src, it ? tmp : j->dst, NULL);
        if (it && memcmp(tmp, j->dst, no * sizeof *tmp) != 0)
            j->stable = 0;
    }
    free(tmp);
    af_conv_free(c);
    return NULL;
}

static void test_conv_two_threads(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    const af_conv_desc d = {24, 40, 3, 1, 1, AF_ACT_SILU};
    const int n = 1, h = 19, w = 23;
    size_t nw = (size_t)d.cout * d.cin * 9, ni = (size_t)n * h * w * d.cin,
           no = (size_t)n * h * w * d.cout;
    float *wt = t_rand_buf(nw, 0.2f), *bias = t_rand_buf((size_t)d.cout, 0.5f), *src = t_rand_buf(ni, 1);
    float *out[2] = {calloc(no, sizeof(float)), calloc(no, sizeof(float))};
    float *want = malloc(no * sizeof(float));
    af_conv_weights *cw = NULL;
    REQUIRE(wt && bias && src && out[0] && out[1] && want);
    REQUIRE(af_conv_weights_create(e, &d, wt, bias, &cw, &err) == AF_OK);
    int prev = af_engine_max_threads(e);
    for (int t = 1; t <= 2; t++) { /* each worker single- then multi-threaded */
        thread_job jobs[2];
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            jobs[i] = (thread_job){e, cw, src, out[i], n, h, w, t, 8, AF_OK, 0};
            REQUIRE(pthread_create(&th[i], NULL, conv_thread, &jobs[i]) == 0);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            CHECK(jobs[i].st == AF_OK);
            CHECK(jobs[i].stable);
        }
        CHECK(memcmp(out[0], out[1], no * sizeof(float)) == 0);
        af_conv_ref(&d, wt, bias, n, h, w, src, want);
        double ma, mr;
        CHECK(t_compare(out[0], want, no, 1e-4, &ma, &mr) == 0);
        printf("  2 workers x %d OpenMP threads: identical, max abs %.2e vs reference\n", t, ma);
    }
    CHECK(af_engine_max_threads(e) == prev); /* the caller's OpenMP setting is untouched */
    af_conv_weights_free(cw);
    free(wt), free(bias), free(src), free(out[0]), free(out[1]), free(want);
    af_engine_free(e);
}

static void test_conv_thread_setting(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    int prev = af_engine_max_threads(e);
    int was = af_engine_set_threads(e, 3);
    CHECK(was == prev);
    CHECK(af_engine_max_threads(e) == 3 || was == 0); /* 0: OpenMP not reachable */
    af_engine_restore_threads(e, was);
    CHECK(af_engine_max_threads(e) == prev);
    af_engine_free(e);
}

static void test_conv_errors(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    float wt[27] = {0};
    af_conv_weights *cw = NULL;
    af_conv_desc bad[] = {{0, 1, 3, 1, 1, AF_ACT_NONE}, {3, 1, 0, 1, 0, AF_ACT_NONE},
                          {3, 1, 3, 0, 1, AF_ACT_NONE}, {3, 1, 3, 1, 3, AF_ACT_NONE},
                          {3, 1, 3, 1, 1, (af_act)7}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(af_conv_weights_create(e, &bad[i], wt, NULL, &cw, &err) == AF_E_ARG);
        CHECK(cw == NULL);
    }
    af_conv_desc d = {3, 1, 3, 1, 0, AF_ACT_NONE};
    REQUIRE(af_conv_weights_create(e, &d, wt, NULL, &cw, &err) == AF_OK);
    af_conv *c = NULL;
    CHECK(af_conv_create(e, cw, 1, 2, 5, 1, &c, &err) == AF_E_ARG); /* smaller than kernel */
    CHECK(strstr(err.msg, "conv") != NULL);
    CHECK(af_conv_create(e, cw, 0, 5, 5, 1, &c, &err) == AF_E_ARG);
    CHECK(af_conv_create(e, cw, 1, 1 << 20, 1 << 20, 1, &c, &err) == AF_E_LIMIT);
    CHECK(c == NULL);
    af_conv_weights_free(cw);
    af_engine_free(e);
}

/* ---- max pool ---- */

static void test_maxpool_hand(void)
{
    /* 1x3x3x1, k3 s1 p1: padding never wins even for negative values. */
    const float x[9] = {-5, -1, -7, -2, -9, -3, -8, -4, -6};
    float y[9];
    af_error err;
    REQUIRE(af_maxpool(1, 3, 3, 1, 3, 1, 1, x, y, 1, &err) == AF_OK);
    const float want[9] = {-1, -1, -1, -1, -1, -1, -2, -2, -3};
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(y[i], want[i], 0);
    af_maxpool_ref(1, 3, 3, 1, 3, 1, 1, x, y);
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(y[i], want[i], 0);
    int oh, ow;
    af_maxpool_out_hw(20, 20, 5, 1, 2, &oh, &ow);
    CHECK(oh == 20 && ow == 20);
    af_maxpool_out_hw(7, 8, 2, 2, 0, &oh, &ow);
    CHECK(oh == 3 && ow == 4);
    CHECK(af_maxpool(1, 3, 3, 1, 3, 1, 2, x, y, 1, &err) == AF_E_ARG); /* p > k/2 */
    CHECK(af_maxpool(1, 3, 3, 1, 0, 1, 0, x, y, 1, &err) == AF_E_ARG);
    CHECK(af_maxpool(1, 2, 2, 1, 5, 1, 0, x, y, 1, &err) == AF_E_ARG);
}

typedef struct pool_case {
    int n, h, w, c, k, s, p, threads;
    const float *src;
} pool_case;

static int maxpool_fast(void *ctx, float *out)
{
    const pool_case *q = ctx;
    af_error err;
    return af_maxpool(q->n, q->h, q->w, q->c, q->k, q->s, q->p, q->src, out, q->threads, &err);
}

static int maxpool_naive(void *ctx, float *out)
{
    const pool_case *q = ctx;
    af_maxpool_ref(q->n, q->h, q->w, q->c, q->k, q->s, q->p, q->src, out);
    return 0;
}

static void test_maxpool_vs_ref(void)
{
    static const int cases[][7] = {
        /* n h w c k s p */
        {2, 13, 17, 24, 5, 1, 2}, /* SPPF */
        {1, 20, 20, 3, 5, 1, 2},  {1, 9, 10, 8, 3, 2, 1}, {1, 7, 7, 5, 2, 2, 0},
        {2, 6, 5, 4, 1, 1, 0},    {1, 4, 4, 9, 5, 1, 2},  /* window wider than the image */
        {1, 11, 8, 6, 4, 3, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *c = cases[i];
        int oh, ow;
        af_maxpool_out_hw(c[1], c[2], c[4], c[5], c[6], &oh, &ow);
        size_t ni = (size_t)c[0] * c[1] * c[2] * c[3], no = (size_t)c[0] * oh * ow * c[3];
        float *src = t_rand_buf(ni, 1);
        REQUIRE(src);
        for (int t = 1; t <= 2; t++) {
            pool_case q = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], t, src};
            char shape[96];
            snprintf(shape, sizeof shape, "n%d %dx%dx%d k%d s%d p%d t%d", c[0], c[1], c[2], c[3],
                     c[4], c[5], c[6], t);
            t_vs_naive("maxpool", shape, no, 0, maxpool_fast, maxpool_naive, &q);
        }
        free(src);
    }
}

/* ---- upsample, concat, slice ---- */

typedef struct up_case {
    int n, h, w, c, threads;
    const float *src;
} up_case;

static int upsample_fast(void *ctx, float *out)
{
    const up_case *u = ctx;
    af_upsample_nearest2x(u->n, u->h, u->w, u->c, u->src, out, u->threads);
    return 0;
}

static int upsample_naive(void *ctx, float *out)
{
    const up_case *u = ctx;
    af_upsample2x_ref(u->n, u->h, u->w, u->c, u->src, out);
    return 0;
}

static void test_upsample(void)
{
    const float x[8] = {1, 10, 2, 20, 3, 30, 4, 40}; /* 1x2x2x2 */
    float y[32], r[32];
    af_upsample_nearest2x(1, 2, 2, 2, x, y, 1);
    const float row0[8] = {1, 10, 1, 10, 2, 20, 2, 20}, row3[8] = {3, 30, 3, 30, 4, 40, 4, 40};
    for (int i = 0; i < 8; i++) {
        CHECK_NEAR(y[i], row0[i], 0);
        CHECK_NEAR(y[8 + i], row0[i], 0);
        CHECK_NEAR(y[16 + i], row3[i], 0);
        CHECK_NEAR(y[24 + i], row3[i], 0);
    }
    af_upsample2x_ref(1, 2, 2, 2, x, r);
    CHECK(memcmp(y, r, sizeof y) == 0);
    const int n = 2, h = 5, w = 7, c = 12;
    size_t ni = (size_t)n * h * w * c;
    float *src = t_rand_buf(ni, 1);
    REQUIRE(src);
    for (int t = 1; t <= 2; t++) {
        up_case u = {n, h, w, c, t, src};
        char shape[64];
        snprintf(shape, sizeof shape, "n%d %dx%dx%d t%d", n, h, w, c, t);
        t_vs_naive("upsample 2x", shape, 4 * ni, 0, upsample_fast, upsample_naive, &u);
    }
    free(src);
}

static void test_concat_and_slice(void)
{
    /* hand case: 2 pixels, channels 1 + 2 */
    const float a[2] = {1, 2}, b[4] = {10, 11, 20, 21};
    const float *srcs[2] = {a, b};
    const int cs[2] = {1, 2};
    float y[6];
    af_concat_channels(2, 2, srcs, cs, y);
    const float want[6] = {1, 10, 11, 2, 20, 21};
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(y[i], want[i], 0);
    float s[4];
    af_copy_channels(2, 3, 1, 2, y, s);
    CHECK(s[0] == 10 && s[1] == 11 && s[2] == 20 && s[3] == 21);

    const size_t npix = 2 * 13 * 17;
    const int cc[4] = {16, 3, 8, 16};
    float *in[4], *got, *ref, *g2, *r2;
    int ctot = 0;
    for (int i = 0; i < 4; i++)
        in[i] = t_rand_buf(npix * cc[i], 1), ctot += cc[i];
    got = malloc(npix * ctot * sizeof(float)), ref = malloc(npix * ctot * sizeof(float));
    g2 = malloc(npix * 11 * sizeof(float)), r2 = malloc(npix * 11 * sizeof(float));
    REQUIRE(in[0] && in[1] && in[2] && in[3] && got && ref && g2 && r2);
    af_concat_channels(npix, 4, (const float *const *)in, cc, got);
    af_concat_channels_ref(npix, 4, (const float *const *)in, cc, ref);
    CHECK(memcmp(got, ref, npix * ctot * sizeof(float)) == 0);
    af_copy_channels(npix, ctot, 16, 11, got, g2); /* spans two inputs */
    af_copy_channels_ref(npix, ctot, 16, 11, ref, r2);
    CHECK(memcmp(g2, r2, npix * 11 * sizeof(float)) == 0);
    CHECK(g2[0] == in[1][0] && g2[3] == in[2][0]);
    for (int i = 0; i < 4; i++)
        free(in[i]);
    free(got), free(ref), free(g2), free(r2);
}

/* ---- activations ---- */

static void test_activations(void)
{
    const size_t n = 1003; /* not a multiple of the vector width */
    float *x = t_rand_buf(n, 20), *a = malloc(n * sizeof(float)), *r = malloc(n * sizeof(float));
    REQUIRE(x && a && r);
    const float special[] = {0, -0.0f, 1, -1, 87, -87, 88.5f, -88.5f, 100, -100, 1e-8f, -30};
    memcpy(x, special, sizeof special);
    for (int f = 0; f < 2; f++) {
        memcpy(a, x, n * sizeof(float));
        memcpy(r, x, n * sizeof(float));
        if (f == 0)
            af_silu_inplace(a, n), af_silu_ref(r, n);
        else
            af_sigmoid_inplace(a, n), af_sigmoid_ref(r, n);
        double max_rel = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)a[i] - r[i]);
            CHECK_MSG(d <= 4e-7 * fabs(r[i]) + 1e-30 || (fabs(x[i]) > 87 && d <= 1e-30),
                      "%s(%.9g) = %.9g, want %.9g", f ? "sigmoid" : "silu", x[i], a[i], r[i]);
            if (fabs(x[i]) < 87 && r[i] != 0 && d / fabs(r[i]) > max_rel)
                max_rel = d / fabs(r[i]);
        }
        printf("  %s: max rel error %.2e over %zu values\n", f ? "sigmoid" : "silu", max_rel, n);
    }
    memcpy(r, x, sizeof special);
    af_silu_ref(r, 4);
    CHECK_NEAR(r[2], 0.7310585786, 1e-7);
    CHECK_NEAR(r[3], -0.2689414214, 1e-7);
    af_sigmoid_ref(r, 1);
    CHECK_NEAR(r[0], 0.5, 0);
    free(x), free(a), free(r);
    /* the residual add: 1 thread on a short vector, 2 on one split into chunks */
    for (int t = 1; t <= 2; t++) {
        const size_t len = t == 1 ? n : 100003;
        float *p = t_rand_buf(len, 3), *q = t_rand_buf(len, 3), *want = malloc(len * sizeof(float));
        REQUIRE(p && q && want);
        memcpy(want, p, len * sizeof(float));
        af_add_ref(want, q, len);
        af_add_inplace(p, q, len, t);
        CHECK_MSG(memcmp(p, want, len * sizeof(float)) == 0, "%d threads", t);
        free(p), free(q), free(want);
    }
}

/* ---- bf16 ---- */

/* Independent reference: of the two bf16 values around x (truncation and the
 * next one away from zero), the nearer in double; on a tie the even one. */
static uint16_t bf16_nearest_ref(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double dlo = fabs((double)af_bf16_to_f32(lo) - x), dhi = fabs((double)af_bf16_to_f32(hi) - x);
    if (dlo < dhi)
        return lo;
    if (dhi < dlo)
        return hi;
    return (lo & 1) ? hi : lo;
}

static void test_bf16_rounding(void)
{
    CHECK(af_bf16_from_f32(1.0f) == 0x3f80);
    CHECK(af_bf16_from_f32(-2.0f) == 0xc000);
    CHECK(af_bf16_from_f32(0.0f) == 0x0000);
    CHECK(af_bf16_from_f32(-0.0f) == 0x8000);
    CHECK(af_bf16_from_f32(1.0f + 1.0f / 256) == 0x3f80);       /* tie -> even (down) */
    CHECK(af_bf16_from_f32(1.0f + 3.0f / 256) == 0x3f82);       /* tie -> even (up) */
    CHECK(af_bf16_from_f32(1.0f + 1.0f / 256 + 1e-6f) == 0x3f81); /* past the tie */
    CHECK(af_bf16_from_f32(INFINITY) == 0x7f80);
    CHECK(af_bf16_from_f32(-INFINITY) == 0xff80);
    CHECK(af_bf16_from_f32(3.4028235e38f) == 0x7f80); /* FLT_MAX rounds to inf, as torch */
    uint16_t qn = af_bf16_from_f32(NAN);
    CHECK((qn & 0x7f80) == 0x7f80 && (qn & 0x007f) != 0);
    uint32_t snan_bits = 0x7f800001u; /* a NaN whose payload lies only in the low bits */
    float snan;
    memcpy(&snan, &snan_bits, sizeof snan);
    uint16_t b = af_bf16_from_f32(snan);
    CHECK((b & 0x7f80) == 0x7f80 && (b & 0x007f) != 0); /* still a NaN, not inf */
    /* random finite floats of every magnitude against the reference */
    uint32_t st = 99;
    size_t n = 200001, bad = 0;
    float *x = malloc(n * sizeof *x);
    uint16_t *y = malloc(n * sizeof *y);
    REQUIRE(x && y);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        do {
            st = st * 1664525u + 1013904223u;
            u = st ^ (st >> 13) * 2654435761u;
        } while ((u & 0x7f800000u) == 0x7f800000u || (u & 0x7fffffffu) >= 0x7f7f8000u);
        memcpy(&x[i], &u, sizeof u);
    }
    /* n odd: the vector path's scalar tail runs too. Denormal inputs may give
     * a signed zero instead (VCVTNE2PS2BF16 on avx512_bf16 CPUs, documented) */
    af_bf16_from_f32_array(x, y, n, 2);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        const int denormal = (u & 0x7f800000u) == 0 && (u & 0x007fffffu);
        const uint16_t zero = (uint16_t)((u >> 16) & 0x8000u);
        bad += y[i] != bf16_nearest_ref(x[i]) && !(denormal && y[i] == zero);
    }
    CHECK_MSG(bad == 0, "%zu of %zu conversions differ from the nearest-even reference", bad, n);
    free(x);
    free(y);
}

/* bf16 convolutions: where oneDNN has no bf16 kernel (CPUs without
 * avx512_bf16/AMX, such as this project's CI machine) the switch is refused
 * with AF_E_UNSUPPORTED and the weights keep working in fp32; where it has
 * one, the bf16 conv equals the reference conv run on bf16-rounded inputs and
 * weights (float32 accumulation) to accumulation-order tolerance. */
static void test_conv_bf16(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    const char *isa = NULL;
    int has = af_engine_has_bf16(e, &isa);
    CHECK(isa != NULL && *isa);
    static const af_conv_desc ds[] = {{16, 32, 3, 1, 1, AF_ACT_SILU}, {32, 1, 1, 1, 0, AF_ACT_NONE},
                                      {3, 16, 3, 2, 1, AF_ACT_SILU}};
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
        const af_conv_desc *d = &ds[k];
        size_t nw = (size_t)d->cout * d->cin * d->k * d->k;
        float *wt = t_rand_buf(nw, 0.3f), *bias = t_rand_buf((size_t)d->cout, 0.5f);
        af_conv_weights *cw = NULL;
        REQUIRE(af_conv_weights_create(e, d, wt, bias, &cw, &err) == AF_OK);
        af_status st = af_conv_weights_to_bf16(cw, &err);
        if (!has) {
            CHECK(st == AF_E_UNSUPPORTED);
            CHECK(!af_conv_weights_is_bf16(cw));
            run_conv_case(e, cw, wt, bias, d, 1, 13, 17, 2); /* still a working fp32 conv */
        } else {
            CHECK_MSG(st == AF_OK, "%s", err.msg);
            CHECK(af_conv_weights_is_bf16(cw));
            int h = 13, w = 17, oh, ow;
            af_conv_out_hw(d, h, w, &oh, &ow);
            size_t ni = (size_t)h * w * d->cin, no = (size_t)oh * ow * d->cout;
            float *src = t_rand_buf(ni, 1.0f), *got = malloc(no * sizeof *got),
                  *want = malloc(no * sizeof *want), *wr = malloc(nw * sizeof *wr);
            REQUIRE(src && got && want && wr);
            for (size_t i = 0; i < nw; i++)
                wr[i] = af_bf16_to_f32(af_bf16_from_f32(wt[i]));
            af_conv *c = NULL;
            REQUIRE(af_conv_create(e, cw, 1, h, w, 2, &c, &err) == AF_OK);
            CHECK(af_conv_forward(c, src, got, &err) == AF_OK);
            float *src_r = malloc(ni * sizeof *src_r);
            REQUIRE(src_r != NULL);
            for (size_t i = 0; i < ni; i++)
                src_r[i] = af_bf16_to_f32(af_bf16_from_f32(src[i]));
            af_conv_ref(d, wr, bias, 1, h, w, src_r, want);
            double ma, mr;
            size_t bad = t_compare(got, want, no, 1e-4, &ma, &mr);
            printf("  bf16 conv %d->%d k%d: max abs %.2e (%s)\n", d->cin, d->cout, d->k, ma,
                   af_conv_impl(c));
            CHECK_MSG(bad == 0, "%zu outputs off (max abs %.3g)", bad, ma);
            af_conv_free(c);
            /* the forward pass's layouts: planar or blocked input, blocked output, both blocks */
            for (int bs = 8; bs <= 16; bs += 8) {
                const af_layout bl = af_blk_layout(bs), sl = d->cin == 3 ? AF_LAYOUT_NCHW : bl;
                float *xin = malloc(af_blk_elems(bs, 1, h, w, d->cin) * sizeof *xin),
                      *y = malloc(af_blk_elems(bs, 1, oh, ow, d->cout) * sizeof *y);
                af_conv_weights *bw = NULL;
                REQUIRE(xin && y &&
                        af_conv_weights_create_for(e, d, wt, bias, sl, bl, &bw, &err) == AF_OK);
                /* oneDNN's direct bf16 kernels (else a 3x3 stride-1 conv from 16
                 * channels goes to bf16 Winograd: test_conv_winograd_bf16*) */
                CHECK(af_conv_weights_set_winograd(bw, 0, &err) == AF_OK);
                CHECK_MSG(af_conv_weights_to_bf16(bw, &err) == AF_OK, "%s", err.msg);
                CHECK(af_conv_weights_winograd(bw) == 0); /* direct asked: direct kept */
                if (sl == AF_LAYOUT_NCHW)
                    af_nhwc_to_nchw(1, h, w, d->cin, src, xin, 1);
                else
                    af_nhwc_to_blk(bs, 1, h, w, d->cin, src, xin);
                REQUIRE(af_conv_create_for(e, bw, 1, h, w, 2, sl, bl, &c, &err) == AF_OK);
                CHECK(af_conv_forward(c, xin, y, &err) == AF_OK);
                af_blk_to_nhwc(bs, 1, oh, ow, d->cout, y, got, 1);
                bad = t_compare(got, want, no, 1e-4, &ma, &mr);
                printf("  bf16 conv %d->%d k%d to nChw%dc: max abs %.2e (%s)\n", d->cin, d->cout,
                       d->k, bs, ma, af_conv_impl(c));
                CHECK_MSG(bad == 0, "%zu outputs off (max abs %.3g)", bad, ma);
                af_conv_free(c);
                /* bf16 activations (AF_CONV_SRC_BF16 | AF_CONV_DST_BF16), on oneDNN's
                 * kernel and on the naive loops: the input handed over in bf16 gives
                 * the same accumulation, and the output is the float one rounded to
                 * nearest even, as af_bf16_from_f32 rounds it */
                const size_t nbi = af_blk_elems(bs, 1, h, w, d->cin),
                             nbo = af_blk_elems(bs, 1, oh, ow, d->cout);
                uint16_t *x16 = malloc(nbi * sizeof *x16), *y16 = malloc(nbo * sizeof *y16);
                float *yf = malloc(nbo * sizeof *yf);
                REQUIRE(x16 && y16 && yf);
                for (size_t i = 0; i < nbi; i++)
                    x16[i] = af_bf16_from_f32(xin[i]);
                for (int naive = 0; naive < 2 && sl != AF_LAYOUT_NCHW; naive++) {
                    REQUIRE(af_conv_create_io(e, bw, 1, h, w, 2, sl, bl,
                                              AF_CONV_SRC_BF16 | AF_CONV_DST_BF16, NULL, naive,
                                              &c, &err) == AF_OK);
                    CHECK_MSG(af_conv_forward(c, x16, y16, &err) == AF_OK, "%s", err.msg);
                    for (size_t i = 0; i < nbo; i++)
                        yf[i] = af_bf16_to_f32(y16[i]);
                    af_blk_to_nhwc(bs, 1, oh, ow, d->cout, yf, got, 1);
                    size_t off = 0;
                    for (size_t i = 0; i < no; i++) {
                        const float r = af_bf16_to_f32(af_bf16_from_f32(want[i]));
                        /* one bf16 step (2^-8 relative) for accumulation-order ties */
                        off += fabsf(got[i] - r) > 1e-4f + fabsf(r) * (1.0f / 128);
                    }
                    printf("  bf16 in/out %d->%d k%d nChw%dc %s: %zu of %zu off (%s)\n", d->cin,
                           d->cout, d->k, bs, naive ? "naive" : "oneDNN", off, no,
                           af_conv_impl(c));
                    CHECK_MSG(off == 0, "%zu bf16 outputs off", off);
                    af_conv_free(c);
                }
                free(x16), free(y16), free(yf);
                af_conv_weights_free(bw);
                free(xin), free(y);
            }
            free(src), free(src_r), free(got), free(want), free(wr);
        }
        af_conv_weights_free(cw);
        free(wt), free(bias);
    }
    if (!has)
        printf("  bf16: not on this CPU (oneDNN ISA %s): refused, fp32 kept\n", isa);
    af_engine_free(e);
}

/* bf16 1x1 convs on ops/pointwise.h (bf16 weights, nChw16c on both sides,
 * avx512_bf16): against the reference conv run on bf16-rounded input and
 * weights (float32 sums: only their order differs), for odd channel counts
 * (padding lanes in and out, one and two 16-channel panels per kernel call),
 * a last block of pixels shorter than the kernel's 6 rows, a 1x1 image, 1
 * and 2 threads, and bf16 input and/or output (AF_CONV_SRC_BF16 /
 * AF_CONV_DST_BF16: the same sums; the output the float one rounded to
 * nearest even, within one bf16 step for sums that land near a tie). */
static void test_conv_pointwise_bf16(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    if (!af_pw_supported() || !af_engine_pointwise(e) || !af_engine_has_bf16(e, NULL)) {
        af_engine_free(e);
        SKIP("no avx512_bf16 here (or AF_POINTWISE=0, or oneDNN's ISA capped): path not used");
    }
    static const af_conv_desc ds[] = {{32, 32, 1, 1, 0, AF_ACT_SILU}, {48, 80, 1, 1, 0, AF_ACT_SILU},
                                      {37, 33, 1, 1, 0, AF_ACT_NONE}, {384, 256, 1, 1, 0, AF_ACT_SILU},
                                      {16, 1, 1, 1, 0, AF_ACT_NONE}};
    static const int shapes[][3] = {{2, 13, 11}, {1, 1, 1}, {1, 7, 7}};
    const af_layout bl = AF_LAYOUT_BLK16;
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++)
        for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
            const af_conv_desc *d = &ds[k];
            const int n = shapes[sh][0], h = shapes[sh][1], w = shapes[sh][2];
            const size_t nw = (size_t)d->cout * d->cin, ni = (size_t)n * h * w * d->cin,
                         no = (size_t)n * h * w * d->cout, nbi = af_blk_elems(16, n, h, w, d->cin),
                         nbo = af_blk_elems(16, n, h, w, d->cout);
            float *wt = t_rand_buf(nw, 0.3f), *bias = t_rand_buf((size_t)d->cout, 0.5f),
                  *x = t_rand_buf(ni, 1.0f), *wr = malloc(nw * sizeof *wr),
                  *xr = malloc(ni * sizeof *xr), *want = malloc(no * sizeof *want),
                  *got = malloc(no * sizeof *got), *xb = malloc(nbi * sizeof *xb),
                  *yb = malloc(nbo * sizeof *yb);
            uint16_t *x16 = malloc(nbi * sizeof *x16), *y16 = malloc(nbo * sizeof *y16);
            REQUIRE(wt && bias && x && wr && xr && want && got && xb && yb && x16 && y16);
            for (size_t i = 0; i < nw; i++)
                wr[i] = af_bf16_to_f32(af_bf16_from_f32(wt[i]));
            for (size_t i = 0; i < ni; i++)
                xr[i] = af_bf16_to_f32(af_bf16_from_f32(x[i]));
            af_conv_ref(d, wr, bias, n, h, w, xr, want);
            af_nhwc_to_blk(16, n, h, w, d->cin, x, xb);
            af_bf16_from_f32_array(xb, x16, nbi, 1);
            af_conv_weights *cw = NULL;
            REQUIRE(af_conv_weights_create_for(e, d, wt, bias, bl, bl, &cw, &err) == AF_OK);
            CHECK_MSG(af_conv_weights_to_bf16(cw, &err) == AF_OK, "%s", err.msg);
            for (int io = 0; io < 4; io++) {
                const int flags = (io & 1 ? AF_CONV_SRC_BF16 : 0) | (io & 2 ? AF_CONV_DST_BF16 : 0);
                af_conv *c = NULL;
                REQUIRE(af_conv_create_io(e, cw, n, h, w, 1 + io % 2, bl, bl, flags, NULL, 0, &c,
                                          &err) == AF_OK);
                CHECK(af_conv_get_path(c) == AF_CONV_POINTWISE);
                for (size_t i = 0; i < nbo; i++)
                    yb[i] = NAN, y16[i] = 0xffff;
                CHECK_MSG(af_conv_forward(c, io & 1 ? (const void *)x16 : xb,
                                          io & 2 ? (void *)y16 : yb, &err) == AF_OK,
                          "%s", err.msg);
                if (io & 2)
                    for (size_t i = 0; i < nbo; i++)
                        yb[i] = af_bf16_to_f32(y16[i]);
                af_blk_to_nhwc(16, n, h, w, d->cout, yb, got, 1);
                size_t off = 0;
                double worst = 0;
                for (size_t i = 0; i < no; i++) {
                    const float r = io & 2 ? af_bf16_to_f32(af_bf16_from_f32(want[i])) : want[i];
                    const double dv = fabs((double)got[i] - r);
                    off += !(dv <= 1e-4 + fabs(r) * (io & 2 ? 1.0 / 128 : 1e-5));
                    worst = dv > worst ? dv : worst;
                }
                /* the padding lanes of the last output block: zeros */
                size_t pad = 0;
                if (d->cout % 16)
                    for (int b = 0; b < n; b++)
                        for (size_t p = 0; p < (size_t)h * w; p++)
                            for (int l = d->cout % 16; l < 16; l++)
                                pad += yb[b * (nbo / n) + ((size_t)(d->cout / 16) * h * w + p) * 16 +
                                          l] != 0.0f;
                printf("  pointwise bf16 %3d->%3d %dx%dx%d io %d: max abs %.2e (%s)\n", d->cin,
                       d->cout, n, h, w, flags, worst, af_conv_impl(c));
                CHECK_MSG(off == 0 && pad == 0, "%zu of %zu outputs off, %zu padding lanes not 0",
                          off, no, pad);
                af_conv_free(c);
            }
            af_conv_weights_free(cw);
            free(wt), free(bias), free(x), free(wr), free(xr), free(want), free(got), free(xb);
            free(yb), free(x16), free(y16);
        }
    af_engine_free(e);
}

/* ---- int8 ---- */

/* The documented element position, written out independently of ops/blocked.c. */
static size_t blk_at(int blk, int c_total, int h, int w, int b, int c, int y, int x)
{
    size_t cp = (size_t)(c_total + blk - 1) / blk * blk;
    return (size_t)b * cp * h * w + (size_t)(c / blk) * h * w * blk + ((size_t)y * w + x) * blk +
           c % blk;
}

static const int blk_sizes[] = {8, 16};

/* s8 of v (round half to even, saturated), as oneDNN's reorders quantize. */
static float q8(float v)
{
    float r = nearbyintf(v);
    return r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r;
}

/* int8 convolutions in the forward pass's layouts (planar or blocked input,
 * blocked output, both blocks) against the reference conv run on the
 * quantized operands: the input quantized with range A (A -> 127, beyond
 * saturated: A is set below the data's largest value on purpose), the weights
 * per output channel (largest |w| -> 127), written out here independently.
 * Without VNNI oneDNN's s8 x s8 kernels take the weights at half that scale
 * (largest -> 63.5: its pmaddubsw pairs would saturate otherwise), so the
 * reference quantizes them so there; the largest weight of a channel then
 * lands on the tie 63.5, which oneDNN's float arithmetic may round either
 * way: one weight step (|x| * wmax / 63.5 <= 5e-3 here) is allowed there. */
static void test_conv_int8(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    static const af_conv_desc ds[] = {{16, 32, 3, 1, 1, AF_ACT_SILU}, {3, 16, 3, 2, 1, AF_ACT_SILU},
                                      {32, 5, 1, 1, 0, AF_ACT_NONE}, {64, 40, 3, 2, 1, AF_ACT_SILU}};
    const char *isa = "";
    af_engine_has_bf16(e, &isa);
    const float wq_max = strstr(isa, "vnni") || strstr(isa, "bf16") || strstr(isa, "amx")
                             ? 127.0f
                             : 63.5f;
    printf("  oneDNN ISA %s: weights to +-%g\n", isa, (double)wq_max);
    int ran = 0;
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++)
        for (int bs = 8; bs <= 16; bs += 8) {
            const af_conv_desc *d = &ds[k];
            const af_layout bl = af_blk_layout(bs), sl = d->cin == 3 ? AF_LAYOUT_NCHW : bl;
            int n = 2, h = 13, w = 11, oh, ow;
            af_conv_out_hw(d, h, w, &oh, &ow);
            size_t nw = (size_t)d->cout * d->cin * d->k * d->k, per = nw / (size_t)d->cout;
            size_t ni = (size_t)n * h * w * d->cin, no = (size_t)n * oh * ow * d->cout;
            float *wt = t_rand_buf(nw, 0.3f), *bias = t_rand_buf((size_t)d->cout, 0.5f);
            float *x = t_rand_buf(ni, 1.0f), *xq = malloc(ni * sizeof *xq),
                  *wq = malloc(nw * sizeof *wq), *want = malloc(no * sizeof *want),
                  *got = malloc(no * sizeof *got);
            float *xin = malloc(af_blk_elems(bs, n, h, w, d->cin) * sizeof *xin),
                  *y = malloc(af_blk_elems(bs, n, oh, ow, d->cout) * sizeof *y);
            REQUIRE(wt && bias && x && xq && wq && want && got && xin && y);
            const float A = 0.8f; /* rand_buf is within +-1: the rest saturates */
            for (size_t i = 0; i < ni; i++)
                xq[i] = q8(x[i] * (127.0f / A)) * (A / 127.0f);
            for (int o = 0; o < d->cout; o++) {
                float mx = 0;
                for (size_t i = 0; i < per; i++)
                    mx = fmaxf(mx, fabsf(wt[o * per + i]));
                for (size_t i = 0; i < per; i++)
                    wq[o * per + i] = q8(wt[o * per + i] * (wq_max / mx)) * (mx / wq_max);
            }
            af_conv_ref(d, wq, bias, n, h, w, xq, want);
            af_conv_weights *cw = NULL;
            REQUIRE(af_conv_weights_create_for(e, d, wt, bias, sl, bl, &cw, &err) == AF_OK);
            af_status st = af_conv_weights_to_int8(cw, A, &err);
            if (st == AF_E_UNSUPPORTED) {
                printf("  int8: %s\n", err.msg);
                af_conv_weights_free(cw);
                free(wt), free(bias), free(x), free(xq), free(wq), free(want), free(got);
                free(xin), free(y);
                continue;
            }
            CHECK_MSG(st == AF_OK, "%s", err.msg);
            CHECK(af_conv_weights_is_int8(cw));
            CHECK(af_conv_weights_to_bf16(cw, &err) == AF_E_ARG); /* one or the other */
            if (sl == AF_LAYOUT_NCHW)
                af_nhwc_to_nchw(n, h, w, d->cin, x, xin, 1);
            else
                af_nhwc_to_blk(bs, n, h, w, d->cin, x, xin);
            af_conv *c = NULL;
            REQUIRE(af_conv_create_for(e, cw, n, h, w, 2, sl, bl, &c, &err) == AF_OK);
            for (size_t i = 0; i < af_blk_elems(bs, n, oh, ow, d->cout); i++)
                y[i] = NAN;
            CHECK(af_conv_forward(c, xin, y, &err) == AF_OK);
            af_blk_to_nhwc(bs, n, oh, ow, d->cout, y, got, 1);
            double ma, mr;
            size_t bad = t_compare(got, want, no, wq_max == 127.0f ? 1e-4 : 5e-3, &ma, &mr);
            printf("  int8 conv %2d->%2d k%d s%d to nChw%dc: max abs %.2e (%s)\n", d->cin,
                   d->cout, d->k, d->stride, bs, ma, af_conv_impl(c));
            CHECK_MSG(bad == 0, "%zu of %zu outputs off (max abs %.3g)", bad, no, ma);
            size_t pad_bad = 0;
            for (int b = 0; b < n; b++)
                for (int ch = d->cout; ch < af_blk_pad(bs, d->cout); ch++)
                    for (int p = 0; p < oh * ow; p++)
                        pad_bad += y[blk_at(bs, d->cout, oh, ow, b, ch, p / ow, p % ow)] != 0.0f;
            CHECK(pad_bad == 0);
            ran++;
            af_conv_free(c);
            /* s8 handed over (AF_CONV_SRC_Q8 / AF_CONV_DST_Q8, NHWC): the input
             * quantized by hand gives the float path's output exactly; the s8
             * output is that output quantized for the reader (here the conv
             * itself: range A) to nearest, within one step at ties */
            int8_t *x8 = malloc(ni), *y8 = malloc(no);
            float *yq = malloc(af_blk_elems(bs, n, oh, ow, d->cout) * sizeof *yq),
                  *gq = malloc(no * sizeof *gq);
            REQUIRE(x8 && y8 && yq && gq);
            for (size_t i = 0; i < ni; i++)
                x8[i] = (int8_t)q8(x[i] * (127.0f / A));
            REQUIRE(af_conv_create_io(e, cw, n, h, w, 2, AF_LAYOUT_NHWC, bl, AF_CONV_SRC_Q8,
                                      NULL, 0, &c, &err) == AF_OK);
            CHECK_MSG(af_conv_forward(c, x8, yq, &err) == AF_OK, "%s", err.msg);
            af_blk_to_nhwc(bs, n, oh, ow, d->cout, yq, gq, 1);
            size_t diff_in = 0;
            for (size_t i = 0; i < no; i++)
                diff_in += gq[i] != got[i];
            af_conv_free(c);
            REQUIRE(af_conv_create_io(e, cw, n, h, w, 2, sl, AF_LAYOUT_NHWC, AF_CONV_DST_Q8, cw, 0,
                                      &c, &err) == AF_OK);
            CHECK_MSG(af_conv_forward(c, xin, y8, &err) == AF_OK, "%s", err.msg);
            size_t off1 = 0, off2 = 0;
            for (size_t i = 0; i < no; i++) {
                const float r = q8(got[i] * (127.0f / A));
                off1 += fabsf((float)y8[i] - r) == 1.0f;
                off2 += fabsf((float)y8[i] - r) > 1.0f;
            }
            printf("  int8 s8 in: %zu of %zu outputs differ; s8 out: %zu one step off, %zu "
                   "more (%s)\n",
                   diff_in, no, off1, off2, af_conv_impl(c));
            CHECK(diff_in == 0);
            CHECK(off2 == 0 && off1 * 100 <= no);
            af_conv_free(c);
            free(x8), free(y8), free(yq), free(gq);
            CHECK(af_conv_create_naive_for(e, cw, n, h, w, sl, bl, &c, &err) == AF_E_UNSUPPORTED);
            af_conv_weights_free(cw);
            free(wt), free(bias), free(x), free(xq), free(wq), free(want), free(got);
            free(xin), free(y);
        }
    af_engine_free(e);
    if (!ran)
        SKIP("oneDNN has no int8 kernel on this CPU");
}

/* ---- the blocked (nChw8c, nChw16c) layouts ---- */


/* NHWC value (b, c, y, x) of a tensor with C channels. */
static size_t nhwc_at(int c_total, int h, int w, int b, int c, int y, int x)
{
    return (((size_t)b * h + y) * w + x) * c_total + c;
}

static void test_blocked_layout(void)
{
    /* the last two are big enough for the conversions to split over threads */
    static const int shapes[][4] = {{1, 3, 5, 8},    {2, 4, 3, 13},   {1, 1, 1, 1},
                                    {3, 2, 7, 24},   {2, 3, 19, 3},   {2, 61, 47, 13},
                                    {1, 257, 131, 3}};
    for (size_t t = 0; t < 2 * sizeof shapes / sizeof shapes[0]; t++) {
        const int bs = blk_sizes[t % 2], *sh = shapes[t / 2];
        int n = sh[0], h = sh[1], w = sh[2], c = sh[3];
        size_t ne = (size_t)n * h * w * c, nb = af_blk_elems(bs, n, h, w, c);
        float *x = t_rand_buf(ne, 1.0f), *blk = malloc(nb * sizeof *blk),
              *back = malloc(ne * sizeof *back), *pl = malloc(ne * sizeof *pl);
        REQUIRE(x && blk && back && pl);
        for (size_t i = 0; i < nb; i++)
            blk[i] = NAN; /* padding must be written */
        af_nhwc_to_blk(bs, n, h, w, c, x, blk);
        size_t bad = 0;
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < af_blk_pad(bs, c); ch++)
                for (int yy = 0; yy < h; yy++)
                    for (int xx = 0; xx < w; xx++) {
                        float want = ch < c ? x[nhwc_at(c, h, w, b, ch, yy, xx)] : 0.0f;
                        bad += blk[blk_at(bs, c, h, w, b, ch, yy, xx)] != want;
                    }
        CHECK_MSG(bad == 0, "nhwc->blocked: %zu values misplaced (c=%d, blk %d)", bad, c, bs);
        af_blk_to_nhwc(bs, n, h, w, c, blk, back, 2);
        CHECK(memcmp(back, x, ne * sizeof *x) == 0);
        af_nhwc_to_nchw(n, h, w, c, x, pl, 2);
        bad = 0;
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < h * w; p++)
                    bad += pl[((size_t)b * c + ch) * h * w + p] != x[((size_t)b * h * w + p) * c + ch];
        CHECK(bad == 0);
        af_nchw_to_nhwc(n, h, w, c, pl, back);
        CHECK(memcmp(back, x, ne * sizeof *x) == 0);
        free(x), free(blk), free(back), free(pl);
    }
}

/* Concat and slice on the blocked layout equal the NHWC ones (checked
 * against the naive NHWC references), aligned parts and ragged ones. */
static void test_blocked_concat_and_slice(void)
{
    static const int parts[][3] = {{16, 8, 24}, {5, 11, 8}, {8, 3, 0}, {1, 1, 1}};
    const int n = 2;
    const size_t nparts = sizeof parts / sizeof parts[0];
    for (size_t tb = 0; tb < 4 * nparts; tb++) { /* small maps, then ones split over 2 threads */
        const size_t t = tb / 2;
        const int bs = blk_sizes[tb % 2];
        const int h = t < nparts ? 3 : 70, w = t < nparts ? 5 : 67;
        int cs[3], np = 0, ctot = 0;
        for (int i = 0; i < 3; i++)
            if (parts[t % nparts][i]) {
                cs[np++] = parts[t % nparts][i];
                ctot += parts[t % nparts][i];
            }
        size_t npix = (size_t)n * h * w;
        float *nh[3], *bk[3];
        for (int i = 0; i < np; i++) {
            nh[i] = t_rand_buf(npix * cs[i], 1.0f);
            bk[i] = malloc(af_blk_elems(bs, n, h, w, cs[i]) * sizeof(float));
            REQUIRE(nh[i] && bk[i]);
            af_nhwc_to_blk(bs, n, h, w, cs[i], nh[i], bk[i]);
        }
        float *want = malloc(npix * ctot * sizeof *want), *got = malloc(npix * ctot * sizeof *got);
        float *cat = malloc(af_blk_elems(bs, n, h, w, ctot) * sizeof *cat);
        REQUIRE(want && got && cat);
        for (size_t i = 0; i < af_blk_elems(bs, n, h, w, ctot); i++)
            cat[i] = NAN;
        af_concat_channels_ref(npix, np, (const float *const *)nh, cs, want);
        af_blk_concat(bs, n, h, w, np, (const float *const *)bk, cs, cat, t < nparts ? 1 : 2);
        af_blk_to_nhwc(bs, n, h, w, ctot, cat, got, 2);
        CHECK_MSG(memcmp(got, want, npix * ctot * sizeof *got) == 0, "concat case %zu blk %d", t,
                  bs);
        size_t zeros = 0;
        for (int b = 0; b < n; b++)
            for (int ch = ctot; ch < af_blk_pad(bs, ctot); ch++)
                for (int p = 0; p < h * w; p++)
                    zeros += cat[blk_at(bs, ctot, h, w, b, ch, p / w, p % w)] == 0.0f;
        CHECK(zeros == (size_t)n * (af_blk_pad(bs, ctot) - ctot) * h * w);
        /* slices: every offset and length of the concatenation */
        for (int off = 0; off < ctot; off += 3)
            for (int len = 1; off + len <= ctot; len += 5) {
                float *sb = malloc(af_blk_elems(bs, n, h, w, len) * sizeof *sb);
                float *sn = malloc(npix * len * sizeof *sn), *sr = malloc(npix * len * sizeof *sr);
                REQUIRE(sb && sn && sr);
                af_blk_copy_channels(bs, n, h, w, ctot, off, len, cat, sb);
                af_blk_to_nhwc(bs, n, h, w, len, sb, sn, 2);
                af_copy_channels_ref(npix, ctot, off, len, want, sr);
                CHECK_MSG(memcmp(sn, sr, npix * len * sizeof *sn) == 0, "slice %d+%d of %d", off,
                          len, ctot);
                free(sb), free(sn), free(sr);
            }
        for (int i = 0; i < np; i++)
            free(nh[i]), free(bk[i]);
        free(want), free(got), free(cat);
    }
}

/* Convolutions between the layouts the forward pass uses (planar input ->
 * blocked, blocked -> blocked), in both block sizes, fast kernel and the
 * naive fallback, against the NHWC reference. A block size foreign to this
 * CPU's kernels (nChw16c on AVX2) runs a real kernel between reorders, never
 * oneDNN's slow reference. */
static void test_conv_blocked_layouts(void)
{
    static const struct {
        af_conv_desc d;
        int planar;
    } cases[] = {{{3, 16, 3, 2, 1, AF_ACT_SILU}, 1},
                 {{16, 32, 3, 2, 1, AF_ACT_SILU}, 0},
                 {{32, 24, 1, 1, 0, AF_ACT_SILU}, 0},
                 {{24, 5, 1, 1, 0, AF_ACT_NONE}, 0}, /* padded output (nc) */
                 {{13, 16, 3, 1, 1, AF_ACT_SILU}, 0}, /* padded input */
                 {{64, 64, 3, 1, 1, AF_ACT_SILU}, 0},
                 {{40, 24, 3, 1, 1, AF_ACT_SILU}, 0}}; /* not whole 16-channel blocks */
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    printf("  engine's block: %d%s\n", af_engine_blk(e), af_engine_blk_forced(e) ? " (AF_BLK)" : "");
    for (size_t ib = 0; ib < 2 * sizeof cases / sizeof cases[0]; ib++) {
        const size_t i = ib / 2;
        const int bs = blk_sizes[ib % 2];
        const af_layout bl = af_blk_layout(bs), sl = cases[i].planar ? AF_LAYOUT_NCHW : bl;
        CHECK(af_layout_blk(bl) == bs);
        const af_conv_desc *d = &cases[i].d;
        int n = 2, h = 11, w = 9, oh, ow;
        af_conv_out_hw(d, h, w, &oh, &ow);
        size_t nw = (size_t)d->cout * d->cin * d->k * d->k;
        float *wt = t_rand_buf(nw, 0.3f), *bias = t_rand_buf((size_t)d->cout, 0.5f);
        size_t ni = (size_t)n * h * w * d->cin, no = (size_t)n * oh * ow * d->cout;
        float *x = t_rand_buf(ni, 1.0f), *want = malloc(no * sizeof *want);
        float *xin = malloc(af_blk_elems(bs, n, h, w, d->cin) * sizeof *xin);
        float *y = malloc(af_blk_elems(bs, n, oh, ow, d->cout) * sizeof *y),
              *got = malloc(no * sizeof *got);
        REQUIRE(wt && bias && x && want && xin && y && got);
        af_conv_ref(d, wt, bias, n, h, w, x, want);
        if (sl == AF_LAYOUT_NCHW)
            af_nhwc_to_nchw(n, h, w, d->cin, x, xin, 1);
        else
            af_nhwc_to_blk(bs, n, h, w, d->cin, x, xin);
        af_conv_weights *cw = NULL;
        REQUIRE(af_conv_weights_create_for(e, d, wt, bias, sl, bl, &cw, &err) == AF_OK);
        for (int naive = 0; naive < 2; naive++) {
            af_conv *c = NULL;
            af_status st = naive ? af_conv_create_naive_for(e, cw, n, h, w, sl, bl, &c, &err)
                                 : af_conv_create_for(e, cw, n, h, w, 2, sl, bl, &c, &err);
            CHECK_MSG(st == AF_OK, "%s", err.msg);
            if (st)
                continue;
            for (size_t k = 0; k < af_blk_elems(bs, n, oh, ow, d->cout); k++)
                y[k] = NAN; /* padding lanes must be written */
            CHECK(af_conv_forward(c, xin, y, &err) == AF_OK);
            af_blk_to_nhwc(bs, n, oh, ow, d->cout, y, got, 2);
            double ma, mr;
            size_t bad = t_compare(got, want, no, 1e-4, &ma, &mr);
            printf("  conv %2d->%2d k%d s%d %s->nChw%dc %s: max abs %.2e  %s\n", d->cin, d->cout,
                   d->k, d->stride, sl == AF_LAYOUT_NCHW ? "planar" : "blocked", bs,
                   naive ? "naive" : "oneDNN", ma, af_conv_impl(c));
            CHECK_MSG(bad == 0, "%zu outputs off (max abs %.3g)", bad, ma);
            if (!naive)
                CHECK_MSG(strncmp(af_conv_impl(c), "ref", 3) != 0, "slow kernel %s",
                          af_conv_impl(c));
            size_t pad_bad = 0; /* padding lanes of the output stay zero */
            for (int b = 0; b < n; b++)
                for (int ch = d->cout; ch < af_blk_pad(bs, d->cout); ch++)
                    for (int p = 0; p < oh * ow; p++)
                        pad_bad += y[blk_at(bs, d->cout, oh, ow, b, ch, p / ow, p % ow)] != 0.0f;
            CHECK(pad_bad == 0);
            af_conv_free(c);
        }
        af_conv_weights_free(cw);
        free(wt), free(bias), free(x), free(want), free(xin), free(y), free(got);
    }
    af_engine_free(e);
}

/* One Winograd-eligible convolution case against the naive NHWC reference,
 * through a list of runs: each first sets the tile m (-1: keep; stride 2 has
 * the one form S2 for any m > 0), then runs on `threads` in layout l; checks
 * the path taken, the outputs (F(4x4): about ten times the rounding error of
 * F(2x2) and of the direct kernels) and that the blocked output's padding
 * lanes stay zero. Returns the weights' OIHW round trip in *back. */
typedef struct wino_case {
    int cin, cout, n, h, w, bias, act;
} wino_case;

typedef struct wino_run {
    int m, threads;
    af_layout l;
} wino_run;

static void winograd_case(af_engine *e, int stride, const wino_case *wc, const wino_run *runs,
                          size_t nruns)
{
    const af_conv_desc dd = {wc->cin, wc->cout, 3, stride, 1, wc->act ? AF_ACT_SILU : AF_ACT_NONE},
                       *d = &dd;
    const int n = wc->n, h = wc->h, w = wc->w, with_bias = wc->bias;
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    af_error err = {0};
    size_t nw = (size_t)d->cout * d->cin * 9, ni = (size_t)n * h * w * d->cin,
           no = (size_t)n * oh * ow * d->cout;
    float *wt = t_rand_buf(nw, 0.2f), *bias = with_bias ? t_rand_buf((size_t)d->cout, 0.5f) : NULL;
    float *x = t_rand_buf(ni, 1.0f), *want = malloc(no * sizeof *want),
          *got = malloc(no * sizeof *got), *back = malloc(nw * sizeof *back);
    float *xb = malloc(af_blk_elems(16, n, h, w, d->cin) * sizeof *xb),
          *yb = malloc(af_blk_elems(16, n, oh, ow, d->cout) * sizeof *yb);
    REQUIRE(wt && (bias || !with_bias) && x && want && got && back && xb && yb);
    af_conv_ref(d, wt, bias, n, h, w, x, want);
    af_conv_weights *cw = NULL;
    REQUIRE(af_conv_weights_create_for(e, d, wt, bias, AF_LAYOUT_BLK8, AF_LAYOUT_BLK8, &cw,
                                       &err) == AF_OK);
    CHECK(af_conv_weights_winograd(cw) == 2);
    for (size_t r = 0; r < nruns; r++) {
        if (runs[r].m >= 0) {
            CHECK_MSG(af_conv_weights_set_winograd(cw, runs[r].m, &err) == AF_OK, "%s", err.msg);
            CHECK(af_conv_weights_winograd(cw) ==
                  (d->stride == 2 && runs[r].m ? 2 : runs[r].m));
        }
        const int m = af_conv_weights_winograd(cw);
        const af_layout l = runs[r].l;
        const int bs = af_layout_blk(l); /* 0: NHWC */
        if (bs)
            af_nhwc_to_blk(bs, n, h, w, d->cin, x, xb);
        af_conv *c = NULL;
        af_status st = af_conv_create_for(e, cw, n, h, w, runs[r].threads, l, l, &c, &err);
        CHECK_MSG(st == AF_OK, "%s", err.msg);
        if (st)
            continue;
        const int wino = af_conv_get_path(c) == AF_CONV_WINOGRAD;
        CHECK(wino == (m != 0 && bs != 0)); /* both blocks: the kernels take 8 lanes of either */
        if (wino)
            CHECK((strstr(af_conv_impl(c), "s2") != NULL) == (d->stride == 2));
        for (size_t k = 0; k < af_blk_elems(16, n, oh, ow, d->cout); k++)
            yb[k] = NAN;
        CHECK(af_conv_forward(c, l == AF_LAYOUT_NHWC ? x : xb, l == AF_LAYOUT_NHWC ? got : yb,
                              &err) == AF_OK);
        if (bs)
            af_blk_to_nhwc(bs, n, oh, ow, d->cout, yb, got, 2);
        double ma, mr, tol = wino && m == 4 ? 3e-4 : 2e-5;
        size_t bad = t_compare(got, want, no, tol, &ma, &mr);
        printf("  winograd s%d %3d->%3d n%d %2dx%-2d %s%s run %zu t%d blk%-2d: max abs %.2e rel "
               "%.2e  %s\n",
               d->stride, d->cin, d->cout, n, h, w, d->act ? "silu" : "none", bias ? "+b" : "  ",
               r, runs[r].threads, bs, ma, mr, af_conv_impl(c));
        CHECK_MSG(bad == 0, "%zu of %zu outputs off (max abs %.3g)", bad, no, ma);
        if (bs) {
            size_t pad_bad = 0; /* padding lanes of the output are written, as zeros */
            for (int b = 0; b < n; b++)
                for (int ch = d->cout; ch < af_blk_pad(bs, d->cout); ch++)
                    for (int p = 0; p < oh * ow; p++)
                        pad_bad += yb[blk_at(bs, d->cout, oh, ow, b, ch, p / ow, p % ow)] != 0.0f;
            CHECK(pad_bad == 0);
        }
        af_conv_free(c);
    }
    /* the transformed weights give the OIHW ones back: F(2x2) and F(4x4)
     * through their left inverses, S2 exactly (G's outer rows are unit vectors) */
    for (int m = 2; m <= (d->stride == 2 ? 2 : 4); m += 2) {
        af_wino_weights *ww = NULL;
        REQUIRE((d->stride == 2 ? af_wino_weights_create_s2(d->cin, d->cout, wt, bias, &ww, &err)
                                : af_wino_weights_create(m, d->cin, d->cout, wt, bias, &ww,
                                                         &err)) == AF_OK);
        CHECK(af_wino_weights_tile(ww) == m && af_wino_weights_stride(ww) == d->stride);
        af_wino_weights_oihw(ww, back);
        double ma, mr;
        CHECK_MSG(t_compare(back, wt, nw, d->stride == 2 ? 0.0 : m == 2 ? 1e-7 : 1e-6, &ma, &mr) == 0,
                  "F(%d) s%d OIHW round trip off by %.3g", m, d->stride, ma);
        af_wino_weights_free(ww);
    }
    af_conv_weights_free(cw);
    free(wt), free(bias), free(x), free(want), free(got), free(back), free(xb), free(yb);
}

/* The engine for the Winograd tests; 0 where it does not use them. */
static int winograd_engine(af_engine **e)
{
    af_error err = {0};
    if (af_engine_create(e, &err) != AF_OK) {
        *e = NULL;
        return 1; /* the test then fails on REQUIRE(e) */
    }
    if (!af_engine_winograd(*e)) {
        af_engine_free(*e);
        *e = NULL;
        return 0;
    }
    return 1;
}

/* Winograd F(2x2,3x3) and F(4x4,3x3) (ops/winograd.h) against the naive NHWC
 * reference: odd and tiny images (partial tiles, every border), channels that
 * are not multiples of 8 or 16 (padded lanes), batches, with and without bias
 * and SiLU, 1 and 2 threads; the weights turned into oneDNN's, into F(4x4)
 * ones and back, and run on NHWC through the private-weights path. */
static void test_conv_winograd(void)
{
    if (!af_wino_supported())
        SKIP("this CPU lacks AVX2/FMA: no Winograd kernels");
    static const wino_case cases[] = {
        {32, 32, 1, 8, 8, 1, 1},    {37, 33, 2, 11, 9, 1, 1}, {64, 48, 1, 1, 1, 1, 1},
        {40, 72, 3, 2, 3, 0, 0},    {96, 32, 1, 5, 16, 1, 0}, {33, 129, 1, 7, 7, 1, 1},
        {256, 64, 1, 20, 20, 1, 1}, {32, 40, 1, 13, 6, 1, 1}};
    static const wino_run runs[] = {{-1, 1, AF_LAYOUT_BLK8},  {-1, 2, AF_LAYOUT_BLK8},
                                    {-1, 2, AF_LAYOUT_BLK16}, {0, 2, AF_LAYOUT_BLK8},
                                    {4, 1, AF_LAYOUT_BLK8},   {-1, 2, AF_LAYOUT_BLK16},
                                    {-1, 2, AF_LAYOUT_BLK8},  {-1, 2, AF_LAYOUT_NHWC},
                                    {2, 2, AF_LAYOUT_BLK8},   {-1, 1, AF_LAYOUT_BLK16}};
    af_engine *e = NULL;
    if (!winograd_engine(&e))
        SKIP("AF_WINOGRAD=0: the Winograd path is off");
    REQUIRE(e != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        winograd_case(e, 1, &cases[i], runs, sizeof runs / sizeof runs[0]);
    /* not for stride 2 below 64 channels or past 512 x 512, 1x1, 16-channel,
     * stride 3 or NHWC convolutions */
    static const af_conv_desc no[] = {
        {32, 64, 3, 2, 1, AF_ACT_SILU},  {640, 640, 3, 2, 1, AF_ACT_SILU},
        {64, 64, 1, 1, 0, AF_ACT_SILU},  {16, 16, 3, 1, 1, AF_ACT_SILU},
        {64, 64, 3, 3, 1, AF_ACT_SILU},  {64, 64, 3, 1, 1, AF_ACT_SILU}};
    const size_t nno = sizeof no / sizeof no[0];
    af_error err = {0};
    for (size_t i = 0; i < nno; i++) {
        const af_conv_desc *d = &no[i];
        float *wt = t_rand_buf((size_t)d->cin * d->cout * (size_t)(d->k * d->k), 0.2f);
        af_conv_weights *cw = NULL;
        af_layout l = i == nno - 1 ? AF_LAYOUT_NHWC : AF_LAYOUT_BLK8;
        REQUIRE(wt && af_conv_weights_create_for(e, d, wt, NULL, l, l, &cw, &err) == AF_OK);
        CHECK(af_conv_weights_winograd(cw) == 0);
        CHECK(af_conv_weights_set_winograd(cw, 4, &err) == AF_OK && af_conv_weights_winograd(cw) == 0);
        af_conv_weights_free(cw);
        free(wt);
    }
    af_engine_free(e);
}

/* Stride-2 3x3 convolutions by the polyphase Winograd split (S2 in
 * ops/winograd.c), the same way: odd, even and tiny images, channels that are
 * not multiples of 8 or 16, batches, bias and SiLU or not, 1 and 2 threads,
 * the weights turned into oneDNN's and back, `fast` keeping S2 (its one
 * form), NHWC through the private-weights path; OIHW back exactly. */
static void test_conv_winograd_s2(void)
{
    if (!af_wino_supported())
        SKIP("this CPU lacks AVX2/FMA: no Winograd kernels");
    static const wino_case cases[] = {
        {64, 64, 1, 8, 8, 1, 1},  {67, 72, 2, 11, 9, 1, 1},   {64, 64, 1, 1, 1, 1, 1},
        {96, 65, 1, 2, 3, 0, 0},  {64, 128, 3, 5, 16, 1, 0},  {128, 64, 1, 20, 20, 1, 1},
        {72, 80, 1, 13, 6, 1, 1}, {64, 64, 1, 4, 4, 0, 1}};
    static const wino_run runs[] = {{-1, 1, AF_LAYOUT_BLK8},  {-1, 2, AF_LAYOUT_BLK8},
                                    {-1, 2, AF_LAYOUT_BLK16}, {0, 2, AF_LAYOUT_BLK8},
                                    {4, 1, AF_LAYOUT_BLK8},   {-1, 2, AF_LAYOUT_NHWC},
                                    {2, 2, AF_LAYOUT_BLK8},   {-1, 1, AF_LAYOUT_BLK16}};
    af_engine *e = NULL;
    if (!winograd_engine(&e))
        SKIP("AF_WINOGRAD=0: the Winograd path is off");
    REQUIRE(e != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        winograd_case(e, 2, &cases[i], runs, sizeof runs / sizeof runs[0]);
    af_engine_free(e);
}

/* bf16 Winograd (af_wino_weights_to_bf16: the products in bf16 by
 * VDPBF16PS, transforms in float) where the CPU has avx512_bf16, stride 1 as
 * F(4x4) (af_conv_weights_to_bf16 moves F(2x2) there) and S2, both blocks, on
 * random data. S2: against the float reference within bf16's rounding (3e-2
 * of the output scale here: 8 significant bits on each operand, sums of up to
 * 16 x cin products), and no more than 4x the error of oneDNN's direct bf16
 * conv on the same case (which rounds the untransformed operands). F(4x4)
 * rounds operands that its transforms have scaled up (B^T's rows sum to up to
 * 10 in magnitude) and its output transform multiplies by up to 8 along each
 * axis: within 64x direct's error (white-noise data is its worst case; in the
 * network, whose activations are smooth, the boxes moved 1.5x as far as with
 * direct bf16: bench/README.md). Its exact arithmetic: the test below. */
static void test_conv_winograd_bf16(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    if (!af_wino_supported() || !af_engine_winograd(e) || !af_engine_has_bf16(e, NULL) ||
        !__builtin_cpu_supports("avx512bf16")) {
        af_engine_free(e);
        SKIP("no bf16 (avx512_bf16, oneDNN's ISA) or Winograd off here: path not used");
    }
    static const af_conv_desc ds[] = {{64, 48, 3, 1, 1, AF_ACT_SILU},
                                      {37, 33, 3, 1, 1, AF_ACT_NONE},
                                      {64, 72, 3, 2, 1, AF_ACT_SILU}};
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++)
        for (int bs = 8; bs <= 16; bs += 8) {
            const af_conv_desc *d = &ds[k];
            const af_layout bl = af_blk_layout(bs);
            int n = 2, h = 13, w = 11, oh, ow;
            af_conv_out_hw(d, h, w, &oh, &ow);
            size_t nw = (size_t)d->cout * d->cin * 9, ni = (size_t)n * h * w * d->cin,
                   no = (size_t)n * oh * ow * d->cout;
            float *wt = t_rand_buf(nw, 0.2f), *bias = t_rand_buf((size_t)d->cout, 0.5f),
                  *x = t_rand_buf(ni, 1.0f), *want = malloc(no * sizeof *want),
                  *got = malloc(no * sizeof *got),
                  *xb = malloc(af_blk_elems(bs, n, h, w, d->cin) * sizeof *xb),
                  *yb = malloc(af_blk_elems(bs, n, oh, ow, d->cout) * sizeof *yb);
            REQUIRE(wt && bias && x && want && got && xb && yb);
            af_conv_ref(d, wt, bias, n, h, w, x, want);
            af_nhwc_to_blk(bs, n, h, w, d->cin, x, xb);
            double err_w = 0, err_d = 0;
            for (int wino = 1; wino >= 0; wino--) {
                af_conv_weights *cw = NULL;
                REQUIRE(af_conv_weights_create_for(e, d, wt, bias, bl, bl, &cw, &err) == AF_OK);
                if (!wino)
                    CHECK(af_conv_weights_set_winograd(cw, 0, &err) == AF_OK);
                CHECK(af_conv_weights_winograd(cw) == (wino ? 2 : 0));
                CHECK_MSG(af_conv_weights_to_bf16(cw, &err) == AF_OK, "%s", err.msg);
                CHECK(af_conv_weights_winograd(cw) == (wino ? (d->stride == 1 ? 4 : 2) : 0));
                af_conv *c = NULL;
                REQUIRE(af_conv_create_for(e, cw, n, h, w, 2, bl, bl, &c, &err) == AF_OK);
                CHECK((af_conv_get_path(c) == AF_CONV_WINOGRAD) == wino);
                for (size_t i = 0; i < af_blk_elems(bs, n, oh, ow, d->cout); i++)
                    yb[i] = NAN;
                CHECK(af_conv_forward(c, xb, yb, &err) == AF_OK);
                af_blk_to_nhwc(bs, n, oh, ow, d->cout, yb, got, 2);
                double ma, mr;
                const double tol = wino && d->stride == 1 ? 1.0 : 3e-2;
                size_t bad = t_compare(got, want, no, tol, &ma, &mr);
                printf("  bf16 %s s%d %2d->%2d nChw%dc: max abs %.2e  %s\n",
                       wino ? "winograd" : "direct  ", d->stride, d->cin, d->cout, bs, ma,
                       af_conv_impl(c));
                CHECK_MSG(bad == 0, "%zu of %zu outputs off (max abs %.3g)", bad, no, ma);
                *(wino ? &err_w : &err_d) = ma;
                if (wino) { /* bf16 activations (af_conv_create_io) leave the Winograd path,
                             * whose kernels read and write float, for oneDNN's */
                    af_conv *ci = NULL;
                    REQUIRE(af_conv_create_io(e, cw, n, h, w, 2, bl, bl, AF_CONV_SRC_BF16, NULL,
                                              0, &ci, &err) == AF_OK);
                    CHECK(af_conv_get_path(ci) != AF_CONV_WINOGRAD);
                    uint16_t *x16 = malloc(af_blk_elems(bs, n, h, w, d->cin) * sizeof *x16);
                    REQUIRE(x16 != NULL);
                    af_bf16_from_f32_array(xb, x16, af_blk_elems(bs, n, h, w, d->cin), 1);
                    CHECK(af_conv_forward(ci, x16, yb, &err) == AF_OK);
                    af_blk_to_nhwc(bs, n, oh, ow, d->cout, yb, got, 2);
                    bad = t_compare(got, want, no, 3e-2, &ma, &mr);
                    CHECK_MSG(bad == 0, "bf16 input: %zu of %zu outputs off (max abs %.3g, %s)",
                              bad, no, ma, af_conv_impl(ci));
                    free(x16);
                    af_conv_free(ci);
                }
                if (wino) { /* back to oneDNN's bf16 kernels: the same weights' numbers */
                    CHECK(af_conv_weights_set_winograd(cw, 0, &err) == AF_OK);
                    CHECK(af_conv_weights_winograd(cw) == 0 && af_conv_weights_is_bf16(cw));
                }
                af_conv_free(c);
                af_conv_weights_free(cw);
            }
            const double times = d->stride == 1 ? 64 : 4;
            CHECK_MSG(err_w <= times * err_d + 1e-6, "bf16 Winograd error %.3g > %gx direct's %.3g",
                      err_w, times, err_d);
            free(wt), free(bias), free(x), free(want), free(got), free(xb), free(yb);
        }
    af_engine_free(e);
}

/* The bf16 F(4x4) path's arithmetic, exactly: on inputs whose transforms are
 * exact in bf16 (integers in [-2, 2]: |B^T d B| <= 200 < 256) and weights
 * that go through F(2x2) and back unchanged (multiples of 1/8), the output
 * must be Lavin & Gray's F(4x4,3x3) written out here in double, Y = A^T
 * [ sum_ci bf16(G g G^T) (.) (B^T d B) ] A + bias (SiLU), the transformed
 * weights rounded as documented (double -> float -> bf16, nearest even);
 * within float accumulation (1e-5 of the sum of the magnitudes that meet in
 * each output; it comes out within 1e-8). With the weights' rounding left
 * out of the reference, half or more of the outputs are off by more than that. */
static const double BT4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double G4T[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
static const double AT4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

/* NHWC x [n][h][w][cin], weights OIHW, out NHWC; scale: per output, the sum of
 * |A^T| |M| |A| (the magnitudes that cancel in it). */
static void wino_f4_bf16_ref(const af_conv_desc *d, const float *wt, const float *bias, int n,
                             int h, int w, const float *x, float *out, double *scale)
{
    const int cin = d->cin, cout = d->cout;
    double *u = malloc(sizeof(double) * 36 * (size_t)cin * (size_t)cout);
    REQUIRE(u != NULL);
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            const float *g = wt + ((size_t)co * cin + ci) * 9;
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    double v = 0;
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++)
                            v += G4T[i][a] * g[a * 3 + b] * G4T[j][b];
                    u[((size_t)co * cin + ci) * 36 + i * 6 + j] =
                        af_bf16_to_f32(af_bf16_from_f32((float)v));
                }
        }
    for (int b = 0; b < n; b++)
        for (int ty = 0; ty < (h + 3) / 4; ty++)
            for (int tx = 0; tx < (w + 3) / 4; tx++) {
                double v[6][6];
                for (int co = 0; co < cout; co++) {
                    double m[6][6] = {{0}}, am[6][6] = {{0}};
                    for (int ci = 0; ci < cin; ci++) {
                        double dd[6][6], t[6][6];
                        for (int i = 0; i < 6; i++)
                            for (int j = 0; j < 6; j++) {
                                const int y = ty * 4 - 1 + i, xx = tx * 4 - 1 + j;
                                dd[i][j] = y >= 0 && y < h && xx >= 0 && xx < w
                                               ? x[(((size_t)b * h + y) * w + xx) * cin + ci]
                                               : 0.0;
                            }
                        for (int i = 0; i < 6; i++) /* B^T d */
                            for (int j = 0; j < 6; j++) {
                                t[i][j] = 0;
                                for (int k = 0; k < 6; k++)
                                    t[i][j] += BT4[i][k] * dd[k][j];
                            }
                        for (int i = 0; i < 6; i++) /* (B^T d) B */
                            for (int j = 0; j < 6; j++) {
                                v[i][j] = 0;
                                for (int k = 0; k < 6; k++)
                                    v[i][j] += t[i][k] * BT4[j][k];
                            }
                        for (int i = 0; i < 6; i++)
                            for (int j = 0; j < 6; j++) {
                                const double p =
                                    u[((size_t)co * cin + ci) * 36 + i * 6 + j] * v[i][j];
                                m[i][j] += p;
                                am[i][j] += fabs(p);
                            }
                    }
                    for (int a = 0; a < 4; a++)
                        for (int c = 0; c < 4; c++) {
                            const int y = ty * 4 + a, xx = tx * 4 + c;
                            if (y >= h || xx >= w)
                                continue;
                            double yv = 0, sc = 0;
                            for (int i = 0; i < 6; i++)
                                for (int j = 0; j < 6; j++) {
                                    yv += AT4[a][i] * m[i][j] * AT4[c][j];
                                    sc += fabs(AT4[a][i]) * am[i][j] * fabs(AT4[c][j]);
                                }
                            yv += bias[co];
                            if (d->act == AF_ACT_SILU)
                                yv = yv / (1 + exp(-yv));
                            const size_t at = (((size_t)b * h + y) * w + xx) * cout + co;
                            out[at] = (float)yv;
                            scale[at] = sc;
                        }
                }
            }
    free(u);
}

static void test_conv_winograd_bf16_f4_exact(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    REQUIRE(af_engine_create(&e, &err) == AF_OK);
    if (!af_wino_supported() || !af_engine_winograd(e) || !af_engine_has_bf16(e, NULL) ||
        !af_wino_bf16_supported()) {
        af_engine_free(e);
        SKIP("no bf16 (avx512_bf16, oneDNN's ISA) or Winograd off here: path not used");
    }
    /* 16 -> 24: direct in float32 (under Winograd's 32 channels), F(4x4) in bf16 */
    static const af_conv_desc ds[] = {{64, 48, 3, 1, 1, AF_ACT_SILU},
                                      {37, 33, 3, 1, 1, AF_ACT_NONE},
                                      {16, 24, 3, 1, 1, AF_ACT_SILU}};
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++)
        for (int bs = 8; bs <= 16; bs += 8) {
            const af_conv_desc *d = &ds[k];
            const af_layout bl = af_blk_layout(bs);
            const int n = 2, h = 13, w = 11;
            const size_t nw = (size_t)d->cout * d->cin * 9, ni = (size_t)n * h * w * d->cin,
                         no = (size_t)n * h * w * d->cout;
            float *wt = malloc(nw * sizeof *wt), *bias = t_rand_buf((size_t)d->cout, 0.5f),
                  *x = malloc(ni * sizeof *x), *want = malloc(no * sizeof *want),
                  *got = malloc(no * sizeof *got),
                  *xb = malloc(af_blk_elems(bs, n, h, w, d->cin) * sizeof *xb),
                  *yb = malloc(af_blk_elems(bs, n, h, w, d->cout) * sizeof *yb);
            double *scale = malloc(no * sizeof *scale);
            REQUIRE(wt && bias && x && want && got && xb && yb && scale);
            for (size_t i = 0; i < nw; i++)
                wt[i] = roundf(t_frand(4.0f)) / 8.0f;
            for (size_t i = 0; i < ni; i++)
                x[i] = roundf(t_frand(2.0f));
            wino_f4_bf16_ref(d, wt, bias, n, h, w, x, want, scale);
            af_conv_weights *cw = NULL;
            REQUIRE(af_conv_weights_create_for(e, d, wt, bias, bl, bl, &cw, &err) == AF_OK);
            CHECK_MSG(af_conv_weights_to_bf16(cw, &err) == AF_OK, "%s", err.msg);
            CHECK(af_conv_weights_winograd(cw) == 4);
            af_conv *c = NULL;
            REQUIRE(af_conv_create_for(e, cw, n, h, w, 2, bl, bl, &c, &err) == AF_OK);
            af_nhwc_to_blk(bs, n, h, w, d->cin, x, xb);
            CHECK(af_conv_forward(c, xb, yb, &err) == AF_OK);
            af_blk_to_nhwc(bs, n, h, w, d->cout, yb, got, 2);
            size_t off = 0;
            double worst = 0;
            for (size_t i = 0; i < no; i++) {
                const double dv = fabs((double)got[i] - want[i]), r = dv / (scale[i] + 1e-3);
                off += !(dv <= 1e-5 * scale[i] + 1e-5);
                worst = r > worst ? r : worst;
            }
            printf("  bf16 F(4x4) exact %2d->%2d nChw%dc: worst %.2e of the magnitudes (%s)\n",
                   d->cin, d->cout, bs, worst, af_conv_impl(c));
            CHECK_MSG(off == 0, "%zu of %zu outputs off", off, no);
            af_conv_free(c);
            af_conv_weights_free(cw);
            free(wt), free(bias), free(x), free(want), free(got), free(xb), free(yb), free(scale);
        }
    af_engine_free(e);
}

int main(void)
{
    RUN(test_conv_ref_hand);
    RUN(test_conv_vs_ref);
    RUN(test_conv_weights_two_shapes);
    RUN(test_conv_two_threads);
    RUN(test_conv_thread_setting);
    RUN(test_conv_errors);
    RUN(test_maxpool_hand);
    RUN(test_maxpool_vs_ref);
    RUN(test_upsample);
    RUN(test_concat_and_slice);
    RUN(test_activations);
    RUN(test_blocked_layout);
    RUN(test_blocked_concat_and_slice);
    RUN(test_conv_blocked_layouts);
    RUN(test_conv_winograd);
    RUN(test_conv_winograd_s2);
    RUN(test_bf16_rounding);
    RUN(test_conv_bf16);
    RUN(test_conv_winograd_bf16);
    RUN(test_conv_winograd_bf16_f4_exact);
    RUN(test_conv_pointwise_bf16);
    RUN(test_conv_int8);
    return t_summary();
}
