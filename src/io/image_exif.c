/* EXIF orientation: reading the tag from a TIFF block (IFD0 only, as OpenCV's ExifReader)
 * and applying it to pixels the way cv2.imread does (flip / transpose). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/image.h"

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int af_exif_orientation(const uint8_t *tiff, size_t len)
{
    if (!tiff || len < 8)
        return 0;
    int le;
    if (tiff[0] == 'I' && tiff[1] == 'I')
        le = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M')
        le = 0;
    else
        return 0;
    uint32_t ifd = rd32(tiff + 4, le);
    if ((uint64_t)ifd + 2 > len)
        return 0;
    unsigned n = rd16(tiff + ifd, le);
    for (unsigned i = 0; i < n; i++) {
        uint64_t e = (uint64_t)ifd + 2 + (uint64_t)i * 12;
        if (e + 12 > len)
            return 0;
        if (rd16(tiff + e, le) == 0x0112) { /* Orientation, SHORT, value in the entry */
            unsigned v = rd16(tiff + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 0;
        }
    }
    return 0;
}

/* dst(x, y) = src(sx, sy) with the mapping chosen by the orientation. */
af_status af_image_apply_orientation(af_image *img, int orientation, af_error *err)
{
    if (orientation < 2 || orientation > 8)
        return AF_OK;
    int w = img->w, h = img->h, c = img->c;
    int transpose = orientation >= 5;
    int ow = transpose ? h : w, oh = transpose ? w : h;
    /* After the (optional) transpose, which flips: x (horizontal), y (vertical). */
    int fx = 0, fy = 0;
    switch (orientation) {
    case 2: fx = 1; break;          /* TR: flip horizontally */
    case 3: fx = fy = 1; break;     /* BR: both */
    case 4: fy = 1; break;          /* BL: vertically */
    case 5: break;                  /* LT: transpose */
    case 6: fx = 1; break;          /* RT: transpose + flip horizontally */
    case 7: fx = fy = 1; break;     /* RB: transpose + both */
    case 8: fy = 1; break;          /* LB: transpose + flip vertically */
    }
    af_image o;
    af_status st = af_image_alloc(&o, ow, oh, c, err);
    if (st)
        return st;
    for (int y = 0; y < oh; y++) {
        int ty = fy ? oh - 1 - y : y; /* coordinate in the transposed (or plain) image */
        uint8_t *d = o.data + (size_t)y * ow * c;
        for (int x = 0; x < ow; x++, d += c) {
            int tx = fx ? ow - 1 - x : x;
            int sx = transpose ? ty : tx, sy = transpose ? tx : ty;
            memcpy(d, img->data + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    }
    af_image_free(img);
    *img = o;
    return AF_OK;
}
