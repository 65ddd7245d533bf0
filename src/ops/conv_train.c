/* Training convolution through oneDNN (C API, 2.6).
 *
 * One object holds, for one input shape, three primitives sharing a forward
 * hint: forward_training, backward_data and backward_weights (+ bias), all
 * with NHWC activations and weights in format `any`, so each kernel picks its
 * own blocked layout. Around them sit up to three reorders: OIHW -> forward
 * weights, OIHW -> backward-data weights, and diff-weights -> OIHW; a reorder
 * whose two formats coincide is skipped (the user buffer is used directly).
 * The weights are reordered on every call since they change every step; that
 * costs one pass over the weights, small beside the convolution.
 * Backward-weights of the 3x3 convolutions (cin >= 8) takes its source and
 * diff-dst in format `any` too: its jit kernels run 1.3-2.5x faster on
 * blocked (nChw8c) layouts than on NHWC (measured on AVX2), more than the two
 * reorders of x and dy cost, so x and dy are reordered into the blocked
 * layout first. For 1x1 and the 3-channel first layer NHWC is as fast or
 * faster once the reorders are counted, and stays.
 * Temporary memory (oneDNN scratchpads, shared since the primitives run one
 * after another on the object's stream, and the blocked copies of x and dy)
 * lives in one workspace: the object's own, allocated at the first call that
 * needs it, or one the caller shares among objects (af_conv_train_set_workspace).
 * The 3x3 stride-1 convolutions from 32 channels on either side run their
 * forward and backward-data by Winograd F(2x2,3x3) (ops/winograd.h) on those
 * blocked copies where the inference pass would (AVX2 CPUs), the weights
 * transformed anew at each call.
 * bf16 objects (af_conv_train_create_bf16) declare the source, weights and
 * diff-dst of the three primitives bf16 and everything else float32: the same
 * reorders then convert on the way in (every such conv gets its copies of x
 * and dy), and no Winograd path runs (its copies are float32 nChw8c only). */
#include "ops/conv_train.h"

#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/aligned.h"
#include "core/checked.h"
#include "core/error.h"
#include "ops/winograd.h"

#define AF_CT_MAX_ELEMS ((size_t)1 << 31)

enum { P_FWD, P_BWDD, P_BWDW, R_WF, R_WD, R_DW, R_X, R_DY, R_XF, R_YF, R_DYD, R_DXD, NPRIM };

struct af_conv_train {
    af_engine *e;
    af_conv_desc d;
    int has_bias, n, h, w, oh, ow, threads, naive;
    int bf16; /* bf16 source, weights and diff-dst, float32 everything else */
    char impl[3][64];
    dnnl_stream_t stream;
    dnnl_primitive_t prim[NPRIM];   /* reorders NULL where formats coincide */
    dnnl_memory_t mscr[NPRIM];      /* scratchpad views, NULL when none needed */
    size_t scr_bytes, xb_off, dyb_off, yb_off, dxb_off, ws_bytes; /* workspace layout */
    void *ws, *own_ws;              /* workspace in use, and the one owned */
    dnnl_memory_t m_xb, m_dyb;      /* blocked x / dy for backward-weights (or NULL) */
    /* blocked x / y of the forward, dy / dx of backward-data (or NULL) */
    dnnl_memory_t m_xf, m_yf, m_dyd, m_dxd;
    /* activations (user buffers, handles set per call) */
    dnnl_memory_t m_x, m_y, m_dx, m_dy, m_b, m_db;
    /* weights: user OIHW (w and dw), forward, backward-data, diff formats */
    dnnl_memory_t m_wu, m_dwu, m_wf, m_wd, m_dw;
    void *wf_buf, *wd_buf, *dw_buf; /* NULL where the format is OIHW */
    float *db_buf;                  /* cout floats: diff bias when db is NULL */
    /* Winograd forward (cin -> cout) and backward-data (cout -> cin), or NULL */
    af_wino_weights *ww_f, *ww_d;
    af_wino *wx_f, *wx_d;
};

static af_status dnnl_err(af_error *err, const char *what, dnnl_status_t st)
{
    return af_fail(err, AF_E_INTERNAL, "oneDNN: conv_train: %s (%s)", what,
                   af_dnnl_status_name(st));
}

static dnnl_status_t user_scratch_attr(dnnl_primitive_attr_t *attr)
{
    dnnl_status_t st = dnnl_primitive_attr_create(attr);
    if (!st && (st = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user))) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

