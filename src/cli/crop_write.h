/* One image's crops for `animeface crop`: selection, rectangles, pixels, resize, files
 * written atomically (a hidden temporary name, then rename), and its manifest records. */
#ifndef AF_CLI_CROP_WRITE_H
#define AF_CLI_CROP_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* One crop of det (the k-th kept face): its name {base}_{k}.{ext} into name, the
 * encoded file (malloc'd *enc) and its manifest record into rec; writes no file.
 * Returns 0, or 1 with msg saying why. */
int crop_encode(const crop_cfg *c, const char *source, const char *base, int k,
                const af_image *img, const af_detection *det, FILE *rec, char *name,
                size_t name_cap, uint8_t **enc, size_t *enc_len, char *msg, size_t cap);

/* --aspect W:H into W / H; --pad none|edge|black|color:R,G,B into g. 1 when bad. */
int crop_parse_aspect(const char *s, double *out);
int crop_parse_pad(const char *s, af_face_crop_opts *g);

/* source: the path as given (recorded as it is); base: crop_names' base for it. */
void crop_image(const crop_cfg *c, const char *source, const char *base, const af_image *img,
                const af_detection *d, int nd, crop_result *r);

#endif
