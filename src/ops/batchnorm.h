/* BatchNorm2d on NHWC float32 (npix = n*h*w rows of c channels), as PyTorch's
 * CPU kernels for contiguous float input:
 *
 * training forward: mean = (float)(sum_double(x) / npix); var_sum =
 *   (float)sum_double((x - mean)^2) with the square in float; invstd =
 *   (float)(1 / sqrt((double)(var_sum / npix) + eps)) (BIASED variance);
 *   y = x * alpha + beta with alpha = invstd * gamma, beta = beta - mean * alpha.
 *   running_mean = m * mean + (1 - m) * running_mean;
 *   running_var  = m * (var_sum / (npix - 1)) + (1 - m) * running_var (UNBIASED),
 *   evaluated in double, m = momentum (ultralytics: 0.03; eps 1e-3).
 *   The sums run per channel in pixel order, the order torch's NCHW loops use.
 * eval forward: invstd = 1 / sqrtf(running_var + eps), same alpha/beta form.
 * backward (training mode): with sum = sum dy, dotp = sum (x - mean) * dy (both
 *   accumulated in double), k = dotp * invstd^2 / npix, grad_mean = sum / npix:
 *   dx = (dy - grad_mean - (x - mean) * k) * invstd * gamma,
 *   dgamma = dotp * invstd, dbeta = sum. (torch sums each NCHW plane in float
 *   vector lanes before adding to a double; the double sums here are at least
 *   as accurate, equal to a few ulp.)
 * gamma/beta may be NULL (1 and 0). All outputs are overwritten; y may be x
 * and dx may be dy. */
#ifndef AF_OPS_BATCHNORM_H
#define AF_OPS_BATCHNORM_H

#include <stddef.h>

#include "animeface.h"

/* The statistics half of the training forward: save_mean / save_invstd (c
 * floats each) and the running statistics, as described above. */
af_status af_bn_train_stats(size_t npix, int c, const float *x, float eps, float momentum,
                            float *running_mean, float *running_var, float *save_mean,
                            float *save_invstd, af_error *err);

/* save_mean, save_invstd: c floats each, for af_bn_backward. running_mean /
 * running_var may be NULL (not tracked). Needs npix >= 2 (torch: "Expected
 * more than 1 value per channel when training"). */
af_status af_bn_train_forward(size_t npix, int c, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *running_mean,
                              float *running_var, float *y, float *save_mean, float *save_invstd,
                              af_error *err);

/* y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. */
void af_bn_eval_forward(size_t npix, int c, const float *x, const float *gamma,
                        const float *beta, float eps, const float *running_mean,
                        const float *running_var, float *y);

/* Training-mode backward. dx, dgamma, dbeta may each be NULL (skipped). */
void af_bn_backward(size_t npix, int c, const float *x, const float *dy, const float *gamma,
                    const float *save_mean, const float *save_invstd, float *dx, float *dgamma,
                    float *dbeta);

/* BatchNorm (training) followed by SiLU, fused so that the BN output is never
 * stored: forward y = silu(x * alpha + shift) with the statistics of
 * af_bn_train_stats; backward recomputes u = x * alpha + shift, takes SiLU's
 * gradient and both BN sums in one pass, then dx in a second. Results equal
 * af_bn_train_forward + af_silu_inplace and af_silu_backward + af_bn_backward
 * (same formulas, same summation order). beta is needed by the backward too;
 * dx is required and may be dy. */
af_status af_bn_silu_train_forward(size_t npix, int c, const float *x, const float *gamma,
                                   const float *beta, float eps, float momentum,
                                   float *running_mean, float *running_var, float *y,
                                   float *save_mean, float *save_invstd, af_error *err);
void af_bn_silu_backward(size_t npix, int c, const float *x, const float *dy,
                         const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, float *dx, float *dgamma, float *dbeta);

#endif
