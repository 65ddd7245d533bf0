/*
 * cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for 8-bit images,
 * bit-exact with OpenCV 4.6 on x86-64 (SSE2 baseline build, as Debian ships it):
 *  - same size: plain copy;
 *  - exactly 2x smaller in both directions: OpenCV switches to INTER_AREA's fast path,
 *    (a + b + c + d + 2) >> 2;
 *  - otherwise fixed-point bilinear: 11-bit coefficients rounded from float positions,
 *    an exact integer horizontal pass, and OpenCV's 8-bit vertical pass
 *    ((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16), then (+2) >> 2, which its SSE2
 *    loop and its scalar tail share (verified against cv2 4.6 on ~400 random sizes,
 *    1/3/4 channels, up- and downscaling: 0 differing bytes).
 */
/*
 * The crop command's resizes, also bit-exact with OpenCV 4.6's SSE2 build (checked against
 * cv2 goldens made by tests/fixtures/resize/gen_resize.py):
 *  - af_resize_area_u8_into = cv2.INTER_AREA when shrinking (both sides not larger): a copy
 *    for the same size, the 2x2 integer path above, other integer scales as the plain cell
 *    sum times float 1/area, otherwise OpenCV's float-weighted cells (computeResizeAreaTab);
 *  - af_resize_cubic_u8_into = cv2.INTER_CUBIC (A = -0.75, 11-bit coefficients, edge
 *    pixels repeated): its vertical pass runs in float for the first multiple of 8 values
 *    of each row (OpenCV's SSE2 vector op) and in fixed point for the rest.
 */
#ifndef AF_DETECT_RESIZE_H
#define AF_DETECT_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"
#include "io/image.h"

/* dst is allocated (new_w x new_h x src->c); any previous content is overwritten, not freed. */
af_status af_resize_linear_u8(const af_image *src, int new_w, int new_h, af_image *dst,
                              af_error *err);

/* Same on raw strided buffers: c channels (1..4), strides in bytes. dst must not overlap src. */
af_status af_resize_linear_u8_into(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                                   uint8_t *dst, int dw, int dh, size_t dstride, af_error *err);

af_status af_resize_area_u8_into(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                                 uint8_t *dst, int dw, int dh, size_t dstride, af_error *err);
af_status af_resize_cubic_u8_into(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                                  uint8_t *dst, int dw, int dh, size_t dstride, af_error *err);

/* The argument checks the three share: sizes >= 1, c 1..4, strides large enough. */
af_status af_resize_check_args(const uint8_t *src, int sw, int sh, size_t sstride, int c,
                               const uint8_t *dst, int dw, int dh, size_t dstride, af_error *err);

#endif
