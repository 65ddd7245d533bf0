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

struct af_pt_file {
    af_zip *zip;
    char *name;
    char prefix[256];   /* "<archive>/" */
    size_t bytes_left;  /* tensor bytes still allowed */
    size_t read_left;   /* storage bytes still allowed to be read */
    size_t visits_left; /* modules still allowed to be visited (shared subtrees) */
    af_pickle doc;
};

/* One walk: the file plus where the tensors go. */
typedef struct ptctx {
    af_pt_file *f;
    const char *name;
    af_tensor_list *out;
    af_pt_module_cb cb;
    void *user;
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
static af_status load_tensor(af_pt_file *f, const af_pk_value *v, const char *what, rtensor *out,
                             af_error *err)
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
        return af_fail(err, AF_E_UNSUPPORTED, "%s: '%s' is not a plain tensor", f->name, what);
    if (nargs(v) < 4)
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': too few rebuild arguments", f->name,
                       what);
    const af_pk_value *pers = arg(v, 0);
    int64_t offset;
    int64_t size[AF_MAX_DIMS], stride[AF_MAX_DIMS];
    int nd = 0, ns = 0;
    if (af_pk_get_int(arg(v, 1), &offset) || offset < 0 || get_dims(arg(v, 2), size, &nd) ||
        get_dims(arg(v, 3), stride, &ns) || nd != ns)
        return af_fail(err, AF_E_FORMAT,
                       "%s: tensor '%s': bad offset, size or stride (or more than %d dims)",
                       f->name, what, AF_MAX_DIMS);
    if (!pers || pers->kind != AF_PK_PERSID || !pers->u.persid.pid ||
        pers->u.persid.pid->kind != AF_PK_TUPLE || pers->u.persid.pid->u.seq.count < 5)
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': storage reference is malformed",
                       f->name, what);
    af_pk_value **pid = pers->u.persid.pid->u.seq.items;
    const char *tag = af_pk_str(pid[0]), *key = af_pk_str(pid[2]);
    int64_t numel;
    if (!tag || strcmp(tag, "storage") || !key || af_pk_get_int(pid[4], &numel) || numel < 0)
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': storage reference is malformed",
                       f->name, what);
    if (!safe_key(key))
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': bad storage key", f->name, what);
    int found = 0;
    af_dtype dt = AF_DT_F32;
    for (size_t i = 0; pid[1]->kind == AF_PK_GLOBAL && i < sizeof storage_types / sizeof storage_types[0]; i++) {
        if (af_pk_is_global(pid[1], "torch", storage_types[i].name)) {
            dt = storage_types[i].dt;
            found = 1;
        }
    }
    if (!found)
        return af_fail(err, AF_E_UNSUPPORTED, "%s: tensor '%s': unsupported storage type",
                       f->name, what);
    size_t es = af_dtype_size(dt), sbytes;
    if ((uint64_t)numel > SIZE_MAX || af_mul_size((size_t)numel, es, &sbytes))
        return af_fail(err, AF_E_LIMIT, "%s: tensor '%s': storage too large", f->name, what);
    /* the elements the view touches must lie inside the storage */
    size_t tnumel;
    if (af_shape_numel(size, nd, &tnumel))
        return af_fail(err, AF_E_LIMIT, "%s: tensor '%s': size overflows", f->name, what);
    size_t last = (size_t)offset;
    if ((uint64_t)offset > SIZE_MAX)
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': bad offset", f->name, what);
    if (tnumel) {
        for (int d = 0; d < nd; d++) {
            size_t t;
            if (af_mul_size((size_t)(size[d] - 1), (size_t)stride[d], &t) ||
                af_add_size(last, t, &last))
                return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': strides overflow", f->name,
                               what);
        }
        if (last >= (size_t)numel)
            return af_fail(err, AF_E_FORMAT,
                           "%s: tensor '%s' reaches element %zu of a %lld-element storage",
                           f->name, what, last, (long long)numel);
    }
    size_t nbytes = tnumel * es; /* <= sbytes, no overflow */
    if (nbytes > f->bytes_left)
        return af_fail(err, AF_E_LIMIT, "%s: tensors larger than %zu bytes in total", f->name,
                       (size_t)AF_PT_MAX_TENSOR_BYTES);
    if (sbytes > f->read_left)
        return af_fail(err, AF_E_LIMIT, "%s: storages larger than %zu bytes in total",
                       f->name, (size_t)AF_PT_MAX_TENSOR_BYTES * 2);
    char entry[512];
    snprintf(entry, sizeof entry, "%sdata/%s", f->prefix, key);
    size_t esize;
    af_status st = af_zip_entry_size(f->zip, entry, &esize, err);
    if (st)
        return st;
    if (esize != sbytes)
        return af_fail(err, AF_E_FORMAT,
                       "%s: storage '%s' for tensor '%s' has %zu bytes, expected %zu", f->name,
                       entry, what, esize, sbytes);
    void *sdata;
    size_t slen;
    if ((st = af_zip_read(f->zip, entry, sbytes, &sdata, &slen, err)))
        return st;
    f->read_left -= sbytes;
    unsigned char *dst = malloc(nbytes ? nbytes : 1);
    if (!dst) {
        free(sdata);
        return af_fail(err, AF_E_NOMEM, "%s: tensor '%s': out of memory", f->name, what);
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
    f->bytes_left -= nbytes;
    out->dt = dt;
    out->ndim = nd;
    memcpy(out->shape, size, sizeof size[0] * (size_t)nd);
    out->data = dst;
    out->nbytes = nbytes;
    return AF_OK;
}

