/* Training-mode forward and backward of a YOLOv8 detect network.
 *
 * Every activation is a `tact` (NHWC buffer) with a gradient buffer of the
 * same size. A gradient buffer is "fresh" at the start of each backward: the
 * first contribution is written straight into it, later ones are added, so
 * nothing needs zeroing. Each convolution unit keeps what its backward needs:
 * its input (borrowed), the conv output z and the SiLU output y, plus the
 * batch mean and inverse std (BN + SiLU run fused: the BN output is
 * recomputed in the backward, never stored). */
#include "train/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/aligned.h"
#include "core/checked.h"
#include "core/error.h"
#include "ops/act.h"
#include "ops/attention_train.h"
#include "ops/batchnorm.h"
#include "ops/concat.h"
#include "ops/conv_train.h"
#include "ops/dwconv_train.h"
#include "ops/grad.h"
#include "ops/pool.h"
#include "ops/upsample.h"

typedef struct tact {
    float *d, *g;
    size_t cap, gcap;
    int n, h, w, c;
    int gvalid; /* g holds a gradient of this step */
} tact;

typedef struct tunit {
    af_conv_unit *u; /* parameters (in the raw model) */
    float *gw, *gb, *ggamma, *gbeta;
    af_conv_train *exec[2];
    int exec_n[2], exec_h[2], exec_w[2];
    int last; /* exec slot used by the last forward */
    tact *x;  /* input of the last forward (borrowed) */
    tact z, y;
    float *mean, *invstd;
} tunit;

typedef struct tlayer {
    tact *out;   /* the layer output (a unit's y, or own) */
    tact own;    /* Upsample / Concat output */
    tact cur0;   /* C2f: y[-1] slice; C2: a slice */
    tact bpart;  /* C2: b slice */
    tact cat;    /* C2f / C2 / SPPF concat */
    tact pool[3];
    tact head[AF_MAX_LEVELS]; /* Detect: per level box|cls */
    tact *extra;  /* C3k2 with C3k blocks: each block's concat; C2PSA: per PSABlock the
                   * attention output (+ pe) and v in (B, C, H, W) order */
    int nextra;
    float **attn_p; /* C2PSA: per PSABlock the saved softmax */
    size_t *attn_cap;
} tlayer;

struct af_tnet {
    af_model *m;
    int threads;
    int bf16; /* convs created from now on in bf16 (af_conv_train_create_bf16) */
    float momentum;
    tunit *units;
    tlayer layers[AF_MAX_LAYERS];
    tact input;
    af_param *params;
    int nparams;
    float *scratch;
    size_t scratch_cap;
    float *pscratch; /* parameter-gradient scratch */
    size_t pscratch_cap;
    void *ws;        /* backward workspace shared by every conv (one runs at a time) */
    size_t ws_size;
    float *head_g[AF_MAX_LEVELS];
};

/* ---- buffers ---- */

static af_status ensure(float **p, size_t *cap, size_t n, af_error *err)
{
    if (n <= *cap)
        return AF_OK;
    free(*p);
    *p = malloc((n ? n : 1) * sizeof **p);
    *cap = *p ? n : 0;
    return *p ? AF_OK : af_fail(err, AF_E_NOMEM, "out of memory for training activations");
}

static size_t tsize(const tact *a)
{
    return (size_t)a->n * a->h * a->w * a->c;
}

static af_status tact_shape(tact *a, int n, int h, int w, int c, af_error *err)
{
    size_t need;
    if (af_mul_size((size_t)n * h, (size_t)w * c, &need))
        return af_fail(err, AF_E_LIMIT, "activation too large");
    a->n = n;
    a->h = h;
    a->w = w;
    a->c = c;
    a->gvalid = 0;
    return ensure(&a->d, &a->cap, need, err);
}

static af_status tact_grad(tact *a, af_error *err)
{
    return ensure(&a->g, &a->gcap, tsize(a), err);
}

static void tact_free(tact *a)
{
    free(a->d);
    free(a->g);
    memset(a, 0, sizeof *a);
}

static float *scratch(af_tnet *t, size_t n, af_error *err)
{
    return ensure(&t->scratch, &t->scratch_cap, n, err) ? NULL : t->scratch;
}

/* Where to write a gradient contribution for a: its buffer if fresh, else scratch. */
static float *grad_dst(af_tnet *t, tact *a, af_error *err)
{
    if (tact_grad(a, err))
        return NULL;
    return a->gvalid ? scratch(t, tsize(a), err) : a->g;
}

static void grad_commit(af_tnet *t, tact *a, const float *written)
{
    if (written != a->g)
        af_add_inplace(a->g, written, tsize(a), t->threads);
    a->gvalid = 1;
}

/* a.g[:, off:off+cn] (a has c channels) += src (npix, cn), or = when fresh. */
static af_status grad_add_channels(af_tnet *t, tact *a, int off, int cn, const float *src,
                                   int src_c, int src_off, af_error *err)
{
    if (tact_grad(a, err))
        return AF_E_NOMEM;
    size_t npix = (size_t)a->n * a->h * a->w;
    if (!a->gvalid) {
        if (off == 0 && cn == a->c) {
            af_copy_channels(npix, src_c, src_off, cn, src, a->g);
            a->gvalid = 1;
            return AF_OK;
        }
        memset(a->g, 0, tsize(a) * sizeof(float));
        a->gvalid = 1;
    }
    if (off == 0 && cn == a->c) {
        af_add_from_channels(npix, src_c, src_off, cn, src, a->g);
    } else {
        /* general case: through scratch */
        float *tmp = scratch(t, npix * cn, err);
        if (!tmp)
            return AF_E_NOMEM;
        af_copy_channels(npix, src_c, src_off, cn, src, tmp);
        af_add_to_channels(npix, a->c, off, cn, tmp, a->g);
    }
    return AF_OK;
}

