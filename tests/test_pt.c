/* Ultralytics .pt checkpoints read without Python: the three shared fixtures,
 * a hand-made tiny checkpoint (strides, offsets, non-persistent buffers) and
 * damaged inputs. */
#include <stdint.h>

#include "core/error.h"
#include "io/pt_reader.h"
#include "io/safetensors.h"
#include "io/zip_reader.h"
#include "model/checkpoint.h"
#include "testutil.h"

#include <zip.h>

static int load_shared(const char *rel, af_checkpoint *ck)
{
    const char *path = t_shared(rel);
    if (!t_file_exists(path))
        return 0;
    af_error err = {0};
    af_status st = af_checkpoint_load(path, ck, &err);
    CHECK_MSG(st == AF_OK, "%s: %s", path, err.msg);
    return st == AF_OK;
}

static size_t numel(const af_tensor *t)
{
    size_t n = 0;
    af_shape_numel(t->shape, t->ndim, &n);
    return n;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static double train_imgsz(const af_checkpoint *ck)
{
    const cJSON *v = ck->train_args ? cJSON_GetObjectItemCaseSensitive(ck->train_args, "imgsz")
                                    : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Common checks: F16 weights, BN eps 1e-3 for every BN, names, version. */
static void check_common(const af_checkpoint *ck, int nc, const double *stride, int nstride)
{
    CHECK(!strcmp(ck->format, "pt"));
    CHECK(ck->version && !strcmp(ck->version, "8.1.9"));
    CHECK(ck->fused == 0);
    CHECK(ck->nc == nc);
    CHECK(ck->nstride == nstride);
    for (int i = 0; i < nstride && i < ck->nstride; i++)
        CHECK_NEAR(ck->stride[i], stride[i], 0);
    CHECK(ck->yaml && cJSON_IsObject(ck->yaml));
    const cJSON *ync = ck->yaml ? cJSON_GetObjectItemCaseSensitive(ck->yaml, "nc") : NULL;
    CHECK(cJSON_IsNumber(ync) && ync->valuedouble == nc);
    const cJSON *scale = ck->yaml ? cJSON_GetObjectItemCaseSensitive(ck->yaml, "scale") : NULL;
    CHECK(cJSON_IsString(scale) && !strcmp(scale->valuestring, "n"));
    CHECK(ck->names && cJSON_GetArraySize(ck->names) == nc);
    size_t nbn = 0;
    for (size_t i = 0; i < ck->tensors.count; i++) {
        const af_tensor *t = &ck->tensors.items[i];
        CHECK_MSG(t->dtype == AF_DT_F16, "%s is %s", t->name, af_dtype_name(t->dtype));
        CHECK_MSG(!strncmp(t->name, "model.", 6), "%s", t->name);
        CHECK(!ends_with(t->name, "num_batches_tracked"));
        CHECK(t->nbytes == numel(t) * 2);
        if (ends_with(t->name, ".bn.running_var")) {
            char prefix[256];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(t->name) - 12), t->name);
            const cJSON *e = ck->bn_eps ? cJSON_GetObjectItemCaseSensitive(ck->bn_eps, prefix)
                                        : NULL;
            CHECK_MSG(cJSON_IsNumber(e) && fabs(e->valuedouble - 1e-3) < 1e-12, "eps of %s",
                      prefix);
            CHECK_NEAR(af_checkpoint_bn_eps(ck, prefix), 1e-3, 1e-12);
            nbn++;
        }
    }
    CHECK(ck->bn_eps && (size_t)cJSON_GetArraySize(ck->bn_eps) == nbn);
}

