/* One YOLO label file read and verified with ultralytics 8.1.9's verify_image_label rules
 * (see data/dataset.h), plus the issue list. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/checked.h"
#include "core/error.h"
#include "data/dataset.h"

#define LABEL_MAX_BYTES (64u << 20)
#define ISSUES_MAX ((size_t)1 << 22)
#define REPORT_PER_FILE 50 /* problems listed per label file */

af_status af_issue_add(af_issue_list *l, af_issue_kind kind, const char *file, int line,
                       af_error *err, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        if (cap > ISSUES_MAX)
            return af_fail(err, AF_E_LIMIT, "more than %zu dataset problems", ISSUES_MAX);
        af_issue *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return af_fail(err, AF_E_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    af_issue *is = &l->v[l->n];
    is->kind = kind;
    is->line = line;
    is->file = strdup(file);
    is->msg = strdup(msg);
    if (!is->file || !is->msg) {
        free(is->file);
        free(is->msg);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    l->n++;
    return AF_OK;
}

void af_issue_list_free(af_issue_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].file);
        free(l->v[i].msg);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

void af_label_set_free(af_label_set *s)
{
    free(s->cls);
    free(s->xywhn);
    memset(s, 0, sizeof *s);
}

int af_parse_py_float(const char *s, size_t len, double *out)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf)
        return 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf;
    int neg = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (!strcasecmp(p, "nan")) {
        *out = NAN;
        return 0;
    }
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits++;
        }
    }
    if (!digits)
        return 1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return 1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return 1;
    errno = 0;
    *out = strtod(buf, NULL); /* overflow gives +-HUGE_VAL = inf, as Python float() */
    return 0;
}

static int py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static int py_linebreak(unsigned char c)
{
    return c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e);
}

typedef struct row {
    int line;   /* 1-based in the file */
    int ncols;
    int bad;    /* a token is not a number, or the column count is wrong */
    size_t off; /* into vals */
} row;

typedef struct rows {
    row *r;
    size_t n, cap;
    float *vals;
    size_t nv, vcap;
} rows;

static int rows_push_val(rows *t, float v)
{
    if (t->nv == t->vcap) {
        size_t cap = t->vcap ? t->vcap * 2 : 64;
        float *nv = realloc(t->vals, cap * sizeof *nv);
        if (!nv)
            return 1;
        t->vals = nv;
        t->vcap = cap;
    }
    t->vals[t->nv++] = v;
    return 0;
}

static int rows_push(rows *t, int line)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        row *nr = realloc(t->r, cap * sizeof *nr);
        if (!nr)
            return 1;
        t->r = nr;
        t->cap = cap;
    }
    t->r[t->n].line = line;
    t->r[t->n].ncols = 0;
    t->r[t->n].bad = 0;
    t->r[t->n].off = t->nv;
    t->n++;
    return 0;
}

typedef struct box5 {
    float v[5];
    size_t idx;
} box5;