/* ---- units ---- */

static af_conv_train *unit_exec(af_tnet *t, tunit *U, int n, int h, int w, af_error *err)
{
    for (int s = 0; s < 2; s++)
        if (U->exec[s] && U->exec_n[s] == n && U->exec_h[s] == h && U->exec_w[s] == w) {
            U->last = s;
            return U->exec[s];
        }
    int s = U->exec[0] ? (U->exec[1] ? (U->last ^ 1) : 1) : 0;
    af_conv_train_free(U->exec[s]);
    U->exec[s] = NULL;
    if ((t->bf16 ? af_conv_train_create_bf16 : af_conv_train_create)(
            t->m->engine, &U->u->desc, !U->u->has_bn, n, h, w, t->threads, &U->exec[s], err)) {
        af_error_prefix(err, "%s", U->u->name);
        return NULL;
    }
    U->exec_n[s] = n;
    U->exec_h[s] = h;
    U->exec_w[s] = w;
    U->last = s;
    size_t need = af_conv_train_workspace_size(U->exec[s]);
    if (need > t->ws_size) { /* grow, then hand the new buffer to every conv */
        free(t->ws);
        t->ws = af_alloc64(need);
        t->ws_size = t->ws ? need : 0;
        if (!t->ws) {
            af_fail(err, AF_E_NOMEM, "out of memory for the convolution workspace");
            return NULL;
        }
        for (int i = 0; i < t->m->nconvs; i++)
            for (int k = 0; k < 2; k++)
                if (t->units[i].exec[k])
                    af_conv_train_set_workspace(t->units[i].exec[k], t->ws);
    } else if (need) {
        af_conv_train_set_workspace(U->exec[s], t->ws);
    }
    return U->exec[s];
}

static af_status unit_forward(af_tnet *t, tunit *U, tact *x, af_error *err)
{
    const af_conv_unit *u = U->u;
    if (x->c != u->desc.cin)
        return af_fail(err, AF_E_INTERNAL, "%s: %d input channels, expected %d", u->name, x->c,
                       u->desc.cin);
    int oh = x->h, ow = x->w; /* depthwise: stride 1, same size */
    af_conv_train *e = NULL;
    if (u->groups == 1) {
        if (!(e = unit_exec(t, U, x->n, x->h, x->w, err)))
            return AF_E_INTERNAL;
        af_conv_train_out_hw(e, &oh, &ow);
    }
    U->x = x;
    af_status st;
    tact *z = u->has_bn ? &U->z : &U->y;
    if ((st = tact_shape(z, x->n, oh, ow, u->desc.cout, err)))
        return st;
    if (!e)
        af_dwconv_train_forward(x->n, x->h, x->w, x->c, u->desc.k, x->d, u->weight, z->d,
                                t->threads);
    else if ((st = af_conv_train_forward(e, x->d, u->weight, u->has_bn ? NULL : u->bias, z->d,
                                         err))) {
        af_error_prefix(err, "%s", u->name);
        return st;
    }
    if (!u->has_bn)
        return AF_OK;
    if ((st = tact_shape(&U->y, x->n, oh, ow, u->desc.cout, err)))
        return st;
    size_t npix = (size_t)x->n * oh * ow;
    st = u->silu ? af_bn_silu_train_forward(npix, u->desc.cout, z->d, u->bn_gamma, u->bn_bias,
                                            u->bn_eps, t->momentum, u->bn_mean, u->bn_var,
                                            U->y.d, U->mean, U->invstd, err)
                 : af_bn_train_forward(npix, u->desc.cout, z->d, u->bn_gamma, u->bn_bias,
                                       u->bn_eps, t->momentum, u->bn_mean, u->bn_var, U->y.d,
                                       U->mean, U->invstd, err);
    if (st) {
        af_error_prefix(err, "%s", u->name);
        return st;
    }
    return AF_OK;
}

/* Backward of a unit from U->y.g (consumed, may be overwritten). */
static af_status unit_backward(af_tnet *t, tunit *U, af_error *err)
{
    const af_conv_unit *u = U->u;
    tact *y = &U->y;
    if (!y->gvalid)
        return AF_OK; /* nothing flows back (unused output) */
    size_t npix = (size_t)y->n * y->h * y->w;
    int c = u->desc.cout;
    float *dz = y->g;
    size_t wn = af_conv_unit_weights(u);
    if (ensure(&t->pscratch, &t->pscratch_cap, wn + 2 * (size_t)c, err))
        return AF_E_NOMEM;
    float *pw = t->pscratch, *pa = pw + wn, *pb = pa + c;
    if (u->has_bn && u->silu) {
        af_bn_silu_backward(npix, c, U->z.d, dz, u->bn_gamma, u->bn_bias, U->mean, U->invstd,
                            dz, pa, pb);
        for (int i = 0; i < c; i++) {
            U->ggamma[i] += pa[i];
            U->gbeta[i] += pb[i];
        }
    } else if (u->has_bn) { /* BN without an activation (act=False) */
        af_bn_backward(npix, c, U->z.d, dz, u->bn_gamma, U->mean, U->invstd, dz, pa, pb);
        for (int i = 0; i < c; i++) {
            U->ggamma[i] += pa[i];
            U->gbeta[i] += pb[i];
        }
    }
    tact *x = U->x;
    float *dx = NULL;
    if (x != &t->input && !(dx = grad_dst(t, x, err)))
        return AF_E_NOMEM;
    af_status st = AF_OK;
    if (u->groups > 1)
        af_dwconv_train_backward(x->n, x->h, x->w, x->c, u->desc.k, x->d, u->weight, dz, dx, pw,
                                 t->threads);
    else
        st = af_conv_train_backward(U->exec[U->last], x->d, u->weight, dz, dx, pw,
                                    u->has_bn ? NULL : pa, err);
    if (st) {
        af_error_prefix(err, "%s", u->name);
        return st;
    }
    for (size_t i = 0; i < wn; i++)
        U->gw[i] += pw[i];
    if (!u->has_bn)
        for (int i = 0; i < c; i++)
            U->gb[i] += pa[i];
    if (dx)
        grad_commit(t, x, dx);
    return AF_OK;
}

