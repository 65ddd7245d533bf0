/* WebP decoding with libwebp, as OpenCV 4.6's WebPDecoder: RGB decode for opaque images,
 * RGBA decode with the alpha dropped otherwise. Animated WebP (which OpenCV 4.6 refuses):
 * the first frame as libwebpdemux's WebPAnimDecoder composes it on the canvas (areas the
 * frame does not cover are transparent black, so black once the alpha is dropped), as
 * PIL 9.4 shows it. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "core/error.h"
#include "io/image.h"

static const char *vp8_status_text(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated WebP data (premature end of file)";
    default: return "error";
    }
}

static af_status decode_first_frame(const uint8_t *buf, size_t len, const char *name,
                                    const af_image_limits *lim, af_image *out, af_error *err)
{
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt))
        return af_fail(err, AF_E_UNSUPPORTED, "%s: libwebpdemux version mismatch", name);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPData data = {buf, len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &opt);
    if (!dec)
        return af_fail(err, AF_E_FORMAT, "%s: corrupt animated WebP (bad frame or chunk layout)",
                       name);
    WebPAnimInfo info;
    af_status st = AF_OK;
    uint8_t *rgba = NULL;
    int ts;
    if (!WebPAnimDecoderGetInfo(dec, &info)) {
        st = af_fail(err, AF_E_FORMAT, "%s: corrupt animated WebP header", name);
        goto done;
    }
    if ((st = af_image_check_size(name, "WebP", info.canvas_width, info.canvas_height, lim, err)))
        goto done;
    if (!WebPAnimDecoderGetNext(dec, &rgba, &ts) || !rgba) {
        st = af_fail(err, AF_E_FORMAT, "%s: corrupt or truncated first frame of an animated WebP",
                     name);
        goto done;
    }
    if ((st = af_image_alloc(out, (int)info.canvas_width, (int)info.canvas_height, 3, err)))
        goto done;
    for (size_t i = 0, n = (size_t)info.canvas_width * info.canvas_height; i < n; i++)
        memcpy(out->data + 3 * i, rgba + 4 * i, 3);
done:
    WebPAnimDecoderDelete(dec); /* owns rgba */
    return st;
}

af_status af_image_decode_webp(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err)
{
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(buf, len, &f);
    if (vs != VP8_STATUS_OK)
        return af_fail(err, vs == VP8_STATUS_UNSUPPORTED_FEATURE ? AF_E_UNSUPPORTED : AF_E_FORMAT,
                       "%s: corrupt WebP header: %s", name, vp8_status_text(vs));
    /* for an animation these are the canvas's: checked before WebPAnimDecoderNew, which
     * allocates the canvas */
    af_status st = af_image_check_size(name, "WebP", f.width > 0 ? (uint64_t)f.width : 0,
                                       f.height > 0 ? (uint64_t)f.height : 0, lim, err);
    if (st)
        return st;
    if (f.has_animation)
        return decode_first_frame(buf, len, name, lim, out, err);
    if ((st = af_image_alloc(out, f.width, f.height, 3, err)))
        return st;
    size_t npx = (size_t)f.width * (size_t)f.height;
    int ok;
    if (!f.has_alpha) {
        ok = WebPDecodeRGBInto(buf, len, out->data, npx * 3, f.width * 3) != NULL;
    } else {
        uint8_t *rgba = malloc(npx * 4);
        if (!rgba) {
            af_image_free(out);
            return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
        }
        ok = WebPDecodeRGBAInto(buf, len, rgba, npx * 4, f.width * 4) != NULL;
        for (size_t i = 0; ok && i < npx; i++)
            memcpy(out->data + 3 * i, rgba + 4 * i, 3);
        free(rgba);
    }
    if (!ok) {
        af_image_free(out);
        /* the simple API gives no status: probe with the incremental-free full decoder */
        WebPDecoderConfig cfg;
        const char *why = "bitstream error";
        if (WebPInitDecoderConfig(&cfg)) {
            cfg.options.use_threads = 0;
            VP8StatusCode s2 = WebPDecode(buf, len, &cfg);
            WebPFreeDecBuffer(&cfg.output);
            if (s2 != VP8_STATUS_OK)
                why = vp8_status_text(s2);
        }
        if (strncmp(why, "truncated", 9) == 0)
            return af_fail(err, AF_E_FORMAT, "%s: %s", name, why);
        return af_fail(err, AF_E_FORMAT, "%s: corrupt WebP data: %s", name, why);
    }
    return AF_OK;
}
