/*
 * The per-sample pipeline (v8_transforms + Format, see augment.h), the box container it
 * carries labels in, and the batch collation.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "detect/letterbox.h"
#include "train/augment.h"

#define MAX_BOXES (1 << 24)

void af_aug_hyp_default(af_aug_hyp *h)
{
    memset(h, 0, sizeof *h);
    h->hsv_h = 0.015f;
    h->hsv_s = 0.7f;
    h->hsv_v = 0.4f;
    h->degrees = 0.0f;
    h->translate = 0.1f;
    h->scale = 0.5f;
    h->shear = 0.0f;
    h->perspective = 0.0f;
    h->flipud = 0.0f;
    h->fliplr = 0.5f;
    h->mosaic = 1.0f;
    h->mixup = 0.0f;
}

void af_labelled_free(af_labelled *l)
{
    if (!l)
        return;
    if (l->owned) {
        af_image_free(&l->img);
        free(l->cls);
        free(l->xywhn);
    }
    memset(l, 0, sizeof *l);
}

/* ---- boxes ---- */

af_status af_boxes_reserve(af_boxes *b, int cap, af_error *err)
{
    if (cap <= b->cap)
        return AF_OK;
    if (cap > MAX_BOXES)
        return af_fail(err, AF_E_LIMIT, "augment: %d boxes in one sample is over the limit %d",
                       cap, MAX_BOXES);
    int nc = b->cap ? b->cap : 16;
    while (nc < cap)
        nc = nc > MAX_BOXES / 2 ? MAX_BOXES : nc * 2;
    int *cls = realloc(b->cls, (size_t)nc * sizeof(int));
    if (!cls)
        return af_fail(err, AF_E_NOMEM, "augment: out of memory for %d boxes", nc);
    b->cls = cls;
    float *xy = realloc(b->xyxy, (size_t)nc * 4 * sizeof(float));
    if (!xy)
        return af_fail(err, AF_E_NOMEM, "augment: out of memory for %d boxes", nc);
    b->xyxy = xy;
    b->cap = nc;
    return AF_OK;
}

af_status af_boxes_push(af_boxes *b, int cls, const float xyxy[4], af_error *err)
{
    if (b->n == INT_MAX)
        return af_fail(err, AF_E_LIMIT, "augment: too many boxes");
    af_status st = af_boxes_reserve(b, b->n + 1, err);
    if (st)
        return st;
    b->cls[b->n] = cls;
    memcpy(b->xyxy + 4 * (size_t)b->n, xyxy, 4 * sizeof(float));
    b->n++;
    return AF_OK;
}

af_status af_boxes_append(af_boxes *dst, const af_boxes *src, af_error *err)
{
    if (src->n > MAX_BOXES - dst->n)
        return af_fail(err, AF_E_LIMIT, "augment: %d + %d boxes is over the limit %d", dst->n,
                       src->n, MAX_BOXES);
    af_status st = af_boxes_reserve(dst, dst->n + src->n, err);
    if (st)
        return st;
    if (src->n > 0) {
        memcpy(dst->cls + dst->n, src->cls, (size_t)src->n * sizeof(int));
        memcpy(dst->xyxy + 4 * (size_t)dst->n, src->xyxy, (size_t)src->n * 4 * sizeof(float));
    }
    dst->n += src->n;
    return AF_OK;
}

af_status af_boxes_add_labelled(af_boxes *dst, const af_labelled *l, double ratio, double padw,
                                double padh, af_error *err)
{
    if (l->n < 0 || (l->n > 0 && (!l->cls || !l->xywhn)))
        return af_fail(err, AF_E_ARG, "augment: labelled image has %d boxes but no arrays", l->n);
    if (l->n > MAX_BOXES - dst->n)
        return af_fail(err, AF_E_LIMIT, "augment: %d + %d boxes is over the limit %d", dst->n,
                       l->n, MAX_BOXES);
    af_status st = af_boxes_reserve(dst, dst->n + l->n, err);
    if (st)
        return st;
    /* float32 steps as ultralytics: xywh2xyxy, denormalize (* w, h), scale (* r), add pad */
    float W = (float)l->img.w, H = (float)l->img.h, r = (float)ratio;
    float pw = (float)padw, ph = (float)padh;
    for (int i = 0; i < l->n; i++) {
        const float *p = l->xywhn + 4 * (size_t)i;
        float hw = p[2] / 2, hh = p[3] / 2;
        float *q = dst->xyxy + 4 * (size_t)(dst->n + i);
        q[0] = (p[0] - hw) * W * r + pw;
        q[1] = (p[1] - hh) * H * r + ph;
        q[2] = (p[0] + hw) * W * r + pw;
        q[3] = (p[1] + hh) * H * r + ph;
        dst->cls[dst->n + i] = l->cls[i];
    }
    dst->n += l->n;
    return AF_OK;
}

