/* ultralytics 8.1.9 BaseTrainer._do_train, on the CPU. */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "data/dataset.h"
#include "eval/plot.h"
#include "eval/validator.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/desc.h"
#include "model/model.h"
#include "train/ema.h"
#include "train/export.h"
#include "train/loader.h"
#include "train/loss.h"
#include "train/net.h"
#include "train/optim.h"

void af_train_args_default(af_train_args *a)
{
    memset(a, 0, sizeof *a);
    a->model = "yolov8n.yaml";
    a->epochs = 100;
    a->batch = 16;
    a->imgsz = 640;
    a->workers = 2;
    a->patience = 100;
    a->close_mosaic = 10;
    a->optimizer = "auto";
    a->lr0 = 0.01;
    a->lrf = 0.01;
    a->momentum = 0.937;
    a->weight_decay = 0.0005;
    a->warmup_epochs = 3.0;
    a->warmup_momentum = 0.8;
    a->warmup_bias_lr = 0.1;
    a->box = 7.5;
    a->cls = 0.5;
    a->dfl = 1.5;
    a->nbs = 64;
    a->val = 1;
    a->plots = 1;
    a->save_period = -1;
    af_aug_hyp_default(&a->aug);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double peak_rss_gb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1048576.0;
}

/* np.interp for two points */
static double interp(double x, double x0, double x1, double y0, double y1)
{
    if (x <= x0)
        return y0;
    if (x >= x1)
        return y1;
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0);
}

typedef struct run {
    af_train_args a;
    af_train_cb cb;
    void *user;
    af_data_config cfg;
    af_dataset train_ds, val_ds;
    int have_cfg, have_train, have_val;
    af_model *model, *ema_model;
    af_ema ema;
    af_tnet *net;
    af_loader *loader;
    af_optimizer opt;
    cJSON *args_json;
    /* schedule */
    int nb, nw, accumulate, last_opt_step;
    double lr_fit_warmup_bias;
    int start_epoch;
    double best_fitness;
    int best_epoch; /* EarlyStopping */
    int have_best;
    char weights[4200];
    char model_arg[4096], data_arg[4096]; /* resume: the run's own */
} run;

/* The loss gains of the run's args (ultralytics v8DetectionLoss: model.args). */
static void loss_hyp(const af_train_args *a, af_loss_hyp *hyp)
{
    af_loss_hyp_default(hyp);
    hyp->box = (float)a->box;
    hyp->cls = (float)a->cls;
    hyp->dfl = (float)a->dfl;
}

static void emit(run *r, af_train_event ev, int epoch, const char *text)
{
    if (!r->cb)
        return;
    af_train_progress p = {0};
    p.event = ev;
    p.epoch = epoch;
    p.epochs = r->a.epochs;
    p.text = text;
    p.ram_gb = peak_rss_gb();
    r->cb(r->user, &p);
}

static double lf(const run *r, int epoch)
{
    double E = r->a.epochs, lrf = r->a.lrf;
    if (r->a.cos_lr) /* one_cycle(1, lrf, epochs) */
        return ((1 - cos(epoch * M_PI / E)) / 2) * (lrf - 1) + 1;
    double v = 1 - epoch / E;
    return (v > 0 ? v : 0) * (1.0 - lrf) + lrf;
}

static cJSON *args_to_json(const af_train_args *a)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "task", "detect");
    cJSON_AddStringToObject(j, "mode", "train");
    cJSON_AddStringToObject(j, "model", a->model ? a->model : "");
    cJSON_AddStringToObject(j, "data", a->data ? a->data : "");
    cJSON_AddNumberToObject(j, "epochs", a->epochs);
    cJSON_AddNumberToObject(j, "patience", a->patience);
    cJSON_AddNumberToObject(j, "batch", a->batch);
    cJSON_AddNumberToObject(j, "imgsz", a->imgsz);
    cJSON_AddNumberToObject(j, "workers", a->workers);
    cJSON_AddStringToObject(j, "optimizer", a->optimizer);
    cJSON_AddNumberToObject(j, "seed", (double)a->seed);
    cJSON_AddBoolToObject(j, "cos_lr", a->cos_lr);
    cJSON_AddNumberToObject(j, "close_mosaic", a->close_mosaic);
    cJSON_AddNumberToObject(j, "lr0", a->lr0);
    cJSON_AddNumberToObject(j, "lrf", a->lrf);
    cJSON_AddNumberToObject(j, "momentum", a->momentum);
    cJSON_AddNumberToObject(j, "weight_decay", a->weight_decay);
    cJSON_AddNumberToObject(j, "warmup_epochs", a->warmup_epochs);
    cJSON_AddNumberToObject(j, "warmup_momentum", a->warmup_momentum);
    cJSON_AddNumberToObject(j, "warmup_bias_lr", a->warmup_bias_lr);
    cJSON_AddNumberToObject(j, "box", a->box);
    cJSON_AddNumberToObject(j, "cls", a->cls);
    cJSON_AddNumberToObject(j, "dfl", a->dfl);
    cJSON_AddNumberToObject(j, "nbs", a->nbs);
    cJSON_AddNumberToObject(j, "hsv_h", a->aug.hsv_h);
    cJSON_AddNumberToObject(j, "hsv_s", a->aug.hsv_s);
    cJSON_AddNumberToObject(j, "hsv_v", a->aug.hsv_v);
    cJSON_AddNumberToObject(j, "degrees", a->aug.degrees);
    cJSON_AddNumberToObject(j, "translate", a->aug.translate);
    cJSON_AddNumberToObject(j, "scale", a->aug.scale);
    cJSON_AddNumberToObject(j, "shear", a->aug.shear);
    cJSON_AddNumberToObject(j, "perspective", a->aug.perspective);
    cJSON_AddNumberToObject(j, "flipud", a->aug.flipud);
    cJSON_AddNumberToObject(j, "fliplr", a->aug.fliplr);
    cJSON_AddNumberToObject(j, "mosaic", a->aug.mosaic);
    cJSON_AddNumberToObject(j, "mixup", a->aug.mixup);
    cJSON_AddNumberToObject(j, "save_period", a->save_period);
    cJSON_AddBoolToObject(j, "cache", a->cache_ram);
    cJSON_AddNumberToObject(j, "max_batches", a->max_batches);
    cJSON_AddBoolToObject(j, "amp", a->bf16); /* ultralytics' name for mixed precision */
    return j;
}

