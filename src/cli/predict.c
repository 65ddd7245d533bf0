/* animeface predict: images, folders, globs, .txt lists -> boxes, printed as
 * ultralytics 8.1.9 prints them, with optional annotated images, YOLO txt
 * labels, crops and JSON Lines. Bad files are reported and skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/detect_args.h"
#include "cli/failures.h"
#include "cli/fsutil.h"
#include "cli/jsonl.h"
#include "cli/options.h"
#include "cli/pool.h"
#include "cli/predict_out.h"
#include "cli/predict_resume.h"
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
    int resume;
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

/* Everything a user sees (log lines, JSON, saved files, the progress bar, failures) is
 * done in source order by the pool, one image at a time, so the output is the same as one
 * image after another. */
typedef struct run_state {
    const source_list *src;
    const af_model *m;
    predict_out *out;
    FILE *json, *log;
    progress *bar;
    failure_list *fails;
    int quiet;
    predict_resume *resume;
    /* touched only in the ordered part */
    double sum_pre, sum_inf, sum_post;
    int seen, last_h, last_w;
} run_state;

static void ordered_part(void *ud, pool_item *it)
{
    run_state *rs = ud;
    const char *path = it->path;
    size_t total = rs->src->count;
    char abspath[4200], msg[1200];
    cli_absolute_path(path, abspath, sizeof abspath);
    if (it->st) {
        /* the library names the file in image errors; add it where it did not */
        if (strstr(it->err.msg, path))
            snprintf(msg, sizeof msg, "%s", it->err.msg);
        else
            snprintf(msg, sizeof msg, "%s: %s", path, it->err.msg);
        if (!rs->bar->enabled)
            fprintf(stderr, "image %zu/%zu %s: error: %s\n", it->i + 1, total, abspath,
                    it->err.msg);
        failures_add(rs->fails, msg);
        if (rs->json)
            jsonl_write_error(rs->json, path, it->err.msg);
        progress_step(rs->bar, 1);
        return;
    }
    const af_timings *t = &it->t;
    rs->sum_pre += t->preprocess_ms;
    rs->sum_inf += t->inference_ms;
    rs->sum_post += t->postprocess_ms;
    rs->last_h = t->input_h;
    rs->last_w = t->input_w;
    rs->seen++;
    af_error werr = {0};
    if (predict_out_write(rs->out, path, &it->img, it->d, it->nd, &werr)) {
        snprintf(msg, sizeof msg, "%s: %s", path, werr.msg);
        fprintf(stderr, "animeface predict: %s\n", msg);
        failures_add(rs->fails, msg);
    }
    if (rs->resume->journal) { /* after the labels, before the JSON line */
        char stem[1024], txt[5200];
        fs_stem(path, stem, sizeof stem);
        snprintf(txt, sizeof txt, "%s/labels/%s.txt", rs->out->save_dir, stem);
        predict_resume_record(rs->resume, path, it->nd > 0 ? txt : NULL);
    }
    if (rs->json)
        jsonl_write_result(rs->json, path, it->img.w, it->img.h, it->d, it->nd, rs->m);
    if (!rs->quiet && !rs->bar->enabled) {
        char counts[1024];
        class_counts(rs->m, it->d, it->nd, counts, sizeof counts);
        fprintf(rs->log, "image %zu/%zu %s: %dx%d %s%.1fms\n", it->i + 1, total, abspath,
                t->input_h, t->input_w, counts, t->inference_ms);
    }
    progress_step(rs->bar, 0);
}

