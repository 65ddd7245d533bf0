/* animeface calibrate MODEL --source DIR -o OUT.safetensors: the int8
 * calibration. Runs the fp32 model over the images of DIR (the first
 * --images in sorted order, with predict's letterbox) and records, for every
 * convolution, the largest |value| of its input; writes the checkpoint again
 * with those ranges in its metadata ("int8_act_absmax"), which
 * `--precision int8` then uses (the weights get one scale per output channel,
 * their largest |w|, when the model switches to int8). Deterministic: the
 * same images give the same file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/sources.h"
#include "detect/context.h"
#include "io/image.h"
#include "model/checkpoint.h"
#include "model/model.h"

int cmd_calibrate(int argc, char **argv)
{
    const char *out = NULL, *source = NULL;
    int help = 0, imgsz = 0, nimages = 200, threads = 0;
    opt_spec specs[] = {
        {"source", NULL, OPT_STRING, &source, 1, 0, "folder (or list, glob) of images", "DIR"},
        {"output", "o", OPT_STRING, &out, 1, 0, "output safetensors file", "FILE"},
        {"imgsz", NULL, OPT_INT, &imgsz, 1, 0, "image size (default: the model's)", "N"},
        {"images", NULL, OPT_INT, &nimages, 1, 0, "use the first N images, sorted (200)", "N"},
        {"threads", NULL, OPT_INT, &threads, 1, 0, "compute threads (all cores)", "N"},
        {"help", NULL, OPT_BOOL, &help, 1, 0, "show this help", NULL},
    };
    int ns = (int)(sizeof specs / sizeof specs[0]);
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-o"))
            argv[i] = "--output";
    char *pos[4];
    int npos;
    if (opt_parse("animeface calibrate", argc, argv, specs, ns, pos, 4, &npos))
        return 2;
    if (help || npos != 1 || !source || !out || nimages < 1) {
        opt_print_help("Usage: animeface calibrate MODEL --source DIR -o OUT.safetensors\n"
                       "Measures each convolution's input range on the images of DIR and writes\n"
                       "the model with them in its metadata, for --precision int8.",
                       specs, ns);
        return help ? 0 : 2;
    }
    af_checkpoint ck;
    af_error err = {0};
    if (af_checkpoint_load(pos[0], &ck, &err)) {
        fprintf(stderr, "animeface calibrate: %s\n", err.msg);
        return 1;
    }
    af_model *m = NULL;
    af_context *ctx = NULL;
    source_list src = {0};
    float *absmax = NULL;
    int rc = 1, done = 0, bad = 0;
    if (af_model_build(&ck, &m, &err) || af_context_create(m, threads, &ctx, &err)) {
        fprintf(stderr, "animeface calibrate: %s: %s\n", pos[0], err.msg);
        goto out;
    }
    char *srcs[1] = {(char *)source};
    if (sources_expand(srcs, 1, 0, &src) || !(absmax = calloc((size_t)m->nconvs, sizeof *absmax))) {
        fprintf(stderr, "animeface calibrate: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < src.nerrors; i++)
        fprintf(stderr, "animeface calibrate: %s\n", src.errors[i]);
    af_forward_observe(af_context_forward(ctx), absmax);
    af_detect_options o;
    af_detect_options_default(&o);
    o.imgsz_h = imgsz;
    for (size_t i = 0; i < src.count && done < nimages; i++) {
        af_image img = {0};
        const af_detection *d;
        int nd;
        af_status st = af_image_load(src.paths[i], NULL, &img, &err);
        if (!st)
            st = af_detect(ctx, img.data, img.w, img.h, (size_t)img.w * img.c, AF_PIXEL_RGB, &o,
                           &d, &nd, &err);
        af_image_free(&img);
        if (st) {
            fprintf(stderr, "animeface calibrate: %s: %s (skipped)\n", src.paths[i], err.msg);
            bad++;
            continue;
        }
        done++;
    }
    if (!done) {
        fprintf(stderr, "animeface calibrate: %s: no image could be used\n", source);
        goto out;
    }
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; j && i < m->nconvs; i++)
        if (!cJSON_AddNumberToObject(j, m->convs[i].name, absmax[i])) {
            cJSON_Delete(j);
            j = NULL;
        }
    if (!j) {
        fprintf(stderr, "animeface calibrate: out of memory\n");
        goto out;
    }
    cJSON_Delete(ck.int8);
    ck.int8 = j;
    af_dtype dt = ck.tensors.count && ck.tensors.items[0].dtype == AF_DT_F16 ? AF_DT_F16
                                                                             : AF_DT_F32;
    if (af_checkpoint_save_safetensors(&ck, out, dt, &err)) {
        fprintf(stderr, "animeface calibrate: %s\n", err.msg);
        goto out;
    }
    printf("%s -> %s: int8 input ranges of %d convolutions from %d images of %s%s\n", pos[0], out,
           m->nconvs, done, source, bad ? " (some skipped, see above)" : "");
    rc = src.nerrors || bad ? 1 : 0;
out:
    free(absmax);
    sources_free(&src);
    af_context_free(ctx);
    af_model_free(m);
    af_checkpoint_free(&ck);
    return rc;
}
