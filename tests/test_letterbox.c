/* Letterbox + cv2-exact resize against ultralytics 8.1.9 goldens
 * (tests/fixtures/golden/input__*.safetensors: the exact u8 predictor input). */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "detect/letterbox.h"
#include "detect/resize.h"
#include "io/image.h"
#include "st_reader.h"
#include "testutil.h"

static int jint(cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k)->valueint;
}

/* ---- goldens ---- */

static void check_golden(const char *file, int stride)
{
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/golden/%s", file);
    st_file f;
    if (st_open(&f, path) != 0) {
        CHECK_MSG(0, "cannot read %s", path);
        st_close(&f);
        return;
    }
    const char *image = st_meta(&f, "image");
    const char *orig = st_meta(&f, "orig_hw");
    const char *lbs = st_meta(&f, "letterbox");
    int64_t dims[8];
    int nd = 0;
    size_t numel = 0;
    uint8_t *gold = st_get(&f, "input_u8", "U8", 1, dims, &nd, &numel);
    cJSON *ohw = orig ? cJSON_Parse(orig) : NULL;
    cJSON *lbj = lbs ? cJSON_Parse(lbs) : NULL;
    af_image img = {0, 0, 0, NULL}, boxed = {0, 0, 0, NULL};
    if (!image || !gold || !ohw || !lbj || nd != 4 || dims[0] != 1 || dims[1] != 3) {
        CHECK_MSG(0, "%s: unexpected golden layout", file);
        goto out;
    }
    char ipath[512];
    snprintf(ipath, sizeof ipath, "tests/fixtures/images/%s", image);
    af_error err = {0};
    af_status st = af_image_load(ipath, NULL, &img, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (st)
        goto out;
    CHECK(img.h == cJSON_GetArrayItem(ohw, 0)->valueint);
    CHECK(img.w == cJSON_GetArrayItem(ohw, 1)->valueint);

    af_letterbox lb;
    af_letterbox_plan(img.h, img.w, 640, 640, stride, 1, 1, 1, &lb);
    cJSON *rwh = cJSON_GetObjectItemCaseSensitive(lbj, "resized_wh");
    cJSON *ihw = cJSON_GetObjectItemCaseSensitive(lbj, "input_hw");
    double ratio = cJSON_GetObjectItemCaseSensitive(lbj, "ratio")->valuedouble;
    CHECK_MSG(lb.ratio == ratio, "%s: ratio %.17g, golden %.17g", file, lb.ratio, ratio);
    CHECK(lb.new_w == cJSON_GetArrayItem(rwh, 0)->valueint);
    CHECK(lb.new_h == cJSON_GetArrayItem(rwh, 1)->valueint);
    CHECK(lb.top == jint(lbj, "pad_top"));
    CHECK(lb.bottom == jint(lbj, "pad_bottom"));
    CHECK(lb.left == jint(lbj, "pad_left"));
    CHECK(lb.right == jint(lbj, "pad_right"));
    CHECK(lb.in_h == cJSON_GetArrayItem(ihw, 0)->valueint && lb.in_h == dims[2]);
    CHECK(lb.in_w == cJSON_GetArrayItem(ihw, 1)->valueint && lb.in_w == dims[3]);
    if (t_cur_failed)
        goto out;

    st = af_letterbox_apply(&img, &lb, 114, &boxed, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (st)
        goto out;
    CHECK(boxed.w == lb.in_w && boxed.h == lb.in_h && boxed.c == 3);
    size_t ndiff = 0, plane = (size_t)lb.in_h * lb.in_w;
    int maxd = 0;
    double sumd = 0;
    for (int ch = 0; ch < 3; ch++)
        for (size_t i = 0; i < plane; i++) {
            int d = abs((int)boxed.data[i * 3 + ch] - (int)gold[ch * plane + i]);
            ndiff += d != 0;
            maxd = d > maxd ? d : maxd;
            sumd += d;
        }
    fprintf(stderr, "  %s (stride %d): %zu of %zu bytes differ, max |diff| %d, mean %.3g\n", file,
            stride, ndiff, plane * 3, maxd, sumd / (double)(plane * 3));
    CHECK_MSG(ndiff == 0, "%s: %zu differing bytes (max %d)", file, ndiff, maxd);
out:
    af_image_free(&img);
    af_image_free(&boxed);
    cJSON_Delete(ohw);
    cJSON_Delete(lbj);
    free(gold);
    st_close(&f);
}

static void test_golden_dog(void)
{
    check_golden("input__dog__480x640.safetensors", 32);
}

static void test_golden_icf(void)
{
    check_golden("input__icf_val_00036__384x640.safetensors", 32);
}

static void test_golden_priconne(void)
{
    check_golden("input__test_priconne__512x640.safetensors", 32);
}

static void test_golden_uma(void)
{
    check_golden("input__test_uma__640x608.safetensors", 32);
}

static void test_golden_uma_p6(void)
{
    check_golden("input__test_uma__640x640.safetensors", 64);
}

/* ---- plan rules (values from tests/fixtures/README.md and LetterBox's formulas) ---- */

static void test_plan_fixed_shape(void)
{
    af_letterbox lb;
    /* loss golden: 640x480 -> (320,320), auto=False: r 0.5, 320x240, pads 40/40 */
    af_letterbox_plan(480, 640, 320, 320, 32, 0, 1, 1, &lb);
    CHECK(lb.ratio == 0.5 && lb.new_w == 320 && lb.new_h == 240);
    CHECK(lb.top == 40 && lb.bottom == 40 && lb.left == 0 && lb.right == 0);
    CHECK(lb.in_h == 320 && lb.in_w == 320);
    /* 592x480 -> 320x259, top 30 / bottom 31 (round(30.5-0.1), round(30.5+0.1)) */
    af_letterbox_plan(480, 592, 320, 320, 32, 0, 1, 1, &lb);
    CHECK(lb.new_w == 320 && lb.new_h == 259);
    CHECK(lb.top == 30 && lb.bottom == 31 && lb.in_h == 320);
}

static void test_plan_rules(void)
{
    af_letterbox lb;
    /* scaleup off: a small image keeps its size, padding only */
    af_letterbox_plan(100, 200, 416, 416, 32, 0, 0, 1, &lb);
    CHECK(lb.ratio == 1.0 && lb.new_w == 200 && lb.new_h == 100);
    CHECK(lb.top == 158 && lb.bottom == 158 && lb.left == 108 && lb.right == 108);
    /* center off: all padding bottom/right */
    af_letterbox_plan(100, 200, 416, 416, 32, 0, 0, 0, &lb);
    CHECK(lb.top == 0 && lb.bottom == 316 && lb.left == 0 && lb.right == 216);
    /* auto: minimal stride multiple, odd padding split 13/14 style */
    af_letterbox_plan(1080, 1432, 640, 640, 32, 1, 1, 1, &lb);
    CHECK(lb.new_w == 640 && lb.new_h == 483 && lb.top == 14 && lb.bottom == 15);
    CHECK(lb.in_h == 512 && lb.in_w == 640);
    /* Python round half-to-even on the new size, w0*r == x.5 exactly:
     * h0=5, w0=10, target 13 -> r=1.3, new_h = round(6.5) = 6 (even), new_w = 13 */
    af_letterbox_plan(5, 10, 13, 13, 1, 0, 1, 1, &lb);
    CHECK_MSG(lb.new_h == 6 && lb.top == 3 && lb.bottom == 4, "new_h %d", lb.new_h); /* Python: round(5 * 1.3) == 6 */
    CHECK(lb.new_w == 13);
    /* dh/2 - 0.1 and + 0.1 for an even pad: equal halves */
    af_letterbox_plan(362, 640, 640, 640, 32, 1, 1, 1, &lb);
    CHECK(lb.new_h == 362 && lb.top == 11 && lb.bottom == 11 && lb.in_h == 384);
}

static void test_apply_same_size_and_pad(void)
{
    af_image src = {0, 0, 0, NULL}, dst = {0, 0, 0, NULL};
    REQUIRE(af_image_alloc(&src, 4, 2, 3, NULL) == AF_OK);
    for (int i = 0; i < 24; i++)
        src.data[i] = (uint8_t)(i * 10);
    af_letterbox lb;
    af_letterbox_plan(2, 4, 4, 4, 32, 0, 0, 1, &lb); /* no resize, 1 row pad each side */
    CHECK(lb.new_w == 4 && lb.new_h == 2 && lb.top == 1 && lb.bottom == 1);
    af_error err = {0};
    REQUIRE(af_letterbox_apply(&src, &lb, 114, &dst, &err) == AF_OK);
    CHECK(dst.w == 4 && dst.h == 4);
    for (int i = 0; i < 12; i++)
        CHECK(dst.data[i] == 114 && dst.data[36 + i] == 114);
    CHECK(memcmp(dst.data + 12, src.data, 24) == 0);
    af_image_free(&dst);
    /* an invalid plan is refused */
    af_letterbox bad = lb;
    bad.in_w = 99;
    CHECK(af_letterbox_apply(&src, &bad, 114, &dst, &err) == AF_E_ARG);
    af_image_free(&src);
}

/* ---- resize against cv2.resize(INTER_LINEAR) output hashes (OpenCV 4.6.0, Debian) ---- */

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void test_resize_cv2_hashes(void)
{
    /* inputs: LCG bytes s = s*1664525 + 1013904223, byte = s >> 24, seeded per case;
     * hashes: FNV-1a 64 of the bytes cv2.resize returned for them. */
    static const struct {
        int sw, sh, c, dw, dh;
        uint32_t seed;
        uint64_t hash;
    } cases[] = {
        {8, 6, 3, 4, 3, 1u, 0xaa8ce31fcde1d590ull},   /* exact 2x: INTER_AREA path */
        {64, 48, 3, 32, 24, 2u, 0xafdd7791baf4d251ull},
        {5, 4, 3, 9, 7, 3u, 0xb0270ad7755ed1efull},
        {100, 75, 3, 37, 29, 4u, 0x9f825fc7c062bec0ull},
        {31, 17, 1, 64, 40, 5u, 0xf7259f59cf033e49ull},
        {13, 11, 4, 6, 5, 6u, 0x31226c9b3aa39348ull},
        {1, 1, 3, 5, 3, 7u, 0x01b1ecc0f7c511cdull},
        {40, 2, 3, 7, 9, 8u, 0x0fd5c08096d1991eull},
        {77, 55, 3, 50, 50, 9u, 0xf74d2a119f7ae7d3ull},
        {640, 362, 3, 640, 384, 10u, 0xa78c0c0c8db862aaull},
        {333, 222, 3, 111, 74, 11u, 0x888932b4930e1163ull},
        {50, 50, 3, 49, 51, 12u, 0xd4f234093db55624ull},
        {3, 200, 3, 3, 100, 13u, 0x90fa4997270c3384ull},
        {17, 9, 2, 34, 18, 14u, 0xcb4b76e215f0e630ull},
        {18, 10, 2, 9, 5, 15u, 0x2221763f2e51ed2full},
        {6, 4, 1, 3, 2, 16u, 0x88d686e4969c335cull},
        {16, 12, 4, 8, 6, 17u, 0x1a20e81636aa8970ull},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        af_image src = {0, 0, 0, NULL}, dst = {0, 0, 0, NULL};
        REQUIRE(af_image_alloc(&src, cases[k].sw, cases[k].sh, cases[k].c, NULL) == AF_OK);
        uint32_t s = cases[k].seed;
        size_t n = (size_t)cases[k].sw * cases[k].sh * cases[k].c;
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            src.data[i] = (uint8_t)(s >> 24);
        }
        af_error err = {0};
        af_status st = af_resize_linear_u8(&src, cases[k].dw, cases[k].dh, &dst, &err);
        CHECK_MSG(st == AF_OK, "%s", err.msg);
        if (st == AF_OK) {
            uint64_t h = fnv1a(dst.data, (size_t)dst.w * dst.h * dst.c);
            CHECK_MSG(h == cases[k].hash, "case %zu (%dx%dx%d -> %dx%d): hash %016llx", k,
                      cases[k].sw, cases[k].sh, cases[k].c, cases[k].dw, cases[k].dh,
                      (unsigned long long)h);
        }
        af_image_free(&src);
        af_image_free(&dst);
    }
}

static void test_resize_args(void)
{
    af_image src = {0, 0, 0, NULL}, dst = {0, 0, 0, NULL};
    REQUIRE(af_image_alloc(&src, 4, 4, 3, NULL) == AF_OK);
    memset(src.data, 7, 48);
    af_error err = {0};
    CHECK(af_resize_linear_u8(&src, 0, 4, &dst, &err) != AF_OK && dst.data == NULL);
    CHECK(af_resize_linear_u8(&src, 4, 4, &dst, &err) == AF_OK);
    CHECK(dst.data && memcmp(dst.data, src.data, 48) == 0);
    af_image_free(&dst);
    /* a flat image stays flat at any size */
    CHECK(af_resize_linear_u8(&src, 11, 3, &dst, &err) == AF_OK);
    for (int i = 0; i < 11 * 3 * 3; i++)
        CHECK(dst.data[i] == 7);
    af_image_free(&dst);
    af_image_free(&src);
}

int main(void)
{
    RUN(test_golden_dog);
    RUN(test_golden_icf);
    RUN(test_golden_priconne);
    RUN(test_golden_uma);
    RUN(test_golden_uma_p6);
    RUN(test_plan_fixed_shape);
    RUN(test_plan_rules);
    RUN(test_apply_same_size_and_pad);
    RUN(test_resize_cv2_hashes);
    RUN(test_resize_args);
    return t_summary();
}
