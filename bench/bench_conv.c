/* Convolution benchmark: every convolution of yolov8n (COCO head, nc=80) at a
 * 640x640 input, through oneDNN on 1 and 2 threads, with GFLOP/s and the
 * oneDNN kernel chosen; the naive reference on a few shapes for comparison.
 * Usage: bench_conv [imgsz] [nc]. Prints a table, asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/act.h"
#include "ops/concat.h"
#include "ops/conv.h"
#include "ops/engine.h"
#include "ops/pool.h"
#include "ops/ref.h"
#include "ops/upsample.h"

#include "bench_util.h"

typedef struct layer {
    char name[32];
    int cin, cout, k, s, hw; /* hw: input height = width at imgsz 640 */
    int act;
} layer;

static int nl;
static layer layers[96];

static void add(const char *name, int cin, int cout, int k, int s, int hw, int act)
{
    layer *l = &layers[nl++];
    snprintf(l->name, sizeof l->name, "%s", name);
    l->cin = cin, l->cout = cout, l->k = k, l->s = s, l->hw = hw, l->act = act;
}

static void add_c2f(const char *name, int c1, int c2, int n, int hw)
{
    char b[40];
    int c = c2 / 2;
    snprintf(b, sizeof b, "%s.cv1", name);
    add(b, c1, 2 * c, 1, 1, hw, 1);
    for (int i = 0; i < n; i++) {
        snprintf(b, sizeof b, "%s.m%d.cv1", name, i);
        add(b, c, c, 3, 1, hw, 1);
        snprintf(b, sizeof b, "%s.m%d.cv2", name, i);
        add(b, c, c, 3, 1, hw, 1);
    }
    snprintf(b, sizeof b, "%s.cv2", name);
    add(b, (2 + n) * c, c2, 1, 1, hw, 1);
}

/* yolov8n: width 0.25, depth 0.33 -> channels 16..256, C2f repeats 1,2,2,1. */
static void build(int imgsz, int nc)
{
    int s2 = imgsz / 2, s4 = imgsz / 4, s8 = imgsz / 8, s16 = imgsz / 16, s32 = imgsz / 32;
    add("0.conv", 3, 16, 3, 2, imgsz, 1);
    add("1.conv", 16, 32, 3, 2, s2, 1);
    add_c2f("2", 32, 32, 1, s4);
    add("3.conv", 32, 64, 3, 2, s4, 1);
    add_c2f("4", 64, 64, 2, s8);
    add("5.conv", 64, 128, 3, 2, s8, 1);
    add_c2f("6", 128, 128, 2, s16);
    add("7.conv", 128, 256, 3, 2, s16, 1);
    add_c2f("8", 256, 256, 1, s32);
    add("9.cv1", 256, 128, 1, 1, s32, 1);
    add("9.cv2", 512, 256, 1, 1, s32, 1);
    add_c2f("12", 384, 128, 1, s16);
    add_c2f("15", 192, 64, 1, s8);
    add("16.conv", 64, 64, 3, 2, s8, 1);
    add_c2f("18", 192, 128, 1, s16);
    add("19.conv", 128, 128, 3, 2, s16, 1);
    add_c2f("21", 384, 256, 1, s32);
    int ch[3] = {64, 128, 256}, hw[3] = {s8, s16, s32};
    int c2 = 64, c3 = ch[0] > (nc < 100 ? nc : 100) ? ch[0] : (nc < 100 ? nc : 100);
    for (int i = 0; i < 3; i++) {
        char b[40];
        snprintf(b, sizeof b, "22.cv2.%d.0", i), add(b, ch[i], c2, 3, 1, hw[i], 1);
        snprintf(b, sizeof b, "22.cv2.%d.1", i), add(b, c2, c2, 3, 1, hw[i], 1);
        snprintf(b, sizeof b, "22.cv2.%d.2", i), add(b, c2, 64, 1, 1, hw[i], 0);
        snprintf(b, sizeof b, "22.cv3.%d.0", i), add(b, ch[i], c3, 3, 1, hw[i], 1);
        snprintf(b, sizeof b, "22.cv3.%d.1", i), add(b, c3, c3, 3, 1, hw[i], 1);
        snprintf(b, sizeof b, "22.cv3.%d.2", i), add(b, c3, nc, 1, 1, hw[i], 0);
    }
}

