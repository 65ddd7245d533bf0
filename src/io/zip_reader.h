/* Read-only access to a zip archive held in memory (libzip), with size limits. */
#ifndef AF_IO_ZIP_READER_H
#define AF_IO_ZIP_READER_H

#include <stddef.h>

#include "animeface.h"

#define AF_ZIP_MAX_ENTRIES 1000000

typedef struct af_zip af_zip;

/* Opens a zip archive from buf (which must stay valid until af_zip_close).
 * name is used in error messages (e.g. the file name). A corrupt or non-zip
 * buffer gives AF_E_FORMAT. */
af_status af_zip_open_memory(const void *buf, size_t len, const char *name, af_zip **out,
                             af_error *err);
void af_zip_close(af_zip *z);

/* Number of entries, and the name of entry i (NULL if out of range). */
size_t af_zip_count(const af_zip *z);
const char *af_zip_name(const af_zip *z, size_t i);

/* Index of the entry with exactly this name; 0 if found, nonzero if not. */
int af_zip_find(const af_zip *z, const char *entry, size_t *index);

/* Uncompressed size of an entry as recorded in the archive. */
af_status af_zip_entry_size(const af_zip *z, const char *entry, size_t *size, af_error *err);

/* Reads a whole entry into a newly malloc'd buffer (one extra NUL byte is
 * appended, not counted in *len). Entries bigger than max_size give AF_E_LIMIT;
 * a missing entry AF_E_FORMAT; CRC or decompression errors AF_E_FORMAT. */
af_status af_zip_read(af_zip *z, const char *entry, size_t max_size, void **out, size_t *len,
                      af_error *err);

#endif
