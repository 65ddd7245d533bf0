/* animeface data check|split|convert: YOLO dataset tools (library: src/data). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "data/dataset.h"

#define NSPECS(s) ((int)(sizeof(s) / sizeof((s)[0])))

/* The path shown for a dataset file: relative to the dataset root when below it. */
static const char *shown(const char *root, const char *p)
{
    size_t n = strlen(root);
    if (n > 1 && !strncmp(p, root, n) && p[n] == '/')
        return p + n + 1;
    return p;
}

static void print_issues(const af_dataset *ds, const char *root, size_t *nwarn)
{
    for (size_t i = 0; i < ds->issues.n; i++) {
        const af_issue *is = &ds->issues.v[i];
        const char *f = shown(root, is->file);
        const char *w = is->kind == AF_ISSUE_WARNING ? "warning: " : "";
        if (is->line > 0)
            printf("%s:%d: %s%s\n", f, is->line, w, is->msg);
        else
            printf("%s: %s%s\n", f, w, is->msg);
        if (is->kind == AF_ISSUE_WARNING)
            (*nwarn)++;
    }
}

static int data_check(int argc, char **argv)
{
    const char *split = "all";
    int images = 1, help = 0;
    opt_spec specs[] = {
        {"split", NULL, OPT_STRING, &split, 1, 0, "train, val, test or all (default: all)", "S"},
        {"images", NULL, OPT_BOOL, &images, 1, 0,
         "check image headers: format, size >= 10 px (default on; --no-images)", NULL},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    char *pos[4];
    int npos;
    if (opt_parse("animeface data check", argc, argv, specs, NSPECS(specs), pos, 4, &npos))
        return 2;
    if (help || npos != 1) {
        opt_print_help(
            "Usage: animeface data check DATA.yaml [--split train|val|test|all]\n"
            "Reads a YOLO dataset as ultralytics 8.1.9 does and lists every problem as\n"
            "FILE:LINE: PROBLEM. Exits 1 when an image or label file is corrupt (ultralytics\n"
            "would skip that image) or a split folder is missing.",
            specs, NSPECS(specs));
        return help ? 0 : 2;
    }
    const char *splits[3] = {"train", "val", "test"};
    int first = 0, last = 2;
    if (strcmp(split, "all")) {
        int k = !strcmp(split, "train") ? 0 : !strcmp(split, "val") ? 1 : !strcmp(split, "test") ? 2 : -1;
        if (k < 0) {
            fprintf(stderr, "animeface data check: --split must be train, val, test or all, not '%s'\n",
                    split);
            return 2;
        }
        first = last = k;
    }
    af_data_config cfg;
    af_error err = {0};
    if (af_data_config_load(pos[0], &cfg, &err)) {
        fprintf(stderr, "animeface data check: %s\n", err.msg);
        return 1;
    }
    printf("%s: root %s, %d class%s:", pos[0], cfg.root, cfg.nc, cfg.nc == 1 ? "" : "es");
    for (int c = 0; c < cfg.nc && c < 20; c++)
        printf(" %d=%s", c, cfg.names[c]);
    printf("%s\n", cfg.nc > 20 ? " ..." : "");
    int bad = 0;
    size_t nwarn = 0;
    af_dataset_opts opts = {images};
    for (int k = first; k <= last; k++) {
        const af_strlist *paths = af_data_config_split(&cfg, splits[k]);
        if (paths->n == 0) {
            if (first == last || k < 2) {
                printf("%s: not in %s\n", splits[k], pos[0]);
                bad = 1;
            }
            continue;
        }
        af_dataset ds;
        if (af_dataset_load(&cfg, splits[k], &opts, &ds, &err)) {
            printf("%s\n", err.msg);
            bad = 1;
            continue;
        }
        print_issues(&ds, cfg.root, &nwarn);
        const af_dataset_counts *c = &ds.counts;
        printf("%s: %zu images, %zu backgrounds (%zu without label file, %zu empty), %zu instances, "
               "%zu corrupt, %zu duplicates removed\n",
               splits[k], c->images, c->backgrounds, c->missing, c->empty, c->instances, c->corrupt,
               c->duplicates);
        if (c->corrupt)
            bad = 1;
        af_dataset_free(&ds);
    }
    if (nwarn)
        printf("%zu warning%s\n", nwarn, nwarn == 1 ? "" : "s");
    af_data_config_free(&cfg);
    return bad;
}

static int parse_ratios(const char *s, double r[3])
{
    r[0] = r[1] = r[2] = 0;
    int n = 0;
    const char *p = s;
    while (*p && n < 3) {
        char *e;
        errno = 0;
        r[n] = strtod(p, &e);
        if (e == p || errno || !(r[n] >= 0))
            return 1;
        n++;
        p = e;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return 1;
    }
    return *p || n < 2 || !(r[0] + r[1] + r[2] > 0);
}

static int data_split(int argc, char **argv)
{
    const char *ratios = "0.9,0.1,0", *seed = "0", *out = NULL, *names = NULL;
    int help = 0;
    opt_spec specs[] = {
        {"ratios", "weights", OPT_STRING, &ratios, 1, 0,
         "train,val[,test] fractions (normalised; default 0.9,0.1,0)", "R"},
        {"seed", NULL, OPT_STRING, &seed, 1, 0, "shuffle seed, 0..2^64-1 (default 0)", "S"},
        {"out", NULL, OPT_STRING, &out, 1, 0, "where the lists and data.yaml go (default: DIR)",
         "DIR"},
        {"names", NULL, OPT_STRING, &names, 1, 0,
         "class names a,b,... (default: class_0.. up to the largest class in the labels)", "N"},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    char *pos[4];
    int npos;
    if (opt_parse("animeface data split", argc, argv, specs, NSPECS(specs), pos, 4, &npos))
        return 2;
    if (help || npos != 1) {
        opt_print_help(
            "Usage: animeface data split DIR [--ratios 0.7,0.2,0.1] [--seed S] [--out DIR]\n"
            "Shuffles the images below DIR (recursively; labels by the images/->labels/ rule,\n"
            "or beside the images) with splitmix64 seeded by S and writes train.txt, val.txt,\n"
            "test.txt (when its share is not empty) and data.yaml pointing at them. Counts:\n"
            "train = round(n*r0), val = round(n*(r0+r1)) - train, test = the rest.",
            specs, NSPECS(specs));
        return help ? 0 : 2;
    }
    af_split_opts so = {{0, 0, 0}, 0, out, names};
    if (parse_ratios(ratios, so.ratios)) {
        fprintf(stderr, "animeface data split: --ratios takes 2 or 3 non-negative numbers like "
                        "0.7,0.2,0.1, not '%s'\n",
                ratios);
        return 2;
    }
    char *e;
    errno = 0;
    so.seed = strtoull(seed, &e, 10);
    if (e == seed || *e || errno || seed[0] == '-') {
        fprintf(stderr, "animeface data split: --seed takes a non-negative integer, not '%s'\n", seed);
        return 2;
    }
    af_split_result res;
    af_error err = {0};
    if (af_data_split(pos[0], &so, &res, &err)) {
        fprintf(stderr, "animeface data split: %s\n", err.msg);
        return 1;
    }
    printf("train %zu, val %zu, test %zu images; %d class%s; wrote %s\n", res.counts[0],
           res.counts[1], res.counts[2], res.nc, res.nc == 1 ? "" : "es", res.yaml_path);
    if (res.counts[0] == 0 || res.counts[1] == 0)
        fprintf(stderr, "animeface data split: warning: the %s split is empty\n",
                res.counts[0] == 0 ? "train" : "val");
    af_split_result_free(&res);
    return 0;
}

static int data_convert(int argc, char **argv)
{
    const char *from = NULL, *out = NULL, *names = NULL;
    int help = 0;
    opt_spec specs[] = {
        {"from", NULL, OPT_STRING, &from, 1, 0, "voc (a folder of .xml) or coco (a .json or a folder)",
         "FMT"},
        {"out", NULL, OPT_STRING, &out, 1, 0, "output dataset folder (labels/ and data.yaml)", "DIR"},
        {"names", NULL, OPT_STRING, &names, 1, 0,
         "class names a,b,... (voc: only these classes, in this order; default: all, sorted)", "N"},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    char *pos[4];
    int npos;
    if (opt_parse("animeface data convert", argc, argv, specs, NSPECS(specs), pos, 4, &npos))
        return 2;
    if (help || npos != 1 || !from || !out) {
        opt_print_help("Usage: animeface data convert --from voc|coco SRC --out DIR [--names a,b]\n"
                       "Converts Pascal VOC or COCO instances annotations to YOLO txt labels as\n"
                       "ultralytics does, and writes DIR/data.yaml with the class names.",
                       specs, NSPECS(specs));
        return help ? 0 : 2;
    }
    af_convert_result res;
    af_error err = {0};
    af_status st;
    if (!strcmp(from, "voc"))
        st = af_convert_voc(pos[0], out, names, &res, &err);
    else if (!strcmp(from, "coco"))
        st = af_convert_coco(pos[0], out, names, &res, &err);
    else {
        fprintf(stderr, "animeface data convert: --from must be voc or coco, not '%s'\n", from);
        return 2;
    }
    if (st) {
        fprintf(stderr, "animeface data convert: %s\n", err.msg);
        return 1;
    }
    printf("%zu label files, %zu boxes, %zu objects skipped; %d class%s:", res.files, res.boxes,
           res.skipped, res.nc, res.nc == 1 ? "" : "es");
    for (int c = 0; c < res.nc && c < 20; c++)
        printf(" %d=%s", c, res.names[c]);
    printf("%s\nwrote %s (put the images in %s/images)\n", res.nc > 20 ? " ..." : "", res.yaml_path,
           out);
    af_convert_result_free(&res);
    return 0;
}

int cmd_data(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
        printf("Usage: animeface data check DATA.yaml [--split train|val|test|all]\n"
               "       animeface data split DIR --ratios 0.7,0.2,0.1 --seed S [--out DIR]\n"
               "       animeface data convert --from voc|coco SRC --out DIR [--names a,b]\n"
               "'animeface data COMMAND --help' lists a command's options.\n");
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "check"))
        return data_check(argc - 1, argv + 1);
    if (!strcmp(argv[0], "split"))
        return data_split(argc - 1, argv + 1);
    if (!strcmp(argv[0], "convert"))
        return data_convert(argc - 1, argv + 1);
    fprintf(stderr, "animeface data: unknown command '%s' (check, split or convert)\n", argv[0]);
    return 2;
}
