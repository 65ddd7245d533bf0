/* 64-byte aligned buffers (a cache line; what the AVX2/AVX-512 kernels and
 * oneDNN prefer), sizes rounded up to a multiple of 64, freed with free().
 * af_zalloc64 also zero-fills them. NULL when out of memory. */
#ifndef AF_CORE_ALIGNED_H
#define AF_CORE_ALIGNED_H

#include <stdlib.h>
#include <string.h>

static inline void *af_alloc64(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, n ? n : 64);
}

static inline void *af_zalloc64(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n ? n : 64);
    if (p)
        memset(p, 0, n ? n : 64);
    return p;
}

#endif
