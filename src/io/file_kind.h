/* Why a path cannot be read as an image file: FIFOs, sockets, devices, directories,
 * dangling symlinks, symlink loops, missing read permission. Used by the image loader
 * (before opening, so a FIFO never blocks) and by the folder listings of predict and val,
 * so that such entries are reported with their reason instead of dropped or hung on. */
#ifndef AF_IO_FILE_KIND_H
#define AF_IO_FILE_KIND_H

#include <stddef.h>
#include <sys/stat.h>

/* NULL when mode is a regular file; else "is a FIFO (named pipe), not an image file" etc. */
const char *af_file_kind_problem(mode_t mode);

/* NULL when path is (or links to) a regular file this process may read; else a one-line
 * reason without the path, e.g. "dangling symbolic link (its target does not exist)",
 * written into buf (n bytes) and returned. Never opens the file. */
const char *af_path_unreadable_reason(const char *path, char *buf, size_t n);

#endif
