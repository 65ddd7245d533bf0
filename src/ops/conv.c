/* Convolution through oneDNN (C API, 2.6).
 *
 * af_conv_weights: the OIHW weights are reordered once into the blocked format
 * that oneDNN's kernel picks for a nominal input shape (weights format `any`).
 * af_conv: a primitive for one input shape. It is first created with the
 * shared weights format; if oneDNN has no fast kernel for that combination the
 * primitive is created with `any` again and the weights are reordered for this
 * shape (private copy); if oneDNN refuses the shape entirely, the naive loops
 * run instead. src/dst are NHWC in memory, bias and SiLU are post-ops, the
 * scratchpad is owned by the af_conv, so separate af_conv objects can execute
 * at the same time from different threads (even when oneDNN's primitive cache
 * hands both the same kernel). */
#include "ops/conv.h"

#include <dnnl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/aligned.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/bf16.h"
#include "ops/blocked.h"
#include "ops/ref.h"
#include "ops/pointwise.h"
#include "ops/winograd.h"

#define AF_CONV_MAX_CH 65536
#define AF_CONV_MAX_K 64
#define AF_CONV_MAX_ELEMS ((size_t)1 << 31) /* per tensor; oneDNN dims are int64 but stay sane */
#define AF_CONV_NOMINAL_HW 64              /* input size used to choose the weights format */

struct af_conv_weights {
    af_engine *e;
    af_conv_desc d;
    dnnl_memory_desc_t wmd; /* format of wbuf */
    void *wbuf;             /* 64-byte aligned, dnnl_memory_desc_get_size(&wmd) bytes */
    float *bias;            /* cout floats or NULL */
    int bf16;               /* wbuf holds bf16 weights: convs take bf16 input, give f32 */
    int int8;               /* wbuf holds s8 weights (per output channel scales): convs
                             * quantize their input to s8 (act_absmax -> 127) and give f32 */
    float act_absmax;       /* int8: the calibrated input range */
    float *oscale;          /* int8: [cout] output scales, (act_absmax/127) * (wmax[oc]/127) */
    float *qbias;           /* int8: bias / oscale (oneDNN 2.x scales the bias with the sum) */
    float *oihw32, *q8;     /* int8: the float OIHW weights and their per output channel
                             * quantization factors, for shapes whose kernel wants another
                             * weights format (quantized afresh into it) */
    af_layout src_layout, dst_layout; /* the activations wmd was chosen for */
    af_wino_weights *wino;  /* Winograd weights instead of wbuf (3x3 s1, blocked) */
    af_pw_weights *pw;      /* bf16 1x1 weights of ops/pointwise.h besides wbuf (nChw16c) */
    int direct;             /* af_conv_weights_set_winograd(w, 0) was asked: no Winograd */
};

struct af_conv {
    af_engine *e;
    const af_conv_weights *w;
    af_conv_path path;
    int n, h, wd, oh, ow, threads;
    char impl[64];
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_memory_t msrc, mwei, mbias, mdst, mscratch;
    /* the kernel's own activation layouts (make_pd_fast's any_act): the
     * caller's src and dst (usrc, udst) are reordered into and out of
     * kernel-layout copies (ksrc, kdst) around each run */
    dnnl_primitive_t rsrc, rdst;
    dnnl_memory_t usrc, udst;
    void *ksrc, *kdst;
    void *own_w;   /* private weights (DNNL_PRIVATE: blocked, REF: OIHW) */
    void *scratch; /* user scratchpad */
    uint16_t *src16; /* bf16 weights, f32 input: the input converted to bf16 before each run */
    size_t src_elems, dst_elems; /* values of the input and output in their layouts */
    int io;                      /* AF_CONV_* flags: bf16 / s8 activations (af_conv_create_io) */
    float *srcf, *dstf; /* bf16 activations on a float path (REF): float copies of them */
    af_layout src_layout, dst_layout;
    float *ref_src, *ref_dst; /* REF path on other layouts: NHWC copies for the naive loops */
    af_wino *wino;            /* WINOGRAD path */
    af_pw *pw;                /* POINTWISE path */
};

static af_status dnnl_err(af_error *err, const char *what, dnnl_status_t st)
{
    return af_fail(err, AF_E_INTERNAL, "oneDNN: %s (%s)", what, af_dnnl_status_name(st));
}

void af_conv_out_hw(const af_conv_desc *d, int h, int w, int *oh, int *ow)
{
    long long eh = (long long)h + 2LL * d->pad - d->k, ew = (long long)w + 2LL * d->pad - d->k;
    *oh = (d->stride > 0 && eh >= 0) ? (int)(eh / d->stride + 1) : 0;
    *ow = (d->stride > 0 && ew >= 0) ? (int)(ew / d->stride + 1) : 0;
}

af_status af_conv_desc_check(const af_conv_desc *d, af_error *err)
{
    if (d->cin < 1 || d->cin > AF_CONV_MAX_CH || d->cout < 1 || d->cout > AF_CONV_MAX_CH)
        return af_fail(err, AF_E_ARG, "conv: channels %d -> %d out of range 1..%d", d->cin,
                       d->cout, AF_CONV_MAX_CH);
    if (d->k < 1 || d->k > AF_CONV_MAX_K || d->stride < 1 || d->stride > AF_CONV_MAX_K ||
        d->pad < 0 || d->pad >= d->k)
        return af_fail(err, AF_E_ARG, "conv: kernel %d stride %d pad %d not supported", d->k,
                       d->stride, d->pad);
    if (d->act != AF_ACT_NONE && d->act != AF_ACT_SILU)
        return af_fail(err, AF_E_ARG, "conv: unknown activation %d", (int)d->act);
    return AF_OK;
}

static dnnl_format_tag_t layout_tag(af_layout l)
{
    switch (l) {
    case AF_LAYOUT_BLK8:
        return dnnl_nChw8c;
    case AF_LAYOUT_BLK16:
        return dnnl_nChw16c;
    case AF_LAYOUT_NCHW:
        return dnnl_nchw;
    default:
        return dnnl_nhwc;
    }
}

/* The arithmetic of a conv: fp32; bf16 input and weights; s8 input and
 * weights with output scales oscale[cout] (mask: per output channel). Bias,
 * accumulation and output stay f32 (int8: s32 accumulation, then scaled). */
enum { PREC_F32 = 0, PREC_BF16, PREC_INT8 };
typedef struct prec {
    int mode;
    const float *oscale;
    int io;      /* AF_CONV_*: bf16 output; s8 NHWC input or output (int8) */
    float dst_q; /* AF_CONV_DST_Q8: the reader's input quantization factor, 127 / range */
} prec;

static prec w_prec(const af_conv_weights *w, int io, float dst_q)
{
    return (prec){w->int8 ? PREC_INT8 : w->bf16 ? PREC_BF16 : PREC_F32, w->oscale, io, dst_q};
}

