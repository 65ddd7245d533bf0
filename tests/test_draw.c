/*
 * Annotated images, crops and YOLO txt labels. Expected values are worked out
 * by hand from the ultralytics 8.1.9 formulas (Annotator, save_one_box,
 * Results.save_txt); the txt strings were printed by Python's "%g" on
 * float32-rounded values, which is what ultralytics runs.
 */
#include <cairo.h>
#include <stdint.h>

#include "detect/crop.h"
#include "draw/draw.h"
#include "detect/labels.h"
#include "testutil.h"

static const char *const face_names[] = {"face", "person"};

static af_image make_image(int w, int h, int c, uint8_t v)
{
    af_image im = {w, h, c, malloc((size_t)w * h * c)};
    memset(im.data, v, (size_t)w * h * c);
    return im;
}

static const uint8_t *px(const af_image *im, int x, int y)
{
    return im->data + ((size_t)y * im->w + x) * im->c;
}

static int is_rgb(const af_image *im, int x, int y, int r, int g, int b)
{
    const uint8_t *p = px(im, x, y);
    return p[0] == r && p[1] == g && p[2] == b;
}

static void test_palette_and_line_width(void)
{
    uint8_t c[3];
    af_palette_color(0, c);
    CHECK(c[0] == 0xFF && c[1] == 0x38 && c[2] == 0x38);
    af_palette_color(21, c); /* 21 % 20 = 1: FF9D97 */
    CHECK(c[0] == 0xFF && c[1] == 0x9D && c[2] == 0x97);
    af_palette_color(-1, c); /* Python: -1 % 20 = 19: FF37C7 */
    CHECK(c[0] == 0xFF && c[1] == 0x37 && c[2] == 0xC7);
    af_palette_color(14, c); /* 0018EC */
    CHECK(c[0] == 0x00 && c[1] == 0x18 && c[2] == 0xEC);
    /* max(round((h + w + 3) / 2 * 0.003), 2), Python round */
    CHECK(af_draw_line_width(640, 480, 0) == 2);    /* 1.6845 */
    CHECK(af_draw_line_width(1432, 1080, 0) == 4);  /* 3.7725 */
    CHECK(af_draw_line_width(1000, 1000, 0) == 3);  /* 3.0045 */
    CHECK(af_draw_line_width(1465, 1611, 0) == 5);  /* 4.6185 */
    CHECK(af_draw_line_width(1997, 1000, 0) == 4);  /* 4.5 -> 4 (half to even) */
    CHECK(af_draw_line_width(4997, 2000, 0) == 10); /* 10.5 -> 10 */
    CHECK(af_draw_line_width(2997, 2000, 0) == 8);  /* 7.5 -> 8 */
    CHECK(af_draw_line_width(640, 480, 7) == 7);
}

static void test_label_text(void)
{
    char b[64];
    af_draw_label_text(b, sizeof b, "face", 0.8347f, 0, 0);
    CHECK(strcmp(b, "face 0.83") == 0);
    af_draw_label_text(b, sizeof b, "face", 0.835f, 0, 0); /* 0.834999978 */
    CHECK(strcmp(b, "face 0.83") == 0);
    af_draw_label_text(b, sizeof b, "face", 0.125f, 0, 0); /* exact tie: half to even */
    CHECK(strcmp(b, "face 0.12") == 0);
    af_draw_label_text(b, sizeof b, "face", 0.9f, 0, 1);
    CHECK(strcmp(b, "face") == 0);
    af_draw_label_text(b, sizeof b, "face", 0.0f, 0, 0); /* `if conf` is false */
    CHECK(strcmp(b, "face") == 0);
    af_draw_label_text(b, sizeof b, "face", 0.9f, 1, 0);
    CHECK(strcmp(b, "") == 0);
    af_draw_label_text(b, sizeof b, "bad\xff\xc0name", 0.5f, 0, 0);
    CHECK(strcmp(b, "bad??name 0.50") == 0);
    af_draw_label_text(b, sizeof b, "caf\xc3\xa9", 0.5f, 0, 0); /* valid UTF-8 kept */
    CHECK(strcmp(b, "caf\xc3\xa9 0.50") == 0);
}

/* Counts pixels in [x0,x1]x[y0,y1] that are near white and that equal rgb. */
static void count_region(const af_image *im, int x0, int y0, int x1, int y1, const uint8_t rgb[3],
                         int *white, int *fill)
{
    *white = *fill = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            const uint8_t *p = px(im, x, y);
            *white += p[0] >= 230 && p[1] >= 230 && p[2] >= 230;
            *fill += p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2];
        }
}