static void test_face(void)
{
    af_checkpoint ck;
    if (!t_file_exists(t_shared("fixtures/yolov8n_face.pt")))
        SKIP("no shared fixtures");
    if (!load_shared("fixtures/yolov8n_face.pt", &ck))
        return;
    const double s[] = {8, 16, 32};
    CHECK(ck.tensors.count == 298);
    check_common(&ck, 1, s, 3);
    CHECK_NEAR(train_imgsz(&ck), 416, 0);
    const cJSON *n0 = ck.names ? cJSON_GetObjectItemCaseSensitive(ck.names, "0") : NULL;
    CHECK(cJSON_IsString(n0) && !strcmp(n0->valuestring, "face"));
    /* same layout as the COCO state dict except the nc-dependent head convs */
    af_safetensors ref;
    af_error err = {0};
    if (af_safetensors_read_file(t_shared("pretrained/yolov8n-coco.safetensors"), &ref, &err)) {
        CHECK_MSG(0, "%s", err.msg);
    } else {
        CHECK(ref.tensors.count == ck.tensors.count);
        for (size_t i = 0; i < ck.tensors.count; i++) {
            const af_tensor *t = &ck.tensors.items[i];
            const af_tensor *r = af_tensor_list_find(&ref.tensors, t->name);
            CHECK_MSG(r != NULL, "%s not in the COCO state dict", t->name);
            if (!r)
                continue;
            /* Detect's class branch: c3 = max(ch[0], min(nc, 100)) = 80 for COCO and
             * max(64, 1) = 64 for nc=1; the last 1x1 conv has nc outputs */
            int cv3 = !strncmp(t->name, "model.22.cv3.", 13);
            int cls_out = cv3 && strstr(t->name + 13, ".2.") != NULL;
            CHECK(r->ndim == t->ndim);
            for (int d = 0; d < t->ndim && d < r->ndim; d++) {
                int64_t want = r->shape[d];
                if (cls_out && d == 0)
                    want = 1;
                else if (cv3 && want == 80)
                    want = 64;
                CHECK_MSG(t->shape[d] == want, "%s dim %d", t->name, d);
            }
        }
        af_safetensors_free(&ref);
    }
    const af_tensor *dfl = af_tensor_list_find(&ck.tensors, "model.22.dfl.conv.weight");
    CHECK(dfl && dfl->ndim == 4 && dfl->shape[1] == 16);
    if (dfl && dfl->nbytes == 32) {
        const uint16_t *h = dfl->data;
        for (int i = 0; i < 16; i++)
            CHECK(af_f16_to_f32(h[i]) == (float)i); /* DFL weight is arange(16) */
    }
    af_checkpoint_free(&ck);
}

static void test_p6(void)
{
    af_checkpoint ck;
    if (!t_file_exists(t_shared("fixtures/yolov8n-p6_face.pt")))
        SKIP("no shared fixtures");
    if (!load_shared("fixtures/yolov8n-p6_face.pt", &ck))
        return;
    const double s[] = {8, 16, 32, 64};
    check_common(&ck, 1, s, 4);
    CHECK_NEAR(train_imgsz(&ck), 320, 0);
    /* README: 4,783,332 parameters (running statistics excluded) */
    size_t params = 0;
    for (size_t i = 0; i < ck.tensors.count; i++) {
        const af_tensor *t = &ck.tensors.items[i];
        if (!ends_with(t->name, ".running_mean") && !ends_with(t->name, ".running_var"))
            params += numel(t);
    }
    CHECK_MSG(params == 4783332, "%zu parameters", params);
    CHECK(af_tensor_list_find(&ck.tensors, "model.30.dfl.conv.weight") != NULL);
    CHECK(af_tensor_list_find(&ck.tensors, "model.30.cv2.3.2.bias") != NULL);
    printf("  p6: %zu tensors, %zu parameters\n", ck.tensors.count, params);
    af_checkpoint_free(&ck);
}