/* ---- modules ---- */

static af_status concat_fwd(tact *const *parts, int np, tact *out, af_error *err)
{
    const float *srcs[70];
    int cs[70], c = 0;
    for (int i = 0; i < np; i++) {
        srcs[i] = parts[i]->d;
        cs[i] = parts[i]->c;
        c += cs[i];
    }
    af_status st = tact_shape(out, parts[0]->n, parts[0]->h, parts[0]->w, c, err);
    if (!st)
        af_concat_channels((size_t)out->n * out->h * out->w, np, srcs, cs, out->d);
    return st;
}

/* Distributes a concat's gradient back to its parts. */
static af_status concat_bwd(af_tnet *t, tact *const *parts, int np, tact *out, af_error *err)
{
    if (!out->gvalid)
        return AF_OK;
    int off = 0;
    for (int i = 0; i < np; i++) {
        af_status st = grad_add_channels(t, parts[i], 0, parts[i]->c, out->g, out->c, off, err);
        if (st)
            return st;
        off += parts[i]->c;
    }
    return AF_OK;
}

static af_status slice_fwd(const tact *x, int off, int cn, tact *out, af_error *err)
{
    af_status st = tact_shape(out, x->n, x->h, x->w, cn, err);
    if (!st)
        af_copy_channels((size_t)x->n * x->h * x->w, x->c, off, cn, x->d, out->d);
    return st;
}

static tunit *unit_at(af_tnet *t, int i)
{
    return &t->units[i];
}

static af_status bottleneck_fwd(af_tnet *t, int cv1, int cv2, int shortcut, tact *in, tact **out,
                                af_error *err)
{
    tunit *a = unit_at(t, cv1), *b = unit_at(t, cv2);
    af_status st;
    if ((st = unit_forward(t, a, in, err)) || (st = unit_forward(t, b, &a->y, err)))
        return st;
    if (shortcut) /* x + cv2(cv1(x)); SiLU's backward uses u, so y may be reused */
        af_add_inplace(b->y.d, in->d, tsize(&b->y), t->threads);
    *out = &b->y;
    return AF_OK;
}

static af_status bottleneck_bwd(af_tnet *t, int cv1, int cv2, int shortcut, tact *in,
                                af_error *err)
{
    tunit *a = unit_at(t, cv1), *b = unit_at(t, cv2);
    af_status st;
    if (shortcut && b->y.gvalid) {
        float *dst = grad_dst(t, in, err);
        if (!dst)
            return AF_E_NOMEM;
        memcpy(dst, b->y.g, tsize(&b->y) * sizeof(float));
        grad_commit(t, in, dst);
    }
    if ((st = unit_backward(t, b, err)) || (st = unit_backward(t, a, err)))
        return st;
    return AF_OK;
}

/* C3k (C3k2's block when c3k), convs from ci: cv1, cv2, cv3, m.0.cv1, m.0.cv2,
 * m.1.cv1, m.1.cv2; y = cv3(cat(m(cv1(x)), cv2(x))); cat is the block's own. */
static af_status c3k_fwd(af_tnet *t, int ci, int shortcut, tact *x, tact *cat, tact **out,
                         af_error *err)
{
    af_status st;
    tact *a = &unit_at(t, ci)->y;
    if ((st = unit_forward(t, unit_at(t, ci), x, err)))
        return st;
    for (int j = 0; j < 2; j++)
        if ((st = bottleneck_fwd(t, ci + 3 + 2 * j, ci + 4 + 2 * j, shortcut, a, &a, err)))
            return st;
    if ((st = unit_forward(t, unit_at(t, ci + 1), x, err)))
        return st;
    tact *parts[2] = {a, &unit_at(t, ci + 1)->y};
    if ((st = concat_fwd(parts, 2, cat, err)) ||
        (st = unit_forward(t, unit_at(t, ci + 2), cat, err)))
        return st;
    *out = &unit_at(t, ci + 2)->y;
    return AF_OK;
}

static af_status c3k_bwd(af_tnet *t, int ci, int shortcut, tact *cat, af_error *err)
{
    af_status st;
    cat->gvalid = 0;
    if ((st = unit_backward(t, unit_at(t, ci + 2), err)))
        return st;
    tact *parts[2] = {&unit_at(t, ci + 6)->y, &unit_at(t, ci + 1)->y};
    if ((st = concat_bwd(t, parts, 2, cat, err)))
        return st;
    for (int j = 1; j >= 0; j--)
        if ((st = bottleneck_bwd(t, ci + 3 + 2 * j, ci + 4 + 2 * j, shortcut,
                                 j ? &unit_at(t, ci + 4)->y : &unit_at(t, ci)->y, err)))
            return st;
    if ((st = unit_backward(t, unit_at(t, ci + 1), err)))
        return st;
    return unit_backward(t, unit_at(t, ci), err);
}

