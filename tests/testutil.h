/*
 * Minimal test harness. A test file defines `static void test_x(void)` functions
 * and a main() that calls RUN(test_x) for each, then returns t_summary().
 * Output: "ok NAME" / "FAIL NAME" per test and a closing "N passed, N failed".
 * Paths: tests run from the repository root; copied golden files live in
 * tests/fixtures, the large shared inputs (checkpoints) in $AF_SHARED
 * (default ../shared).
 */
#ifndef AF_TESTUTIL_H
#define AF_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed, t_skipped, t_cur_failed, t_cur_skipped;
static const char *t_cur_name;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, t_cur_name,     \
                    #cond);                                                                      \
            t_cur_failed = 1;                                                                    \
        }                                                                                        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                     \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: %s: check failed: %s: ", __FILE__, __LINE__, t_cur_name,      \
                    #cond);                                                                      \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
            t_cur_failed = 1;                                                                    \
        }                                                                                        \
    } while (0)

/* |a - b| <= tol, NaN fails. */
#define CHECK_NEAR(a, b, tol)                                                                    \
    do {                                                                                         \
        double t_a_ = (double)(a), t_b_ = (double)(b), t_tol_ = (double)(tol);                   \
        if (!(fabs(t_a_ - t_b_) <= t_tol_)) {                                                    \
            fprintf(stderr, "%s:%d: %s: %s = %.9g, %s = %.9g, |diff| %.3g > %.3g\n", __FILE__,    \
                    __LINE__, t_cur_name, #a, t_a_, #b, t_b_, fabs(t_a_ - t_b_), t_tol_);        \
            t_cur_failed = 1;                                                                    \
        }                                                                                        \
    } while (0)

/* Stops the current test early (after a failed precondition). */
#define REQUIRE(cond)                                                                            \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            CHECK(cond);                                                                         \
            return;                                                                              \
        }                                                                                        \
    } while (0)

/* Marks the current test skipped (e.g. a shared fixture is absent) and returns. */
#define SKIP(...)                                                                                \
    do {                                                                                         \
        fprintf(stderr, "skip %s: ", t_cur_name);                                                \
        fprintf(stderr, __VA_ARGS__);                                                            \
        fputc('\n', stderr);                                                                     \
        t_cur_skipped = 1;                                                                       \
        return;                                                                                  \
    } while (0)

#define RUN(fn) t_run(#fn, fn)

/* AF_TEST_FILTER=substring runs only the tests whose name contains it. */
static inline void t_run(const char *name, void (*fn)(void))
{
    const char *filter = getenv("AF_TEST_FILTER");
    if (filter && *filter && !strstr(name, filter))
        return;
    t_cur_name = name;
    t_cur_failed = 0;
    t_cur_skipped = 0;
    fn();
    if (t_cur_failed) {
        t_failed++;
        printf("FAIL %s\n", name);
    } else if (t_cur_skipped) {
        t_skipped++;
        printf("skip %s\n", name);
    } else {
        t_passed++;
        printf("ok %s\n", name);
    }
    fflush(stdout);
}

static inline int t_summary(void)
{
    printf("%d passed, %d failed, %d skipped\n", t_passed, t_failed, t_skipped);
    return t_failed ? 1 : 0;
}

/* Path of a file copied into the repository's tests/fixtures. */
static inline const char *t_fixture(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "tests/fixtures/%s", rel);
    return buf;
}

/* Path of a file in the shared folder beside the repository (../shared). */
static inline const char *t_shared(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("AF_SHARED");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "../shared", rel);
    return buf;
}

/* A fixture checkpoint: "yolo11/x.pt" (a folder in the name) lies in tests/fixtures,
 * a bare name in the shared fixtures (fixtures/NAME). */
static inline const char *t_model(const char *name)
{
    if (strchr(name, '/'))
        return t_fixture(name);
    static char rel[512];
    snprintf(rel, sizeof rel, "fixtures/%s", name);
    return t_shared(rel);
}

