/* safetensors: the golden files and the pretrained weights, checkpoint
 * round trips (F16 and F32), and malformed headers. */
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "testutil.h"

static cJSON *read_json(const char *path)
{
    size_t len;
    unsigned char *b = t_read_file(path, &len);
    if (!b)
        return NULL;
    cJSON *j = cJSON_ParseWithLength((const char *)b, len);
    free(b);
    return j;
}

static const af_tensor *find(const af_safetensors *s, const char *name)
{
    return af_tensor_list_find(&s->tensors, name);
}

static int shape_is(const af_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return 0;
    return 1;
}

static void test_golden_inference(void)
{
    cJSON *man = read_json(t_fixture("golden/manifest.json"));
    REQUIRE(man != NULL);
    const cJSON *inf = cJSON_GetObjectItemCaseSensitive(man, "inference");
    const cJSON *e;
    int files = 0;
    cJSON_ArrayForEach(e, inf)
    {
        const char *rel = cJSON_GetObjectItemCaseSensitive(e, "safetensors")->valuestring;
        const char *jrel = cJSON_GetObjectItemCaseSensitive(e, "json")->valuestring;
        int na = cJSON_GetObjectItemCaseSensitive(e, "n_det_a")->valueint;
        int nb = cJSON_GetObjectItemCaseSensitive(e, "n_det_b")->valueint;
        af_safetensors s;
        af_error err = {0};
        af_status st = af_safetensors_read_file(t_fixture(rel), &s, &err);
        CHECK_MSG(st == AF_OK, "%s", err.msg);
        if (st)
            continue;
        files++;
        cJSON *gj = read_json(t_fixture(jrel));
        CHECK(gj != NULL);
        int nc = cJSON_GetObjectItemCaseSensitive(gj, "nc")->valueint;
        const cJSON *os = cJSON_GetObjectItemCaseSensitive(gj, "output_shape");
        const af_tensor *out = find(&s, "output");
        int64_t oshape[3] = {1, 4 + nc, cJSON_GetArrayItem(os, 2)->valueint};
        CHECK_MSG(out && out->dtype == AF_DT_F32 && shape_is(out, 3, oshape), "%s output", rel);
        const af_tensor *ca = find(&s, "det_a_conf"), *cb = find(&s, "det_b_conf");
        const af_tensor *cls = find(&s, "det_a_cls"), *xy = find(&s, "det_a_xyxy");
        int64_t sa[1] = {na}, sb[1] = {nb}, sx[2] = {na, 4};
        CHECK_MSG(shape_is(ca, 1, sa) && shape_is(cb, 1, sb) && shape_is(xy, 2, sx), "%s", rel);
        CHECK(cls && cls->dtype == AF_DT_I64 && shape_is(cls, 1, sa));
        const cJSON *da = cJSON_GetObjectItemCaseSensitive(gj, "det_a");
        const cJSON *jconf = cJSON_GetObjectItemCaseSensitive(da, "conf");
        const cJSON *jcls = cJSON_GetObjectItemCaseSensitive(da, "cls");
        if (ca && cls && shape_is(ca, 1, sa) && cJSON_GetArraySize(jconf) == na) {
            const float *f = ca->data;
            const int64_t *c = cls->data;
            for (int i = 0; i < na; i++) {
                CHECK_NEAR(f[i], cJSON_GetArrayItem(jconf, i)->valuedouble, 6e-6);
                CHECK(c[i] == cJSON_GetArrayItem(jcls, i)->valueint);
            }
        }
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(s.metadata, "ultralytics");
        CHECK(cJSON_IsString(ver) && !strcmp(ver->valuestring, "8.1.9"));
        cJSON_Delete(gj);
        af_safetensors_free(&s);
    }
    CHECK(files == 10);
    /* inputs: U8 (1,3,H,W) as the manifest says */
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(man, "inputs");
    int nin = 0;
    cJSON_ArrayForEach(e, inputs)
    {
        const char *rel = cJSON_GetObjectItemCaseSensitive(e, "file")->valuestring;
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        af_safetensors s;
        af_error err = {0};
        if (af_safetensors_read_file(t_fixture(rel), &s, &err)) {
            CHECK_MSG(0, "%s", err.msg);
            continue;
        }
        int64_t shape[4];
        for (int i = 0; i < 4; i++)
            shape[i] = cJSON_GetArrayItem(sh, i)->valueint;
        const af_tensor *t = find(&s, "input_u8");
        CHECK_MSG(t && t->dtype == AF_DT_U8 && shape_is(t, 4, shape), "%s", rel);
        nin++;
        af_safetensors_free(&s);
    }
    CHECK(nin == 5);
    cJSON_Delete(man);
}

