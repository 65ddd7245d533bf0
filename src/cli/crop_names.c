#include "cli/crop_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/fsutil.h"

/* length of path's folder part ("a/b/c.jpg" -> 3, "c.jpg" -> 0) */
static size_t dir_len(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? (size_t)(s - p) : 0;
}

/* the folder all paths share, at a '/' boundary: its length in paths[0] */
static size_t common_dir(char **paths, size_t n)
{
    const char *p0 = n ? paths[0] : "";
    size_t len = n ? dir_len(p0) : 0;
    for (size_t i = 1; i < n && len; i++) {
        const char *q = paths[i];
        size_t d = dir_len(q), k = 0;
        while (k < len && k < d && p0[k] == q[k])
            k++;
        while (k > 0 && !((k == len || p0[k] == '/') && (k == d || q[k] == '/')))
            k--;
        len = k;
    }
    return len;
}

/* folder of p below the common part, with "." dropped and ".." spelt "_up" so that a
 * crop never lands outside DIR */
static void rel_dir(const char *p, size_t skip, char *out, size_t cap)
{
    size_t d = dir_len(p), o = 0;
    out[0] = '\0';
    size_t i = skip < d ? skip : d;
    while (i < d) {
        while (i < d && p[i] == '/')
            i++;
        size_t j = i;
        while (j < d && p[j] != '/')
            j++;
        if (j > i && !(j - i == 1 && p[i] == '.')) {
            int up = j - i == 2 && p[i] == '.' && p[i + 1] == '.';
            int w = snprintf(out + o, cap - o, "%.*s/", up ? 3 : (int)(j - i), up ? "_up" : p + i);
            if (w < 0 || (size_t)w >= cap - o)
                break;
            o += (size_t)w;
        }
        i = j;
    }
}

typedef struct named {
    const char *base, *path;
} named;

static int cmp_named(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    return c ? c : strcmp(x->path, y->path);
}

int crop_names_build(const char *prefix, char **paths, size_t n, int keep_tree, char ***bases)
{
    *bases = calloc(n ? n : 1, sizeof **bases);
    named *v = malloc((n ? n : 1) * sizeof *v);
    if (!*bases || !v) {
        free(v);
        return 2;
    }
    size_t skip = keep_tree ? common_dir(paths, n) : 0;
    for (size_t i = 0; i < n; i++) {
        char rel[4096] = "", stem[1024], buf[5200];
        if (keep_tree)
            rel_dir(paths[i], skip, rel, sizeof rel);
        fs_stem(paths[i], stem, sizeof stem);
        snprintf(buf, sizeof buf, "%s%s", rel, stem);
        if (!((*bases)[i] = strdup(buf))) {
            free(v);
            return 2;
        }
        v[i] = (named){(*bases)[i], paths[i]};
    }
    qsort(v, n, sizeof *v, cmp_named);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i - 1].base, v[i].base)) {
            fprintf(stderr, "%s: %s and %s would both write crops named %s_*: %s\n", prefix,
                    v[i - 1].path, v[i].path, v[i].base,
                    keep_tree ? "rename one of them" : "add --keep-tree, or rename one of them");
            free(v);
            return 1;
        }
    free(v);
    return 0;
}

void crop_names_free(char **bases, size_t n)
{
    if (!bases)
        return;
    for (size_t i = 0; i < n; i++)
        free(bases[i]);
    free(bases);
}
