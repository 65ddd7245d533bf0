/*
 * Whole-file helpers shared by the readers and writers of model files.
 */
#ifndef AF_IO_FILE_H
#define AF_IO_FILE_H

#include <stddef.h>

#include "animeface.h"

/* Reads a whole regular file into a malloc'd buffer (files larger than
 * max_size give AF_E_LIMIT). */
af_status af_read_file_all(const char *path, size_t max_size, void **out, size_t *len,
                           af_error *err);
/* Writes len bytes to path atomically (tmp file in the same dir, fsync, rename). */
af_status af_write_file_atomic(const char *path, const void *data, size_t len, af_error *err);

#endif
