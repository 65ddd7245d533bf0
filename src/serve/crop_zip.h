/* /v1/crop: each face box grown by `margin`, made `square`, resized to
 * `size`, encoded, and packed with a manifest.jsonl into one zip in memory.
 *
 * The geometry is this file's own until `animeface crop` (issue 17) lands in
 * the library; serve_crop_rect is the one place that would then call its
 * rectangle function, and serve_crop_zip the one that would call its
 * crop-and-resize. Rule: the box grows by margin x its width (height) on each
 * side; square takes the longer side of the grown box around the same
 * centre; the size is rounded up to whole pixels, the position rounded to
 * the nearest pixel, then the rectangle is shifted inside the image and, if
 * it is still larger than the image, shrunk to it (a square to the image's
 * shorter side). Resizing is bilinear (cv2 INTER_LINEAR). */
#ifndef AF_SERVE_CROP_ZIP_H
#define AF_SERVE_CROP_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"
#include "io/image.h"
#include "serve/params.h"

/* The crop rectangle [r0, r2) x [r1, r3) of box d in a w x h image. */
void serve_crop_rect(const af_detection *d, int w, int h, double margin, int square, int r[4]);

/* The output size of a cw x ch crop under c's size setting. */
void serve_crop_out_size(const serve_crop_params *c, int cw, int ch, int *ow, int *oh);

typedef struct serve_crop_source {
    const char *name;  /* the upload's file name ("image" when none) */
    const char *model; /* model name and content hash, for the manifest */
    const char *model_sha256;
    const af_model *m; /* class names */
} serve_crop_source;

/* Crops every detection out of img and returns a zip (malloc'd *zip, *len)
 * holding STEM_I.EXT per crop and manifest.jsonl, one record per crop:
 * {"source", "crop", "rect", "box", "box_in_crop", "size", "conf", "cls",
 * "name", "model", "model_sha256"}. */
af_status serve_crop_zip(const af_image *img, const af_detection *d, int n,
                         const serve_crop_params *c, const serve_crop_source *src, uint8_t **zip,
                         size_t *len, af_error *err);

#endif
