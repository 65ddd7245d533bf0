/* `animeface data split`: a deterministic train/val/test split of a folder of images into
 * ultralytics-style .txt image lists plus a data.yaml (rules in data/dataset.h).
 *
 * Layout: DIR is anything get_img_files reads as a folder: every image below it,
 * recursively. Labels follow the img2label rule, so both the YOLO layout
 * (DIR/images/... + DIR/labels/...) and a flat folder (a.jpg beside a.txt) work; they are
 * only read to find the number of classes when no names are given. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/dataset.h"

uint64_t af_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void af_shuffle_indices(size_t *perm, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i-- > 1;) {
        uint64_t r = af_splitmix64(&s);
        size_t j = (size_t)(((unsigned __int128)r * (uint64_t)(i + 1)) >> 64);
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void af_split_counts(size_t n, const double ratios[3], size_t counts[3])
{
    double s = ratios[0] + ratios[1] + ratios[2];
    double f1 = s > 0 ? ratios[0] / s : 1, f2 = s > 0 ? (ratios[0] + ratios[1]) / s : 1;
    size_t b1 = (size_t)round((double)n * f1), b2 = (size_t)round((double)n * f2);
    if (b1 > n)
        b1 = n;
    if (b2 > n)
        b2 = n;
    if (b2 < b1)
        b2 = b1;
    counts[0] = b1;
    counts[1] = b2 - b1;
    counts[2] = n - b2;
}

/* Largest class index in the label files of imgs (-1: none). */
static int max_class(const af_strlist *imgs)
{
    int mx = -1;
    for (size_t i = 0; i < imgs->n; i++) {
        char *lp = af_img2label_path(imgs->v[i]);
        if (!lp)
            return mx;
        af_label_result r;
        af_issue_list issues = {0};
        if (af_labels_read(lp, 1 << 30, &r, &issues, NULL) == AF_OK && r.state == AF_LABEL_FOUND)
            for (int k = 0; k < r.lb.n; k++)
                mx = r.lb.cls[k] > mx ? r.lb.cls[k] : mx;
        af_label_set_free(&r.lb);
        af_issue_list_free(&issues);
        free(lp);
    }
    return mx;
}