static void test_golden_loss_metrics(void)
{
    af_safetensors s;
    af_error err = {0};
    af_status st = af_safetensors_read_file(t_fixture("golden/loss_batch2.safetensors"), &s, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (!st) {
        /* values printed in the fixtures README */
        const af_tensor *li = find(&s, "loss_items"), *lt = find(&s, "loss_total");
        CHECK(li && li->dtype == AF_DT_F32 && li->nbytes == 12);
        CHECK(lt && lt->dtype == AF_DT_F32 && lt->nbytes == 4);
        if (li && li->nbytes == 12 && lt && lt->nbytes == 4) {
            const float *f = li->data;
            CHECK_NEAR(f[0], 2.724218, 2e-6);
            CHECK_NEAR(f[1], 2.014054, 2e-6);
            CHECK_NEAR(f[2], 1.426944, 2e-6);
            CHECK_NEAR(((const float *)lt->data)[0], 12.330431, 1e-5);
        }
        const af_tensor *in = find(&s, "input_u8");
        int64_t shp[4] = {2, 3, 320, 320};
        CHECK(in && in->dtype == AF_DT_U8 && shape_is(in, 4, shp));
        const af_tensor *fg = find(&s, "fg_mask");
        int64_t fshp[2] = {2, 2100};
        CHECK(fg && fg->dtype == AF_DT_U8 && shape_is(fg, 2, fshp));
        if (fg && fg->nbytes == 4200) {
            int n0 = 0, n1 = 0;
            const uint8_t *m = fg->data;
            for (int i = 0; i < 2100; i++) {
                n0 += m[i] != 0;
                n1 += m[2100 + i] != 0;
            }
            CHECK(n0 == 22 && n1 == 15); /* README: 22 + 15 foreground anchors */
        }
        af_safetensors_free(&s);
    }
    st = af_safetensors_read_file(t_fixture("golden/metrics_val48.safetensors"), &s, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (!st) {
        const af_tensor *cm = find(&s, "confusion_matrix");
        float *f = NULL;
        size_t n = 0;
        if (cm && af_tensor_to_f32(cm, &f, &n, &err) == AF_OK && n == 4) {
            CHECK(f[0] == 47 && f[1] == 3 && f[2] == 42 && f[3] == 0);
        } else {
            CHECK_MSG(0, "confusion_matrix");
        }
        free(f);
        const af_tensor *ap = find(&s, "ap");
        if (ap && af_tensor_to_f32(ap, &f, &n, &err) == AF_OK && n == 10) {
            CHECK_NEAR(f[0], 0.6013596829395353, 1e-6);
            double m = 0;
            for (int i = 0; i < 10; i++)
                m += f[i];
            CHECK_NEAR(m / 10, 0.2847570230699482, 1e-6);
            free(f);
        } else {
            CHECK_MSG(0, "ap");
        }
        af_safetensors_free(&s);
    }
}

static void test_pretrained(void)
{
    const char *path = t_shared("pretrained/yolov8n-coco.safetensors");
    if (!t_file_exists(path))
        SKIP("no shared pretrained weights");
    af_checkpoint ck;
    af_error err = {0};
    af_status st = af_checkpoint_load(path, &ck, &err);
    REQUIRE(st == AF_OK);
    CHECK(!strcmp(ck.format, "safetensors"));
    CHECK(ck.tensors.count == 298);
    CHECK(ck.nc == 80);
    CHECK(ck.nstride == 3 && ck.stride[0] == 8 && ck.stride[1] == 16 && ck.stride[2] == 32);
    CHECK(ck.yaml == NULL); /* its "yaml" is a description, not JSON */
    CHECK(ck.version == NULL);
    CHECK(ck.fused == 0);
    const cJSON *n0 = ck.names ? cJSON_GetObjectItemCaseSensitive(ck.names, "0") : NULL;
    CHECK(cJSON_IsString(n0) && !strcmp(n0->valuestring, "person"));
    CHECK(ck.names && cJSON_GetArraySize(ck.names) == 80);
    size_t values = 0, nvar = 0;
    for (size_t i = 0; i < ck.tensors.count; i++) {
        const af_tensor *t = &ck.tensors.items[i];
        size_t n = 0;
        af_shape_numel(t->shape, t->ndim, &n);
        values += n;
        CHECK(t->dtype == AF_DT_F32);
        size_t len = strlen(t->name);
        if (len > 12 && !strcmp(t->name + len - 12, ".running_var")) {
            char prefix[256];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 12), t->name);
            CHECK_NEAR(af_checkpoint_bn_eps(&ck, prefix), 1e-3, 1e-12);
            const float *f = t->data;
            for (size_t k = 0; k < n; k++) /* README: running_var = 1 - eps */
                CHECK_NEAR(f[k], 1.0 - 1e-3, 1e-7);
            nvar++;
        }
    }
    CHECK(values == 3167792);
    CHECK(nvar == 57 && ck.bn_eps && cJSON_GetArraySize(ck.bn_eps) == 57);
    const af_tensor *dfl = af_tensor_list_find(&ck.tensors, "model.22.dfl.conv.weight");
    CHECK(dfl && dfl->nbytes == 64);
    if (dfl && dfl->nbytes == 64)
        for (int i = 0; i < 16; i++)
            CHECK(((const float *)dfl->data)[i] == (float)i);
    af_checkpoint_free(&ck);
}

