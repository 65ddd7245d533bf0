/* One optimizer step equals a hand-computed one: SGD with Nesterov momentum
 * and weight decay (torch.optim.SGD), AdamW (decoupled decay) and Adam (L2),
 * over ultralytics' parameter groups; and clip_grad_norm_. */
#include <math.h>

#include "testutil.h"
#include "train/optim.h"

static float w_[3], g_[3], b_[2], gb_[2];

static void setup(af_param p[2])
{
    w_[0] = 1.0f, w_[1] = -2.0f, w_[2] = 0.5f;
    g_[0] = 0.1f, g_[1] = 0.2f, g_[2] = -0.3f;
    b_[0] = 0.3f, b_[1] = -0.1f;
    gb_[0] = 1.0f, gb_[1] = -1.0f;
    p[0] = (af_param){w_, g_, 3, 0, "model.0", "conv.weight"}; /* pg1: decayed */
    p[1] = (af_param){b_, gb_, 2, 2, "model.0", "bn.bias"};    /* pg0: no decay */
}

static void test_sgd_nesterov(void)
{
    af_param p[2];
    setup(p);
    af_optimizer o;
    REQUIRE(af_optimizer_init(&o, AF_OPT_SGD, p, 2, 0.01, 0.9, 0.0005, NULL) == AF_OK);
    /* step 1: d = g + wd*w; buf = d; w -= lr * (d + mom*buf) */
    af_optimizer_step(&o);
    double d0 = 0.1 + 0.0005 * 1.0;
    double w0 = 1.0 - 0.01 * (d0 + 0.9 * d0);
    CHECK_NEAR(w_[0], w0, 1e-7);
    double db0 = 1.0; /* bias: no decay */
    CHECK_NEAR(b_[0], 0.3 - 0.01 * (db0 + 0.9 * db0), 1e-7);
    /* step 2 with the same gradient: buf = mom*buf + d */
    af_optimizer_step(&o);
    double d1 = 0.1 + 0.0005 * w0;
    double buf = 0.9 * d0 + d1;
    CHECK_NEAR(w_[0], w0 - 0.01 * (d1 + 0.9 * buf), 1e-7);
    af_optimizer_free(&o);
}

static void test_adamw(void)
{
    af_param p[2];
    setup(p);
    af_optimizer o;
    REQUIRE(af_optimizer_init(&o, AF_OPT_ADAMW, p, 2, 0.002, 0.9, 0.0005, NULL) == AF_OK);
    af_optimizer_step(&o);
    /* w *= 1 - lr*wd; m = (1-b1) g; v = (1-b2) g^2;
     * w -= lr/(1-b1) * m / (sqrt(v)/sqrt(1-b2) + eps) */
    double lr = 0.002, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double w = -2.0 * (1 - lr * 0.0005), g = 0.2;
    double m = (1 - b1) * g, v = (1 - b2) * g * g;
    w -= lr / (1 - b1) * m / (sqrt(v) / sqrt(1 - b2) + eps);
    CHECK_NEAR(w_[1], w, 1e-6);
    /* bias group: no decay */
    double b = -0.1, gb = -1.0;
    m = (1 - b1) * gb, v = (1 - b2) * gb * gb;
    b -= lr / (1 - b1) * m / (sqrt(v) / sqrt(1 - b2) + eps);
    CHECK_NEAR(b_[1], b, 1e-6);
    af_optimizer_free(&o);
}

static void test_adam_l2(void)
{
    af_param p[2];
    setup(p);
    af_optimizer o;
    REQUIRE(af_optimizer_init(&o, AF_OPT_ADAM, p, 2, 0.001, 0.9, 0.01, NULL) == AF_OK);
    af_optimizer_step(&o);
    double g = 0.1 + 0.01 * 1.0; /* L2: decay into the gradient */
    double m = 0.1 * g, v = 0.001 * g * g;
    double w = 1.0 - 0.001 / 0.1 * m / (sqrt(v) / sqrt(0.001) + 1e-8);
    CHECK_NEAR(w_[0], w, 1e-6);
    af_optimizer_free(&o);
}

static void test_clip_grad_norm(void)
{
    af_param p[2];
    setup(p);
    double norm = sqrt(0.01 + 0.04 + 0.09 + 1 + 1);
    double got = af_clip_grad_norm(p, 2, 1.0);
    CHECK_NEAR(got, norm, 1e-6);
    double after = 0;
    for (int i = 0; i < 3; i++)
        after += (double)g_[i] * g_[i];
    for (int i = 0; i < 2; i++)
        after += (double)gb_[i] * gb_[i];
    CHECK_NEAR(sqrt(after), 1.0, 1e-5);
    setup(p);
    af_clip_grad_norm(p, 2, 10.0); /* under the limit: unchanged */
    CHECK(g_[1] == 0.2f && gb_[0] == 1.0f);
}

int main(void)
{
    RUN(test_sgd_nesterov);
    RUN(test_adamw);
    RUN(test_adam_l2);
    RUN(test_clip_grad_norm);
    return t_summary();
}
