#include "io/pt_reader.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "io/pickle.h"
#include "io/zip_reader.h"

#define MAX_MODULE_DEPTH 64
#define NAME_MAX_LEN 1024
#define MAX_MODULES 100000 /* real YOLOv8 checkpoints have < 1000; bounds CPU for shared-subtree bombs */

typedef struct ptctx {
    af_zip *zip;
    const char *name;
    char prefix[256]; /* "<archive>/" */
    size_t bytes_left;      /* tensor bytes still allowed */
    size_t read_left;       /* storage bytes still allowed to be read */
    size_t visits_left;     /* modules still allowed to be visited (shared subtrees) */
    af_checkpoint *ck;
    af_error *err;
} ptctx;

/* A tensor taken out of a storage: owned data. */
typedef struct rtensor {
    af_dtype dt;
    int ndim;
    int64_t shape[AF_MAX_DIMS];
    void *data;
    size_t nbytes;
} rtensor;

static const struct {
    const char *name;
    af_dtype dt;
} storage_types[] = {
    {"HalfStorage", AF_DT_F16},  {"FloatStorage", AF_DT_F32}, {"DoubleStorage", AF_DT_F64},
    {"BFloat16Storage", AF_DT_BF16}, {"LongStorage", AF_DT_I64}, {"IntStorage", AF_DT_I32},
    {"ShortStorage", AF_DT_I16}, {"CharStorage", AF_DT_I8},   {"ByteStorage", AF_DT_U8},
    {"BoolStorage", AF_DT_BOOL},
};

static int safe_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 64)
        return 0;
    for (; *k; k++)
        if (!((*k >= '0' && *k <= '9') || (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
              *k == '_'))
            return 0;
    return 1;
}

static const af_pk_value *arg(const af_pk_value *call, size_t i)
{
    const af_pk_value *a = call->u.obj.args;
    return a && a->kind == AF_PK_TUPLE && i < a->u.seq.count ? a->u.seq.items[i] : NULL;
}

static size_t nargs(const af_pk_value *call)
{
    const af_pk_value *a = call->u.obj.args;
    return a && a->kind == AF_PK_TUPLE ? a->u.seq.count : 0;
}

static int get_dims(const af_pk_value *v, int64_t *out, int *n)
{
    if (!v || (v->kind != AF_PK_TUPLE && v->kind != AF_PK_LIST) || v->u.seq.count > AF_MAX_DIMS)
        return 1;
    for (size_t i = 0; i < v->u.seq.count; i++)
        if (af_pk_get_int(v->u.seq.items[i], &out[i]) || out[i] < 0)
            return 1;
    *n = (int)v->u.seq.count;
    return 0;
}

/* Resolves a tensor record (_rebuild_tensor_v2, possibly inside
 * _rebuild_parameter) into an owned contiguous copy. what names it in errors. */
