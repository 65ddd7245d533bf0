/* animeface manifest merge A.jsonl B.jsonl ... -o all.jsonl: the crop manifests of a
 * job's shards as one, in the order one process would have written it (sources sorted,
 * each source's crops in their order), with missing and duplicated sources reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/resume.h"
#include "cli/sources.h"

typedef struct mrec {
    char *source, *line;
    int file;      /* index of the input */
    size_t order;  /* position in the input (keeps a source's crops in order) */
} mrec;

typedef struct rec_list {
    mrec *v;
    size_t n, cap;
} rec_list;

static int cmp_rec(const void *a, const void *b)
{
    const mrec *x = a, *y = b;
    int c = strcmp(x->source, y->source);
    if (c)
        return c;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* every line of one input; 1 after an error line */
static int read_input(const char *path, int file, rec_list *l)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "animeface manifest: cannot read %s\n", path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "source") : NULL;
        if (!cJSON_IsString(s) || line[n - 1] != '\n') {
            fprintf(stderr, "animeface manifest: %s:%zu: %s\n", path, lineno,
                    line[n - 1] != '\n' ? "incomplete last line (a run still going, or killed: "
                                          "finish it with --resume)"
                                        : "not a crop record (no \"source\")");
            cJSON_Delete(j);
            rc = 1;
            break;
        }
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 1024;
            mrec *v = realloc(l->v, nc * sizeof *v);
            if (!v) {
                cJSON_Delete(j);
                rc = 1;
                break;
            }
            l->v = v;
            l->cap = nc;
        }
        mrec *r = &l->v[l->n];
        r->source = strdup(s->valuestring);
        r->line = strdup(line);
        r->file = file;
        r->order = lineno;
        cJSON_Delete(j);
        if (!r->source || !r->line) {
            free(r->source);
            free(r->line);
            rc = 1;
            break;
        }
        l->n++;
    }
    free(line);
    fclose(f);
    return rc;
}

/* the sources of the inputs' journals (INPUT.done): every image a shard finished,
 * with or without crops */
static int journal_source(void *ud, const cJSON *rec)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "source");
    return cJSON_IsString(s) && !path_set_add(ud, s->valuestring);
}

static int merge(int argc, char **argv)
{
    const char *out = NULL, *check = NULL;
    int recursive = 0;
    char **in = calloc((size_t)argc + 1, sizeof *in);
    int nin = 0;
    if (!in)
        return 1;
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) && i + 1 < argc)
            out = argv[++i];
        else if (!strncmp(argv[i], "--out=", 6))
            out = argv[i] + 6;
        else if (!strcmp(argv[i], "--check") && i + 1 < argc)
            check = argv[++i];
        else if (!strcmp(argv[i], "--recursive"))
            recursive = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "animeface manifest merge: unknown option '%s'\n", argv[i]);
            free(in);
            return 2;
        } else
            in[nin++] = argv[i];
    }
    if (!out || !nin) {
        fprintf(stderr, "Usage: animeface manifest merge A.jsonl B.jsonl ... -o all.jsonl "
                        "[--check SOURCE [--recursive]]\n"
                        "--check: the crop job's SOURCE (folder, glob or .txt list): report its "
                        "images that no shard finished\n");
        free(in);
        return 2;
    }
    rec_list l = {0};
    path_set finished = {0}, seen = {0};
    int rc = 0;
    for (int i = 0; i < nin && !rc; i++) {
        rc = read_input(in[i], i, &l);
        char j[4200];
        snprintf(j, sizeof j, "%s.done", in[i]);
        FILE *t = fopen(j, "rb");
        if (t) {
            fclose(t);
            rc = rc || resume_scan(j, "animeface manifest", journal_source, &finished);
        }
    }
    size_t dup = 0, nsrc = 0;
    FILE *f = NULL;
    if (!rc) {
        qsort(l.v, l.n, sizeof *l.v, cmp_rec);
        if (!(f = fopen(out, "w"))) {
            fprintf(stderr, "animeface manifest: cannot write %s\n", out);
            rc = 1;
        }
    }
    /* a source in two inputs was done by two shards (or an input is given twice): the
     * first input's records are kept */
    for (size_t i = 0; !rc && i < l.n;) {
        size_t k = i;
        int twice = 0;
        while (k < l.n && !strcmp(l.v[k].source, l.v[i].source)) {
            if (l.v[k].file == l.v[i].file)
                fputs(l.v[k].line, f);
            else if (!twice++)
                fprintf(stderr, "animeface manifest: %s: duplicated source, in %s and %s (kept "
                                "the first)\n",
                        l.v[i].source, in[l.v[i].file], in[l.v[k].file]);
            k++;
        }
        dup += twice > 0;
        nsrc++;
        i = k;
    }
    if (f && fclose(f) != 0 && !rc) {
        fprintf(stderr, "animeface manifest: cannot write %s\n", out);
        rc = 1;
    }
    size_t missing = 0, checked = 0;
    if (!rc && check) {
        char *args[1] = {(char *)check};
        source_list src;
        if (sources_expand(args, 1, recursive, &src)) {
            rc = 1;
        } else {
            for (size_t i = 0; i < l.n; i++)
                path_set_add(&seen, l.v[i].source);
            for (size_t i = 0; i < src.count; i++) {
                checked++;
                if (!path_set_has(&finished, src.paths[i]) && !path_set_has(&seen, src.paths[i])) {
                    if (missing < 20)
                        fprintf(stderr, "animeface manifest: %s: missing (no shard finished it)\n",
                                src.paths[i]);
                    missing++;
                }
            }
            sources_free(&src);
        }
    }
    if (!rc)
        fprintf(stderr, "animeface manifest: %zu crops of %zu sources from %d files into %s; %zu "
                        "duplicated%s",
                l.n, nsrc, nin, out, dup, check ? "" : "\n");
    if (!rc && check)
        fprintf(stderr, ", %zu of %zu missing\n", missing, checked);
    for (size_t i = 0; i < l.n; i++) {
        free(l.v[i].source);
        free(l.v[i].line);
    }
    free(l.v);
    free(in);
    path_set_free(&finished);
    path_set_free(&seen);
    return rc ? 1 : (dup || missing) ? 1 : 0;
}

int cmd_manifest(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "merge"))
        return merge(argc - 1, argv + 1);
    fprintf(stderr, "Usage: animeface manifest merge A.jsonl B.jsonl ... -o all.jsonl "
                    "[--check SOURCE [--recursive]]\n");
    return argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) ? 0 : 2;
}
