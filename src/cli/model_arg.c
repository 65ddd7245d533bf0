/* --model: a checkpoint path, or the bundled default. */
#include <stdio.h>

#include "cli/commands.h"
#include "cli/default_model.h"

af_model *cli_load_model(const char *path, const char **shown_name)
{
    af_model *m = NULL;
    af_error err = {0};
    af_status st;
    if (!path || !*path) {
        size_t n;
        const unsigned char *bytes = cli_default_model(&n);
        st = af_model_load_memory(bytes, n, CLI_DEFAULT_MODEL_NAME, &m, &err);
        if (shown_name)
            *shown_name = CLI_DEFAULT_MODEL_NAME;
    } else {
        st = af_model_load(path, &m, &err);
        if (shown_name)
            *shown_name = path;
    }
    if (st) {
        fprintf(stderr, "animeface: cannot load model: %s\n", err.msg);
        return NULL;
    }
    return m;
}
