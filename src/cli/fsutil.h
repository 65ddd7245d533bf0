/* File-system helpers for the CLI: mkdir -p, ultralytics' increment_path,
 * path pieces. */
#ifndef AF_CLI_FSUTIL_H
#define AF_CLI_FSUTIL_H

#include <stddef.h>

/* mkdir -p; 0 on success. */
int fs_mkdirs(const char *path);

/* runs/detect/predict -> predict2, predict3, ... when it exists and !exist_ok
 * (ultralytics increment_path with sep ""). Directories only. */
void fs_increment_dir(const char *path, int exist_ok, char *out, size_t cap);

/* file.jpg -> file.jpg, file2.jpg, ... for files (crop names). */
void fs_increment_file(const char *path, char *out, size_t cap);

const char *fs_basename(const char *path);
/* Basename without the extension, into out. */
void fs_stem(const char *path, char *out, size_t cap);
int fs_exists(const char *path);

#endif
