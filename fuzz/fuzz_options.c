/* Fuzz target: the CLI option parser (opt_parse). The input is split into argv
 * words at NUL and newline bytes; the spec table has one option of every type
 * with the ranges `animeface predict` uses. opt_parse prints its one error line
 * to stderr (run libFuzzer with -close_fd_mask=2 to keep the log short). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    char **argv = malloc((size + 1) * sizeof *argv);
    if (!text || !argv) {
        free(text);
        free(argv);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    int argc = 0;
    char *w = text;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || text[i] == '\0' || text[i] == '\n') {
            text[i] = '\0';
            argv[argc++] = w;
            w = text + i + 1;
        }
    }
    int save = 0, max_det = 300, line_width = 0;
    double conf = 0.25, iou = 0.7;
    const char *model = NULL, *project = NULL;
    opt_intlist imgsz = {{0}, 0}, classes = {{0}, 0};
    const opt_spec specs[] = {
        {"conf", NULL, OPT_FLOAT, &conf, 0, 1, "confidence threshold", "X"},
        {"iou", NULL, OPT_FLOAT, &iou, 0, 1, "NMS IoU", "X"},
        {"imgsz", NULL, OPT_INTLIST, &imgsz, 1, 8192, "input size", "N"},
        {"max-det", NULL, OPT_INT, &max_det, 1, 100000, "boxes", "N"},
        {"classes", NULL, OPT_INTLIST, &classes, 0, 100000, "class ids", "C"},
        {"line-width", "line_thickness", OPT_INT, &line_width, 0, 1000, "px", "PX"},
        {"save", NULL, OPT_BOOL, &save, 0, 0, "save", NULL},
        {"model", "weights", OPT_STRING, &model, 0, 0, "model", "PATH"},
        {"project", NULL, OPT_STRING, &project, 0, 0, "project", "DIR"},
    };
    char *pos[16];
    int npos = 0;
    if (opt_parse("fuzz", argc, argv, specs, (int)(sizeof specs / sizeof *specs), pos, 16,
                  &npos) == 0) {
        volatile size_t sink = 0;
        for (int i = 0; i < npos; i++)
            sink += strlen(pos[i]);
        if (model)
            sink += strlen(model);
        (void)sink;
    }
    free(argv);
    free(text);
    return 0;
}
