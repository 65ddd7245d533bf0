/* animeface crop: face datasets from image collections. Every kept face becomes a file
 * DIR/{stem}_{i}.{ext} and a line of DIR/manifest.jsonl; runs resume after a kill and
 * split over the tasks of a Slurm array or a Kubernetes Indexed Job. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/crop_names.h"
#include "cli/crop_write.h"
#include "cli/detect_args.h"
#include "cli/failures.h"
#include "cli/fsutil.h"
#include "cli/jsonl.h"
#include "cli/options.h"
#include "cli/pool.h"
#include "cli/progress.h"
#include "cli/resume.h"
#include "cli/shard.h"
#include "cli/sources.h"
#include "core/error.h"

typedef struct crop_args {
    const char *model, *out, *aspect, *pad, *format, *list_empty, *shard, *precision, *conv;
    double conf, iou, margin, min_size, max_size, min_rel, progress_every;
    opt_intlist imgsz, classes, size;
    int max_det, agnostic, threads, workers, recursive, quiet, help;
    int square, no_upscale, max_faces, one_face, keep_tree, quality, name_box, resume;
} crop_args;

static const char usage_text[] =
    "Usage: animeface crop SOURCE... --out DIR [options]\n"
    "Crops every kept face of the SOURCE images (files, folders, globs, .txt lists) into\n"
    "DIR/{stem}_{i}.{ext}, one line per crop in DIR/manifest.jsonl. Geometry in source pixels\n"
    "(EXIF-upright): --margin grows the box, --square/--aspect set the shape, --pad says what\n"
    "fills past the image, --size resizes (cv2 INTER_AREA shrinking, INTER_CUBIC enlarging).";

/* the state the ordered part keeps: one image at a time, in source order */
typedef struct run_state {
    const crop_cfg *cfg;
    char **bases;      /* per run index */
    FILE *manifest, *journal;
    progress *bar;
    failure_list *fails;
    size_t images, crops, empty;
} run_state;

static void work(void *ud, pool_item *it)
{
    run_state *rs = ud;
    if (it->st)
        return;
    crop_result *r = malloc(sizeof *r);
    if (r)
        crop_image(rs->cfg, it->path, rs->bases[it->i], &it->img, it->d, it->nd, r);
    it->result = r;
}

static void fail_line(run_state *rs, const char *path, const char *msg)
{
    char line[1400];
    if (strstr(msg, path))
        snprintf(line, sizeof line, "%s", msg);
    else
        snprintf(line, sizeof line, "%s: %s", path, msg);
    if (!rs->bar->enabled)
        fprintf(stderr, "animeface crop: %s\n", line);
    failures_add(rs->fails, line);
    progress_step(rs->bar, 1);
}

/* Records first, flushed, then the journal line that says the image is complete: a kill
 * between the two leaves records that --resume cuts off and redoes. */
static void ordered(void *ud, pool_item *it)
{
    run_state *rs = ud;
    crop_result *r = it->result;
    if (it->st) {
        fail_line(rs, it->path, it->err.msg);
        return;
    }
    if (!r || r->failed) {
        fail_line(rs, it->path, r ? r->msg : "out of memory");
    } else {
        if (r->len)
            fwrite(r->records, 1, r->len, rs->manifest);
        fflush(rs->manifest);
        fputs("{\"source\": ", rs->journal);
        jsonl_write_string(rs->journal, it->path);
        fprintf(rs->journal, ", \"crops\": %d}\n", r->ncrops);
        fflush(rs->journal);
        rs->images++;
        rs->crops += (size_t)r->ncrops;
        rs->empty += r->ncrops == 0;
        progress_step(rs->bar, 0);
    }
    if (r)
        free(r->records);
    free(r);
}

/* --resume: what the journal says is done */
typedef struct done_scan {
    path_set *done;
    size_t images, crops, empty;
    FILE *empty_list; /* when writing --list-empty */
} done_scan;

