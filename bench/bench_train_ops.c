/* Training convolution benchmark: every convolution of yolov8n (nc = 1, the
 * anime-face head) at imgsz 640, batch 16, through af_conv_train on 1 and 2
 * threads: forward, backward-data and backward-weights in ms and GFLOP/s,
 * with the oneDNN kernels chosen; then the naive reference loops on a couple
 * of shapes for comparison. Usage: bench_train_ops [imgsz] [batch] [nc].
 * Prints a table, asserts nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/conv_train.h"
#include "ops/engine.h"

typedef struct layer {
    char name[32];
    int cin, cout, k, s, hw, bias; /* bias: only the head's last 1x1 convs */
} layer;

static int nl;
static layer layers[96];

static void add(const char *name, int cin, int cout, int k, int s, int hw)
{
    layer *l = &layers[nl++];
    size_t len = strlen(name);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->cin = cin, l->cout = cout, l->k = k, l->s = s, l->hw = hw;
    l->bias = strncmp(name, "22.", 3) == 0 && len > 2 && strcmp(name + len - 2, ".2") == 0;
}

static void add_c2f(const char *name, int c1, int c2, int n, int hw)
{
    char b[40];
    int c = c2 / 2;
    snprintf(b, sizeof b, "%s.cv1", name), add(b, c1, 2 * c, 1, 1, hw);
    for (int i = 0; i < n; i++) {
        snprintf(b, sizeof b, "%s.m%d.cv1", name, i), add(b, c, c, 3, 1, hw);
        snprintf(b, sizeof b, "%s.m%d.cv2", name, i), add(b, c, c, 3, 1, hw);
    }
    snprintf(b, sizeof b, "%s.cv2", name), add(b, (2 + n) * c, c2, 1, 1, hw);
}

