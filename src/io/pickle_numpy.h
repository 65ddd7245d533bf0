/*
 * numpy values inside pickles, read as plain data (src/io/pickle.c uses it):
 * a dtype's type string and byte order ('f8', '<') and the decoding of one
 * element's bytes into a bool, int or float value. Nothing is executed.
 */
#ifndef AF_IO_PICKLE_NUMPY_H
#define AF_IO_PICKLE_NUMPY_H

#include <stddef.h>
#include <stdint.h>

#include "io/pickle.h"

typedef struct af_np_dtype {
    char kind;  /* 'b' bool, 'i' signed, 'u' unsigned, 'f' float */
    int size;   /* bytes per element: 1, 2, 4 or 8 */
    int big;    /* 1 if big-endian */
} af_np_dtype;

/* The dtype of a numpy.dtype record (its args ('f8', False, True) and BUILD
 * state (3, '<', ...)). 0 on success; 1 if it is not a numeric type animeface
 * reads (strings, objects, structured, complex, dates): those values stay
 * opaque records. */
int af_np_dtype_of(const af_pk_value *dtype_record, af_np_dtype *out);

/* Sets v (kind and value; nothing allocated) from one element's bytes:
 * AF_PK_BOOL, AF_PK_INT, or AF_PK_FLOAT (also for uint64 above INT64_MAX). */
void af_np_decode(const af_np_dtype *dt, const uint8_t *p, af_pk_value *v);

#endif
