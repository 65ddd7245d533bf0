/* A private temporary folder for fuzz targets whose parser reads a file (data.yaml, label
 * files): created on first use, removed at exit. Test code, not library code. */
#ifndef AF_FUZZ_TMPDIR_H
#define AF_FUZZ_TMPDIR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[64];
static const char *const fuzz_subdirs[] = {"images", "images/train", "images/val", "labels"};
static char fuzz_file[128];

static void fuzz_tmpdir_cleanup(void)
{
    if (fuzz_file[0])
        unlink(fuzz_file);
    for (int i = (int)(sizeof fuzz_subdirs / sizeof *fuzz_subdirs) - 1; i >= 0; i--) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", fuzz_dir, fuzz_subdirs[i]);
        rmdir(p);
    }
    rmdir(fuzz_dir);
}

/* Path of `name` inside the folder (the same path on every call). */
static const char *fuzz_tmp_path(const char *name)
{
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/af_fuzz_XXXXXX", t && strlen(t) < 40 ? t : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            perror("mkdtemp");
            abort();
        }
        for (size_t i = 0; i < sizeof fuzz_subdirs / sizeof *fuzz_subdirs; i++) {
            char p[128];
            snprintf(p, sizeof p, "%s/%s", fuzz_dir, fuzz_subdirs[i]);
            mkdir(p, 0700);
        }
        snprintf(fuzz_file, sizeof fuzz_file, "%s/%s", fuzz_dir, name);
        atexit(fuzz_tmpdir_cleanup);
    }
    return fuzz_file;
}

/* Writes data to the file (replacing it); aborts on an I/O error (not a finding). */
static const char *fuzz_write_tmp(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

#endif
