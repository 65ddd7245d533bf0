/* --model: a checkpoint path, or the bundled default. */
#include <stdint.h>
#include <stdio.h>

#include <nettle/sha2.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "ops/engine.h"

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

static int set_precision(const char *cmd, af_model *m, const char *precision)
{
    if (!precision || !strcmp(precision, "fp32") || !strcmp(precision, "f32"))
        return 0;
    af_error err = {0};
    if (!strcmp(precision, "int8")) {
        if (af_model_set_precision(m, AF_PRECISION_INT8, &err)) {
            fprintf(stderr, "animeface %s: --precision int8: %s\n", cmd, err.msg);
            return 1;
        }
        return 0;
    }
    if (strcmp(precision, "bf16")) {
        fprintf(stderr, "animeface %s: --precision must be fp32, bf16 or int8, not '%s'\n", cmd,
                precision);
        return 1;
    }
    af_status st = af_model_set_precision(m, AF_PRECISION_BF16, &err);
    if (st == AF_E_UNSUPPORTED) {
        fprintf(stderr, "animeface %s: notice: --precision bf16: %s; running fp32\n", cmd, err.msg);
        return 0;
    }
    if (st) {
        fprintf(stderr, "animeface %s: --precision bf16: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}

static int set_conv_algo(const char *cmd, af_model *m, const char *algo)
{
    af_conv_algo a;
    if (!algo || !strcmp(algo, "auto"))
        return 0;
    if (!strcmp(algo, "direct")) {
        a = AF_CONV_ALGO_DIRECT;
    } else if (!strcmp(algo, "fast")) {
        a = AF_CONV_ALGO_FAST;
    } else {
        fprintf(stderr, "animeface %s: --conv must be auto, direct or fast, not '%s'\n", cmd,
                algo);
        return 1;
    }
    af_error err = {0};
    if (af_model_set_conv_algo(m, a, &err)) {
        fprintf(stderr, "animeface %s: --conv %s: %s\n", cmd, algo, err.msg);
        return 1;
    }
    return 0;
}

int cli_set_numerics(const char *cmd, af_model *m, const char *precision, const char *conv)
{
    return set_conv_algo(cmd, m, conv) || set_precision(cmd, m, precision);
}

int cli_cpu_has_bf16(void)
{
    af_engine *e = NULL;
    af_error err = {0};
    if (af_engine_create(&e, &err))
        return 0;
    const int has = af_engine_has_bf16(e, NULL);
    af_engine_free(e);
    return has;
}

int cli_model_sha256(const char *path, char hex[65])
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    if (!path || !*path) {
        size_t n;
        const unsigned char *bytes = cli_default_model(&n);
        sha256_update(&c, n, bytes);
    } else {
        FILE *f = fopen(path, "rb");
        if (!f)
            return 1;
        uint8_t buf[1 << 16];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            sha256_update(&c, n, buf);
        int bad = ferror(f);
        fclose(f);
        if (bad)
            return 1;
    }
    sha256_digest(&c, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}
