#include "model/desc.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

const char *af_module_name(af_module_type t)
{
    static const char *const names[] = {"Conv",   "C2f",    "C2",   "SPPF", "nn.Upsample",
                                        "Concat", "Detect", "C3k2", "C2PSA"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static int make_divisible8(double x)
{
    return (int)(ceil(x / 8.0) * 8.0);
}

/* Python's round(): half to even. */
static double py_round(double x)
{
    double r = nearbyint(x); /* default rounding mode is to-nearest-even */
    return r;
}

/* A number argument (e.g. C3k2's expansion e), or absent (default). */
static af_status arg_num(const cJSON *args, int j, double def, double *out, int layer,
                         af_error *err)
{
    const cJSON *a = cJSON_GetArrayItem(args, j);
    if (!a || cJSON_IsNull(a)) {
        *out = def;
        return AF_OK;
    }
    if (cJSON_IsNumber(a) && a->valuedouble > 0 && a->valuedouble <= 4) {
        *out = a->valuedouble;
        return AF_OK;
    }
    return af_fail(err, AF_E_FORMAT,
                   "model description: layer %d argument %d is not a number in (0, 4]", layer, j);
}

/* An integer-valued JSON number; 1 if ok. */
static int json_int(const cJSON *v, int *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (d != floor(d) || d < -1e6 || d > 1e6)
        return 0;
    *out = (int)d;
    return 1;
}

/* Argument j of args: a number, the string "nc", or absent (default). */
static af_status arg_int(const cJSON *args, int j, int def, int nc, int *out, int layer,
                         af_error *err)
{
    const cJSON *a = cJSON_GetArrayItem(args, j);
    if (!a || cJSON_IsNull(a)) {
        *out = def;
        return AF_OK;
    }
    if (cJSON_IsString(a) && strcmp(a->valuestring, "nc") == 0) {
        *out = nc;
        return AF_OK;
    }
    if (cJSON_IsString(a) && strcmp(a->valuestring, "None") == 0) {
        *out = def;
        return AF_OK;
    }
    if (json_int(a, out))
        return AF_OK;
    return af_fail(err, AF_E_FORMAT, "model description: layer %d argument %d is not an integer",
                   layer, j);
}

static af_status arg_bool(const cJSON *args, int j, int def, int *out, int layer, af_error *err)
{
    const cJSON *a = cJSON_GetArrayItem(args, j);
    if (!a || cJSON_IsNull(a)) {
        *out = def;
        return AF_OK;
    }
    if (cJSON_IsBool(a)) {
        *out = cJSON_IsTrue(a);
        return AF_OK;
    }
    if (cJSON_IsString(a) && (!strcmp(a->valuestring, "True") || !strcmp(a->valuestring, "False"))) {
        *out = !strcmp(a->valuestring, "True");
        return AF_OK;
    }
    return af_fail(err, AF_E_FORMAT, "model description: layer %d argument %d is not a boolean",
                   layer, j);
}

static int module_from_name(const char *m, af_module_type *t)
{
    if (strncmp(m, "torch.nn.", 9) == 0)
        m += 6; /* "torch.nn.Upsample" -> "nn.Upsample" */
    static const struct {
        const char *name;
        af_module_type t;
    } tab[] = {{"Conv", AF_M_CONV},       {"C2f", AF_M_C2F},       {"C2", AF_M_C2},
               {"SPPF", AF_M_SPPF},       {"nn.Upsample", AF_M_UPSAMPLE},
               {"Concat", AF_M_CONCAT},   {"Detect", AF_M_DETECT},
               {"C3k2", AF_M_C3K2},       {"C2PSA", AF_M_C2PSA}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcmp(m, tab[i].name) == 0) {
            *t = tab[i].t;
            return 1;
        }
    }
    return 0;
}

static af_status read_scale(const cJSON *yaml, af_model_desc *d, af_error *err)
{
    d->depth = 1.0;
    d->width = 1.0;
    d->max_channels = 1 << 30;
    d->scale = 0;
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(yaml, "depth_multiple");
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(yaml, "width_multiple");
    if (cJSON_IsNumber(dm))
        d->depth = dm->valuedouble;
    if (cJSON_IsNumber(wm))
        d->width = wm->valuedouble;
    const cJSON *scales = cJSON_GetObjectItemCaseSensitive(yaml, "scales");
    if (!cJSON_IsObject(scales) || !scales->child)
        return AF_OK;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(yaml, "scale");
    const cJSON *row = NULL;
    if (cJSON_IsString(sc) && sc->valuestring[0]) {
        row = cJSON_GetObjectItemCaseSensitive(scales, sc->valuestring);
        if (!row)
            return af_fail(err, AF_E_FORMAT, "model description: scale '%s' is not in 'scales'",
                           sc->valuestring);
        d->scale = sc->valuestring[0];
    } else {
        row = scales->child; /* ultralytics assumes the first scale */
        d->scale = row->string ? row->string[0] : 0;
    }
    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 3 ||
        !cJSON_IsNumber(cJSON_GetArrayItem(row, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(row, 1)) ||
        !cJSON_IsNumber(cJSON_GetArrayItem(row, 2)))
        return af_fail(err, AF_E_FORMAT,
                       "model description: a scale must be [depth, width, max_channels]");
    d->depth = cJSON_GetArrayItem(row, 0)->valuedouble;
    d->width = cJSON_GetArrayItem(row, 1)->valuedouble;
    d->max_channels = (int)cJSON_GetArrayItem(row, 2)->valuedouble;
    if (!(d->depth > 0 && d->depth <= 8 && d->width > 0 && d->width <= 8 && d->max_channels > 0))
        return af_fail(err, AF_E_FORMAT, "model description: scale values out of range");
    return AF_OK;
}

static af_status parse_from(const cJSON *f, int i, af_layer_spec *L, af_error *err)
{
    int v;
    L->nfrom = 0;
    if (json_int(f, &v)) {
        L->from[L->nfrom++] = v;
    } else if (cJSON_IsArray(f)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, f)
        {
            if (L->nfrom >= AF_MAX_FROM || !json_int(x, &v))
                return af_fail(err, AF_E_FORMAT, "model description: layer %d has a bad 'from'", i);
            L->from[L->nfrom++] = v;
        }
    }
    if (L->nfrom == 0)
        return af_fail(err, AF_E_FORMAT, "model description: layer %d has a bad 'from'", i);
    for (int j = 0; j < L->nfrom; j++) {
        int a = L->from[j] < 0 ? i + L->from[j] : L->from[j];
        if (L->from[j] == -1)
            a = i - 1;
        if (a < -1 || a >= i || (a == -1 && i != 0))
            return af_fail(err, AF_E_FORMAT,
                           "model description: layer %d takes input from %d, which does not exist",
                           i, L->from[j]);
        L->from[j] = a;
    }
    return AF_OK;
}

