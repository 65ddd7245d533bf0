#include "eval/val_input.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/letterbox.h"
#include "detect/resize.h"
#include "eval/metrics.h"

af_status af_val_plan_rect(const int *h0, const int *w0, int n, int imgsz, int stride, int bs,
                           af_val_plan *p, af_error *err)
{
    memset(p, 0, sizeof *p);
    if (n < 1 || bs < 1 || imgsz < 1 || stride < 1)
        return af_fail(err, AF_E_ARG, "validation needs images, a batch size and an imgsz");
    p->n = n;
    p->bs = bs;
    p->nbatch = (n + bs - 1) / bs;
    double *ar = malloc((size_t)n * sizeof *ar);
    size_t *ord = malloc((size_t)n * sizeof *ord);
    p->order = malloc((size_t)n * sizeof *p->order);
    p->batch_h = malloc((size_t)p->nbatch * sizeof *p->batch_h);
    p->batch_w = malloc((size_t)p->nbatch * sizeof *p->batch_w);
    if (!ar || !ord || !p->order || !p->batch_h || !p->batch_w) {
        free(ar);
        free(ord);
        af_val_plan_free(p);
        return af_fail(err, AF_E_NOMEM, "out of memory planning validation batches");
    }
    /* ar = h/w; irect = ar.argsort(): numpy's (unstable) order, since it decides
     * which of several equal-ratio images lands in which batch */
    for (int i = 0; i < n; i++)
        ar[i] = (double)h0[i] / (double)w0[i];
    af_np_argsort_f64(ar, (size_t)n, ord);
    for (int i = 0; i < n; i++)
        p->order[i] = (int)ord[i];
    for (int b = 0; b < p->nbatch; b++) {
        double mini = ar[ord[b * bs]], maxi = mini;
        for (int k = b * bs; k < n && k < (b + 1) * bs; k++) {
            mini = fmin(mini, ar[ord[k]]);
            maxi = fmax(maxi, ar[ord[k]]);
        }
        double sh = 1, sw = 1;
        if (maxi < 1)
            sh = maxi;
        else if (mini > 1)
            sw = 1 / mini;
        /* np.ceil(shapes * imgsz / stride + pad).astype(int) * stride, pad 0.5 */
        p->batch_h[b] = (int)ceil(sh * imgsz / stride + 0.5) * stride;
        p->batch_w[b] = (int)ceil(sw * imgsz / stride + 0.5) * stride;
    }
    free(ar);
    free(ord);
    return AF_OK;
}

void af_val_plan_free(af_val_plan *p)
{
    free(p->order);
    free(p->batch_h);
    free(p->batch_w);
    memset(p, 0, sizeof *p);
}

af_status af_val_prepare(const af_image *orig, int imgsz, int bh, int bw, af_val_image *v,
                         af_error *err)
{
    memset(v, 0, sizeof *v);
    v->h0 = orig->h;
    v->w0 = orig->w;
    af_image resized = {0};
    const af_image *src = orig;
    double r = (double)imgsz / (orig->h > orig->w ? orig->h : orig->w);
    if (r != 1) {
        int w = (int)ceil(orig->w * r), h = (int)ceil(orig->h * r);
        w = w < imgsz ? w : imgsz;
        h = h < imgsz ? h : imgsz;
        af_status st = af_resize_linear_u8(orig, w < 1 ? 1 : w, h < 1 ? 1 : h, &resized, err);
        if (st)
            return st;
        src = &resized;
    }
    v->gain_h = (double)src->h / orig->h;
    v->gain_w = (double)src->w / orig->w;
    af_letterbox lb;
    af_letterbox_plan(src->h, src->w, bh, bw, 32, 0, 0, 1, &lb);
    v->pad_left = lb.left;
    v->pad_top = lb.top;
    v->rw = src->w;
    v->rh = src->h;
    v->dw = (bw - src->w) / 2.0;
    v->dh = (bh - src->h) / 2.0;
    af_status st = af_letterbox_apply(src, &lb, 114, &v->input, err);
    af_image_free(&resized);
    return st;
}

void af_val_image_free(af_val_image *v)
{
    af_image_free(&v->input);
}