void af_boxes_clip(af_boxes *b, float w, float h)
{
    for (int i = 0; i < b->n; i++) {
        float *p = b->xyxy + 4 * (size_t)i;
        for (int j = 0; j < 4; j++) {
            float lim = (j & 1) ? h : w;
            p[j] = p[j] < 0.0f ? 0.0f : p[j] > lim ? lim : p[j];
        }
    }
}

void af_boxes_select(af_boxes *b, const uint8_t *keep)
{
    int k = 0;
    for (int i = 0; i < b->n; i++) {
        if (!keep[i])
            continue;
        if (k != i) {
            b->cls[k] = b->cls[i];
            memmove(b->xyxy + 4 * (size_t)k, b->xyxy + 4 * (size_t)i, 4 * sizeof(float));
        }
        k++;
    }
    b->n = k;
}

void af_boxes_free(af_boxes *b)
{
    if (!b)
        return;
    free(b->cls);
    free(b->xyxy);
    memset(b, 0, sizeof *b);
}

/* ---- the pipeline ---- */

typedef struct ctx {
    af_load_fn load;
    void *user;
    int nimages, imgsz;
    const af_aug_hyp *hyp;
    float mosaic_p;
    af_rng *rng;
} ctx;

static af_status load_checked(const ctx *c, int index, af_labelled *l, af_error *err)
{
    memset(l, 0, sizeof *l);
    af_status st = c->load(c->user, index, l, err);
    if (st) {
        af_labelled_free(l);
        return st;
    }
    if (!l->img.data || l->img.c != 3 || l->img.w < 1 || l->img.h < 1 || l->n < 0 ||
        (l->n > 0 && (!l->cls || !l->xywhn))) {
        af_labelled_free(l);
        return af_fail(err, AF_E_ARG,
                       "augment: the loader gave item %d without an RGB image or its labels",
                       index);
    }
    return AF_OK;
}

/* Mosaic / LetterBox + RandomPerspective of one item: img becomes imgsz x imgsz. */
static af_status pre_transform(const ctx *c, int index, af_image *img, af_boxes *b,
                               af_error *err)
{
    int s = c->imgsz;
    af_labelled tiles[4];
    memset(tiles, 0, sizeof tiles);
    af_status st = load_checked(c, index, &tiles[0], err);
    if (st)
        return st;
    int border = 0;
    double u = af_rng_uniform(c->rng, 0.0, 1.0);
    if (c->mosaic_p > 0.0f && !(u > c->mosaic_p)) {
        int idx[3];
        for (int k = 0; k < 3; k++)
            idx[k] = af_rng_int(c->rng, 0, c->nimages - 1);
        for (int k = 0; k < 3 && !st; k++)
            st = load_checked(c, idx[k], &tiles[k + 1], err);
        if (!st) {
            int xc, yc;
            af_mosaic_center(c->rng, s, &xc, &yc);
            const af_labelled *tp[4] = {&tiles[0], &tiles[1], &tiles[2], &tiles[3]};
            st = af_mosaic4(tp, s, xc, yc, img, b, err);
        }
        border = -(s / 2);
    } else {
        af_letterbox lb;
        af_letterbox_plan(tiles[0].img.h, tiles[0].img.w, s, s, 32, 0, 1, 1, &lb);
        st = af_letterbox_apply(&tiles[0].img, &lb, 114, img, err);
        if (!st)
            st = af_boxes_add_labelled(
                b, &tiles[0], lb.ratio, c->hyp->labels_pad_rounded ? lb.left : (s - lb.new_w) / 2.0,
                c->hyp->labels_pad_rounded ? lb.top : (s - lb.new_h) / 2.0, err);
    }
    for (int k = 0; k < 4; k++)
        af_labelled_free(&tiles[k]);
    if (!st)
        st = af_random_perspective(c->rng, c->hyp, border, img, b, err);
    if (!st && (img->w != s || img->h != s))
        st = af_fail(err, AF_E_INTERNAL, "augment: pipeline gave %dx%d, not %dx%d", img->w,
                     img->h, s, s);
    return st;
}

