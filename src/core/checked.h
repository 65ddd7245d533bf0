/* Overflow-checked size arithmetic. Each returns 0 on success, 1 on overflow. */
#ifndef AF_CORE_CHECKED_H
#define AF_CORE_CHECKED_H

#include <stddef.h>
#include <stdint.h>

static inline int af_mul_size(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

static inline int af_add_size(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

static inline int af_mul3_size(size_t a, size_t b, size_t c, size_t *out)
{
    size_t t;
    return af_mul_size(a, b, &t) || af_mul_size(t, c, out);
}

#endif
