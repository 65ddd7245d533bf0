/* Helpers shared by the kernel benchmarks (header only): a monotonic clock,
 * fixed-seed random buffers, the best time of a convolution. */
#ifndef AF_BENCH_UTIL_H
#define AF_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/conv.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float *rnd(size_t n, unsigned *seed, float scale)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = ((float)(*seed >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
    }
    return p;
}

/* Best time of several runs after a warm-up (at least 5 runs or 150 ms). */
static double time_conv(af_conv *c, const float *src, float *dst)
{
    af_error err;
    double best = 1e30, total = 0;
    for (int i = 0; i < 2; i++)
        if (af_conv_forward(c, src, dst, &err)) {
            fprintf(stderr, "forward: %s\n", err.msg);
            exit(1);
        }
    for (int i = 0; i < 5 || total < 150; i++) {
        double t0 = now_ms();
        af_conv_forward(c, src, dst, &err);
        double t = now_ms() - t0;
        total += t;
        if (t < best)
            best = t;
        if (i > 1000)
            break;
    }
    return best;
}

#endif
