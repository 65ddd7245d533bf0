/* Description + checkpoint tensors -> af_model: creates every convolution,
 * folds BatchNorm into it (with the checkpoint's eps, as PyTorch computes BN:
 * (x - mean) / sqrt(var + eps) * gamma + beta) and prepares oneDNN weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

typedef struct builder {
    af_model *m;
    int unfused;
    int raw;
    const af_checkpoint *ck; /* NULL: random weights */
    unsigned rng;
    int fan_in;          /* of the conv being initialised (raw random init) */
    unsigned char *used; /* per checkpoint tensor */
    int cap;
} builder;

static float rand_uniform(builder *b)
{
    b->rng = b->rng * 1664525u + 1013904223u;
    return (float)((b->rng >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* Fetches a float tensor of the expected shape as a new f32 array. */
static af_status get_tensor(builder *b, const char *name, int ndim, const int64_t *shape,
                            float **out, af_error *err)
{
    size_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= (size_t)shape[i];
    if (!b->ck) {
        float *f = malloc(numel * sizeof *f);
        if (!f)
            return af_fail(err, AF_E_NOMEM, "out of memory for %s", name);
        /* raw (training) models: PyTorch's defaults. Conv weights and biases
         * kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BN
         * weight 1, bias 0, running mean 0, var 1. Timing models: small noise. */
        float bound = 0.05f;
        if (b->raw) {
            size_t fan_in = b->fan_in > 0 ? (size_t)b->fan_in : 1;
            bound = 1.0f / sqrtf((float)fan_in);
            const char *tail = strrchr(name, '.');
            int is_bn = strstr(name, ".bn.") != NULL;
            if (is_bn) {
                float v = (!strcmp(tail, ".weight") || !strcmp(tail, ".running_var")) ? 1.0f : 0.0f;
                for (size_t i = 0; i < numel; i++)
                    f[i] = v;
                *out = f;
                return AF_OK;
            }
        }
        for (size_t i = 0; i < numel; i++)
            f[i] = bound * rand_uniform(b);
        *out = f;
        return AF_OK;
    }
    const af_tensor *t = af_tensor_list_find(&b->ck->tensors, name);
    if (!t)
        return af_fail(err, AF_E_FORMAT,
                       "tensor '%s' is missing (the weights do not match the model description)",
                       name);
    b->used[t - b->ck->tensors.items] = 1;
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char got[96] = "", want[96] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "x" : "",
                     (long long)t->shape[i]);
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "x" : "",
                     (long long)shape[i]);
        return af_fail(err, AF_E_FORMAT,
                       "tensor '%s' has shape %s but the model description needs %s", name, got,
                       want);
    }
    size_t n;
    af_status st = af_tensor_to_f32(t, out, &n, err);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite((*out)[i])) {
            free(*out);
            *out = NULL;
            return af_fail(err, AF_E_FORMAT, "tensor '%s' holds NaN or infinite values", name);
        }
    }
    return AF_OK;
}

static int has_tensor(const builder *b, const char *name)
{
    return b->ck && af_tensor_list_find(&b->ck->tensors, name) != NULL;
}

static double bn_eps(const builder *b, const char *bn_prefix)
{
    if (b->ck && b->ck->bn_eps) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(b->ck->bn_eps, bn_prefix);
        if (cJSON_IsNumber(e) && e->valuedouble > 0 && e->valuedouble < 1)
            return e->valuedouble;
    }
    return 1e-3;
}

/* Adds one convolution. with_bn: an ultralytics Conv (conv + BN, then SiLU if
 * silu) at `prefix`; else a plain nn.Conv2d with bias (the Detect head's last
 * convs). groups: 1, or cin == cout (depthwise). */