static void test_coco_equals_pretrained(void)
{
    af_checkpoint ck;
    if (!t_file_exists(t_shared("fixtures/yolov8n_coco.pt")))
        SKIP("no shared fixtures");
    if (!load_shared("fixtures/yolov8n_coco.pt", &ck))
        return;
    const double s[] = {8, 16, 32};
    CHECK(ck.tensors.count == 298);
    check_common(&ck, 80, s, 3);
    CHECK_NEAR(train_imgsz(&ck), 640, 0);
    const cJSON *n16 = ck.names ? cJSON_GetObjectItemCaseSensitive(ck.names, "16") : NULL;
    CHECK(cJSON_IsString(n16) && !strcmp(n16->valuestring, "dog"));
    af_safetensors ref;
    af_error err = {0};
    if (af_safetensors_read_file(t_shared("pretrained/yolov8n-coco.safetensors"), &ref, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        af_checkpoint_free(&ck);
        return;
    }
    CHECK(ref.tensors.count == 298);
    size_t values = 0, mismatches = 0, compared = 0;
    double maxdiff = 0;
    for (size_t i = 0; i < ref.tensors.count; i++) {
        const af_tensor *r = &ref.tensors.items[i];
        const af_tensor *t = af_tensor_list_find(&ck.tensors, r->name);
        CHECK_MSG(t != NULL, "%s missing from the .pt", r->name);
        if (!t)
            continue;
        CHECK(r->dtype == AF_DT_F32 && t->dtype == AF_DT_F16);
        CHECK(r->ndim == t->ndim);
        for (int d = 0; d < r->ndim && d < t->ndim; d++)
            CHECK(r->shape[d] == t->shape[d]);
        size_t n = numel(r);
        values += n;
        if (n != numel(t) || r->nbytes != n * 4 || t->nbytes != n * 2)
            continue;
        const float *rf = r->data;
        const uint16_t *th = t->data;
        for (size_t k = 0; k < n; k++) {
            uint16_t want = af_f32_to_f16(rf[k]);
            if (want != th[k])
                mismatches++;
            double d = fabs((double)af_f16_to_f32(th[k]) - (double)af_f16_to_f32(want));
            if (d > maxdiff)
                maxdiff = d;
        }
        compared++;
    }
    CHECK(compared == 298);
    CHECK_MSG(values == 3167792, "%zu values", values);
    CHECK_MSG(mismatches == 0, "%zu values differ from fp16(pretrained), max |diff| %g",
              mismatches, maxdiff);
    printf("  coco: %zu tensors, %zu values, fp16 mismatches %zu, max |diff| %g\n", compared,
           values, mismatches, maxdiff);
    af_safetensors_free(&ref);
    af_checkpoint_free(&ck);
}

static void test_tiny(void)
{
    af_checkpoint ck;
    af_error err = {0};
    af_status st = af_checkpoint_load(t_fixture("pickle/tiny.pt"), &ck, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (st)
        return;
    const char *names[] = {"model.0.conv.weight", "model.0.bn.weight", "model.0.bn.bias",
                           "model.0.bn.running_mean", "model.0.bn.running_var"};
    REQUIRE(ck.tensors.count == 5); /* no num_batches_tracked, no non-persistent buffer */
    for (int i = 0; i < 5; i++)
        CHECK_MSG(!strcmp(ck.tensors.items[i].name, names[i]), "%s", ck.tensors.items[i].name);
    const af_tensor *w = &ck.tensors.items[0];
    CHECK(w->dtype == AF_DT_F32 && w->ndim == 4 && w->shape[0] == 2 && w->shape[1] == 3 &&
          w->shape[2] == 1 && w->shape[3] == 1);
    const float want_w[] = {0, 2, 4, 1, 3, 5}; /* transposed view of [[0,1],[2,3],[4,5]] */
    if (w->nbytes == sizeof want_w)
        CHECK(!memcmp(w->data, want_w, sizeof want_w));
    for (int i = 1; i < 5; i++) { /* views at offsets 0,2,4,6 of one storage */
        const af_tensor *t = &ck.tensors.items[i];
        const float *f = t->data;
        CHECK(t->ndim == 1 && t->shape[0] == 2 && t->nbytes == 8);
        if (t->nbytes == 8)
            CHECK(f[0] == 10 + 2 * (i - 1) && f[1] == 11 + 2 * (i - 1));
    }
    CHECK_NEAR(af_checkpoint_bn_eps(&ck, "model.0.bn"), 1e-5, 1e-15);
    CHECK(ck.nstride == 3 && ck.stride[2] == 32);
    CHECK(ck.nc == 2);
    const cJSON *n1 = ck.names ? cJSON_GetObjectItemCaseSensitive(ck.names, "1") : NULL;
    CHECK(cJSON_IsString(n1) && !strcmp(n1->valuestring, "body"));
    CHECK_NEAR(train_imgsz(&ck), 256, 0);
    CHECK(ck.version && !strcmp(ck.version, "8.1.9"));
    CHECK(ck.yaml != NULL);
    af_checkpoint_free(&ck);
}

/* Mid-training checkpoints: the EMA's weights load, whether the model is kept
 * beside it (8.0, 8.1) or None (8.2+), as ultralytics loads them. */
static void test_mid_training_picks_ema(void)
{
    const char *files[] = {"pickle/mid_both.pt", "pickle/mid_ema_only.pt"};
    for (int f = 0; f < 2; f++) {
        af_checkpoint ck;
        af_error err = {0};
        af_status st = af_checkpoint_load(t_fixture(files[f]), &ck, &err);
        CHECK_MSG(st == AF_OK, "%s: %s", files[f], err.msg);
        if (st)
            continue;
        const af_tensor *w = af_tensor_list_find(&ck.tensors, "model.0.conv.weight");
        const float want_w[] = {100, 102, 104, 101, 103, 105};
        CHECK_MSG(ck.tensors.count == 5 && w && w->nbytes == sizeof want_w &&
                      !memcmp(w->data, want_w, sizeof want_w),
                  "%s: not the EMA's weights", files[f]);
        CHECK(ck.nc == 2 && ck.imgsz == 256);
        af_checkpoint_free(&ck);
    }
}

static void check_bad(const char *rel, af_status want, const char *needle)
{
    af_checkpoint ck;
    af_error err = {0};
    af_status st = af_checkpoint_load(t_fixture(rel), &ck, &err);
    CHECK_MSG(st == want, "%s: status %d (%s)", rel, st, err.msg);
    CHECK_MSG(!needle || strstr(err.msg, needle), "%s: message '%s' lacks '%s'", rel, err.msg,
              needle);
    CHECK(ck.tensors.count == 0 && ck.yaml == NULL);
    if (!st)
        af_checkpoint_free(&ck);
}

static void test_bad_fixtures(void)
{
    check_bad("pickle/bad_storage.pt", AF_E_FORMAT, "storage");
    check_bad("pickle/short_storage.pt", AF_E_FORMAT, "bytes, expected");
    check_bad("pickle/truncated_pkl.pt", AF_E_FORMAT, "truncated");
    check_bad("pickle/evil.pt", AF_E_SECURITY, "'posix.system'");
    check_bad("pickle/no_such_file.pt", AF_E_IO, "no_such_file.pt");
    check_bad("pickle/dag_bomb.pt", AF_E_LIMIT, "modules");
    check_bad("pickle/module_cycle.pt", AF_E_LIMIT, "deeper");
    check_bad("pickle/no_weights.pt", AF_E_FORMAT, "no 'model' (nor 'ema')");
}

static void test_zip_reader(void)
{
    size_t len;
    unsigned char *b = t_read_file(t_fixture("pickle/tiny.pt"), &len);
    REQUIRE(b != NULL);
    af_zip *z;
    af_error err = {0};
    REQUIRE(af_zip_open_memory(b, len, "tiny.pt", &z, &err) == AF_OK);
    CHECK(af_zip_count(z) == 8);
    CHECK(af_zip_name(z, 0) && !strcmp(af_zip_name(z, 0), "tiny/data.pkl"));
    CHECK(af_zip_name(z, 99) == NULL);
    size_t sz = 0;
    CHECK(af_zip_entry_size(z, "tiny/data/0", &sz, &err) == AF_OK && sz == 24);
    void *data;
    size_t n;
    CHECK(af_zip_read(z, "tiny/data/0", 10, &data, &n, &err) == AF_E_LIMIT);
    CHECK(af_zip_read(z, "tiny/nothing", 10, &data, &n, &err) == AF_E_FORMAT);
    CHECK(strstr(err.msg, "tiny/nothing") != NULL);
    if (af_zip_read(z, "tiny/byteorder", 100, &data, &n, &err) == AF_OK) {
        CHECK(n == 6 && !memcmp(data, "little", 6));
        free(data);
    } else {
        CHECK_MSG(0, "%s", err.msg);
    }
    af_zip_close(z);
    free(b);
}

/* Rebuilds tiny.pt in memory with data.pkl replaced (libzip writer). */
static unsigned char *rezip(af_zip *src, const void *pkl, size_t pkl_len, size_t *out_len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *buf = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_source_keep(buf);
    zip_t *za = zip_open_from_source(buf, ZIP_TRUNCATE, &ze);
    void *keep[16];
    size_t nkeep = 0;
    for (size_t i = 0; i < af_zip_count(src) && nkeep < 16; i++) {
        const char *name = af_zip_name(src, i);
        void *data;
        size_t n;
        if (!strcmp(name, "tiny/data.pkl")) {
            data = malloc(pkl_len ? pkl_len : 1);
            memcpy(data, pkl, pkl_len);
            n = pkl_len;
        } else if (af_zip_read(src, name, 1 << 20, &data, &n, NULL)) {
            continue;
        }
        keep[nkeep++] = data;
        zip_source_t *fs = zip_source_buffer(za, data, n, 0);
        zip_int64_t idx = zip_file_add(za, name, fs, ZIP_FL_OVERWRITE);
        if (idx >= 0)
            zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    zip_close(za);
    for (size_t i = 0; i < nkeep; i++)
        free(keep[i]);
    unsigned char *out = NULL;
    zip_stat_t sb;
    if (zip_source_stat(buf, &sb) == 0 && zip_source_open(buf) == 0) {
        out = malloc(sb.size);
        *out_len = (size_t)zip_source_read(buf, out, sb.size);
        zip_source_close(buf);
    }
    zip_source_free(buf);
    zip_error_fini(&ze);
    return out;
}

/* Damaged data.pkl inside a valid zip: every truncation fails, single-byte
 * changes never crash (ASan) and never yield tensors outside their storage. */
static void test_mutated_pickle(void)
{
    size_t len;
    unsigned char *b = t_read_file(t_fixture("pickle/tiny.pt"), &len);
    REQUIRE(b != NULL);
    af_zip *z;
    REQUIRE(af_zip_open_memory(b, len, "tiny.pt", &z, NULL) == AF_OK);
    void *pkl;
    size_t pl;
    REQUIRE(af_zip_read(z, "tiny/data.pkl", 1 << 20, &pkl, &pl, NULL) == AF_OK);
    unsigned char *m = malloc(pl);
    size_t loaded = 0, runs = 0;
    const unsigned char vals[] = {0x00, 0x01, 0xff, 'N', ')', 'R', 'b', 0x81, 'h', '}'};
    for (size_t i = 0; i < pl; i += 1) {
        for (size_t v = 0; v <= sizeof vals; v++) {
            size_t n = pl;
            memcpy(m, pkl, pl);
            if (v == sizeof vals)
                n = i; /* truncation */
            else
                m[i] = vals[v];
            size_t zl = 0;
            unsigned char *zb = rezip(z, m, n, &zl);
            if (!zb)
                continue;
            af_checkpoint ck;
            af_error err = {0};
            af_status st = af_checkpoint_load_memory(zb, zl, "mut.pt", &ck, &err);
            runs++;
            if (v == sizeof vals)
                CHECK_MSG(st != AF_OK, "truncated at %zu loaded", i);
            else
                CHECK_MSG(st == AF_OK || err.msg[0], "no message for a failure");
            if (!st) {
                loaded++;
                af_checkpoint_free(&ck);
            }
            free(zb);
        }
    }
    printf("  %zu damaged checkpoints, %zu still loaded\n", runs, loaded);
    CHECK(runs > 1000);
    free(m);
    free(pkl);
    af_zip_close(z);
    free(b);
}

static void expect_fail(const unsigned char *b, size_t len, const char *what)
{
    af_checkpoint ck;
    af_error err = {0};
    af_status st = af_checkpoint_load_memory(b, len, what, &ck, &err);
    CHECK_MSG(st != AF_OK, "%s loaded", what);
    CHECK_MSG(st == AF_OK || (err.msg[0] && strstr(err.msg, what)), "%s: message '%s'", what,
              err.msg);
    if (!st)
        af_checkpoint_free(&ck);
    else
        printf("  %s -> %s: %s\n", what, af_status_name(st), err.msg);
}

static void test_corrupt_zip(void)
{
    size_t len;
    unsigned char *b = t_read_file(t_shared("fixtures/yolov8n_face.pt"), &len);
    if (!b)
        SKIP("no shared fixtures");
    expect_fail(b, 1000, "truncated-1000");
    expect_fail(b, len - 100, "truncated-end");
    expect_fail(b, len / 2, "truncated-half");
    unsigned char *m = malloc(len);
    REQUIRE(m != NULL);
    /* bytes changed inside stored data: CRC mismatch of the entry */
    memcpy(m, b, len);
    for (size_t i = len / 2; i < len / 2 + 64; i++)
        m[i] ^= 0x5a;
    expect_fail(m, len, "flipped-middle");
    /* central directory damaged */
    memcpy(m, b, len);
    for (size_t i = len - 2000; i < len - 1000; i++)
        m[i] = 0;
    expect_fail(m, len, "zeroed-directory");
    /* zip magic followed by garbage */
    memset(m, 0x41, 4096);
    memcpy(m, "PK\3\4", 4);
    expect_fail(m, 4096, "garbage-zip");
    free(m);
    free(b);
}

int main(void)
{
    RUN(test_face);
    RUN(test_p6);
    RUN(test_coco_equals_pretrained);
    RUN(test_tiny);
    RUN(test_mid_training_picks_ema);
    RUN(test_bad_fixtures);
    RUN(test_zip_reader);
    RUN(test_corrupt_zip);
    RUN(test_mutated_pickle);
    return t_summary();
}