/* Block j of a C2f / C3k2 (Bottleneck, or C3k), its forward, backward and output. */
static af_status block_fwd(af_tnet *t, tlayer *TL, const af_layer *L, int j, tact *in,
                           tact **out, af_error *err)
{
    const af_layer_spec *S = &L->spec;
    if (S->type == AF_M_C3K2 && S->c3k)
        return c3k_fwd(t, L->mbase + j * L->mstep, S->shortcut, in, &TL->extra[j], out, err);
    return bottleneck_fwd(t, L->mbase + 2 * j, L->mbase + 2 * j + 1, S->shortcut, in, out, err);
}

static af_status block_bwd(af_tnet *t, tlayer *TL, const af_layer *L, int j, tact *in,
                           af_error *err)
{
    const af_layer_spec *S = &L->spec;
    if (S->type == AF_M_C3K2 && S->c3k)
        return c3k_bwd(t, L->mbase + j * L->mstep, S->shortcut, &TL->extra[j], err);
    return bottleneck_bwd(t, L->mbase + 2 * j, L->mbase + 2 * j + 1, S->shortcut, in, err);
}

static tact *block_out(af_tnet *t, const af_layer *L, int j)
{
    const af_layer_spec *S = &L->spec;
    if (S->type == AF_M_C3K2 && S->c3k)
        return &unit_at(t, L->mbase + j * L->mstep + 2)->y;
    return &unit_at(t, L->mbase + 2 * j + 1)->y;
}

static af_status c2x_fwd(af_tnet *t, tlayer *TL, const af_layer *L, tact *x, af_error *err)
{
    const af_layer_spec *S = &L->spec;
    int c = L->hidden, n = S->n;
    tunit *cv1 = unit_at(t, L->cv1), *cv2 = unit_at(t, L->cv2);
    af_status st;
    if ((st = unit_forward(t, cv1, x, err)))
        return st;
    tact *T = &cv1->y;
    tact *parts[70];
    int np = 0;
    tact *in;
    if (S->type == AF_M_C2F || S->type == AF_M_C3K2) {
        if ((st = slice_fwd(T, c, c, &TL->cur0, err)))
            return st;
        parts[np++] = T;
        in = &TL->cur0;
        for (int j = 0; j < n; j++) {
            tact *o;
            if ((st = block_fwd(t, TL, L, j, in, &o, err)))
                return st;
            parts[np++] = o;
            in = o;
        }
    } else {
        if ((st = slice_fwd(T, 0, c, &TL->cur0, err)) ||
            (st = slice_fwd(T, c, c, &TL->bpart, err)))
            return st;
        in = &TL->cur0;
        for (int j = 0; j < n; j++) {
            tact *o;
            if ((st = bottleneck_fwd(t, L->mbase + 2 * j, L->mbase + 2 * j + 1, S->shortcut, in,
                                     &o, err)))
                return st;
            in = o;
        }
        parts[np++] = in;
        parts[np++] = &TL->bpart;
    }
    if ((st = concat_fwd(parts, np, &TL->cat, err)) || (st = unit_forward(t, cv2, &TL->cat, err)))
        return st;
    TL->out = &cv2->y;
    return AF_OK;
}

static af_status c2x_bwd(af_tnet *t, tlayer *TL, const af_layer *L, af_error *err)
{
    const af_layer_spec *S = &L->spec;
    int c = L->hidden, n = S->n;
    tunit *cv1 = unit_at(t, L->cv1), *cv2 = unit_at(t, L->cv2);
    af_status st;
    TL->cat.gvalid = 0;
    if ((st = unit_backward(t, cv2, err)))
        return st;
    tact *T = &cv1->y;
    tact *parts[70];
    int np = 0;
    if (S->type == AF_M_C2F || S->type == AF_M_C3K2) {
        parts[np++] = T;
        for (int j = 0; j < n; j++)
            parts[np++] = block_out(t, L, j);
        if ((st = concat_bwd(t, parts, np, &TL->cat, err)))
            return st;
        for (int j = n - 1; j >= 0; j--) {
            tact *in = j ? block_out(t, L, j - 1) : &TL->cur0;
            if ((st = block_bwd(t, TL, L, j, in, err)))
                return st;
        }
        if (TL->cur0.gvalid &&
            (st = grad_add_channels(t, T, c, c, TL->cur0.g, c, 0, err)))
            return st;
    } else {
        tact *mout = n ? &unit_at(t, L->mbase + 2 * (n - 1) + 1)->y : &TL->cur0;
        parts[np++] = mout;
        parts[np++] = &TL->bpart;
        if ((st = concat_bwd(t, parts, np, &TL->cat, err)))
            return st;
        for (int j = n - 1; j >= 0; j--) {
            tact *in = j ? &unit_at(t, L->mbase + 2 * (j - 1) + 1)->y : &TL->cur0;
            if ((st = bottleneck_bwd(t, L->mbase + 2 * j, L->mbase + 2 * j + 1, S->shortcut, in,
                                     err)))
                return st;
        }
        if (TL->cur0.gvalid && (st = grad_add_channels(t, T, 0, c, TL->cur0.g, c, 0, err)))
            return st;
        if (TL->bpart.gvalid && (st = grad_add_channels(t, T, c, c, TL->bpart.g, c, 0, err)))
            return st;
    }
    return unit_backward(t, cv1, err);
}

/* dst's gradient = src's (copied), or += when dst's is already valid. */
static af_status grad_pass(af_tnet *t, tact *dst, const tact *src, af_error *err)
{
    if (!src->gvalid)
        return AF_OK;
    float *d = grad_dst(t, dst, err);
    if (!d)
        return AF_E_NOMEM;
    memcpy(d, src->g, tsize(src) * sizeof(float));
    grad_commit(t, dst, d);
    return AF_OK;
}

