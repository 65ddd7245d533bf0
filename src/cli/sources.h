/* Expands predict's SOURCE arguments (files, directories, globs, .txt lists
 * of paths) into the list of image files, in ultralytics' order. */
#ifndef AF_CLI_SOURCES_H
#define AF_CLI_SOURCES_H

#include <stddef.h>

typedef struct source_list {
    char **paths;
    size_t count, cap;
    char **errors; /* "PATH: does not exist" etc. */
    size_t nerrors, errcap;
} source_list;

/* Returns 0, or 1 on out-of-memory. Problems with single sources go to errors. */
int sources_expand(char **args, int nargs, int recursive, source_list *out);
void sources_free(source_list *l);

/* 1 if the file name ends in an image extension ultralytics accepts. */
int sources_is_image_name(const char *path);

#endif