/* Creates the three convolution primitive descriptors. */
static dnnl_status_t make_pds(dnnl_engine_t eng, const af_conv_train *c,
                              dnnl_primitive_desc_t pd[3])
{
    const af_conv_desc *d = &c->d;
    dnnl_memory_desc_t x_md, y_md, w_md, b_md, xa_md, ya_md;
    dnnl_dims_t xdims = {c->n, d->cin, c->h, c->w}, ydims = {c->n, d->cout, c->oh, c->ow};
    dnnl_dims_t wdims = {d->cout, d->cin, d->k, d->k}, bdims = {d->cout};
    dnnl_dims_t strides = {d->stride, d->stride}, pads = {d->pad, d->pad};
    dnnl_status_t st;
    /* backward-weights layouts: free for 3x3 (blocked wins even with the
     * reorders), NHWC for 1x1 and the few-channel first layer (measured: the
     * reorders cost more than the kernel gains there) */
    dnnl_format_tag_t bw_tag = (d->k > 1 && d->cin >= 8) ? dnnl_format_tag_any : dnnl_nhwc;
    /* forward and backward-data: blocked for the 3x3s from 32 channels (1.4-1.6x
     * faster kernels at batch 16 against reorders of 5-10% of that); NHWC below,
     * where the kernels gain nothing */
    dnnl_format_tag_t fd_tag = (d->k > 1 && d->cin >= 32) ? dnnl_format_tag_any : dnnl_nhwc;
    /* bf16: the source, weights and diff-dst in bf16 (converted by the
     * reorders into the kernels' copies), the results (dst, diff-src,
     * diff-weights, diff-bias) in float32 */
    const dnnl_data_type_t in = c->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t xd_md, yd_md, dw_md;
    pd[0] = pd[1] = pd[2] = NULL;
    if ((st = dnnl_memory_desc_init_by_tag(&x_md, 4, xdims, in, fd_tag)) ||
        (st = dnnl_memory_desc_init_by_tag(&xd_md, 4, xdims, dnnl_f32, fd_tag)) ||
        (st = dnnl_memory_desc_init_by_tag(&y_md, 4, ydims, dnnl_f32, fd_tag)) ||
        (st = dnnl_memory_desc_init_by_tag(&yd_md, 4, ydims, in, fd_tag)) ||
        (st = dnnl_memory_desc_init_by_tag(&xa_md, 4, xdims, in, bw_tag)) ||
        (st = dnnl_memory_desc_init_by_tag(&ya_md, 4, ydims, in, bw_tag)) ||
        (st = dnnl_memory_desc_init_by_tag(&w_md, 4, wdims, in, dnnl_format_tag_any)) ||
        (st = dnnl_memory_desc_init_by_tag(&dw_md, 4, wdims, dnnl_f32, dnnl_format_tag_any)) ||
        (st = dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_a)))
        return st;
    const dnnl_memory_desc_t *bp = c->has_bias ? &b_md : NULL;
    dnnl_convolution_desc_t fd, dd, wd;
    if ((st = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                 dnnl_convolution_direct, &x_md, &w_md, bp,
                                                 &y_md, strides, pads, pads)) ||
        (st = dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &xd_md,
                                                       &w_md, &yd_md, strides, pads, pads)) ||
        (st = dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &xa_md,
                                                          &dw_md, bp, &ya_md, strides, pads,
                                                          pads)))
        return st;
    dnnl_primitive_attr_t attr = NULL;
    if ((st = user_scratch_attr(&attr)))
        return st;
    st = dnnl_primitive_desc_create(&pd[0], &fd, attr, eng, NULL);
    if (!st)
        st = dnnl_primitive_desc_create(&pd[1], &dd, attr, eng, pd[0]);
    if (!st)
        st = dnnl_primitive_desc_create(&pd[2], &wd, attr, eng, pd[0]);
    dnnl_primitive_attr_destroy(attr);
    if (st) {
        for (int i = 0; i < 3; i++)
            if (pd[i])
                dnnl_primitive_desc_destroy(pd[i]);
        pd[0] = pd[1] = pd[2] = NULL;
    }
    return st;
}

