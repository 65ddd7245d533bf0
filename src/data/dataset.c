/* A split of a YOLO dataset: image list, label files, per-image state and counts, as
 * ultralytics 8.1.9's YOLODataset.cache_labels builds them (no cache file). Also the header
 * check of an image (PIL's verify + size check, reduced to what animeface decodes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/checked.h"
#include "core/error.h"
#include "data/dataset.h"
#include "io/file_kind.h"
#include "io/image.h"

#define DATASET_MAX_IMAGES ((size_t)1 << 26)

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static af_status probe_jpeg(FILE *f, int *w, int *h, af_error *err)
{
    if (fseek(f, 2, SEEK_SET))
        return af_fail(err, AF_E_FORMAT, "cannot read the JPEG header");
    for (int guard = 0; guard < 100000; guard++) {
        int c = fgetc(f);
        if (c == EOF)
            return af_fail(err, AF_E_FORMAT, "truncated JPEG header (no frame size found)");
        if (c != 0xFF)
            continue; /* stray bytes between segments: tolerated like libjpeg */
        int m;
        do
            m = fgetc(f);
        while (m == 0xFF);
        if (m == EOF)
            return af_fail(err, AF_E_FORMAT, "truncated JPEG header");
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue;
        if (m == 0xD9 || m == 0xDA)
            return af_fail(err, AF_E_FORMAT, "JPEG without a frame header");
        unsigned char b[7];
        if (fread(b, 1, 2, f) != 2)
            return af_fail(err, AF_E_FORMAT, "truncated JPEG header");
        unsigned len = be16(b);
        if (len < 2)
            return af_fail(err, AF_E_FORMAT, "bad JPEG segment length");
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (len < 8 || fread(b, 1, 5, f) != 5)
                return af_fail(err, AF_E_FORMAT, "truncated JPEG frame header");
            *h = (int)be16(b + 1);
            *w = (int)be16(b + 3);
            return AF_OK;
        }
        if (fseek(f, (long)len - 2, SEEK_CUR))
            return af_fail(err, AF_E_FORMAT, "truncated JPEG header");
    }
    return af_fail(err, AF_E_FORMAT, "JPEG header too long");
}

af_status af_image_probe(const char *path, int *w, int *h, const char **format, int *jpeg_no_eoi,
                         af_error *err)
{
    *w = *h = 0;
    *format = NULL;
    *jpeg_no_eoi = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return af_fail(err, AF_E_IO, "cannot open image: %s", strerror(errno));
    unsigned char hd[32] = {0};
    size_t n = fread(hd, 1, sizeof hd, f);
    af_status st = AF_OK;
    if (n >= 3 && hd[0] == 0xFF && hd[1] == 0xD8 && hd[2] == 0xFF) {
        *format = "jpeg";
        st = probe_jpeg(f, w, h, err);
        unsigned char e[2];
        if (st == AF_OK && (fseek(f, -2, SEEK_END) || fread(e, 1, 2, f) != 2 || e[0] != 0xFF ||
                            e[1] != 0xD9))
            *jpeg_no_eoi = 1;
    } else if (n >= 24 && !memcmp(hd, "\x89PNG\r\n\x1a\n", 8) && !memcmp(hd + 12, "IHDR", 4)) {
        *format = "png";
        uint32_t pw = be32(hd + 16), ph = be32(hd + 20);
        *w = pw > 0x7fffffff ? -1 : (int)pw;
        *h = ph > 0x7fffffff ? -1 : (int)ph;
    } else if (n >= 26 && hd[0] == 'B' && hd[1] == 'M') {
        *format = "bmp";
        uint32_t dib = le32(hd + 14);
        if (dib == 12) {
            *w = (int)(hd[18] | hd[19] << 8);
            *h = (int)(hd[20] | hd[21] << 8);
        } else {
            int32_t bw = (int32_t)le32(hd + 18), bh = (int32_t)le32(hd + 22);
            *w = bw;
            *h = bh == INT32_MIN ? -1 : (bh < 0 ? -bh : bh);
        }
    } else if (n >= 30 && !memcmp(hd, "RIFF", 4) && !memcmp(hd + 8, "WEBP", 4)) {
        *format = "webp";
        const unsigned char *d = hd + 20;
        if (!memcmp(hd + 12, "VP8 ", 4) && d[3] == 0x9d && d[4] == 0x01 && d[5] == 0x2a) {
            *w = (int)((d[6] | d[7] << 8) & 0x3fff);
            *h = (int)((d[8] | d[9] << 8) & 0x3fff);
        } else if (!memcmp(hd + 12, "VP8L", 4) && d[0] == 0x2f) {
            uint32_t bits = le32(d + 1);
            *w = (int)(bits & 0x3fff) + 1;
            *h = (int)((bits >> 14) & 0x3fff) + 1;
        } else if (!memcmp(hd + 12, "VP8X", 4)) {
            *w = (int)(d[4] | d[5] << 8 | (uint32_t)d[6] << 16) + 1;
            *h = (int)(d[7] | d[8] << 8 | (uint32_t)d[9] << 16) + 1;
        } else {
            st = af_fail(err, AF_E_FORMAT, "unrecognised WebP header");
        }
    } else {
        /* TIFF, GIF, AVIF, PNM: sizes from a full decode (after the TIFF orientation, as
         * cv2 gives them), not from the header */
        fclose(f);
        f = NULL;
        af_image img = {0};
        af_error e = {0};
        size_t pl = strlen(path);
        if (af_image_load(path, NULL, &img, &e) == AF_OK) {
            *format = n >= 4 && (!memcmp(hd, "II", 2) || !memcmp(hd, "MM", 2)) ? "tiff"
                      : n >= 4 && !memcmp(hd, "GIF8", 4)                      ? "gif"
                      : n >= 2 && hd[0] == 'P'                                ? "pnm"
                                                                              : "avif";
            *w = img.w;
            *h = img.h;
            af_image_free(&img);
        } else {
            /* the loader's message starts with the path; the issue names the file already */
            st = af_fail(err, e.code ? e.code : AF_E_FORMAT, "%s",
                         !strncmp(e.msg, path, pl) && !strncmp(e.msg + pl, ": ", 2) ? e.msg + pl + 2
                                                                                    : e.msg);
        }
    }
    if (f)
        fclose(f);
    if (st == AF_OK && (*w <= 9 || *h <= 9))
        st = af_fail(err, AF_E_FORMAT, "image size (%d, %d) <10 pixels", *h, *w);
    return st;
}

