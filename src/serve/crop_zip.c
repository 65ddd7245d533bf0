#include "serve/crop_zip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "cli/jsonl.h"
#include "core/error.h"
#include "detect/resize.h"

static void place(double lo, double hi, int need, int limit, int *a, int *b)
{
    if (need > limit)
        need = limit;
    if (need < 1)
        need = 1;
    double c = (lo + hi) / 2;
    long x = lround(c - need / 2.0);
    if (x > limit - need)
        x = limit - need;
    if (x < 0)
        x = 0;
    *a = (int)x;
    *b = (int)x + need;
}

static int ceil_px(double v)
{
    return v > 1e9 ? 1000000000 : v < 1 ? 1 : (int)ceil(v);
}

void serve_crop_rect(const af_detection *d, int w, int h, double margin, int square, int r[4])
{
    double bw = (double)d->x2 - d->x1, bh = (double)d->y2 - d->y1;
    double x1 = d->x1 - margin * bw, x2 = d->x2 + margin * bw;
    double y1 = d->y1 - margin * bh, y2 = d->y2 + margin * bh;
    int cw = ceil_px(x2 - x1), ch = ceil_px(y2 - y1);
    if (square) {
        int s = cw > ch ? cw : ch;
        int lim = w < h ? w : h;
        cw = ch = s < lim ? s : lim;
    }
    place(x1, x2, cw, w, &r[0], &r[2]);
    place(y1, y2, ch, h, &r[1], &r[3]);
}

void serve_crop_out_size(const serve_crop_params *c, int cw, int ch, int *ow, int *oh)
{
    *ow = cw;
    *oh = ch;
    if (c->size_w > 0) {
        *ow = c->size_w;
        *oh = c->size_h;
    } else if (c->size_n > 0) {
        if (cw >= ch) {
            *ow = c->size_n;
            *oh = (int)lround((double)ch * c->size_n / cw);
        } else {
            *oh = c->size_n;
            *ow = (int)lround((double)cw * c->size_n / ch);
        }
        if (*ow < 1)
            *ow = 1;
        if (*oh < 1)
            *oh = 1;
    }
}

/* The pixels of rectangle r, resized to ow x oh. */
static af_status cut(const af_image *img, const int r[4], int ow, int oh, af_image *out,
                     af_error *err)
{
    int cw = r[2] - r[0], ch = r[3] - r[1];
    af_image part = {0};
    af_status st = af_image_alloc(&part, cw, ch, 3, err);
    if (st)
        return st;
    for (int y = 0; y < ch; y++)
        memcpy(part.data + (size_t)y * cw * 3, img->data + ((size_t)(r[1] + y) * img->w + r[0]) * 3,
               (size_t)cw * 3);
    if (ow == cw && oh == ch) {
        *out = part;
        return AF_OK;
    }
    st = af_resize_linear_u8(&part, ow, oh, out, err);
    af_image_free(&part);
    return st;
}

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

static void manifest_record(FILE *f, const serve_crop_source *src, const char *file, const int r[4],
                            const af_detection *d, int ow, int oh)
{
    double sx = (double)ow / (r[2] - r[0]), sy = (double)oh / (r[3] - r[1]);
    fputs("{\"source\": ", f);
    jsonl_write_string(f, src->name);
    fputs(", \"crop\": ", f);
    jsonl_write_string(f, file);
    fprintf(f,
            ", \"rect\": [%d, %d, %d, %d], \"box\": [%.9g, %.9g, %.9g, %.9g], \"box_in_crop\": "
            "[%.9g, %.9g, %.9g, %.9g], \"size\": [%d, %d], \"conf\": %.9g, \"cls\": %d, "
            "\"name\": ",
            r[0], r[1], r[2], r[3], d->x1, d->y1, d->x2, d->y2, (d->x1 - r[0]) * sx,
            (d->y1 - r[1]) * sy, (d->x2 - r[0]) * sx, (d->y2 - r[1]) * sy, ow, oh, d->conf, d->cls);
    jsonl_write_string(f, af_model_class_name(src->m, d->cls));
    fputs(", \"model\": ", f);
    jsonl_write_string(f, src->model);
    fputs(", \"model_sha256\": ", f);
    jsonl_write_string(f, src->model_sha256);
    fputs("}\n", f);
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
    for (int i = 0; i < n && !st; i++) {
        int r[4], ow, oh;
        serve_crop_rect(&d[i], img->w, img->h, c->margin, c->square, r);
        serve_crop_out_size(c, r[2] - r[0], r[3] - r[1], &ow, &oh);
        af_image crop = {0};
        uint8_t *bytes = NULL;
        size_t nb = 0;
        if ((st = cut(img, r, ow, oh, &crop, err)))
            break;
        st = af_image_encode(&crop, c->format, c->quality, &bytes, &nb, err);
        af_image_free(&crop);
        if (st)
            break;
        total += nb;
        if (c->max_bytes && total > c->max_bytes) {
            free(bytes);
            st = af_fail(err, AF_E_LIMIT,
                         "the crops are over %zu MiB together: ask for a smaller size, a higher "
                         "conf or a lower max_det",
                         c->max_bytes >> 20);
            break;
        }
        char file[160];
        snprintf(file, sizeof file, "%s_%d.%s", stem, i, c->ext);
        if ((st = add_entry(z, file, bytes, nb, err)))
            break;
        manifest_record(mf, src, file, r, &d[i], ow, oh);
    }
    if (mf && fclose(mf) && !st)
        st = af_fail(err, AF_E_NOMEM, "out of memory for the manifest");
    if (!st) {
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
