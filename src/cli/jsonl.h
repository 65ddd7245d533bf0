/* JSON Lines output of predict: one object per image. */
#ifndef AF_CLI_JSONL_H
#define AF_CLI_JSONL_H

#include <stdio.h>

#include "animeface.h"

void jsonl_write_string(FILE *f, const char *s);
void jsonl_write_result(FILE *f, const char *image, int width, int height, const af_detection *d,
                        int n, const af_model *m);
void jsonl_write_error(FILE *f, const char *image, const char *error);

#endif
