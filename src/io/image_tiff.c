/* TIFF decoding with libtiff, as OpenCV 4.6's TiffDecoder under IMREAD_COLOR: the first
 * page (directory) only, converted by libtiff's RGBA interface (TIFFRGBAImage: palette,
 * gray, min-is-white, 16-bit, YCbCr and JPEG-in-TIFF, associated and unassociated alpha,
 * which libtiff premultiplies), the alpha then dropped; then the TIFF Orientation tag
 * applied like an EXIF orientation (flips / transpose), as cv2.imread does.
 * Deviation: 2-bit and 4-bit TIFFs (gray or palette), which OpenCV 4.6 refuses ("Invalid
 * bitsperpixel"), are read as libtiff converts them (later OpenCV releases read 4-bit
 * palette ones too; the 4-bit palette fixture is checked against PIL). Float and 10/12/14-bit
 * samples are refused, as by cv2 under IMREAD_COLOR (libtiff's RGBA interface refuses them). The file is read from memory through
 * TIFFClientOpenExt; libtiff's messages go to a per-decode handler, never to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "core/error.h"
#include "io/image.h"

#define TIFF_MAX_ALLOC ((tmsize_t)1 << 30) /* libtiff's largest single allocation */

typedef struct tiff_src {
    const uint8_t *buf;
    size_t len, pos;
    char msg[256]; /* libtiff's first error message */
} tiff_src;

static tmsize_t src_read(thandle_t h, void *dst, tmsize_t n)
{
    tiff_src *s = (tiff_src *)h;
    if (n <= 0 || s->pos >= s->len)
        return 0;
    size_t k = (size_t)n < s->len - s->pos ? (size_t)n : s->len - s->pos;
    memcpy(dst, s->buf + s->pos, k);
    s->pos += k;
    return (tmsize_t)k;
}

static tmsize_t src_write(thandle_t h, void *src, tmsize_t n)
{
    (void)h;
    (void)src;
    (void)n;
    return -1;
}

static toff_t src_seek(thandle_t h, toff_t off, int whence)
{
    tiff_src *s = (tiff_src *)h;
    uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : s->len;
    if (off > UINT64_MAX - base)
        return (toff_t)-1;
    uint64_t p = base + off;
    s->pos = p > s->len ? s->len : (size_t)p;
    return (toff_t)p;
}

static int src_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t src_size(thandle_t h)
{
    return (toff_t)((tiff_src *)h)->len;
}

static int src_map(thandle_t h, void **base, toff_t *size)
{
    tiff_src *s = (tiff_src *)h;
    *base = (void *)(uintptr_t)s->buf; /* opened read-only: libtiff never writes to it */
    *size = (toff_t)s->len;
    return 1;
}

static void src_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)module;
    tiff_src *s = user;
    if (!s->msg[0])
        vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    return 1; /* handled: nothing printed */
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

static af_status tiff_fail(af_error *err, const tiff_src *s, const char *name, const char *what)
{
    if (s->msg[0])
        return af_fail(err, AF_E_FORMAT, "%s: %s: %s", name, what, s->msg);
    return af_fail(err, AF_E_FORMAT, "%s: %s", name, what);
}

af_status af_image_decode_tiff(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err)
{
    tiff_src s = {.buf = buf, .len = len};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, TIFF_MAX_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &s);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &s);
    TIFF *tif = TIFFClientOpenExt(name, "r", (thandle_t)&s, src_read, src_write, src_seek,
                                  src_close, src_size, src_map, src_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif)
        return tiff_fail(err, &s, name, "invalid TIFF header");

    af_status st = AF_OK;
    uint32_t *raster = NULL;
    uint32_t w = 0, h = 0;
    uint16_t orientation = ORIENTATION_TOPLEFT;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h)) {
        st = tiff_fail(err, &s, name, "TIFF without an image size");
        goto done;
    }
    if ((st = af_image_check_size(name, "TIFF", w, h, lim, err)))
        goto done;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);

    char emsg[1024] = "";
    TIFFRGBAImage ri;
    if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&ri, tif, 0, emsg)) {
        st = af_fail(err, AF_E_UNSUPPORTED, "%s: unsupported TIFF: %s", name,
                     emsg[0] ? emsg : s.msg);
        goto done;
    }
    /* rows as stored (no flip by libtiff): the orientation is applied below, as cv2 does */
    ri.req_orientation = ri.orientation;
    raster = malloc((size_t)w * h * sizeof *raster);
    if (!raster) {
        TIFFRGBAImageEnd(&ri);
        st = af_fail(err, AF_E_NOMEM, "%s: out of memory for a %ux%u TIFF", name, w, h);
        goto done;
    }
    int ok = TIFFRGBAImageGet(&ri, raster, w, h);
    TIFFRGBAImageEnd(&ri);
    if (!ok) {
        st = tiff_fail(err, &s, name, "invalid or truncated TIFF data");
        goto done;
    }
    if ((st = af_image_alloc(out, (int)w, (int)h, 3, err)))
        goto done;
    for (size_t i = 0, n = (size_t)w * h; i < n; i++) {
        out->data[3 * i] = (uint8_t)TIFFGetR(raster[i]);
        out->data[3 * i + 1] = (uint8_t)TIFFGetG(raster[i]);
        out->data[3 * i + 2] = (uint8_t)TIFFGetB(raster[i]);
    }
    if (orientation > 1 && (st = af_image_apply_orientation(out, orientation, err)))
        af_image_free(out);

done:
    free(raster);
    TIFFClose(tif);
    return st;
}