static int scan_done(void *ud, const cJSON *rec)
{
    done_scan *d = ud;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "source");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(rec, "crops");
    if (!cJSON_IsString(s) || !cJSON_IsNumber(n))
        return 0;
    if (d->done && path_set_add(d->done, s->valuestring))
        return 0;
    d->images++;
    d->crops += (size_t)n->valuedouble;
    d->empty += n->valuedouble == 0;
    if (d->empty_list && n->valuedouble == 0)
        fprintf(d->empty_list, "%s\n", s->valuestring);
    return 1;
}

/* manifest lines are kept while their source is done; the first other one (the image in
 * flight when the run died) and everything after it are cut off */
static int scan_manifest(void *ud, const cJSON *rec)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "source");
    return cJSON_IsString(s) && path_set_has(ud, s->valuestring);
}

static int parse_aspect(const char *s, double *out)
{
    if (s && crop_parse_aspect(s, out)) {
        fprintf(stderr, "animeface crop: --aspect must be W:H, two positive numbers (got '%s')\n",
                s);
        return 1;
    }
    return 0;
}

static int parse_pad(const char *s, af_face_crop_opts *g)
{
    if (s && crop_parse_pad(s, g)) {
        fprintf(stderr, "animeface crop: --pad must be edge, black, color:R,G,B or none (got "
                        "'%s')\n",
                s);
        return 1;
    }
    return 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* DIR/manifest.jsonl, or DIR/manifest.I-of-N.jsonl for one shard of N */
static void shard_name(char *out, size_t cap, const char *dir, const char *stem, const char *ext,
                       int si, int sn)
{
    if (sn > 1)
        snprintf(out, cap, "%s%s%s.%d-of-%d%s", dir ? dir : "", dir ? "/" : "", stem, si, sn, ext);
    else
        snprintf(out, cap, "%s%s%s%s", dir ? dir : "", dir ? "/" : "", stem, ext);
}

int cmd_crop(int argc, char **argv)
{
    crop_args a = {0};
    a.conf = -1;
    a.iou = 0.7;
    a.max_det = 300;
    a.quality = 95;
    a.format = "jpg";
    a.progress_every = 30;
    opt_spec specs[] = {
        {"out", "o", OPT_STRING, &a.out, 1, 0, "output folder (required)", "DIR"},
        {"model", NULL, OPT_STRING, &a.model, 1, 0,
         "weights: ultralytics .pt or animeface .safetensors (default: bundled model)", "FILE"},
        {"conf", NULL, OPT_FLOAT, &a.conf, 0, 1,
         "confidence threshold (default: the model's calibrated one, else 0.25)", "X"},
        {"iou", NULL, OPT_FLOAT, &a.iou, 0, 1, "NMS IoU threshold (0.7)", "X"},
        {"imgsz", NULL, OPT_INTLIST, &a.imgsz, 1, 8192,
         "inference size N or H,W (default: the size the model was trained at)", "N"},
        {"max-det", NULL, OPT_INT, &a.max_det, 1, 100000, "at most this many boxes (300)", "N"},
        {"classes", NULL, OPT_INTLIST, &a.classes, 0, 100000, "keep only these class ids", "0,2"},
        {"agnostic-nms", "agnostic", OPT_BOOL, &a.agnostic, 1, 0, "class-agnostic NMS", NULL},
        {"margin", NULL, OPT_FLOAT, &a.margin, 0, 100,
         "grow the box by R x its width/height on each side (0)", "R"},
        {"square", NULL, OPT_BOOL, &a.square, 1, 0, "square crops (the longer side)", NULL},
        {"aspect", NULL, OPT_STRING, &a.aspect, 1, 0, "crops of this shape, e.g. 3:4", "W:H"},
        {"pad", NULL, OPT_STRING, &a.pad, 1, 0,
         "past the image: none (shift inside, shrink if needed; default), edge, black, "
         "color:R,G,B",
         "P"},
        {"size", NULL, OPT_INTLIST, &a.size, 1, 65500, "resize crops to N x N or W x H", "N|W,H"},
        {"no-upscale", NULL, OPT_BOOL, &a.no_upscale, 1, 0,
         "keep crops smaller than --size as they are", NULL},
        {"min-size", NULL, OPT_FLOAT, &a.min_size, 0, 1e6, "face box's shorter side >= PX", "PX"},
        {"max-size", NULL, OPT_FLOAT, &a.max_size, 0, 1e6, "face box's shorter side <= PX", "PX"},
        {"min-rel", NULL, OPT_FLOAT, &a.min_rel, 0, 1,
         "face box >= R of the image (max of width and height ratios)", "R"},
        {"max-faces", NULL, OPT_INT, &a.max_faces, 0, 100000, "the K largest faces per image",
         "K"},
        {"one-face", NULL, OPT_BOOL, &a.one_face, 1, 0,
         "only images with exactly one face (after the filters above)", NULL},
        {"keep-tree", NULL, OPT_BOOL, &a.keep_tree, 1, 0,
         "mirror the sources' subfolders under DIR", NULL},
        {"format", NULL, OPT_STRING, &a.format, 1, 0, "jpg (default), png or webp (lossless)",
         "F"},
        {"quality", NULL, OPT_INT, &a.quality, 1, 100, "JPEG quality (95)", "Q"},
        {"name-box", NULL, OPT_BOOL, &a.name_box, 1, 0,
         "append kohya's _{cx}_{cy}_{w}_{h} (the face box in the crop) to the names", NULL},
        {"list-empty", NULL, OPT_STRING, &a.list_empty, 1, 0,
         "write the images without a kept face to FILE", "FILE"},
        {"resume", NULL, OPT_BOOL, &a.resume, 1, 0,
         "continue an interrupted run with the same options: skip finished images", NULL},
        {"shard", NULL, OPT_STRING, &a.shard, 1, 0,
         "take shard I of N (N alone: I from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)",
         "I/N"},
        {"threads", NULL, OPT_INT, &a.threads, 0, 1024, "compute threads (default: all cores)",
         "N"},
        {"workers", NULL, OPT_INT, &a.workers, 0, POOL_MAX_WORKERS,
         "images processed at once (default: one per core)", "N"},
        {"precision", NULL, OPT_STRING, &a.precision, 1, 0, CLI_HELP_PRECISION, "P"},
        {"conv", NULL, OPT_STRING, &a.conv, 1, 0, CLI_HELP_CONV, "A"},
        {"recursive", NULL, OPT_BOOL, &a.recursive, 1, 0, "descend into subdirectories", NULL},
        {"progress-every", NULL, OPT_FLOAT, &a.progress_every, 0, 1e6,
         "not on a terminal: a progress line every S seconds (30; 0: none)", "S"},
        {"quiet", NULL, OPT_BOOL, &a.quiet, 1, 0, "print only errors and the summary", NULL},
        {"help", NULL, OPT_BOOL, &a.help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    char **pos;
    int npos;
    const int early = opt_parse_cmd("animeface crop", usage_text, argc, argv, specs, ns, &a.help,
                                    &pos, &npos);
    if (early >= 0)
        return early;
    crop_cfg cfg = {0};
    int si = 0, sn = 1;
    int bad = 0;
    if (!npos || !a.out || !*a.out) {
        fprintf(stderr, "animeface crop: %s (see --help)\n",
                !npos ? "no SOURCE given" : "--out DIR is required");
        bad = 1;
    }
    if (!bad && (parse_aspect(a.aspect, &cfg.geo.aspect) || parse_pad(a.pad, &cfg.geo) ||
                 shard_parse("animeface crop", a.shard, &si, &sn)))
        bad = 1;
    if (!bad && strcmp(a.format, "jpg") && strcmp(a.format, "png") && strcmp(a.format, "webp")) {
        fprintf(stderr, "animeface crop: --format must be jpg, png or webp (got '%s')\n",
                a.format);
        bad = 1;
    }
    if (!bad && a.size.n > 2) {
        fprintf(stderr, "animeface crop: --size takes N or W,H\n");
        bad = 1;
    }
    if (!bad && a.square && a.aspect) {
        fprintf(stderr, "animeface crop: --square and --aspect both set the shape: give one\n");
        bad = 1;
    }
    if (bad) {
        free(pos);
        return 2;
    }
    if (a.square)
        cfg.geo.aspect = 1;
    cfg.geo.margin = a.margin;
    cfg.size_w = a.size.n ? a.size.v[0] : 0;
    cfg.size_h = a.size.n ? a.size.v[a.size.n - 1] : 0;
    cfg.no_upscale = a.no_upscale;
    cfg.ext = a.format;
    cfg.quality = a.quality;
    cfg.name_box = a.name_box;
    cfg.keep_tree = a.keep_tree;
    cfg.out_dir = a.out;

    source_list src;
    if (sources_expand(pos, npos, a.recursive, &src)) {
        fprintf(stderr, "animeface crop: out of memory listing sources\n");
        free(pos);
        return 1;
    }
    free(pos);
    /* the sorted list without repeats: the same in every shard, whatever order the
     * sources were listed in */
    qsort(src.paths, src.count, sizeof *src.paths, cmp_path);
    size_t nu = 0;
    for (size_t i = 0; i < src.count; i++) {
        if (nu && !strcmp(src.paths[nu - 1], src.paths[i]))
            free(src.paths[i]);
        else
            src.paths[nu++] = src.paths[i];
    }
    src.count = nu;

    int rc = 1;
    char **all_bases = NULL, **bases = NULL, **todo = NULL;
    size_t ntodo = 0;
    af_model *m = NULL;
    pool pl = {0};
    FILE *manifest = NULL, *journal = NULL;
    failure_list fails = {0};
    path_set done = {0};
    done_scan prev = {&done, 0, 0, 0, NULL};
    int names = crop_names_build("animeface crop", src.paths, src.count, a.keep_tree, &all_bases);
    if (names) {
        if (names == 2)
            fprintf(stderr, "animeface crop: out of memory\n");
        rc = names == 1 ? 2 : 1;
        goto done;
    }
    if (fs_mkdirs(a.out)) {
        fprintf(stderr, "animeface crop: cannot create %s: %s\n", a.out, strerror(errno));
        goto done;
    }
    char mpath[4300], jpath[4400];
    shard_name(mpath, sizeof mpath, a.out, "manifest", ".jsonl", si, sn);
    snprintf(jpath, sizeof jpath, "%s.done", mpath);
    if (a.resume) {
        if (resume_scan(jpath, "animeface crop --resume", scan_done, &prev) ||
            resume_scan(mpath, "animeface crop --resume", scan_manifest, &done))
            goto done;
    } else {
        struct stat st;
        if (stat(mpath, &st) == 0 && st.st_size > 0) {
            fprintf(stderr, "animeface crop: %s exists: add --resume to continue that run, or "
                            "give another --out\n",
                    mpath);
            rc = 2;
            goto done;
        }
    }
    if (!(manifest = fopen(mpath, a.resume ? "a" : "w")) ||
        !(journal = fopen(jpath, a.resume ? "a" : "w"))) {
        fprintf(stderr, "animeface crop: cannot write %s: %s\n", manifest ? jpath : mpath,
                strerror(errno));
        goto done;
    }
    /* this shard's images that are not done yet */
    todo = malloc((src.count ? src.count : 1) * sizeof *todo);
    bases = malloc((src.count ? src.count : 1) * sizeof *bases);
    if (!todo || !bases)
        goto done;
    size_t mine = 0;
    for (size_t i = 0; i < src.count; i++) {
        if (shard_of(src.paths[i], sn) != si)
            continue;
        mine++;
        if (a.resume && path_set_has(&done, src.paths[i]))
            continue;
        bases[ntodo] = all_bases[i];
        todo[ntodo++] = src.paths[i];
    }

    const char *shown;
    if (!(m = cli_load_model(a.model, &shown)) || cli_set_numerics("crop", m, a.precision, a.conv))
        goto done;
    char sha[65];
    if (cli_model_sha256(a.model, sha)) {
        fprintf(stderr, "animeface crop: cannot read %s\n", a.model);
        goto done;
    }
    const char *conf_from = "--conf";
    if (a.conf < 0) {
        a.conf = af_model_conf_threshold(m) > 0 ? af_model_conf_threshold(m) : 0.25;
        conf_from = af_model_conf_threshold(m) > 0 ? "the model's calibrated threshold"
                                                   : "the model carries no calibrated threshold";
    }
    cfg.m = m;
    cfg.model_name = shown;
    cfg.model_sha256 = sha;
    cfg.sel.conf = (float)a.conf;
    cfg.sel.min_size = a.min_size;
    cfg.sel.max_size = a.max_size;
    cfg.sel.min_rel = a.min_rel;
    cfg.sel.max_faces = a.max_faces;
    cfg.sel.one_face = a.one_face;
    if (a.classes.n) {
        cfg.sel.classes = a.classes.v;
        cfg.sel.nclasses = a.classes.n;
    }
    af_detect_options o;
    cli_detect_options(&o, a.conf, a.iou, a.max_det, a.agnostic, &a.imgsz, &a.classes);
    if (pool_create(&pl, "crop", m, a.threads, a.workers, ntodo))
        goto done;

    for (size_t i = 0; i < src.nerrors; i++) {
        fprintf(stderr, "animeface crop: %s\n", src.errors[i]);
        failures_add(&fails, src.errors[i]);
    }
    if (!a.quiet) {
        fprintf(stderr, "animeface crop: %zu images", src.count);
        if (sn > 1)
            fprintf(stderr, ", shard %d of %d: %zu", si, sn, mine);
        if (a.resume)
            fprintf(stderr, ", %zu already done", mine - ntodo);
        fprintf(stderr, "; conf %.3g (%s); %s\n", a.conf, conf_from, mpath);
    }
    progress bar;
    int tty = isatty(2);
    progress_init(&bar, mine, !a.quiet && tty);
    progress_set_plain(&bar, a.quiet ? 0 : a.progress_every);
    bar.done = bar.skipped = mine - ntodo;
    run_state rs = {&cfg, bases, manifest, journal, &bar, &fails, 0, 0, 0};
    pool_fns fns = {work, ordered, &rs};
    pool_run(&pl, todo, ntodo, &o, &fns);
    progress_finish(&bar);
    double wall = progress_elapsed(&bar);

    size_t images = rs.images + prev.images, crops = rs.crops + prev.crops,
           empty = rs.empty + prev.empty;
    fprintf(stderr, "animeface crop: %zu images, %zu crops, %zu images without a kept face, %d "
                    "failed",
            images, crops, empty, fails.n);
    if (rs.images && wall > 0)
        fprintf(stderr, "; this run %.1f images/s, %.1f crops/s (%d at a time)", rs.images / wall,
                rs.crops / wall, pl.n);
    fprintf(stderr, "\n");
    if (a.list_empty) {
        /* from the journal, so that a resumed run lists the earlier runs' images too */
        char lpath[4300];
        if (sn > 1)
            snprintf(lpath, sizeof lpath, "%s.%d-of-%d", a.list_empty, si, sn);
        else
            snprintf(lpath, sizeof lpath, "%s", a.list_empty);
        fflush(journal);
        done_scan ls = {NULL, 0, 0, 0, fopen(lpath, "w")};
        if (!ls.empty_list || resume_scan(jpath, "animeface crop", scan_done, &ls)) {
            fprintf(stderr, "animeface crop: cannot write %s\n", lpath);
            failures_add(&fails, "--list-empty not written");
        }
        if (ls.empty_list)
            fclose(ls.empty_list);
    }
    failures_print(&fails, mine + src.nerrors);
    rc = fails.n ? 1 : 0;
done:
    if (manifest)
        fclose(manifest);
    if (journal)
        fclose(journal);
    path_set_free(&done);
    failures_free(&fails);
    pool_free(&pl);
    af_model_free(m);
    free(todo);
    free(bases);
    crop_names_free(all_bases, src.count);
    sources_free(&src);
    return rc;
}
