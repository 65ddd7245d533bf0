#include "train/loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "train/assigner.h"
#include "train/ciou.h"

#define LOSS_MAX_LEVELS 16
#define LOSS_MAX_ANCHORS (1 << 26)
#define LOSS_MAX_CLASSES 100000
#define LOSS_MAX_TARGETS (1 << 24)

void af_loss_hyp_default(af_loss_hyp *h)
{
    h->box = 7.5f;
    h->cls = 0.5f;
    h->dfl = 1.5f;
    h->reg_max = 16;
    h->topk = 10;
    h->alpha = 0.5f;
    h->beta = 6.0f;
}

/* Shapes shared by both entry points. */
typedef struct loss_geom {
    int R, C, nc, batch, nlevels;
    long na;
    long base[LOSS_MAX_LEVELS + 1]; /* first anchor of each level */
} loss_geom;

static af_status check_geom(const af_loss_hyp *hyp, int batch, int nc, const af_loss_level *lv,
                            int nlevels, loss_geom *g, af_error *err)
{
    if (!hyp || !lv)
        return af_fail(err, AF_E_ARG, "loss: hyp and levels are required");
    if (batch <= 0 || nc <= 0 || nc > LOSS_MAX_CLASSES)
        return af_fail(err, AF_E_ARG, "loss: batch %d / nc %d out of range", batch, nc);
    if (hyp->reg_max < 1 || hyp->reg_max > AF_LOSS_MAX_REG)
        return af_fail(err, AF_E_ARG, "loss: reg_max %d outside 1..%d", hyp->reg_max,
                       AF_LOSS_MAX_REG);
    if (nlevels <= 0 || nlevels > LOSS_MAX_LEVELS)
        return af_fail(err, AF_E_ARG, "loss: %d levels (1..%d)", nlevels, LOSS_MAX_LEVELS);
    g->R = hyp->reg_max;
    g->nc = nc;
    g->C = 4 * hyp->reg_max + nc;
    g->batch = batch;
    g->nlevels = nlevels;
    g->na = 0;
    for (int l = 0; l < nlevels; l++) {
        if (!lv[l].x || lv[l].h <= 0 || lv[l].w <= 0 || lv[l].stride <= 0 ||
            lv[l].h > LOSS_MAX_ANCHORS || lv[l].w > LOSS_MAX_ANCHORS)
            return af_fail(err, AF_E_ARG, "loss: level %d has bad shape %dx%d stride %d or no data",
                           l, lv[l].h, lv[l].w, lv[l].stride);
        g->base[l] = g->na;
        g->na += (long)lv[l].h * lv[l].w;
        if (g->na > LOSS_MAX_ANCHORS)
            return af_fail(err, AF_E_LIMIT, "loss: more than %d anchors", LOSS_MAX_ANCHORS);
    }
    g->base[nlevels] = g->na;
    size_t n;
    if (af_mul3_size((size_t)batch, (size_t)g->na, (size_t)g->C, &n) ||
        af_mul_size(n, sizeof(float), &n))
        return af_fail(err, AF_E_LIMIT, "loss: head output size overflows");
    return AF_OK;
}

/* Softmax expectation of one side's bins (sum p_i * i); p gets the softmax
 * and *lse the log-sum-exp when non-NULL. reg_max 1: the raw value. */
static float side_dist(const float *z, int R, float *p, float *lse)
{
    if (R == 1) {
        if (p)
            p[0] = 1.0f;
        if (lse)
            *lse = z[0];
        return z[0];
    }
    float m = z[0];
    for (int j = 1; j < R; j++)
        if (z[j] > m || isnan(z[j]))
            m = z[j];
    float e[AF_LOSS_MAX_REG];
    double s = 0.0;
    for (int j = 0; j < R; j++) {
        e[j] = expf(z[j] - m);
        s += e[j];
    }
    float inv = 1.0f / (float)s;
    double d = 0.0;
    for (int j = 0; j < R; j++) {
        float pj = e[j] * inv;
        d += (double)pj * j;
        if (p)
            p[j] = pj;
    }
    if (lse)
        *lse = m + logf((float)s);
    return (float)d;
}

