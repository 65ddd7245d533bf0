#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "io/file.h"

/* ---- reading ------------------------------------------------------------ */

typedef struct span {
    size_t begin, end;
    const char *name;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A non-negative integer held in a JSON number (exactly representable). */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return 1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
        return 1;
    *out = (uint64_t)d;
    return 0;
}

static af_status parse_entry(const cJSON *e, const char *name, size_t datalen,
                             const unsigned char *data, const char *fname, af_tensor_list *l,
                             span *sp, af_error *err)
{
    if (!cJSON_IsObject(e))
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': header entry is not an object", fname,
                       name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    af_dtype dt;
    if (!cJSON_IsString(jd) || af_dtype_from_name(jd->valuestring, &dt))
        return af_fail(err, AF_E_UNSUPPORTED, "%s: tensor '%s': bad or unsupported dtype %s%s%s",
                       fname, name, cJSON_IsString(jd) ? "'" : "",
                       cJSON_IsString(jd) ? jd->valuestring : "(missing)",
                       cJSON_IsString(jd) ? "'" : "");
    if (!cJSON_IsArray(js))
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': shape is not a list", fname, name);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > AF_MAX_DIMS)
        return af_fail(err, AF_E_LIMIT, "%s: tensor '%s' has %d dimensions (max %d)", fname, name,
                       ndim, AF_MAX_DIMS);
    int64_t shape[AF_MAX_DIMS];
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, js)
    {
        uint64_t d;
        if (json_uint(it, &d) || d > (uint64_t)INT64_MAX)
            return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': bad dimension in shape", fname,
                           name);
        shape[k++] = (int64_t)d;
    }
    size_t numel, nbytes;
    if (af_shape_numel(shape, ndim, &numel) || af_mul_size(numel, af_dtype_size(dt), &nbytes))
        return af_fail(err, AF_E_LIMIT, "%s: tensor '%s': size overflows", fname, name);
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_uint(jo->child, &b) ||
        json_uint(jo->child->next, &en))
        return af_fail(err, AF_E_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end]",
                       fname, name);
    if (b > en || en > datalen)
        return af_fail(err, AF_E_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] outside the %zu data bytes",
                       fname, name, (unsigned long long)b, (unsigned long long)en, datalen);
    if ((uint64_t)nbytes != en - b)
        return af_fail(err, AF_E_FORMAT,
                       "%s: tensor '%s': shape and dtype need %zu bytes but data_offsets give "
                       "%llu",
                       fname, name, nbytes, (unsigned long long)(en - b));
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy)
        return af_fail(err, AF_E_NOMEM, "%s: tensor '%s': out of memory", fname, name);
    if (nbytes)
        memcpy(copy, data + b, nbytes);
    sp->begin = (size_t)b;
    sp->end = (size_t)en;
    sp->name = name;
    return af_tensor_list_add(l, name, dt, ndim, shape, copy, nbytes, err);
}

/* cJSON spends ~64 bytes per value: a 100 MB header of "0,0,0,..." would take 3 GB. A
 * tensor entry needs about 7 values (entry, dtype, shape + dims, offsets + 2), so 8 per
 * allowed tensor on average is plenty. */
#define ST_MAX_JSON_VALUES (8 * AF_ST_MAX_TENSORS)

/* An upper bound of the values cJSON would create: every value but the first follows a
 * ',' or opens after '[' / '{' (outside strings). */
static size_t json_values_bound(const char *s, size_t n)
{
    size_t count = 1;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == ',' || c == '[' || c == '{') {
            count++;
        }
    }
    return count;
}

