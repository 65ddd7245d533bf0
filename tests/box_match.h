/* Matching our detections against a golden list of boxes (test_predict,
 * test_releases): each golden box takes the unused detection of its class with
 * |dconf| <= 1e-4 that overlaps it most, and counts as matched at IoU >= 0.999. */
#ifndef AF_TESTS_BOX_MATCH_H
#define AF_TESTS_BOX_MATCH_H

#include <math.h>

#include "animeface.h"

static inline double t_box_iou(const double *a, const af_detection *b)
{
    double ix = fmin(a[2], b->x2) - fmax(a[0], b->x1), iy = fmin(a[3], b->y2) - fmax(a[1], b->y1);
    if (ix <= 0 || iy <= 0)
        return 0;
    double inter = ix * iy;
    double ua = (a[2] - a[0]) * (a[3] - a[1]) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return ua > 0 ? inter / ua : 0;
}

/* Matches one golden box (xyxy, conf, cls) among d[0..nd) not yet used; marks
 * the match used and widens *worst_iou / *worst_dconf. 1 if matched. */
static inline int t_match_box(const double *xyxy, double conf, long long cls,
                              const af_detection *d, int nd, char *used, double *worst_iou,
                              double *worst_dconf)
{
    int best = -1;
    double best_iou = 0;
    for (int j = 0; j < nd; j++) {
        if (used[j] || d[j].cls != cls || fabs(d[j].conf - conf) > 1e-4)
            continue;
        double v = t_box_iou(xyxy, &d[j]);
        if (v > best_iou) {
            best_iou = v;
            best = j;
        }
    }
    if (best < 0 || best_iou < 0.999)
        return 0;
    used[best] = 1;
    *worst_iou = fmin(*worst_iou, best_iou);
    *worst_dconf = fmax(*worst_dconf, fabs(d[best].conf - conf));
    return 1;
}

#endif