/* Creates a reorder from fmd to tmd (NULL prim when they are equal). */
static dnnl_status_t make_reorder(dnnl_engine_t eng, const dnnl_memory_desc_t *fmd,
                                  const dnnl_memory_desc_t *tmd, dnnl_primitive_t *prim,
                                  dnnl_memory_desc_t *scr_md)
{
    *prim = NULL;
    memset(scr_md, 0, sizeof *scr_md);
    if (dnnl_memory_desc_equal(fmd, tmd))
        return dnnl_success;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_status_t st = user_scratch_attr(&attr);
    if (!st)
        st = dnnl_reorder_primitive_desc_create(&rpd, fmd, eng, tmd, eng, attr);
    if (!st) {
        const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(rpd, dnnl_query_scratchpad_md, 0);
        if (q)
            *scr_md = *q;
        st = dnnl_primitive_create(prim, rpd);
    }
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static af_status shape_check(const af_conv_desc *d, int n, int h, int w, int oh, int ow,
                             af_error *err)
{
    size_t a, b;
    if (n < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
        return af_fail(err, AF_E_ARG, "conv_train: input %dx%dx%d (k %d, pad %d) gives no output",
                       n, h, w, d->k, d->pad);
    if (af_mul3_size((size_t)n, (size_t)h, (size_t)w, &a) || af_mul_size(a, (size_t)d->cin, &a) ||
        af_mul3_size((size_t)n, (size_t)oh, (size_t)ow, &b) ||
        af_mul_size(b, (size_t)d->cout, &b) || a > AF_CT_MAX_ELEMS || b > AF_CT_MAX_ELEMS)
        return af_fail(err, AF_E_LIMIT, "conv_train: tensor %dx%dx%dx%d too large", n, h, w,
                       d->cin);
    return AF_OK;
}

/* Builds the oneDNN side of c from the three pds (which it consumes). */
static af_status build_dnnl(af_conv_train *c, dnnl_engine_t eng, dnnl_primitive_desc_t pd[3],
                            af_error *err)
{
    dnnl_status_t st;
    const char *what = "describing the tensors";
    const af_conv_desc *d = &c->d;
    dnnl_memory_desc_t oihw, x_md, y_md, b_md, scr_md[NPRIM];
    dnnl_dims_t wdims = {d->cout, d->cin, d->k, d->k}, bdims = {d->cout};
    dnnl_dims_t xdims = {c->n, d->cin, c->h, c->w}, ydims = {c->n, d->cout, c->oh, c->ow};
    af_status rc = AF_OK;
    memset(scr_md, 0, sizeof scr_md);
    if ((st = dnnl_memory_desc_init_by_tag(&oihw, 4, wdims, dnnl_f32, dnnl_oihw)) ||
        (st = dnnl_memory_desc_init_by_tag(&x_md, 4, xdims, dnnl_f32, dnnl_nhwc)) ||
        (st = dnnl_memory_desc_init_by_tag(&y_md, 4, ydims, dnnl_f32, dnnl_nhwc)) ||
        (st = dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_a)))
        goto dnnl_fail;
    const dnnl_memory_desc_t *wf = dnnl_primitive_desc_query_md(pd[0], dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *wdd = dnnl_primitive_desc_query_md(pd[1], dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dwm =
        dnnl_primitive_desc_query_md(pd[2], dnnl_query_diff_weights_md, 0);
    if (!wf || !wdd || !dwm) {
        rc = af_fail(err, AF_E_INTERNAL, "oneDNN: conv_train: a weights descriptor is missing");
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(c->impl[i], sizeof c->impl[i], "%s", af_dnnl_impl(pd[i]));
        const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd[i], dnnl_query_scratchpad_md, 0);
        if (q)
            scr_md[i] = *q;
        what = "creating a convolution primitive";
        if ((st = dnnl_primitive_create(&c->prim[i], pd[i])))
            goto dnnl_fail;
    }
    what = "creating a weights reorder";
    if ((st = make_reorder(eng, &oihw, wf, &c->prim[R_WF], &scr_md[R_WF])) ||
        (st = make_reorder(eng, &oihw, wdd, &c->prim[R_WD], &scr_md[R_WD])) ||
        (st = make_reorder(eng, dwm, &oihw, &c->prim[R_DW], &scr_md[R_DW])))
        goto dnnl_fail;
    const dnnl_memory_desc_t *xbm = dnnl_primitive_desc_query_md(pd[2], dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dybm =
        dnnl_primitive_desc_query_md(pd[2], dnnl_query_diff_dst_md, 0);
    if (!xbm || !dybm) {
        rc = af_fail(err, AF_E_INTERNAL, "oneDNN: conv_train: a tensor descriptor is missing");
        goto out;
    }
    const dnnl_memory_desc_t *xfm = dnnl_primitive_desc_query_md(pd[0], dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *yfm = dnnl_primitive_desc_query_md(pd[0], dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *dydm =
        dnnl_primitive_desc_query_md(pd[1], dnnl_query_diff_dst_md, 0);
    const dnnl_memory_desc_t *dxdm =
        dnnl_primitive_desc_query_md(pd[1], dnnl_query_diff_src_md, 0);
    if (!xfm || !yfm || !dydm || !dxdm) {
        rc = af_fail(err, AF_E_INTERNAL, "oneDNN: conv_train: a tensor descriptor is missing");
        goto out;
    }
    what = "creating an activation reorder";
    if ((st = make_reorder(eng, &x_md, xbm, &c->prim[R_X], &scr_md[R_X])) ||
        (st = make_reorder(eng, &y_md, dybm, &c->prim[R_DY], &scr_md[R_DY])) ||
        (st = make_reorder(eng, &x_md, xfm, &c->prim[R_XF], &scr_md[R_XF])) ||
        (st = make_reorder(eng, yfm, &y_md, &c->prim[R_YF], &scr_md[R_YF])) ||
        (st = make_reorder(eng, &y_md, dydm, &c->prim[R_DYD], &scr_md[R_DYD])) ||
        (st = make_reorder(eng, dxdm, &x_md, &c->prim[R_DXD], &scr_md[R_DXD])))
        goto dnnl_fail;

    /* buffers for the non-OIHW weight formats */
    const dnnl_memory_desc_t *fmt[3] = {wf, wdd, dwm};
    void **buf[3] = {&c->wf_buf, &c->wd_buf, &c->dw_buf};
    int need[3] = {c->prim[R_WF] != NULL, c->prim[R_WD] != NULL, 1 /* dw when NULL */};
    for (int i = 0; i < 3; i++) {
        if (!need[i])
            continue;
        size_t bytes = dnnl_memory_desc_get_size(fmt[i]);
        if (!(*buf[i] = af_zalloc64(bytes))) {
            rc = af_fail(err, AF_E_NOMEM, "conv_train: out of memory for %zu bytes of weights",
                         bytes);
            goto out;
        }
    }
    if (c->has_bias && !(c->db_buf = af_zalloc64((size_t)d->cout * sizeof(float)))) {
        rc = af_fail(err, AF_E_NOMEM, "conv_train: out of memory");
        goto out;
    }

    what = "creating memory objects";
    if ((st = dnnl_memory_create(&c->m_x, &x_md, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_dx, &x_md, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_y, &y_md, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_dy, &y_md, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_wu, &oihw, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_dwu, &oihw, eng, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_wf, wf, eng, c->wf_buf ? c->wf_buf : DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_wd, wdd, eng, c->wd_buf ? c->wd_buf : DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&c->m_dw, dwm, eng, c->dw_buf)))
        goto dnnl_fail;
    if (c->has_bias && ((st = dnnl_memory_create(&c->m_b, &b_md, eng, DNNL_MEMORY_NONE)) ||
                        (st = dnnl_memory_create(&c->m_db, &b_md, eng, c->db_buf))))
        goto dnnl_fail;
    if (c->prim[R_X] && (st = dnnl_memory_create(&c->m_xb, xbm, eng, DNNL_MEMORY_NONE)))
        goto dnnl_fail;
    if (c->prim[R_DY] && (st = dnnl_memory_create(&c->m_dyb, dybm, eng, DNNL_MEMORY_NONE)))
        goto dnnl_fail;
    if ((c->prim[R_XF] && (st = dnnl_memory_create(&c->m_xf, xfm, eng, DNNL_MEMORY_NONE))) ||
        (c->prim[R_YF] && (st = dnnl_memory_create(&c->m_yf, yfm, eng, DNNL_MEMORY_NONE))) ||
        (c->prim[R_DYD] && (st = dnnl_memory_create(&c->m_dyd, dydm, eng, DNNL_MEMORY_NONE))) ||
        (c->prim[R_DXD] && (st = dnnl_memory_create(&c->m_dxd, dxdm, eng, DNNL_MEMORY_NONE))))
        goto dnnl_fail;
    if (c->m_xf || c->m_yf) {
        size_t len = strlen(c->impl[0]);
        snprintf(c->impl[0] + len, sizeof c->impl[0] - len, "+blocked");
    }
    if (c->m_dyd || c->m_dxd) {
        size_t len = strlen(c->impl[1]);
        snprintf(c->impl[1] + len, sizeof c->impl[1] - len, "+blocked");
    }
    if (c->m_xb || c->m_dyb) {
        size_t len = strlen(c->impl[2]);
        snprintf(c->impl[2] + len, sizeof c->impl[2] - len, "+blocked");
    }

    size_t spmax = 0;
    for (int i = 0; i < NPRIM; i++) {
        size_t sz = c->prim[i] ? dnnl_memory_desc_get_size(&scr_md[i]) : 0;
        if (sz > spmax)
            spmax = sz;
    }
    for (int i = 0; i < NPRIM; i++)
        if (c->prim[i] && dnnl_memory_desc_get_size(&scr_md[i]) &&
            (st = dnnl_memory_create(&c->mscr[i], &scr_md[i], eng, DNNL_MEMORY_NONE)))
            goto dnnl_fail;
    /* workspace: [scratchpad | x | dy | y | dx], 64-byte aligned parts. The
     * forward uses x (its blocked input) and y (its blocked output); backward
     * uses x and dy for backward-weights, y for backward-data's blocked dy and
     * dx for its blocked dx. */
    size_t xb = c->m_xb ? dnnl_memory_desc_get_size(xbm) : 0;
    size_t dyb = c->m_dyb ? dnnl_memory_desc_get_size(dybm) : 0;
    size_t xf = c->m_xf ? dnnl_memory_desc_get_size(xfm) : 0;
    size_t yf = c->m_yf ? dnnl_memory_desc_get_size(yfm) : 0;
    size_t dyd = c->m_dyd ? dnnl_memory_desc_get_size(dydm) : 0;
    size_t dxd = c->m_dxd ? dnnl_memory_desc_get_size(dxdm) : 0;
#define AF_CT_ALIGN(v) (((v) + 63) & ~(size_t)63)
    c->scr_bytes = AF_CT_ALIGN(spmax);
    c->xb_off = c->scr_bytes;
    c->dyb_off = c->xb_off + AF_CT_ALIGN(xb > xf ? xb : xf);
    c->yb_off = c->dyb_off + AF_CT_ALIGN(dyb);
    c->dxb_off = c->yb_off + AF_CT_ALIGN(yf > dyd ? yf : dyd);
    c->ws_bytes = c->dxb_off + AF_CT_ALIGN(dxd);
#undef AF_CT_ALIGN
    goto out;
dnnl_fail:
    rc = dnnl_err(err, what, st);
out:
    for (int i = 0; i < 3; i++)
        if (pd[i])
            dnnl_primitive_desc_destroy(pd[i]);
    return rc;
}

/* Whether a staged (blocked) tensor is in the nChw8c layout the Winograd
 * kernels read and write. */
static int is_blk8(dnnl_memory_t m)
{
    const dnnl_memory_desc_t *md = NULL;
    dnnl_memory_desc_t want;
    if (!m || dnnl_memory_get_memory_desc(m, &md) || !md ||
        dnnl_memory_desc_init_by_tag(&want, 4, md->dims, dnnl_f32, dnnl_nChw8c))
        return 0;
    return dnnl_memory_desc_equal(md, &want);
}

/* The Winograd forward and backward-data of a 3x3 stride-1 convolution from
 * 32 channels on either side, where its blocked copies are nChw8c. */
static af_status setup_winograd(af_conv_train *c, af_error *err)
{
    const af_conv_desc *d = &c->d;
    if (d->stride != 1 || !af_conv_winograd_suits(c->e, d) || !is_blk8(c->m_xf) ||
        !is_blk8(c->m_yf) || !is_blk8(c->m_dyd) || !is_blk8(c->m_dxd))
        return AF_OK;
    /* zero weights for now: each call transforms its own (af_wino_weights_set) */
    af_status rc = af_wino_weights_create(2, d->cin, d->cout, NULL, NULL, &c->ww_f, err);
    if (!rc)
        rc = af_wino_weights_create(2, d->cout, d->cin, NULL, NULL, &c->ww_d, err);
    if (!rc)
        rc = af_wino_create(c->ww_f, 8, c->n, c->h, c->w, c->threads, AF_ACT_NONE, &c->wx_f, err);
    if (!rc)
        rc = af_wino_create(c->ww_d, 8, c->n, c->oh, c->ow, c->threads, AF_ACT_NONE, &c->wx_d, err);
    if (rc)
        return rc;
    for (int i = 0; i < 2; i++)
        snprintf(c->impl[i], sizeof c->impl[i], "winograd:f2x2_3x3:avx2+blocked");
    return AF_OK;
}

/* Whether any of the three kernels is oneDNN's reference one. */
static int any_ref(dnnl_primitive_desc_t pd[3])
{
    for (int i = 0; i < 3; i++)
        if (af_dnnl_impl_is_ref(pd[i]))
            return 1;
    return 0;
}

static af_status create(af_engine *e, const af_conv_desc *d, int has_bias, int n, int h, int w,
                        int threads, int naive, int bf16, af_conv_train **out, af_error *err)
{
    *out = NULL;
    af_status rc = af_conv_desc_check(d, err);
    if (rc)
        return rc;
    if (d->act != AF_ACT_NONE)
        return af_fail(err, AF_E_ARG, "conv_train: fused activation not supported in training "
                                      "(BatchNorm and SiLU are separate layers)");
    int oh, ow;
    af_conv_out_hw(d, h, w, &oh, &ow);
    if ((rc = shape_check(d, n, h, w, oh, ow, err)))
        return rc;
    af_conv_train *c = calloc(1, sizeof *c);
    if (!c)
        return af_fail(err, AF_E_NOMEM, "conv_train: out of memory");
    c->e = e;
    c->d = *d;
    c->has_bias = has_bias ? 1 : 0;
    c->n = n, c->h = h, c->w = w, c->oh = oh, c->ow = ow;
    c->threads = threads;
    c->bf16 = bf16 && !naive && af_engine_has_bf16(e, NULL);
    dnnl_engine_t eng = af_engine_dnnl(e);
    /* Kernels size their work split for the thread count at creation. */
    int prev = af_engine_set_threads(e, threads);
    if (threads <= 0)
        c->threads = af_engine_max_threads(e);
    dnnl_primitive_desc_t pd[3] = {NULL, NULL, NULL};
    dnnl_status_t st = naive ? dnnl_unimplemented : make_pds(eng, c, pd);
    if (c->bf16 && (st || any_ref(pd))) { /* no bf16 kernel for this shape: float32 */
        for (int i = 0; i < 3; i++) {
            if (pd[i])
                dnnl_primitive_desc_destroy(pd[i]);
            pd[i] = NULL;
        }
        c->bf16 = 0;
        st = make_pds(eng, c, pd);
    }
    if (st == dnnl_unimplemented) {
        c->naive = 1;
        for (int i = 0; i < 3; i++)
            snprintf(c->impl[i], sizeof c->impl[i], "ref:naive");
    } else if (st) {
        rc = dnnl_err(err, "creating the convolutions", st);
    } else if (!(rc = build_dnnl(c, eng, pd, err)) &&
               (st = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags))) {
        rc = dnnl_err(err, "creating a stream", st);
    } else if (!rc) {
        rc = setup_winograd(c, err);
    }
    af_engine_restore_threads(e, prev);
    if (rc) {
        af_conv_train_free(c);
        return rc;
    }
    *out = c;
    return AF_OK;
}

af_status af_conv_train_create(af_engine *e, const af_conv_desc *d, int has_bias, int n, int h,
                               int w, int threads, af_conv_train **out, af_error *err)
{
    return create(e, d, has_bias, n, h, w, threads, 0, 0, out, err);
}

af_status af_conv_train_create_bf16(af_engine *e, const af_conv_desc *d, int has_bias, int n,
                                    int h, int w, int threads, af_conv_train **out,
                                    af_error *err)
{
    return create(e, d, has_bias, n, h, w, threads, 0, 1, out, err);
}

af_status af_conv_train_create_naive(af_engine *e, const af_conv_desc *d, int has_bias, int n,
                                     int h, int w, af_conv_train **out, af_error *err)
{
    return create(e, d, has_bias, n, h, w, 1, 1, 0, out, err);
}

int af_conv_train_is_bf16(const af_conv_train *c)
{
    return c->bf16;
}

size_t af_conv_train_workspace_size(const af_conv_train *c)
{
    return c->ws_bytes;
}

void af_conv_train_set_workspace(af_conv_train *c, void *ws)
{
    c->ws = ws ? ws : c->own_ws;
}

/* Makes sure a workspace exists (allocating the object's own at first use). */
static af_status need_ws(af_conv_train *c, af_error *err)
{
    if (c->ws || !c->ws_bytes)
        return AF_OK;
    if (!c->own_ws && !(c->own_ws = af_zalloc64(c->ws_bytes)))
        return af_fail(err, AF_E_NOMEM, "conv_train: out of memory for a %zu-byte workspace",
                       c->ws_bytes);
    c->ws = c->own_ws;
    return AF_OK;
}

static dnnl_status_t run(af_conv_train *c, int which, int nargs, dnnl_exec_arg_t *args)
{
    if (c->mscr[which]) {
        dnnl_status_t st = dnnl_memory_set_data_handle(c->mscr[which], c->ws);
        if (st)
            return st;
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, c->mscr[which]};
    }
    return dnnl_primitive_execute(c->prim[which], c->stream, nargs, args);
}

static dnnl_status_t reorder(af_conv_train *c, int which, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return run(c, which, 2, a);
}

/* The tensor a primitive reads or writes in place of the user's mu: mu itself
 * when there is no blocked copy (mb NULL), else mb pointed at workspace offset
 * off and, for an input (fill >= 0), filled from mu by that reorder first. */
static dnnl_status_t staged(af_conv_train *c, dnnl_memory_t mu, dnnl_memory_t mb, size_t off,
                            int fill, dnnl_memory_t *use)
{
    *use = mu;
    if (!mb)
        return dnnl_success;
    dnnl_status_t st = dnnl_memory_set_data_handle(mb, (char *)c->ws + off);
    if (!st && fill >= 0)
        st = reorder(c, fill, mu, mb);
    if (!st)
        *use = mb;
    return st;
}

af_status af_conv_train_forward(af_conv_train *c, const float *x, const float *w_oihw,
                                const float *b, float *y, af_error *err)
{
    if (!x || !w_oihw || !y || (c->has_bias && !b))
        return af_fail(err, AF_E_ARG, "conv_train: forward: NULL tensor");
    if (c->naive) {
        af_conv_train_forward_ref(&c->d, c->n, c->h, c->w, x, w_oihw, c->has_bias ? b : NULL, y);
        return AF_OK;
    }
    af_status rc = need_ws(c, err);
    if (rc)
        return rc;
    dnnl_status_t st;
    int prev = af_engine_set_threads(c->e, c->threads);
    if ((st = dnnl_memory_set_data_handle(c->m_x, (void *)x)) ||
        (st = dnnl_memory_set_data_handle(c->m_y, y)) ||
        (st = dnnl_memory_set_data_handle(c->m_wu, (void *)w_oihw)) ||
        (c->m_b && (st = dnnl_memory_set_data_handle(c->m_b, (void *)b))))
        goto done;
    if (c->wx_f) { /* blocked x -> Winograd -> blocked y -> y */
        dnnl_memory_t msrc;
        if ((st = staged(c, c->m_x, c->m_xf, c->xb_off, R_XF, &msrc)) ||
            (st = dnnl_stream_wait(c->stream)))
            goto done;
        af_wino_weights_set(c->ww_f, w_oihw, c->has_bias ? b : NULL, 0, c->threads);
        af_wino_forward(c->wx_f, (const float *)((char *)c->ws + c->xb_off),
                        (float *)((char *)c->ws + c->yb_off));
        if ((st = dnnl_memory_set_data_handle(c->m_yf, (char *)c->ws + c->yb_off)) ||
            (st = reorder(c, R_YF, c->m_yf, c->m_y)))
            goto done;
        st = dnnl_stream_wait(c->stream);
        goto done;
    }
    if (c->prim[R_WF])
        st = reorder(c, R_WF, c->m_wu, c->m_wf);
    else
        st = dnnl_memory_set_data_handle(c->m_wf, (void *)w_oihw);
    if (st)
        goto done;
    dnnl_memory_t msrc, mdst;
    if ((st = staged(c, c->m_x, c->m_xf, c->xb_off, R_XF, &msrc)) ||
        (st = staged(c, c->m_y, c->m_yf, c->yb_off, -1, &mdst)))
        goto done;
    dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, msrc}, {DNNL_ARG_WEIGHTS, c->m_wf},
                            {DNNL_ARG_DST, mdst}};
    int na = 3;
    if (c->m_b)
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->m_b};
    if ((st = run(c, P_FWD, na, a)))
        goto done;
    if (c->m_yf && (st = reorder(c, R_YF, c->m_yf, c->m_y)))
        goto done;
    st = dnnl_stream_wait(c->stream);
done:
    af_engine_restore_threads(c->e, prev);
    return st ? dnnl_err(err, "executing the forward convolution", st) : AF_OK;
}