static double jnum(const cJSON *j, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* Resume takes the run's own arguments back (ultralytics does the same). */
static void args_from_json(af_train_args *a, const cJSON *j)
{
    a->epochs = (int)jnum(j, "epochs", a->epochs);
    a->patience = (int)jnum(j, "patience", a->patience);
    a->batch = (int)jnum(j, "batch", a->batch);
    a->imgsz = (int)jnum(j, "imgsz", a->imgsz);
    a->bf16 = (int)jnum(j, "amp", a->bf16);
    a->seed = (uint64_t)jnum(j, "seed", (double)a->seed);
    a->cos_lr = (int)jnum(j, "cos_lr", a->cos_lr);
    a->close_mosaic = (int)jnum(j, "close_mosaic", a->close_mosaic);
    a->lr0 = jnum(j, "lr0", a->lr0);
    a->lrf = jnum(j, "lrf", a->lrf);
    a->momentum = jnum(j, "momentum", a->momentum);
    a->weight_decay = jnum(j, "weight_decay", a->weight_decay);
    a->warmup_epochs = jnum(j, "warmup_epochs", a->warmup_epochs);
    a->warmup_momentum = jnum(j, "warmup_momentum", a->warmup_momentum);
    a->warmup_bias_lr = jnum(j, "warmup_bias_lr", a->warmup_bias_lr);
    a->box = jnum(j, "box", a->box);
    a->cls = jnum(j, "cls", a->cls);
    a->dfl = jnum(j, "dfl", a->dfl);
    a->nbs = (int)jnum(j, "nbs", a->nbs);
    a->aug.hsv_h = (float)jnum(j, "hsv_h", a->aug.hsv_h);
    a->aug.hsv_s = (float)jnum(j, "hsv_s", a->aug.hsv_s);
    a->aug.hsv_v = (float)jnum(j, "hsv_v", a->aug.hsv_v);
    a->aug.degrees = (float)jnum(j, "degrees", a->aug.degrees);
    a->aug.translate = (float)jnum(j, "translate", a->aug.translate);
    a->aug.scale = (float)jnum(j, "scale", a->aug.scale);
    a->aug.shear = (float)jnum(j, "shear", a->aug.shear);
    a->aug.perspective = (float)jnum(j, "perspective", a->aug.perspective);
    a->aug.flipud = (float)jnum(j, "flipud", a->aug.flipud);
    a->aug.fliplr = (float)jnum(j, "fliplr", a->aug.fliplr);
    a->aug.mosaic = (float)jnum(j, "mosaic", a->aug.mosaic);
    a->aug.mixup = (float)jnum(j, "mixup", a->aug.mixup);
    a->save_period = (int)jnum(j, "save_period", a->save_period);
    a->max_batches = (int)jnum(j, "max_batches", a->max_batches);
}

/* ---- model setup ---- */

static af_status build_model(run *r, const af_checkpoint *from_state, af_error *err)
{
    const af_train_args *a = &r->a;
    int nc = r->cfg.nc;
    cJSON *yaml = NULL;
    af_checkpoint ck;
    int have_ck = 0;
    af_status st = AF_OK;
    size_t len = strlen(a->model);
    if (from_state) {
        yaml = cJSON_Duplicate(from_state->yaml, 1);
    } else if ((len > 5 && !strcmp(a->model + len - 5, ".yaml")) ||
               (len > 4 && !strcmp(a->model + len - 4, ".yml"))) {
        yaml = af_model_yaml_builtin(a->model, nc, err);
        if (!yaml)
            return err ? err->code : AF_E_ARG;
    } else {
        if ((st = af_checkpoint_load(a->model, &ck, err)))
            return st;
        have_ck = 1;
        if (ck.yaml) {
            yaml = cJSON_Duplicate(ck.yaml, 1);
        } else { /* a plain state dict: the yolov8 scale its first conv implies */
            const af_tensor *t0 = af_tensor_list_find(&ck.tensors, "model.0.conv.weight");
            static const char *const names[] = {"yolov8n.yaml", "yolov8s.yaml", "yolov8m.yaml",
                                                "yolov8l.yaml", "yolov8x.yaml"};
            static const int c0[] = {16, 32, 48, 64, 80};
            const char *pick = "yolov8n.yaml";
            for (int i = 0; t0 && i < 5; i++)
                if (t0->shape[0] == c0[i])
                    pick = names[i];
            yaml = af_model_yaml_builtin(pick, nc, err);
        }
    }
    if (!yaml) {
        if (have_ck)
            af_checkpoint_free(&ck);
        return err && err->code ? err->code : af_fail(err, AF_E_NOMEM, "out of memory");
    }
    int nt = 0;
    const af_checkpoint *src = from_state ? from_state : have_ck ? &ck : NULL;
    st = af_model_build_raw(yaml, nc, src, (unsigned)a->seed, &r->model, &nt, err);
    if (!st)
        st = af_model_build_raw(yaml, nc, NULL, 0, &r->ema_model, NULL, err);
    if (!st)
        st = af_model_set_names(r->model, r->cfg.names, err);
    if (!st)
        st = af_model_set_names(r->ema_model, r->cfg.names, err);
    if (!st && have_ck) {
        char line[512];
        snprintf(line, sizeof line, "Transferred %d/%d items from pretrained weights %s", nt,
                 (int)ck.tensors.count, a->model);
        emit(r, AF_TRAIN_START, 0, line);
    }
    cJSON_Delete(yaml);
    if (have_ck)
        af_checkpoint_free(&ck);
    return st;
}

/* ---- checkpoints ---- */

static af_status save_weights(run *r, const char *name, af_error *err)
{
    af_checkpoint ck;
    af_status st = af_model_to_checkpoint(r->ema.ema, r->args_json, &ck, err);
    if (st)
        return st;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", r->weights, name);
    st = af_checkpoint_save_safetensors(&ck, path, AF_DT_F16, err);
    af_checkpoint_free(&ck);
    return st;
}

/* Moves every tensor of src into dst under "prefix/name". */
static af_status take_prefixed(af_tensor_list *dst, af_tensor_list *src, const char *prefix,
                               af_error *err)
{
    for (size_t i = 0; i < src->count; i++) {
        af_tensor *t = &src->items[i];
        char name[300];
        snprintf(name, sizeof name, "%s/%s", prefix, t->name);
        af_status st = af_tensor_list_add(dst, name, t->dtype, t->ndim, t->shape, t->data,
                                          t->nbytes, err);
        t->data = NULL;
        if (st)
            return st;
    }
    return AF_OK;
}

/* weights/last.state.safetensors: model, EMA, optimizer buffers and counters. */
static af_status save_state(run *r, int next_epoch, af_error *err)
{
    af_tensor_list all = {0};
    af_checkpoint mck, eck;
    af_status st = af_model_to_checkpoint(r->model, r->args_json, &mck, err);
    if (st)
        return st;
    if ((st = af_model_to_checkpoint(r->ema.ema, r->args_json, &eck, err))) {
        af_checkpoint_free(&mck);
        return st;
    }
    st = take_prefixed(&all, &mck.tensors, "model", err);
    if (!st)
        st = take_prefixed(&all, &eck.tensors, "ema", err);
    for (int i = 0; !st && i < r->opt.nparams; i++) {
        int64_t n = (int64_t)r->opt.params[i].n;
        for (int k = 0; k < (r->opt.v ? 2 : 1) && !st; k++) {
            float *src = (k ? r->opt.v : r->opt.m) + r->opt.off[i];
            float *d = malloc((size_t)n * sizeof *d);
            if (!d) {
                st = af_fail(err, AF_E_NOMEM, "out of memory");
                break;
            }
            memcpy(d, src, (size_t)n * sizeof *d);
            char name[64];
            snprintf(name, sizeof name, "opt/%c/%d", k ? 'v' : 'm', i);
            st = af_tensor_list_add(&all, name, AF_DT_F32, 1, &n, d, (size_t)n * sizeof *d, err);
        }
    }
    cJSON *meta = cJSON_CreateObject(), *s = cJSON_CreateObject();
    if (!st && (!meta || !s))
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    if (!st) {
        cJSON_AddNumberToObject(s, "epoch", next_epoch);
        cJSON_AddNumberToObject(s, "best_fitness", r->best_fitness);
        cJSON_AddNumberToObject(s, "best_epoch", r->best_epoch);
        cJSON_AddBoolToObject(s, "have_best", r->have_best);
        cJSON_AddNumberToObject(s, "ema_updates", (double)r->ema.updates);
        cJSON_AddStringToObject(s, "optimizer", af_opt_name(r->opt.kind));
        cJSON_AddNumberToObject(s, "opt_step", (double)r->opt.step);
        cJSON_AddBoolToObject(s, "opt_has_buf", r->opt.has_buf);
        cJSON_AddNumberToObject(s, "last_opt_step", r->last_opt_step);
        cJSON_AddNumberToObject(s, "accumulate", r->accumulate);
        /* the effective value: optimizer=auto zeroes it */
        cJSON_AddNumberToObject(s, "warmup_bias_lr", r->a.warmup_bias_lr);
        cJSON *g = cJSON_AddArrayToObject(s, "groups");
        for (int k = 0; k < 3; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "lr", r->opt.lr[k]);
            cJSON_AddNumberToObject(o, "initial_lr", r->opt.initial_lr[k]);
            cJSON_AddNumberToObject(o, "momentum", r->opt.momentum[k]);
            cJSON_AddNumberToObject(o, "weight_decay", r->opt.weight_decay[k]);
            cJSON_AddItemToArray(g, o);
        }
        cJSON_AddItemToObject(s, "train_args", cJSON_Duplicate(r->args_json, 1));
        cJSON_AddItemToObject(s, "yaml", cJSON_Duplicate(r->model->yaml, 1));
        char *txt = cJSON_PrintUnformatted(s);
        if (!txt) {
            st = af_fail(err, AF_E_NOMEM, "out of memory");
        } else {
            cJSON_AddStringToObject(meta, "format", "animeface-train-state");
            cJSON_AddStringToObject(meta, "state", txt);
            free(txt);
        }
    }
    if (!st) {
        char path[4400];
        snprintf(path, sizeof path, "%s/last.state.safetensors", r->weights);
        st = af_safetensors_write_file(path, &all, meta, err);
    }
    cJSON_Delete(meta);
    cJSON_Delete(s);
    af_tensor_list_free(&all);
    af_checkpoint_free(&mck);
    af_checkpoint_free(&eck);
    return st;
}

