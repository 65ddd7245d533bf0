#include "serve/crop_zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "core/error.h"

/* The upload's name without folders or extension, kept to safe characters. */
static void stem_of(const char *name, char *out, size_t cap)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *bs = strrchr(base, '\\');
    base = bs ? bs + 1 : base;
    size_t n = 0;
    for (const char *p = base; *p && n + 1 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '.' && !strchr(p + 1, '.'))
            break;
        out[n++] = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                           (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_' || ch == '.'
                       ? (char)ch
                       : '_';
    }
    out[n] = '\0';
    if (!n || out[0] == '.')
        snprintf(out, cap, "image");
}

/* Adds a malloc'd buffer to the archive, which frees it. */
static af_status add_entry(zip_t *z, const char *name, void *data, size_t len, af_error *err)
{
    zip_source_t *s = zip_source_buffer(z, data, len, 1);
    if (!s) {
        free(data);
        return af_fail(err, AF_E_NOMEM, "zip: %s", zip_strerror(z));
    }
    if (zip_file_add(z, name, s, ZIP_FL_ENC_UTF_8) < 0) {
        zip_source_free(s);
        return af_fail(err, AF_E_INTERNAL, "zip: %s", zip_strerror(z));
    }
    return AF_OK;
}

/* Closes the archive built on src and copies its bytes out. */
static af_status finish(zip_t *z, zip_source_t *src, uint8_t **out, size_t *len, af_error *err)
{
    zip_source_keep(src);
    if (zip_close(z) < 0) {
        af_fail(err, AF_E_INTERNAL, "zip: %s", zip_strerror(z));
        zip_discard(z);
        zip_source_free(src);
        return AF_E_INTERNAL;
    }
    zip_stat_t st;
    af_status rc = AF_OK;
    if (zip_source_stat(src, &st) < 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(src) < 0) {
        zip_source_free(src);
        return af_fail(err, AF_E_INTERNAL, "zip: cannot read the archive back");
    }
    *out = malloc(st.size ? st.size : 1);
    if (!*out)
        rc = af_fail(err, AF_E_NOMEM, "out of memory for the zip");
    else if (zip_source_read(src, *out, st.size) != (zip_int64_t)st.size)
        rc = af_fail(err, AF_E_INTERNAL, "zip: short read of the archive");
    zip_source_close(src);
    zip_source_free(src);
    if (rc) {
        free(*out);
        *out = NULL;
    } else {
        *len = st.size;
    }
    return rc;
}

af_status serve_crop_zip(const af_image *img, const af_detection *d, int n,
                         const serve_crop_params *c, const serve_crop_source *src, uint8_t **zip,
                         size_t *len, af_error *err)
{
    *zip = NULL;
    *len = 0;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *zs = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = zs ? zip_open_from_source(zs, ZIP_TRUNCATE, &ze) : NULL;
    if (!z) {
        af_fail(err, AF_E_NOMEM, "zip: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        if (zs)
            zip_source_free(zs);
        return AF_E_NOMEM;
    }
    zip_error_fini(&ze);
    char *man = NULL;
    size_t man_len = 0;
    FILE *mf = open_memstream(&man, &man_len);
    af_status st = mf ? AF_OK : af_fail(err, AF_E_NOMEM, "out of memory for the manifest");
    char stem[100];
    size_t total = 0;
    stem_of(src->name, stem, sizeof stem);
    crop_cfg cfg = c->cfg;
    cfg.m = src->m;
    cfg.model_name = src->model;
    cfg.model_sha256 = src->model_sha256;
    int *keep = malloc((size_t)(n > 0 ? n : 1) * sizeof *keep);
    if (!keep && !st)
        st = af_fail(err, AF_E_NOMEM, "out of memory");
    int nk = st ? 0 : af_face_select(d, n, img->w, img->h, &cfg.sel, keep);
    for (int i = 0; i < nk && !st; i++) {
        char file[160], msg[1200];
        uint8_t *bytes = NULL;
        size_t nb = 0;
        if (crop_encode(&cfg, src->name, stem, i, img, &d[keep[i]], mf, file, sizeof file, &bytes,
                        &nb, msg, sizeof msg)) {
            st = af_fail(err, AF_E_ARG, "%s", msg);
            break;
        }
        total += nb;
        if (c->max_bytes && total > c->max_bytes) {
            free(bytes);
            st = af_fail(err, AF_E_LIMIT,
                         "the crops are over %zu MiB together: ask for a smaller size, a higher "
                         "conf or a lower max_det",
                         c->max_bytes >> 20);
            break;
        }
        st = add_entry(z, file, bytes, nb, err);
    }
    free(keep);
    if (mf && fclose(mf) && !st)
        st = af_fail(err, AF_E_NOMEM, "out of memory for the manifest");
    if (!st) {
        /* no crops: an empty manifest (libzip keeps a zero-length buffer it was to free) */
        if (!man_len) {
            free(man);
            man = NULL;
        }
        st = add_entry(z, "manifest.jsonl", man, man_len, err);
        man = NULL;
    }
    free(man);
    if (st) {
        zip_discard(z);
        return st;
    }
    return finish(z, zs, zip, len, err);
}