typedef struct psa_parts {
    tunit *qkv, *proj, *pe, *f0, *f1;
    tact *att, *v;
    af_attn_shape sh;
} psa_parts;

/* The units and tacts of PSABlock j (on x) of a C2PSA. */
static psa_parts psa_at(af_tnet *t, tlayer *TL, const af_layer *L, int j, const tact *x)
{
    const int ci = L->mbase + j * L->mstep, heads = L->spec.heads, hd = L->hidden / heads;
    psa_parts P = {unit_at(t, ci), unit_at(t, ci + 1), unit_at(t, ci + 2), unit_at(t, ci + 3),
                   unit_at(t, ci + 4), &TL->extra[2 * j], &TL->extra[2 * j + 1],
                   {x->n, x->h, x->w, heads, hd / 2, hd, (float)pow(hd / 2, -0.5), 0}}; /* NHWC */
    return P;
}

/* v between its channels in the qkv map (head h: h*(2kd+hd) + 2kd + k) and its
 * (B, C, H, W) order (h*hd + k): gathered into v (to_v), or v added into qkv. */
static void psa_v_map(const af_attn_shape *sh, size_t npix, float *qkv, float *v, int to_v)
{
    const int per = 2 * sh->kd + sh->hd, cq = sh->heads * per, c = sh->heads * sh->hd;
    for (size_t p = 0; p < npix; p++)
        for (int h = 0; h < sh->heads; h++) {
            float *q = qkv + p * cq + (size_t)h * per + 2 * sh->kd;
            float *o = v + p * c + (size_t)h * sh->hd;
            for (int k = 0; k < sh->hd; k++) {
                if (to_v)
                    o[k] = q[k];
                else
                    q[k] += o[k];
            }
        }
}

/* PSABlock j of a C2PSA (convs from ci: attn.qkv, attn.proj, attn.pe, ffn.0,
 * ffn.1) on x: x1 = x + proj(attention(qkv(x)) + pe(v)); y = x1 + ffn(x1). Its
 * tacts: extra[2j] the attention output (then + pe), extra[2j+1] v in (B, C,
 * H, W) order; attn_p[j] the saved softmax. */
static af_status psa_fwd(af_tnet *t, tlayer *TL, const af_layer *L, int j, tact *x, tact **out,
                         af_error *err)
{
    psa_parts P = psa_at(t, TL, L, j, x);
    af_status st;
    const int c = L->hidden;
    if ((st = unit_forward(t, P.qkv, x, err)) ||
        (st = tact_shape(P.att, x->n, x->h, x->w, c, err)) ||
        (st = tact_shape(P.v, x->n, x->h, x->w, c, err)))
        return st;
    size_t npix = (size_t)x->n * x->h * x->w, N = (size_t)x->h * x->w;
    if ((st = ensure(&TL->attn_p[j], &TL->attn_cap[j], (size_t)x->n * P.sh.heads * N * N, err)) ||
        (st = af_attention_train_forward(&P.sh, P.qkv->y.d, P.att->d, TL->attn_p[j], t->threads,
                                         err)))
        return st;
    psa_v_map(&P.sh, npix, P.qkv->y.d, P.v->d, 1);
    if ((st = unit_forward(t, P.pe, P.v, err)))
        return st;
    af_add_inplace(P.att->d, P.pe->y.d, tsize(P.att), t->threads);
    if ((st = unit_forward(t, P.proj, P.att, err)))
        return st;
    af_add_inplace(P.proj->y.d, x->d, tsize(x), t->threads); /* BN's backward reads z, not y */
    if ((st = unit_forward(t, P.f0, &P.proj->y, err)) ||
        (st = unit_forward(t, P.f1, &P.f0->y, err)))
        return st;
    af_add_inplace(P.f1->y.d, P.proj->y.d, tsize(&P.f1->y), t->threads);
    *out = &P.f1->y;
    return AF_OK;
}

static af_status psa_bwd(af_tnet *t, tlayer *TL, const af_layer *L, int j, tact *x,
                         af_error *err)
{
    psa_parts P = psa_at(t, TL, L, j, x);
    af_status st;
    if ((st = grad_pass(t, &P.proj->y, &P.f1->y, err)) || (st = unit_backward(t, P.f1, err)) ||
        (st = unit_backward(t, P.f0, err)) || (st = grad_pass(t, x, &P.proj->y, err)) ||
        (st = unit_backward(t, P.proj, err)) || (st = grad_pass(t, &P.pe->y, P.att, err)) ||
        (st = unit_backward(t, P.pe, err)))
        return st;
    if (!P.att->gvalid)
        return AF_OK;
    float *dq = grad_dst(t, &P.qkv->y, err);
    if (!dq)
        return AF_E_NOMEM;
    if ((st = af_attention_train_backward(&P.sh, P.qkv->y.d, TL->attn_p[j], P.att->g, dq,
                                          t->threads, err)))
        return st;
    if (P.v->gvalid) /* pe's input was v */
        psa_v_map(&P.sh, (size_t)x->n * x->h * x->w, dq, P.v->g, 0);
    grad_commit(t, &P.qkv->y, dq);
    return unit_backward(t, P.qkv, err);
}