/* A checkpoint view of the "prefix/" tensors of a state file (copied). */
static af_status state_part(const af_safetensors *sf, const char *prefix, const cJSON *yaml,
                            af_checkpoint *ck, af_error *err)
{
    memset(ck, 0, sizeof *ck);
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < sf->tensors.count; i++) {
        const af_tensor *t = &sf->tensors.items[i];
        if (strncmp(t->name, prefix, pl) || t->name[pl] != '/')
            continue;
        void *d = malloc(t->nbytes ? t->nbytes : 1);
        if (!d) {
            af_checkpoint_free(ck);
            return af_fail(err, AF_E_NOMEM, "out of memory");
        }
        memcpy(d, t->data, t->nbytes);
        af_status st = af_tensor_list_add(&ck->tensors, t->name + pl + 1, t->dtype, t->ndim,
                                          t->shape, d, t->nbytes, err);
        if (st) {
            af_checkpoint_free(ck);
            return st;
        }
    }
    ck->yaml = cJSON_Duplicate(yaml, 1);
    return AF_OK;
}

/* ---- validation ---- */

/* The validator's loss callback: the training loss with the run's gains, as
 * ultralytics' val during training calls model.loss (the EMA model's
 * criterion, built from the trainer's args). */
static af_status val_loss(void *ctx, const af_val_loss_batch *b, float items[3], af_error *err)
{
    const af_loss_hyp *hyp = ctx;
    af_loss_level lv[AF_MAX_LEVELS];
    for (int l = 0; l < b->nlevels; l++)
        lv[l] = (af_loss_level){b->raw[l], b->rh[l], b->rw[l], b->stride[l]};
    af_loss_targets t = {b->nt, b->batch_idx, b->cls, b->bboxes};
    af_loss_out lo;
    af_status st = af_loss_compute(hyp, b->n, b->nc, b->h, b->w, lv, b->nlevels, &t, &lo, NULL,
                                   NULL, err);
    if (!st)
        memcpy(items, lo.loss_items, sizeof lo.loss_items);
    return st;
}