static af_status load_tensor(ptctx *c, const af_pk_value *v, const char *what, rtensor *out)
{
    memset(out, 0, sizeof *out);
    for (int hops = 0; hops < 4 && v && v->kind == AF_PK_CALL; hops++) {
        if (af_pk_is_call_of(v, "torch._utils", "_rebuild_parameter") ||
            af_pk_is_call_of(v, "torch._utils", "_rebuild_parameter_with_state")) {
            v = arg(v, 0);
            continue;
        }
        break;
    }
    if (!af_pk_is_call_of(v, "torch._utils", "_rebuild_tensor_v2"))
        return af_fail(c->err, AF_E_UNSUPPORTED, "%s: '%s' is not a plain tensor", c->name, what);
    if (nargs(v) < 4)
        return af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s': too few rebuild arguments", c->name,
                       what);
    const af_pk_value *pers = arg(v, 0);
    int64_t offset;
    int64_t size[AF_MAX_DIMS], stride[AF_MAX_DIMS];
    int nd = 0, ns = 0;
    if (af_pk_get_int(arg(v, 1), &offset) || offset < 0 || get_dims(arg(v, 2), size, &nd) ||
        get_dims(arg(v, 3), stride, &ns) || nd != ns)
        return af_fail(c->err, AF_E_FORMAT,
                       "%s: tensor '%s': bad offset, size or stride (or more than %d dims)",
                       c->name, what, AF_MAX_DIMS);
    if (!pers || pers->kind != AF_PK_PERSID || !pers->u.persid.pid ||
        pers->u.persid.pid->kind != AF_PK_TUPLE || pers->u.persid.pid->u.seq.count < 5)
        return af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s': storage reference is malformed",
                       c->name, what);
    af_pk_value **pid = pers->u.persid.pid->u.seq.items;
    const char *tag = af_pk_str(pid[0]), *key = af_pk_str(pid[2]);
    int64_t numel;
    if (!tag || strcmp(tag, "storage") || !key || af_pk_get_int(pid[4], &numel) || numel < 0)
        return af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s': storage reference is malformed",
                       c->name, what);
    if (!safe_key(key))
        return af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s': bad storage key", c->name, what);
    int found = 0;
    af_dtype dt = AF_DT_F32;
    for (size_t i = 0; pid[1]->kind == AF_PK_GLOBAL && i < sizeof storage_types / sizeof storage_types[0]; i++) {
        if (af_pk_is_global(pid[1], "torch", storage_types[i].name)) {
            dt = storage_types[i].dt;
            found = 1;
        }
    }
    if (!found)
        return af_fail(c->err, AF_E_UNSUPPORTED, "%s: tensor '%s': unsupported storage type",
                       c->name, what);
    size_t es = af_dtype_size(dt), sbytes;
    if ((uint64_t)numel > SIZE_MAX || af_mul_size((size_t)numel, es, &sbytes))
        return af_fail(c->err, AF_E_LIMIT, "%s: tensor '%s': storage too large", c->name, what);
    /* the elements the view touches must lie inside the storage */
    size_t tnumel;
    if (af_shape_numel(size, nd, &tnumel))
        return af_fail(c->err, AF_E_LIMIT, "%s: tensor '%s': size overflows", c->name, what);
    size_t last = (size_t)offset;
    if ((uint64_t)offset > SIZE_MAX)
        return af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s': bad offset", c->name, what);
    if (tnumel) {
        for (int d = 0; d < nd; d++) {
            size_t t;
            if (af_mul_size((size_t)(size[d] - 1), (size_t)stride[d], &t) ||
                af_add_size(last, t, &last))
                return af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s': strides overflow", c->name,
                               what);
        }
        if (last >= (size_t)numel)
            return af_fail(c->err, AF_E_FORMAT,
                           "%s: tensor '%s' reaches element %zu of a %lld-element storage",
                           c->name, what, last, (long long)numel);
    }
    size_t nbytes = tnumel * es; /* <= sbytes, no overflow */
    if (nbytes > c->bytes_left)
        return af_fail(c->err, AF_E_LIMIT, "%s: tensors larger than %zu bytes in total", c->name,
                       (size_t)AF_PT_MAX_TENSOR_BYTES);
    if (sbytes > c->read_left)
        return af_fail(c->err, AF_E_LIMIT, "%s: storages larger than %zu bytes in total",
                       c->name, (size_t)AF_PT_MAX_TENSOR_BYTES * 2);
    char entry[512];
    snprintf(entry, sizeof entry, "%sdata/%s", c->prefix, key);
    size_t esize;
    af_status st = af_zip_entry_size(c->zip, entry, &esize, c->err);
    if (st)
        return st;
    if (esize != sbytes)
        return af_fail(c->err, AF_E_FORMAT,
                       "%s: storage '%s' for tensor '%s' has %zu bytes, expected %zu", c->name,
                       entry, what, esize, sbytes);
    void *sdata;
    size_t slen;
    if ((st = af_zip_read(c->zip, entry, sbytes, &sdata, &slen, c->err)))
        return st;
    c->read_left -= sbytes;
    unsigned char *dst = malloc(nbytes ? nbytes : 1);
    if (!dst) {
        free(sdata);
        return af_fail(c->err, AF_E_NOMEM, "%s: tensor '%s': out of memory", c->name, what);
    }
    /* contiguous row-major? (dims of size 1 may carry any stride) */
    int contig = 1;
    int64_t expect = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (size[d] != 1 && stride[d] != expect)
            contig = 0;
        expect *= size[d] ? size[d] : 1;
    }
    const unsigned char *src = sdata;
    if (contig || tnumel == 0) {
        if (nbytes)
            memcpy(dst, src + (size_t)offset * es, nbytes);
    } else {
        int64_t idx[AF_MAX_DIMS] = {0};
        for (size_t i = 0; i < tnumel; i++) {
            size_t e = (size_t)offset;
            for (int d = 0; d < nd; d++)
                e += (size_t)idx[d] * (size_t)stride[d];
            memcpy(dst + i * es, src + e * es, es);
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < size[d])
                    break;
                idx[d] = 0;
            }
        }
    }
    free(sdata);
    c->bytes_left -= nbytes;
    out->dt = dt;
    out->ndim = nd;
    memcpy(out->shape, size, sizeof size[0] * (size_t)nd);
    out->data = dst;
    out->nbytes = nbytes;
    return AF_OK;
}

