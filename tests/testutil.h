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

/* Reads a whole file into a malloc'd buffer (NULL on failure). */
static inline unsigned char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b && len)
        *len = (size_t)n;
    return b;
}

#endif
