#include "model/checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
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
    const cJSON *ync = ck->yaml ? cJSON_GetObjectItemCaseSensitive(ck->yaml, "nc") : NULL;
    const char *ncs = md_str(md, "nc");
    char *end = NULL;
    long nc = ncs ? strtol(ncs, &end, 10) : 0;
    if (ncs && end != ncs && !*end && nc > 0 && nc < 1000000)
        ck->nc = (int)nc;
    else if (cJSON_IsNumber(ync) && ync->valuedouble > 0 && ync->valuedouble < 1e6)
        ck->nc = (int)ync->valuedouble;
    else if (ck->names)
        ck->nc = cJSON_GetArraySize(ck->names);
    const char *ver = md_str(md, "ultralytics_version");
    if (ver && !(ck->version = strdup(ver)))
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
    af_checkpoint_detect_fused(ck);
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
    if (p[0] == 'P' && p[1] == 'K' && (p[2] == 3 || p[2] == 5) && (p[3] == 4 || p[3] == 6))
        return af_pt_read_memory(buf, len, nm, ck, err);
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
        if (!ok)
            st = af_fail(err, AF_E_NOMEM, "%s: out of memory", path);
    }
    if (!st)
        st = af_safetensors_write_file(path, &tl, md, err);
    cJSON_Delete(md);
    af_tensor_list_free(&tl);
    return st;
}