static af_status validate(run *r, int final, int plots, af_val_report *rep, af_error *err)
{
    af_checkpoint ck;
    af_status st = af_model_to_checkpoint(r->ema.ema, r->args_json, &ck, err);
    if (st)
        return st;
    af_model *m = NULL;
    st = af_model_build(&ck, &m, err);
    af_checkpoint_free(&ck);
    if (st)
        return st;
    af_val_options o;
    af_val_options_default(&o);
    o.imgsz = r->a.imgsz;
    o.batch = r->a.batch * 2;
    o.threads = r->a.threads;
    af_loss_hyp hyp;
    loss_hyp(&r->a, &hyp);
    if (!final) {
        o.loss = val_loss;
        o.loss_ctx = &hyp;
    }
    o.plots = plots;
    o.save_dir = plots ? r->a.save_dir : NULL;
    st = af_validate(m, &r->val_ds, (const char *const *)r->cfg.names, &o, NULL, NULL, rep, err);
    af_model_free(m);
    return st;
}

static void emit_val_table(run *r, int epoch, const af_val_report *rep)
{
    char *table = NULL;
    af_error e = {0};
    if (af_report_table(&rep->metrics, (const char *const *)r->cfg.names, &table, &e) == AF_OK) {
        emit(r, AF_TRAIN_VAL, epoch, table);
        free(table);
    }
}

/* On resume: drop rows of epochs after the checkpoint (written before a kill). */
static void trim_csv(run *r)
{
    char path[4400], tmp[4500];
    snprintf(path, sizeof path, "%s/results.csv", r->a.save_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = fopen(path, "r");
    if (!in)
        return;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return;
    }
    char line[4096];
    int first = 1;
    while (fgets(line, sizeof line, in)) {
        if (first || atof(line) <= r->start_epoch)
            fputs(line, out);
        first = 0;
    }
    fclose(in);
    if (fclose(out) == 0)
        rename(tmp, path);
}

