/* Image encoding (JPEG, PNG, BMP, WebP) to memory and to files, with cv2.imwrite's
 * default settings: JPEG quality 95 4:2:0, PNG zlib level 1 + SUB filter + RLE strategy,
 * WebP lossless, BMP 24-bit. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>
#include <webp/encode.h>

#include "core/checked.h"
#include "core/error.h"
#include "io/image.h"

/* ---- JPEG ---- */

typedef struct jenc {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    unsigned char *mem;
    unsigned long memlen;
    uint8_t *row;
} jenc;

static void jenc_error_exit(j_common_ptr cinfo)
{
    jenc *s = (jenc *)cinfo->err;
    s->pub.format_message(cinfo, s->msg);
    longjmp(s->jb, 1);
}

static void jenc_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

static af_status encode_jpeg(const af_image *img, int quality, uint8_t **out, size_t *out_len,
                             af_error *err)
{
    struct jpeg_compress_struct cinfo;
    jenc *s = calloc(1, sizeof *s);
    if (!s)
        return af_fail(err, AF_E_NOMEM, "out of memory encoding JPEG");
    af_status rc = AF_OK;
    cinfo.err = jpeg_std_error(&s->pub);
    s->pub.error_exit = jenc_error_exit;
    s->pub.output_message = jenc_output_message;
    if (setjmp(s->jb)) {
        rc = af_fail(err, AF_E_INTERNAL, "JPEG encoder failed: %s", s->msg);
        goto done;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &s->mem, &s->memlen);
    cinfo.image_width = (JDIMENSION)img->w;
    cinfo.image_height = (JDIMENSION)img->h;
    cinfo.input_components = img->c == 1 ? 1 : 3;
    cinfo.in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    if (img->c == 4 && !(s->row = malloc((size_t)img->w * 3))) {
        rc = af_fail(err, AF_E_NOMEM, "out of memory encoding JPEG");
        goto done;
    }
    while (cinfo.next_scanline < cinfo.image_height) {
        uint8_t *src = img->data + (size_t)cinfo.next_scanline * img->w * img->c;
        if (img->c == 4) {
            for (int x = 0; x < img->w; x++)
                memcpy(s->row + 3 * x, src + 4 * x, 3);
            src = s->row;
        }
        JSAMPROW rows[1] = {src};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    *out = malloc(s->memlen ? s->memlen : 1);
    if (!*out) {
        rc = af_fail(err, AF_E_NOMEM, "out of memory encoding JPEG");
        goto done;
    }
    memcpy(*out, s->mem, s->memlen);
    *out_len = s->memlen;
done:
    jpeg_destroy_compress(&cinfo);
    free(s->mem); /* jpeg_mem_dest's buffer is malloc'd and left to us */
    free(s->row);
    free(s);
    return rc;
}

/* ---- PNG ---- */

typedef struct penc {
    uint8_t *buf;
    size_t len, cap;
    int oom;
    char msg[256];
    png_bytep *rows;
} penc;

static void penc_error(png_structp png, png_const_charp msg)
{
    penc *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void penc_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void penc_write(png_structp png, png_bytep data, png_size_t n)
{
    penc *s = png_get_io_ptr(png);
    if (n > s->cap - s->len) {
        size_t need, ncap = s->cap ? s->cap : 65536;
        if (af_add_size(s->len, n, &need)) {
            s->oom = 1;
            png_error(png, "output too large");
        }
        while (ncap < need)
            if (af_mul_size(ncap, 2, &ncap)) {
                s->oom = 1;
                png_error(png, "output too large");
            }
        uint8_t *nb = realloc(s->buf, ncap);
        if (!nb) {
            s->oom = 1;
            png_error(png, "out of memory");
        }
        s->buf = nb;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void penc_flush(png_structp png)
{
    (void)png;
}

static af_status encode_png(const af_image *img, uint8_t **out, size_t *out_len, af_error *err)
{
    penc *s = calloc(1, sizeof *s);
    if (!s)
        return af_fail(err, AF_E_NOMEM, "out of memory encoding PNG");
    af_status rc = AF_OK;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, penc_error, penc_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        free(s);
        return af_fail(err, AF_E_NOMEM, "out of memory creating the PNG encoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = af_fail(err, s->oom ? AF_E_NOMEM : AF_E_INTERNAL, "PNG encoder failed: %s", s->msg);
        goto done;
    }
    png_set_write_fn(png, s, penc_write, penc_flush);
    static const int ctype[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, ctype[img->c],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_compression_level(png, 1);    /* Z_BEST_SPEED, as cv2.imwrite */
    png_set_compression_strategy(png, 3); /* Z_RLE, cv2's default strategy */
    if (!(s->rows = malloc((size_t)img->h * sizeof *s->rows))) {
        rc = af_fail(err, AF_E_NOMEM, "out of memory encoding PNG");
        goto done;
    }
    for (int y = 0; y < img->h; y++)
        s->rows[y] = img->data + (size_t)y * img->w * img->c;
    png_write_info(png, info);
    png_write_image(png, s->rows);
    png_write_end(png, info);
    *out = s->buf;
    *out_len = s->len;
    s->buf = NULL;
done:
    png_destroy_write_struct(&png, &info);
    free(s->buf);
    free(s->rows);
    free(s);
    return rc;
}

/* ---- BMP ---- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static af_status encode_bmp(const af_image *img, uint8_t **out, size_t *out_len, af_error *err)
{
    int gray = img->c == 1;
    size_t pitch = (((size_t)img->w * (gray ? 1 : 3)) + 3) & ~(size_t)3;
    size_t hdr = 14 + 40 + (gray ? 1024 : 0), total;
    if (af_mul_size(pitch, (size_t)img->h, &total) || af_add_size(total, hdr, &total) ||
        total > 0xffffffffu)
        return af_fail(err, AF_E_LIMIT, "image %dx%d is too large for BMP", img->w, img->h);
    uint8_t *b = calloc(1, total);
    if (!b)
        return af_fail(err, AF_E_NOMEM, "out of memory encoding BMP");
    b[0] = 'B';
    b[1] = 'M';
    put32(b + 2, (uint32_t)total);
    put32(b + 10, (uint32_t)hdr);
    put32(b + 14, 40);
    put32(b + 18, (uint32_t)img->w);
    put32(b + 22, (uint32_t)img->h);
    b[26] = 1;
    b[28] = gray ? 8 : 24;
    put32(b + 34, (uint32_t)(total - hdr));
    if (gray) {
        put32(b + 46, 256);
        for (int i = 0; i < 256; i++)
            b[54 + 4 * i] = b[55 + 4 * i] = b[56 + 4 * i] = (uint8_t)i;
    }
    for (int y = 0; y < img->h; y++) {
        const uint8_t *s = img->data + (size_t)(img->h - 1 - y) * img->w * img->c;
        uint8_t *d = b + hdr + (size_t)y * pitch;
        for (int x = 0; x < img->w; x++, s += img->c) {
            if (gray) {
                *d++ = s[0];
            } else {
                *d++ = s[2];
                *d++ = s[1];
                *d++ = s[0];
            }
        }
    }
    *out = b;
    *out_len = total;
    return AF_OK;
}

/* ---- WebP ---- */

static af_status encode_webp(const af_image *img, uint8_t **out, size_t *out_len, af_error *err)
{
    if (img->w > WEBP_MAX_DIMENSION || img->h > WEBP_MAX_DIMENSION)
        return af_fail(err, AF_E_LIMIT, "image %dx%d is too large for WebP (max %d)", img->w,
                       img->h, WEBP_MAX_DIMENSION);
    af_image rgb = {0, 0, 0, NULL};
    const af_image *src = img;
    if (img->c != 3) {
        af_pixel_format f = img->c == 1 ? AF_PIXEL_GRAY : AF_PIXEL_RGBA;
        af_status st = af_image_from_pixels(img->data, img->w, img->h, (size_t)img->w * img->c, f,
                                            &rgb, err);
        if (st)
            return st;
        src = &rgb;
    }
    uint8_t *enc = NULL;
    size_t n = WebPEncodeLosslessRGB(src->data, src->w, src->h, src->w * 3, &enc);
    af_image_free(&rgb);
    if (n == 0 || !enc)
        return af_fail(err, AF_E_INTERNAL, "WebP encoder failed");
    *out = malloc(n);
    if (!*out) {
        WebPFree(enc);
        return af_fail(err, AF_E_NOMEM, "out of memory encoding WebP");
    }
    memcpy(*out, enc, n);
    WebPFree(enc);
    *out_len = n;
    return AF_OK;
}

/* ---- dispatch ---- */

af_status af_image_encode(const af_image *img, const char *fmt, int jpeg_quality, uint8_t **out,
                          size_t *out_len, af_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!img || !img->data || img->w < 1 || img->h < 1 || img->c < 1 || img->c > 4)
        return af_fail(err, AF_E_ARG, "cannot encode an empty image");
    if (!fmt)
        return af_fail(err, AF_E_ARG, "no image format given");
    if (strcmp(fmt, "jpeg") == 0 || strcmp(fmt, "jpg") == 0) {
        if (jpeg_quality == 0)
            jpeg_quality = 95;
        if (jpeg_quality < 1 || jpeg_quality > 100)
            return af_fail(err, AF_E_ARG, "JPEG quality %d is not between 1 and 100", jpeg_quality);
        if (img->c == 2)
            return af_fail(err, AF_E_ARG, "cannot write a 2-channel image as JPEG");
        if (img->w > 65500 || img->h > 65500)
            return af_fail(err, AF_E_LIMIT, "image %dx%d is too large for JPEG (max 65500)",
                           img->w, img->h);
        return encode_jpeg(img, jpeg_quality, out, out_len, err);
    }
    if (strcmp(fmt, "png") == 0)
        return encode_png(img, out, out_len, err);
    if (strcmp(fmt, "bmp") == 0) {
        if (img->c != 1 && img->c != 3)
            return af_fail(err, AF_E_ARG, "BMP output needs a gray or RGB image");
        return encode_bmp(img, out, out_len, err);
    }
    if (strcmp(fmt, "webp") == 0)
        return encode_webp(img, out, out_len, err);
    return af_fail(err, AF_E_ARG, "unknown image format '%s' (use jpeg, png, bmp or webp)", fmt);
}

af_status af_image_save(const char *path, const af_image *img, int jpeg_quality, af_error *err)
{
    if (!path || !*path)
        return af_fail(err, AF_E_ARG, "empty output image path");
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    const char *fmt = NULL;
    if (dot) {
        if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".jpe"))
            fmt = "jpeg";
        else if (!strcasecmp(dot, ".png"))
            fmt = "png";
        else if (!strcasecmp(dot, ".bmp") || !strcasecmp(dot, ".dib"))
            fmt = "bmp";
        else if (!strcasecmp(dot, ".webp"))
            fmt = "webp";
    }
    if (!fmt)
        return af_fail(err, AF_E_ARG,
                       "%s: cannot tell the image format from the extension (use .jpg, .png, "
                       ".bmp or .webp)",
                       path);
    uint8_t *buf;
    size_t len;
    af_status st = af_image_encode(img, fmt, jpeg_quality, &buf, &len, err);
    if (st) {
        af_error_prefix(err, "%s", path);
        return st;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        free(buf);
        return af_fail(err, AF_E_IO, "%s: cannot create: %s", path, strerror(e));
    }
    size_t n = fwrite(buf, 1, len, f);
    int e = errno;
    free(buf);
    int bad = n != len;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad)
        return af_fail(err, AF_E_IO, "%s: write failed: %s", path, strerror(e));
    return AF_OK;
}
