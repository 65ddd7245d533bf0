#include "cli/sources.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "io/file_kind.h"

static int push(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        char **p = realloc(*v, c * sizeof *p);
        if (!p)
            return 1;
        *v = p;
        *cap = c;
    }
    char *d = strdup(s);
    if (!d)
        return 1;
    (*v)[(*n)++] = d;
    return 0;
}

static int add_path(source_list *l, const char *p)
{
    return push(&l->paths, &l->count, &l->cap, p);
}

static int add_error(source_list *l, const char *path, const char *what)
{
    char buf[4200];
    snprintf(buf, sizeof buf, "%s: %s", path, what);
    return push(&l->errors, &l->nerrors, &l->errcap, buf) ||
           push(&l->error_paths, &l->nerror_paths, &l->errpcap, path);
}

int sources_is_image_name(const char *path)
{
    static const char *ext[] = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff",
                                "webp", "pfm", "gif", "avif", "pbm", "pgm", "ppm", "pnm"};
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot + 1, ext[i]) == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory, sorted by full path (as Python's sorted(glob(dir/"*.*"))). */
static int add_dir(source_list *l, const char *dir, int recursive, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return add_error(l, dir, strerror(errno));
    char **files = NULL, **subdirs = NULL;
    size_t nf = 0, cf = 0, nd = 0, cd = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        size_t dl = strlen(dir);
        snprintf(path, sizeof path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        if (is_dir && recursive) {
            if (depth < 32)
                rc = push(&subdirs, &nd, &cd, path);
        } else if (sources_is_image_name(path)) {
            /* everything named like an image is kept, readable or not: a FIFO, socket,
             * device, dangling symlink, symlink loop, unreadable file or folder named
             * x.jpg then fails in the loader with its reason (without opening a FIFO)
             * and is reported with the other failures, never dropped */
            rc = push(&files, &nf, &cf, path);
        }
    }
    closedir(d);
    if (nf)
        qsort(files, nf, sizeof *files, cmp_str);
    if (nd)
        qsort(subdirs, nd, sizeof *subdirs, cmp_str);
    for (size_t i = 0; i < nf; i++) {
        if (!rc)
            rc = add_path(l, files[i]);
        free(files[i]);
    }
    for (size_t i = 0; i < nd; i++) {
        if (!rc)
            rc = add_dir(l, subdirs[i], recursive, depth + 1);
        free(subdirs[i]);
    }
    free(files);
    free(subdirs);
    return rc;
}

static int add_list_file(source_list *l, const char *txt)
{
    FILE *f = fopen(txt, "r");
    if (!f)
        return add_error(l, txt, strerror(errno));
    char line[4096];
    int rc = 0, lineno = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            char what[64];
            snprintf(what, sizeof what, "line %d is too long", lineno);
            rc = add_error(l, txt, what);
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        rc = add_path(l, line);
    }
    fclose(f);
    return rc;
}

int sources_expand(char **args, int nargs, int recursive, source_list *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        struct stat st;
        int rc = 0;
        if (stat(a, &st) == 0) {
            size_t n = strlen(a);
            if (S_ISDIR(st.st_mode))
                rc = add_dir(out, a, recursive, 0);
            else if (S_ISREG(st.st_mode) && n > 4 && strcasecmp(a + n - 4, ".txt") == 0)
                rc = add_list_file(out, a);
            else
                rc = add_path(out, a); /* a FIFO etc. is refused by the loader, unopened */
        } else if (strpbrk(a, "*?[")) {
            glob_t g;
            int gr = glob(a, 0, NULL, &g);
            if (gr == 0) {
                for (size_t j = 0; !rc && j < g.gl_pathc; j++) {
                    if (sources_is_image_name(g.gl_pathv[j])) /* readable or not: as add_dir */
                        rc = add_path(out, g.gl_pathv[j]);
                }
                globfree(&g);
            } else {
                rc = add_error(out, a, "no files match this pattern");
            }
        } else {
            /* a dangling symlink or a loop gets its own reason */
            char why[160];
            struct stat ls;
            const char *r = lstat(a, &ls) == 0 ? af_path_unreadable_reason(a, why, sizeof why)
                                               : NULL;
            rc = add_error(out, a, r ? r : "does not exist");
        }
        if (rc)
            return 1;
    }
    return 0;
}

void sources_free(source_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    for (size_t i = 0; i < l->nerrors; i++)
        free(l->errors[i]);
    for (size_t i = 0; i < l->nerror_paths; i++)
        free(l->error_paths[i]);
    free(l->paths);
    free(l->errors);
    free(l->error_paths);
    memset(l, 0, sizeof *l);
}
