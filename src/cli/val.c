/* animeface val: a model on a YOLO dataset split -> P, R, mAP50, mAP50-95 in
 * ultralytics' table, plots and predictions in runs/detect/valN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/fsutil.h"
#include "cli/options.h"
#include "eval/validator.h"
#include "io/safetensors.h"
#include "model/model.h"

typedef struct val_progress {
    int enabled;
} val_progress;

/* --save-threshold writes into --model: a safetensors file (not the bundled model, not a
 * .pt, which `animeface export` turns into one). Says why not; 1 if it is one. */
static int is_safetensors_file(const char *model)
{
    if (!model || !*model) {
        fprintf(stderr, "animeface val: --save-threshold needs --model FILE.safetensors (the "
                        "bundled model carries its own)\n");
        return 0;
    }
    unsigned char magic[2] = {0, 0};
    FILE *f = fopen(model, "rb");
    size_t n = f ? fread(magic, 1, 2, f) : 0;
    if (f)
        fclose(f);
    if (n == 2 && magic[0] == 'P' && magic[1] == 'K') {
        fprintf(stderr, "animeface val: --save-threshold: %s is a .pt checkpoint; 'animeface "
                        "export %s -o M.safetensors' first, then val that\n",
                model, model);
        return 0;
    }
    return 1;
}

/* The argmax of ultralytics' smoothed mean F1 curve (ap_per_class's i), as a confidence;
 * 0 when no AP was computed. */
static double f1_optimal_conf(const af_val_metrics *m, double *f1)
{
    *f1 = 0;
    if (!m->ap_computed || !m->ap.x)
        return 0;
    const size_t b = m->ap.best;
    double s = 0;
    for (size_t c = 0; c < m->ap.nc; c++)
        s += m->ap.f1_curve[c * AF_AP_NCURVE + b];
    *f1 = m->ap.nc ? s / (double)m->ap.nc : 0;
    return m->ap.x[b];
}