af_status af_conv_train_backward(af_conv_train *c, const float *x, const float *w_oihw,
                                 const float *dy, float *dx, float *dw, float *db, af_error *err)
{
    if (!dy || (dx && !w_oihw) || ((dw || db) && !x))
        return af_fail(err, AF_E_ARG, "conv_train: backward: NULL tensor");
    if (db && !c->has_bias)
        return af_fail(err, AF_E_ARG, "conv_train: backward: db asked of a layer without bias");
    if (c->naive) {
        if (dx)
            af_conv_bwd_data_ref(&c->d, c->n, c->h, c->w, w_oihw, dy, dx);
        if (dw) {
            af_conv_bwd_weights_ref(&c->d, c->n, c->h, c->w, x, dy, dw, db);
        } else if (db) {
            const size_t np = (size_t)c->n * c->oh * c->ow, co = (size_t)c->d.cout;
            for (size_t j = 0; j < co; j++) {
                double acc = 0;
                for (size_t i = 0; i < np; i++)
                    acc += dy[i * co + j];
                db[j] = (float)acc;
            }
        }
        return AF_OK;
    }
    af_status rc = need_ws(c, err);
    if (rc)
        return rc;
    dnnl_status_t st = dnnl_success;
    const char *what = "executing the backward-data convolution";
    int prev = af_engine_set_threads(c->e, c->threads);
    if ((st = dnnl_memory_set_data_handle(c->m_dy, (void *)dy)))
        goto done;
    if (dx && c->wx_d) { /* blocked dy -> Winograd with the rotated weights -> dx */
        dnnl_memory_t mdd;
        if ((st = dnnl_memory_set_data_handle(c->m_dx, dx)) ||
            (st = staged(c, c->m_dy, c->m_dyd, c->yb_off, R_DYD, &mdd)) ||
            (st = dnnl_stream_wait(c->stream)))
            goto done;
        af_wino_weights_set(c->ww_d, w_oihw, NULL, 1, c->threads);
        af_wino_forward(c->wx_d, (const float *)((char *)c->ws + c->yb_off),
                        (float *)((char *)c->ws + c->dxb_off));
        if ((st = dnnl_memory_set_data_handle(c->m_dxd, (char *)c->ws + c->dxb_off)) ||
            (st = reorder(c, R_DXD, c->m_dxd, c->m_dx)))
            goto done;
    } else if (dx) {
        if ((st = dnnl_memory_set_data_handle(c->m_dx, dx)) ||
            (st = dnnl_memory_set_data_handle(c->m_wu, (void *)w_oihw)))
            goto done;
        if (c->prim[R_WD])
            st = reorder(c, R_WD, c->m_wu, c->m_wd);
        else
            st = dnnl_memory_set_data_handle(c->m_wd, (void *)w_oihw);
        if (st)
            goto done;
        dnnl_memory_t mdd, mds;
        if ((st = staged(c, c->m_dy, c->m_dyd, c->yb_off, R_DYD, &mdd)) ||
            (st = staged(c, c->m_dx, c->m_dxd, c->dxb_off, -1, &mds)))
            goto done;
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, mdd}, {DNNL_ARG_WEIGHTS, c->m_wd},
                                {DNNL_ARG_DIFF_SRC, mds}};
        if ((st = run(c, P_BWDD, 3, a)))
            goto done;
        if (c->m_dxd && (st = reorder(c, R_DXD, c->m_dxd, c->m_dx)))
            goto done;
    }
    if (dw || db) {
        what = "executing the backward-weights convolution";
        /* diff weights straight into dw when its format is OIHW */
        void *dwh = (dw && !c->prim[R_DW]) ? (void *)dw : c->dw_buf;
        if ((st = dnnl_memory_set_data_handle(c->m_x, (void *)x)) ||
            (st = dnnl_memory_set_data_handle(c->m_dw, dwh)) ||
            (c->m_db && (st = dnnl_memory_set_data_handle(c->m_db, db ? db : c->db_buf))))
            goto done;
        dnnl_memory_t msrc, mdd; /* blocked copies of x and dy where they exist */
        if ((st = staged(c, c->m_x, c->m_xb, c->xb_off, R_X, &msrc)) ||
            (st = staged(c, c->m_dy, c->m_dyb, c->dyb_off, R_DY, &mdd)))
            goto done;
        dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, msrc}, {DNNL_ARG_DIFF_DST, mdd},
                                {DNNL_ARG_DIFF_WEIGHTS, c->m_dw}};
        int na = 3;
        if (c->m_db)
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, c->m_db};
        if ((st = run(c, P_BWDW, na, a)))
            goto done;
        if (dw && c->prim[R_DW] &&
            ((st = dnnl_memory_set_data_handle(c->m_dwu, dw)) ||
             (st = reorder(c, R_DW, c->m_dw, c->m_dwu))))
            goto done;
    }
    st = dnnl_stream_wait(c->stream);
