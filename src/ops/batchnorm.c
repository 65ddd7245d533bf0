/* BatchNorm2d forward (training / eval) and training backward on NHWC rows.
 * Channels go in blocks of AF_BN_BLOCK with the per-channel double
 * accumulators on the stack; within a block the rows are read in order, so
 * each channel's sum runs in pixel order as torch's NCHW loop does. */
#include "ops/batchnorm.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/error.h"

#define AF_BN_BLOCK 64
#define AF_BN_MAXT 16

/* Threads for npix rows: contiguous row chunks, one per thread; partial sums
 * are combined in chunk order, so results depend only on the thread count. */
static int bn_threads(size_t npix)
{
    int t = omp_get_max_threads();
    if (t > AF_BN_MAXT)
        t = AF_BN_MAXT;
    if (npix < 8192)
        t = 1;
    return t < 1 ? 1 : t;
}

/* acc[j] = sum over rows of f(row i, channel j) for a block of nb channels. */
#define BN_CHUNKED_SUM(T, npix, nb, acc, BODY)                                                   \
    do {                                                                                         \
        double part_[AF_BN_MAXT][AF_BN_BLOCK];                                                   \
        _Pragma("omp parallel num_threads(T)")                                                   \
        {                                                                                        \
            int t_ = omp_get_thread_num();                                                       \
            size_t i0_ = (npix) * t_ / (T), i1_ = (npix) * (t_ + 1) / (T);                       \
            double *a_ = part_[t_];                                                              \
            for (size_t j = 0; j < (nb); j++)                                                    \
                a_[j] = 0;                                                                       \
            for (size_t i = i0_; i < i1_; i++)                                                   \
                for (size_t j = 0; j < (nb); j++)                                                \
                    a_[j] += (BODY);                                                             \
        }                                                                                        \
        for (size_t j = 0; j < (nb); j++) {                                                      \
            double s_ = 0;                                                                       \
            for (int t_ = 0; t_ < (T); t_++)                                                     \
                s_ += part_[t_][j];                                                              \
            (acc)[j] = s_;                                                                       \
        }                                                                                        \
    } while (0)

/* Two sums in one pass over the rows: acc1 of BODY1 and acc2 of BODY2. */
#define BN_CHUNKED_SUM2(T, npix, nb, acc1, BODY1, acc2, BODY2)                                  \
    do {                                                                                         \
        double p1_[AF_BN_MAXT][AF_BN_BLOCK], p2_[AF_BN_MAXT][AF_BN_BLOCK];                       \
        _Pragma("omp parallel num_threads(T)")                                                   \
        {                                                                                        \
            int t_ = omp_get_thread_num();                                                       \
            size_t i0_ = (npix) * t_ / (T), i1_ = (npix) * (t_ + 1) / (T);                       \
            double *a_ = p1_[t_], *b_ = p2_[t_];                                                 \
            for (size_t j = 0; j < (nb); j++)                                                    \
                a_[j] = b_[j] = 0;                                                               \
            for (size_t i = i0_; i < i1_; i++)                                                   \
                for (size_t j = 0; j < (nb); j++) {                                              \
                    a_[j] += (BODY1);                                                            \
                    b_[j] += (BODY2);                                                            \
                }                                                                                \
        }                                                                                        \
        for (size_t j = 0; j < (nb); j++) {                                                      \
            double s1_ = 0, s2_ = 0;                                                             \
            for (int t_ = 0; t_ < (T); t_++) {                                                   \
                s1_ += p1_[t_][j];                                                               \
                s2_ += p2_[t_][j];                                                               \
            }                                                                                    \
            (acc1)[j] = s1_;                                                                     \
            (acc2)[j] = s2_;                                                                     \
        }                                                                                        \
    } while (0)

