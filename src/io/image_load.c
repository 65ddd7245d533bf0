/* Image loading: file reading with a size limit, format dispatch by magic bytes,
 * allocation helpers and conversion from caller pixel buffers. */
#include "io/image.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "io/file_kind.h"

void af_image_limits_default(af_image_limits *l)
{
    l->max_pixels = (uint64_t)1 << 28;
    l->max_dim = 65500;
    l->max_file_bytes = (uint64_t)1 << 30;
}

af_status af_image_check_size(const char *name, const char *what, uint64_t w, uint64_t h,
                              const af_image_limits *lim, af_error *err)
{
    af_image_limits def;
    if (!lim) {
        af_image_limits_default(&def);
        lim = &def;
    }
    if (w == 0 || h == 0)
        return af_fail(err, AF_E_FORMAT, "%s: %s header gives an empty image (%llux%llu)", name,
                       what, (unsigned long long)w, (unsigned long long)h);
    if (w > (uint64_t)lim->max_dim || h > (uint64_t)lim->max_dim)
        return af_fail(err, AF_E_LIMIT,
                       "%s: %s image is %llux%llu, over the limit of %d pixels per side", name,
                       what, (unsigned long long)w, (unsigned long long)h, lim->max_dim);
    if (w * h > lim->max_pixels) /* both <= INT_MAX: no overflow */
        return af_fail(err, AF_E_LIMIT, "%s: %s image is %llux%llu, over the limit of %llu pixels",
                       name, what, (unsigned long long)w, (unsigned long long)h,
                       (unsigned long long)lim->max_pixels);
    return AF_OK;
}

af_status af_image_alloc(af_image *img, int w, int h, int c, af_error *err)
{
    img->w = img->h = img->c = 0;
    img->data = NULL;
    size_t n;
    if (w < 1 || h < 1 || c < 1 || c > 4)
        return af_fail(err, AF_E_ARG, "bad image size %dx%dx%d", w, h, c);
    if (af_mul3_size((size_t)w, (size_t)h, (size_t)c, &n))
        return af_fail(err, AF_E_LIMIT, "image %dx%dx%d is too large", w, h, c);
    img->data = malloc(n);
    if (!img->data)
        return af_fail(err, AF_E_NOMEM, "out of memory for a %dx%d image", w, h);
    img->w = w;
    img->h = h;
    img->c = c;
    return AF_OK;
}

void af_image_free(af_image *img)
{
    if (!img)
        return;
    free(img->data);
    img->data = NULL;
    img->w = img->h = img->c = 0;
}

af_status af_image_from_pixels(const uint8_t *px, int w, int h, size_t stride,
                               af_pixel_format fmt, af_image *out, af_error *err)
{
    int bpp;
    switch (fmt) {
    case AF_PIXEL_RGB:
    case AF_PIXEL_BGR: bpp = 3; break;
    case AF_PIXEL_RGBA: bpp = 4; break;
    case AF_PIXEL_GRAY: bpp = 1; break;
    default: return af_fail(err, AF_E_ARG, "unknown pixel format %d", (int)fmt);
    }
    if (!px || w < 1 || h < 1)
        return af_fail(err, AF_E_ARG, "empty image (%dx%d)", w, h);
    if (stride < (size_t)w * (size_t)bpp)
        return af_fail(err, AF_E_ARG, "row stride %zu is smaller than width %d x %d bytes", stride,
                       w, bpp);
    af_status st = af_image_alloc(out, w, h, 3, err);
    if (st)
        return st;
    for (int y = 0; y < h; y++) {
        const uint8_t *s = px + (size_t)y * stride;
        uint8_t *d = out->data + (size_t)y * w * 3;
        switch (fmt) {
        case AF_PIXEL_RGB: memcpy(d, s, (size_t)w * 3); break;
        case AF_PIXEL_BGR:
            for (int x = 0; x < w; x++, s += 3, d += 3) {
                d[0] = s[2];
                d[1] = s[1];
                d[2] = s[0];
            }
            break;
        case AF_PIXEL_RGBA:
            for (int x = 0; x < w; x++, s += 4, d += 3) {
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
            }
            break;
        case AF_PIXEL_GRAY:
            for (int x = 0; x < w; x++, d += 3)
                d[0] = d[1] = d[2] = s[x];
            break;
        }
    }
    return AF_OK;
}

static int has_prefix(const uint8_t *buf, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(buf, magic, n) == 0;
}

