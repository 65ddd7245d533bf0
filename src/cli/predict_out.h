/* What predict writes per image besides the log: annotated image, YOLO txt
 * labels, crops (ultralytics' save_dir layout). */
#ifndef AF_CLI_PREDICT_OUT_H
#define AF_CLI_PREDICT_OUT_H

#include "animeface.h"
#include "draw/draw.h"
#include "io/image.h"

typedef struct predict_out {
    const af_model *m;
    const char *save_dir;
    int save, save_txt, save_conf, save_crop;
    af_draw_style style;
    const char **names;
    int nnames;
    int nlabels; /* label files written */
} predict_out;

void predict_out_init(predict_out *o, const af_model *m, const char *save_dir, int save,
                      int save_txt, int save_conf, int save_crop, int line_width,
                      int hide_labels, int hide_conf);
af_status predict_out_write(predict_out *o, const char *src_path, const af_image *img,
                            const af_detection *d, int n, af_error *err);
void predict_out_free(predict_out *o);

#endif