/* Creates the primitive descriptor for one shape; wmd NULL means format `any`.
 * p: the arithmetic (prec). any_act: the activations in format `any` too (the
 * kernel's own layouts, for a conv whose layouts have no fast kernel here: it
 * then runs between reorders; oneDNN's int8 kernels take NHWC only). */
static dnnl_status_t make_pd(dnnl_engine_t eng, const af_conv_desc *d, int has_bias, int n,
                             int h, int w, const dnnl_memory_desc_t *wmd, prec p,
                             af_layout src_layout, af_layout dst_layout, int any_act,
                             dnnl_primitive_desc_t *pd)
{
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    dnnl_memory_desc_t src_md, dst_md, any_wmd, bias_md;
    dnnl_dims_t sdims = {n, d->cin, h, w}, ddims = {n, d->cout, oh, ow};
    dnnl_dims_t wdims = {d->cout, d->cin, d->k, d->k}, bdims = {d->cout};
    dnnl_dims_t strides = {d->stride, d->stride}, pads = {d->pad, d->pad};
    dnnl_status_t st;
    *pd = NULL;
    dnnl_data_type_t in_dt = p.mode == PREC_BF16   ? dnnl_bf16
                             : p.mode == PREC_INT8 ? dnnl_s8
                                                   : dnnl_f32;
    /* s8 handed over between int8 convs: NHWC, the layout of their kernels */
    dnnl_format_tag_t stag = p.io & AF_CONV_SRC_Q8 ? dnnl_nhwc
                             : any_act              ? dnnl_format_tag_any
                                                    : layout_tag(src_layout),
                      dtag = p.io & AF_CONV_DST_Q8 ? dnnl_nhwc
                             : any_act              ? dnnl_format_tag_any
                                                    : layout_tag(dst_layout);
    dnnl_data_type_t out_dt = p.io & AF_CONV_DST_BF16 ? dnnl_bf16
                              : p.io & AF_CONV_DST_Q8 ? dnnl_s8
                                                      : dnnl_f32;
    if ((st = dnnl_memory_desc_init_by_tag(&src_md, 4, sdims, in_dt, stag)) ||
        (st = dnnl_memory_desc_init_by_tag(&dst_md, 4, ddims, out_dt, dtag)) ||
        (st = dnnl_memory_desc_init_by_tag(&any_wmd, 4, wdims, in_dt, dnnl_format_tag_any)) ||
        (st = dnnl_memory_desc_init_by_tag(&bias_md, 1, bdims, dnnl_f32, dnnl_a)))
        return st;
    dnnl_convolution_desc_t cd;
    st = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                            &src_md, wmd ? wmd : &any_wmd,
                                            has_bias ? &bias_md : NULL, &dst_md, strides, pads,
                                            pads);
    if (st)
        return st;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if ((st = dnnl_primitive_attr_create(&attr)))
        return st;
    st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (!st && p.mode == PREC_INT8)
        st = dnnl_primitive_attr_set_output_scales(attr, d->cout, 1 << 1, p.oscale);
    if (!st && (d->act == AF_ACT_SILU || (p.io & AF_CONV_DST_Q8))) {
        st = dnnl_post_ops_create(&po);
        if (!st && d->act == AF_ACT_SILU)
            st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f);
        /* s8 output: the float result times the reader's factor, then rounded
         * to nearest and saturated, as the reader's own quantizing reorder does */
        if (!st && (p.io & AF_CONV_DST_Q8))
            st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, p.dst_q, 0.0f);
        if (!st)
            st = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (!st)
        st = dnnl_primitive_desc_create(pd, &cd, attr, eng, NULL);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Reorders `from` (in format fmd) into `to` (format tmd), synchronously;
 * attr (may be NULL): the reorder's attributes (output scales). */
static af_status reorder(dnnl_engine_t eng, const dnnl_memory_desc_t *fmd, const void *from,
                         const dnnl_memory_desc_t *tmd, void *to,
                         const_dnnl_primitive_attr_t attr, af_error *err)
{
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t rp = NULL;
    dnnl_memory_t mf = NULL, mt = NULL;
    dnnl_stream_t s = NULL;
    dnnl_status_t st;
    const char *what = "creating the weights reorder";
    if (!(st = dnnl_reorder_primitive_desc_create(&rpd, fmd, eng, tmd, eng, attr)) &&
        !(st = dnnl_primitive_create(&rp, rpd)) &&
        !(st = dnnl_memory_create(&mf, fmd, eng, (void *)from)) &&
        !(st = dnnl_memory_create(&mt, tmd, eng, to)) &&
        !(st = dnnl_stream_create(&s, eng, dnnl_stream_default_flags))) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, mt}};
        what = "reordering the weights";
        st = dnnl_primitive_execute(rp, s, 2, args);
        if (!st)
            st = dnnl_stream_wait(s);
    }
    if (s)
        dnnl_stream_destroy(s);
    if (mt)
        dnnl_memory_destroy(mt);
    if (mf)
        dnnl_memory_destroy(mf);
    if (rp)
        dnnl_primitive_destroy(rp);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    return st ? dnnl_err(err, what, st) : AF_OK;
}

static dnnl_status_t oihw_md(const af_conv_desc *d, dnnl_memory_desc_t *md)
{
    dnnl_dims_t wdims = {d->cout, d->cin, d->k, d->k};
    return dnnl_memory_desc_init_by_tag(md, 4, wdims, dnnl_f32, dnnl_oihw);
}

/* *out = a new 64-byte aligned buffer holding `from` (format fmd) in format
 * tmd (padding zeroed). */
static af_status alloc_reordered(dnnl_engine_t eng, const dnnl_memory_desc_t *fmd,
                                 const void *from, const dnnl_memory_desc_t *tmd, void **out,
                                 af_error *err)
{
    size_t bytes = dnnl_memory_desc_get_size(tmd);
    void *buf = af_alloc64(bytes);
    if (!buf)
        return af_fail(err, AF_E_NOMEM, "conv: out of memory for %zu bytes of weights", bytes);
    memset(buf, 0, bytes);
    af_status rc = AF_OK;
    if (dnnl_memory_desc_equal(fmd, tmd))
        memcpy(buf, from, bytes);
    else
        rc = reorder(eng, fmd, from, tmd, buf, NULL, err);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return AF_OK;
}

/* make_pd on the given layouts; where oneDNN has only its slow reference
 * kernel for them (a layout foreign to this CPU's kernels, e.g. nChw16c on
 * an AVX2 CPU), on the kernel's own activation layouts instead (*any_act
 * set; the conv then runs between reorders) if that finds a real kernel. */
