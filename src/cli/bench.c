/* animeface bench: times the forward pass (warm-up excluded) and prints
 * median/min ms, GFLOP/s and peak RSS; --layers adds per-layer and
 * per-convolution times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/bench_train.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "model/desc.h"
#include "model/forward.h"
#include "model/model.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The convolutions of the last run, in network order: where the forward
 * pass's time goes inside the modules (--layers). csum: summed ms over runs. */
static void print_convs(const af_model *m, const af_conv_timing *ct, const double *csum,
                        int runs, int batch, double fwd_ms)
{
    printf("\n| conv | input | channels | kernel | implementation | mean ms | share | GFLOP | "
           "GFLOP/s |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    double all = 0;
    for (int o = 0; o < m->nconvs; o++) { /* in the order they ran */
        int j = 0;
        while (j < m->nconvs && ct[j].order != o)
            j++;
        if (j == m->nconvs)
            break;
        const af_conv_desc *d = &m->convs[j].desc;
        int oh, ow;
        af_conv_out_hw(d, ct[j].h, ct[j].w, &oh, &ow);
        double ms = csum[j] / runs,
               gf = 2.0 * batch * oh * ow * (double)d->cout * d->cin * d->k * d->k / 1e9;
        all += ms;
        printf("| %s | %dx%d | %d -> %d | %dx%d s%d | %s | %.3f | %.1f%% | %.3f | %.1f |\n",
               m->convs[j].name, ct[j].h, ct[j].w, d->cin, d->cout, d->k, d->k, d->stride,
               ct[j].impl, ms, fwd_ms > 0 ? 100.0 * ms / fwd_ms : 0.0, gf,
               ms > 0 ? gf * 1e3 / ms : 0.0);
    }
    printf("\nconvolutions: %.2f ms of %.2f ms per forward pass (%.0f%%); the rest is layout "
           "changes, pooling, upsampling, concatenation, residual adds and the box decode\n",
           all, fwd_ms, fwd_ms > 0 ? 100.0 * all / fwd_ms : 0.0);
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* A description (random weights) has no calibration for --precision int8:
 * take each conv's input range from one fp32 pass over the bench's own
 * input x (n images of h x w), for timing only (int8 runs at the same speed
 * whatever the ranges; the detections mean nothing either way). */
static af_status self_calibrate(af_model *m, const float *x, int n, int h, int w, int threads,
                                af_error *err)
{
    af_forward *f = NULL;
    float *absmax = calloc(m->nconvs > 0 ? (size_t)m->nconvs : 1, sizeof *absmax);
    const float *out;
    int na;
    if (!absmax)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    af_status st = af_forward_create(m, threads, &f, err);
    if (!st) {
        af_forward_observe(f, absmax);
        st = af_forward_run(f, x, n, h, w, &out, &na, err);
    }
    for (int i = 0; !st && i < m->nconvs; i++)
        m->convs[i].act_absmax = absmax[i] > 0 ? absmax[i] : 1.0f;
    af_forward_free(f);
    free(absmax);
    return st;
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *precision = NULL, *conv = NULL;
    opt_intlist imgsz = {{0}, 0};
    int runs = 10, warmup = 2, threads = 0, layers = 0, help = 0, nc = 1, batch = 1, train = 0;
    opt_spec specs[] = {
        {"model", NULL, OPT_STRING, &model_path, 1, 0,
         "checkpoint, or a description such as yolov8s.yaml (random weights)", "M"},
        {"imgsz", NULL, OPT_INTLIST, &imgsz, 32, 8192, "input size N or H,W (default: model's)",
         "N"},
        {"batch", NULL, OPT_INT, &batch, 1, 64, "batch size (default 1)", "B"},
        {"runs", NULL, OPT_INT, &runs, 1, 10000, "timed runs (default 10)", "R"},
        {"warmup", NULL, OPT_INT, &warmup, 0, 1000, "untimed runs first (default 2)", "W"},
        {"threads", NULL, OPT_INT, &threads, 0, 1024, "compute threads (default: all cores)",
         "T"},
        {"nc", NULL, OPT_INT, &nc, 1, 100000, "classes, for a .yaml description (default 1)",
         "N"},
        {"precision", NULL, OPT_STRING, &precision, 1, 0,
         CLI_HELP_PRECISION "; with --train, fp32 or bf16 (the training convs)", "P"},
        {"conv", NULL, OPT_STRING, &conv, 1, 0,
         CLI_HELP_CONV, "A"},
        {"layers", NULL, OPT_BOOL, &layers, 1, 0,
         "print the time of each layer and of each convolution", NULL},
        {"train", NULL, OPT_BOOL, &train, 1, 0,
         "training throughput instead (img/s; default yolov8n.yaml, 640, batch 16)", NULL},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    char *pos[4];
    int npos;
    if (opt_parse("animeface bench", argc, argv, specs, ns, pos, 4, &npos))
        return 2;
    if (help || npos) {
        opt_print_help("Usage: animeface bench [--model M] [--imgsz N] [--runs R] [--layers]", specs,
                       ns);
        return help ? 0 : 2;
    }
    if (train) {
        const int bf16 = precision && !strcmp(precision, "bf16");
        if (precision && !bf16 && strcmp(precision, "fp32")) {
            fprintf(stderr, "animeface bench: --train takes --precision fp32 or bf16, not '%s'\n",
                    precision);
            return 2;
        }
        return bench_train(model_path, imgsz.n ? imgsz.v[0] : 640, batch > 1 ? batch : 16,
                           runs == 10 ? 3 : runs, warmup == 2 ? 1 : warmup, threads, nc, bf16);
    }
    af_error err = {0};
    af_model *m = NULL;
    const char *shown = model_path;
    const int yaml = model_path && (ends_with(model_path, ".yaml") || ends_with(model_path, ".yml"));
    if (yaml) {
        cJSON *y = af_model_yaml_builtin(model_path, nc, &err);
        if (!y || af_model_build_random(y, 0, 1, &m, &err)) {
            fprintf(stderr, "animeface bench: %s\n", err.msg);
            cJSON_Delete(y);
            return 1;
        }
        cJSON_Delete(y);
    } else if (!(m = cli_load_model(model_path, &shown))) {
        return 1;
    }
    int s = m->max_stride;
    int h = imgsz.n ? imgsz.v[0] : m->imgsz, w = imgsz.n > 1 ? imgsz.v[1] : h;
    h = (h + s - 1) / s * s;
    w = (w + s - 1) / s * s;
    af_forward *f = NULL;
    size_t n = (size_t)batch * h * w * 3;
    float *in = malloc(n * sizeof *in);
    double *t = malloc((size_t)runs * sizeof *t);
    double *lsum = calloc((size_t)m->desc.nlayers, sizeof *lsum);
    double *csum = calloc(m->nconvs > 0 ? (size_t)m->nconvs : 1, sizeof *csum);
    int rc = 1;
    if (!in || !t || !lsum || !csum) {
        fprintf(stderr, "animeface bench: out of memory\n");
        goto done;
    }
    unsigned r = 12345;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        in[i] = (float)(r >> 8) / 16777216.0f;
    }
    if (yaml && precision && !strcmp(precision, "int8") &&
        self_calibrate(m, in, batch, h, w, threads, &err)) {
        fprintf(stderr, "animeface bench: calibrating on the bench input: %s\n", err.msg);
        goto done;
    }
    if (cli_set_numerics("bench", m, precision, conv))
        goto done;
    if (af_forward_create(m, threads, &f, &err)) {
        fprintf(stderr, "animeface bench: %s\n", err.msg);
        goto done;
    }
    const float *out;
    int na;
    for (int i = 0; i < warmup + runs; i++) {
        double t0 = now_ms();
        if (af_forward_run(f, in, batch, h, w, &out, &na, &err)) {
            fprintf(stderr, "animeface bench: %s\n", err.msg);
            goto done;
        }
        if (i >= warmup) {
            t[i - warmup] = now_ms() - t0;
            const double *lm = af_forward_layer_ms(f);
            for (int j = 0; j < m->desc.nlayers; j++)
                lsum[j] += lm[j];
            const af_conv_timing *ct = af_forward_conv_timing(f);
            for (int j = 0; j < m->nconvs; j++)
                csum[j] += ct[j].ms;
        }
    }
    double flops = af_forward_last_flops(f);
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    double med = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
    printf("| model | input | threads | median ms | min ms | GFLOP | GFLOP/s | peak RSS MiB |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    const af_precision prec = af_model_get_precision(m);
    const char *ptag = prec == AF_PRECISION_BF16   ? " (bf16)"
                       : prec == AF_PRECISION_INT8 ? " (int8)"
                                                   : "";
    printf("| %s%s | %dx%dx%dx3 | %d | %.2f | %.2f | %.2f | %.1f | %.1f |\n", shown, ptag, batch,
           h, w, threads > 0 ? threads : 0, med, t[0], flops / 1e9, flops / 1e9 / (med / 1e3),
           peak_rss_kb() / 1024.0);
    if (layers) {
        const double *lf = af_forward_layer_flops(f);
        printf("\n| layer | module | from | out channels | output | mean ms | share | GFLOP | "
               "GFLOP/s |\n");
        printf("|---|---|---|---|---|---|---|---|---|\n");
        double tot = 0;
        for (int j = 0; j < m->desc.nlayers; j++)
            tot += lsum[j];
        for (int j = 0; j < m->desc.nlayers; j++) {
            const af_layer_spec *L = &m->desc.layers[j];
            char from[64] = "";
            for (int k = 0; k < L->nfrom; k++)
                snprintf(from + strlen(from), sizeof from - strlen(from), "%s%d", k ? "," : "",
                         L->from[k]);
            double ms = lsum[j] / runs;
            int st = m->layers[j].stride > 0 ? m->layers[j].stride : 1;
            printf("| %d | %s | %s | %d | %dx%d | %.3f | %.1f%% | %.3f | %.1f |\n", j,
                   af_module_name(L->type), from, L->c2, h / st, w / st, ms, tot > 0 ? 100.0 * lsum[j] / tot : 0.0,
                   lf[j] / 1e9, ms > 0 ? lf[j] / 1e6 / ms : 0.0);
        }
        print_convs(m, af_forward_conv_timing(f), csum, runs, batch, tot / runs);
    }
    rc = 0;
done:
    af_forward_free(f);
    af_model_free(m);
    free(in);
    free(t);
    free(lsum);
    free(csum);
    return rc;
}
