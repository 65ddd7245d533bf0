/* Image decoding/encoding: cv2.imread-identical pixels on the fixtures, EXIF orientation,
 * round trips, and clean errors (status + file name) on bad inputs. */
#include <png.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/image.h"
#include "testutil.h"

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Byte-compares two RGB images; prints counts. Returns number of differing bytes. */
static size_t compare(const af_image *a, const af_image *b, const char *what)
{
    if (a->w != b->w || a->h != b->h || a->c != b->c) {
        fprintf(stderr, "  %s: size %dx%dx%d vs %dx%dx%d\n", what, a->w, a->h, a->c, b->w, b->h,
                b->c);
        return (size_t)-1;
    }
    size_t n = (size_t)a->w * a->h * a->c, nd = 0;
    int maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a->data[i] - (int)b->data[i]);
        nd += d != 0;
        maxd = d > maxd ? d : maxd;
    }
    fprintf(stderr, "  %s: %zu of %zu bytes differ, max |diff| %d\n", what, nd, n, maxd);
    return nd;
}

/* ---- decoding vs goldens ---- */

static void check_jpeg_golden(const char *jpg, const char *golden)
{
    af_image a = {0, 0, 0, NULL}, g = {0, 0, 0, NULL};
    af_error err = {0};
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "tests/fixtures/images/%s", jpg);
    snprintf(p2, sizeof p2, "tests/fixtures/golden/%s", golden);
    CHECK_MSG(af_image_load(p1, NULL, &a, &err) == AF_OK, "%s", err.msg);
    CHECK_MSG(af_image_load(p2, NULL, &g, &err) == AF_OK, "%s", err.msg);
    if (a.data && g.data)
        CHECK(compare(&a, &g, jpg) == 0);
    af_image_free(&a);
    af_image_free(&g);
}

static void test_decode_dog_jpeg(void)
{
    check_jpeg_golden("dog.jpg", "decoded__dog.png");
}

static void test_decode_icf_jpeg(void)
{
    check_jpeg_golden("personai_icartoonface_detval_00036.jpg", "decoded__icf_val_00036.png");
}

/* Reference PNG decode with libpng's simplified API (independent of our decoder's
 * transformation setup): RGBA, straight (non-premultiplied) 8-bit. */
static unsigned char *ref_png_rgba(const char *path, int *w, int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return NULL;
    im.format = PNG_FORMAT_RGBA;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(im));
    if (!buf || !png_image_finish_read(&im, NULL, buf, 0, NULL)) {
        free(buf);
        png_image_free(&im);
        return NULL;
    }
    *w = (int)im.width;
    *h = (int)im.height;
    return buf;
}

static void test_uma_rgba_alpha_dropped(void)
{
    const char *p = "tests/fixtures/images/test_uma.png";
    af_image a = {0, 0, 0, NULL};
    af_error err = {0};
    REQUIRE(af_image_load(p, NULL, &a, &err) == AF_OK);
    CHECK(a.w == 1465 && a.h == 1611 && a.c == 3);
    int w, h;
    unsigned char *ref = ref_png_rgba(p, &w, &h);
    REQUIRE(ref != NULL);
    REQUIRE(w == a.w && h == a.h);
    size_t n = (size_t)w * h, nd = 0, transparent = 0, coloured_under_transparent = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++)
            nd += a.data[3 * i + k] != ref[4 * i + k];
        if (ref[4 * i + 3] == 0) {
            transparent++;
            coloured_under_transparent += (a.data[3 * i] | a.data[3 * i + 1] | a.data[3 * i + 2]) != 0;
        }
    }
    fprintf(stderr, "  test_uma.png: %zu differing bytes vs libpng RGBA; %zu transparent pixels, "
            "%zu of them non-black\n", nd, transparent, coloured_under_transparent);
    CHECK(nd == 0);
    CHECK(transparent > n / 3);               /* README: 46% have alpha 0 */
    CHECK(coloured_under_transparent > 1000); /* stored RGB kept, not composited to black */
    free(ref);
    af_image_free(&a);
}

