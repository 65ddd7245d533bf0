/* One image's crops for `animeface crop`: selection, rectangles, pixels, resize, files
 * written atomically (a hidden temporary name, then rename), and its manifest records. */
#ifndef AF_CLI_CROP_WRITE_H
#define AF_CLI_CROP_WRITE_H

#include <stddef.h>

#include "animeface.h"
#include "detect/face_crop.h"
#include "io/image.h"

typedef struct crop_cfg {
    const char *out_dir;
    af_face_crop_opts geo;
    af_face_select_opts sel;
    int size_w, size_h; /* 0: the crop's own size */
    int no_upscale;
    const char *ext;    /* "jpg", "png" or "webp" */
    int quality;        /* JPEG */
    int name_box;       /* kohya's _{cx}_{cy}_{w}_{h} */
    int keep_tree;      /* bases may hold folders: create them */
    const af_model *m;
    const char *model_name, *model_sha256;
} crop_cfg;

typedef struct crop_result {
    char *records;   /* the manifest lines, '\n'-terminated (malloc'd) */
    size_t len;
    int ncrops;
    int failed;      /* a crop could not be made or written: msg says why */
    char msg[1200];
} crop_result;

/* source: the path as given (recorded as it is); base: crop_names' base for it. */
void crop_image(const crop_cfg *c, const char *source, const char *base, const af_image *img,
                const af_detection *d, int nd, crop_result *r);

#endif
