/* animeface export MODEL.pt -o MODEL.safetensors: the native format. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "model/checkpoint.h"
#include "model/model.h"

int cmd_export(int argc, char **argv)
{
    const char *out = NULL, *dtype = "auto";
    int help = 0;
    opt_spec specs[] = {
        {"output", "o", OPT_STRING, &out, 1, 0, "output file (default: MODEL with .safetensors)",
         "FILE"},
        {"dtype", NULL, OPT_STRING, &dtype, 1, 0, "f16, f32 or auto (as stored; default)", "T"},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-o"))
            argv[i] = "--output";
    char *pos[4];
    int npos;
    if (opt_parse("animeface export", argc, argv, specs, ns, pos, 4, &npos))
        return 2;
    if (help || npos != 1) {
        opt_print_help("Usage: animeface export MODEL.pt [-o OUT.safetensors] [--dtype f16|f32]\n"
                       "Writes the checkpoint as safetensors with ultralytics tensor names and the\n"
                       "model description in its metadata.",
                       specs, ns);
        return help ? 0 : 2;
    }
    char outbuf[4096];
    if (!out) {
        const char *in = pos[0];
        const char *dot = strrchr(in, '.');
        const char *slash = strrchr(in, '/');
        size_t n = dot && (!slash || dot > slash) ? (size_t)(dot - in) : strlen(in);
        snprintf(outbuf, sizeof outbuf, "%.*s.safetensors", (int)n, in);
        out = outbuf;
    }
    af_checkpoint ck;
    af_error err = {0};
    if (af_checkpoint_load(pos[0], &ck, &err)) {
        fprintf(stderr, "animeface export: %s\n", err.msg);
        return 1;
    }
    /* build it once to prove the weights match the description */
    af_model *m = NULL;
    if (af_model_build(&ck, &m, &err)) {
        fprintf(stderr, "animeface export: %s: %s\n", pos[0], err.msg);
        af_checkpoint_free(&ck);
        return 1;
    }
    af_model_free(m);
    af_dtype dt = AF_DT_F32;
    if (!strcmp(dtype, "f16"))
        dt = AF_DT_F16;
    else if (!strcmp(dtype, "auto"))
        dt = ck.tensors.count && ck.tensors.items[0].dtype == AF_DT_F16 ? AF_DT_F16 : AF_DT_F32;
    else if (strcmp(dtype, "f32")) {
        fprintf(stderr, "animeface export: --dtype must be f16, f32 or auto\n");
        af_checkpoint_free(&ck);
        return 2;
    }
    int rc = 0;
    if (af_checkpoint_save_safetensors(&ck, out, dt, &err)) {
        fprintf(stderr, "animeface export: %s\n", err.msg);
        rc = 1;
    } else {
        printf("%s -> %s (%zu tensors, %s)\n", pos[0], out, ck.tensors.count,
               dt == AF_DT_F16 ? "f16" : "f32");
    }
    af_checkpoint_free(&ck);
    return rc;
}
