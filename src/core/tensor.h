/* Named n-dimensional tensors as read from checkpoints, and lists of them. */
#ifndef AF_CORE_TENSOR_H
#define AF_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"

#define AF_MAX_DIMS 8

typedef enum af_dtype {
    AF_DT_F32 = 0,
    AF_DT_F16,
    AF_DT_BF16,
    AF_DT_F64,
    AF_DT_I64,
    AF_DT_I32,
    AF_DT_I16,
    AF_DT_I8,
    AF_DT_U8,
    AF_DT_BOOL
} af_dtype;

size_t af_dtype_size(af_dtype t);
const char *af_dtype_name(af_dtype t); /* safetensors spelling: "F32", "F16", ... */
int af_dtype_from_name(const char *name, af_dtype *out); /* 0 on success */

typedef struct af_tensor {
    char *name;  /* owned */
    af_dtype dtype;
    int ndim;
    int64_t shape[AF_MAX_DIMS];
    void *data;  /* owned, contiguous, little-endian, row-major */
    size_t nbytes;
} af_tensor;

/* Element count; returns 0 on success, nonzero if a dim is negative or it overflows. */
int af_shape_numel(const int64_t *shape, int ndim, size_t *out);

typedef struct af_tensor_list {
    af_tensor *items;
    size_t count, cap;
} af_tensor_list;

/* Appends a tensor: copies name, takes ownership of data (freed with the list,
 * also on failure). */
af_status af_tensor_list_add(af_tensor_list *l, const char *name, af_dtype dt, int ndim,
                             const int64_t *shape, void *data, size_t nbytes, af_error *err);
const af_tensor *af_tensor_list_find(const af_tensor_list *l, const char *name);
af_tensor *af_tensor_list_find_mut(af_tensor_list *l, const char *name);
void af_tensor_list_free(af_tensor_list *l);

/* Converts any float dtype (F32/F16/BF16/F64) to a newly malloc'd float array. */
af_status af_tensor_to_f32(const af_tensor *t, float **out, size_t *n, af_error *err);

float af_f16_to_f32(uint16_t h);
uint16_t af_f32_to_f16(float f); /* round to nearest even, as torch .half() */
float af_bf16_to_f32(uint16_t h);

#endif
