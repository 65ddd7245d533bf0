#include "model/checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "io/file.h"
#include "io/pickle.h"
#include "io/pt_reader.h"
#include "io/safetensors.h"

void af_checkpoint_free(af_checkpoint *ck)
{
    if (!ck)
        return;
    af_tensor_list_free(&ck->tensors);
    cJSON_Delete(ck->yaml);
    cJSON_Delete(ck->names);
    cJSON_Delete(ck->train_args);
    cJSON_Delete(ck->bn_eps);
    cJSON_Delete(ck->int8);
    free(ck->version);
    memset(ck, 0, sizeof *ck);
}


cJSON *af_names_as_object(cJSON *j)
{
    if (!cJSON_IsArray(j))
        return j;
    cJSON *o = cJSON_CreateObject();
    int i = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        char k[24];
        snprintf(k, sizeof k, "%d", i++);
        if (o)
            cJSON_AddItemToObject(o, k, cJSON_Duplicate(it, 1));
    }
    cJSON_Delete(j);
    return o;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

void af_checkpoint_detect_fused(af_checkpoint *ck)
{
    int has_bn = 0, has_conv_bias = 0;
    for (size_t i = 0; i < ck->tensors.count; i++) {
        const char *n = ck->tensors.items[i].name;
        if (strstr(n, ".bn.") || !strncmp(n, "bn.", 3))
            has_bn = 1;
        if (ends_with(n, ".conv.bias"))
            has_conv_bias = 1;
    }
    ck->fused = !has_bn && has_conv_bias;
}

double af_checkpoint_bn_eps(const af_checkpoint *ck, const char *bn_prefix)
{
    const cJSON *e = ck && ck->bn_eps && bn_prefix
                         ? cJSON_GetObjectItemCaseSensitive(ck->bn_eps, bn_prefix)
                         : NULL;
    return cJSON_IsNumber(e) ? e->valuedouble : 1e-3;
}

int af_train_args_imgsz(const cJSON *args)
{
    const cJSON *v = args ? cJSON_GetObjectItemCaseSensitive(args, "imgsz") : NULL;
    if (cJSON_IsNumber(v) && v->valuedouble >= 32 && v->valuedouble <= 8192)
        return (int)v->valuedouble;
    if (cJSON_IsArray(v) && cJSON_IsNumber(cJSON_GetArrayItem(v, 0))) {
        double x = cJSON_GetArrayItem(v, 0)->valuedouble;
        if (x >= 32 && x <= 8192)
            return (int)x;
    }
    return 640;
}

/* What every format shares, once the tensors and attributes are in: the class
 * count (the stored nc, else the description's, else the number of names),
 * the training image size, fused or not. nc_stored <= 0: none stored. */
static void finish_metadata(af_checkpoint *ck, long nc_stored)
{
    const cJSON *ync = ck->yaml ? cJSON_GetObjectItemCaseSensitive(ck->yaml, "nc") : NULL;
    if (nc_stored > 0 && nc_stored < 1000000)
        ck->nc = (int)nc_stored;
    else if (cJSON_IsNumber(ync) && ync->valuedouble > 0 && ync->valuedouble < 1e6)
        ck->nc = (int)ync->valuedouble;
    else if (ck->names)
        ck->nc = cJSON_GetArraySize(ck->names);
    ck->imgsz = af_train_args_imgsz(ck->train_args);
    ck->detect_dw_cls = -1;
    for (size_t i = 0; i < ck->tensors.count && ck->detect_dw_cls < 0; i++) {
        const char *n = ck->tensors.items[i].name;
        if (strstr(n, ".cv3.0.0.0."))
            ck->detect_dw_cls = 1;
        else if (strstr(n, ".cv3.0.0.conv."))
            ck->detect_dw_cls = 0;
    }
    if (ck->bn_eps && cJSON_GetArraySize(ck->bn_eps) == 0) {
        cJSON_Delete(ck->bn_eps);
        ck->bn_eps = NULL;
    }
    af_checkpoint_detect_fused(ck);
}

