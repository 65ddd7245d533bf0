#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/failures.h"

void failures_add(failure_list *f, const char *msg)
{
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        char **p = realloc(f->items, (size_t)cap * sizeof *p);
        if (!p)
            return;
        f->items = p;
        f->cap = cap;
    }
    char *s = strdup(msg);
    if (s)
        f->items[f->n++] = s;
}

void failures_print(const failure_list *f, size_t total)
{
    if (!f->n)
        return;
    fprintf(stderr, "%d of %zu source%s failed:\n", f->n, total, total == 1 ? "" : "s");
    for (int i = 0; i < f->n; i++)
        fprintf(stderr, "  %s\n", f->items[i]);
}

void failures_free(failure_list *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->items[i]);
    free(f->items);
    memset(f, 0, sizeof *f);
}

void cli_absolute_path(const char *p, char *out, size_t cap)
{
    if (p[0] == '/') {
        snprintf(out, cap, "%s", p);
        return;
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    const char *q = p;
    while (q[0] == '.' && q[1] == '/')
        q += 2;
    snprintf(out, cap, "%s/%s", cwd, q);
}