/* A fresh private directory for written files. */
static char *temp_dir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/af_test_st_XXXXXX");
    return mkdtemp(dir);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static int json_eq(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    return cJSON_Compare(a, b, 1);
}

/* Layout of a written file: header padded to 8, each tensor aligned to its
 * element size, data contiguous. */
static void check_layout(const char *path)
{
    size_t len;
    unsigned char *b = t_read_file(path, &len);
    REQUIRE(b && len >= 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | b[i];
    CHECK(hl % 8 == 0 && hl + 8 <= len);
    cJSON *h = cJSON_ParseWithLength((const char *)b + 8, hl);
    CHECK(h != NULL);
    const cJSON *e;
    size_t total = 0;
    cJSON_ArrayForEach(e, h)
    {
        if (!strcmp(e->string, "__metadata__"))
            continue;
        af_dtype dt;
        CHECK(af_dtype_from_name(cJSON_GetObjectItem(e, "dtype")->valuestring, &dt) == 0);
        const cJSON *off = cJSON_GetObjectItem(e, "data_offsets");
        size_t b0 = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        size_t b1 = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        CHECK_MSG((8 + hl + b0) % af_dtype_size(dt) == 0, "%s misaligned", e->string);
        total += b1 - b0;
    }
    CHECK(total == len - 8 - hl);
    cJSON_Delete(h);
    free(b);
}

static void test_checkpoint_roundtrip(void)
{
    const char *src = t_shared("fixtures/yolov8n_face.pt");
    if (!t_file_exists(src))
        src = t_fixture("pickle/tiny.pt");
    af_checkpoint ck;
    af_error err = {0};
    REQUIRE(af_checkpoint_load(src, &ck, &err) == AF_OK);
    char *dir = temp_dir();
    REQUIRE(dir != NULL);
    char p16[256], p32[256];
    snprintf(p16, sizeof p16, "%s/w16.safetensors", dir);
    snprintf(p32, sizeof p32, "%s/w32.safetensors", dir);
    CHECK_MSG(af_checkpoint_save_safetensors(&ck, p16, AF_DT_F16, &err) == AF_OK, "%s", err.msg);
    CHECK_MSG(af_checkpoint_save_safetensors(&ck, p32, AF_DT_F32, &err) == AF_OK, "%s", err.msg);
    CHECK(count_files(dir) == 2); /* no temporary files left behind */
    check_layout(p16);
    check_layout(p32);
    for (int pass = 0; pass < 2; pass++) {
        af_checkpoint back;
        const char *p = pass ? p32 : p16;
        if (af_checkpoint_load(p, &back, &err)) {
            CHECK_MSG(0, "%s", err.msg);
            continue;
        }
        CHECK(!strcmp(back.format, "safetensors"));
        CHECK(back.tensors.count == ck.tensors.count);
        size_t bad = 0;
        for (size_t i = 0; i < ck.tensors.count; i++) {
            const af_tensor *a = &ck.tensors.items[i];
            const af_tensor *b = af_tensor_list_find(&back.tensors, a->name);
            if (!b || b->ndim != a->ndim || memcmp(b->shape, a->shape, sizeof(int64_t) * a->ndim)) {
                bad++;
                continue;
            }
            float *fa, *fb;
            size_t na, nb;
            if (af_tensor_to_f32(a, &fa, &na, &err) || af_tensor_to_f32(b, &fb, &nb, &err)) {
                bad++;
                continue;
            }
            if (b->dtype != (pass ? AF_DT_F32 : AF_DT_F16) || na != nb ||
                memcmp(fa, fb, na * sizeof *fa))
                bad++;
            if (!pass && a->dtype == AF_DT_F16 && (b->nbytes != a->nbytes || memcmp(a->data, b->data, a->nbytes)))
                bad++;
            free(fa);
            free(fb);
        }
        CHECK_MSG(bad == 0, "%zu tensors differ after the round trip", bad);
        CHECK(json_eq(back.yaml, ck.yaml));
        CHECK(json_eq(back.names, ck.names));
        CHECK(json_eq(back.train_args, ck.train_args));
        CHECK(json_eq(back.bn_eps, ck.bn_eps));
        CHECK(back.nstride == ck.nstride);
        for (int i = 0; i < ck.nstride; i++)
            CHECK(back.stride[i] == ck.stride[i]);
        CHECK(back.nc == ck.nc && back.nc > 0);
        CHECK(back.fused == ck.fused);
        CHECK(back.version && ck.version && !strcmp(back.version, ck.version));
        af_checkpoint_free(&back);
    }
    /* the pretrained F32 weights stored as F16 equal the COCO .pt */
    const char *pre = t_shared("pretrained/yolov8n-coco.safetensors");
    const char *coco = t_shared("fixtures/yolov8n_coco.pt");
    if (t_file_exists(pre) && t_file_exists(coco)) {
        af_checkpoint a, b, c;
        if (af_checkpoint_load(pre, &a, &err) == AF_OK) {
            CHECK(af_checkpoint_save_safetensors(&a, p16, AF_DT_F16, &err) == AF_OK);
            if (af_checkpoint_load(p16, &b, &err) == AF_OK) {
                if (af_checkpoint_load(coco, &c, &err) == AF_OK) {
                    size_t bad = 0;
                    for (size_t i = 0; i < c.tensors.count; i++) {
                        const af_tensor *x = &c.tensors.items[i];
                        const af_tensor *y = af_tensor_list_find(&b.tensors, x->name);
                        if (!y || y->dtype != AF_DT_F16 || y->nbytes != x->nbytes ||
                            memcmp(y->data, x->data, x->nbytes))
                            bad++;
                    }
                    CHECK(c.tensors.count == 298 && b.tensors.count == 298);
                    CHECK_MSG(bad == 0, "%zu tensors differ from yolov8n_coco.pt", bad);
                    af_checkpoint_free(&c);
                }
                af_checkpoint_free(&b);
            }
            af_checkpoint_free(&a);
        }
    }
    /* bad arguments and unwritable paths */
    CHECK(af_checkpoint_save_safetensors(&ck, p16, AF_DT_I64, &err) == AF_E_ARG);
    CHECK(af_checkpoint_save_safetensors(&ck, "/nonexistent_dir_af/x.safetensors", AF_DT_F16,
                                         &err) == AF_E_IO);
    unlink(p16);
    unlink(p32);
    rmdir(dir);
    af_checkpoint_free(&ck);
}

/* Builds header-length + header + data (zeros). */
static unsigned char *make_st(const char *hdr, size_t datalen, uint64_t declared, size_t *len)
{
    size_t hl = strlen(hdr);
    *len = 8 + hl + datalen;
    unsigned char *b = calloc(1, *len);
    uint64_t d = declared ? declared : hl;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(d >> (8 * i));
    memcpy(b + 8, hdr, hl);
    return b;
}

static void bad_st(const char *hdr, size_t datalen, uint64_t declared, af_status want,
                   const char *needle)
{
    size_t len;
    unsigned char *b = make_st(hdr, datalen, declared, &len);
    af_safetensors s;
    af_error err = {0};
    af_status st = af_safetensors_parse(b, len, "bad.safetensors", &s, &err);
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", hdr, st, want, err.msg);
    CHECK_MSG(strstr(err.msg, "bad.safetensors") && (!needle || strstr(err.msg, needle)),
              "%s: message '%s'", hdr, err.msg);
    CHECK(s.tensors.count == 0 && s.metadata == NULL);
    if (!st)
        af_safetensors_free(&s);
    /* the same through the checkpoint loader */
    af_checkpoint ck;
    st = af_checkpoint_load_memory(b, len, "bad.safetensors", &ck, &err);
    CHECK(st != AF_OK);
    if (!st)
        af_checkpoint_free(&ck);
    free(b);
}

static void test_malformed(void)
{
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t len;
    unsigned char *b = make_st(ok, 8, 0, &len);
    af_safetensors s;
    af_error err = {0};
    CHECK(af_safetensors_parse(b, len, "ok", &s, &err) == AF_OK);
    af_safetensors_free(&s);
    for (size_t n = 0; n < len; n++) { /* every truncation fails cleanly */
        af_status st = af_safetensors_parse(b, n, "cut", &s, &err);
        CHECK_MSG(st != AF_OK, "cut at %zu", n);
        if (!st)
            af_safetensors_free(&s);
    }
    CHECK(af_safetensors_parse(b, 4, "short", &s, &err) == AF_E_FORMAT);
    free(b);

    bad_st(ok, 8, 1000, AF_E_FORMAT, "beyond the file");
    bad_st(ok, 8, (uint64_t)1 << 40, AF_E_LIMIT, "over the limit");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, 0, AF_E_FORMAT,
           "JSON");
    bad_st("[1,2,3]", 0, 0, AF_E_FORMAT, "JSON object");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12, 0, AF_E_FORMAT, "overlaps");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0, AF_E_FORMAT,
           "outside");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0, AF_E_FORMAT,
           "outside");
    bad_st("{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0,
           AF_E_UNSUPPORTED, "dtype");
    bad_st("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, AF_E_UNSUPPORTED, "dtype");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0, AF_E_FORMAT,
           "need 12 bytes");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0,
           AF_E_FORMAT, "shape");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, 0,
           AF_E_FORMAT, "shape");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, 0,
           AF_E_FORMAT, "shape");
    bad_st("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
           0, AF_E_LIMIT, "dimensions");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
           "\"data_offsets\":[0,8]}}",
           8, 0, AF_E_LIMIT, "overflows");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
           16, 0, AF_E_FORMAT, "twice");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, AF_E_FORMAT,
           "unused");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, 0, AF_E_FORMAT,
           "use 4");
    bad_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, 0, AF_E_FORMAT,
           "data_offsets");
    bad_st("{\"__metadata__\":{\"x\":1}}", 0, 0, AF_E_FORMAT, "not a string");
    bad_st("{\"__metadata__\":[]}", 0, 0, AF_E_FORMAT, "__metadata__");
    bad_st("{\"a\":5}", 0, 0, AF_E_FORMAT, "not an object");
    bad_st("{} x", 0, 0, AF_E_FORMAT, "after");
}

