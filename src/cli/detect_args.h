/* The detection options of `predict` and `crop` from their parsed arguments. */
#ifndef AF_CLI_DETECT_ARGS_H
#define AF_CLI_DETECT_ARGS_H

#include "animeface.h"
#include "cli/options.h"

/* af_detect_options_default, then conf, iou, max_det, agnostic, imgsz (N, or
 * H,W; none: the model's) and classes (none: all). o->classes points into
 * *classes, which must outlive o. */
void cli_detect_options(af_detect_options *o, double conf, double iou, int max_det, int agnostic,
                        const opt_intlist *imgsz, const opt_intlist *classes);

#endif
