/* The bad files of a batch: collected while it goes on, listed at the end. */
#ifndef AF_CLI_FAILURES_H
#define AF_CLI_FAILURES_H

typedef struct failure_list {
    char **items;
    int n, cap;
} failure_list;

void failures_add(failure_list *f, const char *msg);
/* "N of TOTAL sources failed:" and one indented line each, on stderr (nothing if none). */
void failures_print(const failure_list *f, size_t total);
void failures_free(failure_list *f);

/* path made absolute against the working directory (as ultralytics prints it). */
void cli_absolute_path(const char *p, char *out, size_t cap);

#endif
