/*
 * YOLO txt labels as ultralytics 8.1.9 Results.save_txt writes them for
 * detection: one line per box, "cls cx cy w h" (+ " conf" with save_conf),
 * each value printed with Python's "%g" and single spaces. cx cy w h are
 * Boxes.xywhn: xyxy2xywh in float32, x values / orig_w and y values / orig_h
 * in float32.
 */
#ifndef AF_DETECT_LABELS_H
#define AF_DETECT_LABELS_H

#include <stddef.h>

#include "animeface.h"

/* Formats one line, without newline; returns what snprintf returns. */
int af_label_line(char *buf, size_t cap, const af_detection *d, int img_w, int img_h,
                  int save_conf);

/* Appends the lines for n detections to path (mode "a", as ultralytics). Like
 * ultralytics, nothing is created when n == 0. */
af_status af_labels_append(const char *path, const af_detection *d, int n, int img_w, int img_h,
                           int save_conf, af_error *err);

#endif
