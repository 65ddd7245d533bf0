/* Image file lists as ultralytics' get_img_files builds them, the img2label rule, and
 * Path.resolve(). See data/dataset.h for the exact rules. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "data/dataset.h"

#define LIST_MAX_ITEMS ((size_t)1 << 26)
#define LIST_FILE_MAX_BYTES ((long)1 << 30)
#define DIR_MAX_DEPTH 64

af_status af_strlist_push_own(af_strlist *l, char *s, af_error *err)
{
    if (!s)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        if (cap > LIST_MAX_ITEMS) {
            free(s);
            return af_fail(err, AF_E_LIMIT, "more than %zu entries in a list", LIST_MAX_ITEMS);
        }
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return af_fail(err, AF_E_NOMEM, "out of memory");
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return AF_OK;
}

af_status af_strlist_push(af_strlist *l, const char *s, af_error *err)
{
    return af_strlist_push_own(l, strdup(s), err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void af_strlist_sort(af_strlist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

void af_strlist_free(af_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int af_is_img_format(const char *path)
{
    static const char *const fmts[] = {"bmp", "dng",  "jpeg", "jpg",  "mpo",
                                       "png", "tif",  "tiff", "webp", "pfm"};
    const char *dot = strrchr(path, '.');
    const char *ext = dot ? dot + 1 : path; /* Python: x.split(".")[-1] */
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
        if (!strcasecmp(ext, fmts[i]))
            return 1;
    return 0;
}

char *af_img2label_path(const char *img)
{
    static const char sa[] = "/images/", sb[] = "/labels/";
    size_t n = strlen(img);
    char *out = malloc(n + 8);
    if (!out)
        return NULL;
    /* sb.join(x.rsplit(sa, 1)): the last occurrence */
    const char *last = NULL;
    for (const char *p = strstr(img, sa); p; p = strstr(p + 1, sa))
        last = p;
    memcpy(out, img, n + 1);
    if (last)
        memcpy(out + (last - img), sb, sizeof sb - 1);
    /* .rsplit(".", 1)[0] + ".txt": cut at the last '.' of the whole string */
    char *dot = strrchr(out, '.');
    if (dot)
        *dot = '\0';
    strcat(out, ".txt");
    return out;
}

/* Appends "/comp" (or resolves it) to cur (capacity PATH_MAX + 1). */
af_status af_path_resolve(const char *base, const char *path, char **out, af_error *err)
{
    char joined[PATH_MAX * 2 + 2];
    if (path[0] == '/') {
        if (strlen(path) >= sizeof joined)
            return af_fail(err, AF_E_LIMIT, "path too long: %.200s", path);
        strcpy(joined, path);
    } else {
        char cwd[PATH_MAX];
        if (!base) {
            if (!getcwd(cwd, sizeof cwd))
                return af_fail(err, AF_E_IO, "cannot get the current directory: %s", strerror(errno));
            base = cwd;
        }
        if ((size_t)snprintf(joined, sizeof joined, "%s/%s", base, path) >= sizeof joined)
            return af_fail(err, AF_E_LIMIT, "path too long: %.200s", path);
        if (joined[0] != '/') {
            char tmp[PATH_MAX * 2 + 2];
            if (!getcwd(cwd, sizeof cwd))
                return af_fail(err, AF_E_IO, "cannot get the current directory: %s", strerror(errno));
            if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s", cwd, joined) >= sizeof tmp)
                return af_fail(err, AF_E_LIMIT, "path too long: %.200s", path);
            strcpy(joined, tmp);
        }
    }
    char cur[PATH_MAX + 1] = "";
    size_t len = 0;
    int exists = 1;
    const char *p = joined;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t cl = (size_t)(e - p);
        if (cl == 0)
            break;
        if (cl == 1 && p[0] == '.') {
            /* skip */
        } else if (cl == 2 && p[0] == '.' && p[1] == '.') {
            char *s = strrchr(cur, '/');
            if (s) {
                *s = '\0';
                len = (size_t)(s - cur);
            }
        } else {
            if (len + 1 + cl > PATH_MAX)
                return af_fail(err, AF_E_LIMIT, "path too long: %.200s", path);
            cur[len] = '/';
            memcpy(cur + len + 1, p, cl);
            len += 1 + cl;
            cur[len] = '\0';
            if (exists) {
                char real[PATH_MAX + 1];
                if (realpath(cur, real)) {
                    size_t rl = strlen(real);
                    if (rl == 1) /* "/" */
                        rl = 0;
                    memcpy(cur, real, rl);
                    cur[rl] = '\0';
                    len = rl;
                } else {
                    exists = 0;
                }
            }
        }
        p = e;
    }
    *out = strdup(len ? cur : "/");
    return *out ? AF_OK : af_fail(err, AF_E_NOMEM, "out of memory");
}

