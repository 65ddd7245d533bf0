/*
 * The tests' own safetensors reader (golden files made by ultralytics' side), independent
 * of the library's src/io/safetensors.c: header length, JSON header, tensors by name and
 * dtype, __metadata__ strings. Every length is checked against the file; nothing more.
 *   st_file f; if (st_open(&f, path) == 0) { float *x = st_get(&f, "output", "F32", 4, ...); }
 */
#ifndef AF_TEST_ST_READER_H
#define AF_TEST_ST_READER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "testutil.h"

typedef struct st_file {
    unsigned char *buf;
    size_t len;
    cJSON *hdr;
    size_t data_off;
} st_file;

static inline int st_open(st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->buf = t_read_file(path, &f->len);
    if (!f->buf || f->len < 8)
        return -1;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | f->buf[i];
    if (hl > f->len - 8)
        return -1;
    f->hdr = cJSON_ParseWithLength((const char *)f->buf + 8, (size_t)hl);
    f->data_off = 8 + (size_t)hl;
    return f->hdr ? 0 : -1;
}

static inline void st_close(st_file *f)
{
    cJSON_Delete(f->hdr);
    free(f->buf);
}

/* Copy of a tensor's data (malloc'd, free it); shape (up to 8 dims), *ndim and *numel
 * filled. NULL if absent, of another dtype, or its bytes do not fit the file. */
static inline void *st_get(const st_file *f, const char *name, const char *dtype, size_t esize,
                    int64_t *shape, int *ndim, size_t *numel)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f->hdr, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || strcmp(dt->valuestring, dtype) || !cJSON_IsArray(sh) ||
        cJSON_GetArraySize(off) != 2)
        return NULL;
    size_t n = 1;
    int nd = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sh)
    {
        if (nd < 8)
            shape[nd] = (int64_t)e->valuedouble;
        n *= (size_t)e->valuedouble;
        nd++;
    }
    size_t s = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
    size_t en = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
    if (en < s || en - s != n * esize || f->data_off + en > f->len)
        return NULL;
    void *out = malloc(n * esize + 1);
    if (!out)
        return NULL;
    memcpy(out, f->buf + f->data_off + s, n * esize);
    *ndim = nd;
    *numel = n;
    return out;
}

/* Parses a JSON string stored in __metadata__[key]. */
static inline cJSON *st_meta_json(const st_file *f, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->hdr, "__metadata__");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? cJSON_Parse(v->valuestring) : NULL;
}

/* A __metadata__ string (NULL if absent); valid until st_close. */
static inline const char *st_meta(const st_file *f, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->hdr, "__metadata__");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

#endif
