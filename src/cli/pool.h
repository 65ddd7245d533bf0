/* The image worker pool of predict and crop: several images at once, each with its own
 * context and a share of the cores, decoded and detected in any order; what a user sees
 * (logs, files in order, manifests) is done in source order, one image at a time. */
#ifndef AF_CLI_POOL_H
#define AF_CLI_POOL_H

#include <stddef.h>

#include "animeface.h"
#include "io/image.h"

#define POOL_MAX_WORKERS 16

typedef struct pool_item {
    size_t i;            /* index into the paths */
    const char *path;
    af_image img;        /* decoded, EXIF-upright RGB (empty when st != AF_OK) */
    af_status st;
    af_error err;
    const af_detection *d; /* valid until ordered() returns */
    int nd;
    af_timings t;
    void *result;        /* work()'s output for ordered() (which frees it) */
} pool_item;

typedef struct pool_fns {
    /* optional: in the worker after detection, images in any order (encode, write) */
    void (*work)(void *ud, pool_item *it);
    /* in source order, one image at a time */
    void (*ordered)(void *ud, pool_item *it);
    void *ud;
} pool_fns;

typedef struct pool {
    af_context *ctx[POOL_MAX_WORKERS];
    int n;   /* workers */
    int per; /* compute threads each */
} pool;

/* One worker per core by default (workers > 0 sets it), never more than nimages; the
 * cores (threads > 0 sets them) split among them. Returns 0, or 1 after an error line. */
int pool_create(pool *p, const char *cmd, af_model *m, int threads, int workers, size_t nimages);
void pool_run(pool *p, char **paths, size_t count, const af_detect_options *o, const pool_fns *f);
void pool_free(pool *p);

#endif
