#include "cli/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int fs_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

int fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void fs_increment_dir(const char *path, int exist_ok, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    if (exist_ok || !fs_exists(path))
        return;
    for (int n = 2; n < 9999; n++) {
        snprintf(out, cap, "%s%d", path, n);
        if (!fs_exists(out))
            return;
    }
}

void fs_increment_file(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    if (!fs_exists(path))
        return;
    const char *base = fs_basename(path);
    const char *dot = strrchr(base, '.');
    size_t stem_len = dot ? (size_t)(dot - path) : strlen(path);
    const char *suffix = dot ? dot : "";
    for (int n = 2; n < 9999; n++) {
        snprintf(out, cap, "%.*s%d%s", (int)stem_len, path, n, suffix);
        if (!fs_exists(out))
            return;
    }
}

const char *fs_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

void fs_stem(const char *path, char *out, size_t cap)
{
    const char *b = fs_basename(path);
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    snprintf(out, cap, "%.*s", (int)n, b);
}