static af_status add_tensor(ptctx *c, const af_pk_value *v, const char *name)
{
    if (c->ck->tensors.count >= AF_PT_MAX_TENSORS)
        return af_fail(c->err, AF_E_LIMIT, "%s: more than %d tensors", c->name,
                       AF_PT_MAX_TENSORS);
    rtensor t;
    af_status st = load_tensor(c, v, name, &t);
    if (st)
        return st;
    return af_tensor_list_add(&c->ck->tensors, name, t.dt, t.ndim, t.shape, t.data, t.nbytes,
                              c->err);
}

static int in_set(const af_pk_value *set, const char *s)
{
    if (!set || (set->kind != AF_PK_SET && set->kind != AF_PK_LIST && set->kind != AF_PK_TUPLE))
        return 0;
    for (size_t i = 0; i < set->u.seq.count; i++) {
        const char *x = af_pk_str(set->u.seq.items[i]);
        if (x && !strcmp(x, s))
            return 1;
    }
    return 0;
}

/* Adds the tensors of one dict (_parameters or _buffers) under prefix. */
static af_status add_tensor_dict(ptctx *c, const af_pk_value *d, char *prefix, size_t plen,
                                 const af_pk_value *skip)
{
    if (!d || d->kind == AF_PK_NONE)
        return AF_OK;
    if (d->kind != AF_PK_DICT)
        return af_fail(c->err, AF_E_FORMAT, "%s: module '%.*s': parameters are not a dict",
                       c->name, (int)plen, prefix);
    for (size_t i = 0; i < d->u.dict.count; i++) {
        const char *k = af_pk_str(d->u.dict.keys[i]);
        const af_pk_value *v = d->u.dict.vals[i];
        if (!k || !*k || strchr(k, '.'))
            return af_fail(c->err, AF_E_FORMAT, "%s: module '%.*s': bad tensor name", c->name,
                           (int)plen, prefix);
        if (v->kind == AF_PK_NONE || !strcmp(k, "num_batches_tracked") || in_set(skip, k))
            continue;
        if (plen + strlen(k) + 1 > NAME_MAX_LEN)
            return af_fail(c->err, AF_E_LIMIT, "%s: tensor name too long", c->name);
        strcpy(prefix + plen, k);
        af_status st = add_tensor(c, v, prefix);
        prefix[plen] = 0;
        if (st)
            return st;
    }
    return AF_OK;
}

