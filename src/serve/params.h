/* The options of a request (conf, iou, imgsz, max_det, classes, agnostic;
 * for /v1/crop also margin, square, size, format, quality), read from the
 * form fields or the query string by name, checked and turned into
 * af_detect_options and crop settings. */
#ifndef AF_SERVE_PARAMS_H
#define AF_SERVE_PARAMS_H

#include <stddef.h>

#include "animeface.h"

#define SERVE_MAX_CLASSES 64

typedef struct serve_crop_params {
    double margin;      /* grow the face box by margin x its width/height on each side */
    int square;         /* a square of the grown box's longer side, same centre */
    int size_w, size_h; /* resize to this (0: keep); size N alone: longest side N */
    int size_n;         /* the single-number form (0: W,H or none) */
    const char *format; /* "jpeg", "png" or "webp" (af_image_encode's names) */
    const char *ext;    /* "jpg", "png", "webp" */
    int quality;        /* JPEG quality 1..100 */
    size_t max_bytes;   /* the crops' encoded bytes together, beyond which the request fails */
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
