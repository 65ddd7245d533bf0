/* BatchNorm2d forward (training / eval) and training backward on NHWC rows.
 * Channels go in blocks of AF_BN_BLOCK with the per-channel double
 * accumulators on the stack; within a block the rows are read in order, so
 * each channel's sum runs in pixel order as torch's NCHW loop does. */
#include "ops/batchnorm.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "ops/bn_chunked.h"

af_status af_bn_train_stats(size_t npix, int c, const float *x, float eps, float momentum,
                            float *running_mean, float *running_var, float *save_mean,
                            float *save_invstd, af_error *err)
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
    float mean[AF_BN_BLOCK];
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
            save_mean[ch] = mean[j];
            save_invstd[ch] = (float)(1.0 / sqrt((double)var + (double)eps));
            if (running_mean)
                running_mean[ch] = (float)((double)momentum * mean[j] +
                                           (1.0 - (double)momentum) * running_mean[ch]);
            if (running_var) {
                float unbiased = var_sum / (float)(npix - 1);
                running_var[ch] = (float)((double)momentum * unbiased +
                                          (1.0 - (double)momentum) * running_var[ch]);
            }
        }
    }
    return AF_OK;
}

af_status af_bn_train_forward(size_t npix, int c, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *running_mean,
                              float *running_var, float *y, float *save_mean, float *save_invstd,
                              af_error *err)
{
    af_status st = af_bn_train_stats(npix, c, x, eps, momentum, running_mean, running_var,
                                     save_mean, save_invstd, err);
    if (st)
        return st;
    const size_t cc = (size_t)c;
    const int T = bn_threads(npix);
    float alpha[AF_BN_BLOCK], shift[AF_BN_BLOCK];
    for (size_t c0 = 0; c0 < cc; c0 += AF_BN_BLOCK) {
        const size_t nb = cc - c0 < AF_BN_BLOCK ? cc - c0 : AF_BN_BLOCK;
        bn_affine(c0, nb, gamma, beta, save_mean, save_invstd, alpha, shift);
        const float *xb = x + c0;
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
    for (size_t c0 = 0; c0 < cc; c0 += AF_BN_BLOCK) {
        const size_t nb = cc - c0 < AF_BN_BLOCK ? cc - c0 : AF_BN_BLOCK;
        const float *xb = x + c0, *gb = dy + c0, *mb = save_mean + c0;
        BN_CHUNKED_SUM2(T, npix, nb, sum, gb[i * cc + j], dotp,
                        (xb[i * cc + j] - mb[j]) * gb[i * cc + j]);
        bn_backward_finish(npix, cc, c0, nb, T, x, dy, gamma, save_mean, save_invstd, sum, dotp,
                           dx, dgamma, dbeta);
    }
}