static af_status walk(ptctx *c, const af_pk_value *mod, char *prefix, size_t plen, int depth)
{
    if (depth > MAX_MODULE_DEPTH)
        return af_fail(c->err, AF_E_LIMIT, "%s: modules nested deeper than %d", c->name,
                       MAX_MODULE_DEPTH);
    if (c->visits_left == 0)
        return af_fail(c->err, AF_E_LIMIT, "%s: more than %d modules", c->name, MAX_MODULES);
    c->visits_left--;
    if (!mod || mod->kind != AF_PK_OBJECT || !mod->u.obj.state ||
        mod->u.obj.state->kind != AF_PK_DICT)
        return af_fail(c->err, AF_E_FORMAT, "%s: '%.*s' is not an nn.Module record", c->name,
                       plen ? (int)plen - 1 : 5, plen ? prefix : "model");
    const af_pk_value *s = mod->u.obj.state;
    const af_pk_value *buffers = af_pk_dict_get(s, "_buffers");
    af_status st = add_tensor_dict(c, af_pk_dict_get(s, "_parameters"), prefix, plen, NULL);
    if (!st)
        st = add_tensor_dict(c, buffers, prefix, plen,
                             af_pk_dict_get(s, "_non_persistent_buffers_set"));
    if (st)
        return st;
    /* BatchNorm eps */
    double eps;
    const af_pk_value *rv = af_pk_dict_get(buffers, "running_var");
    if (plen > 0 && rv && rv->kind != AF_PK_NONE &&
        !af_pk_get_number(af_pk_dict_get(s, "eps"), &eps)) {
        char key[NAME_MAX_LEN];
        snprintf(key, sizeof key, "%.*s", (int)plen - 1, prefix);
        if (!c->ck->bn_eps && !(c->ck->bn_eps = cJSON_CreateObject()))
            return af_fail(c->err, AF_E_NOMEM, "%s: out of memory", c->name);
        /* prefixes are unique: a module reached twice duplicates its tensor
         * names too, which check_duplicates() reports */
        if (!cJSON_AddNumberToObject(c->ck->bn_eps, key, eps))
            return af_fail(c->err, AF_E_NOMEM, "%s: out of memory", c->name);
    }
    const af_pk_value *mods = af_pk_dict_get(s, "_modules");
    if (!mods || mods->kind == AF_PK_NONE)
        return AF_OK;
    if (mods->kind != AF_PK_DICT)
        return af_fail(c->err, AF_E_FORMAT, "%s: module '%.*s': _modules is not a dict", c->name,
                       (int)plen, prefix);
    for (size_t i = 0; i < mods->u.dict.count; i++) {
        const char *k = af_pk_str(mods->u.dict.keys[i]);
        const af_pk_value *child = mods->u.dict.vals[i];
        if (!k || !*k || strchr(k, '.'))
            return af_fail(c->err, AF_E_FORMAT, "%s: module '%.*s': bad submodule name", c->name,
                           (int)plen, prefix);
        if (child->kind == AF_PK_NONE)
            continue;
        size_t kl = strlen(k);
        if (plen + kl + 2 > NAME_MAX_LEN)
            return af_fail(c->err, AF_E_LIMIT, "%s: module name too long", c->name);
        memcpy(prefix + plen, k, kl);
        prefix[plen + kl] = '.';
        prefix[plen + kl + 1] = 0;
        st = walk(c, child, prefix, plen + kl + 1, depth + 1);
        prefix[plen] = 0;
        if (st)
            return st;
    }
    return AF_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static af_status check_duplicates(ptctx *c)
{
    size_t n = c->ck->tensors.count;
    if (n < 2)
        return AF_OK;
    const char **names = malloc(n * sizeof *names);
    if (!names)
        return af_fail(c->err, AF_E_NOMEM, "%s: out of memory", c->name);
    for (size_t i = 0; i < n; i++)
        names[i] = c->ck->tensors.items[i].name;
    qsort(names, n, sizeof *names, name_cmp);
    af_status st = AF_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (!strcmp(names[i - 1], names[i]))
            st = af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s' appears twice", c->name, names[i]);
    free(names);
    return st;
}

/* names: dict {0: 'face'} or list ['face'] -> {"0": "face"} */
static af_status convert_names(ptctx *c, const af_pk_value *v)
{
    if (!v || v->kind == AF_PK_NONE)
        return AF_OK;
    cJSON *j;
    af_status st = af_pk_to_json(v, 8, &j, c->err);
    if (st)
        return st;
    j = af_names_as_object(j);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return af_fail(c->err, AF_E_FORMAT, "%s: model names are not a dict or list", c->name);
    }
    c->ck->names = j;
    return AF_OK;
}

