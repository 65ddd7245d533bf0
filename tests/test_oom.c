/*
 * Out-of-memory paths (issue 21), as ncnn's tests do with an allocator that fails on purpose.
 * This binary is linked with -Wl,--wrap=malloc,calloc,... (Makefile: OOM_WRAP), so every
 * allocation the library's own code makes goes through the __wrap_ functions below
 * (allocations inside shared libraries -- libpng, libjpeg, cJSON, oneDNN -- are not wrapped:
 * their failures are theirs to report). A walk runs an operation once with no failure,
 * counting its allocations, then again for every N = 1 .. count with the Nth allocation
 * failing. Each run must end in AF_E_NOMEM with a message (or, when the operation fails
 * before it reaches allocation N, the status of the unfailed run), with no crash; under ASan
 * LeakSanitizer checks at exit that nothing leaked. Operations: af_model_load of the
 * yolov8n face .pt and of the bundled safetensors, af_context_create, af_detect (first call,
 * with the activation planning), every image decoder over the fuzz image seeds (valid and
 * broken ones), af_checkpoint_load_memory over the fuzz checkpoint seeds and the .pt.
 * Walks of up to 1,000 allocations fail every N; longer ones (model loads: 1,500 to 7,500) fail
 * the first and last 300 and, at each call site, its first 3 and its last allocation (see
 * oom_pick; AF_OOM_EVERY=1 fails every N, ~10x longer).
 * AF_OOM_MAX caps the walks for a quick look (e.g. AF_OOM_MAX=200); AF_OOM_TRAP=N (with
 * AF_TEST_FILTER) stops at the Nth allocation of the walk so ASan prints who made it.
 */
#include <dirent.h>
#include <stdint.h>

#include "testutil.h"

#include "animeface.h"
#include "core/error.h"
#include "io/image.h"
#include "model/checkpoint.h"

/* ---- the failing allocator ---------------------------------------------------------------- */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* armed: count allocations; fail_at > 0: the fail_at-th one (1-based) fails; failed: it did.
 * One thread at a time is counted (contexts are made with 1 thread), so no atomics. */
static int oom_armed;
static long oom_count, oom_fail_at;
static int oom_failed;
static int oom_trap;

/* the counting run records who made each allocation (its return address), for the sampling */
#define OOM_SITES_MAX (1 << 16)
static void **oom_sites;

static int oom_fail_now(void *site)
{
    if (!oom_armed)
        return 0;
    if (oom_sites && oom_count < OOM_SITES_MAX)
        oom_sites[oom_count] = site;
    oom_count++;
    if (oom_fail_at > 0 && oom_count == oom_fail_at) {
        if (oom_trap) /* AF_OOM_TRAP=N: stop at the Nth allocation (ASan prints the caller) */
            __builtin_trap();
        oom_failed = 1;
        return 1;
    }
    return 0;
}