static af_status walk_dir(const char *dir, int depth, af_strlist *out, af_error *err)
{
    if (depth > DIR_MAX_DEPTH)
        return af_fail(err, AF_E_LIMIT, "%s: folders nested deeper than %d (a symlink loop?)", dir,
                       DIR_MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d)
        return af_fail(err, AF_E_IO, "%s: cannot list folder: %s", dir, strerror(errno));
    af_status st = AF_OK;
    struct dirent *de;
    while (st == AF_OK && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.') /* glob skips hidden names, and '.' '..' */
            continue;
        size_t n = strlen(dir) + strlen(name) + 2;
        char *full = malloc(n);
        if (!full) {
            st = af_fail(err, AF_E_NOMEM, "out of memory");
            break;
        }
        snprintf(full, n, "%s/%s", dir, name);
        struct stat sb;
        int is_dir = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
        if (is_dir) {
            /* glob's "*.*" lists a folder named like x.jpg too (the dataset then reports
             * it as corrupt, as ultralytics does) */
            if (strchr(name, '.'))
                st = af_strlist_push(out, full, err);
            if (st == AF_OK)
                st = walk_dir(full, depth + 1, out, err);
            free(full);
        } else if (strchr(name, '.')) { /* FIFOs, dangling links etc. too: reported later */
            st = af_strlist_push_own(out, full, err);
        } else {
            free(full);
        }
    }
    closedir(d);
    return st;
}

static af_status read_small_file(const char *path, char **buf, size_t *len, af_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return af_fail(err, AF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return af_fail(err, AF_E_IO, "%s: cannot seek", path);
    }
    long sz = ftell(f);
    if (sz < 0 || sz > LIST_FILE_MAX_BYTES) {
        fclose(f);
        return af_fail(err, AF_E_LIMIT, "%s: file too large (limit %ld bytes)", path,
                       LIST_FILE_MAX_BYTES);
    }
    rewind(f);
    char *b = malloc((size_t)sz + 1);
    if (!b) {
        fclose(f);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    if (sz && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        fclose(f);
        return af_fail(err, AF_E_IO, "%s: short read", path);
    }
    fclose(f);
    b[sz] = '\0';
    *buf = b;
    *len = (size_t)sz;
    return AF_OK;
}

static int py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static int py_linebreak(unsigned char c)
{
    return c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e);
}

/* x.replace("./", parent) */
static char *replace_dot_slash(const char *line, size_t n, const char *parent)
{
    size_t count = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (line[i] == '.' && line[i + 1] == '/') {
            count++;
            i++;
        }
    size_t pl = strlen(parent);
    size_t total = n - 2 * count + count * pl + 1;
    char *o = malloc(total);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && line[i] == '.' && line[i + 1] == '/') {
            memcpy(o + k, parent, pl);
            k += pl;
            i++;
        } else {
            o[k++] = line[i];
        }
    }
    o[k] = '\0';
    return o;
}

static af_status add_list_file(const char *path, af_strlist *out, af_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    af_status st = read_small_file(path, &buf, &len, err);
    if (st)
        return st;
    if (memchr(buf, '\0', len)) {
        free(buf);
        return af_fail(err, AF_E_FORMAT, "%s: not a text list of image paths (NUL byte)", path);
    }
    /* parent = str(p.parent) + os.sep */
    char *parent = malloc(strlen(path) + 2);
    if (!parent) {
        free(buf);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    strcpy(parent, path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        slash[1] = '\0';
    else if (slash)
        strcpy(parent, "/");
    else
        strcpy(parent, "./"); /* Path("x.txt").parent == "." */
    size_t b = 0, e = len;
    while (b < e && py_space((unsigned char)buf[b]))
        b++;
    while (e > b && py_space((unsigned char)buf[e - 1]))
        e--;
    size_t i = b;
    while (st == AF_OK && i < e) {
        size_t j = i;
        while (j < e && !py_linebreak((unsigned char)buf[j]))
            j++;
        size_t n = j - i;
        if (n >= 2 && buf[i] == '.' && buf[i + 1] == '/') {
            st = af_strlist_push_own(out, replace_dot_slash(buf + i, n, parent), err);
        } else if (n > 0) {
            st = af_strlist_push_own(out, strndup(buf + i, n), err);
        }
        /* "\r\n" is one break */
        if (j < e && buf[j] == '\r' && j + 1 < e && buf[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    free(parent);
    free(buf);
    return st;
}

af_status af_image_list_add(const char *path, af_strlist *out, af_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return af_fail(err, AF_E_IO, "%s does not exist", path);
    if (S_ISDIR(sb.st_mode)) {
        /* glob(p/"**"/"*.*"): p without a trailing slash */
        size_t n = strlen(path);
        char *d = strdup(path);
        if (!d)
            return af_fail(err, AF_E_NOMEM, "out of memory");
        while (n > 1 && d[n - 1] == '/')
            d[--n] = '\0';
        af_status st = walk_dir(d, 0, out, err);
        free(d);
        return st;
    }
    return add_list_file(path, out, err);
}

af_status af_image_list_collect(const af_strlist *paths, af_strlist *out, af_error *err)
{
    af_strlist all = {0};
    af_status st = AF_OK;
    for (size_t i = 0; i < paths->n && st == AF_OK; i++)
        st = af_image_list_add(paths->v[i], &all, err);
    for (size_t i = 0; i < all.n; i++) {
        if (st == AF_OK && af_is_img_format(all.v[i])) {
            st = af_strlist_push_own(out, all.v[i], err);
        } else {
            free(all.v[i]);
        }
        all.v[i] = NULL;
    }
    free(all.v);
    if (st)
        return st;
    if (out->n == 0)
        return af_fail(err, AF_E_IO, "no images found in %s%s", paths->n ? paths->v[0] : "(nothing)",
                       paths->n > 1 ? " and the other listed paths" : "");
    af_strlist_sort(out);
    return AF_OK;
}