static af_status add_tensor(ptctx *c, const af_pk_value *v, const char *name)
{
    if (c->out->count >= AF_PT_MAX_TENSORS)
        return af_fail(c->err, AF_E_LIMIT, "%s: more than %d tensors", c->name,
                       AF_PT_MAX_TENSORS);
    rtensor t;
    af_status st = load_tensor(c->f, v, name, &t, c->err);
    if (st)
        return st;
    return af_tensor_list_add(c->out, name, t.dt, t.ndim, t.shape, t.data, t.nbytes, c->err);
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
    if (c->f->visits_left == 0)
        return af_fail(c->err, AF_E_LIMIT, "%s: more than %d modules", c->name, MAX_MODULES);
    c->f->visits_left--;
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
    if (c->cb) {
        char key[NAME_MAX_LEN];
        snprintf(key, sizeof key, "%.*s", plen ? (int)plen - 1 : 0, prefix);
        if ((st = c->cb(c->user, key, s, c->err)))
            return st;
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
    size_t n = c->out->count;
    if (n < 2)
        return AF_OK;
    const char **names = malloc(n * sizeof *names);
    if (!names)
        return af_fail(c->err, AF_E_NOMEM, "%s: out of memory", c->name);
    for (size_t i = 0; i < n; i++)
        names[i] = c->out->items[i].name;
    qsort(names, n, sizeof *names, name_cmp);
    af_status st = AF_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (!strcmp(names[i - 1], names[i]))
            st = af_fail(c->err, AF_E_FORMAT, "%s: tensor '%s' appears twice", c->name, names[i]);
    free(names);
    return st;
}

static af_status find_archive(af_pt_file *f, af_error *err)
{
    size_t n = af_zip_count(f->zip);
    for (size_t i = 0; i < n; i++) {
        const char *e = af_zip_name(f->zip, i);
        if (!e)
            continue;
        const char *slash = strchr(e, '/');
        if (slash && slash != e && !strcmp(slash, "/data.pkl") &&
            (size_t)(slash - e) + 2 < sizeof f->prefix) {
            snprintf(f->prefix, sizeof f->prefix, "%.*s/", (int)(slash - e), e);
            return AF_OK;
        }
    }
    return af_fail(err, AF_E_FORMAT, "%s: zip has no <archive>/data.pkl: not a torch checkpoint",
                   f->name);
}

af_status af_pt_module_tensors(af_pt_file *f, const af_pk_value *module, af_tensor_list *out,
                               af_pt_module_cb cb, void *user, af_error *err)
{
    ptctx c = {f, f->name, out, cb, user, err};
    if (!module || module->kind != AF_PK_OBJECT)
        return af_fail(err, AF_E_FORMAT, "%s: the model is not an nn.Module record", f->name);
    char prefix[NAME_MAX_LEN];
    prefix[0] = 0;
    af_status st = walk(&c, module, prefix, 0, 0);
    return st ? st : check_duplicates(&c);
}

af_status af_pt_tensor(af_pt_file *f, const af_pk_value *rec, const char *what, af_tensor *out,
                       af_error *err)
{
    memset(out, 0, sizeof *out);
    rtensor t;
    af_status st = load_tensor(f, rec, what, &t, err);
    if (st)
        return st;
    out->dtype = t.dt;
    out->ndim = t.ndim;
    memcpy(out->shape, t.shape, sizeof t.shape);
    out->data = t.data;
    out->nbytes = t.nbytes;
    return AF_OK;
}

const af_pk_value *af_pt_root(const af_pt_file *f)
{
    return f ? f->doc.root : NULL;
}

void af_pt_close(af_pt_file *f)
{
    if (!f)
        return;
    af_pickle_free(&f->doc);
    af_zip_close(f->zip);
    free(f->name);
    free(f);
}

af_status af_pt_open_memory(const void *buf, size_t len, const char *name, af_pt_file **out,
                            af_error *err)
{
    *out = NULL;
    af_pt_file *f = calloc(1, sizeof *f);
    const char *nm = name && *name ? name : "checkpoint";
    if (!f || !(f->name = strdup(nm))) {
        free(f);
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", nm);
    }
    f->bytes_left = AF_PT_MAX_TENSOR_BYTES;
    f->read_left = AF_PT_MAX_TENSOR_BYTES * 2;
    f->visits_left = MAX_MODULES;
    void *pkl = NULL;
    size_t pkl_len = 0;
    char entry[300];
    size_t idx;
    af_status st = af_zip_open_memory(buf, len, f->name, &f->zip, err);
    if (!st)
        st = find_archive(f, err);
    if (st)
        goto done;
    snprintf(entry, sizeof entry, "%sbyteorder", f->prefix);
    if (!af_zip_find(f->zip, entry, &idx)) {
        void *bo;
        size_t bl;
        if ((st = af_zip_read(f->zip, entry, 64, &bo, &bl, err)))
            goto done;
        int little = bl == 6 && !memcmp(bo, "little", 6);
        free(bo);
        if (!little) {
            st = af_fail(err, AF_E_UNSUPPORTED, "%s: big-endian torch checkpoint", f->name);
            goto done;
        }
    }
    snprintf(entry, sizeof entry, "%sdata.pkl", f->prefix);
    if ((st = af_zip_read(f->zip, entry, AF_PT_MAX_PICKLE, &pkl, &pkl_len, err)) ||
        (st = af_pickle_load(pkl, pkl_len, f->name, NULL, &f->doc, err)))
        goto done;
done:
    free(pkl);
    if (st)
        af_pt_close(f);
    else
        *out = f;
    return st;
}
