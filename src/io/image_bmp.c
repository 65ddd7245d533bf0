/* BMP decoding (OpenCV 4.6 BmpDecoder semantics): 1/4/8-bit palette, 16-bit 555 (BI_RGB
 * or bitfields) and 565 (bitfields) expanded without bit replication, 24-bit, 32-bit (4th
 * byte ignored, any bit masks). Rows bottom-up for positive height, top-down for negative.
 * RLE8 (8-bit) and RLE4 (4-bit) compression: image_bmp_rle.c. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/image.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

af_status af_image_decode_bmp(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err)
{
    if (len < 14 + 12)
        return af_fail(err, AF_E_FORMAT, "%s: truncated BMP header (%zu bytes)", name, len);
    uint32_t offset = le32(buf + 10);
    uint32_t hsize = le32(buf + 14);
    int64_t w, h;
    int bpp;
    uint32_t comp = 0, clrused = 0;
    uint8_t pal[256][3]; /* RGB */
    memset(pal, 0, sizeof pal);
    int is565 = 0;

    if (hsize == 12) { /* OS/2 BITMAPCOREHEADER */
        w = le16(buf + 18);
        h = (int16_t)le16(buf + 20);
        bpp = (int)le16(buf + 24);
        if (bpp <= 8) {
            size_t n = (size_t)1 << (bpp > 0 ? bpp : 1);
            if (26 + n * 3 > len)
                return af_fail(err, AF_E_FORMAT, "%s: truncated BMP palette", name);
            for (size_t j = 0; j < n; j++) {
                pal[j][2] = buf[26 + 3 * j];
                pal[j][1] = buf[26 + 3 * j + 1];
                pal[j][0] = buf[26 + 3 * j + 2];
            }
        }
    } else if (hsize >= 36 && hsize <= 4096) {
        if ((size_t)14 + hsize > len)
            return af_fail(err, AF_E_FORMAT, "%s: truncated BMP header", name);
        w = (int32_t)le32(buf + 18);
        h = (int32_t)le32(buf + 22);
        bpp = (int)le16(buf + 28);
        comp = le32(buf + 30);
        clrused = le32(buf + 46);
        size_t after = (size_t)14 + hsize;
        if (comp == 1 || comp == 2) {
            if (bpp != (comp == 1 ? 8 : 4))
                return af_fail(err, AF_E_FORMAT, "%s: RLE%d compression in a %d-bit BMP", name,
                               comp == 1 ? 8 : 4, bpp);
        } else if (comp == 3 && (bpp == 16 || bpp == 32)) {
            if (bpp == 16) {
                size_t mo = hsize >= 52 ? 14 + 40 : after;
                if (mo + 12 > len)
                    return af_fail(err, AF_E_FORMAT, "%s: truncated BMP bit masks", name);
                uint32_t rm = le32(buf + mo), gm = le32(buf + mo + 4), bm = le32(buf + mo + 8);
                if (bm == 0x1f && gm == 0x7e0 && rm == 0xf800)
                    is565 = 1;
                else if (!(bm == 0x1f && gm == 0x3e0 && rm == 0x7c00))
                    return af_fail(err, AF_E_UNSUPPORTED,
                                   "%s: 16-bit BMP bit masks other than 555/565 are not supported",
                                   name);
            }
        } else if (comp != 0) {
            return af_fail(err, AF_E_UNSUPPORTED, "%s: BMP compression %u is not supported", name,
                           (unsigned)comp);
        }
        if (bpp <= 8 && bpp > 0) {
            if (clrused > 256)
                return af_fail(err, AF_E_FORMAT, "%s: BMP palette of %u colours (max 256)", name,
                               (unsigned)clrused);
            size_t n = clrused ? clrused : (size_t)1 << bpp;
            if (after + n * 4 > len)
                return af_fail(err, AF_E_FORMAT, "%s: truncated BMP palette", name);
            for (size_t j = 0; j < n; j++) {
                pal[j][2] = buf[after + 4 * j];
                pal[j][1] = buf[after + 4 * j + 1];
                pal[j][0] = buf[after + 4 * j + 2];
            }
        }
    } else {
        return af_fail(err, AF_E_FORMAT, "%s: unknown BMP header size %u", name, (unsigned)hsize);
    }
    if (!(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32))
        return af_fail(err, AF_E_UNSUPPORTED, "%s: %d-bit BMP is not supported", name, bpp);
    if (hsize == 12 && bpp == 16)
        return af_fail(err, AF_E_UNSUPPORTED, "%s: 16-bit OS/2 BMP is not supported", name);
    int bottom_up = h > 0;
    if (h < 0)
        h = -h;
    if (w < 0)
        return af_fail(err, AF_E_FORMAT, "%s: negative BMP width %lld", name, (long long)w);
    af_status st = af_image_check_size(name, "BMP", (uint64_t)w, (uint64_t)h, lim, err);
    if (st)
        return st;
    if (comp == 1 || comp == 2) {
        if ((st = af_image_alloc(out, (int)w, (int)h, 3, err)))
            return st;
        st = af_image_decode_bmp_rle(buf, len, offset, bpp, (const uint8_t(*)[3])pal, bottom_up,
                                     name, out, err);
        if (st)
            af_image_free(out);
        return st;
    }
    size_t pitch = (((size_t)w * (size_t)bpp + 7) / 8 + 3) & ~(size_t)3;
    /* w, h <= 65500 by the limits: no overflow in size_t */
    if ((uint64_t)offset + (uint64_t)pitch * (uint64_t)h > len)
        return af_fail(err, AF_E_FORMAT, "%s: truncated BMP data (need %llu bytes, file has %zu)",
                       name, (unsigned long long)offset + (unsigned long long)pitch * (uint64_t)h,
                       len);
    if ((st = af_image_alloc(out, (int)w, (int)h, 3, err)))
        return st;
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *s = buf + offset + pitch * (size_t)(bottom_up ? h - 1 - y : y);
        uint8_t *d = out->data + (size_t)y * (size_t)w * 3;
        for (int64_t x = 0; x < w; x++, d += 3) {
            switch (bpp) {
            case 1:
            case 4:
            case 8: {
                int per = 8 / bpp;
                unsigned byte = s[x / per];
                int shift = 8 - bpp * (int)(x % per + 1);
                unsigned idx = (byte >> shift) & ((1u << bpp) - 1);
                memcpy(d, pal[idx], 3);
                break;
            }
            case 16: {
                unsigned t = le16(s + 2 * x);
                if (is565) {
                    d[0] = (uint8_t)((t >> 8) & 0xf8);
                    d[1] = (uint8_t)((t >> 3) & 0xfc);
                } else {
                    d[0] = (uint8_t)((t >> 7) & 0xf8);
                    d[1] = (uint8_t)((t >> 2) & 0xf8);
                }
                d[2] = (uint8_t)((t << 3) & 0xf8);
                break;
            }
            default: { /* 24 or 32: B, G, R[, X] */
                const uint8_t *p = s + (size_t)x * (size_t)(bpp / 8);
                d[0] = p[2];
                d[1] = p[1];
                d[2] = p[0];
            }
            }
        }
    }
    return AF_OK;
}