#define FAIL_HERE oom_fail_now(__builtin_return_address(0))
void *__wrap_malloc(size_t n) { return FAIL_HERE ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return FAIL_HERE ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return FAIL_HERE ? NULL : __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    return FAIL_HERE ? 12 /* ENOMEM */ : __real_posix_memalign(p, a, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n) { return FAIL_HERE ? NULL : __real_aligned_alloc(a, n); }
char *__wrap_strdup(const char *s) { return FAIL_HERE ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return FAIL_HERE ? NULL : __real_strndup(s, n); }

/* ---- the walk ------------------------------------------------------------------------------- */
/* An operation: runs once (setup and teardown unarmed inside, the call under test armed with
 * oom_arm/oom_disarm), undoes what it made, returns the status and fills err. */
typedef af_status (*oom_op)(void *user, af_error *err);

static void oom_arm(void)
{
    oom_count = 0;
    oom_failed = 0;
    oom_armed = 1;
}

static void oom_disarm(void) { oom_armed = 0; }

static long oom_max(void)
{
    const char *s = getenv("AF_OOM_MAX");
    return s && *s ? atol(s) : 0;
}

/* Which N to fail, of total allocations: every one up to OOM_EVERY; beyond that (a .pt
 * load makes ~7,000, mostly the pickle's objects, under ASan ~20 ms each) the first
 * OOM_EDGE and last OOM_EDGE, and at every call site (return address) its first
 * OOM_PER_SITE and its last occurrence: each distinct place that allocates, at the start
 * and the end of its loops. AF_OOM_EVERY=1 walks every N regardless. */
#define OOM_EVERY 1000
#define OOM_EDGE 300
#define OOM_PER_SITE 3

static char *oom_pick(long total)
{
    char *pick = calloc((size_t)total + 1, 1);
    if (!pick)
        return NULL;
    const char *every = getenv("AF_OOM_EVERY");
    if (total <= OOM_EVERY || (every && atoi(every)) || total > OOM_SITES_MAX) {
        memset(pick, 1, (size_t)total + 1);
        return pick;
    }
    for (long n = 1; n <= total; n++)
        pick[n] = n <= OOM_EDGE || n > total - OOM_EDGE;
    for (long i = 0; i < total; i++) { /* allocation i is N = i + 1 */
        long seen = 0, last = i;
        int first = 1;
        for (long j = 0; j < i && first; j++)
            first = oom_sites[j] != oom_sites[i];
        if (!first)
            continue;
        for (long j = i; j < total; j++)
            if (oom_sites[j] == oom_sites[i]) {
                if (seen++ < OOM_PER_SITE)
                    pick[j + 1] = 1;
                last = j;
            }
        pick[last + 1] = 1;
    }
    return pick;
}

/* Walks op; returns the number of allocations of the unfailed run (-1 if a check failed).
 * may_absorb: a failed allocation may also end in AF_OK, where the library has a fallback
 * (the op then checks that its result equals the unfailed run's). *walked: the Ns run. */
static long oom_walk_ex(const char *what, oom_op op, void *user, int may_absorb, long *walked)
{
    af_error err = {0};
    oom_fail_at = 0;
    af_status base = op(user, &err);
    long total = oom_count;
    char base_msg[sizeof err.msg];
    snprintf(base_msg, sizeof base_msg, "%s", err.msg);
    long cap = oom_max();
    const char *trap = getenv("AF_OOM_TRAP");
    char *pick = oom_pick(total);
    int bad = 0;
    if (!pick) {
        fprintf(stderr, "%s: out of memory in the test\n", what);
        return -1;
    }
    *walked = 0;
    for (long n = 1; n <= total && (!cap || n <= cap) && bad < 5; n++) {
        if (!pick[n])
            continue;
        ++*walked;
        oom_fail_at = n;
        oom_trap = trap && atol(trap) == n;
        memset(&err, 0, sizeof err);
        af_status st = op(user, &err);
        if (oom_failed) {
            if (st == AF_OK && may_absorb)
                continue;
            if (st != AF_E_NOMEM || err.code != AF_E_NOMEM || !err.msg[0]) {
                fprintf(stderr, "%s: allocation %ld of %ld failed -> status %d (%s) '%s', want "
                                "AF_E_NOMEM\n", what, n, total, (int)st, af_status_name(st), err.msg);
                bad++;
            }
        } else if (st != base) {
            fprintf(stderr, "%s: allocation %ld of %ld not reached, status %d '%s', unfailed run "
                            "%d '%s'\n", what, n, total, (int)st, err.msg, (int)base, base_msg);
            bad++;
        }
    }
    free(pick);
    oom_fail_at = 0;
    return bad ? -1 : total;
}

static long oom_walk(const char *what, oom_op op, void *user, long *walked)
{
    return oom_walk_ex(what, op, user, 0, walked);
}

/* ---- operations ----------------------------------------------------------------------------- */
static af_status op_model_load(void *user, af_error *err)
{
    af_model *m = NULL;
    oom_arm();
    af_status st = af_model_load((const char *)user, &m, err);
    oom_disarm();
    af_model_free(m);
    return st;
}

typedef struct mem_input {
    const uint8_t *buf;
    size_t len;
    const char *name;
} mem_input;

static af_status op_checkpoint_load_memory(void *user, af_error *err)
{
    const mem_input *in = user;
    af_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    oom_arm();
    af_status st = af_checkpoint_load_memory(in->buf, in->len, in->name, &ck, err);
    oom_disarm();
    if (st == AF_OK)
        af_checkpoint_free(&ck);
    return st;
}

static af_status op_checkpoint_load(void *user, af_error *err)
{
    af_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    oom_arm();
    af_status st = af_checkpoint_load((const char *)user, &ck, err);
    oom_disarm();
    if (st == AF_OK)
        af_checkpoint_free(&ck);
    return st;
}

static af_status op_model_load_memory(void *user, af_error *err)
{
    const mem_input *in = user;
    af_model *m = NULL;
    oom_arm();
    af_status st = af_model_load_memory(in->buf, in->len, in->name, &m, err);
    oom_disarm();
    af_model_free(m);
    return st;
}

static af_status op_image_decode(void *user, af_error *err)
{
    const mem_input *in = user;
    af_image img = {0};
    oom_arm();
    af_status st = af_image_decode(in->buf, in->len, in->name, NULL, &img, err);
    oom_disarm();
    af_image_free(&img);
    return st;
}

static af_status op_context_create(void *user, af_error *err)
{
    af_context *ctx = NULL;
    oom_arm();
    af_status st = af_context_create((const af_model *)user, 1, &ctx, err);
    oom_disarm();
    af_context_free(ctx);
    return st;
}

typedef struct detect_input {
    const af_model *m;
    af_image img;
    int nref[2];              /* the unfailed run's detections at the two sizes */
    af_detection ref[2][300];
    int have_ref;
} detect_input;

/* one af_detect at imgsz; the result is compared with (or, the first time, kept as) the
 * unfailed run's */
static af_status detect_at(detect_input *in, af_context *ctx, int k, int imgsz, af_error *err)
{
    af_detect_options o;
    af_detect_options_default(&o);
    o.imgsz_h = imgsz;
    const af_detection *d;
    int n;
    af_status st = af_detect(ctx, in->img.data, in->img.w, in->img.h, (size_t)in->img.w * 3,
                             AF_PIXEL_RGB, &o, &d, &n, err);
    if (st)
        return st;
    if (!in->have_ref) {
        in->nref[k] = n;
        memcpy(in->ref[k], d, (size_t)n * sizeof *d);
    } else if (n != in->nref[k] || memcmp(d, in->ref[k], (size_t)n * sizeof *d) != 0) {
        return af_fail(err, AF_E_INTERNAL, "detections differ from the unfailed run's");
    }
    return AF_OK;
}

/* the first af_detect on a fresh context (shape planning, arena, primitives), then a second
 * one on the same context at another size (a new plan). A failed allocation may end in
 * AF_OK: the memory planner lays the blocks end to end when it has no room to plan. */
static af_status op_detect(void *user, af_error *err)
{
    detect_input *in = user;
    af_context *ctx = NULL;
    af_status st = af_context_create(in->m, 1, &ctx, err);
    if (st)
        return st;
    oom_arm();
    st = detect_at(in, ctx, 0, 320, err);
    if (st == AF_OK)
        st = detect_at(in, ctx, 1, 256, err);
    oom_disarm();
    in->have_ref = 1;
    af_context_free(ctx);
    return st;
}

/* ---- tests ---------------------------------------------------------------------------------- */
static void test_oom_model_load_pt(void)
{
    const char *pt = t_shared("fixtures/yolov8n_face.pt");
    if (!t_file_exists(pt))
        SKIP("%s not found (set AF_SHARED)", pt);
    long w, n = oom_walk("af_model_load(yolov8n_face.pt)", op_model_load, (void *)pt, &w);
    CHECK(n > 0);
    printf("  af_model_load .pt: %ld allocations, %ld walked\n", n, w);
}

static void test_oom_model_load_safetensors(void)
{
    long w, n = oom_walk("af_model_load(default.safetensors)", op_model_load,
                         (void *)"models/default.safetensors", &w);
    CHECK(n > 0);
    printf("  af_model_load safetensors: %ld allocations, %ld walked\n", n, w);
}

static void test_oom_checkpoint_load_pt(void)
{
    const char *pt = t_shared("fixtures/yolov8n_face.pt");
    if (!t_file_exists(pt))
        SKIP("%s not found (set AF_SHARED)", pt);
    long w, n = oom_walk("af_checkpoint_load(yolov8n_face.pt)", op_checkpoint_load, (void *)pt,
                         &w);
    CHECK(n > 0);
    printf("  af_checkpoint_load .pt: %ld allocations, %ld walked\n", n, w);
}

static void test_oom_context_create(void)
{
    af_model *m = NULL;
    af_error err;
    REQUIRE(af_model_load("models/default.safetensors", &m, &err) == AF_OK);
    long w, n = oom_walk("af_context_create", op_context_create, m, &w);
    CHECK(n > 0);
    printf("  af_context_create: %ld allocations, %ld walked\n", n, w);
    af_model_free(m);
}

static void test_oom_detect(void)
{
    static detect_input in;
    af_model *m = NULL;
    af_error err;
    REQUIRE(af_model_load("models/default.safetensors", &m, &err) == AF_OK);
    in.m = m;
    if (af_image_load(t_fixture("images/personai_icartoonface_detval_00036.jpg"), NULL, &in.img, &err) != AF_OK) {
        af_model_free(m);
        REQUIRE(!"personai_icartoonface_detval_00036.jpg");
    }
    long w, n = oom_walk_ex("af_detect", op_detect, &in, 1, &w);
    CHECK(in.nref[0] > 0);
    CHECK(n > 0);
    printf("  af_detect (two sizes): %ld allocations, %ld walked\n", n, w);
    af_image_free(&in.img);
    af_model_free(m);
}

/* every file of a fuzz seed folder through op; returns the files walked */
static int walk_corpus(const char *dir, oom_op op, long *allocs)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int files = 0;
    *allocs = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        unsigned char *buf = t_read_file(path, &len);
        if (!buf)
            continue;
        mem_input in = {buf, len, e->d_name};
        long w, n = oom_walk(path, op, &in, &w);
        CHECK_MSG(n >= 0, "%s", path);
        if (n > 0)
            *allocs += n;
        free(buf);
        files++;
    }
    closedir(d);
    return files;
}