/* C2PSA: T = cv1(x); a, b = T[:c], T[c:]; b through the PSABlocks; cv2(cat(a, b)). */
static af_status c2psa_fwd(af_tnet *t, tlayer *TL, const af_layer *L, tact *x, af_error *err)
{
    int c = L->hidden;
    tunit *cv1 = unit_at(t, L->cv1), *cv2 = unit_at(t, L->cv2);
    af_status st;
    if ((st = unit_forward(t, cv1, x, err)) || (st = slice_fwd(&cv1->y, 0, c, &TL->cur0, err)) ||
        (st = slice_fwd(&cv1->y, c, c, &TL->bpart, err)))
        return st;
    tact *b = &TL->bpart;
    for (int j = 0; j < L->spec.n; j++)
        if ((st = psa_fwd(t, TL, L, j, b, &b, err)))
            return st;
    tact *parts[2] = {&TL->cur0, b};
    if ((st = concat_fwd(parts, 2, &TL->cat, err)) || (st = unit_forward(t, cv2, &TL->cat, err)))
        return st;
    TL->out = &cv2->y;
    return AF_OK;
}

static tact *psa_out(af_tnet *t, tlayer *TL, const af_layer *L, int j)
{
    return j < 0 ? &TL->bpart : &unit_at(t, L->mbase + j * L->mstep + 4)->y;
}

static af_status c2psa_bwd(af_tnet *t, tlayer *TL, const af_layer *L, af_error *err)
{
    int c = L->hidden, n = L->spec.n;
    tunit *cv1 = unit_at(t, L->cv1), *cv2 = unit_at(t, L->cv2);
    af_status st;
    TL->cat.gvalid = 0;
    if ((st = unit_backward(t, cv2, err)))
        return st;
    tact *parts[2] = {&TL->cur0, psa_out(t, TL, L, n - 1)};
    if ((st = concat_bwd(t, parts, 2, &TL->cat, err)))
        return st;
    for (int j = n - 1; j >= 0; j--)
        if ((st = psa_bwd(t, TL, L, j, psa_out(t, TL, L, j - 1), err)))
            return st;
    if (TL->cur0.gvalid && (st = grad_add_channels(t, &cv1->y, 0, c, TL->cur0.g, c, 0, err)))
        return st;
    if (TL->bpart.gvalid && (st = grad_add_channels(t, &cv1->y, c, c, TL->bpart.g, c, 0, err)))
        return st;
    return unit_backward(t, cv1, err);
}

static af_status sppf_fwd(af_tnet *t, tlayer *TL, const af_layer *L, tact *x, af_error *err)
{
    tunit *cv1 = unit_at(t, L->cv1), *cv2 = unit_at(t, L->cv2);
    int k = L->spec.k;
    af_status st;
    if ((st = unit_forward(t, cv1, x, err)))
        return st;
    tact *prev = &cv1->y;
    for (int j = 0; j < 3; j++) {
        tact *p = &TL->pool[j];
        if ((st = tact_shape(p, prev->n, prev->h, prev->w, prev->c, err)) ||
            (st = af_maxpool(prev->n, prev->h, prev->w, prev->c, k, 1, k / 2, prev->d, p->d,
                                t->threads, err)))
            return st;
        prev = p;
    }
    tact *parts[4] = {&cv1->y, &TL->pool[0], &TL->pool[1], &TL->pool[2]};
    if ((st = concat_fwd(parts, 4, &TL->cat, err)) || (st = unit_forward(t, cv2, &TL->cat, err)))
        return st;
    TL->out = &cv2->y;
    return AF_OK;
}

static af_status sppf_bwd(af_tnet *t, tlayer *TL, const af_layer *L, af_error *err)
{
    tunit *cv1 = unit_at(t, L->cv1), *cv2 = unit_at(t, L->cv2);
    int k = L->spec.k;
    af_status st;
    TL->cat.gvalid = 0;
    if ((st = unit_backward(t, cv2, err)))
        return st;
    tact *parts[4] = {&cv1->y, &TL->pool[0], &TL->pool[1], &TL->pool[2]};
    if ((st = concat_bwd(t, parts, 4, &TL->cat, err)))
        return st;
    for (int j = 2; j >= 0; j--) {
        tact *p = &TL->pool[j];
        tact *src = j ? &TL->pool[j - 1] : &cv1->y;
        if (!p->gvalid)
            continue;
        float *dst = grad_dst(t, src, err);
        if (!dst)
            return AF_E_NOMEM;
        if ((st = af_maxpool_backward(src->n, src->h, src->w, src->c, k, 1, k / 2, src->d, p->g,
                                      dst, err)))
            return st;
        grad_commit(t, src, dst);
    }
    return unit_backward(t, cv1, err);
}

static af_status detect_fwd(af_tnet *t, tlayer *TL, const af_layer *L, af_loss_level *levels,
                            af_error *err)
{
    const af_layer_spec *S = &L->spec;
    af_status st;
    for (int l = 0; l < S->nlevels; l++) {
        tact *x = t->layers[S->from[l]].out;
        tact *prev = x;
        for (int j = 0; j < 3; j++) {
            if ((st = unit_forward(t, unit_at(t, L->box[l][j]), prev, err)))
                return st;
            prev = &unit_at(t, L->box[l][j])->y;
        }
        prev = x;
        for (int j = 0; j < L->ncls; j++) {
            if ((st = unit_forward(t, unit_at(t, L->cls[l][j]), prev, err)))
                return st;
            prev = &unit_at(t, L->cls[l][j])->y;
        }
        tact *parts[2] = {&unit_at(t, L->box[l][2])->y, &unit_at(t, L->cls[l][L->ncls - 1])->y};
        if ((st = concat_fwd(parts, 2, &TL->head[l], err)) || (st = tact_grad(&TL->head[l], err)))
            return st;
        t->head_g[l] = TL->head[l].g;
        levels[l] = (af_loss_level){TL->head[l].d, TL->head[l].h, TL->head[l].w,
                                    t->m->strides[l]};
    }
    return AF_OK;
}

