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
    char **error_paths; /* the PATH of each error (same order; may be short on OOM) */
    size_t nerror_paths, errpcap;
} source_list;

/* Returns 0, or 1 on out-of-memory. Problems with single sources go to errors. */
int sources_expand(char **args, int nargs, int recursive, source_list *out);
void sources_free(source_list *l);

/* 1 if the file name ends in an image extension ultralytics 8.1.9 accepts (IMG_FORMATS:
 * bmp dng jpeg jpg mpo png tif tiff webp pfm) or one of the formats animeface reads beyond
 * it (gif avif pbm pgm ppm pnm). Folder entries with such a name are listed whatever they
 * are (FIFO, dangling symlink, folder, ...): the loader then refuses them with a reason. */
int sources_is_image_name(const char *path);

#endif