af_status af_model_desc_parse(const cJSON *yaml, int nc_override, af_model_desc *d, af_error *err)
{
    memset(d, 0, sizeof *d);
    if (!cJSON_IsObject(yaml))
        return af_fail(err, AF_E_FORMAT, "model description is not a dict");
    const cJSON *ncj = cJSON_GetObjectItemCaseSensitive(yaml, "nc");
    if (nc_override > 0)
        d->nc = nc_override;
    else if (!json_int(ncj, &d->nc) || d->nc < 1 || d->nc > 100000)
        return af_fail(err, AF_E_FORMAT, "model description: 'nc' missing or out of range");
    d->ch_in = 3;
    const cJSON *chj = cJSON_GetObjectItemCaseSensitive(yaml, "ch");
    if (chj && (!json_int(chj, &d->ch_in) || d->ch_in != 3))
        return af_fail(err, AF_E_UNSUPPORTED, "model description: only 3 input channels supported");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(yaml, "activation");
    if (act && !cJSON_IsNull(act) &&
        !(cJSON_IsString(act) && (strcmp(act->valuestring, "nn.SiLU()") == 0)))
        return af_fail(err, AF_E_UNSUPPORTED,
                       "model description: activation other than SiLU is not supported");
    d->reg_max = 16;
    af_status st = read_scale(yaml, d, err);
    if (st)
        return st;

    const cJSON *parts[2] = {cJSON_GetObjectItemCaseSensitive(yaml, "backbone"),
                             cJSON_GetObjectItemCaseSensitive(yaml, "head")};
    if (!cJSON_IsArray(parts[0]) || !cJSON_IsArray(parts[1]))
        return af_fail(err, AF_E_FORMAT, "model description: 'backbone' or 'head' missing");
    int ch[AF_MAX_LAYERS];
    int i = 0;
    int legacy = 1; /* 8.3: a C3k2 makes the Detect head after it the depthwise one */
    for (int p = 0; p < 2; p++) {
        const cJSON *row;
        cJSON_ArrayForEach(row, parts[p])
        {
            if (i >= AF_MAX_LAYERS)
                return af_fail(err, AF_E_LIMIT, "model description: more than %d layers",
                               AF_MAX_LAYERS);
            af_layer_spec *L = &d->layers[i];
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 4)
                return af_fail(err, AF_E_FORMAT,
                               "model description: layer %d is not [from, n, module, args]", i);
            const cJSON *mj = cJSON_GetArrayItem(row, 2);
            const cJSON *args = cJSON_GetArrayItem(row, 3);
            int n;
            if (!cJSON_IsString(mj) || !cJSON_IsArray(args) ||
                !json_int(cJSON_GetArrayItem(row, 1), &n) || n < 1 || n > 64)
                return af_fail(err, AF_E_FORMAT,
                               "model description: layer %d is not [from, n, module, args]", i);
            if (!module_from_name(mj->valuestring, &L->type))
                return af_fail(err, AF_E_UNSUPPORTED,
                               "model description: layer %d uses module '%s', which animeface "
                               "does not implement (YOLOv8 and YOLO11 detect models use Conv, "
                               "C2f, C2, C3k2, C2PSA, SPPF, nn.Upsample, Concat, Detect)",
                               i, mj->valuestring);
            if ((st = parse_from(cJSON_GetArrayItem(row, 0), i, L, err)))
                return st;
            int c_prev = L->from[0] < 0 ? d->ch_in : ch[L->from[0]];
            if (n > 1)
                n = (int)fmax(py_round(n * d->depth), 1.0);
            L->c1 = c_prev;
            switch (L->type) {
            case AF_M_CONV:
            case AF_M_C2F:
            case AF_M_C2:
            case AF_M_C3K2:
            case AF_M_C2PSA:
            case AF_M_SPPF: {
                int c2;
                if ((st = arg_int(args, 0, -1, d->nc, &c2, i, err)))
                    return st;
                if (c2 < 1)
                    return af_fail(err, AF_E_FORMAT, "model description: layer %d has no channels",
                                   i);
                if (c2 != d->nc)
                    c2 = make_divisible8(fmin(c2, d->max_channels) * d->width);
                L->c2 = c2;
                if (L->nfrom != 1)
                    return af_fail(err, AF_E_FORMAT, "model description: layer %d needs one input",
                                   i);
                if (L->type == AF_M_CONV) {
                    int pad, g, dil;
                    if ((st = arg_int(args, 1, 1, d->nc, &L->k, i, err)) ||
                        (st = arg_int(args, 2, 1, d->nc, &L->s, i, err)) ||
                        (st = arg_int(args, 3, -1, d->nc, &pad, i, err)) ||
                        (st = arg_int(args, 4, 1, d->nc, &g, i, err)) ||
                        (st = arg_int(args, 5, 1, d->nc, &dil, i, err)))
                        return st;
                    if (L->k < 1 || L->k > 15 || L->s < 1 || L->s > 8 ||
                        (pad != -1 && pad != L->k / 2) || g != 1 || dil != 1)
                        return af_fail(err, AF_E_UNSUPPORTED,
                                       "model description: layer %d: Conv with these arguments "
                                       "(kernel %d, stride %d, groups %d) is not supported",
                                       i, L->k, L->s, g);
                    if (n != 1)
                        return af_fail(err, AF_E_UNSUPPORTED,
                                       "model description: layer %d: repeated Conv", i);
                } else if (L->type == AF_M_SPPF) {
                    if ((st = arg_int(args, 1, 5, d->nc, &L->k, i, err)))
                        return st;
                    if (L->k < 1 || L->k > 15 || L->k % 2 == 0 || n != 1)
                        return af_fail(err, AF_E_UNSUPPORTED,
                                       "model description: layer %d: SPPF kernel %d", i, L->k);
                } else if (L->type == AF_M_C3K2) {
                    /* C3k2(c1, c2, n, c3k=False, e=0.5, g=1, shortcut=True); 8.3 turns c3k on
                     * for the scales m, l and x */
                    double e;
                    int g;
                    L->n = n;
                    if ((st = arg_bool(args, 1, 0, &L->c3k, i, err)) ||
                        (st = arg_num(args, 2, 0.5, &e, i, err)) ||
                        (st = arg_int(args, 3, 1, d->nc, &g, i, err)) ||
                        (st = arg_bool(args, 4, 1, &L->shortcut, i, err)))
                        return st;
                    if (g != 1)
                        return af_fail(err, AF_E_UNSUPPORTED,
                                       "model description: layer %d: C3k2 with groups %d", i, g);
                    if (d->scale && strchr("mlx", d->scale))
                        L->c3k = 1;
                    L->hidden = (int)(L->c2 * e);
                    if (L->hidden < 2)
                        return af_fail(err, AF_E_FORMAT,
                                       "model description: layer %d: C3k2 of %d hidden channels",
                                       i, L->hidden);
                    legacy = 0;
                } else if (L->type == AF_M_C2PSA) {
                    double e;
                    L->n = n;
                    if ((st = arg_num(args, 1, 0.5, &e, i, err)))
                        return st;
                    L->hidden = (int)(L->c1 * e);
                    L->heads = L->hidden / 64;
                    if (L->c1 != L->c2 || L->heads < 1)
                        return af_fail(err, AF_E_UNSUPPORTED,
                                       "model description: layer %d: C2PSA needs as many output "
                                       "as input channels (%d, %d) and at least 64 hidden (%d)",
                                       i, L->c1, L->c2, L->hidden);
                } else {
                    L->n = n;
                    L->hidden = L->c2 / 2;
                    /* C2f's default shortcut is False, C2's True */
                    if ((st = arg_bool(args, 1, L->type == AF_M_C2, &L->shortcut, i, err)))
                        return st;
                }
                break;
            }
            case AF_M_UPSAMPLE: {
                const cJSON *sf = cJSON_GetArrayItem(args, 1);
                const cJSON *mode = cJSON_GetArrayItem(args, 2);
                int f;
                if (!json_int(sf, &f) || f != 2 ||
                    (mode && !(cJSON_IsString(mode) && !strcmp(mode->valuestring, "nearest"))))
                    return af_fail(err, AF_E_UNSUPPORTED,
                                   "model description: layer %d: only nearest x2 upsampling", i);
                L->c2 = c_prev;
                break;
            }
            case AF_M_CONCAT: {
                int dim;
                if ((st = arg_int(args, 0, 1, d->nc, &dim, i, err)))
                    return st;
                if (dim != 1)
                    return af_fail(err, AF_E_UNSUPPORTED,
                                   "model description: layer %d: Concat along dim %d", i, dim);
                L->c2 = 0;
                for (int j = 0; j < L->nfrom; j++)
                    L->c2 += L->from[j] < 0 ? d->ch_in : ch[L->from[j]];
                break;
            }
            case AF_M_DETECT: {
                int ncl;
                if ((st = arg_int(args, 0, d->nc, d->nc, &ncl, i, err)))
                    return st;
                if (ncl != d->nc)
                    return af_fail(err, AF_E_FORMAT,
                                   "model description: Detect has %d classes but nc is %d", ncl,
                                   d->nc);
                if (L->nfrom < 1 || L->nfrom > AF_MAX_LEVELS)
                    return af_fail(err, AF_E_UNSUPPORTED,
                                   "model description: Detect over %d levels", L->nfrom);
                L->nlevels = L->nfrom;
                for (int j = 0; j < L->nfrom; j++) {
                    if (L->from[j] < 0)
                        return af_fail(err, AF_E_FORMAT, "model description: bad Detect input");
                    L->ch[j] = ch[L->from[j]];
                }
                L->c2 = 4 + d->nc;
                L->dwhead = !legacy;
                break;
            }
            }
            if (L->type != AF_M_DETECT && L->type != AF_M_CONCAT && L->nfrom != 1)
                return af_fail(err, AF_E_FORMAT, "model description: layer %d needs one input", i);
            ch[i] = L->c2;
            i++;
        }
    }
    d->nlayers = i;
    if (i == 0 || d->layers[i - 1].type != AF_M_DETECT)
        return af_fail(err, AF_E_UNSUPPORTED, "model description: the last layer must be Detect");
    for (int j = 0; j < i - 1; j++)
        if (d->layers[j].type == AF_M_DETECT)
            return af_fail(err, AF_E_UNSUPPORTED, "model description: Detect before the end");
    return AF_OK;
}

