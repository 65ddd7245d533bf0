/* The options of a request (conf, iou, imgsz, max_det, classes, agnostic;
 * for /v1/crop also `animeface crop`'s: margin, square, aspect, pad, size,
 * no_upscale, min_size, max_size, min_rel, max_faces, one_face, format,
 * quality), read from the form fields or the query string by name (the
 * CLI's, with underscores for dashes), checked and turned into
 * af_detect_options and crop_cfg. */
#ifndef AF_SERVE_PARAMS_H
#define AF_SERVE_PARAMS_H

#include <stddef.h>

#include "animeface.h"
#include "cli/crop_write.h"

#define SERVE_MAX_CLASSES 64

typedef struct serve_crop_params {
    crop_cfg cfg;     /* `animeface crop`'s options: geometry, selection, size, format */
    size_t max_bytes; /* the crops' encoded bytes together, beyond which the request fails */
} serve_crop_params;

/* /v1/crop cuts at most this many faces per request (ultralytics' default max_det). */
#define SERVE_MAX_CROPS 300

typedef struct serve_params {
    af_detect_options det;
    int classes[SERVE_MAX_CLASSES];
    serve_crop_params crop;
} serve_params;

/* Returns the value given for name, or NULL when the request has none. */
typedef const char *(*serve_lookup_fn)(void *cls, const char *name);

/* Fills p from the request's values; max_imgsz bounds imgsz; default_conf (> 0:
 * the model's calibrated threshold, as predict uses) is conf when the request
 * gives none. On a bad value returns AF_E_ARG with one line naming the option
 * and the problem. */
af_status serve_params_parse(serve_lookup_fn lookup, void *cls, int max_imgsz, float default_conf,
                             serve_params *p, af_error *err);

#endif