static int cmp_box5(const void *pa, const void *pb)
{
    const box5 *a = pa, *b = pb;
    for (int k = 0; k < 5; k++) {
        if (a->v[k] < b->v[k])
            return -1;
        if (a->v[k] > b->v[k])
            return 1;
    }
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

typedef struct ctx {
    const char *path;
    af_issue_list *issues;
    af_error *err;
    int reported;
    int corrupt;
    af_status st;
} ctx;

#define PROBLEM(c, line, ...)                                                                      \
    do {                                                                                           \
        (c)->corrupt = 1;                                                                          \
        if ((c)->st == AF_OK && (c)->reported++ < REPORT_PER_FILE)                                 \
            (c)->st = af_issue_add((c)->issues, AF_ISSUE_CORRUPT, (c)->path, (line), (c)->err,      \
                                   __VA_ARGS__);                                                   \
    } while (0)

/* Splits text into rows of float32 values. Bad tokens are reported. */
static af_status tokenize(ctx *c, const char *buf, size_t len, rows *t)
{
    size_t b = 0, e = len;
    int line = 1;
    while (b < e && py_space((unsigned char)buf[b])) {
        if (buf[b] == '\n' || (buf[b] == '\r' && !(b + 1 < e && buf[b + 1] == '\n')))
            line++;
        b++;
    }
    while (e > b && py_space((unsigned char)buf[e - 1]))
        e--;
    size_t i = b;
    while (i < e) {
        size_t j = i;
        while (j < e && !py_linebreak((unsigned char)buf[j]))
            j++;
        if (j > i) { /* `if len(x)`: a line of spaces is kept, as a row of 0 columns */
            if (rows_push(t, line))
                return af_fail(c->err, AF_E_NOMEM, "out of memory");
            size_t k = i;
            while (k < j) {
                while (k < j && py_space((unsigned char)buf[k]))
                    k++;
                if (k >= j)
                    break;
                size_t s = k;
                while (k < j && !py_space((unsigned char)buf[k]))
                    k++;
                double d;
                if (af_parse_py_float(buf + s, k - s, &d)) {
                    PROBLEM(c, line, "'%.*s' is not a number", (int)(k - s > 40 ? 40 : k - s),
                            buf + s);
                    t->r[t->n - 1].bad = 1;
                    d = 0;
                }
                if (t->r[t->n - 1].ncols == 1 << 20)
                    return af_fail(c->err, AF_E_LIMIT, "%s:%d: too many columns", c->path, line);
                if (rows_push_val(t, (float)d))
                    return af_fail(c->err, AF_E_NOMEM, "out of memory");
                t->r[t->n - 1].ncols++;
            }
        }
        if (j < e && buf[j] == '\r' && j + 1 < e && buf[j + 1] == '\n')
            j++;
        if (j < e && (buf[j] == '\n' || buf[j] == '\r'))
            line++;
        i = j + 1;
        if (c->st)
            return c->st;
    }
    return c->st;
}

/* Box rows (5 floats each) from the parsed rows; polygons converted. NULL boxes on error. */
static af_status to_boxes(ctx *c, rows *t, float *boxes, int *from_segments)
{
    int seg = 0;
    for (size_t r = 0; r < t->n; r++)
        if (t->r[r].ncols > 6)
            seg = 1;
    *from_segments = seg;
    for (size_t r = 0; r < t->n; r++) {
        row *w = &t->r[r];
        const float *v = t->vals + w->off;
        float *o = boxes + 5 * r;
        if (!seg) {
            if (w->ncols != 5) {
                PROBLEM(c, w->line, "labels require 5 columns (cls cx cy w h), %d columns detected",
                        w->ncols);
                w->bad = 1;
                continue;
            }
            memcpy(o, v, 5 * sizeof *o);
            continue;
        }
        int nco = w->ncols - 1;
        if (nco < 2 || nco % 2) {
            PROBLEM(c, w->line,
                    "polygon label needs cls and an even number (>= 2) of coordinates, %d columns "
                    "detected",
                    w->ncols);
            w->bad = 1;
            continue;
        }
        float x0 = v[1], y0 = v[2], x1 = v[1], y1 = v[2];
        int nan = 0;
        for (int k = 0; k < nco; k += 2) {
            float x = v[1 + k], y = v[2 + k];
            nan |= isnan(x) || isnan(y);
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
        }
        if (nan)
            x0 = y0 = x1 = y1 = NAN; /* np.min/max propagate NaN */
        o[0] = v[0];
        o[1] = (x0 + x1) / 2;
        o[2] = (y0 + y1) / 2;
        o[3] = x1 - x0;
        o[4] = y1 - y0;
    }
    return c->st;
}

static void check_values(ctx *c, const rows *t, const float *boxes, int nc)
{
    for (size_t r = 0; r < t->n && c->st == AF_OK; r++) {
        const float *o = boxes + 5 * r;
        int line = t->r[r].line;
        if (t->r[r].bad)
            continue;
        for (int k = 1; k < 5; k++)
            if (!(o[k] <= 1)) {
                PROBLEM(c, line, "non-normalized or out of bounds coordinate %g (must be <= 1)",
                        (double)o[k]);
                break;
            }
        for (int k = 0; k < 5; k++)
            if (o[k] < 0) {
                PROBLEM(c, line, "negative label value %g", (double)o[k]);
                break;
            }
        float cl = o[0];
        if (isnan(cl))
            PROBLEM(c, line, "class nan is not a number");
        else if (cl >= 0 && cl >= (float)nc)
            PROBLEM(c, line, "class %g is out of range (nc=%d)", (double)cl, nc);
        else if (cl >= 0 && cl != floorf(cl))
            PROBLEM(c, line, "class %g is not an integer", (double)cl);
    }
}

static af_status dedupe(ctx *c, const rows *t, const float *boxes, af_label_result *res)
{
    size_t n = t->n;
    box5 *b = malloc(n * sizeof *b);
    if (!b)
        return af_fail(c->err, AF_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        memcpy(b[i].v, boxes + 5 * i, sizeof b[i].v);
        b[i].idx = i;
    }
    qsort(b, n, sizeof *b, cmp_box5);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        int same = u > 0;
        for (int k = 0; same && k < 5; k++)
            same = b[u - 1].v[k] == b[i].v[k];
        if (same) {
            if (c->st == AF_OK)
                c->st = af_issue_add(c->issues, AF_ISSUE_WARNING, c->path, t->r[b[i].idx].line,
                                     c->err, "duplicate of line %d, removed",
                                     t->r[b[u - 1].idx].line);
            continue;
        }
        b[u++] = b[i];
    }
    af_label_set *lb = &res->lb;
    int keep_order = u == n; /* np.unique's sorted order only applies when rows were removed */
    if (keep_order) {
        for (size_t i = 0; i < n; i++)
            b[i].idx = i;
        for (size_t i = 0; i < n; i++)
            memcpy(b[i].v, boxes + 5 * i, sizeof b[i].v);
    }
    res->duplicates = (int)(n - u);
    lb->n = (int)u;
    lb->cls = malloc(u * sizeof *lb->cls);
    lb->xywhn = malloc(u * 4 * sizeof *lb->xywhn);
    if (!lb->cls || !lb->xywhn) {
        free(b);
        af_label_set_free(lb);
        return af_fail(c->err, AF_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < u; i++) {
        lb->cls[i] = (int)b[i].v[0];
        memcpy(lb->xywhn + 4 * i, b[i].v + 1, 4 * sizeof(float));
    }
    free(b);
    return c->st;
}

static int cmp_issue_line(const void *a, const void *b)
{
    int x = ((const af_issue *)a)->line, y = ((const af_issue *)b)->line;
    return x < y ? -1 : x > y;
}

/* Orders the issues of one file by line; stable for the few of a corrupt file (several
 * problems of one line keep the rule order), duplicate warnings have distinct lines. */
static void sort_issues(af_issue *v, size_t n)
{
    if (n > 64) {
        qsort(v, n, sizeof *v, cmp_issue_line);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        af_issue x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1].line > x.line; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static af_status labels_read(const char *path, int nc, af_label_result *res, af_issue_list *issues,
                             af_error *err);

af_status af_labels_read(const char *path, int nc, af_label_result *res, af_issue_list *issues,
                         af_error *err)
{
    size_t first = issues->n;
    af_status st = labels_read(path, nc, res, issues, err);
    if (issues->n > first) /* issues->v may still be NULL: no pointer arithmetic on it */
        sort_issues(issues->v + first, issues->n - first);
    return st;
}

static af_status labels_read(const char *path, int nc, af_label_result *res, af_issue_list *issues,
                             af_error *err)
{
    memset(res, 0, sizeof *res);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) { /* os.path.isfile */
        res->state = AF_LABEL_MISSING;
        return AF_OK;
    }
    ctx c = {path, issues, err, 0, 0, AF_OK};
    if ((uint64_t)sb.st_size > LABEL_MAX_BYTES) {
        PROBLEM(&c, 0, "label file larger than %u bytes", LABEL_MAX_BYTES);
        res->state = AF_LABEL_CORRUPT;
        return c.st;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        PROBLEM(&c, 0, "cannot open: %s", strerror(errno));
        res->state = AF_LABEL_CORRUPT;
        return c.st;
    }
    size_t cap = (size_t)sb.st_size + 1;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    size_t len = fread(buf, 1, cap - 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        PROBLEM(&c, 0, "read error");
        res->state = AF_LABEL_CORRUPT;
        return c.st;
    }
    buf[len] = '\0';
    rows t = {0};
    af_status st = tokenize(&c, buf, len, &t);
    free(buf);
    float *boxes = NULL;
    /* every problem is listed (ultralytics names only the first); any makes the file corrupt */
    if (st == AF_OK && t.n > 0) {
        size_t nb;
        if (af_mul_size(t.n, 5 * sizeof(float), &nb) || !(boxes = malloc(nb)))
            st = af_fail(err, AF_E_NOMEM, "out of memory");
        if (st == AF_OK)
            st = to_boxes(&c, &t, boxes, &res->from_segments);
        if (st == AF_OK)
            check_values(&c, &t, boxes, nc);
        st = c.st;
        if (st == AF_OK && !c.corrupt)
            st = dedupe(&c, &t, boxes, res);
    }
    if (c.corrupt)
        res->state = AF_LABEL_CORRUPT;
    else if (t.n == 0)
        res->state = AF_LABEL_EMPTY;
    else
        res->state = AF_LABEL_FOUND;
    if (c.corrupt || st)
        af_label_set_free(&res->lb);
    free(boxes);
    free(t.r);
    free(t.vals);
    return st;
}