static af_status detect_bwd(af_tnet *t, tlayer *TL, const af_layer *L, af_error *err)
{
    const af_layer_spec *S = &L->spec;
    af_status st;
    for (int l = 0; l < S->nlevels; l++) {
        TL->head[l].gvalid = 1; /* written by the loss */
        tact *parts[2] = {&unit_at(t, L->box[l][2])->y, &unit_at(t, L->cls[l][L->ncls - 1])->y};
        if ((st = concat_bwd(t, parts, 2, &TL->head[l], err)))
            return st;
        for (int j = 2; j >= 0; j--)
            if ((st = unit_backward(t, unit_at(t, L->box[l][j]), err)))
                return st;
        for (int j = L->ncls - 1; j >= 0; j--)
            if ((st = unit_backward(t, unit_at(t, L->cls[l][j]), err)))
                return st;
    }
    return AF_OK;
}

/* ---- the network ---- */

static void reset_grads(af_tnet *t)
{
    af_model *m = t->m;
    t->input.gvalid = 0;
    for (int i = 0; i < m->nconvs; i++) {
        t->units[i].z.gvalid = t->units[i].y.gvalid = 0;
    }
    for (int i = 0; i < m->desc.nlayers; i++) {
        tlayer *TL = &t->layers[i];
        TL->own.gvalid = TL->cur0.gvalid = TL->bpart.gvalid = TL->cat.gvalid = 0;
        for (int j = 0; j < 3; j++)
            TL->pool[j].gvalid = 0;
        for (int j = 0; j < AF_MAX_LEVELS; j++)
            TL->head[j].gvalid = 0;
        for (int j = 0; j < TL->nextra; j++)
            TL->extra[j].gvalid = 0;
    }
}

af_status af_tnet_forward(af_tnet *t, const float *x, int n, int h, int w,
                          af_loss_level *levels, af_error *err)
{
    af_model *m = t->m;
    int s = m->max_stride;
    if (n < 1 || h < s || w < s || h % s || w % s)
        return af_fail(err, AF_E_ARG, "training input %dx%d must be a multiple of stride %d", h,
                       w, s);
    af_status st = tact_shape(&t->input, n, h, w, 3, err);
    if (st)
        return st;
    memcpy(t->input.d, x, tsize(&t->input) * sizeof(float));
    reset_grads(t);
    for (int i = 0; i < m->desc.nlayers && !st; i++) {
        const af_layer *L = &m->layers[i];
        const af_layer_spec *S = &L->spec;
        tlayer *TL = &t->layers[i];
        tact *xin = S->from[0] < 0 ? &t->input : t->layers[S->from[0]].out;
        switch (S->type) {
        case AF_M_CONV:
            st = unit_forward(t, unit_at(t, L->cv1), xin, err);
            TL->out = &unit_at(t, L->cv1)->y;
            break;
        case AF_M_C2F:
        case AF_M_C2:
            st = c2x_fwd(t, TL, L, xin, err);
            break;
        case AF_M_SPPF:
            st = sppf_fwd(t, TL, L, xin, err);
            break;
        case AF_M_UPSAMPLE:
            if (!(st = tact_shape(&TL->own, xin->n, xin->h * 2, xin->w * 2, xin->c, err)))
                af_upsample_nearest2x(xin->n, xin->h, xin->w, xin->c, xin->d, TL->own.d,
                                      t->threads);
            TL->out = &TL->own;
            break;
        case AF_M_CONCAT: {
            tact *parts[AF_MAX_FROM];
            for (int j = 0; j < S->nfrom; j++)
                parts[j] = S->from[j] < 0 ? &t->input : t->layers[S->from[j]].out;
            st = concat_fwd(parts, S->nfrom, &TL->own, err);
            TL->out = &TL->own;
            break;
        }
        case AF_M_DETECT:
            st = detect_fwd(t, TL, L, levels, err);
            TL->out = NULL;
            break;
        case AF_M_C3K2:
            st = c2x_fwd(t, TL, L, xin, err);
            break;
        case AF_M_C2PSA:
            st = c2psa_fwd(t, TL, L, xin, err);
            break;
        }
    }
    return st;
}

float *const *af_tnet_head_grads(af_tnet *t)
{
    return t->head_g;
}

af_status af_tnet_backward(af_tnet *t, af_error *err)
{
    af_model *m = t->m;
    af_status st = AF_OK;
    for (int i = m->desc.nlayers - 1; i >= 0 && !st; i--) {
        const af_layer *L = &m->layers[i];
        const af_layer_spec *S = &L->spec;
        tlayer *TL = &t->layers[i];
        switch (S->type) {
        case AF_M_CONV:
            st = unit_backward(t, unit_at(t, L->cv1), err);
            break;
        case AF_M_C2F:
        case AF_M_C2:
            st = c2x_bwd(t, TL, L, err);
            break;
        case AF_M_SPPF:
            st = sppf_bwd(t, TL, L, err);
            break;
        case AF_M_UPSAMPLE: {
            tact *xin = S->from[0] < 0 ? &t->input : t->layers[S->from[0]].out;
            if (!TL->own.gvalid || xin == &t->input)
                break;
            float *dst = grad_dst(t, xin, err);
            if (!dst) {
                st = AF_E_NOMEM;
                break;
            }
            af_upsample_nearest2x_backward(xin->n, xin->h, xin->w, xin->c, TL->own.g, dst);
            grad_commit(t, xin, dst);
            break;
        }
        case AF_M_CONCAT: {
            tact *parts[AF_MAX_FROM];
            for (int j = 0; j < S->nfrom; j++)
                parts[j] = S->from[j] < 0 ? &t->input : t->layers[S->from[j]].out;
            st = concat_bwd(t, parts, S->nfrom, &TL->own, err);
            break;
        }
        case AF_M_DETECT:
            st = detect_bwd(t, TL, L, err);
            break;
        case AF_M_C3K2:
            st = c2x_bwd(t, TL, L, err);
            break;
        case AF_M_C2PSA:
            st = c2psa_bwd(t, TL, L, err);
            break;
        }
    }
    return st;
}