static af_status add_conv_ex(builder *b, const char *prefix, int cin, int cout, int k, int s,
                             int groups, int with_bn, int silu, int *idx, af_error *err)
{
    af_model *m = b->m;
    if (m->nconvs == b->cap) {
        int cap = b->cap ? b->cap * 2 : 128;
        af_conv_unit *c = realloc(m->convs, (size_t)cap * sizeof *c);
        if (!c)
            return af_fail(err, AF_E_NOMEM, "out of memory building the model");
        m->convs = c;
        b->cap = cap;
    }
    af_conv_unit *u = &m->convs[m->nconvs];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", prefix);
    silu = with_bn && silu;
    u->desc = (af_conv_desc){cin, cout, k, s, k / 2, silu ? AF_ACT_SILU : AF_ACT_NONE};
    u->has_bn = with_bn;
    u->silu = silu;
    u->groups = groups;
    m->nconvs++;
    *idx = m->nconvs - 1;
    b->fan_in = cin / groups * k * k;

    char name[128];
    int64_t wshape[4] = {cout, cin / groups, k, k}, vshape[1] = {cout};
    af_status st;
    snprintf(name, sizeof name, with_bn ? "%s.conv.weight" : "%s.weight", prefix);
    if ((st = get_tensor(b, name, 4, wshape, &u->weight, err)))
        return st;
    char bias_name[128];
    snprintf(bias_name, sizeof bias_name, with_bn ? "%s.conv.bias" : "%s.bias", prefix);
    char bnw[128];
    snprintf(bnw, sizeof bnw, "%s.bn.weight", prefix);
    if (!with_bn || (b->ck && !has_tensor(b, bnw))) {
        /* plain conv, or an already fused ultralytics Conv */
        if ((st = get_tensor(b, bias_name, 1, vshape, &u->bias, err)))
            return st;
        if (b->raw && with_bn) {
            /* a fused checkpoint trained on: BN(x) = x + bias, as an identity BN
             * with mean 0 and var 1 - eps (so sqrt(var + eps) == 1) */
            u->bn_gamma = malloc((size_t)cout * sizeof(float));
            u->bn_mean = calloc((size_t)cout, sizeof(float));
            u->bn_var = malloc((size_t)cout * sizeof(float));
            if (!u->bn_gamma || !u->bn_mean || !u->bn_var)
                return af_fail(err, AF_E_NOMEM, "out of memory for %s", prefix);
            for (int i = 0; i < cout; i++) {
                u->bn_gamma[i] = 1.0f;
                u->bn_var[i] = 1.0f - 1e-3f;
            }
            u->bn_bias = u->bias;
            u->bias = NULL;
            u->bn_eps = 1e-3f;
            u->desc.act = AF_ACT_NONE;
        }
        return AF_OK;
    }
    float *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    char n1[128], n2[128], n3[128], n4[128], bnp[96];
    snprintf(bnp, sizeof bnp, "%s.bn", prefix);
    snprintf(n1, sizeof n1, "%s.bn.weight", prefix);
    snprintf(n2, sizeof n2, "%s.bn.bias", prefix);
    snprintf(n3, sizeof n3, "%s.bn.running_mean", prefix);
    snprintf(n4, sizeof n4, "%s.bn.running_var", prefix);
    if (!(st = get_tensor(b, n1, 1, vshape, &g, err)) &&
        !(st = get_tensor(b, n2, 1, vshape, &beta, err)) &&
        !(st = get_tensor(b, n3, 1, vshape, &mean, err)) &&
        !(st = get_tensor(b, n4, 1, vshape, &var, err))) {
        if (b->raw) { /* keep the parameters as they are */
            u->bn_gamma = g;
            u->bn_bias = beta;
            u->bn_mean = mean;
            u->bn_var = var;
            u->bn_eps = (float)bn_eps(b, bnp);
            u->desc.act = AF_ACT_NONE;
            return AF_OK;
        }
        if (!b->ck) { /* random model: plausible BN statistics */
            for (int i = 0; i < cout; i++) {
                g[i] = 1.0f + 0.2f * g[i];
                var[i] = 1.0f + 10.0f * fabsf(var[i]);
            }
        }
        double eps = bn_eps(b, bnp);
        if (b->unfused) {
            /* PyTorch (batch_norm_cpu_collect_linear_and_constant_terms), float32 */
            u->bn_alpha = malloc((size_t)cout * sizeof *u->bn_alpha);
            u->bn_beta = malloc((size_t)cout * sizeof *u->bn_beta);
            if (!u->bn_alpha || !u->bn_beta)
                st = af_fail(err, AF_E_NOMEM, "out of memory for %s", prefix);
            for (int o = 0; !st && o < cout; o++) {
                float invstd = 1.0f / sqrtf(var[o] + (float)eps);
                u->bn_alpha[o] = invstd * g[o];
                u->bn_beta[o] = beta[o] - mean[o] * u->bn_alpha[o];
            }
            u->desc.act = AF_ACT_NONE;
        } else {
            u->bias = malloc((size_t)cout * sizeof *u->bias);
            if (!u->bias)
                st = af_fail(err, AF_E_NOMEM, "out of memory for %s", prefix);
            size_t per = (size_t)(cin / groups) * k * k;
            for (int o = 0; !st && o < cout; o++) {
                if (!(var[o] + eps > 0)) {
                    st = af_fail(err, AF_E_FORMAT, "tensor '%s' has a negative variance", n4);
                    break;
                }
                double scale = (double)g[o] / sqrt((double)var[o] + eps);
                for (size_t j = 0; j < per; j++)
                    u->weight[o * per + j] = (float)(u->weight[o * per + j] * scale);
                u->bias[o] = (float)((double)beta[o] - (double)mean[o] * scale);
            }
        }
    }
    free(g);
    free(beta);
    free(mean);
    free(var);
    return st;
}

