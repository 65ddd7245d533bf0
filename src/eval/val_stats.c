/* DetectionValidator.update_metrics / get_stats and DetMetrics (ultralytics 8.1.9). */
#include "eval/val_stats.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

#define VS_MAX_ITEMS ((size_t)1 << 31)

struct af_val_stats {
    int nc;
    int seen;
    af_confusion cm;
    size_t npred, cap_pred;
    float *conf;
    int *pcls;
    uint8_t *tp;
    size_t ntarget, cap_target;
    int *tcls;
};

af_status af_val_stats_create(int nc, af_val_stats **out, af_error *err)
{
    *out = NULL;
    af_val_stats *s = calloc(1, sizeof *s);
    if (!s)
        return af_fail(err, AF_E_NOMEM, "val stats: out of memory");
    af_status st = af_confusion_init(&s->cm, nc, 0.25, 0.45, err);
    if (st != AF_OK) {
        free(s);
        return st;
    }
    s->nc = nc;
    *out = s;
    return AF_OK;
}

af_status af_val_stats_set_confusion(af_val_stats *s, double val_conf, double iou_thres,
                                     af_error *err)
{
    if (s->seen)
        return af_fail(err, AF_E_ARG, "val stats: confusion settings after the first image");
    af_confusion cm;
    af_status st = af_confusion_init(&cm, s->nc, val_conf, iou_thres, err);
    if (st != AF_OK)
        return st;
    af_confusion_free(&s->cm);
    s->cm = cm;
    return AF_OK;
}

void af_val_stats_free(af_val_stats *s)
{
    if (!s)
        return;
    af_confusion_free(&s->cm);
    free(s->conf);
    free(s->pcls);
    free(s->tp);
    free(s->tcls);
    free(s);
}

size_t af_val_stats_num_predictions(const af_val_stats *s)
{
    return s->npred;
}

const uint8_t *af_val_stats_tp(const af_val_stats *s)
{
    return s->tp;
}

static af_status grow_preds(af_val_stats *s, size_t add, af_error *err)
{
    size_t need;
    if (af_add_size(s->npred, add, &need) || need > VS_MAX_ITEMS)
        return af_fail(err, AF_E_LIMIT, "val stats: more than %zu predictions", VS_MAX_ITEMS);
    if (need <= s->cap_pred)
        return AF_OK;
    size_t cap = s->cap_pred ? s->cap_pred : 1024;
    while (cap < need)
        cap *= 2;
    float *c = realloc(s->conf, cap * sizeof *c);
    if (c)
        s->conf = c;
    int *k = realloc(s->pcls, cap * sizeof *k);
    if (k)
        s->pcls = k;
    uint8_t *t = realloc(s->tp, cap * AF_NIOU);
    if (t)
        s->tp = t;
    if (!c || !k || !t)
        return af_fail(err, AF_E_NOMEM, "val stats: out of memory for %zu predictions", cap);
    s->cap_pred = cap;
    return AF_OK;
}

static af_status reserve_targets(af_val_stats *s, size_t add, af_error *err)
{
    size_t need;
    if (af_add_size(s->ntarget, add, &need) || need > VS_MAX_ITEMS)
        return af_fail(err, AF_E_LIMIT, "val stats: more than %zu labels", VS_MAX_ITEMS);
    if (need <= s->cap_target)
        return AF_OK;
    size_t cap = s->cap_target ? s->cap_target : 256;
    while (cap < need)
        cap *= 2;
    int *t = realloc(s->tcls, cap * sizeof *t);
    if (!t)
        return af_fail(err, AF_E_NOMEM, "val stats: out of memory for %zu labels", cap);
    s->tcls = t;
    s->cap_target = cap;
    return AF_OK;
}

/* after reserve_targets */
static void append_targets(af_val_stats *s, const int *cls, size_t n)
{
    if (n)
        memcpy(s->tcls + s->ntarget, cls, n * sizeof *cls);
    s->ntarget += n;
}