static void test_draw_box_and_label(void)
{
    af_image im = make_image(400, 300, 3, 100);
    af_detection d[1] = {{100.7f, 120.2f, 250.9f, 260.5f, 0.87f, 0}};
    af_draw_style st;
    af_draw_style_default(&st);
    st.line_width = 3;
    af_error err = {0};
    af_status s = af_draw_detections(&im, d, 1, face_names, 2, &st, &err);
    CHECK_MSG(s == AF_OK, "%s", err.msg);
    if (s != AF_OK) {
        free(im.data);
        return;
    }
    /* corners int(): (100, 120) - (250, 260); lw 3 covers columns 99..101 of the left edge */
    for (int y = 130; y < 250; y += 7) {
        CHECK(is_rgb(&im, 99, y, 0xFF, 0x38, 0x38) && is_rgb(&im, 100, y, 0xFF, 0x38, 0x38) &&
              is_rgb(&im, 101, y, 0xFF, 0x38, 0x38));
        CHECK(is_rgb(&im, 249, y, 0xFF, 0x38, 0x38) && is_rgb(&im, 251, y, 0xFF, 0x38, 0x38));
        CHECK(is_rgb(&im, 98, y, 100, 100, 100) && is_rgb(&im, 102, y, 100, 100, 100));
        CHECK(is_rgb(&im, 248, y, 100, 100, 100) && is_rgb(&im, 252, y, 100, 100, 100));
    }
    for (int x = 110; x < 240; x += 9)
        CHECK(is_rgb(&im, x, 261, 0xFF, 0x38, 0x38) && is_rgb(&im, x, 263, 100, 100, 100));
    /* label: sf 1, tf 2, h = round(21 + 1) = 22; 120 - 22 >= 3 so above the box:
     * filled rows 95..120 from column 100; text baseline at row 118 */
    int white, fill;
    const uint8_t red[3] = {0xFF, 0x38, 0x38};
    count_region(&im, 100, 95, 160, 118, red, &white, &fill);
    CHECK_MSG(white > 60 && fill > 400, "white %d fill %d", white, fill);
    CHECK(is_rgb(&im, 100, 95, 0xFF, 0x38, 0x38));      /* top-left of the label box */
    CHECK(is_rgb(&im, 100, 94, 100, 100, 100));         /* just above it */
    /* the label box ends where the text does: "face 0.87" is 100-200 px wide */
    int right = -1;
    for (int x = 100; x < 400; x++)
        if (is_rgb(&im, x, 96, 0xFF, 0x38, 0x38))
            right = x;
    CHECK_MSG(right > 200 && right < 320, "label right edge %d", right);
    CHECK(is_rgb(&im, right + 1, 96, 100, 100, 100));
    /* untouched elsewhere */
    long changed = 0;
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 400; x++) {
            int near_box = x >= 97 && x <= 253 && y >= 117 && y <= 263;
            int in_label = x >= 100 && x <= right && y >= 95 && y <= 120;
            if (!near_box && !in_label)
                changed += !is_rgb(&im, x, y, 100, 100, 100);
        }
    CHECK_MSG(changed == 0, "%ld pixels changed outside the box and label", changed);
    /* inside the box: untouched */
    CHECK(is_rgb(&im, 175, 190, 100, 100, 100));
    free(im.data);
}

static void test_label_inside_and_order(void)
{
    af_image im = make_image(300, 200, 4, 50); /* RGBA: alpha must stay */
    /* box at the top: 10 - 22 < 3, so the label goes inside: rows 10..35 */
    af_detection d[2] = {{20.0f, 10.0f, 200.0f, 150.0f, 0.5f, 1},
                         {40.0f, 60.0f, 260.0f, 180.0f, 0.4f, 0}};
    af_draw_style st;
    af_draw_style_default(&st);
    st.line_width = 3;
    st.hide_conf = 1;
    af_error err = {0};
    CHECK_MSG(af_draw_detections(&im, d, 2, face_names, 2, &st, &err) == AF_OK, "%s", err.msg);
    const uint8_t pink[3] = {0xFF, 0x9D, 0x97};
    int white, fill;
    count_region(&im, 21, 12, 60, 33, pink, &white, &fill);
    CHECK_MSG(white > 20 && fill > 300, "white %d fill %d", white, fill);
    CHECK(is_rgb(&im, 30, 35, 0xFF, 0x9D, 0x97));  /* bottom row of the label (10+22+3) */
    CHECK(is_rgb(&im, 30, 37, 50, 50, 50));
    /* crossing point of det0's left edge (x 20) with det1's top edge (y 60)
     * is outside det1; det0's right edge (x 200) crosses det1's top edge (y 60):
     * det0 is drawn last (reversed order) so its colour wins */
    CHECK(is_rgb(&im, 200, 60, 0xFF, 0x9D, 0x97));
    CHECK(is_rgb(&im, 230, 60, 0xFF, 0x38, 0x38));  /* det1 alone */
    /* det1's label ("face", conf hidden) sits above its box: rows 35..60 */
    CHECK(is_rgb(&im, 41, 36, 0xFF, 0x38, 0x38) || is_rgb(&im, 41, 36, 255, 255, 255));
    size_t alpha_bad = 0;
    for (size_t k = 0; k < (size_t)300 * 200; k++)
        alpha_bad += im.data[4 * k + 3] != 50;
    CHECK(alpha_bad == 0);
    free(im.data);
}