static void append_csv(run *r, int epoch, const double tloss[3], const af_val_report *rep)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/results.csv", r->a.save_dir);
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    static const char *const keys[] = {
        "epoch",           "train/box_loss",       "train/cls_loss",   "train/dfl_loss",
        "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
        "val/box_loss",    "val/cls_loss",         "val/dfl_loss",     "lr/pg0",
        "lr/pg1",          "lr/pg2"};
    int nk = (int)(sizeof keys / sizeof keys[0]);
    if (!exists) {
        for (int i = 0; i < nk; i++)
            fprintf(f, "%23s%s", keys[i], i + 1 < nk ? "," : "\n");
    }
    double v[14] = {epoch,
                    tloss[0],
                    tloss[1],
                    tloss[2],
                    rep ? rep->metrics.p : 0,
                    rep ? rep->metrics.r : 0,
                    rep ? rep->metrics.map50 : 0,
                    rep ? rep->metrics.map : 0,
                    rep ? rep->loss[0] : 0,
                    rep ? rep->loss[1] : 0,
                    rep ? rep->loss[2] : 0,
                    r->opt.lr[0],
                    r->opt.lr[1],
                    r->opt.lr[2]};
    for (int i = 0; i < nk; i++)
        fprintf(f, "%23.5g%s", v[i], i + 1 < nk ? "," : "\n");
    fclose(f);
}

/* ---- setup ---- */

/* results.png from results.csv (ultralytics' plot_results layout). */
static af_status draw_results(const run *r, af_error *err)
{
    char csv[4400], png[4400];
    snprintf(csv, sizeof csv, "%s/results.csv", r->a.save_dir);
    snprintf(png, sizeof png, "%s/results.png", r->a.save_dir);
    return af_plot_results(csv, png, err);
}

static af_status setup_optimizer(run *r, af_error *err)
{
    const af_train_args *a = &r->a;
    int np;
    const af_param *params = af_tnet_params(r->net, &np);
    int n_train = af_loader_size(r->loader);
    r->accumulate = (int)fmax(round((double)a->nbs / a->batch), 1);
    double wd = a->weight_decay * a->batch * r->accumulate / a->nbs;
    long iterations =
        (long)ceil((double)n_train / (a->batch > a->nbs ? a->batch : a->nbs)) * a->epochs;
    af_opt_kind kind;
    double lr = a->lr0, momentum = a->momentum;
    char line[512];
    if (!strcmp(a->optimizer, "auto")) {
        double lr_fit = round(0.002 * 5 / (4 + r->cfg.nc) * 1e6) / 1e6;
        if (iterations > 10000) {
            kind = AF_OPT_SGD;
            lr = 0.01;
        } else {
            kind = AF_OPT_ADAMW;
            lr = lr_fit;
        }
        momentum = 0.9;
        r->a.warmup_bias_lr = 0.0; /* no higher than 0.01 for Adam */
        snprintf(line, sizeof line,
                 "optimizer: 'optimizer=auto' found, ignoring 'lr0=%g' and 'momentum=%g' and "
                 "determining best 'optimizer', 'lr0' and 'momentum' automatically...",
                 a->lr0, a->momentum);
        emit(r, AF_TRAIN_START, 0, line);
    } else if (af_opt_parse(a->optimizer, &kind)) {
        return af_fail(err, AF_E_ARG,
                       "optimizer '%s' is not available (use auto, SGD, Adam or AdamW)",
                       a->optimizer);
    }
    af_status st = af_optimizer_init(&r->opt, kind, params, np, lr, momentum, wd, err);
    if (st)
        return st;
    int n0 = 0, n1 = 0, n2 = 0;
    for (int i = 0; i < np; i++) {
        int g = af_param_pg(&params[i]);
        n0 += g == 1;
        n1 += g == 2;
        n2 += g == 0;
    }
    snprintf(line, sizeof line,
             "optimizer: %s(lr=%g, momentum=%g) with parameter groups %d weight(decay=0.0), %d "
             "weight(decay=%g), %d bias(decay=0.0)",
             af_opt_name(kind), lr, momentum, n1, n0, wd, n2);
    emit(r, AF_TRAIN_START, 0, line);
    return AF_OK;
}

static af_status load_state(run *r, af_safetensors *sf, cJSON **state, af_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/last.state.safetensors", r->weights);
    af_status st = af_safetensors_read_file(path, sf, err);
    if (st) {
        af_error_prefix(err, "cannot resume");
        return st;
    }
    const cJSON *s = sf->metadata ? cJSON_GetObjectItemCaseSensitive(sf->metadata, "state") : NULL;
    if (!cJSON_IsString(s) || !(*state = cJSON_Parse(s->valuestring))) {
        af_safetensors_free(sf);
        return af_fail(err, AF_E_FORMAT, "%s: not an animeface training state", path);
    }
    return AF_OK;
}