/* ---- ultralytics .pt -> checkpoint ---------------------------------------- */

typedef struct pt_walk {
    af_checkpoint *ck;
    const char *name;
} pt_walk;

/* Module visitor: records the eps of every BatchNorm (a module with a
 * running_var buffer and an eps attribute). */
static af_status note_bn_eps(void *user, const char *prefix, const af_pk_value *state,
                             af_error *err)
{
    pt_walk *w = user;
    double eps;
    const af_pk_value *rv = af_pk_dict_get(af_pk_dict_get(state, "_buffers"), "running_var");
    if (!*prefix || !rv || rv->kind == AF_PK_NONE ||
        af_pk_get_number(af_pk_dict_get(state, "eps"), &eps))
        return AF_OK;
    if (!w->ck->bn_eps && !(w->ck->bn_eps = cJSON_CreateObject()))
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", w->name);
    /* prefixes are unique: a module reached twice duplicates its tensor names
     * too, which af_pt_module_tensors reports */
    if (!cJSON_AddNumberToObject(w->ck->bn_eps, prefix, eps))
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", w->name);
    return AF_OK;
}

/* names: dict {0: 'face'} or list ['face'] -> {"0": "face"} */
static af_status pt_names(const af_pk_value *v, const char *name, af_checkpoint *ck, af_error *err)
{
    if (!v || v->kind == AF_PK_NONE)
        return AF_OK;
    cJSON *j;
    af_status st = af_pk_to_json(v, 8, &j, err);
    if (st)
        return st;
    j = af_names_as_object(j);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return af_fail(err, AF_E_FORMAT, "%s: model names are not a dict or list", name);
    }
    ck->names = j;
    return AF_OK;
}

/* DetectionModel.stride: a tensor, or a list in hand-made files */
static af_status pt_stride(af_pt_file *f, const af_pk_value *v, const char *name,
                           af_checkpoint *ck, af_error *err)
{
    if (!v || v->kind == AF_PK_NONE)
        return AF_OK;
    double vals[8];
    int n = 0;
    if (v->kind == AF_PK_LIST || v->kind == AF_PK_TUPLE) {
        if (v->u.seq.count > 8)
            return af_fail(err, AF_E_LIMIT, "%s: more than 8 strides", name);
        for (size_t i = 0; i < v->u.seq.count; i++)
            if (af_pk_get_number(v->u.seq.items[i], &vals[n++]))
                return af_fail(err, AF_E_FORMAT, "%s: bad model stride", name);
    } else {
        af_tensor t;
        af_status st = af_pt_tensor(f, v, "stride", &t, err);
        if (st)
            return st;
        t.name = "stride";
        float *x = NULL;
        size_t cnt = 0;
        st = af_tensor_to_f32(&t, &x, &cnt, err);
        free(t.data);
        if (st)
            return st;
        if (cnt > 8) {
            free(x);
            return af_fail(err, AF_E_LIMIT, "%s: more than 8 strides", name);
        }
        for (size_t i = 0; i < cnt; i++)
            vals[n++] = x[i];
        free(x);
    }
    for (int i = 0; i < n; i++)
        ck->stride[i] = vals[i];
    ck->nstride = n;
    return AF_OK;
}

static int is_set(const af_pk_value *v)
{
    return v && v->kind != AF_PK_NONE;
}

/* The checkpoint dict as ultralytics' trainer writes it (model, ema,
 * train_args, version, ...; see README's model table for the releases) or a
 * bare pickled model. The weights are the EMA's when it is set, else the
 * model's, as ultralytics loads them (`ckpt.get("ema") or ckpt["model"]`):
 * mid-training checkpoints of 8.2+ hold model None. */