af_status af_image_decode(const uint8_t *buf, size_t len, const char *name,
                          const af_image_limits *lim, af_image *out, af_error *err)
{
    af_image_limits def;
    if (!name)
        name = "<memory>";
    if (!lim) {
        af_image_limits_default(&def);
        lim = &def;
    }
    out->w = out->h = out->c = 0;
    out->data = NULL;
    if (!buf || len == 0)
        return af_fail(err, AF_E_FORMAT, "%s: empty file (0 bytes), not an image", name);
    if ((uint64_t)len > lim->max_file_bytes)
        return af_fail(err, AF_E_LIMIT, "%s: %zu bytes is over the image file limit of %llu bytes",
                       name, len, (unsigned long long)lim->max_file_bytes);
    if (has_prefix(buf, len, "\xff\xd8\xff", 3))
        return af_image_decode_jpeg(buf, len, name, lim, out, err);
    if (has_prefix(buf, len, "\x89PNG\r\n\x1a\n", 8))
        return af_image_decode_png(buf, len, name, lim, out, err);
    if (has_prefix(buf, len, "BM", 2))
        return af_image_decode_bmp(buf, len, name, lim, out, err);
    if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WEBP", 4) == 0)
        return af_image_decode_webp(buf, len, name, lim, out, err);
    if (has_prefix(buf, len, "II*\0", 4) || has_prefix(buf, len, "MM\0*", 4) ||
        has_prefix(buf, len, "II+\0", 4) || has_prefix(buf, len, "MM\0+", 4))
        return af_image_decode_tiff(buf, len, name, lim, out, err);
    if (has_prefix(buf, len, "GIF87a", 6) || has_prefix(buf, len, "GIF89a", 6))
        return af_image_decode_gif(buf, len, name, lim, out, err);
    if (len >= 3 && buf[0] == 'P' && buf[1] >= '1' && buf[1] <= '6' && isspace(buf[2]))
        return af_image_decode_pnm(buf, len, name, lim, out, err);
    if (af_image_is_avif(buf, len))
        return af_image_decode_avif(buf, len, name, lim, out, err);

    const char *other = NULL;
    if (has_prefix(buf, len, "\0\0\0\x0cjP  ", 8) || has_prefix(buf, len, "\xff\x4f\xff\x51", 4))
        other = "JPEG 2000";
    else if (len >= 12 && memcmp(buf + 4, "ftyp", 4) == 0)
        other = "HEIF/HEIC";
    else if (has_prefix(buf, len, "GIF8", 4))
        other = "GIF (version other than 87a/89a)";
    if (other)
        return af_fail(err, AF_E_UNSUPPORTED, "%s: %s images are not supported (use %s)", name,
                       other, AF_IMAGE_FORMATS_TEXT);
    if (len < 4)
        return af_fail(err, AF_E_FORMAT, "%s: only %zu bytes, not an image", name, len);
    return af_fail(err, AF_E_FORMAT, "%s: not a recognised image (expected %s content)", name,
                   AF_IMAGE_FORMATS_TEXT);
}

/* Reads the whole file, refusing more than max bytes. */
static af_status read_file(const char *path, uint64_t max, uint8_t **out, size_t *out_len,
                           af_error *err)
{
    *out = NULL;
    *out_len = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        char why[160];
        const char *r = af_path_unreadable_reason(path, why, sizeof why);
        return af_fail(err, AF_E_IO, "%s: cannot open: %s", path, r ? r : strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return af_fail(err, AF_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    const char *kind = af_file_kind_problem(sb.st_mode);
    if (kind) {
        close(fd);
        return af_fail(err, AF_E_IO, "%s: %s", path, kind);
    }
    if ((uint64_t)sb.st_size > max) {
        close(fd);
        return af_fail(err, AF_E_LIMIT, "%s: %llu bytes is over the image file limit of %llu bytes",
                       path, (unsigned long long)sb.st_size, (unsigned long long)max);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return af_fail(err, AF_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    /* Read in chunks: never trusts st_size alone (the file may grow). */
    size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : 65536;
    size_t len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return af_fail(err, AF_E_NOMEM, "%s: out of memory reading the file", path);
    }
    for (;;) {
        if (len == cap) {
            size_t ncap;
            if (af_mul_size(cap, 2, &ncap) || (uint64_t)len > max) {
                free(buf);
                fclose(f);
                return af_fail(err, AF_E_LIMIT, "%s: file is over the image file limit of %llu bytes",
                               path, (unsigned long long)max);
            }
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return af_fail(err, AF_E_NOMEM, "%s: out of memory reading the file", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                fclose(f);
                return af_fail(err, AF_E_IO, "%s: read error: %s", path, strerror(e));
            }
            break;
        }
    }
    fclose(f);
    if ((uint64_t)len > max) {
        free(buf);
        return af_fail(err, AF_E_LIMIT, "%s: file is over the image file limit of %llu bytes", path,
                       (unsigned long long)max);
    }
    *out = buf;
    *out_len = len;
    return AF_OK;
}

af_status af_image_load(const char *path, const af_image_limits *lim, af_image *out, af_error *err)
{
    af_image_limits def;
    if (!lim) {
        af_image_limits_default(&def);
        lim = &def;
    }
    out->w = out->h = out->c = 0;
    out->data = NULL;
    if (!path || !*path)
        return af_fail(err, AF_E_ARG, "empty image path");
    uint8_t *buf;
    size_t len;
    af_status st = read_file(path, lim->max_file_bytes, &buf, &len, err);
    if (st)
        return st;
    st = af_image_decode(buf, len, path, lim, out, err);
    free(buf);
    return st;
}
