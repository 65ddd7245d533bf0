/* animeface bench --train: training throughput (forward, loss, backward and
 * an optimizer step per batch) on random images with random boxes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/bench_train.h"
#include "model/desc.h"
#include "model/model.h"
#include "train/loss.h"
#include "train/net.h"
#include "train/optim.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int bench_train(const char *model_name, int imgsz, int batch, int runs, int warmup, int threads,
                int nc, int bf16)
{
    af_error err = {0};
    cJSON *y = af_model_yaml_builtin(model_name ? model_name : "yolov8n.yaml", nc, &err);
    af_model *m = NULL;
    af_tnet *t = NULL;
    af_optimizer o = {0};
    int rc = 1, np;
    if (!y || af_model_build_raw(y, nc, NULL, 1, &m, NULL, &err) ||
        af_tnet_create(m, threads, 0.03f, &t, &err)) {
        fprintf(stderr, "animeface bench: %s\n", err.msg);
        goto done;
    }
    af_tnet_set_bf16(t, bf16);
    const af_param *params = af_tnet_params(t, &np);
    if (af_optimizer_init(&o, AF_OPT_SGD, params, np, 0.01, 0.937, 5e-4, &err)) {
        fprintf(stderr, "animeface bench: %s\n", err.msg);
        goto done;
    }
    size_t n = (size_t)batch * imgsz * imgsz * 3;
    float *img = malloc(n * sizeof *img);
    int nt = batch * 4;
    float *tg = malloc((size_t)nt * 6 * sizeof *tg);
    if (!img || !tg) {
        free(img);
        free(tg);
        fprintf(stderr, "animeface bench: out of memory\n");
        goto done;
    }
    unsigned r = 99;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        img[i] = (float)(r >> 8) / 16777216.0f;
    }
    float *bi = tg, *cl = tg + nt, *bx = tg + 2 * nt;
    for (int k = 0; k < nt; k++) {
        bi[k] = (float)(k / 4);
        cl[k] = (float)(k % nc);
        bx[4 * k + 0] = 0.2f + 0.15f * (k % 4);
        bx[4 * k + 1] = 0.3f + 0.1f * (k % 3);
        bx[4 * k + 2] = 0.1f + 0.05f * (k % 2);
        bx[4 * k + 3] = 0.12f;
    }
    af_loss_hyp hyp;
    af_loss_hyp_default(&hyp);
    af_loss_targets tgt = {nt, bi, cl, bx};
    double t_total = 0, t_phase[4] = {0}; /* forward, loss, backward, optimizer */
    int timed = 0;
    for (int it = 0; it < warmup + runs; it++) {
        double t0 = now_s(), t1, t2, t3;
        af_loss_level lv[AF_MAX_LEVELS];
        af_loss_out lo;
        af_status st = af_tnet_forward(t, img, batch, imgsz, imgsz, lv, &err);
        t1 = now_s();
        if (!st)
            st = af_loss_compute(&hyp, batch, nc, imgsz, imgsz, lv, m->nlevels, &tgt, &lo,
                                 af_tnet_head_grads(t), NULL, &err);
        t2 = now_s();
        if (!st)
            st = af_tnet_backward(t, &err);
        t3 = now_s();
        if (st) {
            fprintf(stderr, "animeface bench: %s\n", err.msg);
            free(img);
            free(tg);
            goto done;
        }
        af_clip_grad_norm(params, np, 10.0);
        af_optimizer_step(&o);
        af_tnet_zero_grad(t);
        if (it >= warmup) {
            double t4 = now_s();
            t_total += t4 - t0;
            t_phase[0] += t1 - t0;
            t_phase[1] += t2 - t1;
            t_phase[2] += t3 - t2;
            t_phase[3] += t4 - t3;
            timed++;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double per = t_total / timed;
    printf("| model | imgsz | batch | threads | s/batch | img/s | peak RSS MiB |\n");
    printf("|---|---|---|---|---|---|---|\n");
    printf("| %s%s | %d | %d | %d | %.2f | %.2f | %.0f |\n",
           model_name ? model_name : "yolov8n.yaml", bf16 ? " (bf16 convs)" : "",
           imgsz, batch, threads, per, batch / per, ru.ru_maxrss / 1024.0);
    static const char *phase[4] = {"forward", "loss + assigner", "backward",
                                   "clip + optimizer + zero"};
    printf("\n| phase | s/batch | share |\n|---|---|---|\n");
    for (int k = 0; k < 4; k++)
        printf("| %s | %.3f | %.1f%% |\n", phase[k], t_phase[k] / timed,
               100.0 * t_phase[k] / t_total);
    free(img);
    free(tg);
    rc = 0;
done:
    af_optimizer_free(&o);
    af_tnet_free(t);
    af_model_free(m);
    cJSON_Delete(y);
    return rc;
}
