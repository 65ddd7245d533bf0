/* Dataset crops (src/detect/face_crop.h): every geometry option against rectangles
 * computed by hand, padding, selection, and the INTER_AREA / INTER_CUBIC resizes against
 * cv2 4.6's own outputs (tests/fixtures/resize, made by its gen_resize.py). */
#include <stdint.h>

#include "detect/face_crop.h"
#include "detect/resize.h"
#include "io/image.h"
#include "testutil.h"

/* the source pattern of gen_resize.py */
static uint8_t src_pixel(int x, int y, int k)
{
    return (uint8_t)((x * 131 + y * 197 + k * 61 + (x * x * y) % 251 + ((x ^ y) * 29) % 97) % 256);
}

static void check_resize_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    int32_t hdr[6];
    int cases = 0, exact = 0;
    while (fread(hdr, sizeof hdr, 1, f) == 1) {
        int sw = hdr[0], sh = hdr[1], dw = hdr[2], dh = hdr[3], c = hdr[4], interp = hdr[5];
        size_t n = (size_t)dw * dh * c;
        uint8_t *want = malloc(n), *got = malloc(n), *src = malloc((size_t)sw * sh * c);
        REQUIRE(want && got && src && fread(want, 1, n, f) == n);
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++)
                for (int k = 0; k < c; k++)
                    src[((size_t)y * sw + x) * c + k] = src_pixel(x, y, k);
        af_error err = {0};
        af_status st = interp == 3
                           ? af_resize_area_u8_into(src, sw, sh, (size_t)sw * c, c, got, dw, dh,
                                                    (size_t)dw * c, &err)
                           : af_resize_cubic_u8_into(src, sw, sh, (size_t)sw * c, c, got, dw, dh,
                                                     (size_t)dw * c, &err);
        CHECK_MSG(st == AF_OK, "%s", err.msg);
        int diff = 0, maxd = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)got[i] - want[i]);
            diff += d != 0;
            maxd = d > maxd ? d : maxd;
        }
        CHECK_MSG(diff == 0, "%s %dx%dx%d -> %dx%d: %d of %zu bytes differ (max %d)",
                  interp == 3 ? "AREA" : "CUBIC", sw, sh, c, dw, dh, diff, n, maxd);
        exact += diff == 0;
        cases++;
        free(want);
        free(got);
        free(src);
    }
    fclose(f);
    CHECK(cases >= 20);
    printf("  %d of %d resize cases byte-identical to cv2\n", exact, cases);
}

static void test_resize_matches_cv2(void)
{
    const char *alt = getenv("AF_RESIZE_GOLDEN"); /* a larger file made the same way */
    check_resize_file(alt && *alt ? alt : t_fixture("resize/resize_cv2.bin"));
}

static af_face_crop_opts opts(double margin, double aspect, af_pad_mode pad)
{
    af_face_crop_opts o = {margin, aspect, pad, {0, 0, 0}};
    return o;
}

