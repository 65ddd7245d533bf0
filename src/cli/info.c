/* animeface info MODEL: what a checkpoint holds. */
#include <stdio.h>

#include "cli/commands.h"
#include "model/desc.h"
#include "model/model.h"

int cmd_info(int argc, char **argv)
{
    if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
        printf("Usage: animeface info [MODEL]   (no MODEL: the bundled default)\n");
        return argc == 1 ? 0 : 2;
    }
    const char *shown;
    af_model *m = cli_load_model(argc ? argv[0] : NULL, &shown);
    if (!m)
        return 1;
    const af_model_desc *d = &m->desc;
    printf("model:      %s\n", shown);
    printf("scale:      %c (depth %.2f, width %.2f, max channels %d)\n", d->scale ? d->scale : '-',
           d->depth, d->width, d->max_channels);
    printf("layers:     %d, %d convolutions, %lld parameters\n", d->nlayers, m->nconvs,
           af_model_desc_param_count(d));
    printf("strides:   ");
    for (int l = 0; l < m->nlevels; l++)
        printf(" %d", m->strides[l]);
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