static af_status add_conv(builder *b, const char *prefix, int cin, int cout, int k, int s,
                          int with_bn, int *idx, af_error *err)
{
    return add_conv_ex(b, prefix, cin, cout, k, s, 1, with_bn, 1, idx, err);
}

/* C3k2 block j at `p` ("model.i.m.j"): Bottleneck(c, c, e=0.5), or C3k(c, c, 2):
 * cv1, cv2 (c -> c/2, 1x1), cv3 (c -> c, 1x1), m.0 and m.1 (Bottleneck(c/2, c/2,
 * e=1): two 3x3 convs each). */
static af_status add_c3k2_block(builder *b, const char *p, int c, int c3k, af_error *err)
{
    char q[128];
    int h = c / 2, tmp;
    af_status st;
    if (!c3k) {
        snprintf(q, sizeof q, "%s.cv1", p);
        if ((st = add_conv(b, q, c, h, 3, 1, 1, &tmp, err)))
            return st;
        snprintf(q, sizeof q, "%s.cv2", p);
        return add_conv(b, q, h, c, 3, 1, 1, &tmp, err);
    }
    static const char *const top[3] = {"cv1", "cv2", "cv3"};
    for (int j = 0; j < 3; j++) {
        snprintf(q, sizeof q, "%s.%s", p, top[j]);
        if ((st = add_conv(b, q, j < 2 ? c : 2 * h, j < 2 ? h : c, 1, 1, 1, &tmp, err)))
            return st;
    }
    for (int j = 0; j < 2; j++)
        for (int v = 1; v <= 2; v++) {
            snprintf(q, sizeof q, "%s.m.%d.cv%d", p, j, v);
            if ((st = add_conv(b, q, h, h, 3, 1, 1, &tmp, err)))
                return st;
        }
    return AF_OK;
}

/* PSABlock(c, attn_ratio=0.5, heads) at `p`: attn.qkv (c -> c + 2*kd*heads, BN,
 * no act), attn.proj (BN, no act), attn.pe (depthwise 3x3, BN, no act), ffn.0
 * (c -> 2c, SiLU), ffn.1 (2c -> c, no act). */