/* rect of box b in a w x h image, compared with the hand-computed one */
static void expect_rect(float x1, float y1, float x2, float y2, int w, int h, af_face_crop_opts o,
                        long long e0, long long e1, long long e2, long long e3)
{
    const float b[4] = {x1, y1, x2, y2};
    int64_t r[4];
    af_error err = {0};
    af_status st = af_face_crop_rect(b, w, h, &o, r, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    CHECK_MSG(r[0] == e0 && r[1] == e1 && r[2] == e2 && r[3] == e3,
              "box (%g,%g,%g,%g) in %dx%d margin %g aspect %g pad %d: got (%lld,%lld,%lld,%lld), "
              "want (%lld,%lld,%lld,%lld)",
              x1, y1, x2, y2, w, h, o.margin, o.aspect, (int)o.pad, (long long)r[0],
              (long long)r[1], (long long)r[2], (long long)r[3], e0, e1, e2, e3);
}

/* Box (10,20)-(30,60) in 100x100: w 20, h 40, centre (20, 40). */
static void test_rect_margin_square_aspect(void)
{
    expect_rect(10, 20, 30, 60, 100, 100, opts(0, 0, AF_PAD_NONE), 10, 20, 30, 60); /* tight */
    /* margin 0.5: 40 x 80, left edge floor(20 - 20 + .5) = 0 */
    expect_rect(10, 20, 30, 60, 100, 100, opts(0.5, 0, AF_PAD_NONE), 0, 0, 40, 80);
    /* square of the grown box: 80 x 80 from x = -20: shifted inside (pad none) ... */
    expect_rect(10, 20, 30, 60, 100, 100, opts(0.5, 1, AF_PAD_NONE), 0, 0, 80, 80);
    /* ... or kept where it is, running past the left border (padded) */
    expect_rect(10, 20, 30, 60, 100, 100, opts(0.5, 1, AF_PAD_EDGE), -20, 0, 60, 80);
    expect_rect(10, 20, 30, 60, 100, 100, opts(0.5, 1, AF_PAD_COLOR), -20, 0, 60, 80);
    /* aspect 3:4: W = max(20, 40 * 0.75) = 30, x0 = floor(20 - 15 + .5) = 5 */
    expect_rect(10, 20, 30, 60, 100, 100, opts(0, 0.75, AF_PAD_NONE), 5, 20, 35, 60);
    /* aspect 2:1: W = 80 from x = -20, black padding keeps it */
    expect_rect(10, 20, 30, 60, 100, 100, opts(0, 2, AF_PAD_COLOR), -20, 20, 60, 60);
    /* aspect 1:2 on a wide box: H = W / 0.5 */
    expect_rect(40, 40, 60, 50, 100, 100, opts(0, 0.5, AF_PAD_NONE), 40, 25, 60, 65);
}

/* Fractional boxes: sizes and edges round half up. Box (10.3, 20.7)-(31.1, 45.2): w 20.8,
 * h 24.5, centre (20.7, 32.95); margin 0.25: 31.2 x 36.75 -> 31 x 37, x0 = floor(20.7 -
 * 15.5 + .5) = 5, y0 = floor(32.95 - 18.5 + .5) = 14. */
static void test_rect_fractional(void)
{
    expect_rect(10.3f, 20.7f, 31.1f, 45.2f, 100, 100, opts(0.25, 0, AF_PAD_NONE), 5, 14, 36, 51);
    /* square: 36.75 -> 37 x 37, x0 = floor(20.7 - 18.5 + .5) = 2 */
    expect_rect(10.3f, 20.7f, 31.1f, 45.2f, 100, 100, opts(0.25, 1, AF_PAD_NONE), 2, 14, 39, 51);
    /* exact halves: 2.5 -> 3 wide, left edge floor(11.25 - 1.5 + .5) = 10 */
    expect_rect(10, 10, 12.5f, 12.5f, 50, 50, opts(0, 0, AF_PAD_NONE), 10, 10, 13, 13);
}

static void test_rect_borders(void)
{
    /* right border: 20 x 40 around (95, 20) from x = 85 -> shifted to 80, top clipped to 0 */
    expect_rect(90, 10, 100, 30, 100, 100, opts(0.5, 0, AF_PAD_NONE), 80, 0, 100, 40);
    expect_rect(90, 10, 100, 30, 100, 100, opts(0.5, 0, AF_PAD_EDGE), 85, 0, 105, 40);
    /* bottom-left corner, square margin 1: 30 x 30 around (5, 95) */
    expect_rect(0, 90, 10, 100, 100, 100, opts(1, 1, AF_PAD_NONE), 0, 70, 30, 100);
    expect_rect(0, 90, 10, 100, 100, 100, opts(1, 1, AF_PAD_COLOR), -10, 80, 20, 110);
}

static void test_rect_tiny_and_huge(void)
{
    /* a sub-pixel face still gives one pixel */
    expect_rect(50, 50, 50.4f, 50.2f, 100, 100, opts(0, 0, AF_PAD_NONE), 50, 50, 51, 51);
    expect_rect(50, 50, 50.4f, 50.2f, 100, 100, opts(1, 1, AF_PAD_NONE), 50, 50, 51, 51);
    expect_rect(0, 0, 0, 0, 10, 10, opts(0.5, 1, AF_PAD_EDGE), 0, 0, 1, 1);
    /* the whole 100x60 image is the face; margin 0.5: 200 x 120 */
    expect_rect(0, 0, 100, 60, 100, 60, opts(0.5, 0, AF_PAD_NONE), 0, 0, 100, 60);
    /* square 200: shrunk by min(100/200, 60/200) = 0.3 to 60 x 60, centred at x 50 */
    expect_rect(0, 0, 100, 60, 100, 60, opts(0.5, 1, AF_PAD_NONE), 20, 0, 80, 60);
    /* aspect 16:9: W = max(200, 120 * 16/9) = 213.3 -> 213 x 120, shrunk by min(100/213,
     * 60/120) = 0.469 -> 100 x 56 (56.3), y0 = floor(30 - 28 + .5) = 2 */
    expect_rect(0, 0, 100, 60, 100, 60, opts(0.5, 16.0 / 9, AF_PAD_NONE), 0, 2, 100, 58);
    /* padded: the full 200 x 200 around (50, 30) */
    expect_rect(0, 0, 100, 60, 100, 60, opts(0.5, 1, AF_PAD_COLOR), -50, -70, 150, 130);
    /* too large to hold: refused with a message, not allocated */
    const float b[4] = {0, 0, 60000, 60000};
    int64_t r[4];
    af_error err = {0};
    af_face_crop_opts o = opts(2, 1, AF_PAD_EDGE);
    CHECK(af_face_crop_rect(b, 60000, 60000, &o, r, &err) == AF_E_LIMIT);
    CHECK(strstr(err.msg, "2^28") != NULL);
    const float nanbox[4] = {NAN, 0, 1, 1};
    CHECK(af_face_crop_rect(nanbox, 10, 10, &o, r, &err) == AF_E_ARG);
}

/* Pixels of a 4x3 image whose pixel (x, y) is (10x + y, 100 + x, 200 + y). */
static void test_pixels_padding(void)
{
    af_image im = {0};
    af_error err = {0};
    REQUIRE(af_image_alloc(&im, 4, 3, 3, &err) == AF_OK);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) {
            uint8_t *p = im.data + (y * 4 + x) * 3;
            p[0] = (uint8_t)(10 * x + y), p[1] = (uint8_t)(100 + x), p[2] = (uint8_t)(200 + y);
        }
    const int64_t rect[4] = {-2, -1, 3, 2}; /* 5 x 3 from (-2, -1) */
    af_face_crop_opts o = opts(0, 0, AF_PAD_EDGE);
    af_image c = {0};
    REQUIRE(af_face_crop_pixels(&im, rect, &o, &c, &err) == AF_OK);
    CHECK(c.w == 5 && c.h == 3 && c.c == 3);
    /* edge: (0,0) of the crop is source (-2,-1) -> (0,0); (4,2) is source (2,1) */
    CHECK(c.data[0] == 0 && c.data[1] == 100 && c.data[2] == 200);
    const uint8_t *q = c.data + (2 * 5 + 4) * 3;
    CHECK(q[0] == 21 && q[1] == 102 && q[2] == 201);
    q = c.data + (1 * 5 + 1) * 3; /* source (-1, 0) -> (0, 0) */
    CHECK(q[0] == 0 && q[2] == 200);
    af_image_free(&c);
    o = opts(0, 0, AF_PAD_COLOR);
    o.color[0] = 1, o.color[1] = 2, o.color[2] = 3;
    REQUIRE(af_face_crop_pixels(&im, rect, &o, &c, &err) == AF_OK);
    CHECK(c.data[0] == 1 && c.data[1] == 2 && c.data[2] == 3);
    q = c.data + (1 * 5 + 2) * 3; /* source (0, 0) */
    CHECK(q[0] == 0 && q[1] == 100 && q[2] == 200);
    q = c.data + (2 * 5 + 4) * 3; /* source (2, 1) */
    CHECK(q[0] == 21 && q[1] == 102 && q[2] == 201);
    q = c.data + (0 * 5 + 4) * 3; /* source (2, -1): above the image */
    CHECK(q[0] == 1 && q[1] == 2 && q[2] == 3);
    af_image_free(&c);
    af_image_free(&im);
}