static dnnl_status_t make_pd_fast(dnnl_engine_t eng, const af_conv_desc *d, int has_bias, int n,
                                  int h, int w, const dnnl_memory_desc_t *wmd, prec p,
                                  af_layout src_layout, af_layout dst_layout, int *any_act,
                                  dnnl_primitive_desc_t *pd)
{
    *any_act = 0;
    dnnl_status_t st =
        make_pd(eng, d, has_bias, n, h, w, wmd, p, src_layout, dst_layout, 0, pd);
    if (st != dnnl_success || !af_dnnl_impl_is_ref(*pd))
        return st;
    dnnl_primitive_desc_t alt = NULL;
    if (make_pd(eng, d, has_bias, n, h, w, wmd, p, src_layout, dst_layout, 1, &alt) ==
            dnnl_success &&
        !af_dnnl_impl_is_ref(alt)) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = alt;
        *any_act = 1;
    } else if (alt) {
        dnnl_primitive_desc_destroy(alt);
    }
    return dnnl_success;
}

/* The weights format oneDNN's kernel picks for w's convolution at a nominal
 * input shape, big enough for every kernel and stride (the format depends on
 * the channel counts and kernel, hardly on the spatial size). *is_ref: the
 * kernel found is oneDNN's slow reference. */
static dnnl_status_t nominal_wmd(dnnl_engine_t eng, const af_conv_weights *w, prec p,
                                 dnnl_memory_desc_t *wmd, int *is_ref)
{
    int hw = AF_CONV_NOMINAL_HW < w->d.k ? w->d.k : AF_CONV_NOMINAL_HW;
    dnnl_primitive_desc_t pd = NULL;
    int any_act;
    dnnl_status_t st = make_pd_fast(eng, &w->d, w->bias != NULL, 1, hw, hw, NULL, p,
                                    w->src_layout, w->dst_layout, &any_act, &pd);
    if (st)
        return st;
    *is_ref = af_dnnl_impl_is_ref(pd);
    const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (q)
        *wmd = *q;
    dnnl_primitive_desc_destroy(pd);
    return q ? dnnl_success : dnnl_runtime_error;
}

/* w->wbuf, w->wmd: the OIHW weights reordered into the format of oneDNN's
 * kernel for w's convolution. */
static af_status prepare_dnnl(af_conv_weights *w, const float *weight, af_error *err)
{
    dnnl_engine_t eng = af_engine_dnnl(w->e);
    dnnl_memory_desc_t umd;
    dnnl_status_t st = oihw_md(&w->d, &umd);
    if (st)
        return dnnl_err(err, "describing the OIHW weights", st);
    int is_ref;
    st = nominal_wmd(eng, w, (prec){PREC_F32, NULL, 0, 0}, &w->wmd, &is_ref);
    if (st == dnnl_unimplemented)
        w->wmd = umd; /* keep OIHW; af_conv_create retries per shape */
    else if (st)
        return dnnl_err(err, "querying the convolution's weights format", st);
    return alloc_reordered(eng, &umd, weight, &w->wmd, &w->wbuf, err);
}

/* A 3x3 pad-1 conv where the Winograd kernels run (AVX2, not turned off):
 * what any of its forms takes, before the thresholds that decide whether it
 * pays. */
static int winograd_fits(const af_engine *e, const af_conv_desc *d)
{
    return d->k == 3 && d->pad == 1 && af_engine_winograd(e) && af_wino_supported();
}

/* Stride 1 from 32 channels on either side (bench/bench_winograd.c, 2
 * threads: 1.3-1.5x at 32 channels, 1.6-2.0x from 64; 1.0-1.4x at 16, within
 * this VM's noise). Stride 2 (the polyphase split, 25 products for 36) from
 * 64 channels while its 16 transformed weight matrices stay within 16 MiB
 * (cin x cout <= 512 x 512): in the network (bench --layers, interleaved
 * runs) 1.15-1.4x on yolov8n/s/x6's stride-2 convs from 64 to 320 input
 * channels, 0.8-1.0x at 32 -> 64, and no gain at x6's 640 -> 640, whose
 * weights would grow from 15 to 26 MiB each. */
int af_conv_winograd_suits(const af_engine *e, const af_conv_desc *d)
{
    if (!winograd_fits(e, d))
        return 0;
    int min1 = 32, min2 = 64;
#ifdef AF_WINO_EXPERIMENT /* measurement builds only (bench/README.md): other thresholds */
    if (getenv("AF_WINO_MIN1"))
        min1 = atoi(getenv("AF_WINO_MIN1"));
    if (getenv("AF_WINO_MIN2"))
        min2 = atoi(getenv("AF_WINO_MIN2"));
#endif
    if (d->stride == 1)
        return d->cin >= min1 && d->cout >= min1;
    return d->stride == 2 && d->cin >= min2 && d->cout >= min2 &&
           (long long)d->cin * d->cout <= 512LL * 512;
}

static af_status wino_create(const af_conv_desc *d, int m, const float *weight, const float *bias,
                             af_wino_weights **out, af_error *err)
{
    return d->stride == 2 ? af_wino_weights_create_s2(d->cin, d->cout, weight, bias, out, err)
                          : af_wino_weights_create(m, d->cin, d->cout, weight, bias, out, err);
}

/* Winograd for such convolutions between blocked activations. */
static int winograd_applies(const af_engine *e, const af_conv_desc *d, af_layout src,
                            af_layout dst)
{
    return af_layout_blk(src) && src == dst && af_conv_winograd_suits(e, d);
}

static af_status switch_winograd(af_conv_weights *w, int m, af_error *err);

/* The OIHW weights of Winograd weights, in a new buffer. */
static af_status wino_oihw(const af_conv_weights *w, float **out, af_error *err)
{
    *out = malloc((size_t)w->d.cout * (size_t)w->d.cin * 9 * sizeof(float));
    if (!*out)
        return af_fail(err, AF_E_NOMEM, "conv: out of memory for %d x %d weights", w->d.cout,
                       w->d.cin);
    af_wino_weights_oihw(w->wino, *out);
    return AF_OK;
}

af_status af_conv_weights_create(af_engine *e, const af_conv_desc *d, const float *weight,
                                 const float *bias, af_conv_weights **out, af_error *err)
{
    return af_conv_weights_create_for(e, d, weight, bias, AF_LAYOUT_NHWC, AF_LAYOUT_NHWC, out,
                                      err);
}

af_status af_conv_weights_create_for(af_engine *e, const af_conv_desc *d, const float *weight,
                                     const float *bias, af_layout src_layout,
                                     af_layout dst_layout, af_conv_weights **out, af_error *err)
{
    *out = NULL;
    af_status rc = af_conv_desc_check(d, err);
    if (rc)
        return rc;
    if (!weight)
        return af_fail(err, AF_E_ARG, "conv: weights missing");
    af_conv_weights *w = calloc(1, sizeof *w);
    if (!w)
        return af_fail(err, AF_E_NOMEM, "conv: out of memory");
    w->e = e;
    w->d = *d;
    w->src_layout = src_layout;
    w->dst_layout = dst_layout;
    if (bias) { /* before the format query: the nominal conv has a bias exactly when w has */
        w->bias = af_alloc64((size_t)d->cout * sizeof(float));
        if (!w->bias) {
            rc = af_fail(err, AF_E_NOMEM, "conv: out of memory");
            goto fail;
        }
        memcpy(w->bias, bias, (size_t)d->cout * sizeof(float));
    }
    if (winograd_applies(e, d, src_layout, dst_layout))
        rc = wino_create(d, 2, weight, bias, &w->wino, err);
    else
        rc = prepare_dnnl(w, weight, err);
    if (rc)
        goto fail;
    *out = w;
    return AF_OK;
fail:
    af_conv_weights_free(w);
    return rc;
}