static af_status add_psa_block(builder *b, const char *p, int c, int heads, af_error *err)
{
    char q[128];
    int kd = c / heads / 2, tmp;
    af_status st;
    snprintf(q, sizeof q, "%s.attn.qkv", p);
    if ((st = add_conv_ex(b, q, c, c + 2 * kd * heads, 1, 1, 1, 1, 0, &tmp, err)))
        return st;
    snprintf(q, sizeof q, "%s.attn.proj", p);
    if ((st = add_conv_ex(b, q, c, c, 1, 1, 1, 1, 0, &tmp, err)))
        return st;
    snprintf(q, sizeof q, "%s.attn.pe", p);
    if ((st = add_conv_ex(b, q, c, c, 3, 1, c, 1, 0, &tmp, err)))
        return st;
    snprintf(q, sizeof q, "%s.ffn.0", p);
    if ((st = add_conv(b, q, c, 2 * c, 1, 1, 1, &tmp, err)))
        return st;
    snprintf(q, sizeof q, "%s.ffn.1", p);
    return add_conv_ex(b, q, 2 * c, c, 1, 1, 1, 1, 0, &tmp, err);
}

static af_status build_layers(builder *b, af_error *err)
{
    af_model *m = b->m;
    af_model_desc *d = &m->desc;
    af_status st;
    char p[96];
    for (int i = 0; i < d->nlayers; i++) {
        af_layer *L = &m->layers[i];
        const af_layer_spec *S = &d->layers[i];
        L->spec = *S;
        int in_stride = S->from[0] < 0 ? 1 : m->layers[S->from[0]].stride;
        L->stride = in_stride;
        switch (S->type) {
        case AF_M_CONV:
            snprintf(p, sizeof p, "model.%d", i);
            if ((st = add_conv(b, p, S->c1, S->c2, S->k, S->s, 1, &L->cv1, err)))
                return st;
            L->stride = in_stride * S->s;
            break;
        case AF_M_C2F:
        case AF_M_C2: {
            int c = S->c2 / 2; /* int(c2 * 0.5) */
            L->hidden = c;
            snprintf(p, sizeof p, "model.%d.cv1", i);
            if ((st = add_conv(b, p, S->c1, 2 * c, 1, 1, 1, &L->cv1, err)))
                return st;
            int c_cat = S->type == AF_M_C2F ? (2 + S->n) * c : 2 * c;
            snprintf(p, sizeof p, "model.%d.cv2", i);
            if ((st = add_conv(b, p, c_cat, S->c2, 1, 1, 1, &L->cv2, err)))
                return st;
            L->mbase = m->nconvs;
            for (int j = 0; j < S->n; j++) {
                int tmp;
                snprintf(p, sizeof p, "model.%d.m.%d.cv1", i, j);
                if ((st = add_conv(b, p, c, c, 3, 1, 1, &tmp, err)))
                    return st;
                snprintf(p, sizeof p, "model.%d.m.%d.cv2", i, j);
                if ((st = add_conv(b, p, c, c, 3, 1, 1, &tmp, err)))
                    return st;
            }
            break;
        }
        case AF_M_C3K2:
        case AF_M_C2PSA: {
            int c = S->hidden, c3k2 = S->type == AF_M_C3K2;
            L->hidden = c;
            snprintf(p, sizeof p, "model.%d.cv1", i);
            if ((st = add_conv(b, p, S->c1, 2 * c, 1, 1, 1, &L->cv1, err)))
                return st;
            snprintf(p, sizeof p, "model.%d.cv2", i);
            if ((st = add_conv(b, p, c3k2 ? (2 + S->n) * c : 2 * c, S->c2, 1, 1, 1, &L->cv2,
                               err)))
                return st;
            L->mbase = m->nconvs;
            L->mstep = c3k2 ? (S->c3k ? 7 : 2) : 5;
            for (int j = 0; j < S->n; j++) {
                snprintf(p, sizeof p, "model.%d.m.%d", i, j);
                if ((st = c3k2 ? add_c3k2_block(b, p, c, S->c3k, err)
                               : add_psa_block(b, p, c, S->heads, err)))
                    return st;
            }
            break;
        }
        case AF_M_SPPF: {
            int c_ = S->c1 / 2;
            snprintf(p, sizeof p, "model.%d.cv1", i);
            if ((st = add_conv(b, p, S->c1, c_, 1, 1, 1, &L->cv1, err)))
                return st;
            snprintf(p, sizeof p, "model.%d.cv2", i);
            if ((st = add_conv(b, p, 4 * c_, S->c2, 1, 1, 1, &L->cv2, err)))
                return st;
            break;
        }
        case AF_M_UPSAMPLE:
            if (in_stride % 2)
                return af_fail(err, AF_E_UNSUPPORTED, "layer %d upsamples a stride-%d map", i,
                               in_stride);
            L->stride = in_stride / 2;
            break;
        case AF_M_CONCAT:
            for (int j = 1; j < S->nfrom; j++) {
                int sj = S->from[j] < 0 ? 1 : m->layers[S->from[j]].stride;
                if (sj != in_stride)
                    return af_fail(err, AF_E_FORMAT,
                                   "layer %d concatenates maps of strides %d and %d", i,
                                   in_stride, sj);
            }
            break;
        case AF_M_DETECT: {
            int c2 = S->ch[0] / 4, c3 = S->ch[0];
            if (c2 < 16)
                c2 = 16;
            if (c2 < 4 * d->reg_max)
                c2 = 4 * d->reg_max;
            int lim = d->nc < 100 ? d->nc : 100;
            if (c3 < lim)
                c3 = lim;
            m->nlevels = S->nlevels;
            L->ncls = S->dwhead ? 5 : 3;
            for (int l = 0; l < S->nlevels; l++) {
                int cin = S->ch[l];
                int s = m->layers[S->from[l]].stride;
                m->strides[l] = s;
                if (s > m->max_stride)
                    m->max_stride = s;
                snprintf(p, sizeof p, "model.%d.cv2.%d.0", i, l);
                if ((st = add_conv(b, p, cin, c2, 3, 1, 1, &L->box[l][0], err)))
                    return st;
                snprintf(p, sizeof p, "model.%d.cv2.%d.1", i, l);
                if ((st = add_conv(b, p, c2, c2, 3, 1, 1, &L->box[l][1], err)))
                    return st;
                snprintf(p, sizeof p, "model.%d.cv2.%d.2", i, l);
                if ((st = add_conv(b, p, c2, 4 * d->reg_max, 1, 1, 0, &L->box[l][2], err)))
                    return st;
                if (S->dwhead) {
                    /* DWConv(x, x, 3), Conv(x, c3, 1), DWConv(c3, c3, 3), Conv(c3, c3, 1) */
                    for (int j = 0; j < 4; j++) {
                        int ci = j < 2 ? cin : c3, dw = j % 2 == 0;
                        snprintf(p, sizeof p, "model.%d.cv3.%d.%d.%d", i, l, j / 2, j % 2);
                        if ((st = add_conv_ex(b, p, ci, dw ? ci : c3, dw ? 3 : 1, 1, dw ? ci : 1,
                                              1, 1, &L->cls[l][j], err)))
                            return st;
                    }
                    snprintf(p, sizeof p, "model.%d.cv3.%d.2", i, l);
                    if ((st = add_conv(b, p, c3, d->nc, 1, 1, 0, &L->cls[l][4], err)))
                        return st;
                    continue;
                }
                snprintf(p, sizeof p, "model.%d.cv3.%d.0", i, l);
                if ((st = add_conv(b, p, cin, c3, 3, 1, 1, &L->cls[l][0], err)))
                    return st;
                snprintf(p, sizeof p, "model.%d.cv3.%d.1", i, l);
                if ((st = add_conv(b, p, c3, c3, 3, 1, 1, &L->cls[l][1], err)))
                    return st;
                snprintf(p, sizeof p, "model.%d.cv3.%d.2", i, l);
                if ((st = add_conv(b, p, c3, d->nc, 1, 1, 0, &L->cls[l][2], err)))
                    return st;
            }
            /* DFL: a fixed 1x1 conv with weights arange(reg_max) */
            if (b->ck) {
                float *w = NULL;
                int64_t shp[4] = {1, d->reg_max, 1, 1};
                snprintf(p, sizeof p, "model.%d.dfl.conv.weight", i);
                if ((st = get_tensor(b, p, 4, shp, &w, err)))
                    return st;
                memcpy(m->dfl, w, (size_t)d->reg_max * sizeof *w);
                free(w);
            } else {
                for (int j = 0; j < d->reg_max; j++)
                    m->dfl[j] = (float)j;
            }
            break;
        }
        }
    }
    return AF_OK;
}