static const float *anchor_ptr(const af_loss_level *lv, const loss_geom *g, int b, long a,
                               int *lvl, int *cx, int *cy)
{
    int l = 0;
    while (l + 1 < g->nlevels && a >= g->base[l + 1])
        l++;
    long local = a - g->base[l];
    int y = (int)(local / lv[l].w), x = (int)(local % lv[l].w);
    *lvl = l;
    *cx = x;
    *cy = y;
    return lv[l].x + (((size_t)b * lv[l].h + (size_t)y) * lv[l].w + (size_t)x) * g->C;
}

typedef struct pred_ctx {
    const af_loss_level *lv;
    const loss_geom *g;
    int b;
    float *cache;  /* na x 4 decoded boxes of image b */
    uint8_t *done; /* na flags: cache entry valid */
} pred_ctx;

/* Assigner callback: decoded box * stride (pixels) and sigmoid class score.
 * An anchor inside several gts is decoded once. */
static void pred_cb(const void *vctx, int anchor, int cls, float box[4], float *score)
{
    const pred_ctx *c = vctx;
    int l, x, y;
    const float *px = anchor_ptr(c->lv, c->g, c->b, anchor, &l, &x, &y);
    int R = c->g->R;
    float *cb = c->cache + 4 * (size_t)anchor;
    if (!c->done[anchor]) {
        float d[4];
        for (int k = 0; k < 4; k++)
            d[k] = side_dist(px + k * R, R, NULL, NULL);
        float ax = (float)x + 0.5f, ay = (float)y + 0.5f, s = (float)c->lv[l].stride;
        cb[0] = (ax - d[0]) * s;
        cb[1] = (ay - d[1]) * s;
        cb[2] = (ax + d[2]) * s;
        cb[3] = (ay + d[3]) * s;
        c->done[anchor] = 1;
    }
    memcpy(box, cb, 4 * sizeof(float));
    *score = 1.0f / (1.0f + expf(-px[4 * R + cls]));
}