done:
    af_engine_restore_threads(c->e, prev);
    return st ? dnnl_err(err, what, st) : AF_OK;
}

void af_conv_train_free(af_conv_train *c)
{
    if (!c)
        return;
    dnnl_memory_t *mems[] = {&c->m_x,  &c->m_y,  &c->m_dx,  &c->m_dy,  &c->m_b,  &c->m_db,
                             &c->m_wu, &c->m_dwu, &c->m_wf, &c->m_wd,  &c->m_dw, &c->m_xb,
                             &c->m_dyb, &c->m_xf, &c->m_yf, &c->m_dyd, &c->m_dxd};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (*mems[i])
            dnnl_memory_destroy(*mems[i]);
    for (int i = 0; i < NPRIM; i++) {
        if (c->mscr[i])
            dnnl_memory_destroy(c->mscr[i]);
        if (c->prim[i])
            dnnl_primitive_destroy(c->prim[i]);
    }
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    free(c->own_ws);
    free(c->wf_buf);
    free(c->wd_buf);
    free(c->dw_buf);
    free(c->db_buf);
    af_wino_free(c->wx_f);
    af_wino_free(c->wx_d);
    af_wino_weights_free(c->ww_f);
    af_wino_weights_free(c->ww_d);
    free(c);
}

void af_conv_train_out_hw(const af_conv_train *c, int *oh, int *ow)
{
    *oh = c->oh;
    *ow = c->ow;
}

const char *af_conv_train_impl(const af_conv_train *c, int which)
{
    return (which >= 0 && which < 3) ? c->impl[which] : "?";
}