void af_tnet_zero_grad(af_tnet *t)
{
    for (int i = 0; i < t->nparams; i++)
        memset(t->params[i].g, 0, t->params[i].n * sizeof(float));
}

const af_param *af_tnet_params(const af_tnet *t, int *count)
{
    *count = t->nparams;
    return t->params;
}

static af_status add_param(af_tnet *t, float *p, float **g, size_t n, int group,
                           const char *unit, const char *kind, af_error *err)
{
    *g = calloc(n, sizeof(float));
    if (!*g)
        return af_fail(err, AF_E_NOMEM, "out of memory for gradients");
    t->params[t->nparams++] = (af_param){p, *g, n, group, unit, kind};
    return AF_OK;
}

af_status af_tnet_create(af_model *m, int threads, float bn_momentum, af_tnet **out,
                         af_error *err)
{
    *out = NULL;
    if (!m->raw)
        return af_fail(err, AF_E_ARG, "training needs a model built with raw parameters");
    af_tnet *t = calloc(1, sizeof *t);
    if (!t)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    if (threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 && nc < 1024 ? (int)nc : 1;
    }
    t->m = m;
    t->threads = threads;
    t->momentum = bn_momentum;
    t->units = calloc((size_t)m->nconvs, sizeof *t->units);
    t->params = calloc((size_t)m->nconvs * 3, sizeof *t->params);
    af_status st = (!t->units || !t->params) ? af_fail(err, AF_E_NOMEM, "out of memory") : AF_OK;
    for (int i = 0; !st && i < m->desc.nlayers; i++) { /* C3k blocks' and PSABlocks' tacts */
        const af_layer_spec *S = &m->desc.layers[i];
        tlayer *TL = &t->layers[i];
        TL->nextra = S->type == AF_M_C3K2 && S->c3k ? S->n : S->type == AF_M_C2PSA ? 2 * S->n : 0;
        if (!TL->nextra)
            continue;
        TL->extra = calloc((size_t)TL->nextra, sizeof *TL->extra);
        TL->attn_p = calloc((size_t)S->n, sizeof *TL->attn_p);
        TL->attn_cap = calloc((size_t)S->n, sizeof *TL->attn_cap);
        if (!TL->extra || !TL->attn_p || !TL->attn_cap)
            st = af_fail(err, AF_E_NOMEM, "out of memory");
    }
    for (int i = 0; !st && i < m->nconvs; i++) {
        tunit *U = &t->units[i];
        af_conv_unit *u = &m->convs[i];
        U->u = u;
        int c = u->desc.cout;
        size_t wn = af_conv_unit_weights(u);
        if ((st = add_param(t, u->weight, &U->gw, wn, 0, u->name,
                            u->has_bn ? "conv.weight" : "weight", err)))
            break;
        if (u->has_bn) {
            U->mean = malloc((size_t)c * sizeof(float));
            U->invstd = malloc((size_t)c * sizeof(float));
            if (!U->mean || !U->invstd) {
                st = af_fail(err, AF_E_NOMEM, "out of memory");
                break;
            }
            if ((st = add_param(t, u->bn_gamma, &U->ggamma, (size_t)c, 1, u->name, "bn.weight",
                                err)) ||
                (st = add_param(t, u->bn_bias, &U->gbeta, (size_t)c, 2, u->name, "bn.bias", err)))
                break;
        } else if ((st = add_param(t, u->bias, &U->gb, (size_t)c, 2, u->name, "bias", err))) {
            break;
        }
    }
    if (st) {
        af_tnet_free(t);
        return st;
    }
    *out = t;
    return AF_OK;
}

void af_tnet_free(af_tnet *t)
{
    if (!t)
        return;
    for (int i = 0; t->units && i < t->m->nconvs; i++) {
        tunit *U = &t->units[i];
        af_conv_train_free(U->exec[0]);
        af_conv_train_free(U->exec[1]);
        tact_free(&U->z);
        tact_free(&U->y);
        free(U->mean);
        free(U->invstd);
        free(U->gw);
        free(U->gb);
        free(U->ggamma);
        free(U->gbeta);
    }
    for (int i = 0; i < AF_MAX_LAYERS; i++) {
        tlayer *TL = &t->layers[i];
        tact_free(&TL->own);
        tact_free(&TL->cur0);
        tact_free(&TL->bpart);
        tact_free(&TL->cat);
        for (int j = 0; j < 3; j++)
            tact_free(&TL->pool[j]);
        for (int j = 0; j < AF_MAX_LEVELS; j++)
            tact_free(&TL->head[j]);
        for (int j = 0; TL->extra && j < TL->nextra; j++)
            tact_free(&TL->extra[j]);
        for (int j = 0; TL->attn_p && j < t->m->desc.layers[i].n; j++)
            free(TL->attn_p[j]);
        free(TL->extra);
        free(TL->attn_p);
        free(TL->attn_cap);
    }
    tact_free(&t->input);
    free(t->units);
    free(t->params);
    free(t->scratch);
    free(t->pscratch);
    free(t->ws);
    free(t);
}

void af_tnet_set_bf16(af_tnet *t, int on)
{
    t->bf16 = on != 0;
    for (int i = 0; t->units && i < t->m->nconvs; i++) /* made again at their next use */
        for (int k = 0; k < 2; k++) {
            af_conv_train_free(t->units[i].exec[k]);
            t->units[i].exec[k] = NULL;
        }
}