/* bf16 1x1 convs between nChw16c activations also get the weights of
 * ops/pointwise.h (from the float ones, as oneDNN's bf16 copy is). */
static af_status pointwise_weights(af_conv_weights *w, af_error *err)
{
    const af_conv_desc *d = &w->d;
    if (d->k != 1 || d->stride != 1 || d->pad != 0 || w->src_layout != AF_LAYOUT_BLK16 ||
        w->dst_layout != AF_LAYOUT_BLK16 || !af_engine_pointwise(w->e) || !af_pw_supported())
        return AF_OK;
    dnnl_memory_desc_t umd;
    dnnl_status_t st = oihw_md(d, &umd);
    if (st)
        return dnnl_err(err, "describing the OIHW weights", st);
    float *oihw = NULL;
    af_status rc = alloc_reordered(af_engine_dnnl(w->e), &w->wmd, w->wbuf, &umd,
                                   (void **)&oihw, err);
    if (!rc)
        rc = af_pw_weights_create(d->cin, d->cout, oihw, w->bias, &w->pw, err);
    free(oihw);
    return rc;
}

af_status af_conv_weights_to_bf16(af_conv_weights *w, af_error *err)
{
    if (w->bf16)
        return AF_OK;
    if (w->int8)
        return af_fail(err, AF_E_ARG, "conv: int8 weights do not go to bf16");
    /* Winograd weights keep their path with bf16 products (VDPBF16PS: twice
     * the FMA rate), stride 1 as F(4x4): with the products that cheap the
     * transforms weigh most, and F(4x4) transforms 2.25 values per output
     * pixel and channel where F(2x2) transforms 4 (and multiplies 4x less than
     * direct where F(2x2) does 2.25x). yolov8n_face@640, 2 threads, AMD EPYC
     * Zen 5: 25.0 -> 23.3 ms; val mAP50-95 0.426 either way (fp32 0.426). */
    const af_conv_desc *d = &w->d;
    /* and so do stride-1 ones from 16 channels, which stay direct in float32
     * (model.2's bottleneck of yolov8n@640: 0.43 -> 0.34 ms each), unless the
     * caller chose direct kernels */
    const int f4_16 = !w->wino && !w->direct && d->stride == 1 && d->cin >= 16 &&
                      d->cout >= 16 && af_layout_blk(w->src_layout) &&
                      w->src_layout == w->dst_layout && winograd_fits(w->e, d);
    if ((w->wino || f4_16) && af_engine_has_bf16(w->e, NULL) && af_wino_bf16_supported()) {
        af_status rc = AF_OK; /* the engine's bf16 follows oneDNN's ISA cap */
        if (f4_16 || (af_wino_weights_stride(w->wino) == 1 && af_wino_weights_tile(w->wino) == 2))
            rc = switch_winograd(w, 4, err);
        if (!rc)
            rc = af_wino_weights_to_bf16(w->wino, err);
        if (rc)
            return rc;
        w->bf16 = 1;
        return AF_OK;
    }
    af_status rc = af_conv_weights_set_winograd(w, 0, err); /* bf16 on oneDNN's kernels */
    if (rc)
        return rc;
    dnnl_engine_t eng = af_engine_dnnl(w->e);
    dnnl_memory_desc_t tmd;
    int is_ref = 0;
    dnnl_status_t st = nominal_wmd(eng, w, (prec){PREC_BF16, NULL, 0, 0}, &tmd, &is_ref);
    if (st == dnnl_unimplemented || (st == dnnl_success && is_ref))
        return af_fail(err, AF_E_UNSUPPORTED, "conv: oneDNN has no bf16 kernel on this CPU");
    if (st)
        return dnnl_err(err, "querying the bf16 convolution's weights format", st);
    if ((rc = pointwise_weights(w, err)))
        return rc;
    void *buf;
    if ((rc = alloc_reordered(eng, &w->wmd, w->wbuf, &tmd, &buf, err)))
        return rc;
    free(w->wbuf);
    w->wbuf = buf;
    w->wmd = tmd;
    w->bf16 = 1;
    return AF_OK;
}

/* Reorders OIHW f32 weights into tmd (s8), each output channel oc times q[oc]
 * (rounded to nearest, saturated; oneDNN adds the compensation its s8-input
 * kernels need). */
static af_status reorder_quantize(dnnl_engine_t eng, const dnnl_memory_desc_t *fmd,
                                  const float *from, const dnnl_memory_desc_t *tmd, void *to,
                                  int cout, const float *q, af_error *err)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t st;
    if ((st = dnnl_primitive_attr_create(&attr)) ||
        (st = dnnl_primitive_attr_set_output_scales(attr, cout, 1 << 0, q))) {
        if (attr)
            dnnl_primitive_attr_destroy(attr);
        return dnnl_err(err, "quantizing the weights", st);
    }
    af_status rc = reorder(eng, fmd, from, tmd, to, attr, err);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

