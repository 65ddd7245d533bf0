#include "core/tensor.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [AF_DT_F32] = {"F32", 4}, [AF_DT_F16] = {"F16", 2}, [AF_DT_BF16] = {"BF16", 2},
    [AF_DT_F64] = {"F64", 8}, [AF_DT_I64] = {"I64", 8}, [AF_DT_I32] = {"I32", 4},
    [AF_DT_I16] = {"I16", 2}, [AF_DT_I8] = {"I8", 1},   [AF_DT_U8] = {"U8", 1},
    [AF_DT_BOOL] = {"BOOL", 1},
};

size_t af_dtype_size(af_dtype t)
{
    return (unsigned)t < sizeof dtype_info / sizeof dtype_info[0] ? dtype_info[t].size : 0;
}

const char *af_dtype_name(af_dtype t)
{
    return (unsigned)t < sizeof dtype_info / sizeof dtype_info[0] ? dtype_info[t].name : "?";
}

int af_dtype_from_name(const char *name, af_dtype *out)
{
    for (size_t i = 0; i < sizeof dtype_info / sizeof dtype_info[0]; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (af_dtype)i;
            return 0;
        }
    }
    return 1;
}

int af_shape_numel(const int64_t *shape, int ndim, size_t *out)
{
    size_t n = 1;
    if (ndim < 0 || ndim > AF_MAX_DIMS)
        return 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || af_mul_size(n, (size_t)shape[i], &n))
            return 1;
    }
    *out = n;
    return 0;
}

af_status af_tensor_list_add(af_tensor_list *l, const char *name, af_dtype dt, int ndim,
                             const int64_t *shape, void *data, size_t nbytes, af_error *err)
{
    if (ndim < 0 || ndim > AF_MAX_DIMS) {
        free(data);
        return af_fail(err, AF_E_LIMIT, "tensor '%s' has %d dimensions (max %d)", name, ndim,
                       AF_MAX_DIMS);
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        af_tensor *items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            free(data);
            return af_fail(err, AF_E_NOMEM, "out of memory adding tensor '%s'", name);
        }
        l->items = items;
        l->cap = cap;
    }
    af_tensor *t = &l->items[l->count];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        free(data);
        return af_fail(err, AF_E_NOMEM, "out of memory adding tensor '%s'", name);
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    l->count++;
    return AF_OK;
}

const af_tensor *af_tensor_list_find(const af_tensor_list *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    return NULL;
}

af_tensor *af_tensor_list_find_mut(af_tensor_list *l, const char *name)
{
    return (af_tensor *)af_tensor_list_find(l, name);
}

void af_tensor_list_free(af_tensor_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].name);
        free(l->items[i].data);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

float af_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t af_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (absx < 0x33000000u)
            return (uint16_t)sign;
        /* value = man * 2^(e-150); a half subnormal counts units of 2^-24 */
        uint32_t e = absx >> 23;
        uint32_t man = (absx & 0x7fffff) | 0x800000;
        uint32_t s = 126 - e; /* 14..23 */
        uint32_t q = man >> s;
        uint32_t rem = man & ((1u << s) - 1);
        uint32_t half = 1u << (s - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t e = (absx >> 23) - 127 + 15;
    uint32_t man = absx & 0x7fffff;
    uint32_t q = (e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
        q++;
    return (uint16_t)(sign | q);
}

float af_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

af_status af_tensor_to_f32(const af_tensor *t, float **out, size_t *n, af_error *err)
{
    size_t numel;
    if (af_shape_numel(t->shape, t->ndim, &numel))
        return af_fail(err, AF_E_LIMIT, "tensor '%s': element count overflows", t->name);
    size_t es = af_dtype_size(t->dtype), need;
    if (af_mul_size(numel, es, &need) || need > t->nbytes)
        return af_fail(err, AF_E_FORMAT, "tensor '%s': %zu bytes of data for %zu elements",
                       t->name, t->nbytes, numel);
    float *f = malloc((numel ? numel : 1) * sizeof *f);
    if (!f)
        return af_fail(err, AF_E_NOMEM, "tensor '%s': out of memory", t->name);
    const uint8_t *p = t->data;
    for (size_t i = 0; i < numel; i++) {
        switch (t->dtype) {
        case AF_DT_F32: memcpy(&f[i], p + 4 * i, 4); break;
        case AF_DT_F16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            f[i] = af_f16_to_f32(h);
            break;
        }
        case AF_DT_BF16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            f[i] = af_bf16_to_f32(h);
            break;
        }
        case AF_DT_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            f[i] = (float)d;
            break;
        }
        default:
            free(f);
            return af_fail(err, AF_E_FORMAT, "tensor '%s' has dtype %s, expected a float type",
                           t->name, af_dtype_name(t->dtype));
        }
    }
    *out = f;
    *n = numel;
    return AF_OK;
}