static long long conv_params(long long c1, long long c2, long long k, int bn)
{
    return c1 * c2 * k * k + (bn ? 2 * c2 : c2);
}

/* A depthwise ultralytics Conv (groups = channels) with BN. */
static long long dw_params(long long c, long long k)
{
    return c * k * k + 2 * c;
}

/* C3k2's block j: Bottleneck(c, c, e=0.5) or C3k(c, c, n=2) (C3 with e=0.5 whose
 * two bottlenecks have e=1). */
static long long c3k2_block_params(long long c, int c3k)
{
    long long h = c / 2;
    if (!c3k)
        return conv_params(c, h, 3, 1) + conv_params(h, c, 3, 1);
    return 2 * conv_params(c, h, 1, 1) + conv_params(2 * h, c, 1, 1) +
           2 * 2 * conv_params(h, h, 3, 1);
}

/* PSABlock(c, attn_ratio=0.5, heads): Attention (qkv, proj, depthwise pe) + FFN. */
static long long psa_block_params(long long c, long long heads)
{
    long long kd = (c / heads) / 2;
    return conv_params(c, c + 2 * kd * heads, 1, 1) + conv_params(c, c, 1, 1) + dw_params(c, 3) +
           conv_params(c, 2 * c, 1, 1) + conv_params(2 * c, c, 1, 1);
}