/* Found by fuzzing: a header of one huge metadata array ("0,0,0,...", 100 MB) made cJSON
 * allocate over 3 GB; the value count is now bounded before parsing. */
static void test_json_value_limit(void)
{
    const char *head = "{\"__metadata__\":{\"a\":[", *tail = "0]}}";
    /* root, metadata object, array and the numbers: nvals + 3 values, one over the bound */
    size_t nvals = (size_t)8 * AF_ST_MAX_TENSORS - 2;
    size_t hl = strlen(head) + 2 * (nvals - 1) + strlen(tail);
    hl += (8 - hl % 8) % 8;
    unsigned char *buf = malloc(8 + hl);
    REQUIRE(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    char *h = (char *)buf + 8;
    memset(h, ' ', hl);
    memcpy(h, head, strlen(head));
    char *q = h + strlen(head);
    for (size_t i = 0; i + 1 < nvals; i++, q += 2)
        memcpy(q, "0,", 2);
    memcpy(q, tail, strlen(tail));
    af_safetensors st;
    af_error err = {0};
    CHECK(af_safetensors_parse(buf, 8 + hl, "bomb.safetensors", &st, &err) == AF_E_LIMIT);
    CHECK_MSG(strstr(err.msg, "JSON values") != NULL, "%s", err.msg);
    free(buf);
}

static void test_serialize_order(void)
{
    af_tensor_list l = {0};
    af_error err = {0};
    int64_t s1[1] = {3}, s2[2] = {1, 2};
    uint8_t *u = malloc(3);
    double *d = malloc(16);
    memcpy(u, "\1\2\3", 3);
    d[0] = 1.5;
    d[1] = -2;
    REQUIRE(af_tensor_list_add(&l, "bytes", AF_DT_U8, 1, s1, u, 3, &err) == AF_OK);
    REQUIRE(af_tensor_list_add(&l, "doubles", AF_DT_F64, 2, s2, d, 16, &err) == AF_OK);
    cJSON *md = cJSON_CreateObject();
    cJSON_AddStringToObject(md, "k", "v");
    cJSON_AddNumberToObject(md, "n", 3);
    void *buf;
    size_t len;
    REQUIRE(af_safetensors_serialize(&l, md, &buf, &len, &err) == AF_OK);
    af_safetensors s;
    REQUIRE(af_safetensors_parse(buf, len, "mem", &s, &err) == AF_OK);
    const af_tensor *td = af_tensor_list_find(&s.tensors, "doubles");
    const af_tensor *tu = af_tensor_list_find(&s.tensors, "bytes");
    CHECK(td && td->dtype == AF_DT_F64 && td->nbytes == 16 && !memcmp(td->data, d, 16));
    CHECK(tu && tu->dtype == AF_DT_U8 && tu->nbytes == 3 && !memcmp(tu->data, "\1\2\3", 3));
    const cJSON *k = cJSON_GetObjectItem(s.metadata, "k"), *n = cJSON_GetObjectItem(s.metadata, "n");
    CHECK(cJSON_IsString(k) && !strcmp(k->valuestring, "v"));
    CHECK(cJSON_IsString(n) && !strcmp(n->valuestring, "3"));
    af_safetensors_free(&s);
    free(buf);
    cJSON_Delete(md);
    af_tensor_list_free(&l);
}

int main(void)
{
    RUN(test_golden_inference);
    RUN(test_golden_loss_metrics);
    RUN(test_pretrained);
    RUN(test_checkpoint_roundtrip);
    RUN(test_malformed);
    RUN(test_serialize_order);
    RUN(test_json_value_limit);
    return t_summary();
}
