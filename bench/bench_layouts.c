/* The forward pass in several engine settings, interleaved in one process:
 * each setting is a model loaded under its own environment (AF_BLK, and
 * ONEDNN_* read by oneDNN at its first use only, so not here), then the
 * models run one forward pass each in turn, round after round, and the table
 * gives per setting the minimum over the rounds of the whole pass and of each
 * group of convolutions (by the implementation that ran them). On a shared
 * machine the minimum of interleaved rounds is the fairest comparison.
 * Usage: bench_layouts MODEL IMGSZ ROUNDS THREADS SETTING...
 * where SETTING is NAME=VALUE[,NAME=VALUE...] set in the environment before
 * that model loads (e.g. AF_BLK=16 AF_BLK=8), except MODEL=PATH (another
 * checkpoint for this setting), PREC=bf16|int8 (af_model_set_precision) and
 * ACT16=0 (bf16 convs hand activations over in float32:
 * af_forward_set_narrow_activations) and CONV=auto|direct|fast
 * (af_model_set_conv_algo, before the precision).
 * Prints a table, asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "model/model.h"

#include <time.h>

#define MAXS 6

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s MODEL IMGSZ ROUNDS THREADS SETTING...\n", argv[0]);
        return 2;
    }
    const int imgsz = atoi(argv[2]), rounds = atoi(argv[3]), threads = atoi(argv[4]);
    const int ns = argc - 5 < MAXS ? argc - 5 : MAXS;
    af_model *m[MAXS];
    af_forward *f[MAXS];
    af_error err = {0};
    for (int s = 0; s < ns; s++) {
        char buf[256], model[256], prec[16] = "", conv[16] = "auto";
        int act16 = 1;
        snprintf(buf, sizeof buf, "%s", argv[5 + s]);
        snprintf(model, sizeof model, "%s", argv[1]);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            char *eq = strchr(tok, '=');
            if (!eq)
                continue;
            *eq = 0;
            if (!strcmp(tok, "MODEL"))
                snprintf(model, sizeof model, "%s", eq + 1);
            else if (!strcmp(tok, "PREC"))
                snprintf(prec, sizeof prec, "%s", eq + 1);
            else if (!strcmp(tok, "CONV"))
                snprintf(conv, sizeof conv, "%s", eq + 1);
            else if (!strcmp(tok, "ACT16"))
                act16 = atoi(eq + 1);
            else
                setenv(tok, eq + 1, 1);
        }
        af_precision p = !strcmp(prec, "bf16")   ? AF_PRECISION_BF16
                         : !strcmp(prec, "int8") ? AF_PRECISION_INT8
                                                 : AF_PRECISION_FP32;
        const af_conv_algo a = !strcmp(conv, "direct") ? AF_CONV_ALGO_DIRECT
                               : !strcmp(conv, "fast") ? AF_CONV_ALGO_FAST
                                                       : AF_CONV_ALGO_AUTO;
        if (af_model_load(model, &m[s], &err) || af_model_set_conv_algo(m[s], a, &err) ||
            af_model_set_precision(m[s], p, &err) ||
            af_forward_create(m[s], threads, &f[s], &err)) {
            fprintf(stderr, "%s: %s\n", model, err.msg);
            return 1;
        }
        af_forward_set_narrow_activations(f[s], act16);
        snprintf(buf, sizeof buf, "%s", argv[5 + s]); /* unset again for the next */
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            char *eq = strchr(tok, '=');
            if (eq) {
                *eq = 0;
                unsetenv(tok);
            }
        }
    }
    size_t npix = (size_t)imgsz * imgsz * 3;
    float *x = malloc(npix * sizeof *x);
    unsigned seed = 1;
    if (!x)
        return 1;
    for (size_t i = 0; i < npix; i++)
        x[i] = (float)(seed = seed * 1103515245u + 12345u) / 4294967296.0f;
    const int nconvs = m[0]->nconvs;
    double best[MAXS], *cbest = malloc(sizeof(double) * MAXS * (size_t)nconvs);
    const char **impl = calloc((size_t)MAXS * nconvs, sizeof *impl);
    if (!cbest || !impl)
        return 1;
    for (int s = 0; s < ns; s++) {
        best[s] = 1e30;
        for (int j = 0; j < nconvs; j++)
            cbest[s * nconvs + j] = 1e30;
    }
    for (int r = -1; r < rounds; r++) /* round -1: warm-up */
        for (int s = 0; s < ns; s++) {
            const float *out;
            int na;
            double t0 = now_ms();
            if (af_forward_run(f[s], x, 1, imgsz, imgsz, &out, &na, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            double t = now_ms() - t0;
            if (r < 0)
                continue;
            if (t < best[s])
                best[s] = t;
            const af_conv_timing *ct = af_forward_conv_timing(f[s]);
            for (int j = 0; j < nconvs && j < m[s]->nconvs; j++) {
                impl[s * nconvs + j] = ct[j].impl;
                if (ct[j].ms < cbest[s * nconvs + j])
                    cbest[s * nconvs + j] = ct[j].ms;
            }
        }
    printf("%s @%d, %d threads, %d interleaved rounds (min ms):\n\n", argv[1], imgsz, threads,
           rounds);
    printf("| setting | forward min ms | convs (sum of per-conv mins) | groups |\n|---|---|---|---|\n");
    for (int s = 0; s < ns; s++) {
        double sum = 0;
        char groups[1024] = "";
        /* group by implementation name */
        const char *names[32];
        double gsum[32];
        int ng = 0;
        for (int j = 0; j < nconvs; j++) {
            const char *nm = impl[s * nconvs + j] ? impl[s * nconvs + j] : "?";
            double v = cbest[s * nconvs + j];
            sum += v;
            int g = 0;
            while (g < ng && strcmp(names[g], nm))
                g++;
            if (g == ng && ng < 32) {
                names[ng] = nm;
                gsum[ng++] = 0;
            }
            if (g < ng)
                gsum[g] += v;
        }
        for (int g = 0; g < ng; g++) {
            size_t l = strlen(groups);
            snprintf(groups + l, sizeof groups - l, "%s%s %.2f", g ? "; " : "", names[g], gsum[g]);
        }
        printf("| %s | %.2f | %.2f | %s |\n", argv[5 + s], best[s], sum, groups);
    }
    printf("\nper conv (min ms):\n\n| conv |");
    for (int s = 0; s < ns; s++)
        printf(" %s |", argv[5 + s]);
    printf("\n|---|");
    for (int s = 0; s < ns; s++)
        printf("---|");
    printf("\n");
    for (int j = 0; j < nconvs; j++) {
        printf("| %s %d->%d k%d s%d |", m[0]->convs[j].name, m[0]->convs[j].desc.cin,
               m[0]->convs[j].desc.cout, m[0]->convs[j].desc.k, m[0]->convs[j].desc.stride);
        for (int s = 0; s < ns; s++)
            printf(" %.3f %s |", cbest[s * nconvs + j],
                   impl[s * nconvs + j] ? impl[s * nconvs + j] : "?");
        printf("\n");
    }
    for (int s = 0; s < ns; s++) {
        af_forward_free(f[s]);
        af_model_free(m[s]);
    }
    free(x), free(cbest), free(impl);
    return 0;
}
