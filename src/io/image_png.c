/* PNG decoding with libpng, with the transformations OpenCV 4.6's PngDecoder asks for
 * under IMREAD_COLOR: 16 -> 8 bit by png_set_strip_16, alpha stripped (no compositing),
 * palette and low-bit gray expanded, gray replicated to RGB; then the EXIF orientation of
 * an eXIf chunk, which OpenCV 4.6 applies to PNGs too. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/image.h"

typedef struct png_ctx {
    const uint8_t *buf;
    size_t len, pos;
    int truncated;
    char msg[256];
    af_image img;
    png_bytep *rows;
    int orientation;
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *x = png_get_error_ptr(png);
    snprintf(x->msg, sizeof x->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep data, png_size_t n)
{
    png_ctx *x = png_get_io_ptr(png);
    if (n > x->len - x->pos) {
        x->truncated = 1;
        png_error(png, "premature end of file");
    }
    memcpy(data, x->buf + x->pos, n);
    x->pos += n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* 1 if a chunk up to IEND claims more bytes than the file has left. libpng allocates a
 * text chunk at its claimed length before reading it (1.5 GB for a 1 KB file); reading it
 * would fail at the end of the data anyway, so refusing first changes no result. */
static int png_chunk_overruns(const uint8_t *buf, size_t len)
{
    size_t p = 8;
    while (len - p >= 8) {
        uint32_t n = be32(buf + p);
        if ((size_t)n + 12 > len - p)
            return 1;
        if (memcmp(buf + p + 4, "IEND", 4) == 0)
            break;
        p += (size_t)n + 12;
    }
    return 0;
}

af_status af_image_decode_png(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err)
{
    /* Size check straight from the IHDR bytes, before libpng reads any other chunk. */
    if (len >= 24 && memcmp(buf + 12, "IHDR", 4) == 0) {
        af_status st = af_image_check_size(name, "PNG", be32(buf + 16), be32(buf + 20), lim, err);
        if (st)
            return st;
    }
    if (len >= 8 && png_chunk_overruns(buf, len))
        return af_fail(err, AF_E_FORMAT, "%s: truncated PNG data (premature end of file)", name);
    png_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
    x->buf = buf;
    x->len = len;
    af_status rc = AF_OK;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, x, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_infop end_info = info ? png_create_info_struct(png) : NULL;
    if (!png || !info || !end_info) {
        png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
        free(x);
        return af_fail(err, AF_E_NOMEM, "%s: out of memory creating the PNG decoder", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        if (x->truncated)
            rc = af_fail(err, AF_E_FORMAT, "%s: truncated PNG data (premature end of file)", name);
        else
            rc = af_fail(err, AF_E_FORMAT, "%s: invalid PNG data: %s", name, x->msg);
        goto done;
    }
    png_set_read_fn(png, x, on_read);
    /* caps what libpng inflates for zTXt/iTXt/iCCP (Debian's build sets no cap); 8 MB is
     * libpng's own default (PNG_USER_CHUNK_MALLOC_MAX) */
    png_set_chunk_malloc_max(png, 8000000);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((rc = af_image_check_size(name, "PNG", w, h, lim, err)))
        goto done;
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    if (depth > 8)
        png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if ((ctype & PNG_COLOR_MASK_COLOR) == 0 && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if ((ctype & PNG_COLOR_MASK_COLOR) == 0)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        rc = af_fail(err, AF_E_UNSUPPORTED, "%s: unexpected PNG layout (color type %d, %d-bit)",
                     name, ctype, depth);
        goto done;
    }
    if ((rc = af_image_alloc(&x->img, (int)w, (int)h, 3, err)))
        goto done;
    if (!(x->rows = malloc((size_t)h * sizeof *x->rows))) {
        rc = af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++)
        x->rows[y] = x->img.data + (size_t)y * w * 3;
    png_read_image(png, x->rows);
    png_read_end(png, end_info); /* as OpenCV: damage after the pixels still fails the read */

    /* OpenCV 4.6 applies the orientation of an eXIf chunk (before or after the pixels). */
    png_uint_32 nexif = 0;
    png_bytep exif = NULL;
    if (png_get_valid(png, info, PNG_INFO_eXIf))
        png_get_eXIf_1(png, info, &nexif, &exif);
    else if (png_get_valid(png, end_info, PNG_INFO_eXIf))
        png_get_eXIf_1(png, end_info, &nexif, &exif);
    if (exif && nexif > 0)
        x->orientation = af_exif_orientation(exif, nexif);

done:
    png_destroy_read_struct(&png, &info, &end_info);
    if (rc == AF_OK && x->orientation > 1)
        rc = af_image_apply_orientation(&x->img, x->orientation, err);
    if (rc == AF_OK)
        *out = x->img;
    else
        af_image_free(&x->img);
    free(x->rows);
    free(x);
    return rc;
}