static af_status from_pt(af_pt_file *f, const char *name, af_checkpoint *ck, af_error *err)
{
    const af_pk_value *root = af_pt_root(f), *model = root;
    const af_pk_value *ckd = root->kind == AF_PK_DICT ? root : NULL;
    if (!ckd && root->kind != AF_PK_OBJECT)
        return af_fail(err, AF_E_FORMAT, "%s: checkpoint is not a dict", name);
    if (ckd) {
        model = af_pk_dict_get(ckd, "ema");
        if (!is_set(model))
            model = af_pk_dict_get(ckd, "model");
        if (!is_set(model))
            return af_fail(err, AF_E_FORMAT, "%s: checkpoint has no 'model' (nor 'ema')", name);
    }
    if (model->kind != AF_PK_OBJECT)
        return af_fail(err, AF_E_FORMAT, "%s: checkpoint 'model' is not an nn.Module", name);
    pt_walk w = {ck, name};
    af_status st = af_pt_module_tensors(f, model, &ck->tensors, note_bn_eps, &w, err);
    if (st)
        return st;
    const af_pk_value *s = model->u.obj.state;
    const af_pk_value *y = af_pk_dict_get(s, "yaml");
    if (y && y->kind == AF_PK_DICT && (st = af_pk_to_json(y, 32, &ck->yaml, err)))
        return st;
    if ((st = pt_names(af_pk_dict_get(s, "names"), name, ck, err)) ||
        (st = pt_stride(f, af_pk_dict_get(s, "stride"), name, ck, err)))
        return st;
    int64_t nc = 0;
    if (af_pk_get_int(af_pk_dict_get(s, "nc"), &nc) || nc <= 0 || nc >= 1000000)
        nc = 0;
    const af_pk_value *ta = ckd ? af_pk_dict_get(ckd, "train_args") : NULL;
    if (!is_set(ta))
        ta = af_pk_dict_get(s, "args");
    if (ta && (ta->kind == AF_PK_DICT || ta->kind == AF_PK_OBJECT)) {
        cJSON *j;
        if ((st = af_pk_to_json(ta, 16, &j, err)))
            return st;
        if (cJSON_IsObject(j))
            ck->train_args = j;
        else
            cJSON_Delete(j);
    }
    const char *ver = ckd ? af_pk_str(af_pk_dict_get(ckd, "version")) : NULL;
    if (ver && !(ck->version = strdup(ver)))
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
    finish_metadata(ck, (long)nc);
    return AF_OK;
}

/* ---- safetensors -> checkpoint ------------------------------------------ */

