/* /v1/crop: `animeface crop` on one upload, in memory. The faces it keeps, the
 * rectangles, padding, resizing, encoding and manifest records are crop's own
 * (cli/crop_write.h, detect/face_crop.h), so a member of the zip is the file
 * `animeface crop` writes for the same image and options, byte for byte. */
#ifndef AF_SERVE_CROP_ZIP_H
#define AF_SERVE_CROP_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"
#include "io/image.h"
#include "serve/params.h"

typedef struct serve_crop_source {
    const char *name;  /* the upload's file name ("image" when none) */
    const char *model; /* model name and content hash, for the manifest */
    const char *model_sha256;
    const af_model *m; /* class names */
} serve_crop_source;

/* Crops the detections c->cfg.sel keeps out of img and returns a zip
 * (malloc'd *zip, *len) holding STEM_I.EXT per crop and manifest.jsonl with
 * crop's record per crop: {"source" (the upload's name), "crop", "rect",
 * "box", "box_in_crop", "size", "conf", "cls", "name", "model",
 * "model_sha256"}. */
af_status serve_crop_zip(const af_image *img, const af_detection *d, int n,
                         const serve_crop_params *c, const serve_crop_source *src, uint8_t **zip,
                         size_t *len, af_error *err);

#endif
