/* Resuming batch runs killed at any moment (crop's manifest and journal, predict's
 * JSON Lines): reading back what a run appended and cutting off what it left half done. */
#ifndef AF_CLI_RESUME_H
#define AF_CLI_RESUME_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* A sorted set of strings (source paths). */
typedef struct path_set {
    char **v;
    size_t n, cap;
    int sorted;
} path_set;

int path_set_add(path_set *s, const char *p); /* 0, or 1 when out of memory */
int path_set_has(path_set *s, const char *p);
void path_set_free(path_set *s);

/* Reads the JSON Lines file path (a missing file reads as empty): calls fn for each
 * complete line holding a JSON object, in order; at the first line that is incomplete
 * (no newline: the writer was killed), not JSON, or that fn refuses (returns 0), the file
 * is truncated there and reading stops. Returns 0, or 1 after printing why (prefix:
 * "animeface CMD"). */
int resume_scan(const char *path, const char *prefix, int (*fn)(void *ud, const cJSON *rec),
                void *ud);

#endif
