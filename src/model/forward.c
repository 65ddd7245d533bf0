/* The forward pass of a YOLOv8 detect network. Activations are float32 in the
 * blocked layout (ops/blocked.h) whose block f->blk (8: nChw8c, 16: nChw16c)
 * the engine chose for this CPU's convolution kernels; the NHWC network input
 * is made planar (NCHW) for the first conv, and the head's outputs go back to
 * NHWC for the decode. */
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "model/head.h"
#include "model/mem_plan.h"
#include "ops/concat.h"
#include "ops/pool.h"
#include "ops/upsample.h"
#include "ops/act.h"
#include "ops/attention.h"
#include "ops/blocked.h"
#include "ops/dwconv.h"

#define SHAPES_MAX 8

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer the arena is poisoned except for the activations
 * alive in it, so a read past an activation or after its release is caught
 * as it would be with malloc. */
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct act {
    float *data;
    int n, h, w, c;
    int slot; /* block of the shape's memory plan, -1 if not owned */
    int heap; /* a malloc of its own (a request off the plan) */
    af_layout lay; /* f->lay, except the network input (NCHW) and the head's NHWC outputs */
    int dt;        /* ACT_F32, or ACT_BF16 / ACT_S8 (uint16_t bfloat16 in lay, int8_t NHWC
                    * quantized for the reader): a bf16 / int8 conv's output that only
                    * another such conv reads (shape_entry.handover) */
} act;

enum { ACT_F32 = 0, ACT_BF16, ACT_S8 };

typedef struct shape_entry {
    int n, h, w;
    af_conv **convs;  /* per model conv, created on first use */
    int *handover; /* per model conv: the one conv that reads its output in bf16 or s8
                    * (plan_handover), or -1 */
    af_mem_plan plan; /* activation offsets in f->arena, recorded on the first run */
    int planned;      /* plan solved: activations come from the arena */
    unsigned long stamp;
} shape_entry;