af_status af_val_stats_add_image(af_val_stats *s, const af_detection *pred, size_t npred,
                                 const float *gt_xyxy, const int *gt_cls, size_t ngt,
                                 af_error *err)
{
    if ((npred && !pred) || (ngt && (!gt_xyxy || !gt_cls)))
        return af_fail(err, AF_E_ARG, "val stats: NULL predictions or labels with a count");
    for (size_t i = 0; i < npred; i++)
        if (pred[i].cls < 0 || pred[i].cls >= s->nc)
            return af_fail(err, AF_E_ARG, "val stats: prediction class %d outside 0..%d",
                           pred[i].cls, s->nc - 1);
    for (size_t i = 0; i < ngt; i++)
        if (gt_cls[i] < 0 || gt_cls[i] >= s->nc)
            return af_fail(err, AF_E_ARG, "val stats: label class %d outside 0..%d", gt_cls[i],
                           s->nc - 1);
    size_t ncell;
    if (af_mul_size(ngt, npred, &ncell) || ncell > SIZE_MAX / sizeof(float) - 1)
        return af_fail(err, AF_E_LIMIT, "val stats: %zu labels x %zu predictions is too large",
                       ngt, npred);
    if (s->seen == INT32_MAX)
        return af_fail(err, AF_E_LIMIT, "val stats: too many images");
    af_status st;
    if ((st = grow_preds(s, npred, err)) != AF_OK)
        return st;
    /* reserve first: nothing is recorded until nothing more can fail */
    if ((st = reserve_targets(s, ngt, err)) != AF_OK)
        return st;

    if (npred == 0) {
        if (ngt) {
            if ((st = af_confusion_process(&s->cm, NULL, 0, gt_xyxy, gt_cls, ngt, err)) != AF_OK)
                return st;
            append_targets(s, gt_cls, ngt);
        }
        s->seen++;
        return AF_OK;
    }

    uint8_t *tp = s->tp + s->npred * AF_NIOU;
    int *pc = s->pcls + s->npred;
    for (size_t i = 0; i < npred; i++) {
        s->conf[s->npred + i] = pred[i].conf;
        pc[i] = pred[i].cls;
    }
    if (ngt) {
        float *boxes = malloc((npred * 4) * sizeof *boxes);
        float *iou = malloc((ncell + 1) * sizeof *iou);
        if (!boxes || !iou) {
            free(boxes);
            free(iou);
            return af_fail(err, AF_E_NOMEM, "val stats: out of memory for %zu x %zu IoUs", ngt,
                           npred);
        }
        for (size_t i = 0; i < npred; i++) {
            boxes[4 * i] = pred[i].x1;
            boxes[4 * i + 1] = pred[i].y1;
            boxes[4 * i + 2] = pred[i].x2;
            boxes[4 * i + 3] = pred[i].y2;
        }
        af_box_iou(gt_xyxy, ngt, boxes, npred, iou);
        st = af_match_predictions(pc, npred, gt_cls, ngt, iou, tp, err);
        free(boxes);
        free(iou);
        if (st != AF_OK)
            return st;
        /* it allocates before it counts anything, so a failure leaves it as it was */
        if ((st = af_confusion_process(&s->cm, pred, npred, gt_xyxy, gt_cls, ngt, err)) != AF_OK)
            return st;
        append_targets(s, gt_cls, ngt);
    } else {
        memset(tp, 0, npred * AF_NIOU);
    }
    s->npred += npred;
    s->seen++;
    return AF_OK;
}

void af_val_metrics_free(af_val_metrics *m)
{
    if (!m)
        return;
    free(m->rows);
    free(m->nt_per_class);
    free(m->maps);
    free(m->confusion);
    af_ap_result_free(&m->ap);
    memset(m, 0, sizeof *m);
}

/* ndarray.mean(): add.reduce (0.0 + pairwise sum) / count */
static double np_mean(const double *a, size_t n, size_t stride)
{
    return (0.0 + af_np_pairwise_sum(a, n, stride)) / (double)n;
}

af_status af_val_stats_finalize(const af_val_stats *s, af_val_metrics *m, af_error *err)
{
    memset(m, 0, sizeof *m);
    const int nc = s->nc;
    const size_t ncm = (size_t)(nc + 1) * (size_t)(nc + 1);
    m->nc = nc;
    m->images = s->seen;
    m->nt_per_class = calloc((size_t)nc, sizeof *m->nt_per_class);
    m->maps = calloc((size_t)nc, sizeof *m->maps);
    m->confusion = malloc(ncm * sizeof *m->confusion);
    if (!m->nt_per_class || !m->maps || !m->confusion) {
        af_val_metrics_free(m);
        return af_fail(err, AF_E_NOMEM, "val metrics: out of memory for %d classes", nc);
    }
    memcpy(m->confusion, s->cm.matrix, ncm * sizeof *m->confusion);
    m->confusion_conf = s->cm.conf;
    m->confusion_iou = s->cm.iou_thres;
    for (size_t i = 0; i < s->ntarget; i++)
        m->nt_per_class[s->tcls[i]]++;
    m->instances = (int64_t)s->ntarget;

    /* get_stats: `if len(stats) and stats["tp"].any(): self.metrics.process(**stats)` */
    int any = 0;
    for (size_t i = 0; i < s->npred * AF_NIOU && !any; i++)
        any = s->tp[i] != 0;
    if (any) {
        af_status st = af_ap_per_class(s->tp, s->conf, s->pcls, s->npred, s->tcls, s->ntarget,
                                       &m->ap, err);
        if (st != AF_OK) {
            af_val_metrics_free(m);
            return st;
        }
        m->ap_computed = 1;
    }

    const af_ap_result *a = &m->ap;
    if (m->ap_computed && a->nc) {
        m->p = np_mean(a->p, a->nc, 1);
        m->r = np_mean(a->r, a->nc, 1);
        m->map50 = np_mean(a->ap, a->nc, AF_NIOU);
        m->map = np_mean(a->ap, a->nc * AF_NIOU, 1);
        m->rows = calloc(a->nc, sizeof *m->rows);
        if (!m->rows) {
            af_val_metrics_free(m);
            return af_fail(err, AF_E_NOMEM, "val metrics: out of memory");
        }
        m->nrows = a->nc;
    }
    /* fitness: (np.array([mp, mr, map50, map]) * [0, 0, 0.1, 0.9]).sum() */
    {
        const double v[4] = {m->p * 0.0, m->r * 0.0, m->map50 * 0.1, m->map * 0.9};
        m->fitness = 0.0 + af_np_pairwise_sum(v, 4, 1);
    }
    for (int c = 0; c < nc; c++)
        m->maps[c] = 0.0 + m->map;
    for (size_t i = 0; i < m->nrows; i++) {
        af_val_class_row *row = &m->rows[i];
        row->cls = a->classes[i];
        row->images = s->seen;
        row->instances = m->nt_per_class[row->cls];
        row->p = a->p[i];
        row->r = a->r[i];
        row->map50 = a->ap[i * AF_NIOU];
        row->map = np_mean(a->ap + i * AF_NIOU, AF_NIOU, 1);
        m->maps[row->cls] = row->map;
    }
    return AF_OK;
}