static const char *md_str(const cJSON *md, const char *key)
{
    const cJSON *v = md ? cJSON_GetObjectItemCaseSensitive(md, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Parses a metadata value as JSON; NULL if absent or not JSON. */
static cJSON *md_json(const cJSON *md, const char *key)
{
    const char *s = md_str(md, key);
    return s ? cJSON_Parse(s) : NULL;
}

static af_status from_safetensors(af_safetensors *sf, const char *name, af_checkpoint *ck,
                                  af_error *err)
{
    const cJSON *md = sf->metadata;
    /* tensors: move, leaving out num_batches_tracked */
    af_tensor_list *src = &sf->tensors;
    for (size_t i = 0; i < src->count; i++) {
        af_tensor *t = &src->items[i];
        if (!strcmp(t->name, "num_batches_tracked") || ends_with(t->name, ".num_batches_tracked"))
            continue;
        void *data = t->data;
        t->data = NULL;
        af_status st = af_tensor_list_add(&ck->tensors, t->name, t->dtype, t->ndim, t->shape, data,
                                          t->nbytes, err);
        if (st)
            return st;
    }
    cJSON *j = md_json(md, "yaml");
    if (cJSON_IsObject(j))
        ck->yaml = j;
    else
        cJSON_Delete(j);
    j = af_names_as_object(md_json(md, "names"));
    if (cJSON_IsObject(j))
        ck->names = j;
    else
        cJSON_Delete(j);
    j = md_json(md, "train_args");
    if (cJSON_IsObject(j))
        ck->train_args = j;
    else
        cJSON_Delete(j);
    j = md_json(md, "int8_act_absmax");
    if (cJSON_IsObject(j))
        ck->int8 = j;
    else
        cJSON_Delete(j);
    j = md_json(md, "stride");
    if (cJSON_IsArray(j)) {
        if (cJSON_GetArraySize(j) > 8) {
            cJSON_Delete(j);
            return af_fail(err, AF_E_LIMIT, "%s: more than 8 strides in metadata", name);
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 0)) {
                cJSON_Delete(j);
                return af_fail(err, AF_E_FORMAT, "%s: bad stride in metadata", name);
            }
            ck->stride[ck->nstride++] = it->valuedouble;
        }
    }
    cJSON_Delete(j);
    j = md_json(md, "bn_eps");
    if (cJSON_IsObject(j)) {
        ck->bn_eps = j;
    } else if (cJSON_IsNumber(j) && j->valuedouble > 0) {
        /* one eps for every BN module: expand over the *.running_var tensors */
        double eps = j->valuedouble;
        cJSON_Delete(j);
        ck->bn_eps = cJSON_CreateObject();
        if (!ck->bn_eps)
            return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
        for (size_t i = 0; i < ck->tensors.count; i++) {
            const char *n = ck->tensors.items[i].name;
            if (ends_with(n, ".running_var")) {
                char key[1024];
                snprintf(key, sizeof key, "%.*s", (int)(strlen(n) - strlen(".running_var")), n);
                if (!cJSON_AddNumberToObject(ck->bn_eps, key, eps))
                    return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
            }
        }
    } else {
        cJSON_Delete(j);
    }
    const char *ncs = md_str(md, "nc");
    char *end = NULL;
    long nc = ncs ? strtol(ncs, &end, 10) : 0;
    if (!ncs || end == ncs || *end)
        nc = 0;
    const char *thr = md_str(md, "conf_threshold");
    double t = thr ? strtod(thr, &end) : 0;
    if (thr && end != thr && !*end && t > 0 && t < 1)
        ck->conf_threshold = t;
    const char *ver = md_str(md, "ultralytics_version");
    if (ver && !(ck->version = strdup(ver)))
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
    finish_metadata(ck, nc);
    return AF_OK;
}

/* ---- loading ------------------------------------------------------------ */

af_status af_checkpoint_load_memory(const void *buf, size_t len, const char *name,
                                    af_checkpoint *ck, af_error *err)
{
    memset(ck, 0, sizeof *ck);
    const unsigned char *p = buf;
    const char *nm = name && *name ? name : "checkpoint";
    if (!p || len < 4)
        return af_fail(err, AF_E_FORMAT, "%s: too short to be a checkpoint (%zu bytes)", nm, len);
    if (p[0] == 'P' && p[1] == 'K' && (p[2] == 3 || p[2] == 5) && (p[3] == 4 || p[3] == 6)) {
        af_pt_file *f;
        af_status st = af_pt_open_memory(buf, len, nm, &f, err);
        if (st)
            return st;
        snprintf(ck->format, sizeof ck->format, "pt");
        st = from_pt(f, nm, ck, err);
        af_pt_close(f);
        if (st)
            af_checkpoint_free(ck);
        return st;
    }
    if (len >= 4 && p[0] == 0x80 && p[1] <= 5 && p[2] == 0x8a && p[3] == 0x0a)
        return af_fail(err, AF_E_UNSUPPORTED,
                       "%s: legacy (pre-1.6, non-zip) torch checkpoint; re-save it with a newer "
                       "torch or convert it to safetensors",
                       nm);
    af_safetensors sf;
    af_status st = af_safetensors_parse(buf, len, nm, &sf, err);
    if (st)
        return st;
    st = from_safetensors(&sf, nm, ck, err);
    af_safetensors_free(&sf);
    if (st) {
        af_checkpoint_free(ck);
        return st;
    }
    snprintf(ck->format, sizeof ck->format, "safetensors");
    return AF_OK;
}

af_status af_checkpoint_load(const char *path, af_checkpoint *ck, af_error *err)
{
    memset(ck, 0, sizeof *ck);
    void *buf;
    size_t len;
    af_status st = af_read_file_all(path, AF_CKPT_MAX_FILE, &buf, &len, err);
    if (st)
        return st;
    st = af_checkpoint_load_memory(buf, len, path, ck, err);
    free(buf);
    return st;
}

