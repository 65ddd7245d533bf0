/* animeface info MODEL: what a checkpoint holds, or what a built-in description
 * (yolov8n.yaml, yolo11s.yaml, ...) resolves to. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "model/desc.h"
#include "model/model.h"

/* 2624080 -> "2,624,080", as ultralytics' model summary prints it. */
static const char *grouped(long long v, char *buf, size_t cap)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", v), o = 0;
    for (int i = 0; i < n && o + 2 < (int)cap; i++) {
        if (i && digits[i - 1] != '-' && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* A built-in description name: the model it describes, with random weights. */
static af_model *load_description(const char *name)
{
    af_error err = {0};
    af_model *m = NULL;
    cJSON *y = af_model_yaml_builtin(name, 0, &err);
    if (!y || af_model_build_random(y, 0, 0, &m, &err)) {
        fprintf(stderr, "animeface: cannot load model: %s\n", err.msg);
        m = NULL;
    }
    cJSON_Delete(y);
    return m;
}

int cmd_info(int argc, char **argv)
{
    if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
        printf("Usage: animeface info [MODEL]   (no MODEL: the bundled default)\n");
        return argc == 1 ? 0 : 2;
    }
    const char *shown = argc ? argv[0] : NULL;
    size_t len = shown ? strlen(shown) : 0;
    int yaml = (len > 5 && !strcmp(shown + len - 5, ".yaml")) ||
               (len > 4 && !strcmp(shown + len - 4, ".yml"));
    af_model *m = yaml ? load_description(shown) : cli_load_model(shown, &shown);
    if (!m)
        return 1;
    const af_model_desc *d = &m->desc;
    printf("model:      %s\n", shown);
    printf("scale:      %c (depth %.2f, width %.2f, max channels %d)\n", d->scale ? d->scale : '-',
           d->depth, d->width, d->max_channels);
    char buf[40];
    printf("layers:     %d, %d convolutions, %s parameters%s\n", d->nlayers, m->nconvs,
           grouped(af_model_desc_param_count(d), buf, sizeof buf),
           yaml ? " (a description: no weights)" : "");
    printf("strides:   ");
    for (int l = 0; l < m->nlevels; l++)
        printf(" %d", m->strides[l]);
    if (yaml)
        printf("\nclasses:    %d:", m->nc);
    else
        printf("\nimgsz:      %d (trained at)\nclasses:    %d:", m->imgsz, m->nc);
    for (int c = 0; c < m->nc && c < 20; c++)
        printf(" %d=%s", c, m->names[c]);
    printf("%s\n", m->nc > 20 ? " ..." : "");
    if (m->conf_threshold > 0)
        printf("conf:       %.3f (calibrated: the F1-optimal confidence; predict's and crop's "
               "default)\n",
               m->conf_threshold);
    else
        printf("conf:       none calibrated (predict's default 0.25; 'animeface val "
               "--save-threshold' stores one)\n");
    af_model_free(m);
    return 0;
}