static void test_priconne_png(void)
{
    const char *p = "tests/fixtures/images/test_priconne.png";
    af_image a = {0, 0, 0, NULL};
    af_error err = {0};
    REQUIRE(af_image_load(p, NULL, &a, &err) == AF_OK);
    CHECK(a.w == 1432 && a.h == 1080);
    int w, h;
    unsigned char *ref = ref_png_rgba(p, &w, &h);
    REQUIRE(ref != NULL);
    size_t nd = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        for (int k = 0; k < 3; k++)
            nd += a.data[3 * i + k] != ref[4 * i + k];
    CHECK(nd == 0);
    free(ref);
    af_image_free(&a);
}

/* ---- synthetic images: round trips and formats ---- */

static void make_pattern(af_image *img, int w, int h)
{
    if (af_image_alloc(img, w, h, 3, NULL) != AF_OK)
        return;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->data + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1));
            p[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
            p[2] = (uint8_t)((x + 2 * y) & 0xff);
        }
}

static void roundtrip_lossless(const char *name)
{
    af_image a = {0, 0, 0, NULL}, b = {0, 0, 0, NULL};
    make_pattern(&a, 37, 23);
    REQUIRE(a.data);
    af_error err = {0};
    const char *p = tmp_path(name);
    CHECK_MSG(af_image_save(p, &a, 0, &err) == AF_OK, "%s", err.msg);
    CHECK_MSG(af_image_load(p, NULL, &b, &err) == AF_OK, "%s", err.msg);
    if (b.data)
        CHECK(compare(&a, &b, name) == 0);
    af_image_free(&a);
    af_image_free(&b);
}

static void test_roundtrip_png(void)
{
    roundtrip_lossless("rt.png");
}

static void test_roundtrip_bmp(void)
{
    roundtrip_lossless("rt.BMP");
}

static void test_roundtrip_webp(void)
{
    roundtrip_lossless("rt.webp");
}

static void test_roundtrip_jpeg(void)
{
    af_image a = {0, 0, 0, NULL}, b = {0, 0, 0, NULL};
    make_pattern(&a, 64, 48);
    REQUIRE(a.data);
    af_error err = {0};
    const char *p = tmp_path("rt.jpg");
    REQUIRE(af_image_save(p, &a, 0, &err) == AF_OK);
    REQUIRE(af_image_load(p, NULL, &b, &err) == AF_OK);
    REQUIRE(b.w == a.w && b.h == a.h);
    double sum = 0;
    int maxd = 0;
    size_t n = (size_t)a.w * a.h * 3;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a.data[i] - (int)b.data[i]);
        sum += d;
        maxd = d > maxd ? d : maxd;
    }
    fprintf(stderr, "  jpeg q95 round trip: mean |diff| %.3f, max %d\n", sum / n, maxd);
    CHECK(sum / n < 3.0);
    CHECK(maxd < 48);
    af_image_free(&a);
    af_image_free(&b);
}

static void test_save_errors(void)
{
    af_image a = {0, 0, 0, NULL};
    make_pattern(&a, 4, 4);
    REQUIRE(a.data);
    af_error err = {0};
    CHECK(af_image_save(tmp_path("x.gif"), &a, 0, &err) == AF_E_ARG);
    CHECK(strstr(err.msg, "x.gif") != NULL);
    CHECK(af_image_save(tmp_path("noext"), &a, 0, &err) == AF_E_ARG);
    CHECK(af_image_save(tmp_path("q.jpg"), &a, 101, &err) == AF_E_ARG);
    CHECK(af_image_save("/nonexistent-dir/x.png", &a, 0, &err) == AF_E_IO);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.png") != NULL);
    af_image_free(&a);
}

