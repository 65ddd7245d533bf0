/* RLE4 / RLE8 BMP pixel data, decoded the way OpenCV 4.6's BmpDecoder does, quirks
 * included (cv2.imread's pixels are the reference):
 *  - a run or absolute block that would pass the end of its row fails the file;
 *  - end of line, delta and end of bitmap fill the pixels they skip with palette entry 0;
 *  - RLE8: a delta (dx, dy) skips dx pixels plus dy whole rows; end of bitmap fills the
 *    rest of the image; an end of line right after a run that ended its row exactly is
 *    ignored (the row already advanced);
 *  - RLE4: a delta skips dx pixels only (its dy is read and ignored), and end of bitmap
 *    fills only the rest of its row; decoding then goes on, so such a file must still end
 *    its rows with end-of-line codes;
 *  - decoding stops once the last row is complete; running out of data before that
 *    fails the file ("truncated").
 * Rows are produced in file order (bottom-up for a positive height). */
#include <string.h>

#include "core/error.h"
#include "io/image.h"

typedef struct rle_state {
    const uint8_t *buf;
    size_t len, pos;
    af_image *img;
    int w, h, bottom_up;
    int x, y; /* y counts rows in file order */
} rle_state;

static void put(rle_state *s, const uint8_t rgb[3])
{
    int row = s->bottom_up ? s->h - 1 - s->y : s->y;
    memcpy(s->img->data + ((size_t)row * (size_t)s->w + (size_t)s->x) * 3, rgb, 3);
    s->x++;
}

/* OpenCV's FillUniColor: n pixels of one colour, wrapping to the next row whenever the
 * row is full (also when n is 0 and the row is already full). Stops after the last row. */
static void fill(rle_state *s, long n, const uint8_t rgb[3])
{
    do {
        long room = s->w - s->x;
        long k = n < room ? n : room;
        n -= k;
        while (k-- > 0)
            put(s, rgb);
        if (s->x >= s->w) {
            s->x = 0;
            if (++s->y >= s->h)
                break;
        }
    } while (n > 0);
}

static int next_byte(rle_state *s, int *v)
{
    if (s->pos >= s->len)
        return 0;
    *v = s->buf[s->pos++];
    return 1;
}

af_status af_image_decode_bmp_rle(const uint8_t *buf, size_t len, size_t offset, int bpp,
                                  const uint8_t pal[256][3], int bottom_up, const char *name,
                                  af_image *img, af_error *err)
{
    rle_state s = {buf, len, offset, img, img->w, img->h, bottom_up, 0, 0};
    int line_end_flag = 0;
    if (offset > len)
        goto truncated;
    for (;;) {
        int n, code;
        if (!next_byte(&s, &n) || !next_byte(&s, &code))
            goto truncated;
        if (n != 0) { /* encoded run */
            if (s.x + n > s.w)
                goto overrun;
            if (bpp == 8) {
                int prev_y = s.y;
                fill(&s, n, pal[code]);
                line_end_flag = s.y - prev_y;
                if (s.y >= s.h)
                    break;
            } else {
                for (int i = 0; i < n; i++)
                    put(&s, pal[i & 1 ? code & 15 : code >> 4]);
            }
        } else if (code > 2) { /* absolute block, padded to a 16-bit boundary */
            if (s.x + code > s.w)
                goto overrun;
            size_t bytes = bpp == 8 ? (size_t)(code + 1) & ~(size_t)1
                                    : ((size_t)((code + 1) >> 1) + 1) & ~(size_t)1;
            if (bytes > s.len - s.pos)
                goto truncated;
            const uint8_t *p = s.buf + s.pos;
            for (int i = 0; i < code; i++)
                put(&s, pal[bpp == 8 ? p[i] : (i & 1 ? p[i / 2] & 15 : p[i / 2] >> 4)]);
            s.pos += bytes;
            line_end_flag = 0;
        } else { /* 0: end of line, 1: end of bitmap, 2: delta */
            long dx = s.w - s.x, dy = s.h - s.y;
            if (bpp == 4) {
                int b;
                if (code == 2 && (!next_byte(&s, &b) || (dx = b, !next_byte(&s, &b))))
                    goto truncated;
                fill(&s, dx, pal[0]);
                if (s.y >= s.h)
                    break;
                continue;
            }
            if (code || !line_end_flag || dx < s.w) {
                int bx, by;
                if (code == 2) {
                    if (!next_byte(&s, &bx) || !next_byte(&s, &by))
                        goto truncated;
                    dx = bx;
                    dy = by;
                }
                if (code)
                    dx += dy * s.w;
                if (s.y >= s.h)
                    break;
                fill(&s, dx, pal[0]);
                if (s.y >= s.h)
                    break;
            }
            line_end_flag = 0;
            if (s.y >= s.h)
                break;
        }
    }
    return AF_OK;
overrun:
    return af_fail(err, AF_E_FORMAT, "%s: invalid RLE%d BMP data: a run passes the end of row %d",
                   name, bpp, s.bottom_up ? s.h - 1 - s.y : s.y);
truncated:
    return af_fail(err, AF_E_FORMAT,
                   "%s: truncated RLE%d BMP data (premature end of file before the last row)",
                   name, bpp);
}