int cmd_predict(int argc, char **argv)
{
    predict_args a = {0};
    a.conf = -1; /* not given */
    a.iou = 0.7;
    a.max_det = 300;
    a.project = "runs/detect";
    a.name = "predict";
    a.show_labels = a.show_conf = a.verbose = 1;
    opt_spec specs[] = {
        {"model", NULL, OPT_STRING, &a.model, 1, 0,
         "weights: ultralytics .pt or animeface .safetensors (default: bundled model)", "FILE"},
        {"conf", NULL, OPT_FLOAT, &a.conf, 0, 1, "confidence threshold (default: the model's calibrated one if it carries one, else 0.25)",
         "X"},
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
        {"workers", NULL, OPT_INT, &a.workers, 0, POOL_MAX_WORKERS,
         "images processed at once (default: one per core)", "N"},
        {"resume", NULL, OPT_BOOL, &a.resume, 1, 0,
         "continue an interrupted run: skip the images its --json FILE / --save-txt labels "
         "have (same --project/--name)",
         NULL},
        {"recursive", NULL, OPT_BOOL, &a.recursive, 1, 0, "descend into subdirectories", NULL},
        {"quiet", NULL, OPT_BOOL, &a.quiet, 1, 0, "print only errors and the summary", NULL},
        {"verbose", NULL, OPT_BOOL, &a.verbose, 1, 0, "(ultralytics) = !quiet", NULL},
        {"device", NULL, OPT_STRING, &a.device, 1, 0, "(ultralytics) only 'cpu'", "D"},
        {"help", NULL, OPT_BOOL, &a.help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    char **pos;
    int npos;
    const int early = opt_parse_cmd("animeface predict", usage_text, argc, argv, specs, ns, &a.help,
                                    &pos, &npos);
    if (early >= 0)
        return early;
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
    if (a.resume && !(a.save_txt || (a.json && strcmp(a.json, "-")))) {
        fprintf(stderr, "animeface predict: --resume continues a run's --json FILE or "
                        "--save-txt labels; give the same options as that run\n");
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
    if (!m || cli_set_numerics("predict", m, a.precision, a.conv)) {
        af_model_free(m);
        sources_free(&src);
        return 1;
    }
    /* no --conf: the model's calibrated threshold where it carries one, else 0.25 */
    if (a.conf < 0)
        a.conf = af_model_conf_threshold(m) > 0 ? af_model_conf_threshold(m) : 0.25;
    int rc = 1;
    pool pl = {0};
    FILE *log = stdout;
    FILE *json = NULL;
    predict_resume pr = {0};
    predict_out out = {0};
    failure_list fails = {0};
    char **todo = NULL;
    if (pool_create(&pl, "predict", m, a.threads, a.workers, src.count))
        goto done;
    char save_dir[4096] = "";
    if (a.save || a.save_txt || a.save_crop) {
        char base[4096];
        snprintf(base, sizeof base, "%s/%s", a.project, a.name);
        fs_increment_dir(base, a.exist_ok || a.resume, save_dir, sizeof save_dir);
        char lab[4200];
        snprintf(lab, sizeof lab, "%s/labels", save_dir);
        if (fs_mkdirs(a.save_txt ? lab : save_dir)) {
            fprintf(stderr, "animeface predict: cannot create %s\n", save_dir);
            goto done;
        }
    }
    int json_file = a.json && strcmp(a.json, "-");
    if (predict_resume_open(&pr, a.resume, json_file ? a.json : NULL, save_dir, a.save_txt,
                            src.paths, src.count))
        goto done;
    if (a.json) {
        if (!json_file) {
            json = stdout;
            log = stderr;
        } else if (!(json = fopen(a.json, a.resume ? "a" : "w"))) {
            fprintf(stderr, "animeface predict: cannot write %s\n", a.json);
            goto done;
        }
    }
    predict_out_init(&out, m, save_dir, a.save, a.save_txt, a.save_conf, a.save_crop,
                     a.line_width, hide_labels, hide_conf);

    af_detect_options o;
    cli_detect_options(&o, a.conf, a.iou, a.max_det, a.agnostic, &a.imgsz, &a.classes);

    for (size_t i = 0; i < src.nerrors; i++) {
        fprintf(stderr, "animeface predict: %s\n", src.errors[i]);
        failures_add(&fails, src.errors[i]);
        /* their JSON line (not again when a resumed run's file has it) */
        if (json && i < src.nerror_paths &&
            !(a.resume && path_set_has(&pr.done, src.error_paths[i])))
            jsonl_write_error(json, src.error_paths[i], src.errors[i]);
    }
    /* --resume: the images the interrupted run finished are not done again */
    size_t ntodo = 0;
    if (!(todo = malloc((src.count ? src.count : 1) * sizeof *todo)))
        goto done;
    for (size_t i = 0; i < src.count; i++)
        if (!a.resume || !path_set_has(&pr.done, src.paths[i]))
            todo[ntodo++] = src.paths[i];
    if (a.resume && !quiet)
        fprintf(log, "Resuming: %zu of %zu images already done\n", src.count - ntodo, src.count);
    source_list run = src;
    run.paths = todo;
    run.count = ntodo;
    size_t total = ntodo;
    progress bar;
    progress_init(&bar, total, !quiet && total >= 20 && isatty(2));
    run_state rs = {0};
    rs.src = &run;
    rs.m = m;
    rs.out = &out;
    rs.json = json;
    rs.log = log;
    rs.bar = &bar;
    rs.fails = &fails;
    rs.quiet = quiet;
    rs.resume = &pr;
    pool_fns fns = {NULL, ordered_part, &rs};
    pool_run(&pl, todo, ntodo, &o, &fns);
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
    if (!quiet && rs.seen > 1 && pl.n > 1 && wall > 0)
        fprintf(log, "Throughput: %.1f images/s, %d images at a time (%d compute thread%s each)\n",
                rs.seen / wall, pl.n, pl.per, pl.per == 1 ? "" : "s");
    if (save_dir[0] && !quiet) {
        fprintf(log, "Results saved to \033[1m%s\033[0m\n", save_dir);
        if (a.save_txt)
            fprintf(log, "%d label%s saved to %s/labels\n", out.nlabels,
                    out.nlabels > 1 ? "s" : "", save_dir);
    }
    if (src.count == 0 && src.nerrors == 0)
        fprintf(stderr, "animeface predict: no images found in the given sources\n");
    failures_print(&fails, src.count + src.nerrors);
    rc = fails.n || src.count == 0 ? 1 : 0;
done:
    free(todo);
    failures_free(&fails);
    if (json && json != stdout)
        fclose(json);
    predict_resume_close(&pr);
    predict_out_free(&out);
    pool_free(&pl);
    af_model_free(m);
    sources_free(&src);
    return rc;
}
