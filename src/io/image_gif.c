/* GIF decoding with giflib: the first frame, as PIL 9.4 shows it (OpenCV 4.6 reads no
 * GIF; PIL's Image.open(f).convert("RGB") is the reference):
 *  - the canvas is the logical screen, grown to hold the first frame if it reaches past;
 *  - pixels outside the frame hold the frame's transparent index when its graphic control
 *    extension gives one, else index 0;
 *  - every index becomes its colour in the frame's local colour map, else the global one
 *    (transparency is ignored: alpha dropped, as for the other formats); an index past the
 *    map is black; a GIF without any colour map is gray (index i -> i, i, i);
 *  - interlaced frames are put back in row order. */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "core/error.h"
#include "io/image.h"

typedef struct gif_src {
    const uint8_t *buf;
    size_t len, pos;
} gif_src;

static int src_read(GifFileType *gif, GifByteType *dst, int n)
{
    gif_src *s = gif->UserData;
    if (n <= 0)
        return 0;
    size_t k = (size_t)n < s->len - s->pos ? (size_t)n : s->len - s->pos;
    memcpy(dst, s->buf + s->pos, k);
    s->pos += k;
    return (int)k;
}

static af_status gif_fail(af_error *err, const char *name, int code)
{
    const char *why = GifErrorString(code);
    if (code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON)
        return af_fail(err, AF_E_FORMAT, "%s: truncated GIF data (premature end of file)", name);
    return af_fail(err, AF_E_FORMAT, "%s: invalid GIF data: %s", name, why ? why : "unknown error");
}

/* Reads records up to the first image descriptor; *trans: the transparent index of the
 * graphic control extension before it, or -1. */
static int find_first_image(GifFileType *gif, int *trans)
{
    *trans = -1;
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(gif, &type) != GIF_OK)
            return GIF_ERROR;
        if (type == IMAGE_DESC_RECORD_TYPE)
            return DGifGetImageDesc(gif);
        if (type == TERMINATE_RECORD_TYPE) {
            gif->Error = D_GIF_ERR_NO_IMAG_DSCR;
            return GIF_ERROR;
        }
        if (type == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext;
            if (DGifGetExtension(gif, &code, &ext) != GIF_OK)
                return GIF_ERROR;
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) {
                GraphicsControlBlock gcb;
                if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK)
                    *trans = gcb.TransparentColor;
            }
            while (ext)
                if (DGifGetExtensionNext(gif, &ext) != GIF_OK)
                    return GIF_ERROR;
        }
    }
}

af_status af_image_decode_gif(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err)
{
    gif_src s = {buf, len, 0};
    int code = 0;
    GifFileType *gif = DGifOpen(&s, src_read, &code);
    if (!gif)
        return gif_fail(err, name, code);
    af_status st = AF_OK;
    uint8_t *idx = NULL;
    int trans;
    if (find_first_image(gif, &trans) != GIF_OK) {
        st = gif_fail(err, name, gif->Error);
        goto done;
    }
    const GifImageDesc *d = &gif->Image;
    long fx = d->Left, fy = d->Top, fw = d->Width, fh = d->Height;
    long cw = gif->SWidth > fx + fw ? gif->SWidth : fx + fw;
    long ch = gif->SHeight > fy + fh ? gif->SHeight : fy + fh;
    if ((st = af_image_check_size(name, "GIF", (uint64_t)cw, (uint64_t)ch, lim, err)))
        goto done;
    if (!(idx = malloc((size_t)cw * (size_t)ch))) {
        st = af_fail(err, AF_E_NOMEM, "%s: out of memory for a %ldx%ld GIF", name, cw, ch);
        goto done;
    }
    memset(idx, trans >= 0 ? trans : 0, (size_t)cw * (size_t)ch);
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    for (int pass = 0; pass < (d->Interlace ? 4 : 1) && fw > 0; pass++) {
        for (long y = d->Interlace ? start[pass] : 0; y < fh; y += d->Interlace ? step[pass] : 1) {
            if (DGifGetLine(gif, idx + (size_t)(fy + y) * (size_t)cw + (size_t)fx, (int)fw) !=
                GIF_OK) {
                st = gif_fail(err, name, gif->Error);
                goto done;
            }
        }
    }
    const ColorMapObject *map = d->ColorMap ? d->ColorMap : gif->SColorMap;
    if ((st = af_image_alloc(out, (int)cw, (int)ch, 3, err)))
        goto done;
    for (size_t i = 0, n = (size_t)cw * (size_t)ch; i < n; i++) {
        uint8_t *p = out->data + 3 * i;
        int v = idx[i];
        if (!map) {
            p[0] = p[1] = p[2] = (uint8_t)v;
        } else if (v < map->ColorCount) {
            p[0] = map->Colors[v].Red;
            p[1] = map->Colors[v].Green;
            p[2] = map->Colors[v].Blue;
        } else {
            p[0] = p[1] = p[2] = 0;
        }
    }

done:
    free(idx);
    DGifCloseFile(gif, &code);
    return st;
}
