/* AVIF decoding with libavif (OpenCV 4.6 reads no AVIF; libavif's own avifdec is the
 * reference): the primary image (the first frame of an image sequence), converted to
 * 8-bit RGB by avifImageYUVToRGB with libavif's defaults (the colour matrix the file
 * signals, automatic chroma upsampling) into the layout avifdec uses (RGB, or RGBA when
 * there is an alpha plane, whose alpha is then dropped; no compositing). Transformations
 * (irot/imir) are not applied, as avifdec does not. Sizes over the limits are refused
 * from the header, before any pixel is decoded. */
#include <stdlib.h>
#include <string.h>

#include <avif/avif.h>

#include "core/error.h"
#include "io/image.h"

/* 1 when buf looks like an AVIF (ftyp box naming avif/avis); used by the dispatcher. */
int af_image_is_avif(const uint8_t *buf, size_t len)
{
    avifROData d = {buf, len};
    return avifPeekCompatibleFileType(&d) ? 1 : 0;
}

static af_status avif_fail(af_error *err, const char *name, const char *what, avifResult r,
                           const avifDecoder *dec)
{
    const char *detail = dec && dec->diag.error[0] ? dec->diag.error : avifResultToString(r);
    af_status code = r == AVIF_RESULT_NO_CODEC_AVAILABLE || r == AVIF_RESULT_NOT_IMPLEMENTED
                         ? AF_E_UNSUPPORTED
                     : r == AVIF_RESULT_OUT_OF_MEMORY ? AF_E_NOMEM
                     : AF_E_FORMAT;
    if (r == AVIF_RESULT_TRUNCATED_DATA)
        return af_fail(err, AF_E_FORMAT, "%s: truncated AVIF data (premature end of file)", name);
    return af_fail(err, code, "%s: %s: %s", name, what, detail);
}

af_status af_image_decode_avif(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err)
{
    avifDecoder *dec = avifDecoderCreate();
    if (!dec)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory creating the AVIF decoder", name);
    dec->maxThreads = 1;
    dec->ignoreExif = AVIF_TRUE;
    dec->ignoreXMP = AVIF_TRUE;
    /* libavif's own size limits (16384 x 16384 pixels) stay: ours are checked after the
     * parse, which allocates no pixels, so that they fail with AF_E_LIMIT */
    af_status st = AF_OK;
    avifResult r = avifDecoderSetIOMemory(dec, buf, len);
    if (r == AVIF_RESULT_OK)
        r = avifDecoderParse(dec);
    if (r != AVIF_RESULT_OK) {
        st = avif_fail(err, name, "invalid AVIF file", r, dec);
        goto done;
    }
    if ((st = af_image_check_size(name, "AVIF", dec->image->width, dec->image->height, lim, err)))
        goto done;
    if ((r = avifDecoderNextImage(dec)) != AVIF_RESULT_OK) {
        st = avif_fail(err, name, "cannot decode the AVIF image", r, dec);
        goto done;
    }
    const avifImage *im = dec->image;
    if ((st = af_image_check_size(name, "AVIF", im->width, im->height, lim, err)) ||
        (st = af_image_alloc(out, (int)im->width, (int)im->height, 3, err)))
        goto done;
    /* RGB, or RGBA with the alpha then dropped when the image has an alpha plane: the
     * formats avifdec converts to (libavif's RGB and RGBA paths round differently) */
    int has_alpha = im->alphaPlane != NULL;
    size_t bpp = has_alpha ? 4 : 3, npx = (size_t)im->width * im->height;
    avifRGBImage rgb;
    memset(&rgb, 0, sizeof rgb);
    avifRGBImageSetDefaults(&rgb, im);
    rgb.format = has_alpha ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.depth = 8;
    rgb.rowBytes = (uint32_t)(im->width * bpp);
    rgb.pixels = has_alpha ? malloc(npx * 4) : out->data;
    if (!rgb.pixels) {
        af_image_free(out);
        st = af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
        goto done;
    }
    if ((r = avifImageYUVToRGB(im, &rgb)) != AVIF_RESULT_OK) {
        af_image_free(out);
        st = avif_fail(err, name, "cannot convert the AVIF image to RGB", r, NULL);
    } else if (has_alpha) {
        for (size_t i = 0; i < npx; i++)
            memcpy(out->data + 3 * i, rgb.pixels + 4 * i, 3);
    }
    if (has_alpha)
        free(rgb.pixels);
done:
    avifDecoderDestroy(dec);
    return st;
}
