#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

af_status af_read_file_all(const char *path, size_t max_size, void **out, size_t *len,
                           af_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return af_fail(err, AF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return af_fail(err, AF_E_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > (uint64_t)max_size) {
        fclose(f);
        return af_fail(err, AF_E_LIMIT, "%s: file is %lld bytes (limit %zu)", path,
                       (long long)sb.st_size, max_size);
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return af_fail(err, AF_E_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (got != n || bad) {
        free(buf);
        return af_fail(err, AF_E_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    *out = buf;
    *len = n;
    return AF_OK;
}

af_status af_write_file_atomic(const char *path, const void *data, size_t len, af_error *err)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        af_status st = af_fail(err, AF_E_IO, "%s: cannot create a temporary file: %s", path,
                               strerror(errno));
        free(tmp);
        return st;
    }
    (void)fchmod(fd, 0644);
    const unsigned char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    { /* make the rename durable; best effort */
        char *dir = strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            const char *d = ".";
            if (slash) {
                *(slash == dir ? slash + 1 : slash) = 0;
                d = dir;
            }
            int dfd = open(d, O_RDONLY);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    return AF_OK;
fail: {
    af_status st = af_fail(err, AF_E_IO, "%s: write failed: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return st;
}
}
