/*
 * YOLO detection datasets as ultralytics 8.1.9 reads them (data/utils.py check_det_dataset,
 * img2label_paths, verify_image_label; data/base.py get_img_files; data/dataset.py
 * cache_labels), plus the dataset tools behind `animeface data split|convert`.
 *
 * data.yaml (af_data_config_load):
 *  - keys: path, train, val (or `validation`), test, nc, names; others are ignored. train and
 *    val are required; names or nc is required; when both are given len(names) must equal nc.
 *    names: a list, or a mapping {0: face} whose keys (ints or digit strings) are exactly
 *    0..n-1. No names: class_0, class_1, ... as ultralytics. Null / boolean plain scalars in
 *    names become "None" / "True" / "False" (Python str() of the YAML value).
 *  - dataset root: `path` when set and non-empty, else the yaml's folder. An absolute `path`
 *    is used as is. A RELATIVE `path` is taken relative to the yaml's folder (ultralytics
 *    8.1.9 takes it relative to its settings' datasets_dir instead; the yaml-folder rule is
 *    what ultralytics does for a yaml given by absolute path without a `path` key).
 *  - each of train/val/test is a string or a list of strings, joined to the root (an
 *    absolute entry replaces it) and resolved like pathlib's Path.resolve() (symlinks of the
 *    existing part resolved, '.'/'..' collapsed). A single string that does not exist and
 *    starts with "../" is retried without the "../" (ultralytics' rule). Empty/null: absent.
 *  - every val path must exist (ultralytics raises FileNotFoundError), else AF_E_IO.
 *
 * Image lists (af_image_list_collect), as get_img_files:
 *  - a folder: every entry below it, recursively, whose name has a dot (glob "**" / "*.*"):
 *    files, and also FIFOs, sockets, devices, dangling symlinks, symlink loops and folders
 *    named like x.jpg (which the dataset then reports as corrupt with the reason, never
 *    opening them); names starting with '.' are skipped (files and folders), as glob does;
 *    symlinked folders are followed (depth limit 64);
 *  - a file: a text list, one path per line. The whole text is stripped, then split into
 *    lines. A line that starts with "./" has EVERY "./" in it replaced by the list's folder
 *    + "/" (Python's str.replace, faithfully); other lines are used as written (absolute, or
 *    relative to the current directory);
 *  - kept: paths whose text after the LAST '.' is an IMG_FORMATS suffix (case-insensitive);
 *  - sorted by byte order (= Python's sorted() on str for UTF-8 names); none found: error.
 * Label path (af_img2label_path): the last "/images/" becomes "/labels/", and the text after
 * the last '.' becomes "txt".
 *
 * Label files (af_labels_read), verify_image_label's rules in its order:
 *  - missing file: background (nm); empty after stripping whitespace: background (ne);
 *  - rows are whitespace-split lines; blank lines are dropped, but a line of only spaces
 *    between rows is a row with 0 columns (numpy raises on the ragged array) => corrupt;
 *  - if any row has more than 6 columns the file holds polygons: every row is cls x1 y1 x2
 *    y2 ...; each polygon becomes its bounding box (xyxy -> xywh, float32) like
 *    segments2boxes; an odd number of coordinates or none => corrupt;
 *  - otherwise every row needs exactly 5 columns;
 *  - values are parsed like Python float() and rounded to float32 (numpy); then: every
 *    coordinate (cx cy w h) <= 1, every value (class included) >= 0, class < nc and an
 *    integer. Any failure => the file (and its image) is corrupt; each offending line is
 *    reported. Deviation: ultralytics 8.1.9 asserts `max_cls <= nc` (off by one) and accepts
 *    fractional classes; animeface rejects class == nc and fractional classes;
 *  - duplicate rows (equal as float32) are removed with a warning; as np.unique(axis=0) does,
 *    the remaining rows are then in lexicographic order (only when something was removed).
 *
 * Every image path is first checked without opening it: a FIFO, socket, device, folder,
 * dangling symlink, symlink loop or unreadable file is corrupt, with that reason.
 * Image check (optional, af_dataset_opts.check_images): reads only the header of JPEG, PNG,
 * BMP and WebP (TIFF, GIF, AVIF and PNM are decoded for their size). Corrupt when the file
 * cannot be opened or decoded, or a side is under 10 pixels (sizes after the EXIF orientation). A JPEG that does not end
 * in FF D9 gets a warning (ultralytics rewrites such a file; animeface leaves it alone).
 * A corrupt image's labels are not read (ultralytics stops at the first failure).
 *
 * Library rules: nothing here prints; messages are returned in af_dataset.issues.
 */
#ifndef AF_DATA_DATASET_H
#define AF_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"

/* ---- growable list of owned strings ---- */
typedef struct af_strlist {
    char **v;
    size_t n, cap;
} af_strlist;

af_status af_strlist_push(af_strlist *l, const char *s, af_error *err);      /* copies s */
af_status af_strlist_push_own(af_strlist *l, char *s, af_error *err);       /* takes s (freed on failure) */
void af_strlist_sort(af_strlist *l);                                          /* strcmp order */
void af_strlist_free(af_strlist *l);