static af_status restore_optimizer(run *r, const af_safetensors *sf, const cJSON *s,
                                   af_error *err)
{
    af_opt_kind kind;
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(s, "optimizer");
    if (!cJSON_IsString(on) || af_opt_parse(on->valuestring, &kind))
        return af_fail(err, AF_E_FORMAT, "training state: bad optimizer");
    int np;
    const af_param *params = af_tnet_params(r->net, &np);
    af_status st = af_optimizer_init(&r->opt, kind, params, np, 0, 0, 0, err);
    if (st)
        return st;
    for (int i = 0; i < np; i++)
        for (int k = 0; k < (r->opt.v ? 2 : 1); k++) {
            char name[64];
            snprintf(name, sizeof name, "opt/%c/%d", k ? 'v' : 'm', i);
            const af_tensor *t = af_tensor_list_find(&sf->tensors, name);
            if (!t || t->dtype != AF_DT_F32 || t->nbytes != params[i].n * sizeof(float))
                return af_fail(err, AF_E_FORMAT, "training state: optimizer buffer %s missing",
                               name);
            memcpy((k ? r->opt.v : r->opt.m) + r->opt.off[i], t->data, t->nbytes);
        }
    r->opt.step = (long)jnum(s, "opt_step", 0);
    r->opt.has_buf = (int)jnum(s, "opt_has_buf", 0);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(s, "groups");
    for (int k = 0; k < 3; k++) {
        const cJSON *o = cJSON_GetArrayItem(g, k);
        r->opt.lr[k] = jnum(o, "lr", 0);
        r->opt.initial_lr[k] = jnum(o, "initial_lr", 0);
        r->opt.momentum[k] = jnum(o, "momentum", 0);
        r->opt.weight_decay[k] = jnum(o, "weight_decay", 0);
    }
    r->last_opt_step = (int)jnum(s, "last_opt_step", -1);
    r->accumulate = (int)jnum(s, "accumulate", 1);
    r->a.warmup_bias_lr = jnum(s, "warmup_bias_lr", r->a.warmup_bias_lr);
    r->best_fitness = jnum(s, "best_fitness", 0);
    r->best_epoch = (int)jnum(s, "best_epoch", 0);
    r->have_best = (int)jnum(s, "have_best", 0);
    r->ema.updates = (long)jnum(s, "ema_updates", 0);
    r->start_epoch = (int)jnum(s, "epoch", 0);
    return AF_OK;
}

static af_status setup(run *r, af_error *err)
{
    af_train_args *a = &r->a;
    af_status st;
    snprintf(r->weights, sizeof r->weights, "%s/weights", a->save_dir);
    if ((st = af_make_dirs(r->weights, err)))
        return st;
    af_safetensors sf = {0};
    cJSON *state = NULL;
    if (a->resume) {
        if ((st = load_state(r, &sf, &state, err)))
            return st;
        const cJSON *ta = cJSON_GetObjectItemCaseSensitive(state, "train_args");
        args_from_json(a, ta);
        /* the run's own start weights and data (the data may be given anew if moved) */
        const cJSON *mj = cJSON_GetObjectItemCaseSensitive(ta, "model");
        const cJSON *dj = cJSON_GetObjectItemCaseSensitive(ta, "data");
        if (cJSON_IsString(mj)) {
            snprintf(r->model_arg, sizeof r->model_arg, "%s", mj->valuestring);
            a->model = r->model_arg;
        }
        struct stat sb;
        if (cJSON_IsString(dj) && (!a->data || stat(dj->valuestring, &sb) == 0)) {
            snprintf(r->data_arg, sizeof r->data_arg, "%s", dj->valuestring);
            a->data = r->data_arg;
        }
    }
    if ((st = af_data_config_load(a->data, &r->cfg, err)))
        goto out;
    r->have_cfg = 1;
    af_dataset_opts dopts = {0};
    if ((st = af_dataset_load(&r->cfg, "train", &dopts, &r->train_ds, err)))
        goto out;
    r->have_train = 1;
    if ((st = af_dataset_load(&r->cfg, "val", &dopts, &r->val_ds, err)))
        goto out;
    r->have_val = 1;
    r->args_json = args_to_json(a);
    if (!r->args_json) {
        st = af_fail(err, AF_E_NOMEM, "out of memory");
        goto out;
    }
    af_checkpoint part = {0}, epart = {0};
    if (state) {
        const cJSON *yaml = cJSON_GetObjectItemCaseSensitive(state, "yaml");
        if ((st = state_part(&sf, "model", yaml, &part, err)) ||
            (st = state_part(&sf, "ema", yaml, &epart, err)))
            goto out_parts;
    }
    if ((st = build_model(r, state ? &part : NULL, err)))
        goto out_parts;
    af_ema_init(&r->ema, r->ema_model, r->model);
    if (state) {
        af_model *tmp = NULL;
        int nt = 0;
        st = af_model_build_raw(epart.yaml, r->cfg.nc, &epart, 0, &tmp, &nt, err);
        if (!st) {
            af_model_copy_params(r->ema_model, tmp);
            af_model_free(tmp);
        }
        if (st)
            goto out_parts;
    }
    if ((st = af_tnet_create(r->model, a->threads, 0.03f, &r->net, err)))
        goto out_parts;
    af_tnet_set_bf16(r->net, a->bf16);
    af_loader_opts lo = {a->imgsz, a->batch, a->workers, a->cache_ram, a->seed, a->aug};
    /* YOLO11 models train with 8.3's LetterBox label placement */
    lo.hyp.labels_pad_rounded = r->model->layers[r->model->desc.nlayers - 1].spec.dwhead;
    if ((st = af_loader_create(&r->train_ds, &lo, &r->loader, err)))
        goto out_parts;
    r->nb = af_loader_batches(r->loader);
    if (a->max_batches > 0 && a->max_batches < r->nb)
        r->nb = a->max_batches;
    r->nw = a->warmup_epochs > 0 ? (int)fmax(round(a->warmup_epochs * r->nb), 100) : -1;
    r->last_opt_step = -1;
    if (state)
        st = restore_optimizer(r, &sf, state, err);
    else
        st = setup_optimizer(r, err);
    if (!st && !state)
        for (int k = 0; k < 3; k++)
            r->opt.lr[k] = r->opt.initial_lr[k] * lf(r, 0);
out_parts:
    af_checkpoint_free(&part);
    af_checkpoint_free(&epart);
out:
    cJSON_Delete(state);
    af_safetensors_free(&sf);
    return st;
}