static af_status check_unused(const builder *b, af_error *err)
{
    if (!b->ck)
        return AF_OK;
    for (size_t i = 0; i < b->ck->tensors.count; i++) {
        const char *n = b->ck->tensors.items[i].name;
        if (b->used[i] || strstr(n, "num_batches_tracked"))
            continue;
        /* BN tensors of a conv are read through bn.weight; anything else is foreign */
        return af_fail(err, AF_E_FORMAT,
                       "tensor '%s' is not part of the model description (wrong description "
                       "or weights from another model)",
                       n);
    }
    return AF_OK;
}

static af_status set_names(af_model *m, const cJSON *names, af_error *err)
{
    m->names = calloc((size_t)m->nc, sizeof *m->names);
    if (!m->names)
        return af_fail(err, AF_E_NOMEM, "out of memory for class names");
    for (int i = 0; i < m->nc; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        const cJSON *v = NULL;
        if (cJSON_IsObject(names))
            v = cJSON_GetObjectItemCaseSensitive(names, key);
        else if (cJSON_IsArray(names))
            v = cJSON_GetArrayItem(names, i);
        char buf[32];
        const char *s = cJSON_IsString(v) ? v->valuestring : buf;
        snprintf(buf, sizeof buf, "class%d", i);
        m->names[i] = strdup(s);
        if (!m->names[i])
            return af_fail(err, AF_E_NOMEM, "out of memory for class names");
    }
    return AF_OK;
}