af_status af_safetensors_parse(const void *buf, size_t len, const char *name,
                               af_safetensors *out, af_error *err)
{
    memset(out, 0, sizeof *out);
    const char *fname = name && *name ? name : "safetensors";
    const unsigned char *p = buf;
    if (!p || len < 8)
        return af_fail(err, AF_E_FORMAT, "%s: too short for a safetensors file (%zu bytes)", fname,
                       len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | p[i];
    if (hl > AF_ST_MAX_HEADER)
        return af_fail(err, AF_E_LIMIT, "%s: safetensors header length %llu is over the limit %zu",
                       fname, (unsigned long long)hl, AF_ST_MAX_HEADER);
    if (hl > len - 8)
        return af_fail(err, AF_E_FORMAT,
                       "%s: safetensors header length %llu goes beyond the file (%zu bytes)",
                       fname, (unsigned long long)hl, len);
    if (hl < 2 || p[8] != '{')
        return af_fail(err, AF_E_FORMAT, "%s: safetensors header is not a JSON object", fname);
    const char *hdr = (const char *)p + 8, *end = NULL;
    if (json_values_bound(hdr, (size_t)hl) > ST_MAX_JSON_VALUES)
        return af_fail(err, AF_E_LIMIT, "%s: safetensors header has more than %d JSON values",
                       fname, ST_MAX_JSON_VALUES);
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hl, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return af_fail(err, AF_E_FORMAT, "%s: safetensors header is not valid JSON", fname);
    }
    for (const char *q = end; q && q < hdr + hl; q++) {
        if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t' && *q != 0) {
            cJSON_Delete(root);
            return af_fail(err, AF_E_FORMAT, "%s: data after the safetensors JSON header", fname);
        }
    }
    const unsigned char *data = p + 8 + hl;
    size_t datalen = len - 8 - (size_t)hl;
    int n = cJSON_GetArraySize(root);
    if (n > AF_ST_MAX_TENSORS) {
        cJSON_Delete(root);
        return af_fail(err, AF_E_LIMIT, "%s: %d header entries (max %d)", fname, n,
                       AF_ST_MAX_TENSORS);
    }
    span *spans = malloc(((size_t)n + 1) * sizeof *spans);
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    af_status st = AF_OK;
    size_t ns = 0;
    if (!spans || !names) {
        st = af_fail(err, AF_E_NOMEM, "%s: out of memory", fname);
        goto done;
    }
    cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        const char *key = e->string ? e->string : "";
        if (!strcmp(key, "__metadata__")) {
            if (!cJSON_IsObject(e)) {
                st = af_fail(err, AF_E_FORMAT, "%s: __metadata__ is not an object", fname);
                goto done;
            }
            const cJSON *m;
            cJSON_ArrayForEach(m, e)
            {
                if (!cJSON_IsString(m)) {
                    st = af_fail(err, AF_E_FORMAT, "%s: __metadata__ value '%s' is not a string",
                                 fname, m->string ? m->string : "");
                    goto done;
                }
            }
            continue;
        }
        if (!*key) {
            st = af_fail(err, AF_E_FORMAT, "%s: tensor with an empty name", fname);
            goto done;
        }
        if ((st = parse_entry(e, key, datalen, data, fname, &out->tensors, &spans[ns], err)))
            goto done;
        names[ns] = key;
        ns++;
    }
    /* duplicate names */
    qsort(names, ns, sizeof *names, name_cmp);
    for (size_t i = 1; i < ns; i++) {
        if (!strcmp(names[i - 1], names[i])) {
            st = af_fail(err, AF_E_FORMAT, "%s: tensor '%s' appears twice in the header", fname,
                         names[i]);
            goto done;
        }
    }
    /* the data must be covered exactly, without overlaps or gaps */
    qsort(spans, ns, sizeof *spans, span_cmp);
    size_t pos = 0;
    for (size_t i = 0; i < ns; i++) {
        if (spans[i].begin < pos) {
            st = af_fail(err, AF_E_FORMAT, "%s: tensor '%s' overlaps another tensor's data",
                         fname, spans[i].name);
            goto done;
        }
        if (spans[i].begin > pos) {
            st = af_fail(err, AF_E_FORMAT, "%s: unused bytes %zu..%zu before tensor '%s'", fname,
                         pos, spans[i].begin, spans[i].name);
            goto done;
        }
        pos = spans[i].end;
    }
    if (pos != datalen) {
        st = af_fail(err, AF_E_FORMAT, "%s: %zu data bytes but the tensors use %zu", fname,
                     datalen, pos);
        goto done;
    }
    {
        cJSON *md = cJSON_DetachItemFromObjectCaseSensitive(root, "__metadata__");
        out->metadata = md;
    }
done:
    free(spans);
    free(names);
    cJSON_Delete(root);
    if (st)
        af_safetensors_free(out);
    return st;
}