af_status af_bn_train_forward(size_t npix, int c, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *running_mean,
                              float *running_var, float *y, float *save_mean, float *save_invstd,
                              af_error *err)
{
    if (c < 1)
        return af_fail(err, AF_E_ARG, "batchnorm: %d channels", c);
    if (npix < 2)
        return af_fail(err, AF_E_ARG,
                       "batchnorm: training needs more than 1 value per channel (got %zu)", npix);
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1))
        return af_fail(err, AF_E_ARG, "batchnorm: eps %g or momentum %g out of range", eps,
                       momentum);
    const size_t cc = (size_t)c;
    const int T = bn_threads(npix);
    double acc[AF_BN_BLOCK];
    float mean[AF_BN_BLOCK], alpha[AF_BN_BLOCK], shift[AF_BN_BLOCK];
    for (size_t c0 = 0; c0 < cc; c0 += AF_BN_BLOCK) {
        const size_t nb = cc - c0 < AF_BN_BLOCK ? cc - c0 : AF_BN_BLOCK;
        const float *xb = x + c0;
        BN_CHUNKED_SUM(T, npix, nb, acc, xb[i * cc + j]);
        for (size_t j = 0; j < nb; j++)
            mean[j] = (float)(acc[j] / (double)npix);
        /* square in float, sum in double */
        BN_CHUNKED_SUM(T, npix, nb, acc,
                       (xb[i * cc + j] - mean[j]) * (xb[i * cc + j] - mean[j]));
        for (size_t j = 0; j < nb; j++) {
            const size_t ch = c0 + j;
            float var_sum = (float)acc[j];
            float var = var_sum / (float)npix;
            float invstd = (float)(1.0 / sqrt((double)var + (double)eps));
            save_mean[ch] = mean[j];
            save_invstd[ch] = invstd;
            if (running_mean)
                running_mean[ch] = (float)((double)momentum * mean[j] +
                                           (1.0 - (double)momentum) * running_mean[ch]);
            if (running_var) {
                float unbiased = var_sum / (float)(npix - 1);
                running_var[ch] = (float)((double)momentum * unbiased +
                                          (1.0 - (double)momentum) * running_var[ch]);
            }
            alpha[j] = invstd * (gamma ? gamma[ch] : 1.0f);
            shift[j] = (beta ? beta[ch] : 0.0f) - mean[j] * alpha[j];
        }
        float *yb = y + c0;
#pragma omp parallel for num_threads(T) schedule(static)
        for (size_t i = 0; i < npix; i++)
            for (size_t j = 0; j < nb; j++)
                yb[i * cc + j] = xb[i * cc + j] * alpha[j] + shift[j];
    }
    return AF_OK;
}

void af_bn_eval_forward(size_t npix, int c, const float *x, const float *gamma,
                        const float *beta, float eps, const float *running_mean,
                        const float *running_var, float *y)
{
    const size_t cc = (size_t)c;
    float alpha[AF_BN_BLOCK], shift[AF_BN_BLOCK];
    for (size_t c0 = 0; c0 < cc; c0 += AF_BN_BLOCK) {
        const size_t nb = cc - c0 < AF_BN_BLOCK ? cc - c0 : AF_BN_BLOCK;
        for (size_t j = 0; j < nb; j++) {
            const size_t ch = c0 + j;
            float invstd = 1.0f / sqrtf(running_var[ch] + eps);
            alpha[j] = invstd * (gamma ? gamma[ch] : 1.0f);
            shift[j] = (beta ? beta[ch] : 0.0f) - running_mean[ch] * alpha[j];
        }
        const float *xb = x + c0;
        float *yb = y + c0;
        for (size_t i = 0; i < npix; i++)
            for (size_t j = 0; j < nb; j++)
                yb[i * cc + j] = xb[i * cc + j] * alpha[j] + shift[j];
    }
}

void af_bn_backward(size_t npix, int c, const float *x, const float *dy, const float *gamma,
                    const float *save_mean, const float *save_invstd, float *dx, float *dgamma,
                    float *dbeta)
{
    const size_t cc = (size_t)c;
    const int T = bn_threads(npix);
    double sum[AF_BN_BLOCK], dotp[AF_BN_BLOCK];
    float k[AF_BN_BLOCK], gm[AF_BN_BLOCK], is[AF_BN_BLOCK], gw[AF_BN_BLOCK];
    for (size_t c0 = 0; c0 < cc; c0 += AF_BN_BLOCK) {
        const size_t nb = cc - c0 < AF_BN_BLOCK ? cc - c0 : AF_BN_BLOCK;
        const float *xb = x + c0, *gb = dy + c0, *mb = save_mean + c0;
        BN_CHUNKED_SUM2(T, npix, nb, sum, gb[i * cc + j], dotp,
                        (xb[i * cc + j] - mb[j]) * gb[i * cc + j]);
        for (size_t j = 0; j < nb; j++) {
            const size_t ch = c0 + j;
            float invstd = save_invstd[ch];
            k[j] = (float)dotp[j] * invstd * invstd / (float)npix;
            gm[j] = (float)(sum[j] / (double)npix);
            is[j] = invstd;
            gw[j] = gamma ? gamma[ch] : 1.0f;
            if (dgamma)
                dgamma[ch] = (float)(dotp[j] * invstd);
            if (dbeta)
                dbeta[ch] = (float)sum[j];
        }
        if (!dx)
            continue;
        float *db = dx + c0;
#pragma omp parallel for num_threads(T) schedule(static)
        for (size_t i = 0; i < npix; i++)
            for (size_t j = 0; j < nb; j++) {
                float t = (xb[i * cc + j] - mb[j]) * k[j];
                db[i * cc + j] = (gb[i * cc + j] - gm[j] - t) * is[j] * gw[j];
            }
    }
}