static void test_draw_errors(void)
{
    af_image im = make_image(64, 48, 3, 7);
    af_detection d[1] = {{5, 5, 30, 30, 0.9f, 0}};
    af_draw_style st;
    af_draw_style_default(&st);
    st.font_path = "/nonexistent/font.ttf";
    af_error err = {0};
    CHECK(af_draw_detections(&im, d, 1, face_names, 2, &st, &err) == AF_E_IO);
    CHECK(strstr(err.msg, "/nonexistent/font.ttf") != NULL);
    size_t changed = 0;
    for (size_t k = 0; k < (size_t)64 * 48 * 3; k++)
        changed += im.data[k] != 7;
    CHECK(changed == 0);
    st.font_path = "tests/test_draw.c"; /* not a font */
    CHECK(af_draw_detections(&im, d, 1, face_names, 2, &st, &err) == AF_E_FORMAT);
    /* no label: no font needed */
    st.hide_labels = 1;
    CHECK(af_draw_detections(&im, d, 1, face_names, 2, &st, &err) == AF_OK);
    CHECK(is_rgb(&im, 5, 15, 0xFF, 0x38, 0x38)); /* auto lw 2 */
    /* unknown class, no names, NaN box: drawn by number / skipped, no crash */
    af_draw_style_default(&st);
    af_detection odd[2] = {{1, 1, 20, 20, 0.3f, 99}, {NAN, 0, 5, 5, 0.9f, 0}};
    CHECK(af_draw_detections(&im, odd, 2, NULL, 0, &st, &err) == AF_OK);
    af_image gray = make_image(8, 8, 1, 0);
    CHECK(af_draw_detections(&gray, d, 1, face_names, 2, &st, &err) == AF_E_UNSUPPORTED);
    free(gray.data);
    free(im.data);
}

static void test_crop_geometry(void)
{
    int64_t x0, y0, x1, y1;
    /* xywh (150.65, 100.45, 100.5, 100.5); wh*1.02+10 = 112.51;
     * x 150.65 -/+ 56.255 = 94.395 / 206.905 -> 94 / 206; y 44.195 / 156.705 -> 44 / 156 */
    af_detection d = {100.4f, 50.2f, 200.9f, 150.7f, 0.9f, 0};
    af_crop_rect(&d, 640, 480, AF_CROP_GAIN, AF_CROP_PAD, 0, &x0, &y0, &x1, &y1);
    CHECK(x0 == 94 && y0 == 44 && x1 == 206 && y1 == 156);
    /* near the border: w 30*1.02+10 = 40.6, h 20*1.02+10 = 30.4 around (15, 10):
     * x -5.3 -> -5 -> 0, 35.3 -> 35; y -5.2 -> 0, 25.2 -> 25 */
    af_detection e = {0, 0, 30, 20, 0.9f, 0};
    af_crop_rect(&e, 640, 480, AF_CROP_GAIN, AF_CROP_PAD, 0, &x0, &y0, &x1, &y1);
    CHECK(x0 == 0 && y0 == 0 && x1 == 35 && y1 == 25);
    /* square: max(40, 20) = 40 -> 50.8 around (30, 20): x 4.6 -> 4, 55.4 -> 55; y -5.4 -> 0, 45.4 -> 45 */
    af_detection q = {10, 10, 50, 30, 0.9f, 0};
    af_crop_rect(&q, 640, 480, AF_CROP_GAIN, AF_CROP_PAD, 1, &x0, &y0, &x1, &y1);
    CHECK(x0 == 4 && y0 == 0 && x1 == 55 && y1 == 45);
    /* clipped to the right edge: x 694.8 -> 694 -> 640 and 725.2 -> 640 */
    af_detection r = {700, 10, 720, 30, 0.9f, 0};
    af_crop_rect(&r, 640, 480, AF_CROP_GAIN, AF_CROP_PAD, 0, &x0, &y0, &x1, &y1);
    CHECK(x0 == 640 && x1 == 640);

    /* pixel content */
    af_image im = make_image(640, 480, 3, 0);
    for (int y = 0; y < 480; y++)
        for (int x = 0; x < 640; x++) {
            uint8_t *p = im.data + ((size_t)y * 640 + x) * 3;
            p[0] = (uint8_t)x;
            p[1] = (uint8_t)y;
            p[2] = (uint8_t)(x ^ y);
        }
    af_image c;
    af_error err;
    CHECK(af_crop(&im, &d, AF_CROP_GAIN, AF_CROP_PAD, 0, &c, &err) == AF_OK);
    CHECK(c.w == 112 && c.h == 112 && c.c == 3);
    if (c.data && c.w == 112 && c.h == 112) {
        const uint8_t *p = c.data + ((size_t)5 * 112 + 7) * 3; /* (101, 49) in the image */
        CHECK(p[0] == 101 && p[1] == 49 && p[2] == (101 ^ 49));
        p = c.data + ((size_t)111 * 112 + 111) * 3; /* (205, 155) */
        CHECK(p[0] == 205 && p[1] == 155 && p[2] == (205 ^ 155));
    }
    free(c.data);
    CHECK(af_crop(&im, &r, AF_CROP_GAIN, AF_CROP_PAD, 0, &c, &err) == AF_OK);
    CHECK(c.w == 0 && c.data == NULL);
    free(im.data);
}

