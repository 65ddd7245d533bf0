/* Command-line options shared by the subcommands. Accepts the GNU spellings
 * (--conf 0.3, --conf=0.3, --save, --no-save) and the ultralytics ones
 * (conf=0.3, save=True, model=x.pt, source=dir). */
#ifndef AF_CLI_OPTIONS_H
#define AF_CLI_OPTIONS_H

#include <stddef.h>

typedef enum opt_type { OPT_BOOL, OPT_INT, OPT_FLOAT, OPT_STRING, OPT_INTLIST } opt_type;

typedef struct opt_spec {
    const char *name;  /* long name, e.g. "max-det" (ultralytics key: '-' -> '_') */
    const char *alias; /* another accepted name (ultralytics spelling), or NULL */
    opt_type type;
    void *dst;         /* bool/int -> int*, float -> double*, string -> const char**,
                        * intlist -> opt_intlist* */
    double min, max;   /* range for numbers (ignored when min > max) */
    const char *help;
    const char *metavar;
} opt_spec;

typedef struct opt_intlist {
    int v[256];
    int n;
} opt_intlist;

/* Parses argv[0..argc) against specs; arguments that are not options are
 * collected in positional (capacity cap, count in *npos). Key=value words
 * whose key is "source" are positional. Returns 0, or 1 after printing one
 * error line to stderr (prog: name for messages). */
int opt_parse(const char *prog, int argc, char **argv, const opt_spec *specs, int nspecs,
              char **positional, int cap, int *npos);

void opt_print_help(const char *usage, const opt_spec *specs, int nspecs);

/* A command's prologue: opt_parse into a new array of positionals (*pos, the
 * caller frees it; *npos of them), then --help (*help, the spec's flag,
 * read after parsing) prints usage and the options. Returns -1 to go on, else
 * the command's exit status: 0 after the help, 2 on a bad option, 1 out of
 * memory (then *pos is NULL). */
int opt_parse_cmd(const char *prog, const char *usage, int argc, char **argv,
                  const opt_spec *specs, int nspecs, const int *help, char ***pos, int *npos);

#endif