static af_status finish(builder *b, const cJSON *yaml, int nc, const cJSON *names,
                        const cJSON *train_args, af_error *err)
{
    af_model *m = b->m;
    af_status st = af_model_desc_parse(yaml, nc, &m->desc, err);
    if (st)
        return st;
    /* Detect's class branch as the weights have it: ultralytics 8.3.0-8.3.16 built
     * YOLOv8's depthwise too (Detect.legacy came in 8.3.17) */
    if (b->ck && b->ck->detect_dw_cls >= 0)
        m->desc.layers[m->desc.nlayers - 1].dwhead = b->ck->detect_dw_cls;
    m->yaml = cJSON_Duplicate(yaml, 1);
    if (!m->yaml)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    if (nc > 0)
        cJSON_ReplaceItemInObject(m->yaml, "nc", cJSON_CreateNumber(nc));
    m->nc = m->desc.nc;
    m->imgsz = af_train_args_imgsz(train_args);
    m->conf_threshold = b->ck ? (float)b->ck->conf_threshold : 0.f;
    if ((st = set_names(m, names, err)))
        return st;
    if ((st = build_layers(b, err)) || (st = check_unused(b, err)))
        return st;
    if (b->ck && b->ck->nstride > 0) {
        int ok = b->ck->nstride == m->nlevels;
        for (int l = 0; ok && l < m->nlevels; l++)
            ok = (int)b->ck->stride[l] == m->strides[l];
        if (!ok)
            return af_fail(err, AF_E_FORMAT,
                           "the checkpoint's strides disagree with its model description");
    }
    if ((st = af_engine_create(&m->engine, err)))
        return st;
    if (b->raw)
        return AF_OK;
    /* weights laid out for the forward pass's activations (model/forward.c):
     * blocked, except the planar network input that the first conv reads */
    int first = -1;
    for (int i = 0; i < m->desc.nlayers; i++)
        if (m->desc.layers[i].from[0] < 0 && m->desc.layers[i].type != AF_M_DETECT) {
            first = m->layers[i].cv1;
            break;
        }
    const af_layout lay = af_blk_layout(af_engine_blk(m->engine));
    for (int i = 0; i < m->nconvs; i++) {
        af_conv_unit *u = &m->convs[i];
        if (u->groups > 1) /* depthwise: ops/dwconv.h reads weight and bias as they are */
            continue;
        af_layout src = i == first ? AF_LAYOUT_NCHW : lay;
        if ((st = af_conv_weights_create_for(m->engine, &u->desc, u->weight, u->bias, src, lay,
                                              &u->prepared, err))) {
            af_error_prefix(err, "%s", u->name);
            return st;
        }
        /* inference reads only the prepared copy: drop the OIHW one now, so that
         * the two never coexist for the whole network */
        free(u->weight);
        u->weight = NULL;
    }
    return AF_OK;
}

