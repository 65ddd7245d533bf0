/* predict --resume: the images a killed run finished, found again from its --json file
 * (one line per image) or, for --save-txt, its journal SAVE_DIR/.predict-done.jsonl
 * ({"image", "txt", "size"} after each image's labels are written). */
#ifndef AF_CLI_PREDICT_RESUME_H
#define AF_CLI_PREDICT_RESUME_H

#include <stdio.h>

#include "cli/resume.h"

typedef struct predict_resume {
    path_set done;
    FILE *journal; /* --save-txt: appended per image */
} predict_resume;

/* Reads (json_path may be NULL; save_dir "" without --save-txt), cuts off half-written
 * lines, and puts the label file of the first unfinished image back as the last finished
 * image left it. paths: the run's images in order. Opens the journal for appending when
 * journaling. Returns 0, or 1 after an error line. */
int predict_resume_open(predict_resume *r, int resume, const char *json_path,
                        const char *save_dir, int save_txt, char **paths, size_t n);
/* After an image's labels: its journal line (txt_path NULL when it wrote none). */
void predict_resume_record(predict_resume *r, const char *image, const char *txt_path);
void predict_resume_close(predict_resume *r);

#endif
