#include "cli/resume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int path_set_add(path_set *s, const char *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return 1;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(p)))
        return 1;
    s->n++;
    s->sorted = 0;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int path_set_has(path_set *s, const char *p)
{
    if (!s->n)
        return 0;
    if (!s->sorted) {
        qsort(s->v, s->n, sizeof *s->v, cmp_str);
        s->sorted = 1;
    }
    return bsearch(&p, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

void path_set_free(path_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

int resume_scan(const char *path, const char *prefix, int (*fn)(void *ud, const cJSON *rec),
                void *ud)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "%s: cannot read %s: %s\n", prefix, path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    long keep = 0; /* bytes of complete, accepted lines */
    ssize_t n;
    int cut = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n') {
            cut = 1;
            break;
        }
        cJSON *rec = cJSON_ParseWithLength(line, (size_t)n);
        int ok = cJSON_IsObject(rec) && fn(ud, rec);
        cJSON_Delete(rec);
        if (!ok) {
            cut = 1;
            break;
        }
        keep += (long)n;
    }
    int bad = ferror(f);
    free(line);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: cannot read %s\n", prefix, path);
        return 1;
    }
    if (cut && truncate(path, keep) != 0) {
        fprintf(stderr, "%s: cannot truncate %s: %s\n", prefix, path, strerror(errno));
        return 1;
    }
    return 0;
}