static af_status write_list(const char *out_dir, const char *name, const af_strlist *imgs,
                            const size_t *perm, size_t from, size_t count, af_error *err)
{
    af_strlist sel = {0};
    af_status st = AF_OK;
    for (size_t i = 0; i < count && st == AF_OK; i++)
        st = af_strlist_push(&sel, imgs->v[perm[from + i]], err);
    if (st) {
        af_strlist_free(&sel);
        return st;
    }
    af_strlist_sort(&sel);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        af_strlist_free(&sel);
        return af_fail(err, AF_E_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    size_t ol = strlen(out_dir);
    for (size_t i = 0; i < sel.n; i++) {
        const char *p = sel.v[i];
        /* "./rel" when below out_dir and the rest has no "./" (get_img_files replaces them all) */
        if (ol > 1 && !strncmp(p, out_dir, ol) && p[ol] == '/' && !strstr(p + ol + 1, "./"))
            fprintf(f, "./%s\n", p + ol + 1);
        else
            fprintf(f, "%s\n", p);
    }
    af_strlist_free(&sel);
    if (fclose(f) != 0)
        return af_fail(err, AF_E_IO, "%s: write failed", path);
    return AF_OK;
}

af_status af_data_split(const char *dir, const af_split_opts *opts, af_split_result *res,
                        af_error *err)
{
    memset(res, 0, sizeof *res);
    for (int k = 0; k < 3; k++)
        if (!(opts->ratios[k] >= 0) || !isfinite(opts->ratios[k]))
            return af_fail(err, AF_E_ARG, "split ratios must be finite and >= 0");
    if (!(opts->ratios[0] + opts->ratios[1] + opts->ratios[2] > 0))
        return af_fail(err, AF_E_ARG, "split ratios must not all be 0");
    char *root = NULL, *out = NULL;
    af_strlist paths = {0}, imgs = {0}, names = {0};
    size_t *perm = NULL;
    af_status st = af_path_resolve(NULL, dir, &root, err);
    if (!st)
        st = af_strlist_push(&paths, root, err);
    if (!st)
        st = af_image_list_collect(&paths, &imgs, err);
    if (!st)
        st = af_path_resolve(NULL, opts->out_dir ? opts->out_dir : root, &out, err);
    if (!st)
        st = af_make_dirs(out, err);
    if (!st && !(perm = malloc((imgs.n ? imgs.n : 1) * sizeof *perm)))
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    if (!st && opts->names && *opts->names) {
        st = af_split_names(opts->names, &names, err);
    } else if (!st) {
        int mx = max_class(&imgs);
        for (int c = 0; c <= (mx < 0 ? 0 : mx) && !st; c++) {
            char b[32];
            snprintf(b, sizeof b, "class_%d", c);
            st = af_strlist_push(&names, b, err);
        }
    }
    if (!st) {
        af_shuffle_indices(perm, imgs.n, opts->seed);
        af_split_counts(imgs.n, opts->ratios, res->counts);
        static const char *const lists[3] = {"train.txt", "val.txt", "test.txt"};
        size_t from = 0;
        for (int k = 0; k < 3 && !st; k++) {
            if (k < 2 || res->counts[2] > 0)
                st = write_list(out, lists[k], &imgs, perm, from, res->counts[k], err);
            from += res->counts[k];
        }
    }
    if (!st) {
        char comment[256];
        snprintf(comment, sizeof comment,
                 "written by animeface data split: %zu images, ratios %g,%g,%g, seed %llu",
                 imgs.n, opts->ratios[0], opts->ratios[1], opts->ratios[2],
                 (unsigned long long)opts->seed);
        const char *tr[3] = {"train.txt", "val.txt", res->counts[2] > 0 ? "test.txt" : NULL};
        st = af_write_data_yaml(out, comment, tr, &names, &res->yaml_path, err);
        res->nc = (int)names.n;
    }
    free(root);
    free(out);
    free(perm);
    af_strlist_free(&paths);
    af_strlist_free(&imgs);
    af_strlist_free(&names);
    if (st)
        af_split_result_free(res);
    return st;
}

void af_split_result_free(af_split_result *res)
{
    free(res->yaml_path);
    memset(res, 0, sizeof *res);
}

af_status af_make_dirs(const char *path, af_error *err)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return af_fail(err, AF_E_ARG, "bad folder name '%.200s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return af_fail(err, AF_E_IO, "%s: cannot create folder: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return af_fail(err, AF_E_IO, "%s: not a folder", path);
    return AF_OK;
}

af_status af_split_names(const char *csv, af_strlist *out, af_error *err)
{
    const char *p = csv;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0)
            return af_fail(err, AF_E_ARG, "class names '%.200s': empty name", csv);
        af_status st = af_strlist_push_own(out, strndup(s, n), err);
        if (st)
            return st;
        if (!e)
            return AF_OK;
        p = e + 1;
    }
}

/* A YAML double-quoted scalar. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

af_status af_write_data_yaml(const char *dir, const char *comment, const char *const splits[3],
                             const af_strlist *names, char **yaml_path, af_error *err)
{
    static const char *const keys[3] = {"train", "val", "test"};
    size_t n = strlen(dir) + sizeof "/data.yaml";
    char *path = malloc(n);
    if (!path)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    snprintf(path, n, "%s/data.yaml", dir);
    FILE *f = fopen(path, "wb");
    if (!f) {
        af_status st = af_fail(err, AF_E_IO, "%s: cannot write: %s", path, strerror(errno));
        free(path);
        return st;
    }
    if (comment)
        fprintf(f, "# %s\n", comment);
    fprintf(f, "# no `path:` key: the entries below are relative to this file's folder\n");
    for (int k = 0; k < 3; k++) {
        const char *v = splits[k] ? splits[k] : (k == 1 ? splits[0] : NULL);
        if (!v)
            continue;
        fprintf(f, "%s: ", keys[k]);
        put_quoted(f, v);
        fputc('\n', f);
    }
    fprintf(f, "nc: %zu\nnames:\n", names->n);
    for (size_t i = 0; i < names->n; i++) {
        fprintf(f, "  %zu: ", i);
        put_quoted(f, names->v[i]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(path);
        return af_fail(err, AF_E_IO, "%s: write failed", dir);
    }
    *yaml_path = path;
    return AF_OK;
}
