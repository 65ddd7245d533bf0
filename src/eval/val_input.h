/* The validation input pipeline of ultralytics 8.1.9 (YOLODataset with
 * rect=True, augment=False): images sorted by aspect ratio into batches that
 * share one shape, each image resized so its long side is imgsz
 * (load_image: ceil rounding, INTER_LINEAR) and padded, centred, to its batch
 * shape (LetterBox(auto=False, scaleup=False), pad 114). */
#ifndef AF_EVAL_VAL_INPUT_H
#define AF_EVAL_VAL_INPUT_H

#include "animeface.h"
#include "io/image.h"

typedef struct af_val_plan {
    int n;        /* images */
    int *order;   /* order[k]: the image at sorted position k (by h/w ascending) */
    int bs;       /* batch size */
    int nbatch;
    int *batch_h; /* per batch: network input shape */
    int *batch_w;
} af_val_plan;

/* BaseDataset.set_rectangle: h0/w0 are the original image sizes. */
af_status af_val_plan_rect(const int *h0, const int *w0, int n, int imgsz, int stride, int bs,
                           af_val_plan *plan, af_error *err);
void af_val_plan_free(af_val_plan *plan);

/* The image as the validator feeds it: resized (long side imgsz) then padded
 * to bh x bw. gain_h/gain_w: resized/original sizes (ultralytics ratio_pad[0]),
 * pad_left/pad_top: the letterbox padding (ratio_pad[1]). */
typedef struct af_val_image {
    af_image input; /* bh x bw RGB */
    int h0, w0;
    double gain_h, gain_w;
    int pad_left, pad_top;
    int rw, rh;     /* the resized image inside the padding */
    double dw, dh;  /* LetterBox's unrounded half paddings (it shifts labels by these) */
} af_val_image;

af_status af_val_prepare(const af_image *orig, int imgsz, int bh, int bw, af_val_image *out,
                         af_error *err);
void af_val_image_free(af_val_image *v);

#endif