af_status af_augment(af_load_fn load, void *user, int nimages, int index, int imgsz,
                     const af_aug_hyp *hyp, int use_mosaic, uint64_t seed, int epoch,
                     af_sample *out, af_error *err)
{
    if (!out)
        return af_fail(err, AF_E_ARG, "augment: no output sample");
    memset(out, 0, sizeof *out);
    if (!load || !hyp)
        return af_fail(err, AF_E_ARG, "augment: no loader or no hyperparameters");
    if (nimages < 1 || index < 0 || index >= nimages)
        return af_fail(err, AF_E_ARG, "augment: index %d is outside the dataset (%d images)",
                       index, nimages);
    if (imgsz < 2 || imgsz > 4096 || (imgsz & 1))
        return af_fail(err, AF_E_ARG, "augment: imgsz %d is not an even number in 2..4096",
                       imgsz);
    const float vals[12] = {hyp->hsv_h,   hyp->hsv_s,       hyp->hsv_v, hyp->degrees,
                            hyp->translate, hyp->scale,     hyp->shear, hyp->perspective,
                            hyp->flipud,    hyp->fliplr,    hyp->mosaic, hyp->mixup};
    static const char *const names[12] = {"hsv_h", "hsv_s", "hsv_v", "degrees",
                                          "translate", "scale", "shear", "perspective",
                                          "flipud", "fliplr", "mosaic", "mixup"};
    for (int i = 0; i < 12; i++) {
        float v = vals[i];
        if (!isfinite(v) || (i >= 8 && (v < 0.0f || v > 1.0f)))
            return af_fail(err, AF_E_ARG, "augment: hyperparameter %s=%g is not %s", names[i],
                           (double)v, i >= 8 ? "a probability in [0, 1]" : "finite");
    }
    af_rng rng;
    af_rng_seed3(&rng, seed, epoch, index);
    ctx c = {load, user, nimages, imgsz, hyp, use_mosaic ? hyp->mosaic : 0.0f, &rng};
    float mixup_p = use_mosaic ? hyp->mixup : 0.0f;

    af_image img = {0}, img2 = {0};
    af_boxes b = {0}, b2 = {0};
    af_status st = pre_transform(&c, index, &img, &b, err);
    if (!st && mixup_p > 0.0f) {
        double u = af_rng_uniform(&rng, 0.0, 1.0);
        if (!(u > mixup_p)) {
            int j = af_rng_int(&rng, 0, nimages - 1);
            st = pre_transform(&c, j, &img2, &b2, err);
            if (!st) {
                double r = af_rng_beta(&rng, 32.0, 32.0);
                st = af_mixup_blend(&img, &img2, r, err);
            }
            if (!st)
                st = af_boxes_append(&b, &b2, err);
        }
    }
    af_image_free(&img2);
    af_boxes_free(&b2);
    if (!st) {
        af_random_hsv(&rng, hyp->hsv_h, hyp->hsv_s, hyp->hsv_v, &img);
        if (af_rng_double(&rng) < hyp->flipud)
            af_flip_ud(&img, &b);
        if (af_rng_double(&rng) < hyp->fliplr)
            af_flip_lr(&img, &b);
    }
    if (!st && b.n > 0) {
        out->cls = malloc((size_t)b.n * sizeof(int));
        out->xywhn = malloc((size_t)b.n * 4 * sizeof(float));
        if (!out->cls || !out->xywhn)
            st = af_fail(err, AF_E_NOMEM, "augment: out of memory for %d labels", b.n);
    }
    if (st) {
        af_image_free(&img);
        af_boxes_free(&b);
        af_sample_free(out);
        return st;
    }
    /* Format: xyxy -> xywh, normalised (* 1/w, * 1/h in float32) */
    float iw = (float)(1.0 / img.w), ih = (float)(1.0 / img.h);
    for (int i = 0; i < b.n; i++) {
        const float *p = b.xyxy + 4 * (size_t)i;
        float *q = out->xywhn + 4 * (size_t)i;
        q[0] = (p[0] + p[2]) / 2 * iw;
        q[1] = (p[1] + p[3]) / 2 * ih;
        q[2] = (p[2] - p[0]) * iw;
        q[3] = (p[3] - p[1]) * ih;
        out->cls[i] = b.cls[i];
    }
    out->n = b.n;
    out->img = img;
    af_boxes_free(&b);
    return AF_OK;
}

