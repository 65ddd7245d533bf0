/* animeface predict: images, folders, globs, .txt lists -> boxes, printed as
 * ultralytics 8.1.9 prints them, with optional annotated images, YOLO txt
 * labels, crops and JSON Lines. Bad files are reported and skipped. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/fsutil.h"
#include "cli/jsonl.h"
#include "cli/options.h"
#include "cli/predict_out.h"
#include "cli/progress.h"
#include "cli/sources.h"
#include "core/error.h"
#include "io/image.h"

typedef struct predict_args {
    const char *model, *json, *project, *name, *device, *precision, *conv;
    double conf, iou;
    opt_intlist imgsz, classes;
    int max_det, agnostic, save, save_txt, save_conf, save_crop, exist_ok, line_width;
    int hide_labels, hide_conf, show_labels, show_conf, threads, workers, quiet, verbose, recursive, help;
} predict_args;

static const char usage_text[] =
    "Usage: animeface predict [options] SOURCE...\n"
    "SOURCE: image files, directories (--recursive for subfolders), globs ('imgs/*.png') or a\n"
    ".txt file listing image paths. ultralytics spellings work too:\n"
    "  animeface predict model=best.pt source=imgs/ conf=0.3 save=True";

/* Per-class counts as ultralytics Results.verbose(): "3 faces, 1 dog, ". */
static void class_counts(const af_model *m, const af_detection *d, int n, char *out, size_t cap)
{
    out[0] = '\0';
    if (n == 0) {
        snprintf(out, cap, "(no detections), ");
        return;
    }
    int prev = -1;
    for (;;) {
        int next = -1;
        for (int i = 0; i < n; i++)
            if (d[i].cls > prev && (next < 0 || d[i].cls < next))
                next = d[i].cls;
        if (next < 0)
            break;
        int k = 0;
        for (int i = 0; i < n; i++)
            k += d[i].cls == next;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%d %s%s, ", k, af_model_class_name(m, next),
                 k > 1 ? "s" : "");
        prev = next;
    }
}

static void absolute_path(const char *p, char *out, size_t cap)
{
    if (p[0] == '/') {
        snprintf(out, cap, "%s", p);
        return;
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    const char *q = p;
    while (q[0] == '.' && q[1] == '/')
        q += 2;
    snprintf(out, cap, "%s/%s", cwd, q);
}

typedef struct failure_list {
    char **items;
    int n, cap;
} failure_list;

static void add_failure(failure_list *f, const char *msg)
{
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        char **p = realloc(f->items, (size_t)cap * sizeof *p);
        if (!p)
            return;
        f->items = p;
        f->cap = cap;
    }
    char *s = strdup(msg);
    if (s)
        f->items[f->n++] = s;
}

#define MAX_WORKERS 16

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (int)n : 1;
}

/* How many images run at once: one per core by default (each with its own
 * context and a share of the compute threads), never more than the images. */
static int plan_workers(int threads, int workers, size_t nimages)
{
    int w = workers > 0 ? workers : (threads > 0 ? threads : online_cores());
    if (w > MAX_WORKERS)
        w = MAX_WORKERS;
    if ((size_t)w > nimages)
        w = nimages > 0 ? (int)nimages : 1;
    return w < 1 ? 1 : w;
}

static void free_contexts(af_context **c, int n)
{
    for (int i = 0; i < n; i++)
        af_context_free(c[i]);
}

/* Images are loaded and detected by the workers in any order; everything a
 * user sees (log lines, JSON, saved files, the progress bar, failures) is done
 * in source order, one image at a time (`turn`), so the output is the same as
 * one image after another. */
typedef struct run_state {
    const source_list *src;
    const af_model *m;
    const af_detect_options *o;
    predict_out *out;
    FILE *json, *log;
    progress *bar;
    failure_list *fails;
    int quiet;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next, turn;
    /* touched only in the ordered part */
    double sum_pre, sum_inf, sum_post;
    int seen, last_h, last_w;
} run_state;

typedef struct worker {
    run_state *rs;
    af_context *ctx;
} worker;