static void add_count(af_dataset_counts *c, const af_dataset_item *it, int dups)
{
    switch (it->state) {
    case AF_LABEL_FOUND:
        c->found++;
        c->instances += (size_t)it->lb.n;
        break;
    case AF_LABEL_MISSING:
        c->missing++;
        c->backgrounds++;
        break;
    case AF_LABEL_EMPTY:
        c->empty++;
        c->backgrounds++;
        break;
    case AF_LABEL_CORRUPT:
        c->corrupt++;
        break;
    }
    c->duplicates += (size_t)dups;
}

static af_status load_item(af_dataset *ds, af_dataset_item *it, int nc, const af_dataset_opts *opts,
                           af_error *err)
{
    /* a FIFO, socket, device, folder, dangling symlink, symlink loop or unreadable file
     * is reported with its reason, and never opened (a FIFO would block) */
    char why[160];
    const char *r = af_path_unreadable_reason(it->image, why, sizeof why);
    if (r) {
        it->state = AF_LABEL_CORRUPT;
        add_count(&ds->counts, it, 0);
        return af_issue_add(&ds->issues, AF_ISSUE_CORRUPT, it->image, 0, err,
                            "%s", r);
    }
    if (opts && opts->check_images) {
        int w, h, no_eoi;
        const char *fmt;
        af_error e = {0};
        if (af_image_probe(it->image, &w, &h, &fmt, &no_eoi, &e)) {
            it->state = AF_LABEL_CORRUPT;
            add_count(&ds->counts, it, 0);
            return af_issue_add(&ds->issues, AF_ISSUE_CORRUPT, it->image, 0, err,
                                "ignoring corrupt image: %s", e.msg);
        }
        if (no_eoi) {
            af_status st = af_issue_add(&ds->issues, AF_ISSUE_WARNING, it->image, 0, err,
                                        "corrupt JPEG: no end-of-image marker (ultralytics would "
                                        "re-save it)");
            if (st)
                return st;
        }
    }
    af_label_result res;
    af_status st = af_labels_read(it->label, nc, &res, &ds->issues, err);
    if (st)
        return st;
    it->state = res.state;
    it->lb = res.lb;
    add_count(&ds->counts, it, res.duplicates);
    return AF_OK;
}

af_status af_dataset_load_paths(const af_strlist *paths, int nc, const af_dataset_opts *opts,
                                af_dataset *ds, af_error *err)
{
    memset(ds, 0, sizeof *ds);
    if (nc < 1)
        return af_fail(err, AF_E_ARG, "a dataset needs at least one class (nc=%d)", nc);
    af_strlist imgs = {0};
    af_status st = af_image_list_collect(paths, &imgs, err);
    if (st) {
        af_strlist_free(&imgs);
        return st;
    }
    if (imgs.n > DATASET_MAX_IMAGES) {
        af_strlist_free(&imgs);
        return af_fail(err, AF_E_LIMIT, "more than %zu images", DATASET_MAX_IMAGES);
    }
    ds->items = calloc(imgs.n, sizeof *ds->items);
    if (!ds->items) {
        af_strlist_free(&imgs);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    ds->n = imgs.n;
    ds->counts.images = imgs.n;
    for (size_t i = 0; i < imgs.n; i++) {
        ds->items[i].image = imgs.v[i];
        imgs.v[i] = NULL;
    }
    af_strlist_free(&imgs);
    for (size_t i = 0; i < ds->n && st == AF_OK; i++) {
        af_dataset_item *it = &ds->items[i];
        if (!(it->label = af_img2label_path(it->image)))
            st = af_fail(err, AF_E_NOMEM, "out of memory");
        else
            st = load_item(ds, it, nc, opts, err);
    }
    if (st)
        af_dataset_free(ds);
    return st;
}

af_status af_dataset_load(const af_data_config *cfg, const char *split, const af_dataset_opts *opts,
                          af_dataset *ds, af_error *err)
{
    memset(ds, 0, sizeof *ds);
    const af_strlist *paths = af_data_config_split(cfg, split);
    if (!paths)
        return af_fail(err, AF_E_ARG, "unknown split '%s' (train, val or test)", split);
    if (paths->n == 0)
        return af_fail(err, AF_E_ARG, "%s: no '%s:' split in the dataset description",
                       cfg->yaml_path ? cfg->yaml_path : "data.yaml", split);
    af_status st = af_dataset_load_paths(paths, cfg->nc, opts, ds, err);
    if (st)
        af_error_prefix(err, "%s split", split);
    return st;
}

void af_dataset_free(af_dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        free(ds->items[i].image);
        free(ds->items[i].label);
        af_label_set_free(&ds->items[i].lb);
    }
    free(ds->items);
    af_issue_list_free(&ds->issues);
    memset(ds, 0, sizeof *ds);
}
