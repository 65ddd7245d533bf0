/* Reasons a path is not a readable regular file (see io/file_kind.h). */
#include "io/file_kind.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *af_file_kind_problem(mode_t mode)
{
    if (S_ISREG(mode))
        return NULL;
    if (S_ISDIR(mode))
        return "is a directory, not an image file";
    if (S_ISFIFO(mode))
        return "is a FIFO (named pipe), not an image file";
    if (S_ISSOCK(mode))
        return "is a socket, not an image file";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "is a device, not an image file";
    return "is not a regular file";
}

const char *af_path_unreadable_reason(const char *path, char *buf, size_t n)
{
    struct stat ls, st;
    if (lstat(path, &ls) != 0) {
        snprintf(buf, n, "%s", strerror(errno));
        return buf;
    }
    if (stat(path, &st) != 0) {
        int e = errno;
        if (!S_ISLNK(ls.st_mode))
            snprintf(buf, n, "cannot stat: %s", strerror(e));
        else if (e == ENOENT)
            snprintf(buf, n, "dangling symbolic link (its target does not exist)");
        else if (e == ELOOP)
            snprintf(buf, n, "symbolic link loop (too many levels of symbolic links)");
        else
            snprintf(buf, n, "cannot follow symbolic link: %s", strerror(e));
        return buf;
    }
    const char *kind = af_file_kind_problem(st.st_mode);
    if (kind) {
        snprintf(buf, n, "%s", kind);
        return buf;
    }
    if (access(path, R_OK) != 0) {
        snprintf(buf, n, "%s", strerror(errno)); /* "Permission denied" */
        return buf;
    }
    return NULL;
}