static void ordered_part(run_state *rs, size_t i, af_image *img, af_status st,
                         const af_error *err, const af_detection *d, int nd, const af_timings *t)
{
    const char *path = rs->src->paths[i];
    size_t total = rs->src->count;
    char abspath[4200], msg[1200];
    absolute_path(path, abspath, sizeof abspath);
    if (st) {
        /* the library names the file in image errors; add it where it did not */
        if (strstr(err->msg, path))
            snprintf(msg, sizeof msg, "%s", err->msg);
        else
            snprintf(msg, sizeof msg, "%s: %s", path, err->msg);
        if (!rs->bar->enabled)
            fprintf(stderr, "image %zu/%zu %s: error: %s\n", i + 1, total, abspath, err->msg);
        add_failure(rs->fails, msg);
        if (rs->json)
            jsonl_write_error(rs->json, path, err->msg);
        progress_step(rs->bar, 1);
        return;
    }
    rs->sum_pre += t->preprocess_ms;
    rs->sum_inf += t->inference_ms;
    rs->sum_post += t->postprocess_ms;
    rs->last_h = t->input_h;
    rs->last_w = t->input_w;
    rs->seen++;
    af_error werr = {0};
    if (predict_out_write(rs->out, path, img, d, nd, &werr)) {
        snprintf(msg, sizeof msg, "%s: %s", path, werr.msg);
        fprintf(stderr, "animeface predict: %s\n", msg);
        add_failure(rs->fails, msg);
    }
    if (rs->json)
        jsonl_write_result(rs->json, path, img->w, img->h, d, nd, rs->m);
    if (!rs->quiet && !rs->bar->enabled) {
        char counts[1024];
        class_counts(rs->m, d, nd, counts, sizeof counts);
        fprintf(rs->log, "image %zu/%zu %s: %dx%d %s%.1fms\n", i + 1, total, abspath, t->input_h,
                t->input_w, counts, t->inference_ms);
    }
    progress_step(rs->bar, 0);
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    run_state *rs = wk->rs;
    for (;;) {
        pthread_mutex_lock(&rs->mu);
        size_t i = rs->next++;
        pthread_mutex_unlock(&rs->mu);
        if (i >= rs->src->count)
            break;
        af_image img = {0};
        af_error err = {0};
        const af_detection *d = NULL;
        int nd = 0;
        af_timings t = {0};
        af_status st = af_image_load(rs->src->paths[i], NULL, &img, &err);
        if (!st)
            st = af_detect(wk->ctx, img.data, img.w, img.h, (size_t)img.w * img.c, AF_PIXEL_RGB,
                           rs->o, &d, &nd, &err);
        if (!st)
            af_context_last_timings(wk->ctx, &t);
        pthread_mutex_lock(&rs->mu);
        while (rs->turn != i)
            pthread_cond_wait(&rs->cv, &rs->mu);
        pthread_mutex_unlock(&rs->mu);
        /* d stays valid: this worker's context runs nothing until it is done */
        ordered_part(rs, i, &img, st, &err, d, nd, &t);
        af_image_free(&img);
        pthread_mutex_lock(&rs->mu);
        rs->turn = i + 1;
        pthread_cond_broadcast(&rs->cv);
        pthread_mutex_unlock(&rs->mu);
    }
    return NULL;
}

/* Runs every image with nw workers (the calling thread is one of them). */
static void run_all(run_state *rs, af_context **ctxs, int nw)
{
    worker wk[MAX_WORKERS];
    pthread_t tid[MAX_WORKERS];
    int started = 0;
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cv, NULL);
    for (int w = 0; w < nw; w++)
        wk[w] = (worker){rs, ctxs[w]};
    for (int w = 1; w < nw; w++) {
        if (pthread_create(&tid[started + 1], NULL, worker_main, &wk[w]))
            break; /* fewer workers: still correct */
        started++;
    }
    worker_main(&wk[0]);
    for (int w = 1; w <= started; w++)
        pthread_join(tid[w], NULL);
    pthread_cond_destroy(&rs->cv);
    pthread_mutex_destroy(&rs->mu);
}

