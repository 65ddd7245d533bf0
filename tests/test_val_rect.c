/* Validation rect batching (issue 20): which images share a batch, in what
 * order, and each batch's letterbox shape, against goldens made by
 * ultralytics 8.1.9 and numpy 1.24.2 themselves (tests/fixtures/val_rect,
 * gen_val_rect.py): ultralytics' val YOLODataset on a 671-image size list at
 * batch 16 and 32, and numpy's argsort + ultralytics' set_rectangle on seeded
 * random size lists full of equal aspect ratios, 1 to 5,000 images. */
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "eval/val_input.h"
#include "testutil.h"

/* The golden text: lines "key int int ..."; '#' lines are comments. */
typedef struct {
    char *text, *pos;
} golden;

static int golden_open(golden *g, const char *rel)
{
    size_t n;
    g->text = (char *)t_read_file(t_fixture(rel), &n);
    if (!g->text)
        return 0;
    g->text = realloc(g->text, n + 1);
    g->text[n] = 0;
    g->pos = g->text;
    return 1;
}

/* The next line's key (NULL at the end); *rest: its numbers. */
static const char *golden_line(golden *g, char **rest)
{
    while (*g->pos) {
        char *line = g->pos, *nl = strchr(line, '\n');
        g->pos = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = 0;
        if (*line == '#' || *line == 0)
            continue;
        char *sp = strchr(line, ' ');
        *rest = sp ? sp + 1 : line + strlen(line);
        if (sp)
            *sp = 0;
        return line;
    }
    return NULL;
}

/* The line's numbers into a new array of exactly n (0 when the count differs). */
static int *golden_ints(golden *g, const char *key, int n)
{
    char *rest;
    const char *k = golden_line(g, &rest);
    if (!k || strcmp(k, key))
        return NULL;
    int *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v), i = 0;
    for (char *e; i <= n; i++, rest = e) {
        long x = strtol(rest, &e, 10);
        if (e == rest)
            break;
        if (i < n)
            v[i] = (int)x;
    }
    if (i != n) {
        free(v);
        return NULL;
    }
    return v;
}

/* Compares a plan with the golden sorted order and shapes; batch: each
 * image's batch index (may be NULL). Returns mismatches, printing the first. */
static int compare_plan(const af_val_plan *p, const int *order, const int *batch,
                        const int *shapes, int nbatch, const char *what)
{
    int bad = 0;
    if (p->nbatch != nbatch) {
        printf("    %s: %d batches, ultralytics %d\n", what, p->nbatch, nbatch);
        return 1;
    }
    for (int k = 0; k < p->n; k++)
        if (p->order[k] != order[k] && !bad++)
            printf("    %s: sorted position %d holds image %d, numpy's argsort %d\n", what, k,
                   p->order[k], order[k]);
    for (int k = 0; batch && k < p->n; k++)
        if (batch[p->order[k]] != k / p->bs && !bad++)
            printf("    %s: image %d in batch %d, ultralytics %d\n", what, p->order[k],
                   k / p->bs, batch[p->order[k]]);
    for (int b = 0; b < nbatch; b++)
        if ((p->batch_h[b] != shapes[2 * b] || p->batch_w[b] != shapes[2 * b + 1]) && !bad++)
            printf("    %s: batch %d shape %dx%d, ultralytics %dx%d\n", what, b, p->batch_h[b],
                   p->batch_w[b], shapes[2 * b], shapes[2 * b + 1]);
    return bad;
}

static void test_ultralytics_671(void)
{
    golden g;
    REQUIRE(golden_open(&g, "val_rect/ultralytics_671.txt"));
    char *rest;
    const char *k = golden_line(&g, &rest);
    int n = 0, runs = 0;
    REQUIRE(k && strcmp(k, "sizes") == 0 && sscanf(rest, "%d", &n) == 1 && n == 671);
    /* the size list (../shared/fixtures/val_rect/sizes_671.txt, ultralytics' order) */
    int *w0 = golden_ints(&g, "w", n), *h0 = golden_ints(&g, "h", n);
    REQUIRE(w0 && h0);
    while ((k = golden_line(&g, &rest))) {
        REQUIRE(strcmp(k, "run") == 0);
        int bs, imgsz, nrun, nbatch;
        REQUIRE(sscanf(rest, "%d %d %d %d", &bs, &imgsz, &nrun, &nbatch) == 4 && nrun == n);
        int *order = golden_ints(&g, "order", n), *batch = golden_ints(&g, "batch", n),
            *shapes = golden_ints(&g, "shapes", 2 * nbatch);
        REQUIRE(order && batch && shapes);
        af_val_plan p;
        af_error err = {0};
        REQUIRE(af_val_plan_rect(h0, w0, n, imgsz, 32, bs, &p, &err) == AF_OK);
        char what[64];
        snprintf(what, sizeof what, "671 images, batch %d", bs);
        CHECK(compare_plan(&p, order, batch, shapes, nbatch, what) == 0);
        af_val_plan_free(&p);
        free(order);
        free(batch);
        free(shapes);
        runs++;
    }
    CHECK(runs == 2);
    free(w0);
    free(h0);
    free(g.text);
}

static void test_numpy_argsort_random_lists(void)
{
    golden g;
    REQUIRE(golden_open(&g, "val_rect/argsort.txt"));
    int lists = 0, bad_lists = 0, maxn = 0;
    char *rest;
    for (const char *k; (k = golden_line(&g, &rest));) {
        REQUIRE(strcmp(k, "list") == 0);
        int n, bs, imgsz;
        REQUIRE(sscanf(rest, "%d %d %d", &n, &bs, &imgsz) == 3);
        int *w = golden_ints(&g, "w", n), *h = golden_ints(&g, "h", n),
            *order = golden_ints(&g, "argsort", n);
        REQUIRE(w && h && order);
        int nbatch = (n + bs - 1) / bs;
        int *shapes = golden_ints(&g, "shapes", 2 * nbatch);
        REQUIRE(shapes);
        /* the sort alone, as numpy's argsort is called (h/w in float64) */
        double *ar = malloc((size_t)n * sizeof *ar);
        size_t *idx = malloc((size_t)n * sizeof *idx);
        for (int i = 0; i < n; i++)
            ar[i] = (double)h[i] / (double)w[i];
        af_np_argsort_f64(ar, (size_t)n, idx);
        int bad = 0;
        for (int i = 0; i < n; i++)
            if (idx[i] != (size_t)order[i] && !bad++)
                printf("    %d images: argsort[%d] = %zu, numpy %d\n", n, i, idx[i], order[i]);
        /* and the whole plan: order + set_rectangle's shapes */
        af_val_plan p;
        af_error err = {0};
        REQUIRE(af_val_plan_rect(h, w, n, imgsz, 32, bs, &p, &err) == AF_OK);
        char what[64];
        snprintf(what, sizeof what, "%d images, batch %d, imgsz %d", n, bs, imgsz);
        bad += compare_plan(&p, order, NULL, shapes, nbatch, what);
        bad_lists += bad != 0;
        af_val_plan_free(&p);
        free(ar);
        free(idx);
        free(w);
        free(h);
        free(order);
        free(shapes);
        lists++;
        maxn = n > maxn ? n : maxn;
    }
    CHECK_MSG(bad_lists == 0, "%d of %d lists differ from numpy/ultralytics", bad_lists, lists);
    CHECK(lists >= 50 && maxn == 5000);
    free(g.text);
}

int main(void)
{
    RUN(test_ultralytics_671);
    RUN(test_numpy_argsort_random_lists);
    return t_summary();
}