/* yolov8n: width 0.25, depth 0.33 -> channels 16..256, C2f repeats 1,2,2,1. */
static void build(int imgsz, int nc)
{
    int s2 = imgsz / 2, s4 = imgsz / 4, s8 = imgsz / 8, s16 = imgsz / 16, s32 = imgsz / 32;
    add("0.conv", 3, 16, 3, 2, imgsz);
    add("1.conv", 16, 32, 3, 2, s2);
    add_c2f("2", 32, 32, 1, s4);
    add("3.conv", 32, 64, 3, 2, s4);
    add_c2f("4", 64, 64, 2, s8);
    add("5.conv", 64, 128, 3, 2, s8);
    add_c2f("6", 128, 128, 2, s16);
    add("7.conv", 128, 256, 3, 2, s16);
    add_c2f("8", 256, 256, 1, s32);
    add("9.cv1", 256, 128, 1, 1, s32);
    add("9.cv2", 512, 256, 1, 1, s32);
    add_c2f("12", 384, 128, 1, s16);
    add_c2f("15", 192, 64, 1, s8);
    add("16.conv", 64, 64, 3, 2, s8);
    add_c2f("18", 192, 128, 1, s16);
    add("19.conv", 128, 128, 3, 2, s16);
    add_c2f("21", 384, 256, 1, s32);
    int ch[3] = {64, 128, 256}, hw[3] = {s8, s16, s32};
    int c2 = 64, c3 = ch[0] > (nc < 100 ? nc : 100) ? ch[0] : (nc < 100 ? nc : 100);
    for (int i = 0; i < 3; i++) {
        char b[40];
        snprintf(b, sizeof b, "22.cv2.%d.0", i), add(b, ch[i], c2, 3, 1, hw[i]);
        snprintf(b, sizeof b, "22.cv2.%d.1", i), add(b, c2, c2, 3, 1, hw[i]);
        snprintf(b, sizeof b, "22.cv2.%d.2", i), add(b, c2, 64, 1, 1, hw[i]);
        snprintf(b, sizeof b, "22.cv3.%d.0", i), add(b, ch[i], c3, 3, 1, hw[i]);
        snprintf(b, sizeof b, "22.cv3.%d.1", i), add(b, c3, c3, 3, 1, hw[i]);
        snprintf(b, sizeof b, "22.cv3.%d.2", i), add(b, c3, nc, 1, 1, hw[i]);
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float *rand_buf(size_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    uint32_t s = 12345u;
    if (p)
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            p[i] = ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
        }
    return p;
}

typedef struct timing {
    double fwd, bwdd, bwdw; /* ms */
    int ok;
} timing;

/* Times one layer: a warm-up of each pass, then the pass itself. */
static timing run_layer(af_engine *e, const layer *l, int batch, int threads, int naive,
                        char *impl, size_t implsz)
{
    timing t = {0, 0, 0, 0};
    af_conv_desc d = {l->cin, l->cout, l->k, l->s, l->k / 2, AF_ACT_NONE};
    int oh, ow;
    af_conv_out_hw(&d, l->hw, l->hw, &oh, &ow);
    size_t nx = (size_t)batch * l->hw * l->hw * l->cin, ny = (size_t)batch * oh * ow * l->cout;
    size_t nw = (size_t)l->cout * l->cin * l->k * l->k;
    float *x = rand_buf(nx, 1), *w = rand_buf(nw, 0.1f), *b = rand_buf(l->cout, 0.1f);
    float *dy = rand_buf(ny, 1), *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4),
          *db = malloc(l->cout * 4);
    af_conv_train *c = NULL;
    af_error err = {0};
    af_status rc =
        naive ? af_conv_train_create_naive(e, &d, l->bias, batch, l->hw, l->hw, &c, &err)
              : af_conv_train_create(e, &d, l->bias, batch, l->hw, l->hw, threads, &c, &err);
    if (rc || !x || !w || !b || !dy || !y || !dx || !dw || !db) {
        fprintf(stderr, "%s: %s\n", l->name, rc ? err.msg : "out of memory");
        goto out;
    }
    snprintf(impl, implsz, "%s|%s|%s", af_conv_train_impl(c, 0), af_conv_train_impl(c, 1),
             af_conv_train_impl(c, 2));
    for (int rep = 0; rep < (naive ? 1 : 2); rep++) { /* rep 0 (oneDNN) warms up */
        double t0 = now_ms();
        af_conv_train_forward(c, x, w, b, y, NULL);
        double t1 = now_ms();
        af_conv_train_backward(c, x, w, dy, dx, NULL, NULL, NULL);
        double t2 = now_ms();
        af_conv_train_backward(c, x, w, dy, NULL, dw, l->bias ? db : NULL, NULL);
        double t3 = now_ms();
        t.fwd = t1 - t0, t.bwdd = t2 - t1, t.bwdw = t3 - t2;
    }
    t.ok = 1;
out:
    af_conv_train_free(c);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
    return t;
}

static double layer_gflop(const layer *l, int batch)
{
    af_conv_desc d = {l->cin, l->cout, l->k, l->s, l->k / 2, AF_ACT_NONE};
    int oh, ow;
    af_conv_out_hw(&d, l->hw, l->hw, &oh, &ow);
    return 2.0 * batch * oh * ow * l->cout * (double)l->cin * l->k * l->k / 1e9;
}

