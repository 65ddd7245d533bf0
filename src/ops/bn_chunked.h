/* Private to src/ops: the per-channel sums of BatchNorm, split across the
 * OpenMP team in contiguous row chunks. Channels go in blocks of AF_BN_BLOCK
 * with the per-channel double accumulators on the stack; within a block the
 * rows are read in order and the partial sums of the T chunks are combined in
 * chunk order, so results depend only on T (each thread of the team takes
 * chunks t, t + team size, ...: all T are summed even if OpenMP gives the
 * region fewer threads, as inside another parallel region). */
#ifndef AF_OPS_BN_CHUNKED_H
#define AF_OPS_BN_CHUNKED_H

#include <omp.h>
#include <stddef.h>

#define AF_BN_BLOCK 64
#define AF_BN_MAXT 16

/* Threads for npix rows (1 below 8192 rows). */
static inline int bn_threads(size_t npix)
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
            for (int t_ = omp_get_thread_num(); t_ < (T); t_ += omp_get_num_threads()) {         \
                size_t i0_ = (npix) * t_ / (T), i1_ = (npix) * (t_ + 1) / (T);                   \
                double *a_ = part_[t_];                                                          \
                for (size_t j = 0; j < (nb); j++)                                                \
                    a_[j] = 0;                                                                   \
                for (size_t i = i0_; i < i1_; i++)                                               \
                    for (size_t j = 0; j < (nb); j++)                                            \
                        a_[j] += (BODY);                                                         \
            }                                                                                    \
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
            for (int t_ = omp_get_thread_num(); t_ < (T); t_ += omp_get_num_threads()) {         \
                size_t i0_ = (npix) * t_ / (T), i1_ = (npix) * (t_ + 1) / (T);                   \
                double *a_ = p1_[t_], *b_ = p2_[t_];                                             \
                for (size_t j = 0; j < (nb); j++)                                                \
                    a_[j] = b_[j] = 0;                                                           \
                for (size_t i = i0_; i < i1_; i++)                                               \
                    for (size_t j = 0; j < (nb); j++) {                                          \
                        a_[j] += (BODY1);                                                        \
                        b_[j] += (BODY2);                                                        \
                    }                                                                            \
            }                                                                                    \
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

/* The training forward's y = x * alpha + shift for channels c0..c0+nb. */
static inline void bn_affine(size_t c0, size_t nb, const float *gamma, const float *beta,
                             const float *mean, const float *invstd, float *alpha, float *shift)
{
    for (size_t j = 0; j < nb; j++) {
        alpha[j] = invstd[c0 + j] * (gamma ? gamma[c0 + j] : 1.0f);
        shift[j] = (beta ? beta[c0 + j] : 0.0f) - mean[c0 + j] * alpha[j];
    }
}

/* The training backward for channels c0..c0+nb from g (the gradient at the BN
 * output) and its sums: sum = sum g, dotp = sum (x - mean) * g. dx (may be g)
 * and the parameter gradients may each be NULL. */
static inline void bn_backward_finish(size_t npix, size_t cc, size_t c0, size_t nb, int T,
                                      const float *x, const float *g, const float *gamma,
                                      const float *save_mean, const float *save_invstd,
                                      const double *sum, const double *dotp, float *dx,
                                      float *dgamma, float *dbeta)
{
    float k[AF_BN_BLOCK], gm[AF_BN_BLOCK], is[AF_BN_BLOCK], gw[AF_BN_BLOCK];
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
        return;
    const float *xb = x + c0, *gb = g + c0, *mb = save_mean + c0;
    float *db = dx + c0;
#pragma omp parallel for num_threads(T) schedule(static)
    for (size_t i = 0; i < npix; i++)
        for (size_t j = 0; j < nb; j++) {
            float t = (xb[i * cc + j] - mb[j]) * k[j];
            db[i * cc + j] = (gb[i * cc + j] - gm[j] - t) * is[j] * gw[j];
        }
}

#endif