static void teardown(run *r)
{
    af_loader_free(r->loader);
    af_tnet_free(r->net);
    af_optimizer_free(&r->opt);
    af_model_free(r->model);
    af_model_free(r->ema_model);
    if (r->have_val)
        af_dataset_free(&r->val_ds);
    if (r->have_train)
        af_dataset_free(&r->train_ds);
    if (r->have_cfg)
        af_data_config_free(&r->cfg);
    cJSON_Delete(r->args_json);
}

/* ---- the loop ---- */

static af_status train_epoch(run *r, int epoch, double tloss[3], af_error *err)
{
    const af_train_args *a = &r->a;
    int use_mosaic = a->aug.mosaic > 0 && epoch < a->epochs - a->close_mosaic;
    af_status st = af_loader_start_epoch(r->loader, epoch, use_mosaic, err);
    if (st)
        return st;
    af_loss_hyp hyp;
    loss_hyp(a, &hyp);
    int np;
    const af_param *params = af_tnet_params(r->net, &np);
    af_tnet_zero_grad(r->net);
    tloss[0] = tloss[1] = tloss[2] = 0;
    double t0 = now_s();
    for (int i = 0; i < r->nb; i++) {
        af_train_batch b;
        int more;
        if ((st = af_loader_next(r->loader, &b, &more, err)))
            return st;
        if (!more)
            break;
        int ni = i + r->nb * epoch;
        if (ni <= r->nw) {
            r->accumulate = (int)fmax(1, round(interp(ni, 0, r->nw, 1, (double)a->nbs / a->batch)));
            for (int k = 0; k < 3; k++) {
                r->opt.lr[k] = interp(ni, 0, r->nw, k == 0 ? a->warmup_bias_lr : 0.0,
                                      r->opt.initial_lr[k] * lf(r, epoch));
                r->opt.momentum[k] = interp(ni, 0, r->nw, a->warmup_momentum, a->momentum);
            }
        }
        af_loss_level lv[AF_MAX_LEVELS];
        if ((st = af_tnet_forward(r->net, b.img, b.n, b.imgsz, b.imgsz, lv, err)))
            return st;
        af_loss_targets t = {b.nt, b.batch_idx, b.cls, b.bboxes};
        af_loss_out lo;
        if ((st = af_loss_compute(&hyp, b.n, r->cfg.nc, b.imgsz, b.imgsz, lv, r->model->nlevels,
                                  &t, &lo, af_tnet_head_grads(r->net), NULL, err)))
            return st;
        if (!isfinite(lo.total))
            return af_fail(err, AF_E_INTERNAL,
                           "the loss became %g at epoch %d batch %d: training diverged (try a "
                           "lower --lr0)",
                           lo.total, epoch + 1, i + 1);
        if ((st = af_tnet_backward(r->net, err)))
            return st;
        for (int k = 0; k < 3; k++)
            tloss[k] = (tloss[k] * i + lo.loss_items[k]) / (i + 1);
        if (ni - r->last_opt_step >= r->accumulate) {
            af_clip_grad_norm(params, np, 10.0);
            af_optimizer_step(&r->opt);
            af_tnet_zero_grad(r->net);
            af_ema_update(&r->ema, r->model);
            r->last_opt_step = ni;
        }
        if (r->cb) {
            double el = now_s() - t0;
            af_train_progress p = {0};
            p.event = AF_TRAIN_BATCH;
            p.epoch = epoch + 1;
            p.epochs = a->epochs;
            p.batch = i + 1;
            p.batches = r->nb;
            memcpy(p.loss, tloss, sizeof p.loss);
            p.instances = b.nt;
            p.size = b.imgsz;
            p.ram_gb = peak_rss_gb();
            p.elapsed_s = el;
            p.eta_s = el / (i + 1) * (r->nb - i - 1);
            r->cb(r->user, &p);
        }
    }
    return AF_OK;
}