static af_model *model_new(void)
{
    return calloc(1, sizeof(af_model));
}

af_status af_model_build(const af_checkpoint *ck, af_model **out, af_error *err)
{
    return af_model_build_ex(ck, 0, out, err);
}

af_status af_model_build_ex(const af_checkpoint *ck, int unfused, af_model **out, af_error *err)
{
    *out = NULL;
    af_model *m = model_new();
    if (!m)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    m->unfused = unfused;
    builder b = {m, unfused, 0, ck, 0, 0, calloc(ck->tensors.count + 1, 1), 0};
    af_status st;
    cJSON *yaml = ck->yaml;
    cJSON *own = NULL;
    if (!b.used) {
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    } else {
        if (!yaml) {
            /* a plain state dict (e.g. the COCO start weights): YOLOv8 of the scale
             * its first conv implies */
            const af_tensor *t0 = af_tensor_list_find(&ck->tensors, "model.0.conv.weight");
            const char *scale = "yolov8n.yaml";
            if (t0 && t0->ndim == 4) {
                static const struct {
                    int c;
                    const char *name;
                } tab[] = {{16, "yolov8n.yaml"},
                           {32, "yolov8s.yaml"},
                           {48, "yolov8m.yaml"},
                           {64, "yolov8l.yaml"},
                           {80, "yolov8x.yaml"}};
                for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
                    if (t0->shape[0] == tab[i].c)
                        scale = tab[i].name;
            }
            int nc = 0;
            const af_tensor *tc = af_tensor_list_find(&ck->tensors, "model.22.cv3.0.2.bias");
            if (tc && tc->ndim == 1)
                nc = (int)tc->shape[0];
            yaml = own = af_model_yaml_builtin(scale, nc, err);
        }
        st = yaml ? finish(&b, yaml, 0, ck->names, ck->train_args, err) : AF_E_FORMAT;
        if (!yaml && err && err->code == AF_OK)
            af_fail(err, AF_E_FORMAT, "no model description");
    }
    cJSON_Delete(own);
    free(b.used);
    /* int8 calibration (animeface calibrate): each conv's input range, by name */
    for (int i = 0; !st && ck->int8 && i < m->nconvs; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ck->int8, m->convs[i].name);
        if (cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e30)
            m->convs[i].act_absmax = (float)v->valuedouble;
    }
    if (st) {
        af_model_free(m);
        return st;
    }
    *out = m;
    return AF_OK;
}

/* Copies a checkpoint tensor into dst when name and shape match. */
static int transfer_one(const af_checkpoint *ck, const char *name, float *dst, int ndim,
                        const int64_t *shape)
{
    const af_tensor *t = af_tensor_list_find(&ck->tensors, name);
    if (!t || t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return 0;
    float *f;
    size_t n;
    if (af_tensor_to_f32(t, &f, &n, NULL))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(f[i])) {
            free(f);
            return 0;
        }
    memcpy(dst, f, n * sizeof *f);
    free(f);
    return 1;
}