struct af_forward {
    const af_model *m;
    int threads;
    int blk;       /* block size of the blocked activations (8 or 16): af_engine_blk */
    af_layout lay; /* their layout, af_blk_layout(blk) */
    shape_entry shapes[SHAPES_MAX];
    unsigned long clock;
    shape_entry *cur; /* shape of the run in progress */
    int dry;          /* planning pass: shapes and lifetimes only, no arithmetic */
    float dry_token;  /* what activations point at during the planning pass */
    int next_block;   /* index of the next activation request */
    int off_plan;     /* a request differed from the plan */
    unsigned char *arena; /* AF_MEM_PLAN_ALIGN-aligned, arena_cap bytes */
    size_t arena_cap;
    int last_use[AF_MAX_LAYERS];
    int input_last_use; /* last layer that reads the network input */
    act outs[AF_MAX_LAYERS];
    float *out;
    size_t out_cap;
    double layer_ms[AF_MAX_LAYERS];
    double layer_flops[AF_MAX_LAYERS];
    af_conv_timing *conv_t; /* model->nconvs */
    int conv_seq;           /* convolutions run so far in this pass */
    double flops; /* of the last run */
    float *observe; /* af_forward_observe: per conv, the largest |input| so far */
    int keep_raw; /* keep the head's raw outputs (for a loss on validation batches) */
    int no_narrow; /* af_forward_set_narrow_activations(f, 0) */
    float *raw[AF_MAX_LEVELS];
    size_t raw_cap[AF_MAX_LEVELS];
    int raw_h[AF_MAX_LEVELS], raw_w[AF_MAX_LEVELS];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

af_status af_forward_create(const af_model *m, int threads, af_forward **out, af_error *err)
{
    af_forward *f = calloc(1, sizeof *f);
    if (!f)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    f->m = m;
    f->blk = af_engine_blk(m->engine);
    f->lay = af_blk_layout(f->blk);
    f->conv_t = calloc(m->nconvs > 0 ? (size_t)m->nconvs : 1, sizeof *f->conv_t);
    if (!f->conv_t) {
        free(f);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 && n < 1024 ? (int)n : 1;
    }
    f->threads = threads;
    for (int i = 0; i < m->desc.nlayers; i++)
        f->last_use[i] = i;
    for (int i = 0; i < m->desc.nlayers; i++) {
        const af_layer_spec *S = &m->desc.layers[i];
        for (int j = 0; j < S->nfrom; j++) {
            if (S->from[j] >= 0 && f->last_use[S->from[j]] < i)
                f->last_use[S->from[j]] = i;
            if (S->from[j] < 0)
                f->input_last_use = i;
        }
    }
    *out = f;
    return AF_OK;
}

static void shape_entry_clear(shape_entry *e, int nconvs)
{
    if (e->convs) {
        for (int i = 0; i < nconvs; i++)
            af_conv_free(e->convs[i]);
        free(e->convs);
    }
    free(e->handover);
    af_mem_plan_free(&e->plan);
    memset(e, 0, sizeof *e);
}

void af_forward_free(af_forward *f)
{
    if (!f)
        return;
    ARENA_UNPOISON(f->arena, f->arena_cap);
    free(f->arena);
    for (int i = 0; i < SHAPES_MAX; i++)
        shape_entry_clear(&f->shapes[i], f->m->nconvs);
    free(f->out);
    for (int l = 0; l < AF_MAX_LEVELS; l++)
        free(f->raw[l]);
    free(f->conv_t);
    free(f);
}

void af_forward_set_narrow_activations(af_forward *f, int on)
{
    f->no_narrow = !on;
}

void af_forward_keep_raw(af_forward *f, int keep)
{
    f->keep_raw = keep;
}

int af_forward_raw(const af_forward *f, const float **raw, int *h, int *w)
{
    if (!f->keep_raw)
        return 0;
    for (int l = 0; l < f->m->nlevels; l++) {
        raw[l] = f->raw[l];
        h[l] = f->raw_h[l];
        w[l] = f->raw_w[l];
    }
    return f->m->nlevels;
}

const double *af_forward_layer_ms(const af_forward *f)
{
    return f->layer_ms;
}

const af_conv_timing *af_forward_conv_timing(const af_forward *f)
{
    return f->conv_t;
}

void af_forward_observe(af_forward *f, float *absmax)
{
    f->observe = absmax;
}

const double *af_forward_layer_flops(const af_forward *f)
{
    return f->layer_flops;
}

double af_forward_last_flops(const af_forward *f)
{
    return f->flops;
}

/* ---- activation buffers ----
 * The first run of a shape starts with a planning pass: the layers run
 * without arithmetic, recording each activation's size and lifetime, and
 * model/mem_plan.h packs them into one arena. Every run then takes its
 * activations at the planned offsets. A request that differs from the plan
 * (it cannot, the passes take the same branches; but if) gets a malloc of its
 * own and the shape is planned again next time. */

static af_status act_alloc_typed(af_forward *f, act *a, int n, int h, int w, int c,
                                 af_layout lay, int dt, af_error *err)
{
    size_t need;
    int cs = af_layout_blk(lay) ? af_blk_pad(af_layout_blk(lay), c) : c;
    if (af_mul_size((size_t)n * h, (size_t)w * cs, &need) || need > ((size_t)1 << 34))
        return af_fail(err, AF_E_LIMIT, "activation of %dx%dx%dx%d is too large", n, h, w, c);
    size_t bytes = (need ? need : 1) * (dt == ACT_S8    ? sizeof(int8_t)
                                        : dt == ACT_BF16 ? sizeof(uint16_t)
                                                         : sizeof(float));
    shape_entry *e = f->cur;
    *a = (act){NULL, n, h, w, c, -1, 0, lay, dt};
    if (f->dry) {
        if ((a->slot = af_mem_plan_record_alloc(&e->plan, bytes)) < 0)
            return af_fail(err, AF_E_NOMEM, "out of memory");
        a->data = &f->dry_token;
        return AF_OK;
    }
    int k = f->next_block++;
    if (k < e->plan.n && e->plan.blocks[k].bytes == bytes) {
        a->data = (float *)(f->arena + e->plan.blocks[k].offset);
        a->slot = k;
        ARENA_UNPOISON(a->data, bytes);
        return AF_OK;
    }
    f->off_plan = 1;
    if (!(a->data = malloc(bytes)))
        return af_fail(err, AF_E_NOMEM, "out of memory for a %dx%dx%d activation", h, w, c);
    a->heap = 1;
    return AF_OK;
}

static af_status act_alloc_as(af_forward *f, act *a, int n, int h, int w, int c, af_layout lay,
                              af_error *err)
{
    return act_alloc_typed(f, a, n, h, w, c, lay, ACT_F32, err);
}

/* A blocked activation (all but the input and the head's outputs). */
static af_status act_alloc(af_forward *f, act *a, int n, int h, int w, int c, af_error *err)
{
    return act_alloc_as(f, a, n, h, w, c, f->lay, err);
}

/* Floats of an activation in its layout. */
static size_t act_elems(const act *a)
{
    int blk = af_layout_blk(a->lay);
    return blk ? af_blk_elems(blk, a->n, a->h, a->w, a->c) : (size_t)a->n * a->h * a->w * a->c;
}

static void act_release(af_forward *f, act *a)
{
    if (a->heap)
        free(a->data);
    else if (a->data && a->slot >= 0 && f->dry)
        af_mem_plan_record_release(&f->cur->plan, a->slot);
    else if (a->data && a->slot >= 0)
        ARENA_POISON(a->data, f->cur->plan.blocks[a->slot].bytes);
    a->data = NULL;
    a->slot = -1;
    a->heap = 0;
}

/* After the planning pass: offsets, and an arena big enough for them. */
static af_status plan_solve(af_forward *f, shape_entry *e, af_error *err)
{
    af_mem_plan_solve(&e->plan);
    if (e->plan.arena > f->arena_cap) {
        ARENA_UNPOISON(f->arena, f->arena_cap);
        free(f->arena);
        f->arena = aligned_alloc(AF_MEM_PLAN_ALIGN, e->plan.arena);
        f->arena_cap = f->arena ? e->plan.arena : 0;
        if (!f->arena)
            return af_fail(err, AF_E_NOMEM, "out of memory for %zu MiB of activations",
                           e->plan.arena >> 20);
    }
    e->planned = 1;
    return AF_OK;
}

/* ---- convolution with per-shape executables ---- */

static int conv_narrow(const af_model *m, int ci);

/* Runs conv ci on in, into out: a new activation (alloc) or, with alloc 0, the
 * view out already describes (its shape is checked). */
static af_status conv_to(af_forward *f, shape_entry *e, int ci, const act *in, act *out,
                         int alloc, af_error *err)
{
    const af_conv_unit *u = &f->m->convs[ci];
    if (alloc) /* empty until allocated: a caller may release it after a failure */
        *out = (act){.data = NULL, .slot = -1, .lay = AF_LAYOUT_BLK8};
    /* a narrow output for the one reader (views are parts of float tensors); a
     * reader exists only where both convs take the same narrow type */
    const int reader = alloc ? e->handover[ci] : -1, narrow = conv_narrow(f->m, ci);
    const int out_dt = reader < 0 ? ACT_F32 : narrow;
    if (in->dt != ACT_F32 && in->dt != narrow)
        return af_fail(err, AF_E_INTERNAL, "%s: input in a type it does not take", u->name);
    if (in->c != u->desc.cin)
        return af_fail(err, AF_E_INTERNAL, "%s: input has %d channels, expected %d", u->name,
                       in->c, u->desc.cin);
    int oh, ow;
    af_conv_out_hw(&u->desc, in->h, in->w, &oh, &ow);
    if (oh < 1 || ow < 1)
        return af_fail(err, AF_E_ARG, "%s: input %dx%d is too small", u->name, in->h, in->w);
    af_status st;
    if (u->groups > 1) { /* depthwise (YOLO11): ops/dwconv.h, stride 1 */
        if (alloc && (st = act_alloc(f, out, in->n, oh, ow, u->desc.cout, err)))
            return st;
        f->flops += 2.0 * in->n * oh * ow * (double)u->desc.cout * u->desc.k * u->desc.k;
        if (!f->dry)
            af_dwconv_blk(f->blk, in->n, in->h, in->w, in->c, u->desc.k, u->weight, u->bias,
                          u->bn_alpha, u->bn_beta, u->silu, in->data, out->data, f->threads);
        return AF_OK;
    }
    if (!e->convs[ci]) {
        const int io = (in->dt == ACT_BF16 ? AF_CONV_SRC_BF16 : 0) |
                       (in->dt == ACT_S8 ? AF_CONV_SRC_Q8 : 0) |
                       (out_dt == ACT_BF16 ? AF_CONV_DST_BF16 : 0) |
                       (out_dt == ACT_S8 ? AF_CONV_DST_Q8 : 0);
        if ((st = af_conv_create_io(f->m->engine, u->prepared, in->n, in->h, in->w, f->threads,
                                    in->lay, out_dt == ACT_S8 ? AF_LAYOUT_NHWC : f->lay, io,
                                    reader >= 0 ? f->m->convs[reader].prepared : NULL, 0,
                                    &e->convs[ci], err))) {
            af_error_prefix(err, "%s", u->name);
            return st;
        }
    }
    if (!alloc && (out->n != in->n || out->h != oh || out->w != ow || out->c != u->desc.cout))
        return af_fail(err, AF_E_INTERNAL, "%s: output view of the wrong shape", u->name);
    if (alloc && (st = act_alloc_typed(f, out, in->n, oh, ow, u->desc.cout,
                                       out_dt == ACT_S8 ? AF_LAYOUT_NHWC : f->lay, out_dt, err)))
        return st;
    f->flops += 2.0 * in->n * oh * ow * (double)u->desc.cout * u->desc.cin * u->desc.k * u->desc.k;
    if (f->dry)
        return AF_OK;
    if (f->observe && in->dt == ACT_F32) /* padding lanes hold zeros: harmless to a maximum */
        f->observe[ci] = af_absmax(in->data, act_elems(in), f->observe[ci]);
    const double t0 = now_ms();
    if ((st = af_conv_forward(e->convs[ci], in->data, out->data, err))) {
        if (alloc)
            act_release(f, out);
        af_error_prefix(err, "%s", u->name);
        return st;
    }
    if (u->bn_alpha) /* unfused reference mode: BN then SiLU (if the module has it), as PyTorch */
        af_blk_affine_act(f->blk, out->n, oh, ow, u->desc.cout, u->bn_alpha, u->bn_beta, u->silu,
                          out->data);
    f->conv_t[ci] =
        (af_conv_timing){now_ms() - t0, in->h, in->w, af_conv_impl(e->convs[ci]), f->conv_seq++};
    return AF_OK;
}

static af_status run_conv(af_forward *f, shape_entry *e, int ci, const act *in, act *out,
                          af_error *err)
{
    return conv_to(f, e, ci, in, out, 1, err);
}

/* Channels [c0, c0 + cn) of a one-image blocked activation, in place: one run
 * of whole blk-channel planes (c0 and cn multiples of blk). Not owned. */
static act view_channels(const af_forward *f, const act *x, int c0, int cn)
{
    act v = *x;
    v.data = x->data + (size_t)(c0 / f->blk) * x->h * x->w * f->blk;
    v.c = cn;
    v.slot = -1;
    v.heap = 0;
    return v;
}

/* Whether C2f/SPPF can build their concatenation in place: one image, and
 * every part a whole number of blk-channel planes. */
static int in_place_ok(const af_forward *f, const act *x, int c)
{
    return x->n == 1 && c % f->blk == 0;
}

/* Bottleneck: y = cv2(cv1(x)) (+ x); y a new activation (alloc) or the view y
 * already describes (alloc 0). */
static af_status bottleneck(af_forward *f, shape_entry *e, int cv1, int cv2, int shortcut,
                            const act *x, act *y, int alloc, af_error *err)
{
    act a;
    af_status st = run_conv(f, e, cv1, x, &a, err);
    if (st)
        return st;
    st = conv_to(f, e, cv2, &a, y, alloc, err);
    act_release(f, &a);
    if (!st && shortcut && !f->dry)
        af_add_inplace(y->data, x->data, af_blk_elems(f->blk, y->n, y->h, y->w, y->c),
                       f->threads);
    return st;
}

static void release_all(af_forward *f, act *a, int n)
{
    for (int i = 0; i < n; i++)
        act_release(f, &a[i]);
}

/* Concatenates parts along channels into a new activation. */
static af_status concat(af_forward *f, const act *parts, int n, act *y, af_error *err)
{
    const float *srcs[AF_MAX_FROM + 66];
    int cs[AF_MAX_FROM + 66], c = 0;
    for (int i = 0; i < n; i++) {
        if (parts[i].dt != ACT_F32)
            return af_fail(err, AF_E_INTERNAL, "concatenating a narrow (bf16/s8) activation");
        srcs[i] = parts[i].data;
        cs[i] = parts[i].c;
        c += parts[i].c;
        if (parts[i].h != parts[0].h || parts[i].w != parts[0].w || parts[i].n != parts[0].n)
            return af_fail(err, AF_E_ARG, "concatenated maps differ in size");
    }
    af_status st = act_alloc(f, y, parts[0].n, parts[0].h, parts[0].w, c, err);
    if (!st && !f->dry)
        af_blk_concat(f->blk, y->n, y->h, y->w, n, srcs, cs, y->data, f->threads);
    return st;
}

/* Channels [c0, c0+cn) of x as a new activation. */
static af_status slice(af_forward *f, const act *x, int c0, int cn, act *y, af_error *err)
{
    if (x->dt != ACT_F32)
        return af_fail(err, AF_E_INTERNAL, "slicing a narrow (bf16/s8) activation");
    af_status st = act_alloc(f, y, x->n, x->h, x->w, cn, err);
    if (!st && !f->dry)
        af_blk_copy_channels(f->blk, x->n, x->h, x->w, x->c, c0, cn, x->data, y->data);
    return st;
}

/* C3k (YOLO11, C3k2's block when c3k): convs at ci: cv1, cv2 (c -> c/2),
 * cv3 (c -> c), then two bottlenecks; y = cv3(cat(m(cv1(x)), cv2(x))). */
static af_status c3k_block(af_forward *f, shape_entry *e, int ci, int shortcut, const act *x,
                           act *y, int alloc, af_error *err)
{
    act a, b, parts[2];
    af_status st = run_conv(f, e, ci, x, &a, err);
    if (st)
        return st;
    for (int j = 0; j < 2 && !st; j++) {
        st = bottleneck(f, e, ci + 3 + 2 * j, ci + 4 + 2 * j, shortcut, &a, &b, 1, err);
        act_release(f, &a);
        if (!st)
            a = b;
    }
    if (st)
        return st;
    parts[0] = a;
    if ((st = run_conv(f, e, ci + 1, x, &parts[1], err))) {
        act_release(f, &a);
        return st;
    }
    act cat;
    st = concat(f, parts, 2, &cat, err);
    release_all(f, parts, 2);
    if (st)
        return st;
    st = conv_to(f, e, ci + 2, &cat, y, alloc, err);
    act_release(f, &cat);
    return st;
}

/* Block j of a C2f (Bottleneck e=1) or C3k2 (Bottleneck e=0.5, or C3k). */
static af_status c2f_block(af_forward *f, shape_entry *e, const af_layer *L, int j, const act *x,
                           act *y, int alloc, af_error *err)
{
    const af_layer_spec *S = &L->spec;
    if (S->type == AF_M_C3K2 && S->c3k)
        return c3k_block(f, e, L->mbase + j * L->mstep, S->shortcut, x, y, alloc, err);
    return bottleneck(f, e, L->mbase + 2 * j, L->mbase + 2 * j + 1, S->shortcut, x, y, alloc,
                      err);
}

/* C2f with its concatenation built in place (in_place_ok): cv1 writes the
 * first 2c channels of cat, each bottleneck the next c, reading the previous c. */
static af_status run_c2f_in_place(af_forward *f, shape_entry *e, const af_layer *L, const act *x,
                                  act *y, af_error *err)
{
    const af_layer_spec *S = &L->spec;
    int c = L->hidden, n = S->n, oh, ow;
    af_conv_out_hw(&f->m->convs[L->cv1].desc, x->h, x->w, &oh, &ow);
    act cat;
    af_status st = act_alloc(f, &cat, 1, oh, ow, (2 + n) * c, err);
    if (st)
        return st;
    act t = view_channels(f, &cat, 0, 2 * c);
    st = conv_to(f, e, L->cv1, x, &t, 0, err);
    for (int j = 0; j < n && !st; j++) {
        act prev = view_channels(f, &cat, (1 + j) * c, c),
            out = view_channels(f, &cat, (2 + j) * c, c);
        st = c2f_block(f, e, L, j, &prev, &out, 0, err);
    }
    if (!st)
        st = run_conv(f, e, L->cv2, &cat, y, err);
    act_release(f, &cat);
    return st;
}

/* C2f, C3k2: cat(y0, y1, m1(y1), m2(m1(y1)), ...) -> cv2.  C2: cat(m(a), b) -> cv2. */
static af_status run_c2x(af_forward *f, shape_entry *e, const af_layer *L, const act *x, act *y,
                         af_error *err)
{
    const af_layer_spec *S = &L->spec;
    int c = L->hidden, n = S->n;
    int c2f = S->type == AF_M_C2F || S->type == AF_M_C3K2;
    if (c2f && in_place_ok(f, x, c))
        return run_c2f_in_place(f, e, L, x, y, err);
    act parts[66]; /* C2f: t, then each bottleneck output; C2: m(a), b */
    int np = 0;
    act t, cur, nxt;
    af_status st = run_conv(f, e, L->cv1, x, &t, err);
    if (st)
        return st;
    if (c2f) {
        parts[np++] = t;
        const act *prev = NULL;
        if ((st = slice(f, &t, c, c, &cur, err)))
            goto out;
        prev = &cur;
        for (int j = 0; j < n; j++) {
            if ((st = c2f_block(f, e, L, j, prev, &parts[np], 1, err)))
                break;
            prev = &parts[np++];
        }
        act_release(f, &cur);
    } else {
        if ((st = slice(f, &t, 0, c, &cur, err)))
            goto out_t;
        for (int j = 0; j < n && !st; j++) {
            st = bottleneck(f, e, L->mbase + 2 * j, L->mbase + 2 * j + 1, S->shortcut, &cur,
                            &nxt, 1, err);
            act_release(f, &cur);
            if (!st)
                cur = nxt;
        }
        if (st)
            goto out_t;
        parts[np++] = cur;
        st = slice(f, &t, c, c, &parts[np], err);
        if (!st)
            np++;
    out_t:
        act_release(f, &t);
    }
    if (!st) {
        act cat;
        if (!(st = concat(f, parts, np, &cat, err))) {
            release_all(f, parts, np);
            np = 0;
            st = run_conv(f, e, L->cv2, &cat, y, err);
            act_release(f, &cat);
        }
    }
out:
    release_all(f, parts, np);
    return st;
}

/* PSABlock (YOLO11) on x (c channels), convs at ci: attn.qkv, attn.proj,
 * attn.pe (depthwise), ffn.0, ffn.1:
 *   x = x + proj(attention(qkv(x)) + pe(v));  y = x + ffn.1(ffn.0(x)). */
static af_status psa_block(af_forward *f, shape_entry *e, const af_layer *L, int ci,
                           const act *x, act *y, af_error *err)
{
    const int c = L->hidden, heads = L->spec.heads, hd = c / heads, kd = hd / 2;
    act qkv, att, v, pe, p, f1;
    af_status st = run_conv(f, e, ci, x, &qkv, err);
    if (st)
        return st;
    if ((st = act_alloc(f, &att, x->n, x->h, x->w, c, err))) {
        act_release(f, &qkv);
        return st;
    }
    if ((st = act_alloc(f, &v, x->n, x->h, x->w, c, err))) {
        act_release(f, &att);
        act_release(f, &qkv);
        return st;
    }
    if (!f->dry) {
        af_attn_shape sh = {x->n, x->h, x->w, heads, kd, hd, (float)pow(kd, -0.5), f->blk};
        st = af_attention_blk(&sh, qkv.data, att.data, v.data, f->threads, err);
    }
    f->flops += 2.0 * x->n * (double)x->h * x->w * x->h * x->w * heads * (kd + hd);
    act_release(f, &qkv);
    if (!st)
        st = run_conv(f, e, ci + 2, &v, &pe, err);
    act_release(f, &v);
    if (st) {
        act_release(f, &att);
        return st;
    }
    if (!f->dry)
        af_add_inplace(att.data, pe.data, af_blk_elems(f->blk, att.n, att.h, att.w, c), f->threads);
    act_release(f, &pe);
    st = run_conv(f, e, ci + 1, &att, &p, err);
    act_release(f, &att);
    if (st)
        return st;
    if (!f->dry)
        af_add_inplace(p.data, x->data, af_blk_elems(f->blk, p.n, p.h, p.w, c), f->threads);
    if (!(st = run_conv(f, e, ci + 3, &p, &f1, err))) {
        st = run_conv(f, e, ci + 4, &f1, y, err);
        act_release(f, &f1);
    }
    if (!st && !f->dry)
        af_add_inplace(y->data, p.data, af_blk_elems(f->blk, p.n, p.h, p.w, c), f->threads);
    act_release(f, &p);
    return st;
}

/* C2PSA (YOLO11): t = cv1(x); a, b = t[:c], t[c:]; b = PSABlocks(b);
 * y = cv2(cat(a, b)). */
static af_status run_c2psa(af_forward *f, shape_entry *e, const af_layer *L, const act *x,
                           act *y, af_error *err)
{
    const int c = L->hidden;
    act t, parts[2], nxt;
    af_status st = run_conv(f, e, L->cv1, x, &t, err);
    if (st)
        return st;
    if ((st = slice(f, &t, 0, c, &parts[0], err))) {
        act_release(f, &t);
        return st;
    }
    st = slice(f, &t, c, c, &parts[1], err);
    act_release(f, &t);
    if (st) {
        act_release(f, &parts[0]);
        return st;
    }
    for (int j = 0; j < L->spec.n && !st; j++) {
        st = psa_block(f, e, L, L->mbase + j * L->mstep, &parts[1], &nxt, err);
        if (!st) {
            act_release(f, &parts[1]);
            parts[1] = nxt;
        }
    }
    act cat;
    if (!st && !(st = concat(f, parts, 2, &cat, err))) {
        release_all(f, parts, 2);
        st = run_conv(f, e, L->cv2, &cat, y, err);
        act_release(f, &cat);
        return st;
    }
    release_all(f, parts, 2);
    return st;
}

/* SPPF: x = cv1(in); cat(x, m(x), m(m(x)), m(m(m(x)))) -> cv2. */
static af_status run_sppf(af_forward *f, shape_entry *e, const af_layer *L, const act *x, act *y,
                          af_error *err)
{
    act parts[4];
    int np = 0, k = L->spec.k;
    int c = f->m->convs[L->cv1].desc.cout;
    if (in_place_ok(f, x, c)) { /* cat built in place: cv1, then each pool, into its planes */
        int oh, ow;
        af_conv_out_hw(&f->m->convs[L->cv1].desc, x->h, x->w, &oh, &ow);
        act cat;
        af_status st = act_alloc(f, &cat, 1, oh, ow, 4 * c, err);
        if (st)
            return st;
        act p0 = view_channels(f, &cat, 0, c);
        st = conv_to(f, e, L->cv1, x, &p0, 0, err);
        for (int j = 1; j < 4 && !st && !f->dry; j++) /* each blk-channel plane on its own */
            st = af_maxpool(c / f->blk, oh, ow, f->blk, k, 1, k / 2,
                            view_channels(f, &cat, (j - 1) * c, c).data,
                            view_channels(f, &cat, j * c, c).data, f->threads, err);
        if (!st)
            st = run_conv(f, e, L->cv2, &cat, y, err);
        act_release(f, &cat);
        return st;
    }
    af_status st = run_conv(f, e, L->cv1, x, &parts[0], err);
    if (st)
        return st;
    np = 1;
    for (int j = 1; j < 4 && !st; j++) {
        const act *p = &parts[j - 1];
        if ((st = act_alloc(f, &parts[j], p->n, p->h, p->w, p->c, err)))
            break;
        np++;
        if (!f->dry) /* each block plane on its own */
            st = af_maxpool(p->n * af_blk_pad(f->blk, p->c) / f->blk, p->h, p->w, f->blk, k, 1,
                            k / 2, p->data, parts[j].data, f->threads, err);
    }
    if (!st) {
        act cat;
        if (!(st = concat(f, parts, np, &cat, err))) {
            release_all(f, parts, np);
            np = 0;
            st = run_conv(f, e, L->cv2, &cat, y, err);
            act_release(f, &cat);
        }
    }
    release_all(f, parts, np);
    return st;
}

static af_status run_detect(af_forward *f, shape_entry *e, const af_layer *L, int nanchors,
                            af_error *err)
{
    const af_model *m = f->m;
    const af_layer_spec *S = &L->spec;
    int no = 4 + m->nc;
    int off = 0;
    for (int l = 0; l < S->nlevels; l++) {
        const act *x = &f->outs[S->from[l]];
        act b1, b2, box, c1, c2, cls;
        af_status st;
        if ((st = run_conv(f, e, L->box[l][0], x, &b1, err)))
            return st;
        st = run_conv(f, e, L->box[l][1], &b1, &b2, err);
        act_release(f, &b1);
        if (st)
            return st;
        st = run_conv(f, e, L->box[l][2], &b2, &box, err);
        act_release(f, &b2);
        if (st)
            return st;
        if ((st = run_conv(f, e, L->cls[l][0], x, &c1, err))) {
            act_release(f, &box);
            return st;
        }
        for (int j = 1; j < L->ncls && !st; j++) { /* c1 -> c2 -> ... -> cls */
            st = run_conv(f, e, L->cls[l][j], &c1, j == L->ncls - 1 ? &cls : &c2, err);
            act_release(f, &c1);
            c1 = c2;
        }
        if (st) {
            act_release(f, &box);
            return st;
        }
        /* the decode reads NHWC: (n, h, w, 4*reg_max) and (n, h, w, nc) */
        act bn, cn;
        if ((st = act_alloc_as(f, &bn, box.n, box.h, box.w, box.c, AF_LAYOUT_NHWC, err)) ||
            (st = act_alloc_as(f, &cn, cls.n, cls.h, cls.w, cls.c, AF_LAYOUT_NHWC, err))) {
            if (bn.data)
                act_release(f, &bn);
            act_release(f, &box);
            act_release(f, &cls);
            return st;
        }
        if (!f->dry) {
            af_blk_to_nhwc(f->blk, box.n, box.h, box.w, box.c, box.data, bn.data, f->threads);
            af_blk_to_nhwc(f->blk, cls.n, cls.h, cls.w, cls.c, cls.data, cn.data, f->threads);
        }
        act_release(f, &box);
        act_release(f, &cls);
        box = bn;
        cls = cn;
        if (f->dry) {
            act_release(f, &box);
            act_release(f, &cls);
            continue;
        }
        if (f->keep_raw) { /* (n, h, w, 4*reg_max + nc): box | cls, as the loss takes it */
            size_t np = (size_t)x->n * x->h * x->w, need = np * (box.c + cls.c);
            if (need > f->raw_cap[l]) {
                free(f->raw[l]);
                f->raw[l] = malloc(need * sizeof(float));
                f->raw_cap[l] = f->raw[l] ? need : 0;
            }
            if (!f->raw[l]) {
                act_release(f, &box);
                act_release(f, &cls);
                return af_fail(err, AF_E_NOMEM, "out of memory for the head outputs");
            }
            const float *srcs[2] = {box.data, cls.data};
            int cs[2] = {box.c, cls.c};
            af_concat_channels(np, 2, srcs, cs, f->raw[l]);
            f->raw_h[l] = x->h;
            f->raw_w[l] = x->w;
        }
        for (int bi = 0; bi < x->n; bi++) {
            size_t plane = (size_t)x->h * x->w;
            af_head_decode(box.data + bi * plane * box.c, cls.data + bi * plane * cls.c, x->h,
                           x->w, m->desc.reg_max, m->nc, m->dfl, (float)m->strides[l],
                           f->out + (size_t)bi * no * nanchors, nanchors, off, f->threads);
        }
        off += x->h * x->w;
        act_release(f, &box);
        act_release(f, &cls);
    }
    return AF_OK;
}

/* ---- narrow activations (bf16, s8) between convs ---- */

/* The narrow type conv ci takes and gives on oneDNN: ACT_BF16 (bf16 weights),
 * ACT_S8 (int8 weights), else ACT_F32 (depthwise convs, the unfused
 * reference mode, fp32 convs). */
static int conv_narrow(const af_model *m, int ci)
{
    if (ci < 0 || ci >= m->nconvs)
        return ACT_F32;
    const af_conv_unit *u = &m->convs[ci];
    if (u->groups > 1 || u->bn_alpha || !u->prepared || af_conv_weights_winograd(u->prepared))
        return ACT_F32; /* the Winograd path reads and writes float */
    return af_conv_weights_is_bf16(u->prepared)   ? ACT_BF16
           : af_conv_weights_is_int8(u->prepared) ? ACT_S8
                                                   : ACT_F32;
}

static void pair(const af_model *m, int *handover, int producer, int reader)
{
    const int t = conv_narrow(m, producer);
    if (t != ACT_F32 && t == conv_narrow(m, reader))
        handover[producer] = reader;
}

/* Layers whose input x goes to their cv1 conv and nowhere else. */
static int reads_by_cv1(const af_layer_spec *S)
{
    return S->type == AF_M_CONV || S->type == AF_M_C2F || S->type == AF_M_C2 ||
           S->type == AF_M_C3K2 || S->type == AF_M_SPPF || S->type == AF_M_C2PSA;
}

/* The convs whose output has exactly one reader, itself a conv of the same
 * narrow type (bf16 or int8): a bottleneck's cv1 (read by its cv2), the
 * head's chains (cv2[l][0] -> [1] -> [2], cv3 alike), and a layer ending in a
 * conv whose output only the cv1 of the next such layer reads (Conv -> C2f,
 * C2f -> Conv, ...). They hand it over in that type (bf16, or s8 NHWC
 * quantized for the reader) instead of float32. Everything that meets
 * another op (adds, concatenations, pooling, upsampling, the decode) stays
 * float. */
static void plan_handover(const af_model *m, int *handover)
{
    int refs[AF_MAX_LAYERS] = {0}, reader[AF_MAX_LAYERS];
    for (int i = 0; i < m->nconvs; i++)
        handover[i] = -1;
    for (int i = 0; i < m->desc.nlayers; i++) {
        const af_layer *L = &m->layers[i];
        const af_layer_spec *S = &L->spec;
        for (int j = 0; j < S->nfrom; j++)
            if (S->from[j] >= 0) {
                refs[S->from[j]]++;
                reader[S->from[j]] = j == 0 && reads_by_cv1(S) ? i : -1;
            }
        if (S->type == AF_M_C2F || S->type == AF_M_C2 || S->type == AF_M_C3K2)
            for (int j = 0; j < S->n; j++) {
                if (S->type == AF_M_C3K2 && S->c3k) {
                    const int ci = L->mbase + j * L->mstep;
                    for (int k = 0; k < 2; k++)
                        pair(m, handover, ci + 3 + 2 * k, ci + 4 + 2 * k);
                } else {
                    pair(m, handover, L->mbase + 2 * j, L->mbase + 2 * j + 1);
                }
            }
        if (S->type == AF_M_DETECT)
            for (int l = 0; l < S->nlevels; l++) {
                pair(m, handover, L->box[l][0], L->box[l][1]);
                pair(m, handover, L->box[l][1], L->box[l][2]);
                for (int j = 0; j + 1 < L->ncls; j++)
                    pair(m, handover, L->cls[l][j], L->cls[l][j + 1]);
            }
    }
    for (int i = 0; i < m->desc.nlayers; i++) {
        const af_layer_spec *S = &m->layers[i].spec;
        if (refs[i] != 1 || reader[i] < 0 || !reads_by_cv1(S)) /* S: ends in its cv1/cv2 */
            continue;
        const int last = S->type == AF_M_CONV ? m->layers[i].cv1 : m->layers[i].cv2;
        pair(m, handover, last, m->layers[reader[i]].cv1);
    }
}

static shape_entry *get_shape(af_forward *f, int n, int h, int w, af_error *err)
{
    shape_entry *e = NULL, *oldest = &f->shapes[0];
    f->clock++;
    for (int i = 0; i < SHAPES_MAX; i++) {
        shape_entry *s = &f->shapes[i];
        if (s->convs && s->n == n && s->h == h && s->w == w) {
            s->stamp = f->clock;
            return s;
        }
        if (!s->convs) {
            if (!e)
                e = s;
        } else if (s->stamp < oldest->stamp) {
            oldest = s;
        }
    }
    if (!e) {
        shape_entry_clear(oldest, f->m->nconvs);
        e = oldest;
    }
    e->convs = calloc((size_t)f->m->nconvs, sizeof *e->convs);
    e->handover = malloc((size_t)f->m->nconvs * sizeof *e->handover);
    if (!e->convs || !e->handover) {
        shape_entry_clear(e, f->m->nconvs);
        af_fail(err, AF_E_NOMEM, "out of memory");
        return NULL;
    }
    plan_handover(f->m, e->handover);
    if (f->no_narrow)
        for (int i = 0; i < f->m->nconvs; i++)
            e->handover[i] = -1;
    e->n = n;
    e->h = h;
    e->w = w;
    e->stamp = f->clock;
    return e;
}

static af_status run_layers(af_forward *f, shape_entry *e, const float *input, int n, int h,
                            int w, int na, af_error *err);

af_status af_forward_run(af_forward *f, const float *input, int n, int h, int w,
                         const float **out, int *nanchors, af_error *err)
{
    const af_model *m = f->m;
    int ms = m->max_stride;
    if (n < 1 || h < ms || w < ms || h % ms || w % ms || h > 16384 || w > 16384)
        return af_fail(err, AF_E_ARG,
                       "network input %dx%d must be a positive multiple of the stride %d", h, w,
                       ms);
    shape_entry *e = get_shape(f, n, h, w, err);
    if (!e)
        return AF_E_NOMEM;
    int na = 0;
    for (int l = 0; l < m->nlevels; l++)
        na += (h / m->strides[l]) * (w / m->strides[l]);
    size_t need = (size_t)n * (4 + m->nc) * na;
    if (need > f->out_cap) {
        free(f->out);
        f->out = malloc(need * sizeof *f->out);
        f->out_cap = f->out ? need : 0;
        if (!f->out)
            return af_fail(err, AF_E_NOMEM, "out of memory for the network output");
    }
    f->cur = e;
    af_status st;
    if (!e->planned) {
        af_mem_plan_reset(&e->plan);
        f->dry = 1;
        st = run_layers(f, e, input, n, h, w, na, err);
        f->dry = 0;
        if (!st)
            st = plan_solve(f, e, err);
        if (st)
            return st;
    }
    f->next_block = 0;
    f->off_plan = 0;
    ARENA_POISON(f->arena, f->arena_cap);
    st = run_layers(f, e, input, n, h, w, na, err);
    if (f->off_plan)
        e->planned = 0; /* plan again next time */
    if (st)
        return st;
    *out = f->out;
    *nanchors = na;
    return AF_OK;
}

/* One pass over the layers (the planning pass when f->dry). input: NHWC. */
static af_status run_layers(af_forward *f, shape_entry *e, const float *input, int n, int h,
                            int w, int na, af_error *err)
{
    const af_model *m = f->m;
    act in;
    af_status st = act_alloc_as(f, &in, n, h, w, 3, AF_LAYOUT_NCHW, err);
    if (st)
        return st;
    if (!f->dry)
        af_nhwc_to_nchw(n, h, w, 3, input, in.data, f->threads);
    f->flops = 0;
    f->conv_seq = 0;
    for (int j = 0; j < m->nconvs && !f->dry; j++)
        f->conv_t[j] = (af_conv_timing){0, 0, 0, NULL, -1};
    int i;
    for (i = 0; i < m->desc.nlayers && !st; i++) {
        double t0 = now_ms(), fl0 = f->flops;
        const af_layer *L = &m->layers[i];
        const af_layer_spec *S = &L->spec;
        const act *x = S->from[0] < 0 ? &in : &f->outs[S->from[0]];
        for (int j = 0; j < S->nfrom; j++)
            if (S->from[j] < 0 && S->type != AF_M_CONV && S->type != AF_M_C2F &&
                S->type != AF_M_C2 && S->type != AF_M_C3K2 && S->type != AF_M_C2PSA &&
                S->type != AF_M_SPPF) {
                st = af_fail(err, AF_E_UNSUPPORTED,
                             "layer %d (%s) reads the network input; only Conv, C2f, C2, "
                             "C3k2, C2PSA and SPPF may",
                             i, af_module_name(S->type));
                break;
            }
        if (st)
            break;
        act *y = &f->outs[i];
        y->data = NULL;
        y->slot = -1;
        y->heap = 0;
        switch (S->type) {
        case AF_M_CONV:
            st = run_conv(f, e, L->cv1, x, y, err);
            break;
        case AF_M_C2F:
        case AF_M_C2:
        case AF_M_C3K2:
            st = run_c2x(f, e, L, x, y, err);
            break;
        case AF_M_C2PSA:
            st = run_c2psa(f, e, L, x, y, err);
            break;
        case AF_M_SPPF:
            st = run_sppf(f, e, L, x, y, err);
            break;
        case AF_M_UPSAMPLE:
            if (!(st = act_alloc(f, y, x->n, x->h * 2, x->w * 2, x->c, err)) && !f->dry)
                af_upsample_nearest2x(x->n * af_blk_pad(f->blk, x->c) / f->blk, x->h, x->w,
                                      f->blk, x->data, y->data, f->threads);
            break;
        case AF_M_CONCAT: {
            act parts[AF_MAX_FROM];
            for (int j = 0; j < S->nfrom; j++) {
                parts[j] = S->from[j] < 0 ? in : f->outs[S->from[j]];
                parts[j].slot = -1; /* borrowed */
                parts[j].heap = 0;
            }
            st = concat(f, parts, S->nfrom, y, err);
            break;
        }
        case AF_M_DETECT:
            st = run_detect(f, e, L, na, err);
            break;
        }
        /* release inputs whose last consumer this was */
        for (int j = 0; j < S->nfrom; j++)
            if (S->from[j] >= 0 && f->last_use[S->from[j]] == i)
                act_release(f, &f->outs[S->from[j]]);
        if (i == f->input_last_use)
            act_release(f, &in);
        f->layer_ms[i] = now_ms() - t0;
        f->layer_flops[i] = f->flops - fl0;
    }
    /* on failure free whatever is still held */
    for (int j = 0; j < m->desc.nlayers; j++)
        if (f->outs[j].data)
            act_release(f, &f->outs[j]);
    if (in.data)
        act_release(f, &in);
    return st;
}