static af_status convert_stride(ptctx *c, const af_pk_value *v)
{
    if (!v || v->kind == AF_PK_NONE)
        return AF_OK;
    double vals[8];
    int n = 0;
    if (v->kind == AF_PK_LIST || v->kind == AF_PK_TUPLE) {
        if (v->u.seq.count > 8)
            return af_fail(c->err, AF_E_LIMIT, "%s: more than 8 strides", c->name);
        for (size_t i = 0; i < v->u.seq.count; i++)
            if (af_pk_get_number(v->u.seq.items[i], &vals[n++]))
                return af_fail(c->err, AF_E_FORMAT, "%s: bad model stride", c->name);
    } else {
        rtensor t;
        af_status st = load_tensor(c, v, "stride", &t);
        if (st)
            return st;
        af_tensor tmp = {.name = "stride", .dtype = t.dt, .ndim = t.ndim, .data = t.data,
                         .nbytes = t.nbytes};
        memcpy(tmp.shape, t.shape, sizeof t.shape);
        float *f = NULL;
        size_t cnt = 0;
        st = af_tensor_to_f32(&tmp, &f, &cnt, c->err);
        free(t.data);
        if (st)
            return st;
        if (cnt > 8) {
            free(f);
            return af_fail(c->err, AF_E_LIMIT, "%s: more than 8 strides", c->name);
        }
        for (size_t i = 0; i < cnt; i++)
            vals[n++] = f[i];
        free(f);
    }
    for (int i = 0; i < n; i++)
        c->ck->stride[i] = vals[i];
    c->ck->nstride = n;
    return AF_OK;
}

static af_status find_archive(ptctx *c)
{
    size_t n = af_zip_count(c->zip);
    for (size_t i = 0; i < n; i++) {
        const char *e = af_zip_name(c->zip, i);
        if (!e)
            continue;
        const char *slash = strchr(e, '/');
        if (slash && slash != e && !strcmp(slash, "/data.pkl") &&
            (size_t)(slash - e) + 2 < sizeof c->prefix) {
            snprintf(c->prefix, sizeof c->prefix, "%.*s/", (int)(slash - e), e);
            return AF_OK;
        }
    }
    return af_fail(c->err, AF_E_FORMAT,
                   "%s: zip has no <archive>/data.pkl: not a torch checkpoint", c->name);
}