static void detect_bias_init(af_model *m)
{
    const af_layer *L = &m->layers[m->desc.nlayers - 1];
    for (int l = 0; l < m->nlevels; l++) {
        af_conv_unit *box = &m->convs[L->box[l][2]], *cls = &m->convs[L->cls[l][L->ncls - 1]];
        for (int i = 0; i < box->desc.cout; i++)
            box->bias[i] = 1.0f;
        double s = m->strides[l];
        for (int i = 0; i < cls->desc.cout; i++)
            cls->bias[i] = (float)log(5.0 / m->nc / ((640.0 / s) * (640.0 / s)));
    }
}

af_status af_model_build_raw(const cJSON *yaml, int nc, const af_checkpoint *from, unsigned seed,
                             af_model **out, int *ntransferred, af_error *err)
{
    *out = NULL;
    if (ntransferred)
        *ntransferred = 0;
    af_model *m = model_new();
    if (!m)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    m->raw = 1;
    builder b = {m, 0, 1, NULL, seed * 2654435761u + 1, 0, NULL, 0};
    /* class names and training args come from the dataset, not from the start weights */
    af_status st = finish(&b, yaml, nc, NULL, NULL, err);
    if (st) {
        af_model_free(m);
        return st;
    }
    detect_bias_init(m);
    int n = 0;
    for (int i = 0; from && i < m->nconvs; i++) {
        af_conv_unit *u = &m->convs[i];
        char name[128];
        int64_t ws[4] = {u->desc.cout, u->desc.cin / u->groups, u->desc.k, u->desc.k},
                vs[1] = {u->desc.cout};
        snprintf(name, sizeof name, u->has_bn ? "%s.conv.weight" : "%s.weight", u->name);
        n += transfer_one(from, name, u->weight, 4, ws);
        if (u->has_bn) {
            static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
            float *dst[4] = {u->bn_gamma, u->bn_bias, u->bn_mean, u->bn_var};
            for (int j = 0; j < 4; j++) {
                snprintf(name, sizeof name, "%s.bn.%s", u->name, parts[j]);
                n += transfer_one(from, name, dst[j], 1, vs);
            }
        } else {
            snprintf(name, sizeof name, "%s.bias", u->name);
            n += transfer_one(from, name, u->bias, 1, vs);
        }
    }
    if (ntransferred)
        *ntransferred = n;
    *out = m;
    return AF_OK;
}

af_status af_model_build_random(const cJSON *yaml, int nc, unsigned seed, af_model **out,
                                af_error *err)
{
    *out = NULL;
    af_model *m = model_new();
    if (!m)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    builder b = {m, 0, 0, NULL, seed * 2654435761u + 1, 0, NULL, 0};
    af_status st = finish(&b, yaml, nc, NULL, NULL, err);
    if (st) {
        af_model_free(m);
        return st;
    }
    *out = m;
    return AF_OK;
}

void af_model_free(af_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nconvs; i++) {
        af_conv_weights_free(m->convs[i].prepared);
        free(m->convs[i].weight);
        free(m->convs[i].bias);
        free(m->convs[i].bn_alpha);
        free(m->convs[i].bn_beta);
        free(m->convs[i].bn_gamma);
        free(m->convs[i].bn_bias);
        free(m->convs[i].bn_mean);
        free(m->convs[i].bn_var);
    }
    free(m->convs);
    if (m->names)
        for (int i = 0; i < m->nc; i++)
            free(m->names[i]);
    free(m->names);
    af_engine_free(m->engine);
    cJSON_Delete(m->yaml);
    free(m);
}

int af_model_num_classes(const af_model *m)
{
    return m->nc;
}

const char *af_model_class_name(const af_model *m, int cls)
{
    return cls >= 0 && cls < m->nc && m->names && m->names[cls] ? m->names[cls] : "?";
}

int af_model_default_imgsz(const af_model *m)
{
    return m->imgsz;
}

float af_model_conf_threshold(const af_model *m)
{
    return m->conf_threshold;
}

int af_model_max_stride(const af_model *m)
{
    return m->max_stride;
}
