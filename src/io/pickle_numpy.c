#include "io/pickle_numpy.h"

#include <string.h>

#include "core/tensor.h"

int af_np_dtype_of(const af_pk_value *rec, af_np_dtype *out)
{
    memset(out, 0, sizeof *out);
    if (!rec || rec->kind != AF_PK_OBJECT || !af_pk_is_call_of(rec, "numpy", "dtype"))
        return 1;
    const af_pk_value *a = rec->u.obj.args;
    const char *ts = a && a->kind == AF_PK_TUPLE && a->u.seq.count >= 1
                         ? af_pk_str(a->u.seq.items[0])
                         : NULL;
    if (!ts || strlen(ts) != 2 || ts[1] < '1' || ts[1] > '8')
        return 1;
    int size = ts[1] - '0';
    char kind = ts[0];
    int pow2 = (size & (size - 1)) == 0;
    if (!((kind == 'b' && size == 1) || ((kind == 'i' || kind == 'u') && pow2) ||
          (kind == 'f' && pow2 && size >= 2)))
        return 1;
    /* byte order: state[1] of the BUILD state; '<' '|' '=' little (all
     * hosts animeface runs on), '>' big */
    const af_pk_value *s = rec->u.obj.state;
    const char *order = s && s->kind == AF_PK_TUPLE && s->u.seq.count >= 2
                            ? af_pk_str(s->u.seq.items[1])
                            : "|";
    if (!order || (strcmp(order, "<") && strcmp(order, ">") && strcmp(order, "|") &&
                   strcmp(order, "=")))
        return 1;
    out->kind = kind;
    out->size = size;
    out->big = !strcmp(order, ">") && size > 1;
    return 0;
}

void af_np_decode(const af_np_dtype *dt, const uint8_t *p, af_pk_value *v)
{
    uint64_t x = 0;
    for (int i = 0; i < dt->size; i++)
        x |= (uint64_t)p[dt->big ? dt->size - 1 - i : i] << (8 * i);
    int bits = dt->size * 8;
    switch (dt->kind) {
    case 'b':
        v->kind = AF_PK_BOOL;
        v->u.b = x != 0;
        return;
    case 'i':
        v->kind = AF_PK_INT;
        if (bits < 64 && (x >> (bits - 1)) & 1)
            x |= ~(uint64_t)0 << bits; /* sign-extend */
        v->u.i = (int64_t)x;
        return;
    case 'u':
        if (x > (uint64_t)INT64_MAX) {
            v->kind = AF_PK_FLOAT;
            v->u.f = (double)x;
        } else {
            v->kind = AF_PK_INT;
            v->u.i = (int64_t)x;
        }
        return;
    default: /* 'f' */
        v->kind = AF_PK_FLOAT;
        if (dt->size == 2) {
            v->u.f = af_f16_to_f32((uint16_t)x);
        } else if (dt->size == 4) {
            uint32_t w = (uint32_t)x;
            float f;
            memcpy(&f, &w, 4);
            v->u.f = f;
        } else {
            double d;
            memcpy(&d, &x, 8);
            v->u.f = d;
        }
        return;
    }
}