static void test_from_pixels(void)
{
    /* 2x2 image, stride 10 bytes */
    uint8_t px[20];
    for (int i = 0; i < 20; i++)
        px[i] = (uint8_t)(i + 1);
    af_image o = {0, 0, 0, NULL};
    af_error err = {0};
    REQUIRE(af_image_from_pixels(px, 2, 2, 10, AF_PIXEL_BGR, &o, &err) == AF_OK);
    CHECK(o.data[0] == 3 && o.data[1] == 2 && o.data[2] == 1);
    CHECK(o.data[6] == 13 && o.data[7] == 12 && o.data[8] == 11);
    af_image_free(&o);
    REQUIRE(af_image_from_pixels(px, 2, 2, 10, AF_PIXEL_RGBA, &o, &err) == AF_OK);
    CHECK(o.data[3] == 5 && o.data[4] == 6 && o.data[5] == 7 && o.data[9] == 15);
    af_image_free(&o);
    REQUIRE(af_image_from_pixels(px, 2, 2, 10, AF_PIXEL_GRAY, &o, &err) == AF_OK);
    CHECK(o.data[3] == 2 && o.data[4] == 2 && o.data[5] == 2 && o.data[6] == 11);
    af_image_free(&o);
    REQUIRE(af_image_from_pixels(px, 2, 2, 10, AF_PIXEL_RGB, &o, &err) == AF_OK);
    CHECK(memcmp(o.data, px, 6) == 0 && memcmp(o.data + 6, px + 10, 6) == 0);
    af_image_free(&o);
    CHECK(af_image_from_pixels(px, 4, 2, 10, AF_PIXEL_RGB, &o, &err) == AF_E_ARG);
    CHECK(af_image_from_pixels(NULL, 2, 2, 10, AF_PIXEL_RGB, &o, &err) == AF_E_ARG);
    CHECK(af_image_from_pixels(px, 2, 2, 10, (af_pixel_format)42, &o, &err) == AF_E_ARG);
    af_image_free(&o); /* zeroed image: no-op */
}

/* ---- EXIF orientation: the same JPEG with an APP1 orientation tag spliced in ---- */

static void test_exif_orientation(void)
{
    af_image a = {0, 0, 0, NULL}, base = {0, 0, 0, NULL};
    make_pattern(&a, 24, 16);
    REQUIRE(a.data);
    uint8_t *jpg = NULL;
    size_t n = 0;
    af_error err = {0};
    REQUIRE(af_image_encode(&a, "jpeg", 100, &jpg, &n, &err) == AF_OK);
    REQUIRE(af_image_decode(jpg, n, "base.jpg", NULL, &base, &err) == AF_OK);
    /* APP1: "Exif\0\0" + big-endian TIFF with one IFD0 entry 0x0112 SHORT */
    uint8_t app1[] = {0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,
                      'M', 'M', 0, 42, 0, 0, 0, 8, /* TIFF header, IFD0 at 8 */
                      0, 1,                        /* 1 entry */
                      0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, /* value patched below */
                      0, 0, 0, 0};
    size_t m = n + sizeof app1;
    uint8_t *buf = malloc(m);
    REQUIRE(buf);
    for (int o = 1; o <= 8; o++) {
        app1[29] = (uint8_t)o; /* SHORT value, big-endian, at entry + 8 */
        memcpy(buf, jpg, 2);
        memcpy(buf + 2, app1, sizeof app1);
        memcpy(buf + 2 + sizeof app1, jpg + 2, n - 2);
        af_image r = {0, 0, 0, NULL};
        if (af_image_decode(buf, m, "orient.jpg", NULL, &r, &err) != AF_OK) {
            CHECK_MSG(0, "orientation %d: %s", o, err.msg);
            continue;
        }
        int W = base.w, H = base.h, swap = o >= 5;
        CHECK(r.w == (swap ? H : W) && r.h == (swap ? W : H));
        size_t bad = 0;
        for (int y = 0; y < r.h && r.w == (swap ? H : W); y++)
            for (int x = 0; x < r.w; x++) {
                int sr, sc; /* EXIF spec: where output (row y, col x) comes from */
                switch (o) {
                case 1: sr = y, sc = x; break;
                case 2: sr = y, sc = W - 1 - x; break;
                case 3: sr = H - 1 - y, sc = W - 1 - x; break;
                case 4: sr = H - 1 - y, sc = x; break;
                case 5: sr = x, sc = y; break;
                case 6: sr = H - 1 - x, sc = y; break;
                case 7: sr = H - 1 - x, sc = W - 1 - y; break;
                default: sr = x, sc = W - 1 - y; break;
                }
                bad += memcmp(r.data + ((size_t)y * r.w + x) * 3,
                              base.data + ((size_t)sr * W + sc) * 3, 3) != 0;
            }
        CHECK_MSG(bad == 0, "orientation %d: %zu pixels misplaced", o, bad);
        af_image_free(&r);
    }
    free(buf);
    free(jpg);
    af_image_free(&a);
    af_image_free(&base);
}

/* ---- bad inputs ---- */

