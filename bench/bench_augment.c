/*
 * Training augmentation throughput on one thread: the whole per-sample pipeline at 640
 * (default hyperparameters: mosaic + affine + HSV + flip; and the close_mosaic path), then
 * its parts (mosaic canvas, affine warp of the 1280 canvas to 640, HSV LUT pass).
 * Synthetic 640-long-side images with a few rectangles; printed, never asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/augment.h"

#define NIMG 8

typedef struct ds {
    af_labelled it[NIMG];
} ds;

static af_status load(void *user, int index, af_labelled *out, af_error *err)
{
    (void)err;
    *out = ((ds *)user)->it[index];
    out->owned = 0;
    return AF_OK;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void)
{
    ds d;
    memset(&d, 0, sizeof d);
    for (int k = 0; k < NIMG; k++) {
        af_labelled *l = &d.it[k];
        int w = (k & 1) ? 360 + 20 * k : 640, h = (k & 1) ? 640 : 360 + 20 * k;
        if (af_image_alloc(&l->img, w, h, 3, NULL))
            return 1;
        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            l->img.data[i] = (uint8_t)((i * 2654435761u) >> 24);
        l->n = 4;
        l->cls = calloc(4, sizeof(int));
        l->xywhn = malloc(16 * sizeof(float));
        for (int j = 0; j < 4; j++) {
            float v[4] = {0.2f + 0.2f * j, 0.3f + 0.1f * j, 0.15f, 0.2f};
            memcpy(l->xywhn + 4 * j, v, sizeof v);
        }
    }
    af_aug_hyp h;
    af_aug_hyp_default(&h);
    printf("%-44s %10s\n", "640, one thread", "samples/s");
    for (int mode = 1; mode >= 0; mode--) {
        int n = 0;
        double t0 = now(), el = 0;
        while (el < 2.0) {
            af_sample s;
            if (af_augment(load, &d, NIMG, n % NIMG, 640, &h, mode, 1, 0, &s, NULL))
                return 1;
            af_sample_free(&s);
            n++;
            el = now() - t0;
        }
        printf("%-44s %10.1f\n", mode ? "mosaic + affine + hsv + flip (defaults)" :
                                         "close_mosaic: letterbox + affine + hsv + flip",
               n / el);
    }
    /* parts */
    const af_labelled *tp[4] = {&d.it[0], &d.it[1], &d.it[2], &d.it[3]};
    af_image canvas = {0};
    int n = 0;
    double t0 = now(), el = 0;
    while (el < 1.0) {
        af_boxes b = {0};
        af_image_free(&canvas);
        if (af_mosaic4(tp, 640, 600, 700, &canvas, &b, NULL))
            return 1;
        af_boxes_free(&b);
        n++;
        el = now() - t0;
    }
    printf("%-44s %10.1f\n", "  mosaic4 canvas 1280x1280", n / el);
    double M[6] = {0.9, 0.05, -250, -0.05, 0.9, -260};
    n = 0, t0 = now(), el = 0;
    while (el < 1.0) {
        af_image o = {0};
        if (af_warp_affine(&canvas, M, 640, 640, 114, &o, NULL))
            return 1;
        af_image_free(&o);
        n++;
        el = now() - t0;
    }
    printf("%-44s %10.1f\n", "  warpAffine 1280 -> 640", n / el);
    af_image o = {0};
    af_warp_affine(&canvas, M, 640, 640, 114, &o, NULL);
    double r[3] = {1.01, 0.7, 1.2};
    uint8_t lut[3][256];
    af_hsv_luts(r, lut);
    n = 0, t0 = now(), el = 0;
    while (el < 1.0) {
        af_hsv_apply(&o, lut);
        n++;
        el = now() - t0;
    }
    printf("%-44s %10.1f\n", "  HSV LUT pass 640x640", n / el);
    af_image_free(&o);
    af_image_free(&canvas);
    for (int k = 0; k < NIMG; k++) {
        d.it[k].owned = 1;
        af_labelled_free(&d.it[k]);
    }
    return 0;
}