void af_sample_free(af_sample *s)
{
    if (!s)
        return;
    af_image_free(&s->img);
    free(s->cls);
    free(s->xywhn);
    memset(s, 0, sizeof *s);
}

/* ---- batches ---- */

af_status af_collate(const af_sample *samples, int b, af_batch *out, af_error *err)
{
    if (!out)
        return af_fail(err, AF_E_ARG, "collate: no output batch");
    memset(out, 0, sizeof *out);
    if (!samples || b < 1)
        return af_fail(err, AF_E_ARG, "collate: empty batch");
    int sz = samples[0].img.w;
    size_t total = 0;
    for (int i = 0; i < b; i++) {
        const af_sample *s = &samples[i];
        if (!s->img.data || s->img.c != 3 || s->img.w != sz || s->img.h != sz)
            return af_fail(err, AF_E_ARG, "collate: sample %d is not a %dx%d RGB image", i, sz,
                           sz);
        if (s->n < 0 || (s->n > 0 && (!s->cls || !s->xywhn)))
            return af_fail(err, AF_E_ARG, "collate: sample %d has broken labels", i);
        total += (size_t)s->n;
    }
    if (total > MAX_BOXES)
        return af_fail(err, AF_E_LIMIT, "collate: %zu targets is over the limit %d", total,
                       MAX_BOXES);
    size_t plane = (size_t)sz * (size_t)sz, nimg;
    if (af_mul3_size(plane, 3, (size_t)b, &nimg) || nimg > ((size_t)1 << 32))
        return af_fail(err, AF_E_LIMIT, "collate: batch of %d %dx%d images is too large", b, sz,
                       sz);
    out->img = malloc(nimg * sizeof(float));
    out->batch_idx = malloc((total ? total : 1) * sizeof(float));
    out->cls = malloc((total ? total : 1) * sizeof(float));
    out->bboxes = malloc((total ? total : 1) * 4 * sizeof(float));
    if (!out->img || !out->batch_idx || !out->cls || !out->bboxes) {
        af_batch_free(out);
        return af_fail(err, AF_E_NOMEM, "collate: out of memory");
    }
    out->b = b;
    out->imgsz = sz;
    size_t t = 0;
    for (int i = 0; i < b; i++) {
        const af_sample *s = &samples[i];
        float *dst = out->img + (size_t)i * 3 * plane;
        const uint8_t *px = s->img.data;
        for (size_t p = 0; p < plane; p++) {
            dst[p] = px[3 * p] / 255.0f;
            dst[plane + p] = px[3 * p + 1] / 255.0f;
            dst[2 * plane + p] = px[3 * p + 2] / 255.0f;
        }
        for (int k = 0; k < s->n; k++, t++) {
            out->batch_idx[t] = (float)i;
            out->cls[t] = (float)s->cls[k];
            memcpy(out->bboxes + 4 * t, s->xywhn + 4 * (size_t)k, 4 * sizeof(float));
        }
    }
    out->n = (int)total;
    return AF_OK;
}

void af_batch_free(af_batch *bt)
{
    if (!bt)
        return;
    free(bt->img);
    free(bt->batch_idx);
    free(bt->cls);
    free(bt->bboxes);
    memset(bt, 0, sizeof *bt);
}