af_status af_train(const af_train_args *args, af_train_cb cb, void *user, af_error *err)
{
    run *r = calloc(1, sizeof *r);
    if (!r)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    r->a = *args;
    r->cb = cb;
    r->user = user;
    af_status st = AF_OK;
    if (!r->a.save_dir || (!r->a.resume && (!r->a.data || !r->a.model))) {
        st = af_fail(err, AF_E_ARG, "training needs data, model and a run folder");
        goto done;
    }
    if (r->a.epochs < 1 || r->a.batch < 1 || r->a.imgsz < 32) {
        st = af_fail(err, AF_E_ARG, "epochs, batch and imgsz must be positive");
        goto done;
    }
    if ((st = setup(r, err)))
        goto done;
    {
        char line[512];
        snprintf(line, sizeof line,
                 "Image sizes %d train, %d val\nUsing %d dataloader workers\nLogging results to "
                 "%s\nStarting training for %d epochs...",
                 r->a.imgsz, r->a.imgsz, r->a.workers, r->a.save_dir, r->a.epochs);
        if (r->start_epoch > 0)
            snprintf(line, sizeof line, "Resuming training from epoch %d of %d in %s",
                     r->start_epoch + 1, r->a.epochs, r->a.save_dir);
        emit(r, AF_TRAIN_START, 0, line);
    }
    if (r->start_epoch > 0)
        trim_csv(r);
    double t_start = now_s();
    int epoch = r->start_epoch;
    for (; epoch < r->a.epochs; epoch++) {
        double tloss[3];
        if ((st = train_epoch(r, epoch, tloss, err)))
            goto done;
        emit(r, AF_TRAIN_EPOCH_END, epoch + 1, NULL);
        int final_epoch = epoch + 1 == r->a.epochs;
        int possible_stop = r->a.patience > 0 && epoch + 1 - r->best_epoch >= r->a.patience - 1;
        af_val_report rep;
        int have_rep = 0;
        double fitness = 0;
        if (r->a.val || final_epoch || possible_stop) {
            if ((st = validate(r, 0, 0, &rep, err)))
                goto done;
            have_rep = 1;
            fitness = rep.metrics.fitness;
            emit_val_table(r, epoch + 1, &rep);
            if (!r->have_best || r->best_fitness < fitness) {
                r->best_fitness = fitness;
                r->have_best = 1;
            }
        }
        append_csv(r, epoch + 1, tloss, have_rep ? &rep : NULL);
        /* results.png after every epoch too, so a long run can be followed (ultralytics draws
         * it once at the end, as below); a failure here only costs the picture */
        if (r->a.plots) {
            af_error perr = {0};
            if (draw_results(r, &perr))
                emit(r, AF_TRAIN_INFO, epoch + 1, perr.msg);
        }
        /* EarlyStopping */
        int stop = 0;
        if (have_rep) {
            if (fitness >= r->best_fitness) {
                r->best_epoch = epoch + 1;
            }
            int delta = epoch + 1 - r->best_epoch;
            stop = r->a.patience > 0 && delta >= r->a.patience;
        }
        /* scheduler.step(): the next epoch's lr */
        for (int k = 0; k < 3; k++)
            r->opt.lr[k] = r->opt.initial_lr[k] * lf(r, epoch + 1);
        /* save: state first (it is what resume reads), then the weights */
        if ((st = save_state(r, epoch + 1, err)) || (st = save_weights(r, "last.safetensors", err)))
            goto done_rep;
        if (have_rep && r->best_fitness == fitness &&
            (st = save_weights(r, "best.safetensors", err)))
            goto done_rep;
        if (r->a.save_period > 0 && (epoch + 1) % r->a.save_period == 0) {
            char name[64];
            snprintf(name, sizeof name, "epoch%d.safetensors", epoch + 1);
            if ((st = save_weights(r, name, err)))
                goto done_rep;
        }
        if (stop) {
            char line[256];
            snprintf(line, sizeof line,
                     "Stopping training early as no improvement observed in last %d epochs. "
                     "Best results observed at epoch %d, best model saved as best.safetensors.",
                     r->a.patience, r->best_epoch);
            emit(r, AF_TRAIN_INFO, epoch + 1, line);
        }
    done_rep:
        if (have_rep)
            af_val_report_free(&rep);
        if (st)
            goto done;
        if (stop) {
            epoch++;
            break;
        }
    }
    {
        char line[256];
        snprintf(line, sizeof line, "%d epochs completed in %.3f hours.", epoch - r->start_epoch,
                 (now_s() - t_start) / 3600);
        emit(r, AF_TRAIN_INFO, epoch, line);
    }
    /* final_eval: the best weights, with plots */
    if (r->have_best) {
        char path[4400];
        snprintf(path, sizeof path, "%s/best.safetensors", r->weights);
        af_model *m = NULL;
        if ((st = af_model_load(path, &m, err)))
            goto done;
        af_val_options o;
        af_val_options_default(&o);
        o.imgsz = r->a.imgsz;
        o.batch = r->a.batch * 2;
        o.threads = r->a.threads;
        o.plots = r->a.plots;
        o.save_dir = r->a.save_dir;
        af_val_report rep;
        char line[4600];
        snprintf(line, sizeof line, "Validating %s...", path);
        emit(r, AF_TRAIN_INFO, epoch, line);
        st = af_validate(m, &r->val_ds, (const char *const *)r->cfg.names, &o, NULL, NULL, &rep,
                         err);
        af_model_free(m);
        if (st)
            goto done;
        emit_val_table(r, epoch, &rep);
        af_val_report_free(&rep);
    }
    if (r->a.plots && (st = draw_results(r, err)))
        goto done;
    emit(r, AF_TRAIN_DONE, epoch, NULL);
done:
    teardown(r);
    free(r);
    return st;
}