int main(int argc, char **argv)
{
    int imgsz = argc > 1 ? atoi(argv[1]) : 640, batch = argc > 2 ? atoi(argv[2]) : 16;
    int nc = argc > 3 ? atoi(argv[3]) : 1;
    if (imgsz < 64 || imgsz % 32 || batch < 1 || nc < 1) {
        fprintf(stderr, "usage: bench_train_ops [imgsz (multiple of 32)] [batch] [nc]\n");
        return 2;
    }
    build(imgsz, nc);
    af_engine *e = NULL;
    if (af_engine_create(&e, NULL) != AF_OK)
        return 1;
    printf("yolov8n convolutions, imgsz %d, batch %d, nc %d: af_conv_train (oneDNN %s)\n", imgsz,
           batch, nc, "2.6");
    printf("ms per pass; GFLOP/s = 2*N*OH*OW*Cout*Cin*K*K / time (same count for each pass)\n\n");
    for (int threads = 1; threads <= 2; threads++) {
        printf("threads %d\n", threads);
        printf("%-12s %4s %4s %2s %1s %4s %7s | %9s %6s | %9s %6s | %9s %6s | %s\n", "layer", "cin",
               "cout", "k", "s", "hw", "GFLOP", "fwd ms", "GF/s", "bwd-d ms", "GF/s", "bwd-w ms",
               "GF/s", "kernels fwd|bwd-d|bwd-w");
        double tot[3] = {0, 0, 0}, gf_tot = 0;
        for (int i = 0; i < nl; i++) {
            const layer *l = &layers[i];
            char impl[200] = "";
            timing t = run_layer(e, l, batch, threads, 0, impl, sizeof impl);
            if (!t.ok)
                continue;
            double gf = layer_gflop(l, batch);
            gf_tot += gf;
            tot[0] += t.fwd, tot[1] += t.bwdd, tot[2] += t.bwdw;
            printf("%-12s %4d %4d %2d %1d %4d %7.2f | %9.2f %6.1f | %9.2f %6.1f | %9.2f %6.1f | %s\n",
                   l->name, l->cin, l->cout, l->k, l->s, l->hw, gf, t.fwd, gf / t.fwd * 1e3, t.bwdd,
                   gf / t.bwdd * 1e3, t.bwdw, gf / t.bwdw * 1e3, impl);
            fflush(stdout);
        }
        printf("%-12s %23s %7.2f | %9.1f %6.1f | %9.1f %6.1f | %9.1f %6.1f | fwd+bwd %.1f ms, %.1f GF/s\n\n",
               "total", "", gf_tot, tot[0], gf_tot / tot[0] * 1e3, tot[1], gf_tot / tot[1] * 1e3,
               tot[2], gf_tot / tot[2] * 1e3, tot[0] + tot[1] + tot[2],
               3 * gf_tot / (tot[0] + tot[1] + tot[2]) * 1e3);
    }
    /* naive loops on a couple of shapes (1 thread) */
    const char *pick[] = {"2.cv1", "8.m0.cv1"};
    printf("naive reference loops (1 thread) vs oneDNN (1 thread)\n");
    for (size_t p = 0; p < sizeof pick / sizeof pick[0]; p++)
        for (int i = 0; i < nl; i++) {
            const layer *l = &layers[i];
            if (strcmp(l->name, pick[p]) != 0)
                continue;
            char impl[200];
            double gf = layer_gflop(l, batch);
            timing tn = run_layer(e, l, batch, 1, 1, impl, sizeof impl);
            timing td = run_layer(e, l, batch, 1, 0, impl, sizeof impl);
            if (!tn.ok || !td.ok)
                continue;
            printf("%-12s naive: fwd %8.1f ms %5.2f GF/s, bwd-d %8.1f ms %5.2f GF/s, bwd-w %8.1f ms "
                   "%5.2f GF/s\n",
                   l->name, tn.fwd, gf / tn.fwd * 1e3, tn.bwdd, gf / tn.bwdd * 1e3, tn.bwdw,
                   gf / tn.bwdw * 1e3);
            printf("%-12s onednn: fwd %7.1f ms %5.1f GF/s, bwd-d %8.1f ms %5.1f GF/s, bwd-w %8.1f ms "
                   "%5.1f GF/s (speed-up %.0fx)\n",
                   "", td.fwd, gf / td.fwd * 1e3, td.bwdd, gf / td.bwdd * 1e3, td.bwdw,
                   gf / td.bwdw * 1e3, (tn.fwd + tn.bwdd + tn.bwdw) / (td.fwd + td.bwdd + td.bwdw));
        }
    af_engine_free(e);
    return 0;
}
