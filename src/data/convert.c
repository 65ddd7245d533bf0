/* `animeface data convert`: Pascal VOC xml and COCO instances json to YOLO txt labels, as
 * ultralytics 8.1.9 converts them (cfg/datasets/VOC.yaml convert_label, data/converter.py
 * convert_coco); rules in data/dataset.h. The VOC reader is a small XML parser for the
 * element subset VOC uses (elements, attributes ignored, text, entities, comments, CDATA,
 * processing instructions and a DOCTYPE skipped). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "data/dataset.h"

#define XML_MAX_BYTES (64u << 20)
#define JSON_MAX_BYTES ((size_t)2 << 30)
#define XML_MAX_DEPTH 256

/* ---------------------------------------------------------------- Python float repr */

void af_py_float_repr(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, cap, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e: [-]d[.ddd]e[+-]XX */
    const char *s = e;
    int neg = *s == '-';
    if (neg)
        s++;
    char dig[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (isdigit((unsigned char)*s) && nd < 23)
            dig[nd++] = *s;
    int ex = atoi(s + 1);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    dig[nd] = '\0';
    char out[64];
    size_t k = 0;
    if (neg)
        out[k++] = '-';
    if (ex >= -4 && ex < 16) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++)
                out[k++] = i < nd ? dig[i] : '0';
            out[k++] = '.';
            if (nd > ex + 1)
                for (int i = ex + 1; i < nd; i++)
                    out[k++] = dig[i];
            else
                out[k++] = '0';
        } else {
            out[k++] = '0';
            out[k++] = '.';
            for (int i = 0; i < -ex - 1; i++)
                out[k++] = '0';
            for (int i = 0; i < nd; i++)
                out[k++] = dig[i];
        }
        out[k] = '\0';
    } else {
        out[k++] = dig[0];
        if (nd > 1) {
            out[k++] = '.';
            for (int i = 1; i < nd; i++)
                out[k++] = dig[i];
        }
        snprintf(out + k, sizeof out - k, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
    snprintf(buf, cap, "%s", out);
}

/* ---------------------------------------------------------------- files */

static af_status read_file(const char *path, size_t limit, char **buf, size_t *len, af_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return af_fail(err, AF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    if ((uint64_t)sb.st_size > limit)
        return af_fail(err, AF_E_LIMIT, "%s: larger than %zu bytes", path, limit);
    FILE *f = fopen(path, "rb");
    if (!f)
        return af_fail(err, AF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char *b = malloc((size_t)sb.st_size + 1);
    if (!b) {
        fclose(f);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    size_t n = fread(b, 1, (size_t)sb.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return af_fail(err, AF_E_IO, "%s: read error", path);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return AF_OK;
}

/* Sorted files directly in dir whose name ends with suffix. */
static af_status list_dir(const char *dir, const char *suffix, af_strlist *out, af_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return af_fail(err, AF_E_IO, "%s: cannot list folder: %s", dir, strerror(errno));
    size_t sl = strlen(suffix);
    af_status st = AF_OK;
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n <= sl || strcmp(de->d_name + n - sl, suffix))
            continue;
        size_t m = strlen(dir) + n + 2;
        char *p = malloc(m);
        if (p)
            snprintf(p, m, "%s/%s", dir, de->d_name);
        st = af_strlist_push_own(out, p, err);
    }
    closedir(d);
    af_strlist_sort(out);
    return st;
}

static void stem_of(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    snprintf(out, cap, "%.*s", (int)n, b);
}

static int names_find(const af_strlist *names, const char *s)
{
    for (size_t i = 0; i < names->n; i++)
        if (!strcmp(names->v[i], s))
            return (int)i;
    return -1;
}

static af_status fill_result(af_convert_result *res, const af_strlist *names, af_error *err)
{
    res->names = calloc(names->n ? names->n : 1, sizeof *res->names);
    if (!res->names)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    res->nc = (int)names->n;
    for (size_t i = 0; i < names->n; i++)
        if (!(res->names[i] = strdup(names->v[i])))
            return af_fail(err, AF_E_NOMEM, "out of memory");
    return AF_OK;
}

/* ---------------------------------------------------------------- mini XML */

typedef struct xnode {
    char *name;
    char *text; /* ElementTree .text: the text before the first child (NULL: none) */
    struct xnode **kids;
    size_t nkids, cap;
} xnode;

static void xfree(xnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        xfree(n->kids[i]);
    free(n->kids);
    free(n->name);
    free(n->text);
    free(n);
}

typedef struct xparser {
    const char *s, *end;
    const char *file;
    af_error *err;
} xparser;

static int xline(const xparser *p, const char *at, const char *start)
{
    int l = 1;
    for (const char *q = start; q < at && q < p->end; q++)
        l += *q == '\n';
    return l;
}

static int append_text(char **dst, const char *s, size_t n)
{
    size_t old = *dst ? strlen(*dst) : 0;
    char *t = realloc(*dst, old + n + 1);
    if (!t)
        return 1;
    memcpy(t + old, s, n);
    t[old + n] = '\0';
    *dst = t;
    return 0;
}

/* Decodes entities of s[0..n) and appends to *dst. 0 on success, 1 bad entity, 2 nomem. */
static int append_decoded(char **dst, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
        if (run && append_text(dst, s + i, run))
            return 2;
        i += run;
        if (!amp)
            break;
        const char *semi = memchr(s + i, ';', n - i);
        if (!semi || semi - (s + i) > 12)
            return 1;
        size_t el = (size_t)(semi - (s + i)) + 1;
        char ch[8];
        size_t cl = 1;
        if (!strncmp(s + i, "&amp;", el))
            ch[0] = '&';
        else if (!strncmp(s + i, "&lt;", el))
            ch[0] = '<';
        else if (!strncmp(s + i, "&gt;", el))
            ch[0] = '>';
        else if (!strncmp(s + i, "&quot;", el))
            ch[0] = '"';
        else if (!strncmp(s + i, "&apos;", el))
            ch[0] = '\'';
        else if (s[i + 1] == '#') {
            char *e;
            unsigned long cp = s[i + 2] == 'x' ? strtoul(s + i + 3, &e, 16) : strtoul(s + i + 2, &e, 10);
            if (e != semi || cp == 0 || cp > 0x10FFFF)
                return 1;
            if (cp < 0x80) {
                ch[0] = (char)cp;
            } else if (cp < 0x800) {
                ch[0] = (char)(0xC0 | cp >> 6);
                ch[1] = (char)(0x80 | (cp & 0x3F));
                cl = 2;
            } else if (cp < 0x10000) {
                ch[0] = (char)(0xE0 | cp >> 12);
                ch[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                ch[2] = (char)(0x80 | (cp & 0x3F));
                cl = 3;
            } else {
                ch[0] = (char)(0xF0 | cp >> 18);
                ch[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                ch[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                ch[3] = (char)(0x80 | (cp & 0x3F));
                cl = 4;
            }
        } else {
            return 1;
        }
        if (append_text(dst, ch, cl))
            return 2;
        i += el;
    }
    return 0;
}

static af_status xerr(xparser *p, const char *at, const char *what)
{
    return af_fail(p->err, AF_E_FORMAT, "%s:%d: XML: %s", p->file, xline(p, at, p->s), what);
}

/* Skips <?...?>, <!-- -->, <!DOCTYPE ...>. Returns 1 when something was skipped, -1 on error. */
static int skip_misc(xparser *p, const char **at)
{
    const char *s = *at;
    const char *e = NULL;
    if (p->end - s >= 2 && !strncmp(s, "<?", 2))
        e = strstr(s, "?>"), e = e ? e + 2 : NULL;
    else if (p->end - s >= 4 && !strncmp(s, "<!--", 4))
        e = strstr(s + 4, "-->"), e = e ? e + 3 : NULL;
    else if (p->end - s >= 9 && !strncmp(s, "<!DOCTYPE", 9)) {
        int depth = 0;
        for (e = s; e < p->end; e++) {
            if (*e == '[')
                depth++;
            else if (*e == ']')
                depth--;
            else if (*e == '>' && depth <= 0)
                break;
        }
        e = e < p->end ? e + 1 : NULL;
    } else
        return 0;
    if (!e)
        return -1;
    *at = e;
    return 1;
}

static af_status parse_elem(xparser *p, const char **at, int depth, xnode **out)
{
    const char *s = *at;
    if (depth > XML_MAX_DEPTH)
        return xerr(p, s, "elements nested too deeply");
    /* s points at '<' of a start tag */
    const char *q = s + 1;
    const char *nb = q;
    while (q < p->end && !isspace((unsigned char)*q) && *q != '>' && *q != '/')
        q++;
    if (q == nb)
        return xerr(p, s, "empty tag name");
    xnode *n = calloc(1, sizeof *n);
    if (!n || !(n->name = strndup(nb, (size_t)(q - nb)))) {
        free(n);
        return af_fail(p->err, AF_E_NOMEM, "out of memory");
    }
    /* attributes: skip, honouring quotes */
    char quote = 0;
    while (q < p->end && (quote || (*q != '>' && !(*q == '/' && q + 1 < p->end && q[1] == '>')))) {
        if (quote && *q == quote)
            quote = 0;
        else if (!quote && (*q == '"' || *q == '\''))
            quote = *q;
        q++;
    }
    if (q >= p->end) {
        xfree(n);
        return xerr(p, s, "unterminated tag");
    }
    if (*q == '/') { /* <x/> */
        *at = q + 2;
        *out = n;
        return AF_OK;
    }
    q++;
    af_status st = AF_OK;
    for (;;) {
        const char *lt = memchr(q, '<', (size_t)(p->end - q));
        if (!lt) {
            st = xerr(p, s, "element not closed");
            break;
        }
        if (lt > q && n->nkids == 0) {
            int r = append_decoded(&n->text, q, (size_t)(lt - q));
            if (r) {
                st = r == 2 ? af_fail(p->err, AF_E_NOMEM, "out of memory") : xerr(p, q, "bad entity");
                break;
            }
        }
        q = lt;
        if (p->end - q >= 9 && !strncmp(q, "<![CDATA[", 9)) {
            const char *e = strstr(q + 9, "]]>");
            if (!e) {
                st = xerr(p, q, "unterminated CDATA");
                break;
            }
            if (n->nkids == 0 && append_text(&n->text, q + 9, (size_t)(e - q - 9))) {
                st = af_fail(p->err, AF_E_NOMEM, "out of memory");
                break;
            }
            q = e + 3;
            continue;
        }
        int sk = skip_misc(p, &q);
        if (sk < 0) {
            st = xerr(p, lt, "unterminated comment or declaration");
            break;
        }
        if (sk)
            continue;
        if (q[1] == '/') {
            const char *ne = q + 2;
            size_t nl = strlen(n->name);
            if ((size_t)(p->end - ne) < nl || strncmp(ne, n->name, nl)) {
                st = xerr(p, q, "mismatched closing tag");
                break;
            }
            ne += nl;
            while (ne < p->end && isspace((unsigned char)*ne))
                ne++;
            if (ne >= p->end || *ne != '>') {
                st = xerr(p, q, "mismatched closing tag");
                break;
            }
            *at = ne + 1;
            *out = n;
            return AF_OK;
        }
        xnode *kid = NULL;
        st = parse_elem(p, &q, depth + 1, &kid);
        if (st)
            break;
        if (n->nkids == n->cap) {
            size_t cap = n->cap ? n->cap * 2 : 8;
            xnode **k = realloc(n->kids, cap * sizeof *k);
            if (!k) {
                xfree(kid);
                st = af_fail(p->err, AF_E_NOMEM, "out of memory");
                break;
            }
            n->kids = k;
            n->cap = cap;
        }
        n->kids[n->nkids++] = kid;
    }
    xfree(n);
    return st;
}

static af_status xml_parse(const char *buf, size_t len, const char *file, xnode **root, af_error *err)
{
    xparser p = {buf, buf + len, file, err};
    const char *q = buf;
    if (len >= 3 && !memcmp(q, "\xEF\xBB\xBF", 3))
        q += 3;
    for (;;) {
        while (q < p.end && isspace((unsigned char)*q))
            q++;
        if (q >= p.end || *q != '<')
            return af_fail(err, AF_E_FORMAT, "%s: XML: no root element", file);
        int sk = skip_misc(&p, &q);
        if (sk < 0)
            return af_fail(err, AF_E_FORMAT, "%s: XML: unterminated declaration", file);
        if (!sk)
            break;
    }
    return parse_elem(&p, &q, 0, root);
}

static xnode *xfind(const xnode *n, const char *name)
{
    for (size_t i = 0; n && i < n->nkids; i++)
        if (!strcmp(n->kids[i]->name, name))
            return n->kids[i];
    return NULL;
}

/* root.iter(name): depth-first, document order, the node itself included. */
typedef struct xvec {
    const xnode **v;
    size_t n, cap;
} xvec;

static int xiter(const xnode *n, const char *name, xvec *out)
{
    if (!strcmp(n->name, name)) {
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            const xnode **v = realloc(out->v, cap * sizeof *v);
            if (!v)
                return 1;
            out->v = v;
            out->cap = cap;
        }
        out->v[out->n++] = n;
    }
    for (size_t i = 0; i < n->nkids; i++)
        if (xiter(n->kids[i], name, out))
            return 1;
    return 0;
}

/* float(text) with Python's whitespace tolerance. */
static int text_float(const xnode *n, double *v)
{
    if (!n || !n->text)
        return 1;
    const char *s = n->text;
    while (isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1]))
        l--;
    return af_parse_py_float(s, l, v);
}

/* ---------------------------------------------------------------- VOC */

typedef struct voc_obj {
    char *name;
    int difficult;
    double b[4]; /* xmin xmax ymin ymax */
    int has_box;
} voc_obj;

typedef struct voc_file {
    char *stem;
    int w, h;
    voc_obj *o;
    size_t n;
} voc_file;

static void voc_file_free(voc_file *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->o[i].name);
    free(f->o);
    free(f->stem);
    memset(f, 0, sizeof *f);
}

static af_status voc_read(const char *path, voc_file *vf, af_error *err)
{
    memset(vf, 0, sizeof *vf);
    char *buf = NULL;
    size_t len = 0;
    af_status st = read_file(path, XML_MAX_BYTES, &buf, &len, err);
    if (st)
        return st;
    xnode *root = NULL;
    st = xml_parse(buf, len, path, &root, err);
    free(buf);
    if (st)
        return st;
    char stem[PATH_MAX];
    stem_of(path, stem, sizeof stem);
    xnode *size = xfind(root, "size");
    double w, h;
    if (!size || text_float(xfind(size, "width"), &w) || text_float(xfind(size, "height"), &h) ||
        w != floor(w) || h != floor(h) || w < 1 || h < 1 || w > 1e9 || h > 1e9) {
        xfree(root);
        return af_fail(err, AF_E_FORMAT, "%s: <size> needs integer <width> and <height> >= 1", path);
    }
    xvec objs = {0};
    if (xiter(root, "object", &objs) || !(vf->stem = strdup(stem)) ||
        !(vf->o = calloc(objs.n ? objs.n : 1, sizeof *vf->o))) {
        free(objs.v);
        xfree(root);
        voc_file_free(vf);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    vf->w = (int)w;
    vf->h = (int)h;
    for (size_t i = 0; i < objs.n && !st; i++) {
        const xnode *o = objs.v[i];
        voc_obj *vo = &vf->o[vf->n++];
        const xnode *nm = xfind(o, "name");
        if (!(vo->name = strdup(nm && nm->text ? nm->text : ""))) {
            st = af_fail(err, AF_E_NOMEM, "out of memory");
            break;
        }
        double d = 0;
        if (xfind(o, "difficult") && text_float(xfind(o, "difficult"), &d)) {
            st = af_fail(err, AF_E_FORMAT, "%s: object %zu: <difficult> is not a number", path, i + 1);
            break;
        }
        vo->difficult = d == 1;
        const xnode *bb = xfind(o, "bndbox");
        static const char *const keys[4] = {"xmin", "xmax", "ymin", "ymax"};
        vo->has_box = bb != NULL;
        for (int k = 0; k < 4 && bb; k++)
            if (text_float(xfind(bb, keys[k]), &vo->b[k]))
                st = af_fail(err, AF_E_FORMAT, "%s: object %zu ('%s'): <bndbox> needs a number in <%s>",
                             path, i + 1, vo->name, keys[k]);
    }
    free(objs.v);
    xfree(root);
    if (st)
        voc_file_free(vf);
    return st;
}

af_status af_convert_voc(const char *src_dir, const char *out_dir, const char *names_csv,
                         af_convert_result *res, af_error *err)
{
    memset(res, 0, sizeof *res);
    af_strlist files = {0}, names = {0};
    voc_file *vf = NULL;
    char lab[PATH_MAX];
    af_status st = list_dir(src_dir, ".xml", &files, err);
    if (!st && files.n == 0)
        st = af_fail(err, AF_E_IO, "%s: no .xml annotation files", src_dir);
    if (!st && !(vf = calloc(files.n, sizeof *vf)))
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    for (size_t i = 0; i < files.n && !st; i++)
        st = voc_read(files.v[i], &vf[i], err);
    if (!st && names_csv && *names_csv) {
        st = af_split_names(names_csv, &names, err);
    } else if (!st) {
        for (size_t i = 0; i < files.n && !st; i++)
            for (size_t k = 0; k < vf[i].n && !st; k++)
                if (*vf[i].o[k].name && names_find(&names, vf[i].o[k].name) < 0)
                    st = af_strlist_push(&names, vf[i].o[k].name, err);
        af_strlist_sort(&names);
        if (!st && names.n == 0)
            st = af_fail(err, AF_E_FORMAT, "%s: no named objects in the annotations", src_dir);
    }
    snprintf(lab, sizeof lab, "%s/labels", out_dir);
    if (!st)
        st = af_make_dirs(lab, err);
    if (!st) { /* the folder data.yaml points at, for the images */
        char img[PATH_MAX];
        snprintf(img, sizeof img, "%s/images", out_dir);
        st = af_make_dirs(img, err);
    }
    for (size_t i = 0; i < files.n && !st; i++) {
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof p, "%s/%s.txt", lab, vf[i].stem) >= sizeof p) {
            st = af_fail(err, AF_E_LIMIT, "%s: path too long", vf[i].stem);
            break;
        }
        FILE *f = fopen(p, "wb");
        if (!f) {
            st = af_fail(err, AF_E_IO, "%s: cannot write: %s", p, strerror(errno));
            break;
        }
        double dw = 1. / vf[i].w, dh = 1. / vf[i].h;
        for (size_t k = 0; k < vf[i].n; k++) {
            const voc_obj *o = &vf[i].o[k];
            int cls = names_find(&names, o->name);
            if (cls < 0 || o->difficult) {
                res->skipped++;
                continue;
            }
            if (!o->has_box) {
                st = af_fail(err, AF_E_FORMAT, "%s: object '%s' has no <bndbox>", files.v[i], o->name);
                break;
            }
            const double *b = o->b;
            double x = (b[0] + b[1]) / 2.0 - 1, y = (b[2] + b[3]) / 2.0 - 1, w = b[1] - b[0],
                   h = b[3] - b[2];
            double v[4] = {x * dw, y * dh, w * dw, h * dh};
            fprintf(f, "%d", cls);
            for (int j = 0; j < 4; j++) {
                char s[48];
                af_py_float_repr(v[j], s, sizeof s);
                fprintf(f, " %s", s);
            }
            fputc('\n', f);
            res->boxes++;
        }
        if (fclose(f) != 0 && !st)
            st = af_fail(err, AF_E_IO, "%s: write failed", p);
        res->files++;
    }
    if (!st) {
        const char *sp[3] = {"images", NULL, NULL};
        st = af_write_data_yaml(out_dir, "written by animeface data convert --from voc", sp, &names,
                                &res->yaml_path, err);
    }
    if (!st)
        st = fill_result(res, &names, err);
    for (size_t i = 0; vf && i < files.n; i++)
        voc_file_free(&vf[i]);
    free(vf);
    af_strlist_free(&files);
    af_strlist_free(&names);
    if (st)
        af_convert_result_free(res);
    return st;
}

