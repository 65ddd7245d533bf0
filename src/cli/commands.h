/* The subcommands of the animeface CLI, one file each. Each returns the
 * process exit status. */
#ifndef AF_CLI_COMMANDS_H
#define AF_CLI_COMMANDS_H

#include "animeface.h"

int cmd_predict(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_val(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_crop(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Loads --model, or the bundled default when path is NULL or empty. Prints
 * the error line itself; returns NULL on failure. */
af_model *cli_load_model(const char *path, const char **shown_name);
/* SHA-256 of the model file (the bundled bytes for NULL/""), as 64 hex digits. 0, or 1
 * when the file cannot be read. */
int cli_model_sha256(const char *path, char hex[65]);
/* Help lines of --precision and --conv (predict, val, bench). */
#define CLI_HELP_PRECISION                                                                       \
    "fp32 (default), bf16 (CPUs with avx512_bf16/AMX; elsewhere a notice, then fp32) or int8 "   \
    "(a model made by animeface calibrate; bench calibrates a .yaml description on its input)"
#define CLI_HELP_CONV                                                                            \
    "3x3 convs: auto (Winograd F(2x2,3x3) and its stride-2 form where they pay, the default), " \
    "direct (oneDNN only) or fast (stride 1 by Winograd F(4x4,3x3): faster, ~10x the rounding " \
    "error)"

/* --conv (auto: nothing to do, direct or fast), then --precision (fp32:
 * nothing to do, bf16: where the CPU has no bf16, one notice line and fp32,
 * or int8: a calibrated model, else an error), in that order: the narrow
 * weights are made from the fp32 ones of the chosen algorithm. Either may be
 * NULL. Returns 0, or 1 after an error line. */
int cli_set_numerics(const char *cmd, af_model *m, const char *precision, const char *conv);
/* Whether this CPU runs bf16 (oneDNN's avx512_bf16/AMX kernels). */
int cli_cpu_has_bf16(void);

#endif
