/* Winograd F(2x2,3x3) and F(4x4,3x3) against oneDNN's direct kernels on the
 * 3x3 stride-1 convolutions of YOLOv8 (blocked nChw8c activations, bias +
 * SiLU), on 1 and 2 threads: best ms of each, the speed-ups, the effective
 * GFLOP/s (direct-method FLOPs) and the largest difference of each Winograd
 * output from the direct one relative to the output's largest magnitude.
 * Usage: bench_winograd [cin cout hw]... (default: a list of yolov8n /
 * yolov8s / yolov8x6 shapes); with AF_STRIDE=2 the stride-2 convolutions
 * (then both Winograd columns are its one form, S2, timed twice; hw is the
 * input's). Prints a table, asserts nothing. Isolated convs run with their
 * weights in cache: in the network the ranking can differ (bench --layers). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/blocked.h"
#include "ops/conv.h"
#include "ops/engine.h"

#include "bench_util.h"

static int g_stride = 1; /* AF_STRIDE=2: the stride-2 convolutions (F(4x4) column = S2 again) */

static af_conv *make(af_engine *e, af_conv_weights *w, int hw, int threads)
{
    af_error err;
    af_conv *c;
    if (af_conv_create_for(e, w, 1, hw, hw, threads, AF_LAYOUT_BLK8, AF_LAYOUT_BLK8, &c, &err)) {
        fprintf(stderr, "conv: %s\n", err.msg);
        exit(1);
    }
    return c;
}

int main(int argc, char **argv)
{
    static const int defaults[][3] = {
        {16, 16, 160},  {32, 32, 80},   {64, 64, 80},   {64, 64, 40},   {128, 64, 40},
        {128, 128, 20}, {256, 64, 20},  {64, 64, 160},  {128, 128, 80}, {256, 256, 40},
        {80, 80, 320},  {160, 160, 160}, {320, 320, 80}, {320, 320, 40}, {640, 320, 20}};
    static const int defaults_s2[][3] = {
        {16, 32, 320},  {32, 64, 160},  {64, 128, 80},  {128, 256, 40}, {64, 64, 80},
        {128, 128, 40}, {32, 64, 320},  {64, 128, 160}, {128, 256, 80}, {256, 512, 40},
        {80, 160, 640}, {160, 320, 320}, {320, 640, 160}, {640, 640, 80}};
    const char *st = getenv("AF_STRIDE");
    g_stride = st && atoi(st) == 2 ? 2 : 1;
    const int(*defs)[3] = g_stride == 2 ? defaults_s2 : defaults;
    int ndef = g_stride == 2 ? (int)(sizeof defaults_s2 / sizeof defaults_s2[0])
                             : (int)(sizeof defaults / sizeof defaults[0]);
    int n = argc > 1 ? (argc - 1) / 3 : ndef;
    af_engine *e;
    af_error err;
    if (af_engine_create(&e, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("| cin | cout | hw | threads | direct ms | F(2x2) ms | F(4x4) ms | F(2x2) speed-up | "
           "F(4x4) speed-up | direct GFLOP/s | F(2x2) eff. GFLOP/s | F(4x4) eff. GFLOP/s | "
           "F(2x2) max rel diff | F(4x4) max rel diff |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    unsigned seed = 1;
    for (int i = 0; i < n; i++) {
        int cin = argc > 1 ? atoi(argv[1 + 3 * i]) : defs[i][0];
        int cout = argc > 1 ? atoi(argv[2 + 3 * i]) : defs[i][1];
        int hw = argc > 1 ? atoi(argv[3 + 3 * i]) : defs[i][2];
        if (cin < 1 || cout < 1 || hw < 1)
            return 2;
        af_conv_desc d = {cin, cout, 3, g_stride, 1, AF_ACT_SILU};
        const int ohw = (hw - 1) / g_stride + 1;
        float *wt = rnd((size_t)cout * cin * 9, &seed, 0.1f), *b = rnd((size_t)cout, &seed, 0.1f);
        float *nhwc = rnd((size_t)hw * hw * cin, &seed, 1.0f);
        size_t ni = af_blk_elems(8, 1, hw, hw, cin), no = af_blk_elems(8, 1, ohw, ohw, cout);
        float *src = malloc(ni * sizeof *src), *y[3];
        for (int k = 0; k < 3; k++)
            if (!(y[k] = calloc(no, sizeof *y[k])))
                return 1;
        if (!src)
            return 1;
        af_nhwc_to_blk(8, 1, hw, hw, cin, nhwc, src);
        af_conv_weights *w;
        if (af_conv_weights_create_for(e, &d, wt, b, AF_LAYOUT_BLK8, AF_LAYOUT_BLK8, &w, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double gflop = 2.0 * cin * cout * 9 * ohw * ohw / 1e9;
        for (int t = 1; t <= 2; t++) {
            double ms[3], rel[3] = {0, 0, 0};
            for (int k = 0; k < 3; k++) { /* direct, F(2x2), F(4x4) */
                if (af_conv_weights_set_winograd(w, 2 * k, &err)) {
                    fprintf(stderr, "%s\n", err.msg);
                    return 1;
                }
                af_conv *c = make(e, w, hw, t);
                ms[k] = time_conv(c, src, y[k]);
                af_conv_free(c);
            }
            for (int k = 1; k < 3; k++) {
                double big = 0, diff = 0;
                for (size_t q = 0; q < no; q++) {
                    double a = y[0][q] < 0 ? -y[0][q] : y[0][q], dd = y[0][q] - y[k][q];
                    big = a > big ? a : big;
                    dd = dd < 0 ? -dd : dd;
                    diff = dd > diff ? dd : diff;
                }
                rel[k] = big > 0 ? diff / big : diff;
            }
            printf("| %d | %d | %d | %d | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.1f | %.1f | %.1f | "
                   "%.1e | %.1e |\n",
                   cin, cout, hw, t, ms[0], ms[1], ms[2], ms[0] / ms[1], ms[0] / ms[2],
                   gflop / ms[0] * 1e3, gflop / ms[1] * 1e3, gflop / ms[2] * 1e3, rel[1], rel[2]);
            fflush(stdout);
        }
        af_conv_weights_free(w);
        free(wt), free(b), free(nhwc), free(src), free(y[0]), free(y[1]), free(y[2]);
    }
    af_engine_free(e);
    return 0;
}
