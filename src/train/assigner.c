#include "train/assigner.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "train/ciou.h"

#define TAL_MAX_ANCHORS (1 << 26)
#define TAL_MAX_TOPK 4096

void af_tal_params_default(af_tal_params *p, int num_classes)
{
    p->topk = 10;
    p->num_classes = num_classes;
    p->alpha = 0.5f;
    p->beta = 6.0f;
    p->eps = 1e-9f;
}

/* Tensor.pow(scalar) as torch 1.13's CPU kernel special-cases it. */
static float torch_pow(float x, float e)
{
    if (e == 0.5f)
        return sqrtf(x);
    if (e == 1.0f)
        return x;
    if (e == 2.0f)
        return x * x;
    if (e == 3.0f)
        return x * x * x;
    if (e == -0.5f)
        return 1.0f / sqrtf(x);
    if (e == -1.0f)
        return 1.0f / x;
    if (e == -2.0f)
        return 1.0f / (x * x);
    return powf(x, e);
}

typedef struct tal_cand {
    int32_t anchor;
    float ov, am;
} tal_cand;

/* ---- torch.topk(largest=True) for k*64 <= n: libstdc++ partial_sort ---- */

typedef struct heap_el {
    float v;
    int32_t idx;  /* anchor */
    int32_t cand; /* index into the gt's candidates, -1: not in the gt */
} heap_el;

/* TopK comparator: NaN sorts first, then larger values. */
static int topk_comp(const heap_el *x, const heap_el *y)
{
    return (isnan(x->v) && !isnan(y->v)) || x->v > y->v;
}