static void test_resize_choice_and_box_in_crop(void)
{
    af_image im = {0}, out = {0};
    af_error err = {0};
    REQUIRE(af_image_alloc(&im, 40, 20, 3, &err) == AF_OK);
    for (size_t i = 0; i < 40 * 20 * 3; i++)
        im.data[i] = (uint8_t)(i * 7);
    /* shrinking: INTER_AREA (the same bytes as af_resize_area_u8_into) */
    uint8_t want[20 * 10 * 3];
    REQUIRE(af_resize_area_u8_into(im.data, 40, 20, 120, 3, want, 20, 10, 60, &err) == AF_OK);
    REQUIRE(af_face_crop_resize(&im, 20, 10, 0, &out, &err) == AF_OK);
    CHECK(out.w == 20 && out.h == 10 && memcmp(out.data, want, sizeof want) == 0);
    af_image_free(&out);
    /* one side grows: INTER_CUBIC */
    uint8_t *want2 = malloc(50 * 10 * 3);
    REQUIRE(want2);
    REQUIRE(af_resize_cubic_u8_into(im.data, 40, 20, 120, 3, want2, 50, 10, 150, &err) == AF_OK);
    REQUIRE(af_face_crop_resize(&im, 50, 10, 0, &out, &err) == AF_OK);
    CHECK(out.w == 50 && out.h == 10 && memcmp(out.data, want2, 50 * 10 * 3) == 0);
    af_image_free(&out);
    free(want2);
    /* --no-upscale keeps it as it is */
    REQUIRE(af_face_crop_resize(&im, 50, 10, 1, &out, &err) == AF_OK);
    CHECK(out.w == 40 && out.h == 20 && memcmp(out.data, im.data, 40 * 20 * 3) == 0);
    af_image_free(&out);
    af_image_free(&im);
    /* the box (10,20)-(30,60) in rect (0,0)-(80,80) saved at 512: scale 6.4 */
    const float b[4] = {10, 20, 30, 60};
    const int64_t r[4] = {0, 0, 80, 80};
    double bc[4];
    af_face_box_in_crop(b, r, 512, 512, bc);
    CHECK_NEAR(bc[0], 64, 1e-9);
    CHECK_NEAR(bc[1], 128, 1e-9);
    CHECK_NEAR(bc[2], 192, 1e-9);
    CHECK_NEAR(bc[3], 384, 1e-9);
    const int64_t r2[4] = {-20, 0, 60, 80};
    af_face_box_in_crop(b, r2, 80, 80, bc);
    CHECK_NEAR(bc[0], 30, 1e-9);
    CHECK_NEAR(bc[2], 50, 1e-9);
}