static af_status read_model(ptctx *c, const af_pk_value *root)
{
    const af_pk_value *model = root;
    const af_pk_value *ckd = root->kind == AF_PK_DICT ? root : NULL;
    if (ckd) {
        model = af_pk_dict_get(ckd, "ema");
        if (!model || model->kind == AF_PK_NONE)
            model = af_pk_dict_get(ckd, "model");
        if (!model || model->kind == AF_PK_NONE)
            return af_fail(c->err, AF_E_FORMAT, "%s: checkpoint has no 'model'", c->name);
    }
    if (model->kind != AF_PK_OBJECT)
        return af_fail(c->err, AF_E_FORMAT, "%s: checkpoint 'model' is not an nn.Module", c->name);
    char prefix[NAME_MAX_LEN];
    prefix[0] = 0;
    af_status st = walk(c, model, prefix, 0, 0);
    if (!st)
        st = check_duplicates(c);
    if (st)
        return st;
    const af_pk_value *s = model->u.obj.state;
    const af_pk_value *y = af_pk_dict_get(s, "yaml");
    if (y && y->kind == AF_PK_DICT && (st = af_pk_to_json(y, 32, &c->ck->yaml, c->err)))
        return st;
    if ((st = convert_names(c, af_pk_dict_get(s, "names"))) ||
        (st = convert_stride(c, af_pk_dict_get(s, "stride"))))
        return st;
    int64_t nc;
    const cJSON *ync = c->ck->yaml ? cJSON_GetObjectItemCaseSensitive(c->ck->yaml, "nc") : NULL;
    if (!af_pk_get_int(af_pk_dict_get(s, "nc"), &nc) && nc > 0 && nc < 1000000)
        c->ck->nc = (int)nc;
    else if (cJSON_IsNumber(ync) && ync->valuedouble > 0 && ync->valuedouble < 1e6)
        c->ck->nc = (int)ync->valuedouble;
    else if (c->ck->names)
        c->ck->nc = cJSON_GetArraySize(c->ck->names);
    const af_pk_value *ta = ckd ? af_pk_dict_get(ckd, "train_args") : NULL;
    if (!ta || ta->kind == AF_PK_NONE)
        ta = af_pk_dict_get(s, "args");
    if (ta && (ta->kind == AF_PK_DICT || ta->kind == AF_PK_OBJECT)) {
        cJSON *j;
        if ((st = af_pk_to_json(ta, 16, &j, c->err)))
            return st;
        if (cJSON_IsObject(j))
            c->ck->train_args = j;
        else
            cJSON_Delete(j);
    }
    const char *ver = ckd ? af_pk_str(af_pk_dict_get(ckd, "version")) : NULL;
    if (ver && !(c->ck->version = strdup(ver)))
        return af_fail(c->err, AF_E_NOMEM, "%s: out of memory", c->name);
    return AF_OK;
}

af_status af_pt_read_memory(const void *buf, size_t len, const char *name, af_checkpoint *ck,
                            af_error *err)
{
    memset(ck, 0, sizeof *ck);
    ptctx c;
    memset(&c, 0, sizeof c);
    c.name = name && *name ? name : "checkpoint";
    c.ck = ck;
    c.err = err;
    c.bytes_left = AF_PT_MAX_TENSOR_BYTES;
    c.read_left = AF_PT_MAX_TENSOR_BYTES * 2;
    c.visits_left = MAX_MODULES;
    snprintf(ck->format, sizeof ck->format, "pt");
    af_pickle doc = {0};
    void *pkl = NULL;
    size_t pkl_len = 0;
    af_status st = af_zip_open_memory(buf, len, c.name, &c.zip, err);
    if (st)
        return st;
    if ((st = find_archive(&c)))
        goto done;
    {
        char entry[300];
        size_t idx;
        snprintf(entry, sizeof entry, "%sbyteorder", c.prefix);
        if (!af_zip_find(c.zip, entry, &idx)) {
            void *bo;
            size_t bl;
            if ((st = af_zip_read(c.zip, entry, 64, &bo, &bl, err)))
                goto done;
            int little = bl == 6 && !memcmp(bo, "little", 6);
            free(bo);
            if (!little) {
                st = af_fail(err, AF_E_UNSUPPORTED, "%s: big-endian torch checkpoint", c.name);
                goto done;
            }
        }
        snprintf(entry, sizeof entry, "%sdata.pkl", c.prefix);
        if ((st = af_zip_read(c.zip, entry, AF_PT_MAX_PICKLE, &pkl, &pkl_len, err)))
            goto done;
    }
    if ((st = af_pickle_load(pkl, pkl_len, c.name, NULL, &doc, err)))
        goto done;
    if (doc.root->kind != AF_PK_DICT && doc.root->kind != AF_PK_OBJECT) {
        st = af_fail(err, AF_E_FORMAT, "%s: checkpoint is not a dict", c.name);
        goto done;
    }
    if ((st = read_model(&c, doc.root)))
        goto done;
    af_checkpoint_detect_fused(ck);
    if (ck->bn_eps && cJSON_GetArraySize(ck->bn_eps) == 0) {
        cJSON_Delete(ck->bn_eps);
        ck->bn_eps = NULL;
    }
done:
    af_pickle_free(&doc);
    free(pkl);
    af_zip_close(c.zip);
    if (st)
        af_checkpoint_free(ck);
    return st;
}
