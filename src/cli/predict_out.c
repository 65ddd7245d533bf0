#include "cli/predict_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/fsutil.h"
#include "core/error.h"
#include "detect/crop.h"
#include "detect/labels.h"

void predict_out_init(predict_out *o, const af_model *m, const char *save_dir, int save,
                      int save_txt, int save_conf, int save_crop, int line_width,
                      int hide_labels, int hide_conf)
{
    memset(o, 0, sizeof *o);
    o->m = m;
    o->save_dir = save_dir;
    o->save = save;
    o->save_txt = save_txt;
    o->save_conf = save_conf;
    o->save_crop = save_crop;
    af_draw_style_default(&o->style);
    o->style.line_width = line_width;
    o->style.hide_labels = hide_labels;
    o->style.hide_conf = hide_conf;
    o->nnames = af_model_num_classes(m);
    o->names = malloc((size_t)o->nnames * sizeof *o->names);
    if (o->names)
        for (int i = 0; i < o->nnames; i++)
            o->names[i] = af_model_class_name(m, i);
    else
        o->nnames = 0;
}

void predict_out_free(predict_out *o)
{
    free(o->names);
    o->names = NULL;
}

static af_status save_annotated(predict_out *o, const char *src_path, const af_image *img,
                                const af_detection *d, int n, af_error *err)
{
    af_image copy = {0};
    af_status st = af_image_alloc(&copy, img->w, img->h, img->c, err);
    if (st)
        return st;
    memcpy(copy.data, img->data, (size_t)img->w * img->h * img->c);
    st = af_draw_detections(&copy, d, n, o->names, o->nnames, &o->style, err);
    if (!st) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", o->save_dir, fs_basename(src_path));
        st = af_image_save(path, &copy, 0, err);
    }
    af_image_free(&copy);
    return st;
}

static af_status save_crops(predict_out *o, const char *stem, const af_image *img,
                            const af_detection *d, int n, af_error *err)
{
    for (int i = 0; i < n; i++) {
        af_image crop = {0};
        af_status st = af_crop(img, &d[i], AF_CROP_GAIN, AF_CROP_PAD, 0, &crop, err);
        if (st)
            return st;
        if (crop.w > 0 && crop.h > 0) {
            char dir[8192], want[8400], path[8400];
            snprintf(dir, sizeof dir, "%s/crops/%s", o->save_dir,
                     af_model_class_name(o->m, d[i].cls));
            if (fs_mkdirs(dir)) {
                af_image_free(&crop);
                return af_fail(err, AF_E_IO, "cannot create %s", dir);
            }
            snprintf(want, sizeof want, "%s/%s.jpg", dir, stem);
            fs_increment_file(want, path, sizeof path);
            st = af_image_save(path, &crop, 95, err);
        }
        af_image_free(&crop);
        if (st)
            return st;
    }
    return AF_OK;
}

af_status predict_out_write(predict_out *o, const char *src_path, const af_image *img,
                            const af_detection *d, int n, af_error *err)
{
    char stem[1024];
    fs_stem(src_path, stem, sizeof stem);
    af_status st = AF_OK;
    if (o->save && (st = save_annotated(o, src_path, img, d, n, err)))
        return st;
    if (o->save_txt && n > 0) {
        char path[8192];
        snprintf(path, sizeof path, "%s/labels/%s.txt", o->save_dir, stem);
        int existed = fs_exists(path);
        if ((st = af_labels_append(path, d, n, img->w, img->h, o->save_conf, err)))
            return st;
        o->nlabels += !existed;
    }
    if (o->save_crop && (st = save_crops(o, stem, img, d, n, err)))
        return st;
    return AF_OK;
}
