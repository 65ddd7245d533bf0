/*
 * ultralytics 8.1.9 Mosaic._mosaic4 (data/augment.py): a 2s x 2s canvas of 114, the centre
 * (xc, yc) in [s/2, 1.5s), tile 0 top-left of the centre, 1 top-right, 2 bottom-left,
 * 3 bottom-right, each cut where it leaves the canvas; labels xywhn -> xyxy pixels of the
 * tile + its offset (x1a - x1b, y1a - y1b); then clip to [0, 2s] and drop zero-area boxes
 * (_cat_labels: Instances.clip + remove_zero_area_boxes).
 */
#include <string.h>

#include "core/error.h"
#include "train/augment.h"

void af_mosaic_center(af_rng *r, int imgsz, int *xc, int *yc)
{
    /* border = -imgsz // 2: uniform(-border, 2s + border), int() truncates (values > 0) */
    int b = imgsz / 2; /* imgsz even */
    *yc = (int)af_rng_uniform(r, (double)b, (double)(2 * imgsz - b));
    *xc = (int)af_rng_uniform(r, (double)b, (double)(2 * imgsz - b));
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

af_status af_mosaic4(const af_labelled *tiles[4], int imgsz, int xc, int yc, af_image *out,
                     af_boxes *boxes, af_error *err)
{
    if (imgsz < 2 || imgsz > 4096 || (imgsz & 1))
        return af_fail(err, AF_E_ARG, "mosaic: imgsz %d is not an even number in 2..4096",
                       imgsz);
    int s2 = 2 * imgsz;
    if (xc < 0 || xc > s2 || yc < 0 || yc > s2)
        return af_fail(err, AF_E_ARG, "mosaic: centre (%d, %d) is outside the %dx%d canvas", xc,
                       yc, s2, s2);
    for (int i = 0; i < 4; i++) {
        const af_image *im = &tiles[i]->img;
        if (!im->data || im->c != 3 || im->w < 1 || im->h < 1)
            return af_fail(err, AF_E_ARG, "mosaic: image %d is empty or not RGB", i);
        if (tiles[i]->n < 0 || (tiles[i]->n > 0 && (!tiles[i]->cls || !tiles[i]->xywhn)))
            return af_fail(err, AF_E_ARG, "mosaic: labels of image %d are missing", i);
    }
    af_status st = af_image_alloc(out, s2, s2, 3, err);
    if (st)
        return st;
    memset(out->data, 114, (size_t)s2 * (size_t)s2 * 3);
    int base = boxes->n;
    for (int i = 0; i < 4; i++) {
        const af_image *im = &tiles[i]->img;
        int w = im->w, h = im->h;
        int x1a, y1a, x2a, y2a, x1b, y1b, x2b, y2b;
        if (i == 0) {
            x1a = imax(xc - w, 0), y1a = imax(yc - h, 0), x2a = xc, y2a = yc;
            x1b = w - (x2a - x1a), y1b = h - (y2a - y1a), x2b = w, y2b = h;
        } else if (i == 1) {
            x1a = xc, y1a = imax(yc - h, 0), x2a = imin(xc + w, s2), y2a = yc;
            x1b = 0, y1b = h - (y2a - y1a), x2b = imin(w, x2a - x1a), y2b = h;
        } else if (i == 2) {
            x1a = imax(xc - w, 0), y1a = yc, x2a = xc, y2a = imin(s2, yc + h);
            x1b = w - (x2a - x1a), y1b = 0, x2b = w, y2b = imin(y2a - y1a, h);
        } else {
            x1a = xc, y1a = yc, x2a = imin(xc + w, s2), y2a = imin(s2, yc + h);
            x1b = 0, y1b = 0, x2b = imin(w, x2a - x1a), y2b = imin(y2a - y1a, h);
        }
        /* the formulas keep both rectangles the same size and inside their images */
        int cw = x2a - x1a, ch = y2a - y1a;
        if (cw > 0 && ch > 0 && cw == x2b - x1b && ch == y2b - y1b && x1b >= 0 && y1b >= 0 &&
            x2b <= w && y2b <= h) {
            for (int y = 0; y < ch; y++)
                memcpy(out->data + ((size_t)(y1a + y) * s2 + (size_t)x1a) * 3,
                       im->data + ((size_t)(y1b + y) * w + (size_t)x1b) * 3, (size_t)cw * 3);
        }
        st = af_boxes_add_labelled(boxes, tiles[i], 1.0, (double)(x1a - x1b),
                                   (double)(y1a - y1b), err);
        if (st) {
            af_image_free(out);
            return st;
        }
    }
    /* clip + remove_zero_area_boxes over the mosaic's boxes */
    float lim = (float)s2;
    int k = base;
    for (int i = base; i < boxes->n; i++) {
        float *p = boxes->xyxy + 4 * (size_t)i;
        for (int j = 0; j < 4; j++)
            p[j] = p[j] < 0.0f ? 0.0f : p[j] > lim ? lim : p[j];
        if ((p[2] - p[0]) * (p[3] - p[1]) > 0.0f) {
            if (k != i) {
                memmove(boxes->xyxy + 4 * (size_t)k, p, 4 * sizeof(float));
                boxes->cls[k] = boxes->cls[i];
            }
            k++;
        }
    }
    boxes->n = k;
    return AF_OK;
}