static void test_select(void)
{
    /* 200 x 100 image; boxes in confidence order */
    const af_detection d[5] = {
        {0, 0, 50, 40, 0.9f, 0},   /* 50 x 40, area 2000, rel 0.4 */
        {0, 0, 10, 10, 0.8f, 0},   /* 10 x 10, area 100, rel 0.1 */
        {0, 0, 60, 60, 0.7f, 1},   /* 60 x 60, class 1 */
        {0, 0, 30, 90, 0.5f, 0},   /* 30 x 90, area 2700, rel 0.9 */
        {0, 0, 5, 5, 0.2f, 0},     /* below conf 0.25 */
    };
    int keep[5];
    af_face_select_opts o = {0};
    o.conf = 0.25f;
    int n = af_face_select(d, 5, 200, 100, &o, keep);
    CHECK(n == 4 && keep[0] == 0 && keep[1] == 1 && keep[2] == 2 && keep[3] == 3);
    o.min_size = 30; /* shorter side */
    n = af_face_select(d, 5, 200, 100, &o, keep);
    CHECK(n == 3 && keep[0] == 0 && keep[1] == 2 && keep[2] == 3);
    o.max_size = 40;
    n = af_face_select(d, 5, 200, 100, &o, keep);
    CHECK(n == 2 && keep[0] == 0 && keep[1] == 3);
    o.min_size = o.max_size = 0;
    o.min_rel = 0.35;
    n = af_face_select(d, 5, 200, 100, &o, keep);
    CHECK(n == 3 && keep[0] == 0 && keep[1] == 2 && keep[2] == 3);
    o.min_rel = 0;
    const int cls0 = 0;
    o.classes = &cls0;
    o.nclasses = 1;
    n = af_face_select(d, 5, 200, 100, &o, keep);
    CHECK(n == 3 && keep[0] == 0 && keep[1] == 1 && keep[2] == 3);
    /* the two largest (areas 2700 and 2000), still in confidence order */
    o.max_faces = 2;
    n = af_face_select(d, 5, 200, 100, &o, keep);
    CHECK(n == 2 && keep[0] == 0 && keep[1] == 3);
    o.max_faces = 0;
    o.one_face = 1; /* three faces pass: none kept */
    CHECK(af_face_select(d, 5, 200, 100, &o, keep) == 0);
    o.min_rel = 0.85; /* only one passes */
    n = af_face_select(d, 5, 200, 100, &o, keep);
    CHECK(n == 1 && keep[0] == 3);
}

int main(void)
{
    RUN(test_rect_margin_square_aspect);
    RUN(test_rect_fractional);
    RUN(test_rect_borders);
    RUN(test_rect_tiny_and_huge);
    RUN(test_pixels_padding);
    RUN(test_resize_choice_and_box_in_crop);
    RUN(test_select);
    RUN(test_resize_matches_cv2);
    return t_summary();
}
