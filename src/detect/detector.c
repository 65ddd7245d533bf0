/* The public detection API: load a model, and per thread letterbox -> forward
 * -> NMS -> boxes in original-image pixels (ultralytics 8.1.9 predict). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "detect/boxes.h"
#include "detect/context.h"
#include "detect/letterbox.h"
#include "detect/nms.h"
#include "io/image.h"
#include "model/checkpoint.h"
#include "model/forward.h"
#include "model/model.h"

struct af_context {
    const af_model *m;
    af_forward *fwd;
    af_image rgb;   /* the caller's pixels as RGB */
    af_image boxed; /* letterboxed network input, u8 */
    float *input;   /* NHWC float32 */
    size_t input_cap;
    af_detection *dets;
    int dets_cap;
    af_timings t;
    float u8_to_unit[256]; /* v / 255.0f, the exact division, as a table */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void af_detect_options_default(af_detect_options *o)
{
    memset(o, 0, sizeof *o);
    o->conf = 0.25f;
    o->iou = 0.7f;
    o->max_det = 300;
}

af_status af_model_load(const char *path, af_model **out, af_error *err)
{
    af_checkpoint ck;
    *out = NULL;
    af_status st = af_checkpoint_load(path, &ck, err);
    if (st)
        return st;
    st = af_model_build(&ck, out, err);
    af_checkpoint_free(&ck);
    if (st)
        af_error_prefix(err, "%s", path);
    return st;
}

af_status af_model_load_memory(const void *data, size_t size, const char *name, af_model **out,
                               af_error *err)
{
    af_checkpoint ck;
    *out = NULL;
    af_status st = af_checkpoint_load_memory(data, size, name, &ck, err);
    if (st)
        return st;
    st = af_model_build(&ck, out, err);
    af_checkpoint_free(&ck);
    if (st)
        af_error_prefix(err, "%s", name);
    return st;
}

af_status af_context_create(const af_model *m, int threads, af_context **out, af_error *err)
{
    *out = NULL;
    af_context *c = calloc(1, sizeof *c);
    if (!c)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    c->m = m;
    for (int v = 0; v < 256; v++)
        c->u8_to_unit[v] = (float)v / 255.0f;
    af_status st = af_forward_create(m, threads, &c->fwd, err);
    if (st) {
        free(c);
        return st;
    }
    *out = c;
    return AF_OK;
}

void af_context_free(af_context *c)
{
    if (!c)
        return;
    af_forward_free(c->fwd);
    af_image_free(&c->rgb);
    af_image_free(&c->boxed);
    free(c->input);
    free(c->dets);
    free(c);
}

af_forward *af_context_forward(af_context *c)
{
    return c->fwd;
}

void af_context_last_timings(const af_context *c, af_timings *t)
{
    *t = c->t;
}

static int round_up(int x, int s)
{
    return (x + s - 1) / s * s;
}

af_status af_detect(af_context *c, const uint8_t *pixels, int width, int height, size_t stride,
                    af_pixel_format fmt, const af_detect_options *opts_in,
                    const af_detection **dets, int *ndets, af_error *err)
{
    const af_model *m = c->m;
    af_detect_options opts;
    if (opts_in)
        opts = *opts_in;
    else
        af_detect_options_default(&opts);
    *dets = NULL;
    *ndets = 0;
    if (!pixels || width < 1 || height < 1)
        return af_fail(err, AF_E_ARG, "empty image");
    if (!(opts.conf >= 0 && opts.conf <= 1) || !(opts.iou >= 0 && opts.iou <= 1))
        return af_fail(err, AF_E_ARG, "conf and iou must be between 0 and 1");
    if (opts.max_det < 1 || opts.max_det > 100000)
        return af_fail(err, AF_E_ARG, "max_det must be between 1 and 100000");
    int s = m->max_stride;
    int ih = opts.imgsz_h > 0 ? opts.imgsz_h : m->imgsz;
    int iw = opts.imgsz_w > 0 ? opts.imgsz_w : ih;
    if (ih > 8192 || iw > 8192)
        return af_fail(err, AF_E_ARG, "imgsz %dx%d is too large (max 8192)", ih, iw);
    /* ultralytics check_imgsz: round up to a multiple of the stride */
    ih = round_up(ih < s ? s : ih, s);
    iw = round_up(iw < s ? s : iw, s);

    double t0 = now_ms();
    af_status st;
    af_image_free(&c->rgb);
    /* packed RGB is used as it is; other formats are converted first */
    af_image view = {width, height, 3, (uint8_t *)pixels};
    if (fmt != AF_PIXEL_RGB || stride != (size_t)width * 3) {
        if ((st = af_image_from_pixels(pixels, width, height, stride, fmt, &c->rgb, err)))
            return st;
        view = c->rgb;
    }
    af_letterbox lb;
    af_letterbox_plan(height, width, ih, iw, s, 1, 1, 1, &lb);
    af_image_free(&c->boxed);
    if ((st = af_letterbox_apply(&view, &lb, 114, &c->boxed, err)))
        return st;
    size_t n = (size_t)lb.in_h * lb.in_w * 3;
    if (n > c->input_cap) {
        free(c->input);
        c->input = malloc(n * sizeof *c->input);
        c->input_cap = c->input ? n : 0;
        if (!c->input)
            return af_fail(err, AF_E_NOMEM, "out of memory for the network input");
    }
    const uint8_t *px = c->boxed.data;
    for (size_t i = 0; i < n; i++)
        c->input[i] = c->u8_to_unit[px[i]];
    double t1 = now_ms();

    const float *out;
    int na;
    if ((st = af_forward_run(c->fwd, c->input, 1, lb.in_h, lb.in_w, &out, &na, err)))
        return st;
    double t2 = now_ms();

    if (c->dets_cap < opts.max_det) {
        free(c->dets);
        c->dets = malloc((size_t)opts.max_det * sizeof *c->dets);
        c->dets_cap = c->dets ? opts.max_det : 0;
        if (!c->dets)
            return af_fail(err, AF_E_NOMEM, "out of memory for detections");
    }
    af_nms_params p;
    af_nms_params_default(&p);
    p.conf_thres = opts.conf;
    p.iou_thres = opts.iou;
    p.max_det = opts.max_det;
    p.agnostic = opts.agnostic;
    p.classes = opts.classes;
    p.nclasses = opts.nclasses;
    int nd = 0;
    if ((st = af_nms(out, m->nc, na, &p, c->dets, &nd, err)))
        return st;
    af_scale_boxes(c->dets, nd, lb.in_h, lb.in_w, height, width);
    double t3 = now_ms();
    c->t = (af_timings){t1 - t0, t2 - t1, t3 - t2, lb.in_h, lb.in_w};
    *dets = c->dets;
    *ndets = nd;
    return AF_OK;
}