af_status af_conv_weights_to_int8(af_conv_weights *w, float act_absmax, af_error *err)
{
    if (w->int8)
        return AF_OK;
    if (w->bf16)
        return af_fail(err, AF_E_ARG, "conv: bf16 weights do not go to int8");
    if (!(act_absmax > 0) || !(act_absmax < 1e30f))
        return af_fail(err, AF_E_ARG, "conv: bad int8 input range %g", (double)act_absmax);
    af_status rc = af_conv_weights_set_winograd(w, 0, err); /* int8 runs on oneDNN's kernels */
    if (rc)
        return rc;
    dnnl_engine_t eng = af_engine_dnnl(w->e);
    const af_conv_desc *d = &w->d;
    const size_t per = (size_t)d->cin * d->k * d->k;
    dnnl_memory_desc_t umd, tmd;
    dnnl_status_t st = oihw_md(d, &umd);
    if (st)
        return dnnl_err(err, "describing the OIHW weights", st);
    float *oihw = NULL, *oscale = af_alloc64((size_t)d->cout * sizeof *oscale),
          *q = malloc((size_t)d->cout * sizeof *q), *qbias = NULL;
    void *buf = NULL;
    if (w->bias && !(qbias = af_alloc64((size_t)d->cout * sizeof *qbias))) {
        rc = af_fail(err, AF_E_NOMEM, "conv: out of memory");
        goto out;
    }
    if (!oscale || !q) {
        rc = af_fail(err, AF_E_NOMEM, "conv: out of memory");
        goto out;
    }
    if ((rc = alloc_reordered(eng, &w->wmd, w->wbuf, &umd, (void **)&oihw, err)))
        goto out;
    /* per output channel: wmax -> 127 */
    for (int o = 0; o < d->cout; o++) {
        float mx = 0.0f;
        for (size_t i = 0; i < per; i++) {
            float a = fabsf(oihw[(size_t)o * per + i]);
            mx = a > mx ? a : mx;
        }
        float ws = mx > 0.0f ? mx / 127.0f : 1.0f;
        q[o] = 1.0f / ws;
        oscale[o] = act_absmax / 127.0f * ws;
        if (qbias)
            qbias[o] = w->bias[o] / oscale[o];
    }
    int is_ref = 0;
    st = nominal_wmd(eng, w, (prec){PREC_INT8, oscale, 0, 0}, &tmd, &is_ref);
    if (st == dnnl_unimplemented || (st == dnnl_success && is_ref)) {
        rc = af_fail(err, AF_E_UNSUPPORTED, "conv: oneDNN has no int8 kernel on this CPU");
        goto out;
    }
    if (st) {
        rc = dnnl_err(err, "querying the int8 convolution's weights format", st);
        goto out;
    }
    size_t bytes = dnnl_memory_desc_get_size(&tmd);
    if (!(buf = af_alloc64(bytes ? bytes : 1))) {
        rc = af_fail(err, AF_E_NOMEM, "conv: out of memory for %zu bytes of weights", bytes);
        goto out;
    }
    memset(buf, 0, bytes);
    if ((rc = reorder_quantize(eng, &umd, oihw, &tmd, buf, d->cout, q, err)))
        goto out;
    free(w->wbuf);
    w->wbuf = buf;
    buf = NULL;
    w->wmd = tmd;
    w->oscale = oscale;
    oscale = NULL;
    w->qbias = qbias;
    qbias = NULL;
    w->oihw32 = oihw;
    oihw = NULL;
    w->q8 = q;
    q = NULL;
    w->act_absmax = act_absmax;
    w->int8 = 1;
out:
    free(oihw);
    free(oscale);
    free(qbias);
    free(q);
    free(buf);
    return rc;
}

int af_conv_weights_is_int8(const af_conv_weights *w)
{
    return w->int8;
}

af_status af_conv_weights_set_winograd(af_conv_weights *w, int m, af_error *err)
{
    if (m != 0 && m != 2 && m != 4)
        return af_fail(err, AF_E_ARG, "conv: no Winograd F(%dx%d, 3x3)", m, m);
    if (m && w->d.stride == 2)
        m = 2; /* the one stride-2 form */
    w->direct = m == 0;
    const int cur = af_conv_weights_winograd(w);
    if (m == cur || (m && (w->bf16 || w->int8 || !winograd_applies(w->e, &w->d, w->src_layout,
                                                        w->dst_layout))))
        return AF_OK;
    af_status rc;
    if (w->bf16) { /* bf16 Winograd weights off: float underneath, then bf16 on oneDNN's kernels */
        w->bf16 = 0;
        if ((rc = af_conv_weights_set_winograd(w, 0, err)))
            return rc;
        return af_conv_weights_to_bf16(w, err);
    }
    return switch_winograd(w, m, err);
}

/* Float weights to Winograd F(m x m) (m 2 or 4; 2 at stride 2) or, m 0, to
 * oneDNN's kernels, whichever they are now. */
static af_status switch_winograd(af_conv_weights *w, int m, af_error *err)
{
    const int cur = af_conv_weights_winograd(w);
    if (m == cur)
        return AF_OK;
    af_status rc;
    float *oihw = NULL;
    if (cur) {
        rc = wino_oihw(w, &oihw, err);
    } else {
        dnnl_memory_desc_t umd;
        dnnl_status_t st = oihw_md(&w->d, &umd);
        if (st)
            return dnnl_err(err, "describing the OIHW weights", st);
        rc = alloc_reordered(af_engine_dnnl(w->e), &w->wmd, w->wbuf, &umd, (void **)&oihw, err);
    }
    if (rc)
        return rc;
    af_wino_weights *nw = NULL;
    rc = m ? wino_create(&w->d, m, oihw, w->bias, &nw, err) : prepare_dnnl(w, oihw, err);
    free(oihw);
    if (rc)
        return rc;
    if (cur) {
        af_wino_weights_free(w->wino);
    } else {
        free(w->wbuf);
        w->wbuf = NULL;
    }
    w->wino = nw;
    return AF_OK;
}

int af_conv_weights_winograd(const af_conv_weights *w)
{
    return w->wino ? af_wino_weights_tile(w->wino) : 0;
}

int af_conv_weights_is_bf16(const af_conv_weights *w)
{
    return w->bf16;
}

void af_conv_weights_free(af_conv_weights *w)
{
    if (!w)
        return;
    free(w->wbuf);
    free(w->bias);
    free(w->oscale);
    free(w->qbias);
    free(w->oihw32);
    free(w->q8);
    af_wino_weights_free(w->wino);
    af_pw_weights_free(w->pw);
    free(w);
}

const af_conv_desc *af_conv_weights_desc(const af_conv_weights *w)
{
    return &w->d;
}

