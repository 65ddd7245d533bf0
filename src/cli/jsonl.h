/* JSON Lines output of predict: one object per image. serve writes the same
 * detections array (jsonl_write_detections) in its answers. */
#ifndef AF_CLI_JSONL_H
#define AF_CLI_JSONL_H

#include <stdio.h>

#include "animeface.h"

void jsonl_write_string(FILE *f, const char *s);
/* "detections": [{"box": [x1, y1, x2, y2], "conf", "cls", "name"}, ...] */
void jsonl_write_detections(FILE *f, const af_detection *d, int n, const af_model *m);
void jsonl_write_result(FILE *f, const char *image, int width, int height, const af_detection *d,
                        int n, const af_model *m);
void jsonl_write_error(FILE *f, const char *image, const char *error);

#endif
