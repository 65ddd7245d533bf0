/* DetectionValidator (ultralytics 8.1.9 models/yolo/detect/val.py) over a
 * loaded dataset split. */
#include "eval/validator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "detect/boxes.h"
#include "detect/nms.h"
#include "eval/plot.h"
#include "eval/val_input.h"
#include "model/forward.h"
#include "model/model.h"

#define VAL_PLOT_BATCHES 3

void af_val_options_default(af_val_options *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 16;
    o->conf = 0.001f;
    o->iou = 0.7f;
    o->max_det = 300;
    o->plots = 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void af_val_report_free(af_val_report *r)
{
    af_val_metrics_free(&r->metrics);
    af_issue_list_free(&r->issues);
    memset(r, 0, sizeof *r);
}

typedef struct batch_state {
    af_val_image *imgs;  /* bs */
    int *index;          /* dataset item of each slot */
    int *npred;          /* detections of each slot */
    int n;
    float *input;
    size_t input_cap;
} batch_state;

/* Ground truth of an item in native pixels, the way ultralytics' validator
 * gets it: labels denormalised to the resized image, shifted by LetterBox's
 * unrounded half padding (dw, dh), then mapped back by scale_boxes with the
 * rounded padding and the HEIGHT gain for both axes (ratio_pad[0][0]), and
 * clipped. The predictions go through the same scale_boxes, so both sides
 * carry the same distortion. */
static void gt_boxes(const af_dataset_item *it, const af_val_image *v, float *xyxy, int *cls)
{
    for (int k = 0; k < it->lb.n; k++) {
        const float *b = it->lb.xywhn + 4 * k;
        double x1 = (double)(b[0] - b[2] / 2) * v->rw + v->dw;
        double y1 = (double)(b[1] - b[3] / 2) * v->rh + v->dh;
        double x2 = (double)(b[0] + b[2] / 2) * v->rw + v->dw;
        double y2 = (double)(b[1] + b[3] / 2) * v->rh + v->dh;
        double g = v->gain_h;
        x1 = fmin(fmax((x1 - v->pad_left) / g, 0), v->w0);
        x2 = fmin(fmax((x2 - v->pad_left) / g, 0), v->w0);
        y1 = fmin(fmax((y1 - v->pad_top) / g, 0), v->h0);
        y2 = fmin(fmax((y2 - v->pad_top) / g, 0), v->h0);
        xyxy[4 * k + 0] = (float)x1;
        xyxy[4 * k + 1] = (float)y1;
        xyxy[4 * k + 2] = (float)x2;
        xyxy[4 * k + 3] = (float)y2;
        cls[k] = it->lb.cls[k];
    }
}

/* Whether the labels move by LetterBox's rounded padding (left, top), as
 * ultralytics 8.3.37 and later do (_update_labels(labels, ratio, left, top)),
 * rather than 8.1.9's unrounded half padding (dw, dh): for YOLO11 models, whose
 * reference is 8.3.40. Keyed on the head, not on the checkpoint's `version`: the
 * rule belongs to the validator the numbers are compared with (8.1.9 for YOLOv8,
 * 8.3.40 for YOLO11), not to the release that saved the weights. A YOLOv8 saved
 * by 8.3.0-8.3.16 has this head too and so gets the rounded rule: what any
 * 8.3.37+ validator does with it, though its own release moved labels by (dw, dh);
 * the two differ by under half a pixel. */
static int labels_shift_rounded(const af_model *m)
{
    return m->layers[m->desc.nlayers - 1].spec.dwhead;
}

/* The loss on a validation batch (DetectionValidator with a trainer), by the
 * options' callback: targets normalised to the letterboxed batch image, as the
 * val dataloader gives them. */
static af_status batch_loss(const af_val_options *o, const af_model *m, const af_forward *fwd,
                            const af_dataset *ds, const batch_state *b, int bh, int bw,
                            double *sum, af_error *err)
{
    af_val_loss_batch lb = {.n = b->n, .nc = m->nc, .h = bh, .w = bw};
    lb.nlevels = af_forward_raw(fwd, lb.raw, lb.rh, lb.rw);
    for (int l = 0; l < lb.nlevels; l++)
        lb.stride[l] = m->strides[l];
    int nt = 0;
    for (int i = 0; i < b->n; i++)
        nt += ds->items[b->index[i]].lb.n;
    float *bi = malloc(((size_t)nt + 1) * 6 * sizeof(float));
    if (!bi)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    float *cl = bi + nt, *bx = cl + nt;
    int k = 0;
    for (int i = 0; i < b->n; i++) {
        const af_dataset_item *it = &ds->items[b->index[i]];
        const af_val_image *v = &b->imgs[i];
        for (int j = 0; j < it->lb.n; j++, k++) {
            const float *x = it->lb.xywhn + 4 * j;
            bi[k] = (float)i;
            cl[k] = (float)it->lb.cls[j];
            bx[4 * k + 0] = (float)((x[0] * v->rw + v->dw) / bw);
            bx[4 * k + 1] = (float)((x[1] * v->rh + v->dh) / bh);
            bx[4 * k + 2] = (float)(x[2] * v->rw / bw);
            bx[4 * k + 3] = (float)(x[3] * v->rh / bh);
        }
    }
    lb.nt = nt;
    lb.batch_idx = bi;
    lb.cls = cl;
    lb.bboxes = bx;
    float items[3];
    af_status st = o->loss(o->loss_ctx, &lb, items, err);
    free(bi);
    if (!st)
        for (int j = 0; j < 3; j++)
            sum[j] += items[j];
    return st;
}

/* val_batchN_labels.jpg / _pred.jpg: boxes in the letterboxed input's pixels. */
static af_status plot_batch(const af_val_options *o, const af_dataset *ds, batch_state *b,
                            int bi, const af_detection *const *preds, const int *npred,
                            const char *const *names, int nc, af_error *err)
{
    const af_image *imgs[16];
    af_mosaic_boxes gt[16], pr[16];
    float *buf[32] = {0};
    int n = b->n < 16 ? b->n : 16;
    af_status st = AF_OK;
    for (int i = 0; i < n && !st; i++) {
        const af_val_image *v = &b->imgs[i];
        const af_dataset_item *it = &ds->items[b->index[i]];
        imgs[i] = &v->input;
        int ng = it->lb.n;
        buf[2 * i] = malloc(((size_t)ng * 4 + 1) * sizeof(float));
        buf[2 * i + 1] = malloc(((size_t)npred[i] * 6 + 1) * sizeof(float));
        if (!buf[2 * i] || !buf[2 * i + 1]) {
            st = af_fail(err, AF_E_NOMEM, "out of memory plotting");
            break;
        }
        int *gcls = (int *)malloc(((size_t)ng + 1) * sizeof(int));
        int *pcls = (int *)malloc(((size_t)npred[i] + 1) * sizeof(int));
        if (!gcls || !pcls) {
            free(gcls);
            free(pcls);
            st = af_fail(err, AF_E_NOMEM, "out of memory plotting");
            break;
        }
        float *g = buf[2 * i];
        for (int k = 0; k < ng; k++) {
            const float *x = it->lb.xywhn + 4 * k;
            g[4 * k + 0] = (float)((x[0] - x[2] / 2) * v->rw + v->dw);
            g[4 * k + 1] = (float)((x[1] - x[3] / 2) * v->rh + v->dh);
            g[4 * k + 2] = (float)((x[0] + x[2] / 2) * v->rw + v->dw);
            g[4 * k + 3] = (float)((x[1] + x[3] / 2) * v->rh + v->dh);
            gcls[k] = it->lb.cls[k];
        }
        float *p = buf[2 * i + 1], *pc = p + 4 * (size_t)npred[i];
        for (int k = 0; k < npred[i]; k++) {
            const af_detection *d = &preds[i][k];
            p[4 * k + 0] = d->x1;
            p[4 * k + 1] = d->y1;
            p[4 * k + 2] = d->x2;
            p[4 * k + 3] = d->y2;
            pc[k] = d->conf;
            pcls[k] = d->cls;
        }
        gt[i] = (af_mosaic_boxes){ng, g, gcls, NULL, it->image};
        pr[i] = (af_mosaic_boxes){npred[i], p, pcls, pc, it->image};
    }
    if (!st) {
        char path[4200];
        snprintf(path, sizeof path, "%s/val_batch%d_labels.jpg", o->save_dir, bi);
        st = af_plot_mosaic(path, imgs, n, gt, names, nc, err);
        if (!st) {
            snprintf(path, sizeof path, "%s/val_batch%d_pred.jpg", o->save_dir, bi);
            st = af_plot_mosaic(path, imgs, n, pr, names, nc, err);
        }
    }
    for (int i = 0; i < n; i++) {
        if (buf[2 * i]) {
            free((void *)gt[i].cls);
            free((void *)pr[i].cls);
        }
        free(buf[2 * i]);
        free(buf[2 * i + 1]);
    }
    return st;
}

static af_status plot_metrics(const af_val_options *o, const af_val_metrics *vm,
                              const char *const *names, int nc, af_error *err)
{
    char path[4200];
    af_status st;
    const af_ap_result *ap = &vm->ap;
    if (vm->ap_computed && ap->nc > 0) {
        const char **cn = malloc(ap->nc * sizeof *cn);
        double *ap50 = malloc(ap->nc * sizeof *ap50);
        const char **pn = malloc((ap->n_prec + 1) * sizeof *pn);
        double *pap = malloc((ap->n_prec + 1) * sizeof *pap);
        if (!cn || !ap50 || !pn || !pap) {
            free(cn);
            free(ap50);
            free(pn);
            free(pap);
            return af_fail(err, AF_E_NOMEM, "out of memory plotting");
        }
        for (size_t i = 0; i < ap->nc; i++) {
            cn[i] = names[ap->classes[i]];
            ap50[i] = ap->ap[i * AF_NIOU];
        }
        for (size_t i = 0; i < ap->n_prec; i++) {
            pn[i] = cn[ap->prec_class[i]];
            pap[i] = ap50[ap->prec_class[i]];
        }
        int many = ap->nc >= 21;
        snprintf(path, sizeof path, "%s/PR_curve.png", o->save_dir);
        st = af_plot_curve(path, AF_PLOT_PR, ap->x, ap->prec_values, (int)ap->n_prec,
                           AF_AP_NCURVE, many ? NULL : pn, pap, err);
        struct {
            const char *file;
            af_plot_kind kind;
            const double *y;
        } mc[3] = {{"F1_curve.png", AF_PLOT_F1, ap->f1_curve},
                   {"P_curve.png", AF_PLOT_P, ap->p_curve},
                   {"R_curve.png", AF_PLOT_R, ap->r_curve}};
        for (int k = 0; k < 3 && !st; k++) {
            snprintf(path, sizeof path, "%s/%s", o->save_dir, mc[k].file);
            st = af_plot_curve(path, mc[k].kind, ap->x, mc[k].y, (int)ap->nc, AF_AP_NCURVE,
                               many ? NULL : cn, NULL, err);
        }
        free(cn);
        free(ap50);
        free(pn);
        free(pap);
        if (st)
            return st;
    }
    if (vm->confusion) {
        snprintf(path, sizeof path, "%s/confusion_matrix.png", o->save_dir);
        if ((st = af_plot_confusion(path, vm->confusion, nc, names, 0, err)))
            return st;
        snprintf(path, sizeof path, "%s/confusion_matrix_normalized.png", o->save_dir);
        if ((st = af_plot_confusion(path, vm->confusion, nc, names, 1, err)))
            return st;
    }
    return AF_OK;
}

/* predictions.json in the COCO results format (ultralytics pred_to_json). */
static void json_preds(FILE *f, int *first, const char *image, const af_detection *d, int n)
{
    const char *base = strrchr(image, '/');
    base = base ? base + 1 : image;
    const char *dot = strrchr(base, '.');
    int len = dot ? (int)(dot - base) : (int)strlen(base);
    int numeric = len > 0;
    for (int i = 0; i < len; i++)
        numeric &= base[i] >= '0' && base[i] <= '9';
    for (int i = 0; i < n; i++) {
        fputs(*first ? "[\n" : ",\n", f);
        *first = 0;
        if (numeric)
            fprintf(f, "{\"image_id\": %.*s", len, base);
        else
            fprintf(f, "{\"image_id\": \"%.*s\"", len, base);
        double x = d[i].x1, y = d[i].y1, w = d[i].x2 - d[i].x1, h = d[i].y2 - d[i].y1;
        fprintf(f, ", \"category_id\": %d, \"bbox\": [%.3f, %.3f, %.3f, %.3f], \"score\": %.5f}",
                d[i].cls, x, y, w, h, d[i].conf);
    }
}

af_status af_validate(const af_model *m, const af_dataset *ds, const char *const *names,
                      const af_val_options *o, af_val_progress_fn progress, void *user,
                      af_val_report *out, af_error *err)
{
    memset(out, 0, sizeof *out);
    int imgsz = o->imgsz > 0 ? o->imgsz : m->imgsz;
    int s = m->max_stride, nc = m->nc;
    /* ultralytics check_imgsz: a multiple of the stride */
    imgsz = (imgsz + s - 1) / s * s;
    int bs = o->batch > 0 ? o->batch : 16;
    af_status st = AF_OK;

    /* usable images and their sizes (header only) */
    int n = 0;
    int *idx = malloc((ds->n + 1) * sizeof *idx), *h0 = malloc((ds->n + 1) * sizeof *h0),
        *w0 = malloc((ds->n + 1) * sizeof *w0);
    if (!idx || !h0 || !w0) {
        free(idx);
        free(h0);
        free(w0);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < ds->n; i++) {
        const af_dataset_item *it = &ds->items[i];
        if (it->state == AF_LABEL_CORRUPT)
            continue;
        const char *fmt;
        int no_eoi;
        af_error e2 = {0};
        if (af_image_probe(it->image, &w0[n], &h0[n], &fmt, &no_eoi, &e2)) {
            af_issue_add(&out->issues, AF_ISSUE_CORRUPT, it->image, 0, NULL, "%s", e2.msg);
            out->skipped++;
            continue;
        }
        idx[n++] = (int)i;
    }
    af_val_plan plan = {0};
    af_val_stats *stats = NULL;
    af_forward *fwd = NULL;
    batch_state b = {0};
    af_detection *dets = NULL;
    FILE *jf = NULL;
    int jfirst = 1;
    float *gxy = NULL;
    int *gcls = NULL;
    size_t gcap = 0;
    double t_pre = 0, t_inf = 0, t_post = 0;
    if (n == 0) {
        st = af_fail(err, AF_E_ARG, "no usable images to validate on");
        goto done;
    }
    if ((st = af_val_plan_rect(h0, w0, n, imgsz, s, bs, &plan, err)) ||
        (st = af_val_stats_create(nc, &stats, err)) ||
        (st = af_val_stats_set_confusion(stats, af_nms_decimal_threshold(o->conf), 0.45, err)) ||
        (st = af_forward_create(m, o->threads, &fwd, err)))
        goto done;
    af_forward_keep_raw(fwd, o->loss != NULL);
    int loss_batches = 0;
    b.imgs = calloc((size_t)bs, sizeof *b.imgs);
    b.index = calloc((size_t)bs, sizeof *b.index);
    b.npred = calloc((size_t)bs, sizeof *b.npred);
    dets = malloc((size_t)bs * (o->max_det > 0 ? o->max_det : 300) * sizeof *dets);
    if (!b.imgs || !b.index || !b.npred || !dets) {
        st = af_fail(err, AF_E_NOMEM, "out of memory");
        goto done;
    }
    if (o->save_dir && o->save_json) {
        char path[4200];
        snprintf(path, sizeof path, "%s/predictions.json", o->save_dir);
        if (!(jf = fopen(path, "w"))) {
            st = af_fail(err, AF_E_IO, "cannot write %s", path);
            goto done;
        }
    }
    int done_images = 0;
    for (int bi = 0; bi < plan.nbatch && !st; bi++) {
        int bh = plan.batch_h[bi], bw = plan.batch_w[bi];
        double t0 = now_ms();
        b.n = 0;
        for (int k = bi * bs; k < n && k < (bi + 1) * bs; k++) {
            int item = idx[plan.order[k]];
            const af_dataset_item *it = &ds->items[item];
            af_image img = {0};
            af_error e2 = {0};
            af_status ls = af_image_load(it->image, NULL, &img, &e2);
            if (!ls && (img.w != w0[plan.order[k]] || img.h != h0[plan.order[k]]))
                ls = af_fail(&e2, AF_E_FORMAT, "%s: decoded size differs from its header",
                             it->image);
            if (!ls)
                ls = af_val_prepare(&img, imgsz, bh, bw, &b.imgs[b.n], &e2);
            if (!ls && labels_shift_rounded(m)) {
                b.imgs[b.n].dw = b.imgs[b.n].pad_left;
                b.imgs[b.n].dh = b.imgs[b.n].pad_top;
            }
            af_image_free(&img);
            if (ls) {
                if (ls == AF_E_NOMEM) {
                    st = af_fail(err, ls, "%s", e2.msg);
                    break;
                }
                af_issue_add(&out->issues, AF_ISSUE_CORRUPT, it->image, 0, NULL, "%s", e2.msg);
                out->skipped++;
                continue;
            }
            b.index[b.n++] = item;
        }
        if (st || b.n == 0)
            continue;
        size_t per = (size_t)bh * bw * 3, need = per * b.n;
        if (need > b.input_cap) {
            free(b.input);
            b.input = malloc(need * sizeof *b.input);
            b.input_cap = b.input ? need : 0;
            if (!b.input) {
                st = af_fail(err, AF_E_NOMEM, "out of memory for a validation batch");
                break;
            }
        }
        for (int i = 0; i < b.n; i++)
            for (size_t j = 0; j < per; j++)
                b.input[i * per + j] = (float)b.imgs[i].input.data[j] / 255.0f;
        double t1 = now_ms();
        const float *pred;
        int na;
        if ((st = af_forward_run(fwd, b.input, b.n, bh, bw, &pred, &na, err)))
            break;
        double t2 = now_ms();
        if (o->loss && (st = batch_loss(o, m, fwd, ds, &b, bh, bw, out->loss, err)))
            break;
        loss_batches += o->loss != NULL;
        af_nms_params np;
        af_nms_params_default(&np);
        np.conf_thres = o->conf;
        np.iou_thres = o->iou;
        np.max_det = o->max_det > 0 ? o->max_det : 300;
        np.multi_label = 1;
        const af_detection *bpreds[16];
        int *bnp = b.npred;
        for (int i = 0; i < b.n && !st; i++) {
            af_detection *d = dets + (size_t)i * np.max_det;
            int nd = 0;
            if ((st = af_nms(pred + (size_t)i * (4 + nc) * na, nc, na, &np, d, &nd, err)))
                break;
            bnp[i] = nd;
            if (i < 16)
                bpreds[i] = d;
        }
        if (st)
            break;
        /* mosaics show predictions in input pixels: plot before scaling */
        if (o->plots && o->save_dir && bi < VAL_PLOT_BATCHES) {
            af_detection *copy = malloc(((size_t)b.n * np.max_det + 1) * sizeof *copy);
            const af_detection *cp[16];
            if (!copy) {
                st = af_fail(err, AF_E_NOMEM, "out of memory");
                break;
            }
            for (int i = 0; i < b.n && i < 16; i++) {
                memcpy(copy + (size_t)i * np.max_det, bpreds[i], (size_t)bnp[i] * sizeof *copy);
                cp[i] = copy + (size_t)i * np.max_det;
            }
            st = plot_batch(o, ds, &b, bi, cp, bnp, names, nc, err);
            free(copy);
            if (st)
                break;
        }
        for (int i = 0; i < b.n && !st; i++) {
            af_val_image *v = &b.imgs[i];
            af_detection *d = dets + (size_t)i * np.max_det;
            af_scale_boxes_ratio_pad(d, bnp[i], v->gain_h, v->pad_left, v->pad_top, v->h0, v->w0);
            const af_dataset_item *it = &ds->items[b.index[i]];
            size_t ng = (size_t)it->lb.n;
            if (ng + 1 > gcap) {
                free(gxy);
                free(gcls);
                gcap = ng + 64;
                gxy = malloc(gcap * 4 * sizeof *gxy);
                gcls = malloc(gcap * sizeof *gcls);
                if (!gxy || !gcls) {
                    st = af_fail(err, AF_E_NOMEM, "out of memory");
                    break;
                }
            }
            gt_boxes(it, v, gxy, gcls);
            if ((st = af_val_stats_add_image(stats, d, (size_t)bnp[i], gxy, gcls, ng, err)))
                break;
            if (jf)
                json_preds(jf, &jfirst, it->image, d, bnp[i]);
        }
        double t3 = now_ms();
        t_pre += t1 - t0;
        t_inf += t2 - t1;
        t_post += t3 - t2;
        done_images += b.n;
        out->images += b.n;
        for (int i = 0; i < b.n; i++)
            af_val_image_free(&b.imgs[i]);
        if (progress)
            progress(user, done_images, n);
    }
    if (st)
        goto done;
    if ((st = af_val_stats_finalize(stats, &out->metrics, err)))
        goto done;
    for (int k = 0; k < 3 && loss_batches; k++)
        out->loss[k] /= loss_batches;
    if (out->images > 0)
        out->speed = (af_val_speed){t_pre / out->images, t_inf / out->images, 0,
                                    t_post / out->images};
    if (o->plots && o->save_dir)
        st = plot_metrics(o, &out->metrics, names, nc, err);
done:
    if (jf) {
        fputs(jfirst ? "[]\n" : "\n]\n", jf);
        fclose(jf);
    }
    for (int i = 0; b.imgs && i < bs; i++)
        af_val_image_free(&b.imgs[i]);
    free(b.imgs);
    free(b.index);
    free(b.npred);
    free(b.input);
    free(dets);
    free(gxy);
    free(gcls);
    free(idx);
    free(h0);
    free(w0);
    af_forward_free(fwd);
    af_val_stats_free(stats);
    af_val_plan_free(&plan);
    return st;
}