/* The non-conv ops at their yolov8n sizes (single-threaded), best of 20. */
static void other_ops(int imgsz, int nc, unsigned *seed)
{
    int s8 = imgsz / 8, s16 = imgsz / 16, s32 = imgsz / 32;
    size_t big = (size_t)s8 * s8 * 192 * 4;
    float *a = rnd(big, seed, 3.0f), *b = rnd(big, seed, 3.0f), *o = malloc(big * sizeof(float));
    if (!o)
        exit(1);
    printf("\nother ops (1 thread, ms):\n");
    for (int op = 0; op < 7; op++) {
        double best = 1e30;
        const char *name = "";
        for (int r = 0; r < 20; r++) {
            double t0 = now_ms();
            af_error err;
            switch (op) {
            case 0:
                name = "maxpool k5 s1 p2 x3 (SPPF)";
                for (int i = 0; i < 3; i++)
                    af_maxpool(1, s32, s32, 128, 5, 1, 2, a, o, 1, &err);
                break;
            case 1:
                name = "upsample2x 20x20x256 + 40x40x128";
                af_upsample_nearest2x(1, s32, s32, 256, a, o, 1);
                af_upsample_nearest2x(1, s16, s16, 128, a, o, 1);
                break;
            case 2: {
                name = "concat 40x40 256+128, 80x80 128+64";
                const float *in[2] = {a, b};
                int c1[2] = {256, 128}, c2[2] = {128, 64};
                af_concat_channels((size_t)s16 * s16, 2, in, c1, o);
                af_concat_channels((size_t)s8 * s8, 2, in, c2, o);
                break;
            }
            case 3:
                name = "copy_channels 80x80 64 -> 32";
                af_copy_channels((size_t)s8 * s8, 64, 32, 32, a, o);
                break;
            case 4:
                name = "add 80x80x32 (x4 in the net)";
                af_add_inplace(o, a, (size_t)s8 * s8 * 32, 1);
                break;
            case 5:
                name = "silu 80x80x64 (unfused)";
                memcpy(o, a, (size_t)s8 * s8 * 64 * sizeof(float));
                t0 = now_ms();
                af_silu_inplace(o, (size_t)s8 * s8 * 64);
                break;
            case 6:
                name = "sigmoid of the class scores";
                memcpy(o, a, (size_t)(s8 * s8 + s16 * s16 + s32 * s32) * nc * sizeof(float));
                t0 = now_ms();
                af_sigmoid_inplace(o, (size_t)(s8 * s8 + s16 * s16 + s32 * s32) * nc);
                break;
            }
            double t = now_ms() - t0;
            if (t < best)
                best = t;
        }
        printf("  %-36s %7.3f\n", name, best);
    }
    free(a), free(b), free(o);
}

