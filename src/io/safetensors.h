/*
 * safetensors files: an 8-byte little-endian header length, a JSON header
 * {"name": {"dtype","shape","data_offsets"}, ..., "__metadata__": {str: str}},
 * then the raw little-endian data. Reading validates everything (lengths,
 * dtypes, shapes against byte counts, offsets in range, no overlaps or gaps);
 * writing puts tensors in order of decreasing element size so each is aligned
 * to its element size with no padding, pads the header to 8 bytes, and
 * replaces the file atomically.
 */
#ifndef AF_IO_SAFETENSORS_H
#define AF_IO_SAFETENSORS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/tensor.h"

#define AF_ST_MAX_HEADER ((size_t)100 << 20) /* 100 MiB of JSON */
#define AF_ST_MAX_TENSORS 1000000
#define AF_ST_MAX_FILE ((size_t)4 << 30)

typedef struct af_safetensors {
    af_tensor_list tensors; /* in header order; data copied out of the file */
    cJSON *metadata;        /* the "__metadata__" object (string values) or NULL */
} af_safetensors;

/* Parses a safetensors image in memory. name is used in messages. */
af_status af_safetensors_parse(const void *buf, size_t len, const char *name,
                               af_safetensors *out, af_error *err);
af_status af_safetensors_read_file(const char *path, af_safetensors *out, af_error *err);
void af_safetensors_free(af_safetensors *st);

/* Serializes tensors (any af_dtype) and optional metadata (an object; string
 * values are stored as they are, other values as their JSON text) into a new
 * malloc'd buffer. */
af_status af_safetensors_serialize(const af_tensor_list *tensors, const cJSON *metadata,
                                   void **out, size_t *len, af_error *err);
/* Serializes and writes atomically: a temporary file in the same directory,
 * fsync, rename over path. */
af_status af_safetensors_write_file(const char *path, const af_tensor_list *tensors,
                                    const cJSON *metadata, af_error *err);

/* Sets metadata[key] = value (a string) in the file at path, keeping every tensor and
 * the other entries; the file is replaced atomically. */
af_status af_safetensors_set_metadata(const char *path, const char *key, const char *value,
                                      af_error *err);

#endif