/* ---- paths and image lists (image_list.c) ---- */

/* 1 when the text after the last '.' of path is an ultralytics IMG_FORMATS suffix:
 * bmp dng jpeg jpg mpo png tif tiff webp pfm (any case). */
int af_is_img_format(const char *path);

/* ultralytics img2label_paths for one path; malloc'd, NULL when out of memory. */
char *af_img2label_path(const char *img_path);

/* Path.resolve(): absolute, symlinks of the existing prefix resolved, '.', '..' and '//'
 * collapsed. Joins base (NULL: the current directory) when path is relative. malloc'd. */
af_status af_path_resolve(const char *base, const char *path, char **out, af_error *err);

/* Appends the image files of one split entry (folder or .txt list) to out, unsorted and
 * unfiltered except for the "*.*" name rule of folders. Missing path: AF_E_IO. */
af_status af_image_list_add(const char *path, af_strlist *out, af_error *err);

/* get_img_files: all entries, filtered by IMG_FORMATS and sorted. None found: AF_E_IO. */
af_status af_image_list_collect(const af_strlist *paths, af_strlist *out, af_error *err);

/* ---- data.yaml (data_yaml.c) ---- */
typedef struct af_data_config {
    char *yaml_path;           /* as resolved */
    char *root;                /* the dataset root (resolved `path`) */
    af_strlist train, val, test; /* resolved absolute paths; n == 0: split not given */
    int nc;
    char **names;              /* nc strings */
} af_data_config;

af_status af_data_config_load(const char *yaml_path, af_data_config *cfg, af_error *err);
void af_data_config_free(af_data_config *cfg);

/* "train", "val" or "test" -> the list; NULL for another name. */
const af_strlist *af_data_config_split(const af_data_config *cfg, const char *split);

/* ---- labels (labels.c) ---- */
typedef enum af_issue_kind { AF_ISSUE_WARNING = 0, AF_ISSUE_CORRUPT = 1 } af_issue_kind;

typedef struct af_issue {
    af_issue_kind kind;
    char *file; /* the label or image file */
    int line;   /* 1-based line of the label file, 0: the whole file */
    char *msg;  /* one line, e.g. "class 4 is out of range (nc=1)" */
} af_issue;

typedef struct af_issue_list {
    af_issue *v;
    size_t n, cap;
} af_issue_list;