static af_status shape_check(const af_conv_desc *d, int n, int h, int w, int oh, int ow,
                             af_error *err)
{
    size_t a, b;
    if (n < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
        return af_fail(err, AF_E_ARG, "conv: input %dx%dx%d (k %d, pad %d) gives no output", n,
                       h, w, d->k, d->pad);
    /* channels as stored in the blocked layouts (rounded up to at most 16) */
    size_t cin = (size_t)af_blk_pad(AF_BLK_MAX, d->cin),
           cout = (size_t)af_blk_pad(AF_BLK_MAX, d->cout);
    if (af_mul3_size((size_t)n, (size_t)h, (size_t)w, &a) || af_mul_size(a, cin, &a) ||
        af_mul3_size((size_t)n, (size_t)oh, (size_t)ow, &b) || af_mul_size(b, cout, &b) ||
        a > AF_CONV_MAX_ELEMS || b > AF_CONV_MAX_ELEMS)
        return af_fail(err, AF_E_LIMIT, "conv: tensor %dx%dx%dx%d too large", n, h, w, d->cin);
    return AF_OK;
}

/* Floats of an n x h x w x c tensor stored in layout l. */
static size_t layout_elems(af_layout l, int n, int h, int w, int c)
{
    return af_layout_blk(l) ? af_blk_elems(af_layout_blk(l), n, h, w, c) : (size_t)n * h * w * c;
}

/* The reorders between the caller's layouts and the kernel's (smd, dmd) and
 * the kernel-layout buffers, for a conv made with make_pd_fast's any_act. */
static af_status make_act_reorders(af_conv *c, const dnnl_memory_desc_t *smd,
                                   const dnnl_memory_desc_t *dmd, af_error *err)
{
    dnnl_engine_t eng = af_engine_dnnl(c->e);
    const af_conv_desc *d = &c->w->d;
    dnnl_memory_desc_t umd_s, umd_d;
    dnnl_dims_t sdims = {c->n, d->cin, c->h, c->wd}, ddims = {c->n, d->cout, c->oh, c->ow};
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t st;
    const char *what = "describing the activations";
    if ((st = dnnl_memory_desc_init_by_tag(&umd_s, 4, sdims, c->w->bf16 ? dnnl_bf16 : dnnl_f32,
                                           layout_tag(c->src_layout))) ||
        (st = dnnl_memory_desc_init_by_tag(&umd_d, 4, ddims,
                                           c->io & AF_CONV_DST_BF16 ? dnnl_bf16 : dnnl_f32,
                                           layout_tag(c->dst_layout))))
        return dnnl_err(err, what, st);
    /* a side handed over in s8 (AF_CONV_*_Q8) is already in the kernel's format */
    const int do_src = !(c->io & AF_CONV_SRC_Q8), do_dst = !(c->io & AF_CONV_DST_Q8);
    size_t sb = dnnl_memory_desc_get_size(smd), db = dnnl_memory_desc_get_size(dmd);
    if ((do_src && !(c->ksrc = af_alloc64(sb ? sb : 1))) ||
        (do_dst && !(c->kdst = af_alloc64(db ? db : 1))))
        return af_fail(err, AF_E_NOMEM, "conv: out of memory for the reordered activations");
    what = "creating the activation reorders";
    if ((do_src && (st = dnnl_memory_create(&c->usrc, &umd_s, eng, DNNL_MEMORY_NONE))) ||
        (do_dst && (st = dnnl_memory_create(&c->udst, &umd_d, eng, DNNL_MEMORY_NONE))) ||
        (do_src && (st = dnnl_memory_set_data_handle(c->msrc, c->ksrc))) ||
        (do_dst && (st = dnnl_memory_set_data_handle(c->mdst, c->kdst))) ||
        (st = dnnl_primitive_attr_create(&attr)))
        goto out;
    const float q = 127.0f / c->w->act_absmax; /* int8: quantize f32 into s8 on the way */
    if (do_src &&
        ((c->w->int8 && (st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &q))) ||
         (st = dnnl_reorder_primitive_desc_create(&rpd, &umd_s, eng, smd, eng, attr)) ||
         (st = dnnl_primitive_create(&c->rsrc, rpd))))
        goto out;
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    rpd = NULL;
    if (do_dst && ((st = dnnl_reorder_primitive_desc_create(&rpd, dmd, eng, &umd_d, eng, NULL)) ||
                   (st = dnnl_primitive_create(&c->rdst, rpd))))
        goto out;
out:
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st ? dnnl_err(err, what, st) : AF_OK;
}

/* Runs reorder r from `from` to `to` on c's stream. */
static dnnl_status_t run_reorder(af_conv *c, dnnl_primitive_t r, dnnl_memory_t from,
                                 dnnl_memory_t to)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, c->stream, 2, args);
}

