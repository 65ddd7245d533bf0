/* RandomFlip's image and box updates (ultralytics Instances.fliplr / flipud on pixel boxes:
 * x1' = w - x2, x2' = w - x1; likewise y with h). */
#include <string.h>

#include "train/augment.h"

void af_flip_lr(af_image *img, af_boxes *b)
{
    int w = img->w, c = img->c;
    if (img->data && w > 1) {
        for (int y = 0; y < img->h; y++) {
            uint8_t *row = img->data + (size_t)y * (size_t)w * (size_t)c;
            for (int l = 0, r = w - 1; l < r; l++, r--) {
                for (int k = 0; k < c; k++) {
                    uint8_t t = row[(size_t)l * c + k];
                    row[(size_t)l * c + k] = row[(size_t)r * c + k];
                    row[(size_t)r * c + k] = t;
                }
            }
        }
    }
    if (b) {
        float fw = (float)w;
        for (int i = 0; i < b->n; i++) {
            float *p = b->xyxy + 4 * (size_t)i;
            float x1 = p[0], x2 = p[2];
            p[0] = fw - x2;
            p[2] = fw - x1;
        }
    }
}

void af_flip_ud(af_image *img, af_boxes *b)
{
    int h = img->h;
    size_t row = (size_t)img->w * (size_t)img->c;
    if (img->data && h > 1) {
        uint8_t tmp[256];
        for (int t = 0, u = h - 1; t < u; t++, u--) {
            uint8_t *a = img->data + (size_t)t * row, *z = img->data + (size_t)u * row;
            for (size_t off = 0; off < row; off += sizeof tmp) {
                size_t k = row - off < sizeof tmp ? row - off : sizeof tmp;
                memcpy(tmp, a + off, k);
                memcpy(a + off, z + off, k);
                memcpy(z + off, tmp, k);
            }
        }
    }
    if (b) {
        float fh = (float)h;
        for (int i = 0; i < b->n; i++) {
            float *p = b->xyxy + 4 * (size_t)i;
            float y1 = p[1], y2 = p[3];
            p[1] = fh - y2;
            p[3] = fh - y1;
        }
    }
}
