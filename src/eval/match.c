/* DetectionValidator.match_predictions (engine/validator.py, use_scipy=False). */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "eval/metrics.h"

/* torch.linspace(0.5, 0.95, 10) in float32 (checked against the golden iouv). */
static const float k_iouv[AF_NIOU] = {
    0x1p-1f,        0x1.19999ap-1f, 0x1.333334p-1f, 0x1.4cccccp-1f, 0x1.666666p-1f,
    0x1.8p-1f,      0x1.99999ap-1f, 0x1.b33334p-1f, 0x1.ccccccp-1f, 0x1.e66666p-1f,
};

const float *af_iou_thresholds(void)
{
    return k_iouv;
}

/*
 * Per threshold, as ultralytics does it:
 *   matches = nonzero(iou * same_class >= t)          (label, pred) row-major
 *   matches = matches[argsort(iou)[::-1]]             highest IoU first
 *   matches = matches[unique(pred, return_index)]     best label per pred, by pred
 *   matches = matches[unique(label, return_index)]    first (lowest) pred per label
 * np.unique with return_index keeps the first occurrence (stable mergesort).
 */
af_status af_match_predictions(const int *pred_cls, size_t npred, const int *true_cls,
                               size_t ntrue, const float *iou, uint8_t *tp, af_error *err)
{
    size_t ncell, ntp;
    if (af_mul_size(ntrue, npred, &ncell) || af_mul_size(npred, AF_NIOU, &ntp))
        return af_fail(err, AF_E_LIMIT, "match_predictions: %zu labels x %zu predictions is too large",
                       ntrue, npred);
    if (ntp)
        memset(tp, 0, ntp);
    if (!npred || !ntrue)
        return AF_OK;

    /* candidates at the lowest threshold bound every later count */
    size_t cap = 0;
    for (size_t i = 0; i < ntrue; i++)
        for (size_t j = 0; j < npred; j++)
            cap += true_cls[i] == pred_cls[j] && iou[i * npred + j] >= k_iouv[0];
    if (!cap)
        return AF_OK;

    size_t *mi = malloc(cap * sizeof *mi), *mj = malloc(cap * sizeof *mj);
    size_t *ord = malloc(cap * sizeof *ord);
    float *val = malloc(cap * sizeof *val);
    size_t *best = malloc(npred * sizeof *best); /* match index per pred, or SIZE_MAX */
    uint8_t *label_done = malloc(ntrue);
    if (!mi || !mj || !ord || !val || !best || !label_done) {
        free(mi), free(mj), free(ord), free(val), free(best), free(label_done);
        return af_fail(err, AF_E_NOMEM, "match_predictions: out of memory for %zu matches", cap);
    }

    for (int t = 0; t < AF_NIOU; t++) {
        const float thr = k_iouv[t];
        size_t n = 0;
        for (size_t i = 0; i < ntrue; i++)
            for (size_t j = 0; j < npred; j++) {
                float v = iou[i * npred + j];
                if (true_cls[i] == pred_cls[j] && v >= thr && n < cap) {
                    mi[n] = i;
                    mj[n] = j;
                    val[n] = v;
                    n++;
                }
            }
        if (n == 0)
            continue;
        if (n == 1) {
            tp[mj[0] * AF_NIOU + (size_t)t] = 1;
            continue;
        }
        af_np_argsort_f32(val, n, ord);
        for (size_t j = 0; j < npred; j++)
            best[j] = SIZE_MAX;
        for (size_t k = n; k-- > 0;) { /* reversed: descending IoU */
            size_t m = ord[k];
            if (best[mj[m]] == SIZE_MAX)
                best[mj[m]] = m;
        }
        memset(label_done, 0, ntrue);
        for (size_t j = 0; j < npred; j++) { /* ascending pred index */
            size_t m = best[j];
            if (m == SIZE_MAX || label_done[mi[m]])
                continue;
            label_done[mi[m]] = 1;
            tp[j * AF_NIOU + (size_t)t] = 1;
        }
    }
    free(mi), free(mj), free(ord), free(val), free(best), free(label_done);
    return AF_OK;
}