/* ---- saving ------------------------------------------------------------- */

static int is_float(af_dtype t)
{
    return t == AF_DT_F32 || t == AF_DT_F16 || t == AF_DT_BF16 || t == AF_DT_F64;
}

static af_status convert_tensor(const af_tensor *t, af_dtype store, af_tensor_list *out,
                                af_error *err)
{
    if (!is_float(t->dtype) || t->dtype == store) {
        void *copy = malloc(t->nbytes ? t->nbytes : 1);
        if (!copy)
            return af_fail(err, AF_E_NOMEM, "tensor '%s': out of memory", t->name);
        if (t->nbytes)
            memcpy(copy, t->data, t->nbytes);
        return af_tensor_list_add(out, t->name, t->dtype, t->ndim, t->shape, copy, t->nbytes,
                                  err);
    }
    float *f;
    size_t n;
    af_status st = af_tensor_to_f32(t, &f, &n, err);
    if (st)
        return st;
    if (store == AF_DT_F16) {
        uint16_t *h = malloc((n ? n : 1) * sizeof *h);
        if (!h) {
            free(f);
            return af_fail(err, AF_E_NOMEM, "tensor '%s': out of memory", t->name);
        }
        for (size_t i = 0; i < n; i++)
            h[i] = af_f32_to_f16(f[i]);
        free(f);
        return af_tensor_list_add(out, t->name, AF_DT_F16, t->ndim, t->shape, h, n * 2, err);
    }
    return af_tensor_list_add(out, t->name, AF_DT_F32, t->ndim, t->shape, f, n * 4, err);
}

static int add_json(cJSON *md, const char *key, const cJSON *v)
{
    if (!v)
        return 1;
    cJSON *d = cJSON_Duplicate(v, 1);
    return d && cJSON_AddItemToObject(md, key, d);
}

af_status af_checkpoint_save_safetensors(const af_checkpoint *ck, const char *path,
                                         af_dtype store, af_error *err)
{
    if (store != AF_DT_F16 && store != AF_DT_F32)
        return af_fail(err, AF_E_ARG, "%s: weights can be stored as F16 or F32, not %s", path,
                       af_dtype_name(store));
    af_tensor_list tl = {0};
    af_status st = AF_OK;
    for (size_t i = 0; i < ck->tensors.count && !st; i++)
        st = convert_tensor(&ck->tensors.items[i], store, &tl, err);
    cJSON *md = st ? NULL : cJSON_CreateObject();
    if (!st) {
        int ok = md && cJSON_AddStringToObject(md, "format", "animeface") &&
                 add_json(md, "yaml", ck->yaml) && add_json(md, "names", ck->names) &&
                 add_json(md, "train_args", ck->train_args) && add_json(md, "bn_eps", ck->bn_eps);
        if (ok && ck->int8)
            ok = add_json(md, "int8_act_absmax", ck->int8);
        if (ok && ck->nstride > 0) {
            cJSON *s = cJSON_AddArrayToObject(md, "stride");
            for (int i = 0; ok && i < ck->nstride && i < 8; i++)
                ok = s && cJSON_AddItemToArray(s, cJSON_CreateNumber(ck->stride[i]));
        }
        if (ok && ck->nc > 0)
            ok = cJSON_AddNumberToObject(md, "nc", ck->nc) != NULL;
        if (ok && ck->version)
            ok = cJSON_AddStringToObject(md, "ultralytics_version", ck->version) != NULL;
        if (ok && ck->conf_threshold > 0) {
            char t[32];
            snprintf(t, sizeof t, "%.9g", ck->conf_threshold);
            ok = cJSON_AddStringToObject(md, "conf_threshold", t) != NULL;
        }
        if (!ok)
            st = af_fail(err, AF_E_NOMEM, "%s: out of memory", path);
    }
    if (!st)
        st = af_safetensors_write_file(path, &tl, md, err);
    cJSON_Delete(md);
    af_tensor_list_free(&tl);
    return st;
}
