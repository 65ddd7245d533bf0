/* PNM decoding (PBM P1/P4, PGM P2/P5, PPM P3/P6), as OpenCV 4.6's PxMDecoder reads them
 * under IMREAD_COLOR:
 *  - header numbers are decimal, separated by whitespace and '#' comments (to the end of
 *    the line); one byte (whitespace) ends the last number, then the data starts;
 *  - maxval 1..65535; over 255 the samples are 16-bit (binary: big-endian) and the high
 *    byte is kept (v >> 8);
 *  - ASCII samples are clamped to maxval, and with maxval <= 255 scaled by v*255/maxval
 *    (integer division); BINARY 8-bit samples are used as stored, not scaled;
 *  - PBM: 1 is black, 0 white; P1 reads one digit per pixel ("0110" is four pixels);
 *  - too little data is an error (cv2 fails the read too); an ASCII file whose last
 *    sample has no byte after it is read (cv2 fails it). */
#include <ctype.h>
#include <string.h>

#include "core/error.h"
#include "io/image.h"

typedef struct pnm_in {
    const uint8_t *buf;
    size_t len, pos;
} pnm_in;

/* cv2's ReadNumber: skips whitespace and comments, reads up to maxdigits digits (0: any)
 * and consumes the byte after the last digit when all digits were read. -1: end of data
 * or a stray character; -2: over INT_MAX. */
static long read_number(pnm_in *in, int maxdigits)
{
    for (;;) {
        if (in->pos >= in->len)
            return -1;
        int c = in->buf[in->pos];
        if (isdigit(c))
            break;
        if (c == '#') {
            while (in->pos < in->len && in->buf[in->pos] != '\n' && in->buf[in->pos] != '\r')
                in->pos++;
            in->pos++; /* the line break */
        } else if (isspace(c)) {
            in->pos++;
        } else {
            return -1;
        }
    }
    long v = 0;
    int digits = 0;
    while (in->pos < in->len && isdigit(in->buf[in->pos])) {
        v = v * 10 + (in->buf[in->pos++] - '0');
        if (v > 0x7fffffff)
            return -2;
        if (maxdigits && ++digits >= maxdigits)
            return v;
    }
    in->pos++; /* the terminating byte (past the end when there is none) */
    return v;
}

static af_status data_end(const char *name, af_error *err)
{
    return af_fail(err, AF_E_FORMAT, "%s: truncated PNM data (premature end of file)", name);
}

af_status af_image_decode_pnm(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err)
{
    if (len < 3 || buf[0] != 'P' || buf[1] < '1' || buf[1] > '6' || !isspace(buf[2]))
        return af_fail(err, AF_E_FORMAT, "%s: not a PNM file", name);
    int kind = buf[1] - '0';
    int binary = kind >= 4, chans = kind % 3 == 0 ? 3 : 1, bits = kind % 3 == 1;
    pnm_in in = {buf, len, 2};
    long w = read_number(&in, 0), h = w >= 0 ? read_number(&in, 0) : -1;
    long maxval = bits ? 1 : h >= 0 ? read_number(&in, 0) : -1;
    if (w < 0 || h < 0 || maxval < 0)
        return af_fail(err, AF_E_FORMAT, "%s: bad PNM header (width, height, maxval)", name);
    if (maxval < 1 || maxval > 65535)
        return af_fail(err, AF_E_FORMAT, "%s: PNM maxval %ld is out of range 1..65535", name,
                       maxval);
    af_status st = af_image_check_size(name, "PNM", (uint64_t)w, (uint64_t)h, lim, err);
    if (st)
        return st;
    int wide = maxval > 255;
    uint8_t scale[256];
    for (int i = 0; i < 256; i++)
        scale[i] = (uint8_t)(i <= maxval ? i * 255 / maxval : 0);
    if ((st = af_image_alloc(out, (int)w, (int)h, 3, err)))
        return st;
    size_t n = (size_t)w * (size_t)h;
    if (bits && binary) {
        size_t pitch = ((size_t)w + 7) / 8;
        if (in.pos > len || pitch * (size_t)h > len - in.pos)
            goto truncated;
        for (size_t y = 0; y < (size_t)h; y++)
            for (size_t x = 0; x < (size_t)w; x++) {
                int bit = buf[in.pos + y * pitch + x / 8] >> (7 - x % 8) & 1;
                memset(out->data + 3 * (y * (size_t)w + x), bit ? 0 : 255, 3);
            }
        return AF_OK;
    }
    if (binary) {
        size_t bps = wide ? 2 : 1, need = n * (size_t)chans * bps;
        if (in.pos > len || need > len - in.pos)
            goto truncated;
        const uint8_t *s = buf + in.pos; /* the high byte first, for 16-bit */
        for (size_t i = 0; i < n; i++) {
            uint8_t *d = out->data + 3 * i;
            for (int c = 0; c < 3; c++)
                d[c] = s[(i * (size_t)chans + (size_t)(chans == 3 ? c : 0)) * bps];
        }
        return AF_OK;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *d = out->data + 3 * i;
        for (int c = 0; c < chans; c++) {
            long v = read_number(&in, bits ? 1 : 0);
            if (v == -1)
                goto truncated;
            if (v == -2) {
                af_image_free(out);
                return af_fail(err, AF_E_FORMAT, "%s: PNM sample value over 2147483647", name);
            }
            if (v > maxval)
                v = maxval; /* cv2 clamps */
            if (bits)
                d[c] = v ? 0 : 255;
            else
                d[c] = wide ? (uint8_t)(v >> 8) : scale[v];
        }
        if (chans == 1)
            d[1] = d[2] = d[0];
    }
    return AF_OK;
truncated:
    af_image_free(out);
    return data_end(name, err);
}