af_status af_issue_add(af_issue_list *l, af_issue_kind kind, const char *file, int line,
                       af_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
void af_issue_list_free(af_issue_list *l);

typedef struct af_label_set {
    int n;        /* boxes */
    int *cls;     /* n */
    float *xywhn; /* 4n: cx cy w h, normalised */
} af_label_set;

typedef enum af_label_state {
    AF_LABEL_FOUND = 0,   /* a file with at least one row */
    AF_LABEL_MISSING,     /* no label file: background */
    AF_LABEL_EMPTY,       /* empty file: background */
    AF_LABEL_CORRUPT      /* the image is skipped */
} af_label_state;

typedef struct af_label_result {
    af_label_state state;
    af_label_set lb;      /* empty unless FOUND */
    int duplicates;       /* rows removed */
    int from_segments;    /* 1: polygons were converted to boxes */
} af_label_result;

/* Reads and verifies one label file. Problems go to issues (corrupt ones make state
 * AF_LABEL_CORRUPT); the return value is an error only for out-of-memory and similar
 * failures of the caller's making (a broken file is a result, not an error). */
af_status af_labels_read(const char *path, int nc, af_label_result *res, af_issue_list *issues,
                         af_error *err);
void af_label_set_free(af_label_set *s);

/* Parses a token like Python float(): [+-] digits [. digits] [e[+-]digits], inf, infinity,
 * nan (any case). 0 on success. */
int af_parse_py_float(const char *s, size_t len, double *out);

/* ---- image header check (dataset.c) ---- */

/* Width and height after the EXIF orientation, from the header only; format: "jpeg",
 * "png", "bmp", "webp". *jpeg_no_eoi: a JPEG whose last two bytes are not FF D9. */
af_status af_image_probe(const char *path, int *w, int *h, const char **format,
                         int *jpeg_no_eoi, af_error *err);

/* ---- a split of a dataset (dataset.c) ---- */
typedef struct af_dataset_opts {
    int check_images; /* read image headers (size, format); default 0 */
} af_dataset_opts;

typedef struct af_dataset_item {
    char *image;
    char *label;          /* img2label path (may not exist) */
    af_label_state state; /* CORRUPT also for a corrupt image */
    af_label_set lb;
} af_dataset_item;

typedef struct af_dataset_counts {
    size_t images;      /* image files listed */
    size_t found;       /* label files with rows (nf) */
    size_t missing;     /* nm */
    size_t empty;       /* ne */
    size_t backgrounds; /* nm + ne */
    size_t corrupt;     /* nc: images skipped */
    size_t instances;   /* boxes in usable images */
    size_t duplicates;  /* rows removed */
} af_dataset_counts;

typedef struct af_dataset {
    size_t n;
    af_dataset_item *items; /* sorted image order; corrupt items stay, marked */
    af_dataset_counts counts;
    af_issue_list issues;
} af_dataset;

/* Loads "train", "val" or "test". A split that is not in the yaml: AF_E_ARG. A path that does
 * not exist or holds no images: AF_E_IO. */
af_status af_dataset_load(const af_data_config *cfg, const char *split, const af_dataset_opts *opts,
                          af_dataset *ds, af_error *err);
/* Same from explicit folder/list paths (nc classes). */
af_status af_dataset_load_paths(const af_strlist *paths, int nc, const af_dataset_opts *opts,
                                af_dataset *ds, af_error *err);
void af_dataset_free(af_dataset *ds);

/* ---- split tool (split.c) ---- */

/* splitmix64 (Steele, Lea, Flood 2014): state += 0x9E3779B97F4A7C15, then the finaliser. */
uint64_t af_splitmix64(uint64_t *state);

/* Fisher-Yates shuffle of perm[0..n) driven by splitmix64 seeded with seed: for i = n-1 down
 * to 1, j = floor(r * (i+1) / 2^64) with r the next splitmix64 output, swap perm[i], perm[j]. */
void af_shuffle_indices(size_t *perm, size_t n, uint64_t seed);

/* Split sizes from ratios (non-negative, sum > 0, normalised): b1 = round(n*r0/s),
 * b2 = round(n*(r0+r1)/s) (half away from zero); train = b1, val = b2-b1, test = n-b2. */
void af_split_counts(size_t n, const double ratios[3], size_t counts[3]);

typedef struct af_split_opts {
    double ratios[3];   /* train, val, test */
    uint64_t seed;
    const char *out_dir; /* NULL: the images folder */
    const char *names;   /* "a,b,c" or NULL: class_0.. up to the largest class in the labels */
} af_split_opts;

typedef struct af_split_result {
    size_t counts[3];
    int nc;
    char *yaml_path;
} af_split_result;

/* Collects the images below dir (folder rule above), shuffles, writes OUT/train.txt,
 * OUT/val.txt, OUT/test.txt (each sorted; "./rel" when the image is below OUT, else the
 * absolute path) and OUT/data.yaml (no `path:` key; test only when non-empty). */
af_status af_data_split(const char *dir, const af_split_opts *opts, af_split_result *res,
                        af_error *err);
void af_split_result_free(af_split_result *res);

/* Helpers shared by the tools (split.c). mkdir -p: */
af_status af_make_dirs(const char *path, af_error *err);
/* "a,b , c" -> {"a","b","c"} (spaces around names trimmed; empty names refused). */
af_status af_split_names(const char *csv, af_strlist *out, af_error *err);
/* Writes dir/data.yaml: "# comment", no `path:` key, train/val/test (NULL: left out; val
 * NULL: the train entry), nc and names as a {i: "name"} mapping. *yaml_path: malloc'd. */
af_status af_write_data_yaml(const char *dir, const char *comment, const char *const splits[3],
                             const af_strlist *names, char **yaml_path, af_error *err);

/* ---- converters (convert.c) ---- */
typedef struct af_convert_result {
    size_t files;     /* label files written */
    size_t boxes;     /* lines written */
    size_t skipped;   /* objects skipped (difficult, crowd, unknown class, empty box) */
    int nc;
    char **names;
    char *yaml_path;
} af_convert_result;

/* Pascal VOC: every *.xml directly in src_dir (sorted) -> out_dir/labels/<stem>.txt, as
 * ultralytics' VOC.yaml convert_label: objects whose name is not in names or that are
 * difficult (difficult == 1) are skipped; box (xmin,xmax,ymin,ymax) ->
 * ((xmin+xmax)/2 - 1, (ymin+ymax)/2 - 1, xmax-xmin, ymax-ymin) times (1/width, 1/height),
 * written with Python's str() of each float. names NULL/empty: every object name found,
 * sorted. Writes out_dir/data.yaml. */
af_status af_convert_voc(const char *src_dir, const char *out_dir, const char *names,
                         af_convert_result *res, af_error *err);

/* COCO instances json (a file, or every *.json directly in a folder, sorted) ->
 * out_dir/labels/<json stem without "instances_">/<file_name stem>.txt, as ultralytics
 * convert_coco(use_segments=False): iscrowd skipped; bbox [x,y,w,h] -> (x+w/2)/W,
 * (y+h/2)/H, w/W, h/H in double; boxes with w <= 0 or h <= 0 skipped; exact duplicate
 * boxes of one image skipped; "%g" formatting. Class: the category ids of "categories"
 * mapped to 0..n-1 in increasing id order (== ultralytics' cls91to80=False `id - 1` when
 * the ids are 1..n). names NULL: the category names. Writes out_dir/data.yaml. */
af_status af_convert_coco(const char *src, const char *out_dir, const char *names,
                          af_convert_result *res, af_error *err);
void af_convert_result_free(af_convert_result *res);

/* Python repr() of a double (shortest round-trip, 'r' style). */
void af_py_float_repr(double v, char *buf, size_t cap);

#endif