/* A golden's safetensors: "yolo11/x" in tests/fixtures, a bare name in tests/fixtures/golden. */
static inline const char *t_golden(const char *name)
{
    static char rel[512];
    snprintf(rel, sizeof rel, "%s%s.safetensors", strchr(name, '/') ? "" : "golden/", name);
    return t_fixture(rel);
}

static inline int t_file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Reads a whole file into a malloc'd buffer, NUL-terminated past its *len
 * bytes so that text can be searched as a string (NULL on failure). */
static inline unsigned char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    n = n > 0 ? n : 0;
    unsigned char *b = malloc((size_t)n + 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    if (b && len)
        *len = (size_t)n;
    return b;
}

/* ---- naive vs optimized: the harness every op test uses ----
 * An op case is a shape (a label for the messages), a tolerance and two implementations of
 * the same output: the naive loops (src/ops/ref.h, or the test's own) and the optimized one.
 * t_vs_naive runs both into fresh buffers (the optimized one's pre-filled with NaN, so an
 * output it does not write fails), compares element by element and prints one line. */

/* Fixed-seed LCG, uniform in [-scale, scale); t_seed restarts the sequence. */
static uint32_t t_rng_state = 20240229u;
static inline void t_seed(uint32_t s) { t_rng_state = s; }
static inline float t_frand(float scale)
{
    t_rng_state = t_rng_state * 1664525u + 1013904223u;
    return ((float)(t_rng_state >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
}

/* n values of t_frand(scale), malloc'd (NULL if out of memory). */
static inline float *t_rand_buf(size_t n, float scale)
{
    float *p = (float *)malloc((n ? n : 1) * sizeof *p);
    if (p)
        for (size_t i = 0; i < n; i++)
            p[i] = t_frand(scale);
    return p;
}

/* Elements with |got - want| > tol * max(|want|, 1) (NaN counts as off; tol 0 asks for equal
 * values); max_abs / max_rel (may be NULL): max |got - want| and max |got - want| / max(|want|, 1). */
static inline size_t t_compare(const float *got, const float *want, size_t n, double tol,
                               double *max_abs, double *max_rel)
{
    size_t bad = 0;
    double ma = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), s = fabs(want[i]) > 1 ? fabs(want[i]) : 1;
        if (!(d <= tol * s))
            bad++;
        if (d > ma || d != d)
            ma = d;
        if (d / s > mr || d != d)
            mr = d / s;
    }
    if (max_abs)
        *max_abs = ma;
    if (max_rel)
        *max_rel = mr;
    return bad;
}

/* An implementation: writes its nout outputs to out; returns 0, or non-zero on an error
 * (which fails the case). ctx carries the inputs and the shape. */
typedef int (*t_impl)(void *ctx, float *out);

/* Runs naive and fast on ctx, compares their nout outputs within tol (t_compare), prints
 * "  what shape: max abs .. rel .." and CHECKs. Returns 1 if the case passed. */
static inline int t_vs_naive(const char *what, const char *shape, size_t nout, double tol,
                             t_impl fast, t_impl naive, void *ctx)
{
    float *got = (float *)malloc((nout ? nout : 1) * sizeof(float)),
          *want = (float *)malloc((nout ? nout : 1) * sizeof(float));
    int ok = 0;
    if (!got || !want) {
        CHECK_MSG(0, "%s %s: out of memory", what, shape);
        goto done;
    }
    for (size_t i = 0; i < nout; i++)
        got[i] = NAN;
    if (naive(ctx, want)) {
        CHECK_MSG(0, "%s %s: the naive implementation failed", what, shape);
        goto done;
    }
    if (fast(ctx, got)) {
        CHECK_MSG(0, "%s %s: the optimized implementation failed", what, shape);
        goto done;
    }
    double ma, mr;
    size_t bad = t_compare(got, want, nout, tol, &ma, &mr);
    printf("  %s %s: max abs %.2e rel %.2e\n", what, shape, ma, mr);
    CHECK_MSG(bad == 0, "%s %s: %zu of %zu outputs off by more than %.3g (max abs %.3g, rel %.3g)",
              what, shape, bad, nout, tol, ma, mr);
    ok = bad == 0;
done:
    free(got);
    free(want);
    return ok;
}

#endif