long long af_model_desc_param_count(const af_model_desc *d)
{
    long long total = 0;
    for (int i = 0; i < d->nlayers; i++) {
        const af_layer_spec *L = &d->layers[i];
        switch (L->type) {
        case AF_M_CONV:
            total += conv_params(L->c1, L->c2, L->k, 1);
            break;
        case AF_M_C2F:
        case AF_M_C2: {
            long long c = L->c2 / 2;
            long long ccat = L->type == AF_M_C2F ? (2 + L->n) * c : 2 * c;
            total += conv_params(L->c1, 2 * c, 1, 1) + conv_params(ccat, L->c2, 1, 1);
            total += L->n * 2 * conv_params(c, c, 3, 1);
            break;
        }
        case AF_M_C3K2: {
            long long c = L->hidden;
            total += conv_params(L->c1, 2 * c, 1, 1) + conv_params((2 + L->n) * c, L->c2, 1, 1);
            total += L->n * c3k2_block_params(c, L->c3k);
            break;
        }
        case AF_M_C2PSA: {
            long long c = L->hidden;
            total += conv_params(L->c1, 2 * c, 1, 1) + conv_params(2 * c, L->c1, 1, 1);
            total += L->n * psa_block_params(c, L->heads);
            break;
        }
        case AF_M_SPPF: {
            long long c_ = L->c1 / 2;
            total += conv_params(L->c1, c_, 1, 1) + conv_params(4 * c_, L->c2, 1, 1);
            break;
        }
        case AF_M_DETECT: {
            long long c2 = L->ch[0] / 4, c3 = L->ch[0], lim = d->nc < 100 ? d->nc : 100;
            if (c2 < 16)
                c2 = 16;
            if (c2 < 4 * d->reg_max)
                c2 = 4 * d->reg_max;
            if (c3 < lim)
                c3 = lim;
            for (int l = 0; l < L->nlevels; l++) {
                total += conv_params(L->ch[l], c2, 3, 1) + conv_params(c2, c2, 3, 1) +
                         conv_params(c2, 4 * d->reg_max, 1, 0);
                if (L->dwhead)
                    total += dw_params(L->ch[l], 3) + conv_params(L->ch[l], c3, 1, 1) +
                             dw_params(c3, 3) + conv_params(c3, c3, 1, 1) +
                             conv_params(c3, d->nc, 1, 0);
                else
                    total += conv_params(L->ch[l], c3, 3, 1) + conv_params(c3, c3, 3, 1) +
                             conv_params(c3, d->nc, 1, 0);
            }
            total += d->reg_max; /* DFL conv */
            break;
        }
        case AF_M_UPSAMPLE:
        case AF_M_CONCAT:
            break;
        }
    }
    return total;
}
