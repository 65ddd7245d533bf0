/* Winograd F(2x2,3x3) against oneDNN's direct kernels on the 3x3 stride-1
 * convolutions of YOLOv8 (blocked nChw8c activations, bias + SiLU), on 1 and 2
 * threads: best ms of each, the speed-up, the effective GFLOP/s (direct-method
 * FLOPs) and the largest difference between the two outputs relative to the
 * output's largest magnitude. Usage: bench_winograd [cin cout hw]...
 * (default: a list of yolov8n / yolov8s / yolov8x6 shapes). Prints a table,
 * asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/blocked.h"
#include "ops/conv.h"
#include "ops/engine.h"

#include "bench_util.h"

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
    int n = argc > 1 ? (argc - 1) / 3 : (int)(sizeof defaults / sizeof defaults[0]);
    af_engine *e;
    af_error err;
    if (af_engine_create(&e, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("| cin | cout | hw | threads | direct ms | winograd ms | speed-up | direct GFLOP/s | "
           "winograd eff. GFLOP/s | max rel diff |\n|---|---|---|---|---|---|---|---|---|---|\n");
    unsigned seed = 1;
    for (int i = 0; i < n; i++) {
        int cin = argc > 1 ? atoi(argv[1 + 3 * i]) : defaults[i][0];
        int cout = argc > 1 ? atoi(argv[2 + 3 * i]) : defaults[i][1];
        int hw = argc > 1 ? atoi(argv[3 + 3 * i]) : defaults[i][2];
        if (cin < 1 || cout < 1 || hw < 1)
            return 2;
        af_conv_desc d = {cin, cout, 3, 1, 1, AF_ACT_SILU};
        float *wt = rnd((size_t)cout * cin * 9, &seed, 0.1f), *b = rnd((size_t)cout, &seed, 0.1f);
        float *nhwc = rnd((size_t)hw * hw * cin, &seed, 1.0f);
        size_t ni = af_blk_elems(1, hw, hw, cin), no = af_blk_elems(1, hw, hw, cout);
        float *src = malloc(ni * sizeof *src), *y1 = calloc(no, sizeof *y1),
              *y2 = calloc(no, sizeof *y2);
        if (!src || !y1 || !y2)
            return 1;
        af_nhwc_to_blk(1, hw, hw, cin, nhwc, src);
        af_conv_weights *w;
        if (af_conv_weights_create_for(e, &d, wt, b, AF_LAYOUT_BLK8, AF_LAYOUT_BLK8, &w, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double gflop = 2.0 * cin * cout * 9 * hw * hw / 1e9;
        for (int t = 1; t <= 2; t++) {
            double ms[2];
            for (int algo = 0; algo < 2; algo++) { /* 0 direct, 1 winograd */
                if (af_conv_weights_set_winograd(w, algo, &err)) {
                    fprintf(stderr, "%s\n", err.msg);
                    return 1;
                }
                af_conv *c = make(e, w, hw, t);
                ms[algo] = time_conv(c, src, algo ? y2 : y1);
                af_conv_free(c);
            }
            double big = 0, diff = 0;
            for (size_t k = 0; k < no; k++) {
                double a = y1[k] < 0 ? -y1[k] : y1[k], dd = y1[k] - y2[k];
                big = a > big ? a : big;
                dd = dd < 0 ? -dd : dd;
                diff = dd > diff ? dd : diff;
            }
            printf("| %d | %d | %d | %d | %.3f | %.3f | %.2fx | %.1f | %.1f | %.1e |\n", cin, cout,
                   hw, t, ms[0], ms[1], ms[0] / ms[1], gflop / ms[0] * 1e3, gflop / ms[1] * 1e3,
                   big > 0 ? diff / big : diff);
            fflush(stdout);
        }
        af_conv_weights_free(w);
        free(wt), free(b), free(nhwc), free(src), free(y1), free(y2);
    }
    af_engine_free(e);
    return 0;
}