af_status af_safetensors_read_file(const char *path, af_safetensors *out, af_error *err)
{
    memset(out, 0, sizeof *out);
    void *buf;
    size_t len;
    af_status st = af_read_file_all(path, AF_ST_MAX_FILE, &buf, &len, err);
    if (st)
        return st;
    st = af_safetensors_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

void af_safetensors_free(af_safetensors *s)
{
    if (!s)
        return;
    af_tensor_list_free(&s->tensors);
    cJSON_Delete(s->metadata);
    s->metadata = NULL;
}

/* ---- writing ------------------------------------------------------------ */

static int order_cmp(const void *a, const void *b)
{
    const af_tensor *x = *(const af_tensor *const *)a, *y = *(const af_tensor *const *)b;
    size_t ex = af_dtype_size(x->dtype), ey = af_dtype_size(y->dtype);
    if (ex != ey)
        return ex > ey ? -1 : 1;
    return strcmp(x->name, y->name);
}

af_status af_safetensors_serialize(const af_tensor_list *tl, const cJSON *metadata, void **out,
                                   size_t *len, af_error *err)
{
    *out = NULL;
    *len = 0;
    size_t n = tl->count;
    const af_tensor **ord = malloc((n ? n : 1) * sizeof *ord);
    cJSON *hdr = cJSON_CreateObject();
    char *js = NULL;
    unsigned char *buf = NULL;
    af_status st = AF_OK;
    if (!ord || !hdr) {
        st = af_fail(err, AF_E_NOMEM, "out of memory writing safetensors");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = &tl->items[i];
    qsort(ord, n, sizeof *ord, order_cmp);
    if (metadata) {
        if (!cJSON_IsObject(metadata)) {
            st = af_fail(err, AF_E_ARG, "safetensors metadata must be an object");
            goto done;
        }
        cJSON *md = cJSON_AddObjectToObject(hdr, "__metadata__");
        const cJSON *m;
        cJSON_ArrayForEach(m, metadata)
        {
            char *text = cJSON_IsString(m) ? NULL : cJSON_PrintUnformatted(m);
            if (!md || (!cJSON_IsString(m) && !text) ||
                !cJSON_AddStringToObject(md, m->string, text ? text : m->valuestring)) {
                free(text);
                st = af_fail(err, AF_E_NOMEM, "out of memory writing safetensors");
                goto done;
            }
            free(text);
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const af_tensor *t = ord[i];
        size_t numel, nbytes;
        if (af_shape_numel(t->shape, t->ndim, &numel) ||
            af_mul_size(numel, af_dtype_size(t->dtype), &nbytes) || nbytes != t->nbytes) {
            st = af_fail(err, AF_E_ARG, "tensor '%s': shape does not match its %zu data bytes",
                         t->name, t->nbytes);
            goto done;
        }
        if (!strcmp(t->name, "__metadata__") || cJSON_GetObjectItemCaseSensitive(hdr, t->name)) {
            st = af_fail(err, AF_E_ARG, "tensor name '%s' is duplicated or reserved", t->name);
            goto done;
        }
        cJSON *e = cJSON_AddObjectToObject(hdr, t->name);
        cJSON *sh = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *of = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        int ok = e && sh && of && cJSON_AddStringToObject(e, "dtype", af_dtype_name(t->dtype));
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        if (ok)
            ok = cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off)) &&
                 cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nbytes)));
        if (!ok) {
            st = af_fail(err, AF_E_NOMEM, "out of memory writing safetensors");
            goto done;
        }
        if (off + nbytes > ((size_t)1 << 53)) {
            st = af_fail(err, AF_E_LIMIT, "safetensors data too large");
            goto done;
        }
        off += nbytes;
    }
    js = cJSON_PrintUnformatted(hdr);
    if (!js) {
        st = af_fail(err, AF_E_NOMEM, "out of memory writing safetensors");
        goto done;
    }
    size_t jl = strlen(js), hl = (jl + 7) / 8 * 8, total;
    if (af_add_size(8 + hl, off, &total)) {
        st = af_fail(err, AF_E_LIMIT, "safetensors data too large");
        goto done;
    }
    buf = malloc(total);
    if (!buf) {
        st = af_fail(err, AF_E_NOMEM, "out of memory for %zu bytes of safetensors", total);
        goto done;
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, js, jl);
    memset(buf + 8 + jl, ' ', hl - jl);
    size_t pos = 8 + hl;
    for (size_t i = 0; i < n; i++) {
        if (ord[i]->nbytes)
            memcpy(buf + pos, ord[i]->data, ord[i]->nbytes);
        pos += ord[i]->nbytes;
    }
    *out = buf;
    *len = total;
    buf = NULL;
done:
    free(buf);
    free(js);
    free(ord);
    cJSON_Delete(hdr);
    return st;
}

af_status af_safetensors_write_file(const char *path, const af_tensor_list *tensors,
                                    const cJSON *metadata, af_error *err)
{
    void *buf;
    size_t len;
    af_status st = af_safetensors_serialize(tensors, metadata, &buf, &len, err);
    if (st) {
        af_error_prefix(err, "%s", path);
        return st;
    }
    st = af_write_file_atomic(path, buf, len, err);
    free(buf);
    return st;
}
