/* Which detections become crops (the filters are in face_crop.h). */
#include "detect/face_crop.h"

static int class_wanted(const af_face_select_opts *o, int cls)
{
    if (!o->classes)
        return 1;
    for (int i = 0; i < o->nclasses; i++)
        if (o->classes[i] == cls)
            return 1;
    return 0;
}

static double area(const af_detection *d)
{
    double w = (double)d->x2 - d->x1, h = (double)d->y2 - d->y1;
    return (w > 0 ? w : 0) * (h > 0 ? h : 0);
}

int af_face_select(const af_detection *d, int n, int img_w, int img_h,
                   const af_face_select_opts *o, int *keep)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        double w = (double)d[i].x2 - d[i].x1, h = (double)d[i].y2 - d[i].y1;
        double shorter = w < h ? w : h;
        double rel = w / img_w > h / img_h ? w / img_w : h / img_h;
        if (!(d[i].conf >= o->conf) || !class_wanted(o, d[i].cls) ||
            (o->min_size > 0 && !(shorter >= o->min_size)) ||
            (o->max_size > 0 && !(shorter <= o->max_size)) || (o->min_rel > 0 && !(rel >= o->min_rel)))
            continue;
        keep[k++] = i;
    }
    if (o->one_face && k != 1)
        return 0;
    if (o->max_faces > 0 && k > o->max_faces) {
        /* drop the smallest (the later one among equals) until K are left */
        while (k > o->max_faces) {
            int worst = 0;
            for (int j = 1; j < k; j++)
                if (area(&d[keep[j]]) <= area(&d[keep[worst]]))
                    worst = j;
            for (int j = worst; j + 1 < k; j++)
                keep[j] = keep[j + 1];
            k--;
        }
    }
    return k;
}