/* ---------------------------------------------------------------- COCO */

typedef struct id_idx {
    double id;
    size_t idx;
} id_idx;

static int cmp_id(const void *a, const void *b)
{
    double x = ((const id_idx *)a)->id, y = ((const id_idx *)b)->id;
    return x < y ? -1 : x > y;
}

static const id_idx *find_id(const id_idx *v, size_t n, double id)
{
    id_idx key = {id, 0};
    return bsearch(&key, v, n, sizeof *v, cmp_id);
}

static int json_int(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9e15)
        return 1;
    *out = v->valuedouble;
    return 0;
}

typedef struct coco_cat {
    id_idx *ids; /* sorted by id; idx = class */
    size_t n;
    af_strlist names;
} coco_cat;

static af_status coco_categories(cJSON *const *docs, size_t ndocs, const char *const *paths,
                                 coco_cat *cc, af_error *err)
{
    size_t total = 0;
    for (size_t d = 0; d < ndocs; d++)
        total += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(docs[d], "categories"));
    cc->ids = calloc(total ? total : 1, sizeof *cc->ids);
    const char **nm = calloc(total ? total : 1, sizeof *nm);
    if (!cc->ids || !nm) {
        free(nm);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    for (size_t d = 0; d < ndocs; d++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(docs[d], "categories"))
        {
            double id;
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
            if (json_int(c, "id", &id)) {
                free(nm);
                return af_fail(err, AF_E_FORMAT, "%s: a category without an integer 'id'", paths[d]);
            }
            if (find_id(cc->ids, cc->n, id))
                continue; /* first definition wins (several jsons share categories) */
            cc->ids[cc->n].id = id;
            nm[cc->n] = cJSON_IsString(name) ? name->valuestring : "";
            cc->ids[cc->n].idx = cc->n;
            cc->n++;
            qsort(cc->ids, cc->n, sizeof *cc->ids, cmp_id);
        }
    }
    if (cc->n == 0) {
        free(nm);
        return af_fail(err, AF_E_FORMAT, "%s: no 'categories'", paths[0]);
    }
    af_status st = AF_OK;
    for (size_t i = 0; i < cc->n && !st; i++) { /* class i = i-th smallest id */
        const char *s = nm[cc->ids[i].idx];
        char b[48];
        if (!*s) {
            snprintf(b, sizeof b, "class_%zu", i);
            s = b;
        }
        st = af_strlist_push(&cc->names, s, err);
        cc->ids[i].idx = i;
    }
    free(nm);
    return st;
}

