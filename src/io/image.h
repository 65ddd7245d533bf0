/*
 * 8-bit images: decoding (JPEG, PNG, BMP, WebP, TIFF, PNM, GIF, AVIF), encoding (JPEG, PNG,
 * BMP, WebP) and conversion from caller pixel buffers.
 *
 * Decoding reproduces `cv2.imread(path, cv2.IMREAD_COLOR)` of OpenCV 4.6 followed by
 * BGR->RGB, pixel for pixel:
 *  - JPEG: libjpeg-turbo with its default settings (islow DCT, fancy upsampling), gray
 *    replicated to 3 channels, CMYK converted as OpenCV does, EXIF orientation applied
 *    (first APP1 marker only, as OpenCV reads it).
 *  - PNG: 16-bit reduced to 8 by dropping the low byte (png_set_strip_16), palette and
 *    gray expanded, alpha DROPPED without compositing; the EXIF orientation of an eXIf
 *    chunk is applied (OpenCV 4.6 does so for PNG too).
 *  - BMP: 1/4/8-bit palette, 16-bit 555/565, 24 and 32-bit (alpha dropped), bottom-up
 *    and top-down, RLE4/RLE8 with OpenCV's handling of deltas and early ends.
 *  - WebP: libwebp, alpha dropped.
 *  - TIFF: libtiff's RGBA interface as OpenCV uses it, first page, Orientation tag applied.
 *  - PNM: PBM/PGM/PPM, ASCII and binary, maxval over 255 (image_pnm.c gives the rules).
 * and, for formats OpenCV 4.6 does not read (the reference is then PIL or avifdec):
 *  - GIF (giflib) and animated WebP (libwebpdemux): the first frame, alpha dropped.
 *  - AVIF (libavif): the primary image, converted as avifdec does, alpha dropped.
 * Sizes are checked against af_image_limits from the header, before any pixel buffer
 * is allocated.
 *
 * Recoverable JPEG damage: libjpeg warnings about corrupt data (e.g. "extraneous bytes
 * before marker", a bad Huffman code, a marker inside the data) are swallowed and the
 * image is returned, as OpenCV does. A JPEG whose data ends before the image is complete
 * is an error here (AF_E_FORMAT, "truncated JPEG data"), whereas OpenCV returns it with
 * gray fill; a baseline JPEG that lacks only its final EOI marker still decodes.
 *
 * Every error message starts with the file name given (name_for_errors / path).
 */
#ifndef AF_IO_IMAGE_H
#define AF_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"

/* c == 3: RGB interleaved; rows tightly packed (w*c bytes). c may be 1..4 for internal use. */
typedef struct af_image {
    int w, h, c;
    uint8_t *data;
} af_image;

typedef struct af_image_limits {
    uint64_t max_pixels;     /* w*h */
    int max_dim;             /* max(w, h) */
    uint64_t max_file_bytes; /* size of the encoded file */
} af_image_limits;

/* max_pixels 1<<28 (OpenCV allows 1<<30), max_dim 65500, max_file_bytes 1 GiB. */
void af_image_limits_default(af_image_limits *l);

/* The formats af_image_decode reads, for messages. */
#define AF_IMAGE_FORMATS_TEXT "JPEG, PNG, BMP, WebP, TIFF, GIF, AVIF or PNM"

/* Reads and decodes a file; format by content (magic bytes), not by name. lim NULL: defaults.
 * Only regular files are opened (a FIFO, socket or device is refused without blocking). */
af_status af_image_load(const char *path, const af_image_limits *lim, af_image *out, af_error *err);

/* Decodes an encoded image held in memory. */
af_status af_image_decode(const uint8_t *buf, size_t len, const char *name_for_errors,
                          const af_image_limits *lim, af_image *out, af_error *err);

/* Copies caller pixels of any af_pixel_format into a new RGB image (alpha ignored).
 * stride: bytes between rows, at least w * bytes-per-pixel. */
af_status af_image_from_pixels(const uint8_t *px, int w, int h, size_t stride,
                               af_pixel_format fmt, af_image *out, af_error *err);

/* Allocates w*h*c bytes (uninitialised). img is overwritten (not freed). */
af_status af_image_alloc(af_image *img, int w, int h, int c, af_error *err);

/* Frees the pixels and zeroes the struct; safe on a zeroed or already freed image. */
void af_image_free(af_image *img);

/* Writes img (c == 3 RGB, or c == 1 gray) to path; format from the extension
 * (.jpg/.jpeg/.png/.bmp/.webp, any case). jpeg_quality 1..100, 0 => 95 as cv2.imwrite.
 * PNG uses cv2.imwrite's defaults (zlib level 1, SUB filter); WebP is lossless (cv2's
 * default); BMP is 24-bit (8-bit with a gray palette for c == 1). */
af_status af_image_save(const char *path, const af_image *img, int jpeg_quality, af_error *err);

/* Encodes to a malloc'd buffer (*out, *out_len; caller frees). fmt: "jpeg", "png", "bmp", "webp". */
af_status af_image_encode(const af_image *img, const char *fmt, int jpeg_quality, uint8_t **out,
                          size_t *out_len, af_error *err);

/* ---- internal: used between the image_*.c files ---- */

/* Fails with AF_E_LIMIT / AF_E_FORMAT when w x h is empty or over the limits. */
af_status af_image_check_size(const char *name, const char *what, uint64_t w, uint64_t h,
                              const af_image_limits *lim, af_error *err);

af_status af_image_decode_jpeg(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err);
af_status af_image_decode_png(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err);
af_status af_image_decode_bmp(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err);
af_status af_image_decode_webp(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err);
af_status af_image_decode_tiff(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err);
af_status af_image_decode_pnm(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err);
af_status af_image_decode_gif(const uint8_t *buf, size_t len, const char *name,
                              const af_image_limits *lim, af_image *out, af_error *err);
af_status af_image_decode_avif(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err);

/* 1 when buf starts like an AVIF file (ftyp box with an avif/avis brand). */
int af_image_is_avif(const uint8_t *buf, size_t len);

/* RLE8 (bpp 8) / RLE4 (bpp 4) pixel data at buf + offset into img (allocated w x h x 3);
 * pal: the palette (RGB, 256 entries, unused ones zero). */
af_status af_image_decode_bmp_rle(const uint8_t *buf, size_t len, size_t offset, int bpp,
                                  const uint8_t pal[256][3], int bottom_up, const char *name,
                                  af_image *img, af_error *err);

/* EXIF orientation (1..8) from a TIFF block ("II*\0"/"MM\0*" header first); 0 if absent
 * or unreadable. */
int af_exif_orientation(const uint8_t *tiff, size_t len);

/* Applies an EXIF orientation as cv2.imread does (flips / transpose). 0 or 1: nothing. */
af_status af_image_apply_orientation(af_image *img, int orientation, af_error *err);

#endif
