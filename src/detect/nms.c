#include "detect/nms.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

void af_nms_params_default(af_nms_params *p)
{
    p->conf_thres = 0.25f;
    p->iou_thres = 0.7f;
    p->max_det = 300;
    p->agnostic = 0;
    p->multi_label = 0;
    p->classes = NULL;
    p->nclasses = 0;
    p->max_nms = 30000;
    p->max_wh = 7680.0f;
}

double af_nms_decimal_threshold(float f)
{
    char buf[64];
    if (!isfinite(f))
        return (double)f;
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f; /* 9 digits always round-trip; not reached */
}

/* ---- torch 1.13 CPU sort(descending, stable=False) = libstdc++ std::sort ---- */

/* KeyValueCompDesc: NaN sorts first, then larger values. */
static int cmp_desc(const af_sort_pair *a, const af_sort_pair *b)
{
    return (isnan(a->v) && !isnan(b->v)) || a->v > b->v;
}

static void pair_swap(af_sort_pair *a, af_sort_pair *b)
{
    af_sort_pair t = *a;
    *a = *b;
    *b = t;
}

static void push_heap(af_sort_pair *first, ptrdiff_t hole, ptrdiff_t top, af_sort_pair value)
{
    ptrdiff_t parent = (hole - 1) / 2;
    while (hole > top && cmp_desc(&first[parent], &value)) {
        first[hole] = first[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    first[hole] = value;
}

static void adjust_heap(af_sort_pair *first, ptrdiff_t hole, ptrdiff_t len, af_sort_pair value)
{
    const ptrdiff_t top = hole;
    ptrdiff_t child = hole;
    while (child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (cmp_desc(&first[child], &first[child - 1]))
            child--;
        first[hole] = first[child];
        hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        first[hole] = first[child - 1];
        hole = child - 1;
    }
    push_heap(first, hole, top, value);
}

/* std::__partial_sort(first, last, last): make_heap then sort_heap. */
static void heap_sort(af_sort_pair *first, af_sort_pair *last)
{
    ptrdiff_t len = last - first;
    if (len >= 2) {
        for (ptrdiff_t parent = (len - 2) / 2;; parent--) {
            adjust_heap(first, parent, len, first[parent]);
            if (parent == 0)
                break;
        }
    }
    while (last - first > 1) {
        --last;
        af_sort_pair v = *last;
        *last = *first;
        adjust_heap(first, 0, last - first, v);
    }
}

static void move_median_to_first(af_sort_pair *result, af_sort_pair *a, af_sort_pair *b,
                                 af_sort_pair *c)
{
    if (cmp_desc(a, b)) {
        if (cmp_desc(b, c))
            pair_swap(result, b);
        else if (cmp_desc(a, c))
            pair_swap(result, c);
        else
            pair_swap(result, a);
    } else if (cmp_desc(a, c)) {
        pair_swap(result, a);
    } else if (cmp_desc(b, c)) {
        pair_swap(result, c);
    } else {
        pair_swap(result, b);
    }
}

static af_sort_pair *unguarded_partition(af_sort_pair *first, af_sort_pair *last,
                                         const af_sort_pair *pivot)
{
    for (;;) {
        while (cmp_desc(first, pivot))
            ++first;
        --last;
        while (cmp_desc(pivot, last))
            --last;
        if (!(first < last))
            return first;
        pair_swap(first, last);
        ++first;
    }
}

enum { SORT_THRESHOLD = 16 };

static void introsort_loop(af_sort_pair *first, af_sort_pair *last, int depth)
{
    while (last - first > SORT_THRESHOLD) {
        if (depth == 0) {
            heap_sort(first, last);
            return;
        }
        --depth;
        af_sort_pair *mid = first + (last - first) / 2;
        move_median_to_first(first, first + 1, mid, last - 1);
        af_sort_pair *cut = unguarded_partition(first + 1, last, first);
        introsort_loop(cut, last, depth);
        last = cut;
    }
}

static void unguarded_linear_insert(af_sort_pair *last)
{
    af_sort_pair val = *last;
    af_sort_pair *next = last - 1;
    while (cmp_desc(&val, next)) {
        *last = *next;
        last = next;
        --next;
    }
    *last = val;
}

static void insertion_sort(af_sort_pair *first, af_sort_pair *last)
{
    if (first == last)
        return;
    for (af_sort_pair *i = first + 1; i != last; ++i) {
        if (cmp_desc(i, first)) {
            af_sort_pair val = *i;
            memmove(first + 1, first, (size_t)(i - first) * sizeof *first);
            *first = val;
        } else {
            unguarded_linear_insert(i);
        }
    }
}

void af_sort_desc_unstable(af_sort_pair *a, size_t n)
{
    if (n < 2)
        return;
    int lg = 0;
    for (size_t m = n; m > 1; m >>= 1)
        lg++;
    introsort_loop(a, a + n, 2 * lg);
    if (n > SORT_THRESHOLD) {
        insertion_sort(a, a + SORT_THRESHOLD);
        for (af_sort_pair *i = a + SORT_THRESHOLD; i != a + n; ++i)
            unguarded_linear_insert(i);
    } else {
        insertion_sort(a, a + n);
    }
}

/* ---- NMS ---- */

typedef struct cand {
    float box[4]; /* x1 y1 x2 y2, input pixels */
    float score;
    int cls;
} cand;

/* Stable descending order: ties keep candidate order (std::stable_sort). */
typedef struct order_item {
    float score;
    int idx;
} order_item;

static int order_cmp(const void *pa, const void *pb)
{
    const order_item *a = pa, *b = pb;
    if (a->score > b->score)
        return -1;
    if (a->score < b->score)
        return 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* std::max(a, b) / std::min(a, b) for floats, NaN behaviour included. */
static inline float std_max(float a, float b) { return a < b ? b : a; }
static inline float std_min(float a, float b) { return b < a ? b : a; }

static int class_wanted(const af_nms_params *p, int c)
{
    if (!p->classes)
        return 1;
    for (int k = 0; k < p->nclasses; k++)
        if (p->classes[k] == c)
            return 1;
    return 0;
}

/* Gathers the candidates, in torch's order, into a malloc'd *out. */
static af_status gather(const float *pred, int nc, int n, const af_nms_params *p, cand **out,
                        size_t *count, af_error *err)
{
    const int multi = p->multi_label && nc > 1;
    const float conf = p->conf_thres;
    size_t cap = 0, m = 0;
    cand *c = NULL;
    for (int a = 0; a < n; a++) {
        /* torch.amax: NaN propagates, so any NaN score rejects the anchor */
        float mx = pred[(size_t)4 * n + a];
        int arg = 0;
        for (int k = 1; k < nc && !isnan(mx); k++) {
            float v = pred[(size_t)(4 + k) * n + a];
            if (!(v <= mx)) { /* torch.max(dim): first index of the max */
                mx = v;
                arg = k;
            }
        }
        if (!(mx > conf))
            continue;
        float cx = pred[a], cy = pred[(size_t)n + a];
        float dw = pred[(size_t)2 * n + a] / 2, dh = pred[(size_t)3 * n + a] / 2;
        float box[4] = {cx - dw, cy - dh, cx + dw, cy + dh};
        for (int k = multi ? 0 : arg; k < (multi ? nc : arg + 1); k++) {
            float s = pred[(size_t)(4 + k) * n + a];
            if (!(s > conf) || !class_wanted(p, k))
                continue;
            if (m == cap) {
                size_t ncap = cap ? cap * 2 : 256, bytes;
                if (af_mul_size(ncap, sizeof *c, &bytes)) {
                    free(c);
                    return af_fail(err, AF_E_LIMIT, "nms: too many candidates");
                }
                cand *t = realloc(c, bytes);
                if (!t) {
                    free(c);
                    return af_fail(err, AF_E_NOMEM, "nms: out of memory for %zu candidates", ncap);
                }
                c = t;
                cap = ncap;
            }
            memcpy(c[m].box, box, sizeof box);
            c[m].score = s;
            c[m].cls = k;
            m++;
        }
    }
    *out = c;
    *count = m;
    return AF_OK;
}

af_status af_nms(const float *pred, int nc, int n, const af_nms_params *p, af_detection *out,
                 int *nout, af_error *err)
{
    *nout = 0;
    if (nc < 1 || n < 0 || (n > 0 && !pred))
        return af_fail(err, AF_E_ARG, "nms: bad prediction shape (nc %d, n %d)", nc, n);
    if (p->max_det < 0 || p->max_nms < 0 || (p->classes == NULL && p->nclasses > 0) ||
        p->nclasses < 0)
        return af_fail(err, AF_E_ARG, "nms: bad parameters (max_det %d, max_nms %d, nclasses %d)",
                       p->max_det, p->max_nms, p->nclasses);
    if (!(p->conf_thres >= 0 && p->conf_thres <= 1) || !(p->iou_thres >= 0 && p->iou_thres <= 1))
        return af_fail(err, AF_E_ARG, "nms: conf %g and iou %g must be in [0, 1]",
                       (double)p->conf_thres, (double)p->iou_thres);
    if (n == 0 || p->max_det == 0)
        return AF_OK;

    cand *c = NULL;
    size_t m = 0;
    af_status st = gather(pred, nc, n, p, &c, &m, err);
    if (st != AF_OK)
        return st;
    if (m == 0) {
        free(c);
        return AF_OK;
    }

    if (m > (size_t)p->max_nms) {
        /* x = x[x[:, 4].argsort(descending=True)[:max_nms]] */
        af_sort_pair *sp = malloc(m * sizeof *sp);
        cand *kept = malloc((size_t)p->max_nms * sizeof *kept + 1);
        if (!sp || !kept) {
            free(sp);
            free(kept);
            free(c);
            return af_fail(err, AF_E_NOMEM, "nms: out of memory sorting %zu candidates", m);
        }
        for (size_t k = 0; k < m; k++) {
            sp[k].v = c[k].score;
            sp[k].i = (int64_t)k;
        }
        af_sort_desc_unstable(sp, m);
        for (int k = 0; k < p->max_nms; k++)
            kept[k] = c[sp[k].i];
        free(sp);
        free(c);
        c = kept;
        m = (size_t)p->max_nms;
        if (m == 0) {
            free(c);
            return AF_OK;
        }
    }

    /* offset boxes, areas, stable order */
    float *bx = malloc(m * 5 * sizeof *bx);
    order_item *ord = malloc(m * sizeof *ord);
    unsigned char *sup = calloc(m, 1);
    if (!bx || !ord || !sup) {
        free(bx);
        free(ord);
        free(sup);
        free(c);
        return af_fail(err, AF_E_NOMEM, "nms: out of memory for %zu boxes", m);
    }
    const float mult = p->agnostic ? 0.0f : p->max_wh;
    for (size_t k = 0; k < m; k++) {
        float off = (float)c[k].cls * mult;
        float *b = bx + 5 * k;
        for (int j = 0; j < 4; j++)
            b[j] = c[k].box[j] + off;
        b[4] = (b[2] - b[0]) * (b[3] - b[1]);
        ord[k].score = c[k].score;
        ord[k].idx = (int)k;
    }
    qsort(ord, m, sizeof *ord, order_cmp);

    const double thr = af_nms_decimal_threshold(p->iou_thres);
    int kept = 0;
    for (size_t oi = 0; oi < m && kept < p->max_det; oi++) {
        const int i = ord[oi].idx;
        if (sup[i])
            continue;
        af_detection *d = &out[kept++];
        d->x1 = c[i].box[0];
        d->y1 = c[i].box[1];
        d->x2 = c[i].box[2];
        d->y2 = c[i].box[3];
        d->conf = c[i].score;
        d->cls = c[i].cls;
        const float *bi = bx + 5 * (size_t)i;
        for (size_t oj = oi + 1; oj < m; oj++) {
            const int j = ord[oj].idx;
            if (sup[j])
                continue;
            const float *bj = bx + 5 * (size_t)j;
            float xx1 = std_max(bi[0], bj[0]);
            float yy1 = std_max(bi[1], bj[1]);
            float xx2 = std_min(bi[2], bj[2]);
            float yy2 = std_min(bi[3], bj[3]);
            float w = std_max(0.0f, xx2 - xx1);
            float h = std_max(0.0f, yy2 - yy1);
            float inter = w * h;
            float ovr = inter / (bi[4] + bj[4] - inter);
            if ((double)ovr > thr)
                sup[j] = 1;
        }
    }
    *nout = kept;
    free(bx);
    free(ord);
    free(sup);
    free(c);
    return AF_OK;
}