static void test_label_lines(void)
{
    char b[256];
    af_detection d = {100, 50, 300, 250, 0.87654321f, 0};
    af_label_line(b, sizeof b, &d, 640, 480, 1);
    CHECK_MSG(strcmp(b, "0 0.3125 0.3125 0.3125 0.416667 0.876543") == 0, "%s", b);
    af_label_line(b, sizeof b, &d, 640, 480, 0);
    CHECK_MSG(strcmp(b, "0 0.3125 0.3125 0.3125 0.416667") == 0, "%s", b);
    af_detection s = {0, 0, 0.01f, 0.01f, 0.5f, 12};
    af_label_line(b, sizeof b, &s, 640, 480, 0);
    CHECK_MSG(strcmp(b, "12 7.8125e-06 1.04167e-05 1.5625e-05 2.08333e-05") == 0, "%s", b);
    af_detection t = {1234.5f, 77.25f, 1431.9f, 1080, 0.25f, 3};
    af_label_line(b, sizeof b, &t, 1432, 1080, 1);
    CHECK_MSG(strcmp(b, "3 0.931006 0.535764 0.137849 0.928472 0.25") == 0, "%s", b);
    af_detection u = {1, 2, 3, 4, 1e-5f, 1234567};
    af_label_line(b, sizeof b, &u, 1000, 1000, 1);
    CHECK_MSG(strcmp(b, "1.23457e+06 0.002 0.003 0.002 0.002 1e-05") == 0, "%s", b);

    /* file: appended, one line each, nothing created for no detections */
    char path[] = "/tmp/af_test_labels_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("old\n", f);
    fclose(f);
    af_detection two[2] = {d, t};
    af_error err;
    CHECK(af_labels_append(path, two, 2, 640, 480, 0, &err) == AF_OK);
    size_t len = 0;
    unsigned char *txt = t_read_file(path, &len);
    char want[512];
    char l1[128], l2[128];
    af_label_line(l1, sizeof l1, &two[0], 640, 480, 0);
    af_label_line(l2, sizeof l2, &two[1], 640, 480, 0);
    snprintf(want, sizeof want, "old\n%s\n%s\n", l1, l2);
    CHECK(txt && len == strlen(want) && memcmp(txt, want, len) == 0);
    free(txt);
    remove(path);
    CHECK(af_labels_append(path, two, 0, 640, 480, 0, &err) == AF_OK);
    CHECK(!t_file_exists(path));
    CHECK(af_labels_append("/nonexistent/dir/x.txt", two, 1, 640, 480, 0, &err) == AF_E_IO);
}

int main(void)
{
    RUN(test_palette_and_line_width);
    RUN(test_label_text);
    RUN(test_draw_box_and_label);
    RUN(test_label_inside_and_order);
    RUN(test_draw_errors);
    RUN(test_crop_geometry);
    RUN(test_label_lines);
    int rc = t_summary();
    cairo_debug_reset_static_data(); /* let LeakSanitizer see a clean cairo */
    return rc;
}
