/* Running the animeface command from a test (test_cli, test_crop_cli): the
 * binary ($AF_CLI, set by `make test`) and a shell command line with its
 * output captured. */
#ifndef AF_TESTS_CLI_RUN_H
#define AF_TESTS_CLI_RUN_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static inline const char *cli(void)
{
    const char *p = getenv("AF_CLI");
    return p && *p ? p : "build/release/animeface";
}

/* Runs a shell command line (printf-style, up to 8 KiB), captures stdout and
 * stderr into out (cap bytes, NUL-terminated); returns its exit status, -1 if
 * it did not exit normally. */
static inline int sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