static void expect_fail(const char *path, af_status want, const char *needle)
{
    af_image o = {0, 0, 0, NULL};
    af_error err = {0};
    af_status st = af_image_load(path, NULL, &o, &err);
    CHECK_MSG(st == want, "%s: status %d (%s), want %d", path, (int)st, err.msg, (int)want);
    CHECK_MSG(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    CHECK_MSG(!needle || strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
    CHECK_MSG(strchr(err.msg, '\n') == NULL, "multi-line message: %s", err.msg);
    CHECK(o.data == NULL && o.w == 0);
    fprintf(stderr, "  -> %s\n", err.msg);
    af_image_free(&o);
}

static uint32_t crc32_bytes(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_bad_missing_empty_text(void)
{
    expect_fail(tmp_path("does-not-exist.jpg"), AF_E_IO, "No such file");
    const char *e = tmp_path("empty.jpg");
    REQUIRE(write_bytes(e, "", 0));
    expect_fail(e, AF_E_FORMAT, "empty");
    const char *t = tmp_path("notes.png");
    const char *txt = "this is a text file, not an image\n";
    REQUIRE(write_bytes(t, txt, strlen(txt)));
    expect_fail(t, AF_E_FORMAT, "not a recognised image");
    const char *g = tmp_path("anim.gif");
    REQUIRE(write_bytes(g, "GIF89a\x01\0\x01\0\0\0\0;", 14));
    expect_fail(g, AF_E_FORMAT, "invalid GIF data"); /* a GIF without any image */
    expect_fail(tmpdir, AF_E_IO, "directory");
}

/* Inputs found by fuzzing (fuzz/corpus/image): tiny files that used to make the decoders
 * allocate gigabytes; now clean errors before the big allocation. */
static void test_fuzz_huge_allocations(void)
{
    static const struct {
        const char *file;
        af_status want;
        const char *needle;
    } cases[] = {
        /* 1281-byte PNG whose last tEXt chunk claims 1.5 GB: libpng allocated it first */
        {"fuzz/corpus/image/oom-png-text-chunk-1500MB.png", AF_E_FORMAT, "truncated PNG"},
        /* 641-byte progressive JPEG of 16384x16384: 1.6 GB of coefficient buffers */
        {"fuzz/corpus/image/oom-jpeg-progressive-16384x16384.jpg", AF_E_LIMIT, "decoder memory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        unsigned char *buf = t_read_file(cases[i].file, &n);
        REQUIRE(buf);
        af_image o = {0, 0, 0, NULL};
        af_error err = {0};
        af_status st = af_image_decode(buf, n, cases[i].file, NULL, &o, &err);
        CHECK_MSG(st == cases[i].want, "%s: status %d (%s)", cases[i].file, (int)st, err.msg);
        CHECK_MSG(strstr(err.msg, cases[i].needle), "%s: message: %s", cases[i].file, err.msg);
        CHECK(o.data == NULL);
        af_image_free(&o);
        free(buf);
    }
}

static void test_bad_truncated(void)
{
    size_t n;
    unsigned char *jpg = t_read_file("tests/fixtures/images/dog.jpg", &n);
    REQUIRE(jpg);
    const char *p = tmp_path("photo.jpg");
    REQUIRE(write_bytes(p, jpg, n / 2));
    expect_fail(p, AF_E_FORMAT, "truncated JPEG");
    REQUIRE(write_bytes(p, jpg, 200)); /* inside the header */
    expect_fail(p, AF_E_FORMAT, "JPEG");
    REQUIRE(write_bytes(p, jpg, n - 4)); /* last entropy bytes missing */
    expect_fail(p, AF_E_FORMAT, "truncated JPEG");
    /* missing only the EOI marker: decodes (as OpenCV), same pixels as the full file */
    af_image a = {0, 0, 0, NULL}, b = {0, 0, 0, NULL};
    af_error err = {0};
    CHECK(af_image_decode(jpg, n, "full.jpg", NULL, &a, &err) == AF_OK);
    CHECK_MSG(af_image_decode(jpg, n - 2, "noeoi.jpg", NULL, &b, &err) == AF_OK, "%s", err.msg);
    if (a.data && b.data)
        CHECK(compare(&a, &b, "no-EOI dog.jpg") == 0);
    af_image_free(&a);
    af_image_free(&b);
    free(jpg);

    unsigned char *png = t_read_file("tests/fixtures/images/test_priconne.png", &n);
    REQUIRE(png);
    p = tmp_path("shot.png");
    REQUIRE(write_bytes(p, png, n / 3));
    expect_fail(p, AF_E_FORMAT, "truncated PNG");
    REQUIRE(write_bytes(p, png, 20));
    expect_fail(p, AF_E_FORMAT, "PNG");
    REQUIRE(write_bytes(p, png, n - 6)); /* IEND cut */
    expect_fail(p, AF_E_FORMAT, "PNG");
    free(png);
}

static void test_bad_warnings_only_jpeg(void)
{
    /* extraneous bytes before a marker: libjpeg warns, OpenCV returns the image: so do we */
    size_t n;
    unsigned char *jpg = t_read_file("tests/fixtures/images/dog.jpg", &n);
    REQUIRE(jpg);
    size_t sos = 0;
    for (size_t i = 2; i + 1 < n; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xda) {
            sos = i;
            break;
        }
    REQUIRE(sos > 0);
    unsigned char *buf = malloc(n + 3);
    REQUIRE(buf);
    memcpy(buf, jpg, sos);
    memset(buf + sos, 0x11, 3);
    memcpy(buf + sos + 3, jpg + sos, n - sos);
    af_image a = {0, 0, 0, NULL}, g = {0, 0, 0, NULL};
    af_error err = {0};
    CHECK_MSG(af_image_decode(buf, n + 3, "warn.jpg", NULL, &a, &err) == AF_OK, "%s", err.msg);
    CHECK(af_image_load("tests/fixtures/golden/decoded__dog.png", NULL, &g, &err) == AF_OK);
    if (a.data && g.data)
        CHECK(compare(&a, &g, "dog.jpg with extraneous bytes") == 0);
    af_image_free(&a);
    af_image_free(&g);
    free(buf);
    free(jpg);
}

static void test_bad_huge_headers(void)
{
    /* PNG: IHDR 100000 x 100000 (valid CRC) directly followed by IEND */
    uint8_t png[8 + 25 + 12];
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    uint8_t *c = png + 8;
    put_be32(c, 13);
    memcpy(c + 4, "IHDR", 4);
    put_be32(c + 8, 100000);
    put_be32(c + 12, 100000);
    c[16] = 8, c[17] = 2, c[18] = 0, c[19] = 0, c[20] = 0;
    put_be32(c + 21, crc32_bytes(c + 4, 17));
    uint8_t *e = c + 25;
    put_be32(e, 0);
    memcpy(e + 4, "IEND", 4);
    put_be32(e + 8, crc32_bytes(e + 4, 4));
    const char *p = tmp_path("huge.png");
    REQUIRE(write_bytes(p, png, sizeof png));
    expect_fail(p, AF_E_LIMIT, "100000x100000");

    /* BMP: BITMAPINFOHEADER 100000 x 100000, 24-bit, no data */
    uint8_t bmp[54];
    memset(bmp, 0, sizeof bmp);
    bmp[0] = 'B', bmp[1] = 'M', bmp[10] = 54, bmp[14] = 40;
    uint32_t big = 100000;
    memcpy(bmp + 18, &big, 4); /* little-endian host (x86-64) */
    memcpy(bmp + 22, &big, 4);
    bmp[26] = 1, bmp[28] = 24;
    p = tmp_path("huge.bmp");
    REQUIRE(write_bytes(p, bmp, sizeof bmp));
    expect_fail(p, AF_E_LIMIT, "100000x100000");

    /* JPEG: dog.jpg with its SOF0 size patched to 60000 x 60000 (3.6 Gpixel > limit) */
    size_t n;
    unsigned char *jpg = t_read_file("tests/fixtures/images/dog.jpg", &n);
    REQUIRE(jpg);
    for (size_t i = 2; i + 9 < n; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
            jpg[i + 5] = 60000 >> 8, jpg[i + 6] = 60000 & 0xff;
            jpg[i + 7] = 60000 >> 8, jpg[i + 8] = 60000 & 0xff;
            break;
        }
    p = tmp_path("huge.jpg");
    REQUIRE(write_bytes(p, jpg, n));
    expect_fail(p, AF_E_LIMIT, "60000x60000");
    free(jpg);

    /* a caller limit applies too */
    af_image_limits lim;
    af_image_limits_default(&lim);
    lim.max_dim = 500;
    af_image o = {0, 0, 0, NULL};
    af_error err = {0};
    CHECK(af_image_load("tests/fixtures/images/dog.jpg", &lim, &o, &err) == AF_E_LIMIT);
    CHECK(o.data == NULL);
    af_image_limits_default(&lim);
    lim.max_file_bytes = 1000;
    CHECK(af_image_load("tests/fixtures/images/dog.jpg", &lim, &o, &err) == AF_E_LIMIT);
    CHECK(strstr(err.msg, "dog.jpg") != NULL);
}

static void test_bad_png_crc(void)
{
    size_t n;
    unsigned char *png = t_read_file("tests/fixtures/images/test_priconne.png", &n);
    REQUIRE(png && n > 40);
    png[29] ^= 0x5a; /* IHDR CRC (bytes 29..32) */
    const char *p = tmp_path("crc.png");
    REQUIRE(write_bytes(p, png, n));
    expect_fail(p, AF_E_FORMAT, "CRC");
    png[29] ^= 0x5a;
    /* the CRC field of the first IDAT chunk damaged */
    size_t off = 8, clen = 0;
    for (; off + 8 <= n; off += 12 + clen) {
        clen = (size_t)png[off] << 24 | (size_t)png[off + 1] << 16 | (size_t)png[off + 2] << 8 |
               png[off + 3];
        if (memcmp(png + off + 4, "IDAT", 4) == 0)
            break;
    }
    REQUIRE(off + 12 + clen <= n);
    png[off + 8 + clen] ^= 0xff;
    REQUIRE(write_bytes(p, png, n));
    expect_fail(p, AF_E_FORMAT, "CRC");
    free(png);
}

static void test_bad_bmp_webp(void)
{
    uint8_t bmp[54 + 16];
    memset(bmp, 0, sizeof bmp);
    bmp[0] = 'B', bmp[1] = 'M', bmp[10] = 54, bmp[14] = 40;
    bmp[18] = 100, bmp[22] = 100, bmp[26] = 1, bmp[28] = 24;
    const char *p = tmp_path("cut.bmp");
    REQUIRE(write_bytes(p, bmp, sizeof bmp));
    expect_fail(p, AF_E_FORMAT, "truncated BMP");
    bmp[30] = 1; /* RLE8, one palette entry, then 12 bytes: six end-of-line codes of 100 rows */
    bmp[28] = 8;
    bmp[46] = 1;
    bmp[10] = 58;
    REQUIRE(write_bytes(p, bmp, sizeof bmp));
    expect_fail(p, AF_E_FORMAT, "truncated RLE8 BMP");

    af_image a = {0, 0, 0, NULL};
    make_pattern(&a, 40, 30);
    REQUIRE(a.data);
    uint8_t *w = NULL;
    size_t n = 0;
    af_error err = {0};
    REQUIRE(af_image_encode(&a, "webp", 0, &w, &n, &err) == AF_OK);
    p = tmp_path("cut.webp");
    REQUIRE(write_bytes(p, w, n / 2));
    expect_fail(p, AF_E_FORMAT, "WebP");
    free(w);
    af_image_free(&a);
}

static void cleanup_tmp(void)
{
    static const char *names[] = {"rt.png",    "rt.BMP",   "rt.webp",  "rt.jpg",    "x.gif",
                                  "noext",     "q.jpg",    "empty.jpg", "notes.png", "anim.gif",
                                  "photo.jpg", "shot.png", "huge.png", "huge.bmp",  "huge.jpg",
                                  "crc.png",   "cut.bmp",  "cut.webp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(tmp_path(names[i]));
    rmdir(tmpdir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/af_test_image_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_decode_dog_jpeg);
    RUN(test_decode_icf_jpeg);
    RUN(test_uma_rgba_alpha_dropped);
    RUN(test_priconne_png);
    RUN(test_roundtrip_png);
    RUN(test_roundtrip_bmp);
    RUN(test_roundtrip_webp);
    RUN(test_roundtrip_jpeg);
    RUN(test_save_errors);
    RUN(test_from_pixels);
    RUN(test_exif_orientation);
    RUN(test_bad_missing_empty_text);
    RUN(test_bad_truncated);
    RUN(test_fuzz_huge_allocations);
    RUN(test_bad_warnings_only_jpeg);
    RUN(test_bad_huge_headers);
    RUN(test_bad_png_crc);
    RUN(test_bad_bmp_webp);
    cleanup_tmp();
    return t_summary();
}