static af_status conv_create(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                             int threads, int naive, af_layout src_layout, af_layout dst_layout,
                             int io, const af_conv_weights *reader, af_conv **out,
                             af_error *err)
{
    *out = NULL;
    const af_conv_desc *d = &w->d;
    int oh, ow;
    af_conv_out_hw(d, h, width, &oh, &ow);
    af_status rc = shape_check(d, n, h, width, oh, ow, err);
    if (rc)
        return rc;
    const int io16 = AF_CONV_SRC_BF16 | AF_CONV_DST_BF16, io8 = AF_CONV_SRC_Q8 | AF_CONV_DST_Q8;
    if ((io & ~(io16 | io8)) || ((io & io16) && !w->bf16) || ((io & io8) && !w->int8))
        return af_fail(err, AF_E_ARG, "conv: bf16 / s8 activations need bf16 / int8 weights");
    if ((io & AF_CONV_DST_Q8) && (!reader || !reader->int8))
        return af_fail(err, AF_E_ARG, "conv: an s8 output needs its int8 reader");
    const float dst_q = io & AF_CONV_DST_Q8 ? 127.0f / reader->act_absmax : 0.0f;
    af_conv *c = calloc(1, sizeof *c);
    if (!c)
        return af_fail(err, AF_E_NOMEM, "conv: out of memory");
    c->e = e;
    c->w = w;
    c->n = n;
    c->h = h;
    c->wd = width;
    c->oh = oh;
    c->ow = ow;
    c->threads = threads;
    c->src_layout = src_layout;
    c->dst_layout = dst_layout;
    c->io = io;
    c->src_elems = layout_elems(src_layout, n, h, width, d->cin); /* bounded by shape_check */
    c->dst_elems = layout_elems(dst_layout, n, oh, ow, d->cout);
    dnnl_engine_t eng = af_engine_dnnl(e);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st;
    const void *wptr = w->wbuf;
    /* the shared weights: oneDNN's, or for Winograd weights on another path,
     * their OIHW form (then always copied for this shape) */
    const dnnl_memory_desc_t *swmd = &w->wmd;
    const void *swbuf = w->wbuf;
    dnnl_memory_desc_t umd;
    float *oihw = NULL;
    if (w->pw && !naive && src_layout == AF_LAYOUT_BLK16 && dst_layout == AF_LAYOUT_BLK16) {
        c->path = AF_CONV_POINTWISE; /* bf16 weights: io is bf16 or none (checked above) */
        if (c->threads <= 0)
            c->threads = af_engine_max_threads(e);
        snprintf(c->impl, sizeof c->impl, "pointwise:avx512_bf16");
        if ((rc = af_pw_create(w->pw, n, h, width, c->threads, d->act, &c->pw, err)))
            goto fail_early;
        *out = c;
        return AF_OK;
    }
    if (w->wino) {
        /* the Winograd kernels read and write float: narrow activations (io) take
         * the oneDNN path below on the weights turned back to OIHW */
        if (!naive && !io && af_layout_blk(src_layout) && src_layout == dst_layout) {
            c->path = AF_CONV_WINOGRAD;
            if (c->threads <= 0)
                c->threads = af_engine_max_threads(e);
            int m = af_wino_weights_tile(w->wino);
            snprintf(c->impl, sizeof c->impl, "winograd:f%dx%d_3x3%s:%s", m, m,
                     af_wino_weights_stride(w->wino) == 2 ? "s2" : "",
                     af_wino_weights_is_bf16(w->wino) ? "avx2+avx512_bf16" : "avx2");
            if ((rc = af_wino_create(w->wino, af_layout_blk(src_layout), n, h, width, c->threads,
                                     d->act, &c->wino, err)))
                goto fail_early;
            *out = c;
            return AF_OK;
        }
        if ((rc = wino_oihw(w, &oihw, err)))
            goto fail_early;
        if ((st = oihw_md(d, &umd))) {
            rc = dnnl_err(err, "describing the OIHW weights", st);
            goto fail_early;
        }
        swmd = &umd;
        swbuf = oihw;
    }

    /* Kernels size their work split for the thread count when created, and
     * oneDNN's primitive cache keys on the count at primitive creation: keep
     * it set until the primitive exists. */
    int prev = af_engine_set_threads(e, threads);
    if (threads <= 0)
        c->threads = af_engine_max_threads(e);
    int any_act = 0;
    st = naive || oihw ? dnnl_unimplemented
                       : make_pd_fast(eng, d, w->bias != NULL, n, h, width, &w->wmd,
                                      w_prec(w, io, dst_q), c->src_layout, c->dst_layout,
                                      &any_act, &pd);
    if (st == dnnl_success && af_dnnl_impl_is_ref(pd)) {
        dnnl_primitive_desc_destroy(pd); /* the blocked format forced a slow kernel */
        pd = NULL;
        st = dnnl_unimplemented;
    }
    if (st == dnnl_success) {
        c->path = AF_CONV_DNNL_SHARED;
    } else if (st == dnnl_unimplemented) {
        st = naive ? dnnl_unimplemented
                   : make_pd_fast(eng, d, w->bias != NULL, n, h, width, NULL,
                                  w_prec(w, io, dst_q), c->src_layout, c->dst_layout, &any_act,
                                  &pd);
        if (st == dnnl_success) {
            c->path = AF_CONV_DNNL_PRIVATE;
        } else if (st == dnnl_unimplemented) {
            c->path = AF_CONV_REF;
            st = dnnl_success;
        }
    }
    if (st) {
        rc = dnnl_err(err, "creating a convolution", st);
        goto fail;
    }
    if (w->int8 && c->path == AF_CONV_REF) { /* the naive loops are fp32 */
        rc = af_fail(err, AF_E_UNSUPPORTED, "conv: no int8 kernel for a %dx%d input", h, width);
        goto fail;
    }

    if (c->path != AF_CONV_DNNL_SHARED) {
        /* Reorder the shared weights into what this shape needs. */
        dnnl_memory_desc_t tmd;
        const dnnl_memory_desc_t *q = NULL;
        if (c->path == AF_CONV_DNNL_PRIVATE) {
            if (!(q = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0))) {
                rc = af_fail(err, AF_E_INTERNAL, "oneDNN: convolution has no weights descriptor");
                goto fail;
            }
            tmd = *q;
        } else if ((st = oihw_md(d, &tmd))) {
            rc = dnnl_err(err, "describing the OIHW weights", st);
            goto fail;
        }
        if (!oihw && dnnl_memory_desc_equal(&tmd, &w->wmd)) {
            if (c->path == AF_CONV_DNNL_PRIVATE)
                c->path = AF_CONV_DNNL_SHARED;
        } else if (w->int8) { /* quantized afresh from the float weights for this format */
            dnnl_memory_desc_t fmd;
            size_t bytes = dnnl_memory_desc_get_size(&tmd);
            if ((st = oihw_md(d, &fmd))) {
                rc = dnnl_err(err, "describing the OIHW weights", st);
                goto fail;
            }
            if (!(c->own_w = af_alloc64(bytes ? bytes : 1))) {
                rc = af_fail(err, AF_E_NOMEM, "conv: out of memory for the int8 weights");
                goto fail;
            }
            memset(c->own_w, 0, bytes);
            if ((rc = reorder_quantize(eng, &fmd, w->oihw32, &tmd, c->own_w, d->cout, w->q8,
                                       err)))
                goto fail;
            wptr = c->own_w;
        } else {
            if ((rc = alloc_reordered(eng, swmd, swbuf, &tmd, &c->own_w, err)))
                goto fail;
            wptr = c->own_w;
        }
        free(oihw);
        oihw = NULL;
    }
    if (c->path == AF_CONV_REF) {
        snprintf(c->impl, sizeof c->impl, "ref:naive");
        if (((io & AF_CONV_SRC_BF16) && !(c->srcf = malloc(c->src_elems * sizeof(float)))) ||
            ((io & AF_CONV_DST_BF16) && !(c->dstf = malloc(c->dst_elems * sizeof(float))))) {
            rc = af_fail(err, AF_E_NOMEM, "conv: out of memory");
            goto fail;
        }
        if (src_layout != AF_LAYOUT_NHWC || dst_layout != AF_LAYOUT_NHWC) {
            c->ref_src = malloc((size_t)n * h * width * d->cin * sizeof(float));
            c->ref_dst = malloc((size_t)n * oh * ow * d->cout * sizeof(float));
            if (!c->ref_src || !c->ref_dst) {
                rc = af_fail(err, AF_E_NOMEM, "conv: out of memory");
                goto fail;
            }
        }
        af_engine_restore_threads(e, prev);
        *out = c;
        return AF_OK;
    }
    snprintf(c->impl, sizeof c->impl, "%s%s", af_dnnl_impl(pd), any_act ? "+reorders" : "");
    if (w->bf16 && !(io & AF_CONV_SRC_BF16)) {
        if (!(c->src16 = af_alloc64(c->src_elems * sizeof *c->src16))) {
            rc = af_fail(err, AF_E_NOMEM, "conv: out of memory for the bf16 input");
            goto fail;
        }
    }

    const char *what = "creating the convolution primitive";
    if ((st = dnnl_primitive_create(&c->prim, pd)))
        goto dnnl_fail;
    what = "creating a stream";
    if ((st = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags)))
        goto dnnl_fail;
    what = "creating memory objects";
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *spmd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (!smd || !dmd || !wmd) {
        rc = af_fail(err, AF_E_INTERNAL, "oneDNN: convolution lacks a memory descriptor");
        goto fail;
    }
    if ((st = dnnl_memory_create(&c->msrc, smd, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->mdst, dmd, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->mwei, wmd, eng, (void *)wptr)))
        goto dnnl_fail;
    if (any_act && (rc = make_act_reorders(c, smd, dmd, err)))
        goto fail;
    if (w->bias) {
        const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
        if (!bmd) {
            rc = af_fail(err, AF_E_INTERNAL, "oneDNN: convolution lacks the bias descriptor");
            goto fail;
        }
        if ((st = dnnl_memory_create(&c->mbias, bmd, eng, w->int8 ? w->qbias : w->bias)))
            goto dnnl_fail;
    }
    size_t spbytes = spmd ? dnnl_memory_desc_get_size(spmd) : 0;
    if (spbytes) {
        c->scratch = af_alloc64(spbytes);
        if (!c->scratch) {
            rc = af_fail(err, AF_E_NOMEM, "conv: out of memory for %zu bytes of scratchpad",
                         spbytes);
            goto fail;
        }
        if ((st = dnnl_memory_create(&c->mscratch, spmd, eng, c->scratch)))
            goto dnnl_fail;
    }
    dnnl_primitive_desc_destroy(pd);
    af_engine_restore_threads(e, prev);
    *out = c;
    return AF_OK;
dnnl_fail:
    rc = dnnl_err(err, what, st);
fail:
    af_engine_restore_threads(e, prev);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
fail_early:
    free(oihw);
    af_conv_free(c);
    return rc;
}

af_status af_conv_create(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                         int threads, af_conv **out, af_error *err)
{
    return conv_create(e, w, n, h, width, threads, 0, AF_LAYOUT_NHWC, AF_LAYOUT_NHWC, 0, NULL,
                       out, err);
}