/* The loss for a given assignment. */
static af_status loss_core(const af_loss_hyp *hyp, const loss_geom *g, const af_loss_level *lv,
                           const af_loss_assignment *as, af_loss_out *out, float *const *grad,
                           af_loss_debug *dbg, af_error *err)
{
    const int R = g->R, C = g->C, nc = g->nc, B = g->batch;
    const long na = g->na;
    size_t nab = (size_t)B * (size_t)na;
    if (!as || !as->labels || !as->bboxes || !as->scores || !as->fg)
        return af_fail(err, AF_E_ARG, "loss: assignment arrays missing");
    if (grad)
        for (int l = 0; l < g->nlevels; l++)
            if (!grad[l])
                return af_fail(err, AF_E_ARG, "loss: gradient buffer of level %d missing", l);

    double ssum = 0.0;
    int n_fg = 0;
    for (size_t i = 0; i < nab; i++) {
        if (as->fg[i]) {
            if (as->labels[i] < 0 || as->labels[i] >= nc)
                return af_fail(err, AF_E_ARG, "loss: foreground anchor %zu has label %d", i,
                               (int)as->labels[i]);
            ssum += as->scores[i];
            n_fg++;
        }
    }
    float tss = (float)ssum;
    if (1.0f > tss)
        tss = 1.0f; /* max(target_scores.sum(), 1) */

    const double gcls = (double)B * hyp->cls / tss;
    const double gbox = (double)B * hyp->box / tss;
    const double gdfl = (double)B * hyp->dfl / tss;
    const int use_dfl = R > 1;
    const float tmax = (float)((double)(R - 1) - 0.01); /* bbox2dist(.., reg_max - 1) clamp */

    double cls_sum = 0.0, box_sum = 0.0, dfl_sum = 0.0;
    for (int b = 0; b < B; b++) {
        for (int l = 0; l < g->nlevels; l++) {
            const af_loss_level *L = &lv[l];
            float s = (float)L->stride;
            for (int y = 0; y < L->h; y++) {
                for (int x = 0; x < L->w; x++) {
                    size_t off = (((size_t)b * L->h + (size_t)y) * L->w + (size_t)x) * C;
                    const float *px = L->x + off;
                    float *gx = grad ? grad[l] + off : NULL;
                    size_t ai = (size_t)b * na + (size_t)(g->base[l] + (long)y * L->w + x);
                    int fg = as->fg[ai] != 0;
                    int lab = as->labels[ai];
                    float w = fg ? as->scores[ai] : 0.0f;

                    /* BCE with logits over the classes */
                    const float *z = px + 4 * R;
                    for (int c = 0; c < nc; c++) {
                        float t = (fg && c == lab) ? w : 0.0f;
                        float v = z[c];
                        float e = expf(-fabsf(v));
                        cls_sum += (double)((v > 0.0f ? v : 0.0f) - v * t + log1pf(e));
                        if (gx) {
                            float sig = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
                            gx[4 * R + c] = (float)(gcls * ((double)sig - t));
                        }
                    }
                    if (gx)
                        memset(gx, 0, (size_t)(4 * R) * sizeof(float));
                    if (!fg)
                        continue;

                    /* box: decoded prediction (grid units) vs target / stride */
                    float p[4][AF_LOSS_MAX_REG], lse[4], d[4];
                    for (int k = 0; k < 4; k++)
                        d[k] = side_dist(px + k * R, R, p[k], &lse[k]);
                    float ax = (float)x + 0.5f, ay = (float)y + 0.5f;
                    float pb[4] = {ax - d[0], ay - d[1], ax + d[2], ay + d[3]};
                    const float *tb_px = &as->bboxes[4 * ai];
                    float tb[4] = {tb_px[0] / s, tb_px[1] / s, tb_px[2] / s, tb_px[3] / s};
                    float dpb[4];
                    float iou = af_ciou_backward(pb, tb, 1.0f, dpb, NULL);
                    box_sum += (double)((1.0f - iou) * w);
                    double gd[4] = {0, 0, 0, 0}; /* d total / d dist */
                    double gi = -gbox * w;
                    gd[0] = -gi * dpb[0];
                    gd[1] = -gi * dpb[1];
                    gd[2] = gi * dpb[2];
                    gd[3] = gi * dpb[3];

                    /* DFL */
                    float tl4[4] = {ax - tb[0], ay - tb[1], tb[2] - ax, tb[3] - ay};
                    double dfl_a = 0.0;
                    for (int k = 0; k < 4; k++) {
                        const float *zk = px + k * R;
                        if (gx)
                            for (int j = 0; j < R; j++)
                                gx[k * R + j] = (float)(gd[k] * p[k][j] * (j - (double)d[k]));
                        if (!use_dfl)
                            continue;
                        float t = tl4[k]; /* clamp_(0, tmax); NaN (bad input) -> 0 */
                        t = t > 0.0f ? (t > tmax ? tmax : t) : 0.0f;
                        int il = (int)t, ir = il + 1;
                        float wl = (float)ir - t, wr = 1.0f - wl;
                        dfl_a += (double)((lse[k] - zk[il]) * wl + (lse[k] - zk[ir]) * wr);
                        if (gx) {
                            double gs = gdfl * w / 4.0;
                            double ws = (double)wl + wr;
                            for (int j = 0; j < R; j++)
                                gx[k * R + j] += (float)(gs * ws * p[k][j]);
                            gx[k * R + il] -= (float)(gs * wl);
                            gx[k * R + ir] -= (float)(gs * wr);
                        }
                    }
                    dfl_sum += (double)((float)(dfl_a / 4.0) * w);
                }
            }
        }
    }

    float lbox = 0.0f, ldfl = 0.0f;
    float lcls = (float)cls_sum / tss;
    if (n_fg > 0) {
        lbox = (float)box_sum / tss;
        ldfl = use_dfl ? (float)dfl_sum / tss : 0.0f;
    }
    if (out) {
        out->loss_items[0] = lbox * hyp->box;
        out->loss_items[1] = lcls * hyp->cls;
        out->loss_items[2] = ldfl * hyp->dfl;
        out->total = ((out->loss_items[0] + out->loss_items[1]) + out->loss_items[2]) * (float)B;
    }
    if (dbg) {
        dbg->loss_unweighted[0] = lbox;
        dbg->loss_unweighted[1] = lcls;
        dbg->loss_unweighted[2] = ldfl;
        dbg->target_scores_sum = tss;
        dbg->n_fg = n_fg;
        double t = cls_sum / tss * hyp->cls;
        if (n_fg > 0)
            t += box_sum / tss * hyp->box + (use_dfl ? dfl_sum / tss * hyp->dfl : 0.0);
        dbg->total_f64 = t * B;
    }
    return AF_OK;
}