static void on_progress(void *user, int done, int total)
{
    val_progress *p = user;
    if (!p->enabled)
        return;
    char head[128];
    af_report_header(head, sizeof head);
    fprintf(stderr, "\r%s: %3d%% %d/%d images", head, total ? 100 * done / total : 100, done,
            total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

int cmd_val(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *split = "val", *project = "runs/detect",
               *name = "val", *device = NULL, *precision = NULL,
               *conv = NULL;
    int imgsz = 0, batch = 16, max_det = 300, plots = 1, save_json = 0, json = 0, exist_ok = 0;
    int threads = 0, quiet = 0, help = 0, verbose = 1, save_threshold = 0;
    double conf = 0.001, iou = 0.7;
    opt_spec specs[] = {
        {"model", NULL, OPT_STRING, &model, 1, 0, "weights (.pt or .safetensors; default: bundled)",
         "FILE"},
        {"data", NULL, OPT_STRING, &data, 1, 0, "dataset yaml (ultralytics data.yaml)", "YAML"},
        {"split", NULL, OPT_STRING, &split, 1, 0, "val (default), test or train", "S"},
        {"imgsz", NULL, OPT_INT, &imgsz, 32, 8192, "image size (default: the model's)", "N"},
        {"batch", NULL, OPT_INT, &batch, 1, 256, "batch size (16)", "N"},
        {"conf", NULL, OPT_FLOAT, &conf, 0, 1, "confidence threshold (0.001)", "X"},
        {"iou", NULL, OPT_FLOAT, &iou, 0, 1, "NMS IoU threshold (0.7)", "X"},
        {"max-det", NULL, OPT_INT, &max_det, 1, 100000, "boxes per image (300)", "N"},
        {"plots", NULL, OPT_BOOL, &plots, 1, 0, "write curves, confusion matrices, mosaics (on)",
         NULL},
        {"save-json", NULL, OPT_BOOL, &save_json, 1, 0, "write predictions.json (COCO format)",
         NULL},
        {"json", NULL, OPT_BOOL, &json, 1, 0, "print the results as one JSON object on stdout",
         NULL},
        {"project", NULL, OPT_STRING, &project, 1, 0, "output root (runs/detect)", "DIR"},
        {"name", NULL, OPT_STRING, &name, 1, 0, "run name (val, val2, ...)", "NAME"},
        {"exist-ok", NULL, OPT_BOOL, &exist_ok, 1, 0, "reuse project/name", NULL},
        {"threads", NULL, OPT_INT, &threads, 0, 1024, "compute threads (all cores)", "N"},
        {"precision", NULL, OPT_STRING, &precision, 1, 0,
         CLI_HELP_PRECISION, "P"},
        {"conv", NULL, OPT_STRING, &conv, 1, 0,
         CLI_HELP_CONV, "A"},
        {"quiet", NULL, OPT_BOOL, &quiet, 1, 0, "print only the table", NULL},
        {"verbose", NULL, OPT_BOOL, &verbose, 1, 0, "(ultralytics) = !quiet", NULL},
        {"device", NULL, OPT_STRING, &device, 1, 0, "(ultralytics) only 'cpu'", "D"},
        {"save-threshold", NULL, OPT_BOOL, &save_threshold, 1, 0,
         "store the F1-optimal confidence in the model's metadata (a .safetensors --model)",
         NULL},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    char *pos[4];
    int npos;
    if (opt_parse("animeface val", argc, argv, specs, ns, pos, 4, &npos))
        return 2;
    if (help) {
        opt_print_help("Usage: animeface val --data data.yaml [--model M] [--split test]\n"
                       "ultralytics spelling: animeface val model=best.pt data=data.yaml",
                       specs, ns);
        return 0;
    }
    if (npos) {
        fprintf(stderr, "animeface val: unexpected argument '%s' (see --help)\n", pos[0]);
        return 2;
    }
    if (!data) {
        fprintf(stderr, "animeface val: --data is required (a YOLO data.yaml)\n");
        return 2;
    }
    if (device && *device && strcmp(device, "cpu")) {
        fprintf(stderr, "animeface val: device '%s' is not available: animeface runs on the CPU\n",
                device);
        return 2;
    }
    quiet = quiet || !verbose;
    FILE *log = json ? stderr : stdout;
    if (save_threshold && !is_safetensors_file(model))
        return 2;

    af_error err = {0};
    af_data_config cfg;
    if (af_data_config_load(data, &cfg, &err)) {
        fprintf(stderr, "animeface val: %s\n", err.msg);
        return 1;
    }
    af_dataset ds;
    af_dataset_opts dopts = {0};
    if (af_dataset_load(&cfg, split, &dopts, &ds, &err)) {
        fprintf(stderr, "animeface val: %s\n", err.msg);
        af_data_config_free(&cfg);
        return 1;
    }
    for (size_t i = 0; i < ds.issues.n; i++) {
        const af_issue *is = &ds.issues.v[i];
        if (is->line)
            fprintf(stderr, "%s: %s:%d: %s\n", is->kind == AF_ISSUE_CORRUPT ? "ignoring" : "warning",
                    is->file, is->line, is->msg);
        else
            fprintf(stderr, "%s: %s: %s\n", is->kind == AF_ISSUE_CORRUPT ? "ignoring" : "warning",
                    is->file, is->msg);
    }
    const char *shown;
    af_model *m = cli_load_model(model, &shown);
    int rc = 1;
    if (!m)
        goto out_ds;
    if (cli_set_numerics("val", m, precision, conv)) {
        af_model_free(m);
        goto out_ds;
    }
    if (m->nc != cfg.nc)
        fprintf(stderr,
                "animeface val: warning: the model has %d classes, %s has %d; class ids are "
                "compared as they are\n",
                m->nc, data, cfg.nc);
    /* class names: the dataset's where it covers the model's classes */
    const char **names = malloc((size_t)m->nc * sizeof *names);
    if (!names)
        goto out_model;
    for (int c = 0; c < m->nc; c++)
        names[c] = c < cfg.nc ? cfg.names[c] : m->names[c];

    char save_dir[4096] = "";
    if (plots || save_json) {
        char base[4096];
        snprintf(base, sizeof base, "%s/%s", project, name);
        fs_increment_dir(base, exist_ok, save_dir, sizeof save_dir);
        if (fs_mkdirs(save_dir)) {
            fprintf(stderr, "animeface val: cannot create %s\n", save_dir);
            free(names);
            goto out_model;
        }
    }
    af_val_options o;
    af_val_options_default(&o);
    o.imgsz = imgsz;
    o.batch = batch;
    o.conf = (float)conf;
    o.iou = (float)iou;
    o.max_det = max_det;
    o.threads = threads;
    o.plots = plots;
    o.save_json = save_json;
    o.save_dir = save_dir[0] ? save_dir : NULL;
    val_progress prog = {!quiet && isatty(2)};
    af_val_report rep;
    if (af_validate(m, &ds, names, &o, on_progress, &prog, &rep, &err)) {
        fprintf(stderr, "animeface val: %s\n", err.msg);
        free(names);
        goto out_model;
    }
    for (size_t i = 0; i < rep.issues.n; i++)
        fprintf(stderr, "skipped: %s\n", rep.issues.v[i].msg);
    char *table = NULL;
    if (af_report_table(&rep.metrics, names, &table, &err) == AF_OK) {
        fputs(table, log);
        free(table);
    }
    double best_f1;
    int thr_fail = 0;
    double best_conf = f1_optimal_conf(&rep.metrics, &best_f1);
    if (!quiet || save_threshold)
        fprintf(log, "F1-optimal confidence: %.3f (mean F1 %.3f)\n", best_conf, best_f1);
    if (save_threshold) {
        char v[32];
        snprintf(v, sizeof v, "%.9g", best_conf);
        if (!(best_conf > 0)) {
            fprintf(stderr, "animeface val: --save-threshold: no F1 curve (no correct "
                            "prediction), %s left as it was\n", model);
            thr_fail = 1;
        } else if (af_safetensors_set_metadata(model, "conf_threshold", v, &err)) {
            fprintf(stderr, "animeface val: --save-threshold: %s\n", err.msg);
            thr_fail = 1;
        } else {
            fprintf(log, "Saved conf_threshold %s in %s\n", v, model);
        }
    }
    if (!quiet) {
        char line[256];
        af_report_speed(line, sizeof line, rep.speed.preprocess, rep.speed.inference,
                        rep.speed.loss, rep.speed.postprocess);
        fprintf(log, "%s\n", line);
        if (save_dir[0])
            fprintf(log, "Results saved to \033[1m%s\033[0m\n", save_dir);
    }
    if (json) {
        cJSON *j = NULL;
        if (af_val_metrics_to_json(&rep.metrics, names, &rep.speed, &j, &err) == AF_OK) {
            cJSON_AddNumberToObject(j, "conf_f1_optimal", best_conf);
            char *s = cJSON_PrintUnformatted(j);
            if (s)
                printf("%s\n", s);
            free(s);
            cJSON_Delete(j);
        }
    }
    rc = thr_fail || rep.skipped || ds.counts.corrupt ? 1 : 0;
    af_val_report_free(&rep);
    free(names);
out_model:
    af_model_free(m);
out_ds:
    af_dataset_free(&ds);
    af_data_config_free(&cfg);
    return rc;
}
