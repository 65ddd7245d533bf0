/* metrics.ConfusionMatrix for detection (ultralytics 8.1.9). */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "eval/metrics.h"

#define CM_MAX_NC 100000

af_status af_confusion_init(af_confusion *cm, int nc, double conf, double iou_thres,
                            af_error *err)
{
    memset(cm, 0, sizeof *cm);
    if (nc < 1 || nc > CM_MAX_NC)
        return af_fail(err, AF_E_ARG, "confusion matrix: %d classes (need 1 to %d)", nc,
                       CM_MAX_NC);
    /* `0.25 if conf in (None, 0.001) else conf` */
    cm->conf = (conf < 0.0 || conf == 0.001) ? 0.25f : (float)conf;
    cm->iou_thres = (float)iou_thres;
    cm->nc = nc;
    size_t n = (size_t)(nc + 1) * (size_t)(nc + 1);
    cm->matrix = calloc(n, sizeof *cm->matrix);
    if (!cm->matrix)
        return af_fail(err, AF_E_NOMEM, "confusion matrix: out of memory for %d classes", nc);
    return AF_OK;
}

void af_confusion_free(af_confusion *cm)
{
    if (!cm)
        return;
    free(cm->matrix);
    memset(cm, 0, sizeof *cm);
}

static double *cell(af_confusion *cm, int pred, int truth)
{
    return &cm->matrix[(size_t)pred * (size_t)(cm->nc + 1) + (size_t)truth];
}

/* matches[argsort(iou)[::-1]] then matches[np.unique(key, return_index=True)[1]]:
 * keeps, per key value, the match with the highest IoU (first in the reversed
 * argsort), and returns them ordered by key. list/n in, out: kept count. */
static size_t best_per_key(const size_t *key, const float *val, size_t *list, size_t n,
                           size_t nkey, size_t *ord, float *tmpv, size_t *first)
{
    for (size_t k = 0; k < n; k++)
        tmpv[k] = val[list[k]];
    af_np_argsort_f32(tmpv, n, ord);
    for (size_t q = 0; q < nkey; q++)
        first[q] = SIZE_MAX;
    for (size_t k = n; k-- > 0;) {
        size_t m = list[ord[k]];
        if (first[key[m]] == SIZE_MAX)
            first[key[m]] = m;
    }
    size_t out = 0;
    for (size_t q = 0; q < nkey; q++)
        if (first[q] != SIZE_MAX)
            list[out++] = first[q];
    return out;
}

af_status af_confusion_process(af_confusion *cm, const af_detection *dets, size_t ndet,
                               const float *gt_xyxy, const int *gt_cls, size_t ngt,
                               af_error *err)
{
    const int nc = cm->nc;
    for (size_t i = 0; i < ngt; i++)
        if (gt_cls[i] < 0 || gt_cls[i] >= nc)
            return af_fail(err, AF_E_ARG, "confusion matrix: label class %d outside 0..%d",
                           gt_cls[i], nc - 1);
    if (dets)
        for (size_t i = 0; i < ndet; i++)
            if (dets[i].cls < 0 || dets[i].cls >= nc)
                return af_fail(err, AF_E_ARG,
                               "confusion matrix: detection class %d outside 0..%d",
                               dets[i].cls, nc - 1);

    if (ngt == 0) { /* no labels: confident detections are false positives */
        if (dets)
            for (size_t i = 0; i < ndet; i++)
                if (dets[i].conf > cm->conf)
                    *cell(cm, dets[i].cls, nc) += 1;
        return AF_OK;
    }
    if (!dets) { /* detections=None: every label is a background FN */
        for (size_t i = 0; i < ngt; i++)
            *cell(cm, nc, gt_cls[i]) += 1;
        return AF_OK;
    }

    size_t nd = 0;
    for (size_t i = 0; i < ndet; i++)
        nd += dets[i].conf > cm->conf;
    size_t ncell, nbox;
    if (af_mul_size(ngt, nd, &ncell) || ncell > SIZE_MAX / 16 || af_mul_size(nd, 4, &nbox))
        return af_fail(err, AF_E_LIMIT, "confusion matrix: %zu labels x %zu detections is too large",
                       ngt, nd);
    size_t nall = ncell + ngt + nd + 1;
    float *boxes = malloc((nbox + 1) * sizeof *boxes);
    float *iou = malloc((ncell + 1) * sizeof *iou);
    int *dcls = malloc((nd + 1) * sizeof *dcls);
    size_t *mi = malloc(nall * sizeof *mi), *mj = malloc(nall * sizeof *mj);
    size_t *list = malloc(nall * sizeof *list), *ord = malloc(nall * sizeof *ord);
    size_t *first = malloc(nall * sizeof *first);
    float *mv = malloc(nall * sizeof *mv), *tmpv = malloc(nall * sizeof *tmpv);
    uint8_t *det_matched = calloc(nd + 1, 1);
    size_t *gt_match = malloc((ngt + 1) * sizeof *gt_match);
    af_status st = AF_OK;
    if (!boxes || !iou || !dcls || !mi || !mj || !list || !ord || !first || !mv || !tmpv ||
        !det_matched || !gt_match) {
        st = af_fail(err, AF_E_NOMEM, "confusion matrix: out of memory");
        goto done;
    }
    for (size_t i = 0, k = 0; i < ndet; i++) {
        if (!(dets[i].conf > cm->conf))
            continue;
        boxes[4 * k] = dets[i].x1;
        boxes[4 * k + 1] = dets[i].y1;
        boxes[4 * k + 2] = dets[i].x2;
        boxes[4 * k + 3] = dets[i].y2;
        dcls[k++] = dets[i].cls;
    }
    af_box_iou(gt_xyxy, ngt, boxes, nd, iou);

    /* torch.where(iou > iou_thres), row-major */
    size_t n = 0;
    for (size_t i = 0; i < ngt; i++)
        for (size_t j = 0; j < nd; j++)
            if (iou[i * nd + j] > cm->iou_thres) {
                mi[n] = i;
                mj[n] = j;
                mv[n] = iou[i * nd + j];
                list[n] = n;
                n++;
            }
    if (n > 1) {
        n = best_per_key(mj, mv, list, n, nd, ord, tmpv, first);  /* one label per detection */
        n = best_per_key(mi, mv, list, n, ngt, ord, tmpv, first); /* one detection per label */
    }

    for (size_t i = 0; i < ngt; i++)
        gt_match[i] = SIZE_MAX;
    for (size_t k = 0; k < n; k++) {
        gt_match[mi[list[k]]] = mj[list[k]];
        det_matched[mj[list[k]]] = 1;
    }
    for (size_t i = 0; i < ngt; i++) {
        if (n && gt_match[i] != SIZE_MAX)
            *cell(cm, dcls[gt_match[i]], gt_cls[i]) += 1; /* correct */
        else
            *cell(cm, nc, gt_cls[i]) += 1; /* true background */
    }
    if (n) /* ultralytics counts unmatched detections only when something matched */
        for (size_t j = 0; j < nd; j++)
            if (!det_matched[j])
                *cell(cm, dcls[j], nc) += 1; /* predicted background */
done:
    free(boxes), free(iou), free(dcls), free(mi), free(mj), free(list), free(ord);
    free(first), free(mv), free(tmpv), free(det_matched), free(gt_match);
    return st;
}