/* fn / file_name with the suffix replaced by .txt; refuses paths leaving fn. */
static af_status coco_label_path(const char *fn, const char *file_name, char *out, size_t cap,
                                 af_error *err)
{
    if (!*file_name || file_name[0] == '/' || strstr(file_name, "..") ||
        strlen(fn) + strlen(file_name) + 6 > cap)
        return af_fail(err, AF_E_SECURITY, "image file_name '%.200s' is not a relative path inside the dataset",
                       file_name);
    snprintf(out, cap, "%s/%s", fn, file_name);
    char *base = strrchr(out, '/') + 1;
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        strcpy(dot, ".txt");
    else
        strcat(out, ".txt");
    return AF_OK;
}

static int cmp_id_then_idx(const void *a, const void *b)
{
    const id_idx *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* the annotations of one image: order[start .. start+len), first = its first annotation */
typedef struct grp {
    double id;
    size_t first, start, len;
} grp;

static int cmp_grp_first(const void *a, const void *b)
{
    size_t x = ((const grp *)a)->first, y = ((const grp *)b)->first;
    return x < y ? -1 : x > y;
}

typedef struct out_rec {
    char *path;
    size_t order;
    int first;
} out_rec;

static int cmp_rec_path(const void *a, const void *b)
{
    const out_rec *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

static af_status coco_one(const cJSON *doc, const char *path, const char *fn, const coco_cat *cc,
                          af_convert_result *res, af_error *err)
{
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(doc, "images");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(doc, "annotations");
    if (!cJSON_IsArray(images) || !cJSON_IsArray(anns))
        return af_fail(err, AF_E_FORMAT, "%s: needs 'images' and 'annotations' arrays", path);
    size_t ni = (size_t)cJSON_GetArraySize(images), na = (size_t)cJSON_GetArraySize(anns);
    id_idx *im = calloc(ni ? ni : 1, sizeof *im);
    const cJSON **imv = calloc(ni ? ni : 1, sizeof *imv);
    const cJSON **annv = calloc(na ? na : 1, sizeof *annv);
    id_idx *order = calloc(na ? na : 1, sizeof *order); /* (image id, first ann index) */
    out_rec *recs = NULL;
    af_status st = AF_OK;
    if (!im || !imv || !annv || !order)
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, images)
    {
        if (st)
            break;
        if (json_int(it, "id", &im[k].id))
            st = af_fail(err, AF_E_FORMAT, "%s: image %zu has no integer 'id'", path, k);
        im[k].idx = k;
        imv[k++] = it;
    }
    if (!st)
        qsort(im, ni, sizeof *im, cmp_id);
    /* group annotations by image, images in order of their first annotation */
    size_t ngroups = 0;
    k = 0;
    cJSON_ArrayForEach(it, anns)
    {
        if (st)
            break;
        annv[k] = it;
        double iid;
        if (json_int(it, "image_id", &iid)) {
            st = af_fail(err, AF_E_FORMAT, "%s: annotation %zu has no integer 'image_id'", path, k);
            break;
        }
        if (!find_id(im, ni, iid)) {
            st = af_fail(err, AF_E_FORMAT, "%s: annotation %zu: image_id %.0f is not in 'images'",
                         path, k, iid);
            break;
        }
        order[k].id = iid;
        order[k].idx = k;
        k++;
    }
    /* groups: annotations sorted by (image id, index); a group is a run of one image id,
     * groups are then ordered by their first annotation (dict insertion order) */
    grp *first = NULL;
    if (!st) {
        qsort(order, na, sizeof *order, cmp_id_then_idx);
        if (!(first = calloc(na ? na : 1, sizeof *first)))
            st = af_fail(err, AF_E_NOMEM, "out of memory");
    }
    for (size_t a = 0; a < na && !st; a++) {
        if (a == 0 || order[a].id != order[a - 1].id) {
            first[ngroups].id = order[a].id;
            first[ngroups].first = order[a].idx;
            first[ngroups].start = a;
            ngroups++;
        }
        first[ngroups - 1].len++;
    }
    if (!st) {
        qsort(first, ngroups, sizeof *first, cmp_grp_first);
        if (!(recs = calloc(ngroups ? ngroups : 1, sizeof *recs)))
            st = af_fail(err, AF_E_NOMEM, "out of memory");
    }
    /* output paths; the first time a path is written it is truncated, later appended */
    for (size_t gi = 0; gi < ngroups && !st; gi++) {
        const cJSON *img = imv[find_id(im, ni, first[gi].id)->idx];
        const cJSON *fnm = cJSON_GetObjectItemCaseSensitive(img, "file_name");
        char p[PATH_MAX];
        if (!cJSON_IsString(fnm)) {
            st = af_fail(err, AF_E_FORMAT, "%s: image %.0f has no 'file_name'", path, first[gi].id);
            break;
        }
        st = coco_label_path(fn, fnm->valuestring, p, sizeof p, err);
        if (!st && !(recs[gi].path = strdup(p)))
            st = af_fail(err, AF_E_NOMEM, "out of memory");
        recs[gi].order = gi;
    }
    if (!st && ngroups) {
        out_rec *sorted = malloc(ngroups * sizeof *sorted);
        if (!sorted) {
            st = af_fail(err, AF_E_NOMEM, "out of memory");
        } else {
            memcpy(sorted, recs, ngroups * sizeof *sorted);
            qsort(sorted, ngroups, sizeof *sorted, cmp_rec_path);
            for (size_t i = 0; i < ngroups; i++)
                if (i == 0 || strcmp(sorted[i].path, sorted[i - 1].path))
                    recs[sorted[i].order].first = 1;
            free(sorted);
        }
    }
    double *boxes = NULL;
    if (!st && !(boxes = malloc((na ? na : 1) * 5 * sizeof *boxes)))
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    for (size_t gi = 0; gi < ngroups && !st; gi++) {
        const cJSON *img = imv[find_id(im, ni, first[gi].id)->idx];
        double W, H;
        if (json_int(img, "width", &W) || json_int(img, "height", &H) || W <= 0 || H <= 0) {
            st = af_fail(err, AF_E_FORMAT, "%s: image %.0f needs integer 'width' and 'height' > 0",
                         path, first[gi].id);
            break;
        }
        char dirp[PATH_MAX];
        snprintf(dirp, sizeof dirp, "%s", recs[gi].path);
        *strrchr(dirp, '/') = '\0';
        if ((st = af_make_dirs(dirp, err)))
            break;
        FILE *f = fopen(recs[gi].path, recs[gi].first ? "wb" : "ab");
        if (!f) {
            st = af_fail(err, AF_E_IO, "%s: cannot write: %s", recs[gi].path, strerror(errno));
            break;
        }
        if (recs[gi].first)
            res->files++;
        size_t nb = 0;
        for (size_t r = 0; r < first[gi].len && !st; r++) {
            size_t a = order[first[gi].start + r].idx;
            const cJSON *ann = annv[a];
            const cJSON *crowd = cJSON_GetObjectItemCaseSensitive(ann, "iscrowd");
            if ((cJSON_IsNumber(crowd) && crowd->valuedouble != 0) || cJSON_IsTrue(crowd)) {
                res->skipped++;
                continue;
            }
            const cJSON *bb = cJSON_GetObjectItemCaseSensitive(ann, "bbox");
            double b[4];
            int ok = cJSON_GetArraySize(bb) == 4;
            for (int j = 0; ok && j < 4; j++) {
                const cJSON *v = cJSON_GetArrayItem(bb, j);
                ok = cJSON_IsNumber(v);
                b[j] = ok ? v->valuedouble : 0;
            }
            double cid;
            if (!ok || json_int(ann, "category_id", &cid)) {
                st = af_fail(err, AF_E_FORMAT,
                             "%s: annotation %zu needs a 'bbox' of 4 numbers and a 'category_id'",
                             path, a);
                break;
            }
            const id_idx *cat = find_id(cc->ids, cc->n, cid);
            if (!cat) {
                st = af_fail(err, AF_E_FORMAT, "%s: annotation %zu: category_id %.0f is not in 'categories'",
                             path, a, cid);
                break;
            }
            b[0] += b[2] / 2;
            b[1] += b[3] / 2;
            b[0] /= W;
            b[2] /= W;
            b[1] /= H;
            b[3] /= H;
            if (b[2] <= 0 || b[3] <= 0) {
                res->skipped++;
                continue;
            }
            double row[5] = {(double)cat->idx, b[0], b[1], b[2], b[3]};
            int dup = 0;
            for (size_t q = 0; q < nb && !dup; q++)
                dup = boxes[5 * q] == row[0] && boxes[5 * q + 1] == row[1] &&
                      boxes[5 * q + 2] == row[2] && boxes[5 * q + 3] == row[3] &&
                      boxes[5 * q + 4] == row[4]; /* `box not in bboxes` */
            if (dup) {
                res->skipped++;
                continue;
            }
            memcpy(boxes + 5 * nb++, row, sizeof row);
            fprintf(f, "%g %g %g %g %g\n", row[0], row[1], row[2], row[3], row[4]);
            res->boxes++;
        }
        if (fclose(f) != 0 && !st)
            st = af_fail(err, AF_E_IO, "%s: write failed", recs[gi].path);
    }
    free(boxes);
    for (size_t i = 0; recs && i < ngroups; i++)
        free(recs[i].path);
    free(recs);
    free(first);
    free(im);
    free(imv);
    free(annv);
    free(order);
    return st;
}

af_status af_convert_coco(const char *src, const char *out_dir, const char *names_csv,
                          af_convert_result *res, af_error *err)
{
    memset(res, 0, sizeof *res);
    af_strlist files = {0}, names = {0}, stems = {0};
    coco_cat cc = {0};
    cJSON **docs = NULL;
    struct stat sb;
    af_status st = AF_OK;
    if (stat(src, &sb) != 0)
        st = af_fail(err, AF_E_IO, "%s does not exist", src);
    else if (S_ISDIR(sb.st_mode))
        st = list_dir(src, ".json", &files, err);
    else
        st = af_strlist_push(&files, src, err);
    if (!st && files.n == 0)
        st = af_fail(err, AF_E_IO, "%s: no .json annotation files", src);
    if (!st && !(docs = calloc(files.n, sizeof *docs)))
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    for (size_t i = 0; i < files.n && !st; i++) {
        char *buf = NULL;
        size_t len = 0;
        if ((st = read_file(files.v[i], JSON_MAX_BYTES, &buf, &len, err)))
            break;
        docs[i] = cJSON_ParseWithLength(buf, len);
        free(buf);
        if (!docs[i] || !cJSON_IsObject(docs[i]))
            st = af_fail(err, AF_E_FORMAT, "%s: not a COCO json object", files.v[i]);
    }
    if (!st)
        st = coco_categories(docs, files.n, (const char *const *)files.v, &cc, err);
    if (!st && names_csv && *names_csv) {
        st = af_split_names(names_csv, &names, err);
        if (!st && names.n != cc.n)
            st = af_fail(err, AF_E_ARG, "--names gives %zu classes but the annotations have %zu categories",
                         names.n, cc.n);
    }
    char lab[PATH_MAX], img[PATH_MAX];
    snprintf(lab, sizeof lab, "%s/labels", out_dir);
    snprintf(img, sizeof img, "%s/images", out_dir);
    if (!st)
        st = af_make_dirs(lab, err);
    if (!st)
        st = af_make_dirs(img, err);
    for (size_t i = 0; i < files.n && !st; i++) {
        /* json_file.stem.replace("instances_", "") */
        char stem[NAME_MAX + 1], s2[NAME_MAX + 1], fn[PATH_MAX];
        stem_of(files.v[i], stem, sizeof stem);
        size_t o = 0;
        for (const char *p = stem; *p;) {
            if (!strncmp(p, "instances_", 10)) {
                p += 10;
                continue;
            }
            s2[o++] = *p++;
        }
        s2[o] = '\0';
        snprintf(fn, sizeof fn, "%s/%s", img, s2); /* images/<stem> for data.yaml */
        st = af_strlist_push(&stems, s2, err);
        if (!st)
            st = af_make_dirs(fn, err);
        snprintf(fn, sizeof fn, "%s/%s", lab, s2);
        if (!st)
            st = af_make_dirs(fn, err);
        if (!st)
            st = coco_one(docs[i], files.v[i], fn, &cc, res, err);
    }
    if (!st) {
        /* data.yaml: images/<stem> of the json whose name holds "train" (else the first), "val"
         * (else the train one), "test" (else none) */
        char sp[3][PATH_MAX];
        const char *spp[3] = {NULL, NULL, NULL};
        static const char *const keys[3] = {"train", "val", "test"};
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < stems.n && !spp[k]; i++)
                if (strstr(stems.v[i], keys[k])) {
                    snprintf(sp[k], sizeof sp[k], "images/%s", stems.v[i]);
                    spp[k] = sp[k];
                }
        if (!spp[0]) {
            snprintf(sp[0], sizeof sp[0], "images/%s", stems.v[0]);
            spp[0] = sp[0];
        }
        const af_strlist *nl = names.n ? &names : &cc.names;
        st = af_write_data_yaml(out_dir, "written by animeface data convert --from coco", spp, nl,
                                &res->yaml_path, err);
        if (!st)
            st = fill_result(res, nl, err);
    }
    for (size_t i = 0; docs && i < files.n; i++)
        cJSON_Delete(docs[i]);
    free(docs);
    free(cc.ids);
    af_strlist_free(&cc.names);
    af_strlist_free(&files);
    af_strlist_free(&names);
    af_strlist_free(&stems);
    if (st)
        af_convert_result_free(res);
    return st;
}

void af_convert_result_free(af_convert_result *res)
{
    if (res->names)
        for (int i = 0; i < res->nc; i++)
            free(res->names[i]);
    free(res->names);
    free(res->yaml_path);
    memset(res, 0, sizeof *res);
}