int main(int argc, char **argv)
{
    int imgsz = argc > 1 ? atoi(argv[1]) : 640, nc = argc > 2 ? atoi(argv[2]) : 80;
    if (imgsz < 64 || imgsz % 32 || nc < 1) {
        fprintf(stderr, "usage: bench_conv [imgsz multiple of 32] [nc]\n");
        return 2;
    }
    build(imgsz, nc);
    af_engine *e;
    af_error err;
    if (af_engine_create(&e, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    unsigned seed = 12345;
    printf("yolov8n convolutions at %dx%d (nc=%d), NHWC f32, oneDNN; ms = best of runs\n", imgsz,
           imgsz, nc);
    printf("%-14s %4s %4s %2s %2s %9s %7s %8s %8s %8s %7s  %s\n", "layer", "cin", "cout", "k", "s",
           "in", "GFLOP", "ms(1t)", "ms(2t)", "GF/s(1t)", "speedup", "impl");
    double tot1 = 0, tot2 = 0, totf = 0;
    const char *naive_layers[] = {"0.conv", "19.conv", "8.cv2"};
    double naive_ms[3] = {0}, naive_dnnl[3] = {0};
    for (int i = 0; i < nl; i++) {
        layer *l = &layers[i];
        af_conv_desc d = {l->cin, l->cout, l->k, l->s, l->k / 2, l->act ? AF_ACT_SILU : AF_ACT_NONE};
        int oh, ow;
        af_conv_out_hw(&d, l->hw, l->hw, &oh, &ow);
        size_t nw = (size_t)l->cout * l->cin * l->k * l->k;
        float *wt = rnd(nw, &seed, 0.1f), *bias = rnd((size_t)l->cout, &seed, 0.1f);
        float *src = rnd((size_t)l->hw * l->hw * l->cin, &seed, 1.0f);
        float *dst = malloc((size_t)oh * ow * l->cout * sizeof(float));
        af_conv_weights *w;
        af_conv *c1, *c2;
        if (!dst || af_conv_weights_create(e, &d, wt, bias, &w, &err) ||
            af_conv_create(e, w, 1, l->hw, l->hw, 1, &c1, &err) ||
            af_conv_create(e, w, 1, l->hw, l->hw, 2, &c2, &err)) {
            fprintf(stderr, "%s: %s\n", l->name, err.msg);
            return 1;
        }
        double gf = 2.0 * l->cin * l->k * l->k * l->cout * oh * ow / 1e9;
        double t1 = time_conv(c1, src, dst), t2 = time_conv(c2, src, dst);
        const char *path = af_conv_get_path(c2) == AF_CONV_DNNL_SHARED    ? ""
                           : af_conv_get_path(c2) == AF_CONV_DNNL_PRIVATE ? " (private weights)"
                                                                           : " (fallback)";
        char in[16];
        snprintf(in, sizeof in, "%dx%d", l->hw, l->hw);
        printf("%-14s %4d %4d %2d %2d %9s %7.3f %8.3f %8.3f %8.1f %7.2f  %s%s\n", l->name, l->cin,
               l->cout, l->k, l->s, in, gf, t1, t2, gf / t1 * 1e3, t1 / t2, af_conv_impl(c2), path);
        fflush(stdout);
        tot1 += t1, tot2 += t2, totf += gf;
        for (int j = 0; j < 3; j++)
            if (!strcmp(l->name, naive_layers[j])) {
                double t0 = now_ms();
                af_conv_ref(&d, wt, bias, 1, l->hw, l->hw, src, dst);
                naive_ms[j] = now_ms() - t0;
                naive_dnnl[j] = t1;
            }
        af_conv_free(c1);
        af_conv_free(c2);
        af_conv_weights_free(w);
        free(wt), free(bias), free(src), free(dst);
    }
    printf("%-14s %4s %4s %2s %2s %9s %7.3f %8.3f %8.3f %8.1f %7.2f  (%d convs; GF/s(2t) %.1f)\n",
           "total", "", "", "", "", "", totf, tot1, tot2, totf / tot1 * 1e3, tot1 / tot2, nl,
           totf / tot2 * 1e3);
    printf("\nnaive reference (1 thread) vs oneDNN (1 thread):\n");
    for (int j = 0; j < 3; j++)
        if (naive_ms[j] > 0)
            printf("  %-10s naive %9.2f ms   oneDNN %7.3f ms   x%.0f\n", naive_layers[j],
                   naive_ms[j], naive_dnnl[j], naive_ms[j] / naive_dnnl[j]);
    other_ops(imgsz, nc, &seed);
    af_engine_free(e);
    return 0;
}