int cmd_predict(int argc, char **argv)
{
    predict_args a = {0};
    a.conf = 0.25;
    a.iou = 0.7;
    a.max_det = 300;
    a.project = "runs/detect";
    a.name = "predict";
    a.show_labels = a.show_conf = a.verbose = 1;
    opt_spec specs[] = {
        {"model", NULL, OPT_STRING, &a.model, 1, 0,
         "weights: ultralytics .pt or animeface .safetensors (default: bundled model)", "FILE"},
        {"conf", NULL, OPT_FLOAT, &a.conf, 0, 1, "confidence threshold (0.25)", "X"},
        {"iou", NULL, OPT_FLOAT, &a.iou, 0, 1, "NMS IoU threshold (0.7)", "X"},
        {"imgsz", NULL, OPT_INTLIST, &a.imgsz, 1, 8192,
         "inference size N or H,W (default: the size the model was trained at)", "N"},
        {"max-det", NULL, OPT_INT, &a.max_det, 1, 100000, "at most this many boxes (300)", "N"},
        {"classes", NULL, OPT_INTLIST, &a.classes, 0, 100000, "keep only these class ids",
         "0,2"},
        {"agnostic-nms", "agnostic", OPT_BOOL, &a.agnostic, 1, 0, "class-agnostic NMS", NULL},
        {"save", NULL, OPT_BOOL, &a.save, 1, 0, "save annotated images", NULL},
        {"save-txt", NULL, OPT_BOOL, &a.save_txt, 1, 0, "save YOLO txt labels", NULL},
        {"save-conf", NULL, OPT_BOOL, &a.save_conf, 1, 0, "add conf to txt labels", NULL},
        {"save-crop", NULL, OPT_BOOL, &a.save_crop, 1, 0, "save a crop of each box", NULL},
        {"json", NULL, OPT_STRING, &a.json, 1, 0, "write JSON Lines to FILE ('-': stdout)",
         "FILE"},
        {"project", NULL, OPT_STRING, &a.project, 1, 0, "output root (runs/detect)", "DIR"},
        {"name", NULL, OPT_STRING, &a.name, 1, 0, "run name (predict, then predict2, ...)",
         "NAME"},
        {"exist-ok", NULL, OPT_BOOL, &a.exist_ok, 1, 0, "reuse project/name if it exists", NULL},
        {"line-width", NULL, OPT_INT, &a.line_width, 0, 1000, "box line width (auto)", "PX"},
        {"hide-labels", NULL, OPT_BOOL, &a.hide_labels, 1, 0, "draw boxes without labels", NULL},
        {"hide-conf", NULL, OPT_BOOL, &a.hide_conf, 1, 0, "labels without confidence", NULL},
        {"show-labels", NULL, OPT_BOOL, &a.show_labels, 1, 0, "(ultralytics) = !hide-labels",
         NULL},
        {"show-conf", NULL, OPT_BOOL, &a.show_conf, 1, 0, "(ultralytics) = !hide-conf", NULL},
        {"threads", NULL, OPT_INT, &a.threads, 0, 1024, "compute threads (default: all cores)",
         "N"},
        {"precision", NULL, OPT_STRING, &a.precision, 1, 0,
         CLI_HELP_PRECISION, "P"},
        {"conv", NULL, OPT_STRING, &a.conv, 1, 0,
         CLI_HELP_CONV, "A"},
        {"workers", NULL, OPT_INT, &a.workers, 0, MAX_WORKERS,
         "images processed at once (default: one per core)", "N"},
        {"recursive", NULL, OPT_BOOL, &a.recursive, 1, 0, "descend into subdirectories", NULL},
        {"quiet", NULL, OPT_BOOL, &a.quiet, 1, 0, "print only errors and the summary", NULL},
        {"verbose", NULL, OPT_BOOL, &a.verbose, 1, 0, "(ultralytics) = !quiet", NULL},
        {"device", NULL, OPT_STRING, &a.device, 1, 0, "(ultralytics) only 'cpu'", "D"},
        {"help", NULL, OPT_BOOL, &a.help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0;
    if (!pos)
        return 1;
    if (opt_parse("animeface predict", argc, argv, specs, ns, pos, argc + 1, &npos)) {
        free(pos);
        return 2;
    }
    if (a.help) {
        opt_print_help(usage_text, specs, ns);
        free(pos);
        return 0;
    }
    if (npos == 0) {
        fprintf(stderr, "animeface predict: no SOURCE given (an image, a folder, a glob or a "
                        ".txt list; see --help)\n");
        free(pos);
        return 2;
    }
    if (a.device && *a.device && strcmp(a.device, "cpu") != 0) {
        fprintf(stderr, "animeface predict: device '%s' is not available: animeface runs on the "
                        "CPU (use device=cpu or leave it out)\n",
                a.device);
        free(pos);
        return 2;
    }
    int quiet = a.quiet || !a.verbose;
    int hide_labels = a.hide_labels || !a.show_labels;
    int hide_conf = a.hide_conf || !a.show_conf;

    source_list src;
    if (sources_expand(pos, npos, a.recursive, &src)) {
        fprintf(stderr, "animeface predict: out of memory listing sources\n");
        free(pos);
        return 1;
    }
    free(pos);

    const char *shown;
    af_model *m = cli_load_model(a.model, &shown);
    if (!m || cli_set_precision("predict", m, a.precision) ||
        cli_set_conv_algo("predict", m, a.conv)) {
        af_model_free(m);
        sources_free(&src);
        return 1;
    }
    af_context *ctxs[MAX_WORKERS] = {NULL};
    af_error err = {0};
    int nworkers = plan_workers(a.threads, a.workers, src.count);
    /* compute threads: split the cores among the workers */
    int per = a.threads > 0 ? a.threads : online_cores();
    per = per / nworkers > 0 ? per / nworkers : 1;
    for (int w = 0; w < nworkers; w++) {
        if (af_context_create(m, nworkers > 1 ? per : a.threads, &ctxs[w], &err)) {
            fprintf(stderr, "animeface predict: %s\n", err.msg);
            free_contexts(ctxs, w);
            af_model_free(m);
            sources_free(&src);
            return 1;
        }
    }

    FILE *log = stdout;
    FILE *json = NULL;
    if (a.json) {
        if (!strcmp(a.json, "-")) {
            json = stdout;
            log = stderr;
        } else if (!(json = fopen(a.json, "w"))) {
            fprintf(stderr, "animeface predict: cannot write %s\n", a.json);
            free_contexts(ctxs, nworkers);
            af_model_free(m);
            sources_free(&src);
            return 1;
        }
    }

    char save_dir[4096] = "";
    predict_out out = {0};
    if (a.save || a.save_txt || a.save_crop) {
        char base[4096];
        snprintf(base, sizeof base, "%s/%s", a.project, a.name);
        fs_increment_dir(base, a.exist_ok, save_dir, sizeof save_dir);
        char lab[4200];
        snprintf(lab, sizeof lab, "%s/labels", save_dir);
        if (fs_mkdirs(a.save_txt ? lab : save_dir)) {
            fprintf(stderr, "animeface predict: cannot create %s\n", save_dir);
            free_contexts(ctxs, nworkers);
            af_model_free(m);
            sources_free(&src);
            return 1;
        }
    }
    predict_out_init(&out, m, save_dir, a.save, a.save_txt, a.save_conf, a.save_crop,
                     a.line_width, hide_labels, hide_conf);

    af_detect_options o;
    af_detect_options_default(&o);
    o.conf = (float)a.conf;
    o.iou = (float)a.iou;
    o.max_det = a.max_det;
    o.agnostic = a.agnostic;
    if (a.imgsz.n) {
        o.imgsz_h = a.imgsz.v[0];
        o.imgsz_w = a.imgsz.n > 1 ? a.imgsz.v[1] : a.imgsz.v[0];
    }
    if (a.classes.n) {
        o.classes = a.classes.v;
        o.nclasses = a.classes.n;
    }

    failure_list fails = {0};
    for (size_t i = 0; i < src.nerrors; i++) {
        fprintf(stderr, "animeface predict: %s\n", src.errors[i]);
        add_failure(&fails, src.errors[i]);
        if (json && i < src.nerror_paths)
            jsonl_write_error(json, src.error_paths[i], src.errors[i]);
    }
    size_t total = src.count;
    progress bar;
    progress_init(&bar, total, !quiet && total >= 20 && isatty(2));
    run_state rs = {0};
    rs.src = &src;
    rs.m = m;
    rs.o = &o;
    rs.out = &out;
    rs.json = json;
    rs.log = log;
    rs.bar = &bar;
    rs.fails = &fails;
    rs.quiet = quiet;
    run_all(&rs, ctxs, nworkers);
    progress_finish(&bar);
    if (!quiet && rs.seen)
        fprintf(log,
                "Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image at "
                "shape (1, 3, %d, %d)\n",
                rs.sum_pre / rs.seen, rs.sum_inf / rs.seen, rs.sum_post / rs.seen, rs.last_h,
                rs.last_w);
    /* the times above are each image's own; with several images at once (one
     * per worker) the folder goes faster than their sum, so say by how much */
    double wall = progress_elapsed(&bar);
    if (!quiet && rs.seen > 1 && nworkers > 1 && wall > 0)
        fprintf(log, "Throughput: %.1f images/s, %d images at a time (%d compute thread%s each)\n",
                rs.seen / wall, nworkers, per, per == 1 ? "" : "s");
    if (save_dir[0] && !quiet) {
        fprintf(log, "Results saved to \033[1m%s\033[0m\n", save_dir);
        if (a.save_txt)
            fprintf(log, "%d label%s saved to %s/labels\n", out.nlabels,
                    out.nlabels > 1 ? "s" : "", save_dir);
    }
    if (total == 0 && src.nerrors == 0)
        fprintf(stderr, "animeface predict: no images found in the given sources\n");
    int rc = 0;
    if (fails.n) {
        fprintf(stderr, "%d of %zu source%s failed:\n", fails.n, total + src.nerrors,
                total + src.nerrors == 1 ? "" : "s");
        for (int i = 0; i < fails.n; i++)
            fprintf(stderr, "  %s\n", fails.items[i]);
        rc = 1;
    } else if (total == 0) {
        rc = 1;
    }
    for (int i = 0; i < fails.n; i++)
        free(fails.items[i]);
    free(fails.items);
    if (json && json != stdout)
        fclose(json);
    predict_out_free(&out);
    free_contexts(ctxs, nworkers);
    af_model_free(m);
    sources_free(&src);
    return rc;
}
