#include "io/zip_reader.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "core/error.h"

struct af_zip {
    zip_t *za;
    size_t count;
    char name[128]; /* for messages */
};

static void set_name(af_zip *z, const char *name)
{
    snprintf(z->name, sizeof z->name, "%s", name && *name ? name : "zip");
}

af_status af_zip_open_memory(const void *buf, size_t len, const char *name, af_zip **out,
                             af_error *err)
{
    *out = NULL;
    const char *nm = name && *name ? name : "zip";
    if (!buf && len)
        return af_fail(err, AF_E_ARG, "%s: no data", nm);
    af_zip *z = calloc(1, sizeof *z);
    if (!z)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", nm);
    set_name(z, name);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(len ? buf : "", len, 0, &ze);
    if (!src) {
        af_status st = af_fail(err, AF_E_NOMEM, "%s: cannot open zip: %s", nm,
                               zip_error_strerror(&ze));
        zip_error_fini(&ze);
        free(z);
        return st;
    }
    z->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z->za) {
        af_status st = af_fail(err, AF_E_FORMAT, "%s: not a valid zip archive (%s)", nm,
                               zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        free(z);
        return st;
    }
    zip_error_fini(&ze);
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    if (n < 0 || (uint64_t)n > AF_ZIP_MAX_ENTRIES) {
        af_zip_close(z);
        return af_fail(err, AF_E_LIMIT, "%s: zip has %lld entries (max %d)", nm, (long long)n,
                       AF_ZIP_MAX_ENTRIES);
    }
    z->count = (size_t)n;
    *out = z;
    return AF_OK;
}

void af_zip_close(af_zip *z)
{
    if (!z)
        return;
    if (z->za)
        zip_discard(z->za);
    free(z);
}

size_t af_zip_count(const af_zip *z)
{
    return z ? z->count : 0;
}

const char *af_zip_name(const af_zip *z, size_t i)
{
    if (!z || i >= z->count)
        return NULL;
    return zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
}

int af_zip_find(const af_zip *z, const char *entry, size_t *index)
{
    if (!z || !entry)
        return 1;
    zip_int64_t i = zip_name_locate(z->za, entry, ZIP_FL_ENC_RAW);
    if (i < 0 || (uint64_t)i >= z->count)
        return 1;
    if (index)
        *index = (size_t)i;
    return 0;
}

static af_status stat_entry(const af_zip *z, const char *entry, size_t *index, size_t *size,
                            af_error *err)
{
    if (af_zip_find(z, entry, index))
        return af_fail(err, AF_E_FORMAT, "%s: zip entry '%s' is missing", z->name, entry);
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(z->za, (zip_uint64_t)*index, ZIP_FL_ENC_RAW, &sb) != 0 ||
        !(sb.valid & ZIP_STAT_SIZE))
        return af_fail(err, AF_E_FORMAT, "%s: cannot stat zip entry '%s': %s", z->name, entry,
                       zip_strerror(z->za));
    if (sb.size > (zip_uint64_t)SIZE_MAX - 1)
        return af_fail(err, AF_E_LIMIT, "%s: zip entry '%s' is too large", z->name, entry);
    *size = (size_t)sb.size;
    return AF_OK;
}

af_status af_zip_entry_size(const af_zip *z, const char *entry, size_t *size, af_error *err)
{
    size_t idx;
    return stat_entry(z, entry, &idx, size, err);
}

af_status af_zip_read(af_zip *z, const char *entry, size_t max_size, void **out, size_t *len,
                      af_error *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    size_t idx, size;
    af_status st = stat_entry(z, entry, &idx, &size, err);
    if (st)
        return st;
    if (size > max_size)
        return af_fail(err, AF_E_LIMIT, "%s: zip entry '%s' is %zu bytes (limit %zu)", z->name,
                       entry, size, max_size);
    unsigned char *buf = malloc(size + 1);
    if (!buf)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory reading zip entry '%s' (%zu bytes)",
                       z->name, entry, size);
    zip_file_t *f = zip_fopen_index(z->za, (zip_uint64_t)idx, 0);
    if (!f) {
        free(buf);
        return af_fail(err, AF_E_FORMAT, "%s: cannot open zip entry '%s': %s", z->name, entry,
                       zip_strerror(z->za));
    }
    size_t got = 0;
    while (got < size) {
        zip_int64_t r = zip_fread(f, buf + got, (zip_uint64_t)(size - got));
        if (r < 0) {
            st = af_fail(err, AF_E_FORMAT, "%s: corrupt zip entry '%s': %s", z->name, entry,
                         zip_error_strerror(zip_file_get_error(f)));
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got != size) {
        st = af_fail(err, AF_E_FORMAT, "%s: zip entry '%s' is truncated (%zu of %zu bytes)",
                     z->name, entry, got, size);
        goto fail;
    }
    { /* read to the end so that libzip verifies the CRC; extra data is an error */
        unsigned char extra;
        zip_int64_t r = zip_fread(f, &extra, 1);
        if (r != 0) {
            st = af_fail(err, AF_E_FORMAT, "%s: corrupt zip entry '%s': %s", z->name, entry,
                         r < 0 ? zip_error_strerror(zip_file_get_error(f))
                               : "more data than its recorded size");
            goto fail;
        }
    }
    zip_fclose(f);
    buf[size] = 0;
    *out = buf;
    if (len)
        *len = size;
    return AF_OK;
fail:
    zip_fclose(f);
    free(buf);
    return st;
}
