/* numpy's default argsort (npysort/quicksort.cpp aquicksort_, numpy 1.24: no
 * SIMD dispatch): median-of-3 quicksort while a partition spans more than 16
 * elements (SMALL_QUICKSORT 15: pr - pl > 15), insertion sort at 16 or fewer,
 * heapsort past a depth of 2*floor(log2(n)); NaN sorts last. Not stable: the
 * order of equal keys is numpy's, which decides e.g. which of several images
 * with the same aspect ratio falls into which validation batch. */
#include <stddef.h>

#include "eval/metrics.h"

#define NP_SMALL_QUICKSORT 15 /* numpy's SMALL_QUICKSORT */
#define NP_QS_STACK 128

#define DEFINE_NP_ARGSORT(NAME, T) \
/* numpy's float ordering: NaN sorts last */ \
static int NAME##_less(T a, T b) \
{ \
    return a < b || (b != b && a == a); \
} \
 \
static void NAME##_swap(size_t *a, size_t *b) \
{ \
    size_t t = *a; \
    *a = *b; \
    *b = t; \
} \
 \
/* numpy aheapsort_ on tosort[0..n-1] */ \
static void NAME##_heap(const T *v, size_t *tosort, size_t n) \
{ \
    size_t *a = tosort - 1; /* 1-based heap indexing, a[1..n] */ \
    size_t i, j, l, tmp; \
    for (l = n >> 1; l > 0; --l) { \
        tmp = a[l]; \
        for (i = l, j = l << 1; j <= n;) { \
            if (j < n && NAME##_less(v[a[j]], v[a[j + 1]])) \
                j += 1; \
            if (NAME##_less(v[tmp], v[a[j]])) { \
                a[i] = a[j]; \
                i = j; \
                j += j; \
            } else { \
                break; \
            } \
        } \
        a[i] = tmp; \
    } \
    for (; n > 1;) { \
        tmp = a[n]; \
        a[n] = a[1]; \
        n -= 1; \
        for (i = 1, j = 2; j <= n;) { \
            if (j < n && NAME##_less(v[a[j]], v[a[j + 1]])) \
                j++; \
            if (NAME##_less(v[tmp], v[a[j]])) { \
                a[i] = a[j]; \
                i = j; \
                j += j; \
            } else { \
                break; \
            } \
        } \
        a[i] = tmp; \
    } \
} \
 \
 \
/* numpy aquicksort_ (npysort/quicksort.cpp): median-of-3 quicksort, insertion \
 * sort at 16 elements or fewer, heapsort past a depth of 2*floor(log2(n)). */ \
void NAME(const T *v, size_t n, size_t *idx) \
{ \
    for (size_t i = 0; i < n; i++) \
        idx[i] = i; \
    if (n < 2) \
        return; \
    ptrdiff_t pl = 0, pr = (ptrdiff_t)n - 1; \
    ptrdiff_t stack[NP_QS_STACK], *sptr = stack; \
    int depth[NP_QS_STACK], *psdepth = depth; \
    int cdepth = 0; \
    for (size_t u = n; u >>= 1;) \
        cdepth++; \
    cdepth *= 2; \
 \
    for (;;) { \
        if (cdepth < 0) { \
            NAME##_heap(v, idx + pl, (size_t)(pr - pl + 1)); \
            goto stack_pop; \
        } \
        while (pr - pl > NP_SMALL_QUICKSORT) { \
            ptrdiff_t pm = pl + ((pr - pl) >> 1); \
            if (NAME##_less(v[idx[pm]], v[idx[pl]])) \
                NAME##_swap(&idx[pm], &idx[pl]); \
            if (NAME##_less(v[idx[pr]], v[idx[pm]])) \
                NAME##_swap(&idx[pr], &idx[pm]); \
            if (NAME##_less(v[idx[pm]], v[idx[pl]])) \
                NAME##_swap(&idx[pm], &idx[pl]); \
            T vp = v[idx[pm]]; \
            ptrdiff_t pi = pl, pj = pr - 1; \
            NAME##_swap(&idx[pm], &idx[pj]); \
            for (;;) { \
                do \
                    ++pi; \
                while (NAME##_less(v[idx[pi]], vp)); \
                do \
                    --pj; \
                while (NAME##_less(vp, v[idx[pj]])); \
                if (pi >= pj) \
                    break; \
                NAME##_swap(&idx[pi], &idx[pj]); \
            } \
            NAME##_swap(&idx[pi], &idx[pr - 1]); \
            /* push the larger partition */ \
            if (pi - pl < pr - pi) { \
                *sptr++ = pi + 1; \
                *sptr++ = pr; \
                pr = pi - 1; \
            } else { \
                *sptr++ = pl; \
                *sptr++ = pi - 1; \
                pl = pi + 1; \
            } \
            *psdepth++ = --cdepth; \
        } \
        /* insertion sort */ \
        for (ptrdiff_t pi = pl + 1; pi <= pr; ++pi) { \
            size_t vi = idx[pi]; \
            T vv = v[vi]; \
            ptrdiff_t pj = pi, pk = pi - 1; \
            while (pj > pl && NAME##_less(vv, v[idx[pk]])) \
                idx[pj--] = idx[pk--]; \
            idx[pj] = vi; \
        } \
    stack_pop: \
        if (sptr == stack) \
            break; \
        pr = *(--sptr); \
        pl = *(--sptr); \
        cdepth = *(--psdepth); \
    } \
} \

DEFINE_NP_ARGSORT(af_np_argsort_f32, float)
DEFINE_NP_ARGSORT(af_np_argsort_f64, double)
