/* The detection options of `predict` and `crop` from their parsed arguments. */
#include "cli/detect_args.h"

void cli_detect_options(af_detect_options *o, double conf, double iou, int max_det, int agnostic,
                        const opt_intlist *imgsz, const opt_intlist *classes)
{
    af_detect_options_default(o);
    o->conf = (float)conf;
    o->iou = (float)iou;
    o->max_det = max_det;
    o->agnostic = agnostic;
    if (imgsz->n) {
        o->imgsz_h = imgsz->v[0];
        o->imgsz_w = imgsz->n > 1 ? imgsz->v[1] : imgsz->v[0];
    }
    if (classes->n) {
        o->classes = classes->v;
        o->nclasses = classes->n;
    }
}