static void test_oom_image_decoders(void)
{
    long allocs;
    int files = walk_corpus("fuzz/corpus/image", op_image_decode, &allocs);
    REQUIRE(files > 0);
    /* the fixture images (a large JPEG and PNGs) too: real decoders' buffers */
    const char *imgs[] = {"images/dog.jpg", "images/test_priconne.png"};
    for (size_t i = 0; i < sizeof imgs / sizeof *imgs; i++) {
        size_t len;
        unsigned char *buf = t_read_file(t_fixture(imgs[i]), &len);
        REQUIRE(buf);
        mem_input in = {buf, len, imgs[i]};
        long w, n = oom_walk(imgs[i], op_image_decode, &in, &w);
        CHECK(n > 0);
        allocs += n > 0 ? n : 0;
        free(buf);
    }
    printf("  image decoders: %d seed files + 2 fixtures, %ld allocations walked\n", files, allocs);
}

static void test_oom_checkpoint_seeds(void)
{
    long allocs;
    int files = walk_corpus("fuzz/corpus/checkpoint", op_checkpoint_load_memory, &allocs);
    REQUIRE(files > 0);
    printf("  checkpoint seeds: %d files, %ld allocations walked\n", files, allocs);
}

static void test_oom_model_seeds(void)
{
    long allocs;
    int files = walk_corpus("fuzz/corpus/model", op_model_load_memory, &allocs);
    REQUIRE(files > 0);
    printf("  model seeds: %d files, %ld allocations walked\n", files, allocs);
}

int main(void)
{
    oom_sites = malloc(OOM_SITES_MAX * sizeof *oom_sites);
    if (!oom_sites)
        return 1;
    RUN(test_oom_image_decoders);
    RUN(test_oom_checkpoint_seeds);
    RUN(test_oom_model_seeds);
    RUN(test_oom_model_load_safetensors);
    RUN(test_oom_model_load_pt);
    RUN(test_oom_checkpoint_load_pt);
    RUN(test_oom_context_create);
    RUN(test_oom_detect);
    free(oom_sites);
    return t_summary();
}