af_status af_conv_create_for(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                             int threads, af_layout src_layout, af_layout dst_layout,
                             af_conv **out, af_error *err)
{
    return conv_create(e, w, n, h, width, threads, 0, src_layout, dst_layout, 0, NULL, out, err);
}

af_status af_conv_create_io(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                            int threads, af_layout src_layout, af_layout dst_layout, int io,
                            const af_conv_weights *reader, int naive, af_conv **out,
                            af_error *err)
{
    return conv_create(e, w, n, h, width, threads, naive, src_layout, dst_layout, io, reader, out,
                       err);
}

af_status af_conv_create_naive(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                               af_conv **out, af_error *err)
{
    return conv_create(e, w, n, h, width, 1, 1, AF_LAYOUT_NHWC, AF_LAYOUT_NHWC, 0, NULL, out,
                       err);
}

af_status af_conv_create_naive_for(af_engine *e, const af_conv_weights *w, int n, int h,
                                   int width, af_layout src_layout, af_layout dst_layout,
                                   af_conv **out, af_error *err)
{
    return conv_create(e, w, n, h, width, 1, 1, src_layout, dst_layout, 0, NULL, out, err);
}

/* Layout conversions around the naive loops: layout l to NHWC (to_nhwc) or back. */
static void convert_nhwc(af_layout l, int to_nhwc, int n, int h, int w, int c, const float *src,
                         float *dst)
{
    if (af_layout_blk(l) && to_nhwc)
        af_blk_to_nhwc(af_layout_blk(l), n, h, w, c, src, dst, 1);
    else if (af_layout_blk(l))
        af_nhwc_to_blk(af_layout_blk(l), n, h, w, c, src, dst);
    else if (l == AF_LAYOUT_NCHW && to_nhwc)
        af_nchw_to_nhwc(n, h, w, c, src, dst);
    else if (l == AF_LAYOUT_NCHW)
        af_nhwc_to_nchw(n, h, w, c, src, dst, 1);
    else
        memcpy(dst, src, (size_t)n * h * w * c * sizeof *dst);
}

static af_status forward_f(af_conv *c, const void *src, void *dst, af_error *err);

af_status af_conv_forward(af_conv *c, const void *src, void *dst, af_error *err)
{
    if (!src || !dst)
        return af_fail(err, AF_E_ARG, "conv: NULL tensor");
    if (c->srcf) { /* bf16 input on the float path */
        const uint16_t *s16 = src;
        for (size_t i = 0; i < c->src_elems; i++)
            c->srcf[i] = af_bf16_to_f32(s16[i]);
        src = c->srcf;
    }
    af_status rc = forward_f(c, src, c->dstf ? (void *)c->dstf : dst, err);
    if (!rc && c->dstf)
        af_bf16_from_f32_array(c->dstf, dst, c->dst_elems, c->threads);
    return rc;
}

/* The run, src and dst as the path takes them (REF: float). */
static af_status forward_f(af_conv *c, const void *src, void *dst, af_error *err)
{
    if (c->path == AF_CONV_WINOGRAD) {
        af_wino_forward(c->wino, src, dst);
        return AF_OK;
    }
    if (c->path == AF_CONV_POINTWISE) {
        af_pw_forward(c->pw, src, (c->io & AF_CONV_SRC_BF16) != 0, dst,
                      (c->io & AF_CONV_DST_BF16) != 0);
        return AF_OK;
    }
    if (c->path == AF_CONV_REF) {
        const float *wt = c->own_w ? (const float *)c->own_w : (const float *)c->w->wbuf;
        const af_conv_desc *d = &c->w->d;
        if (!c->ref_src) {
            af_conv_ref(d, wt, c->w->bias, c->n, c->h, c->wd, src, dst);
            return AF_OK;
        }
        convert_nhwc(c->src_layout, 1, c->n, c->h, c->wd, d->cin, src, c->ref_src);
        af_conv_ref(d, wt, c->w->bias, c->n, c->h, c->wd, c->ref_src, c->ref_dst);
        convert_nhwc(c->dst_layout, 0, c->n, c->oh, c->ow, d->cout, c->ref_dst, dst);
        return AF_OK;
    }
    dnnl_status_t st;
    if (c->src16)
        af_bf16_from_f32_array(src, c->src16, c->src_elems, c->threads);
    void *in = c->src16 ? (void *)c->src16 : (void *)src;
    if ((st = dnnl_memory_set_data_handle(c->rsrc ? c->usrc : c->msrc, in)) ||
        (st = dnnl_memory_set_data_handle(c->rdst ? c->udst : c->mdst, dst)))
        return dnnl_err(err, "setting the convolution buffers", st);
    dnnl_exec_arg_t args[5];
    int na = 0;
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, c->msrc};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, c->mwei};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, c->mdst};
    if (c->mbias)
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->mbias};
    if (c->mscratch)
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, c->mscratch};
    int prev = af_engine_set_threads(c->e, c->threads);
    st = c->rsrc ? run_reorder(c, c->rsrc, c->usrc, c->msrc) : dnnl_success;
    if (!st)
        st = dnnl_primitive_execute(c->prim, c->stream, na, args);
    if (!st && c->rdst)
        st = run_reorder(c, c->rdst, c->mdst, c->udst);
    if (!st)
        st = dnnl_stream_wait(c->stream);
    af_engine_restore_threads(c->e, prev);
    if (st)
        return dnnl_err(err, "executing a convolution", st);
    return AF_OK;
}

void af_conv_free(af_conv *c)
{
    if (!c)
        return;
    if (c->mscratch)
        dnnl_memory_destroy(c->mscratch);
    if (c->mbias)
        dnnl_memory_destroy(c->mbias);
    if (c->mwei)
        dnnl_memory_destroy(c->mwei);
    if (c->mdst)
        dnnl_memory_destroy(c->mdst);
    if (c->msrc)
        dnnl_memory_destroy(c->msrc);
    if (c->usrc)
        dnnl_memory_destroy(c->usrc);
    if (c->udst)
        dnnl_memory_destroy(c->udst);
    if (c->rsrc)
        dnnl_primitive_destroy(c->rsrc);
    if (c->rdst)
        dnnl_primitive_destroy(c->rdst);
    free(c->ksrc);
    free(c->kdst);
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    if (c->prim)
        dnnl_primitive_destroy(c->prim);
    free(c->own_w);
    free(c->scratch);
    free(c->src16);
    free(c->srcf);
    free(c->dstf);
    free(c->ref_src);
    free(c->ref_dst);
    af_wino_free(c->wino);
    af_pw_free(c->pw);
    free(c);
}

const char *af_conv_impl(const af_conv *c)
{
    return c->impl;
}

af_conv_path af_conv_get_path(const af_conv *c)
{
    return c->path;
}

void af_conv_get_out_hw(const af_conv *c, int *oh, int *ow)
{
    *oh = c->oh;
    *ow = c->ow;
}