af_status af_loss_compute_assigned(const af_loss_hyp *hyp, int batch, int nc,
                                   const af_loss_level *lv, int nlevels,
                                   const af_loss_assignment *as, af_loss_out *out,
                                   float *const *grad, af_loss_debug *dbg, af_error *err)
{
    loss_geom g;
    af_status st = check_geom(hyp, batch, nc, lv, nlevels, &g, err);
    if (st)
        return st;
    return loss_core(hyp, &g, lv, as, out, grad, dbg, err);
}

/* A float that must be a whole number in [0, hi). */
static int whole_index(float v, int hi, int *out)
{
    if (!(v >= 0.0f && v < (float)hi) || v != floorf(v))
        return 0;
    *out = (int)v;
    return 1;
}

af_status af_loss_compute(const af_loss_hyp *hyp, int batch, int nc, int img_h, int img_w,
                          const af_loss_level *lv, int nlevels, const af_loss_targets *t,
                          af_loss_out *out, float *const *grad, af_loss_debug *dbg,
                          af_error *err)
{
    loss_geom g;
    af_status st = check_geom(hyp, batch, nc, lv, nlevels, &g, err);
    if (st)
        return st;
    if (hyp->topk <= 0)
        return af_fail(err, AF_E_ARG, "loss: topk %d must be positive", hyp->topk);
    if (!t || t->n < 0 || t->n > LOSS_MAX_TARGETS ||
        (t->n > 0 && (!t->batch_idx || !t->cls || !t->bboxes)))
        return af_fail(err, AF_E_ARG, "loss: bad targets");
    long ih = (long)lv[0].h * lv[0].stride, iw = (long)lv[0].w * lv[0].stride;
    if ((img_h && img_h != ih) || (img_w && img_w != iw))
        return af_fail(err, AF_E_ARG,
                       "loss: image size %dx%d differs from level 0 (%ldx%ld): ultralytics "
                       "scales targets by level 0 size * stride",
                       img_h, img_w, ih, iw);
    const float H = (float)ih, W = (float)iw;

    /* preprocess: group per image in target order, scale, xywh2xyxy */
    const int n = t->n;
    int *count = calloc((size_t)batch + 1, sizeof *count);
    af_tal_gt *gts = malloc(((size_t)n + 1) * sizeof *gts);
    size_t nab = (size_t)batch * (size_t)g.na;
    int32_t *labels = malloc(nab * sizeof *labels);
    float *bboxes = malloc(nab * 4 * sizeof *bboxes);
    float *scores = malloc(nab * sizeof *scores);
    uint8_t *fg = malloc(nab);
    int32_t *gt_idx = malloc(nab * sizeof *gt_idx);
    int *img = malloc(((size_t)n + 1) * sizeof *img);
    float *cache = malloc((size_t)g.na * 4 * sizeof *cache);
    uint8_t *done = malloc((size_t)g.na);
    if (!count || !gts || !labels || !bboxes || !scores || !fg || !gt_idx || !img || !cache ||
        !done) {
        st = af_fail(err, AF_E_NOMEM, "loss: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int bi, ci;
        if (!whole_index(t->batch_idx[i], batch, &bi)) {
            st = af_fail(err, AF_E_ARG, "loss: target %d has batch_idx %g outside 0..%d", i,
                         (double)t->batch_idx[i], batch - 1);
            goto done;
        }
        if (!whole_index(t->cls[i], nc, &ci)) {
            st = af_fail(err, AF_E_ARG, "loss: target %d has class %g outside 0..%d", i,
                         (double)t->cls[i], nc - 1);
            goto done;
        }
        const float *bb = &t->bboxes[4 * (size_t)i];
        if (!isfinite(bb[0]) || !isfinite(bb[1]) || !isfinite(bb[2]) || !isfinite(bb[3])) {
            st = af_fail(err, AF_E_ARG, "loss: target %d has a non-finite box", i);
            goto done;
        }
        img[i] = bi;
        count[bi + 1]++;
    }
    int n_max = 0;
    for (int b = 0; b < batch; b++) {
        if (count[b + 1] > n_max)
            n_max = count[b + 1];
        count[b + 1] += count[b]; /* now count[b] = first slot of image b */
    }
    {
        int *fill = malloc(((size_t)batch + 1) * sizeof *fill);
        if (!fill) {
            st = af_fail(err, AF_E_NOMEM, "loss: out of memory");
            goto done;
        }
        memcpy(fill, count, ((size_t)batch + 1) * sizeof *fill);
        for (int i = 0; i < n; i++) {
            af_tal_gt *q = &gts[fill[img[i]]++];
            const float *bb = &t->bboxes[4 * (size_t)i];
            float cx = bb[0] * W, cy = bb[1] * H, w = bb[2] * W, h = bb[3] * H;
            float dw = w / 2.0f, dh = h / 2.0f;
            q->box[0] = cx - dw;
            q->box[1] = cy - dh;
            q->box[2] = cx + dw;
            q->box[3] = cy + dh;
            q->label = (int)t->cls[i];
        }
        free(fill);
    }

    /* assign each image */
    af_tal_params tp;
    af_tal_params_default(&tp, nc);
    tp.topk = hyp->topk;
    tp.alpha = hyp->alpha;
    tp.beta = hyp->beta;
    af_tal_level tl[LOSS_MAX_LEVELS];
    for (int l = 0; l < nlevels; l++) {
        tl[l].h = lv[l].h;
        tl[l].w = lv[l].w;
        tl[l].stride = lv[l].stride;
    }
    for (int b = 0; b < batch; b++) {
        size_t o = (size_t)b * (size_t)g.na;
        af_tal_result r = {labels + o, bboxes + 4 * o, scores + o, fg + o, gt_idx + o};
        pred_ctx pc = {lv, &g, b, cache, done};
        memset(done, 0, (size_t)g.na);
        st = af_tal_assign(&tp, tl, nlevels, pred_cb, &pc, gts + count[b], count[b + 1] - count[b],
                           n_max, &r, err);
        if (st)
            goto done;
    }

    af_loss_assignment as = {labels, bboxes, scores, fg};
    st = loss_core(hyp, &g, lv, &as, out, grad, dbg, err);
    if (st || !dbg)
        goto done;
    dbg->n_max_boxes = n_max;
    if (dbg->target_labels)
        memcpy(dbg->target_labels, labels, nab * sizeof *labels);
    if (dbg->target_bboxes)
        memcpy(dbg->target_bboxes, bboxes, nab * 4 * sizeof *bboxes);
    if (dbg->fg_mask)
        memcpy(dbg->fg_mask, fg, nab);
    if (dbg->target_gt_idx)
        memcpy(dbg->target_gt_idx, gt_idx, nab * sizeof *gt_idx);
    if (dbg->target_scores)
        for (size_t i = 0; i < nab; i++)
            for (int c = 0; c < nc; c++)
                dbg->target_scores[i * (size_t)nc + c] =
                    (fg[i] && labels[i] == c) ? scores[i] : 0.0f;

done:
    free(count);
    free(gts);
    free(labels);
    free(bboxes);
    free(scores);
    free(fg);
    free(gt_idx);
    free(img);
    free(cache);
    free(done);
    return st;
}