static void push_heap(heap_el *h, long hole, long top, heap_el value)
{
    long parent = (hole - 1) / 2;
    while (hole > top && topk_comp(&h[parent], &value)) {
        h[hole] = h[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    h[hole] = value;
}

static void adjust_heap(heap_el *h, long hole, long len, heap_el value)
{
    long top = hole, second = hole;
    while (second < (len - 1) / 2) {
        second = 2 * (second + 1);
        if (topk_comp(&h[second], &h[second - 1]))
            second--;
        h[hole] = h[second];
        hole = second;
    }
    if ((len & 1) == 0 && second == (len - 2) / 2) {
        second = 2 * (second + 1);
        h[hole] = h[second - 1];
        hole = second - 1;
    }
    push_heap(h, hole, top, value);
}

static void make_heap(heap_el *h, long len)
{
    if (len < 2)
        return;
    for (long parent = (len - 2) / 2;; parent--) {
        adjust_heap(h, parent, len, h[parent]);
        if (parent == 0)
            return;
    }
}

/* Selects the k largest of a row of n values that are 0 except at the
 * candidates c[0..nc) (sorted by anchor). h gets k elements. */
static void topk_select(const tal_cand *c, size_t nc, int k, heap_el *h)
{
    size_t p = 0;
    for (int i = 0; i < k; i++) {
        h[i].idx = i;
        if (p < nc && c[p].anchor == i) {
            h[i].v = c[p].am;
            h[i].cand = (int32_t)p;
            p++;
        } else {
            h[i].v = 0.0f;
            h[i].cand = -1;
        }
    }
    make_heap(h, k);
    /* the zeros after position k never displace anything (values are >= 0) */
    for (; p < nc; p++) {
        heap_el e = {c[p].am, c[p].anchor, (int32_t)p};
        if (topk_comp(&e, &h[0]))
            adjust_heap(h, 0, k, e); /* __pop_heap(first, middle, i) */
    }
}

/* Candidate anchors of one gt box on one level: index ranges that hold every
 * anchor strictly inside (checked exactly afterwards). 0 if none. */
static int level_range(const float box[4], const af_tal_level *l, int r[4])
{
    double s = l->stride;
    double lo[2] = {box[0], box[1]}, hi[2] = {box[2], box[3]};
    int n[2] = {l->w, l->h};
    for (int d = 0; d < 2; d++) {
        if (!(lo[d] <= hi[d])) /* also NaN */
            return 0;
        double a = lo[d] / s - 0.5, b = hi[d] / s - 0.5;
        if (a < -1.0)
            a = -1.0;
        if (b > n[d] + 1.0)
            b = n[d] + 1.0;
        long i0 = (long)floor(a), i1 = (long)ceil(b);
        if (i0 < 0)
            i0 = 0;
        if (i1 > n[d] - 1)
            i1 = n[d] - 1;
        if (i0 > i1)
            return 0;
        r[2 * d] = (int)i0;
        r[2 * d + 1] = (int)i1;
    }
    return 1;
}

/* Overlap of (gt g, anchor a): its candidate or 0 (binary search). */
static const tal_cand *find_cand(const tal_cand *c, size_t n, int32_t a)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c[mid].anchor < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && c[lo].anchor == a ? &c[lo] : NULL;
}

af_status af_tal_assign(const af_tal_params *p, const af_tal_level *lv, int nlevels,
                        af_tal_pred_fn pred, const void *pred_ctx, const af_tal_gt *gts,
                        int ngt, int n_max_boxes, af_tal_result *out, af_error *err)
{
    if (!p || !lv || nlevels <= 0 || !pred || !out || ngt < 0 || n_max_boxes < ngt ||
        (ngt > 0 && !gts))
        return af_fail(err, AF_E_ARG, "assigner: bad arguments");
    if (p->topk <= 0 || p->topk > TAL_MAX_TOPK || p->num_classes <= 0)
        return af_fail(err, AF_E_ARG, "assigner: topk %d / num_classes %d out of range", p->topk,
                       p->num_classes);
    if (!out->labels || !out->bboxes || !out->scores || !out->fg || !out->gt_idx)
        return af_fail(err, AF_E_ARG, "assigner: output arrays missing");
    long na = 0;
    for (int l = 0; l < nlevels; l++) {
        if (lv[l].h <= 0 || lv[l].w <= 0 || lv[l].stride <= 0 || lv[l].h > TAL_MAX_ANCHORS ||
            lv[l].w > TAL_MAX_ANCHORS)
            return af_fail(err, AF_E_ARG, "assigner: level %d has bad shape %dx%d stride %d", l,
                           lv[l].h, lv[l].w, lv[l].stride);
        na += (long)lv[l].h * lv[l].w;
        if (na > TAL_MAX_ANCHORS)
            return af_fail(err, AF_E_LIMIT, "assigner: more than %d anchors", TAL_MAX_ANCHORS);
    }
    for (int g = 0; g < ngt; g++)
        if (gts[g].label < 0 || gts[g].label >= p->num_classes)
            return af_fail(err, AF_E_ARG, "assigner: gt %d has class %d outside 0..%d", g,
                           gts[g].label, p->num_classes - 1);

    /* defaults: everything background, gt_idx 0 */
    int32_t bg_label = n_max_boxes == 0 ? p->num_classes : ngt > 0 ? gts[0].label : 0;
    float bg_box[4] = {0, 0, 0, 0};
    if (ngt > 0)
        memcpy(bg_box, gts[0].box, sizeof bg_box);
    for (long a = 0; a < na; a++) {
        out->labels[a] = bg_label;
        memcpy(&out->bboxes[4 * a], bg_box, sizeof bg_box);
        out->scores[a] = 0.0f;
        out->fg[a] = 0;
        out->gt_idx[a] = 0;
    }
    if (ngt == 0)
        return AF_OK;

    int k = p->topk < na ? p->topk : (int)na;

    /* candidate bound per gt */
    size_t *off = calloc((size_t)ngt + 1, sizeof *off);
    if (!off)
        return af_fail(err, AF_E_NOMEM, "assigner: out of memory");
    for (int g = 0; g < ngt; g++) {
        const float *b = gts[g].box;
        size_t bound = 0;
        int valid = ((b[0] + b[1]) + b[2]) + b[3] > 0.0f; /* mask_gt */
        for (int l = 0; valid && l < nlevels; l++) {
            int r[4];
            if (level_range(b, &lv[l], r))
                bound += (size_t)(r[1] - r[0] + 1) * (size_t)(r[3] - r[2] + 1);
        }
        if (af_add_size(off[g], bound, &off[g + 1])) {
            free(off);
            return af_fail(err, AF_E_LIMIT, "assigner: candidate count overflows");
        }
    }
    size_t cand_bytes;
    if (af_mul_size(off[ngt] ? off[ngt] : 1, sizeof(tal_cand), &cand_bytes)) {
        free(off);
        return af_fail(err, AF_E_LIMIT, "assigner: candidate count overflows");
    }
    tal_cand *cand = malloc(cand_bytes);
    size_t *ncand = calloc((size_t)ngt, sizeof *ncand);
    int32_t *cnt = calloc((size_t)na, sizeof *cnt);
    int32_t *asg_gt = malloc((size_t)na * sizeof *asg_gt);
    const tal_cand **asg_c = malloc((size_t)na * sizeof *asg_c);
    int32_t *sel = malloc(((size_t)ngt * (size_t)k + 1) * sizeof *sel);
    heap_el *heap = malloc((size_t)k * sizeof *heap);
    float *pam = calloc((size_t)ngt, sizeof *pam), *po = calloc((size_t)ngt, sizeof *po);
    af_status st = AF_OK;
    if (!cand || !ncand || !cnt || !asg_gt || !asg_c || !sel || !heap || !pam || !po) {
        st = af_fail(err, AF_E_NOMEM, "assigner: out of memory");
        goto done;
    }

    /* candidates in gts and their metrics, in anchor order */
    for (int g = 0; g < ngt; g++) {
        const float *b = gts[g].box;
        tal_cand *c = cand + off[g];
        size_t n = 0;
        long base = 0;
        for (int l = 0; l < nlevels && off[g + 1] > off[g]; base += (long)lv[l].h * lv[l].w, l++) {
            int r[4];
            if (!level_range(b, &lv[l], r))
                continue;
            float s = (float)lv[l].stride;
            for (int y = r[2]; y <= r[3]; y++) {
                float ay = ((float)y + 0.5f) * s;
                for (int x = r[0]; x <= r[1]; x++) {
                    float ax = ((float)x + 0.5f) * s;
                    float d0 = ax - b[0], d1 = ay - b[1], d2 = b[2] - ax, d3 = b[3] - ay;
                    float m = d0;
                    m = d1 < m ? d1 : m;
                    m = d2 < m ? d2 : m;
                    m = d3 < m ? d3 : m;
                    if (!(m > p->eps))
                        continue;
                    int32_t a = (int32_t)(base + (long)y * lv[l].w + x);
                    float pb[4], score;
                    pred(pred_ctx, a, gts[g].label, pb, &score);
                    float ov = af_ciou(b, pb, NULL);
                    ov = ov < 0.0f ? 0.0f : ov; /* clamp_(0); NaN stays */
                    c[n].anchor = a;
                    c[n].ov = ov;
                    c[n].am = torch_pow(score, p->alpha) * torch_pow(ov, p->beta);
                    n++;
                }
            }
        }
        ncand[g] = n;
    }

    /* top-k per gt, keeping picks inside the gt (mask_topk * mask_in_gts) */
    size_t nsel = 0;
    for (int g = 0; g < ngt; g++) {
        if (off[g + 1] == off[g])
            continue; /* mask_gt false, or no anchor range at all */
        const tal_cand *c = cand + off[g];
        topk_select(c, ncand[g], k, heap);
        for (int i = 0; i < k; i++) {
            if (heap[i].cand < 0)
                continue;
            int32_t a = heap[i].idx;
            if (cnt[a]++ == 0) {
                sel[nsel++] = a;
                asg_gt[a] = g;
                asg_c[a] = &c[heap[i].cand];
            }
        }
    }

    /* select_highest_overlaps, then targets */
    for (size_t i = 0; i < nsel; i++) {
        int32_t a = sel[i];
        if (cnt[a] > 1) {
            int best_g = 0;
            const tal_cand *best = find_cand(cand + off[0], ncand[0], a);
            float bv = best ? best->ov : 0.0f;
            for (int g = 1; g < ngt; g++) {
                const tal_cand *c = find_cand(cand + off[g], ncand[g], a);
                float v = c ? c->ov : 0.0f;
                if (v > bv || (isnan(v) && !isnan(bv))) {
                    bv = v;
                    best_g = g;
                    best = c;
                }
            }
            asg_gt[a] = best_g;
            asg_c[a] = best;
        }
        int g = asg_gt[a];
        out->fg[a] = 1;
        out->gt_idx[a] = g;
        out->labels[a] = gts[g].label;
        memcpy(&out->bboxes[4 * (size_t)a], gts[g].box, 4 * sizeof(float));
        float am = asg_c[a] ? asg_c[a]->am : 0.0f, ov = asg_c[a] ? asg_c[a]->ov : 0.0f;
        if (am > pam[g] || isnan(am))
            pam[g] = am;
        if (ov > po[g] || isnan(ov))
            po[g] = ov;
    }
    for (size_t i = 0; i < nsel; i++) {
        int32_t a = sel[i];
        int g = asg_gt[a];
        float am = asg_c[a] ? asg_c[a]->am : 0.0f;
        out->scores[a] = am * po[g] / (pam[g] + p->eps);
    }

done:
    free(off);
    free(cand);
    free(ncand);
    free(cnt);
    free(asg_gt);
    free(asg_c);
    free(sel);
    free(heap);
    free(pam);
    free(po);
    return st;
}
