/*
 * Training augmentation (src/train): PRNG, cv2 HSV values, box_candidates, mosaic placement,
 * affine/perspective geometry on synthetic images whose coloured rectangles are the labels,
 * flips, LetterBox path, mixup, determinism, collation.
 *
 * Expected HSV numbers were produced once with OpenCV 4.6 (cv2.cvtColor COLOR_BGR2HSV /
 * COLOR_HSV2BGR on the BGR-ordered pixel, and ultralytics' RandomHSV LUT code) and are
 * written here as constants. Mosaic placements and boxes are worked out by hand from
 * ultralytics' _mosaic4 formulas (see test_mosaic_placement). test_warp_vs_cv2 holds
 * cv2.warpAffine / cv2.warpPerspective output bytes for a small image.
 */
#include <stdint.h>
#include <time.h>

#include "testutil.h"
#include "detect/letterbox.h"
#include "train/augment.h"
#include "train/rng.h"

/* ---------------------------------------------------------------- synthetic dataset */

#define NIMG 6
#define NRECT 3
#define NCLS (NIMG * NRECT)

typedef struct synth {
    af_labelled items[NIMG];
    int copy; /* loader hands out owned copies */
    int calls;
    int fail_after; /* > 0: fail the load after that many calls */
} synth;

static const uint8_t BG[3] = {10, 10, 10};

static void palette(int c, uint8_t out[3])
{
    out[0] = (uint8_t)(40 + (c * 53) % 200);
    out[1] = (uint8_t)(40 + (c * 97 + 60) % 200);
    out[2] = (uint8_t)(40 + (c * 151 + 120) % 200);
}

static void fill_rect(af_image *im, int x0, int y0, int x1, int y1, const uint8_t col[3])
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            memcpy(im->data + ((size_t)y * im->w + x) * 3, col, 3);
}

/* Image k: long side `side`, NRECT non-overlapping rectangles, class NRECT*k + j. */
static void synth_init(synth *s, int side)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < NIMG; k++) {
        af_labelled *l = &s->items[k];
        int shortside = side * (9 + k) / 16;
        int w = (k & 1) ? shortside : side, h = (k & 1) ? side : shortside;
        af_image_alloc(&l->img, w, h, 3, NULL);
        for (size_t i = 0; i < (size_t)w * h; i++)
            memcpy(l->img.data + 3 * i, BG, 3);
        l->n = NRECT;
        l->cls = malloc(NRECT * sizeof(int));
        l->xywhn = malloc(NRECT * 4 * sizeof(float));
        for (int j = 0; j < NRECT; j++) {
            int x0 = w * (5 + 30 * j) / 100, x1 = x0 + w / 4;
            int y0 = h * (10 + 25 * j) / 100, y1 = y0 + h * 3 / 10;
            uint8_t col[3];
            palette(NRECT * k + j, col);
            fill_rect(&l->img, x0, y0, x1, y1, col);
            l->cls[j] = NRECT * k + j;
            l->xywhn[4 * j + 0] = (float)((x0 + x1) / 2.0 / w);
            l->xywhn[4 * j + 1] = (float)((y0 + y1) / 2.0 / h);
            l->xywhn[4 * j + 2] = (float)((double)(x1 - x0) / w);
            l->xywhn[4 * j + 3] = (float)((double)(y1 - y0) / h);
        }
    }
}

static void synth_free(synth *s)
{
    for (int k = 0; k < NIMG; k++) {
        s->items[k].owned = 1;
        af_labelled_free(&s->items[k]);
    }
}

static af_status synth_load(void *user, int index, af_labelled *out, af_error *err)
{
    synth *s = user;
    s->calls++;
    if (s->fail_after > 0 && s->calls > s->fail_after) {
        if (err)
            err->code = AF_E_IO;
        return AF_E_IO;
    }
    if (index < 0 || index >= NIMG) {
        if (err)
            err->code = AF_E_ARG;
        return AF_E_ARG;
    }
    const af_labelled *src = &s->items[index];
    if (!s->copy) {
        *out = *src;
        out->owned = 0;
        return AF_OK;
    }
    memset(out, 0, sizeof *out);
    out->owned = 1;
    af_status st = af_image_alloc(&out->img, src->img.w, src->img.h, 3, err);
    if (st)
        return st;
    memcpy(out->img.data, src->img.data, (size_t)src->img.w * src->img.h * 3);
    out->n = src->n;
    out->cls = malloc(sizeof(int) * (size_t)src->n);
    out->xywhn = malloc(sizeof(float) * 4 * (size_t)src->n);
    memcpy(out->cls, src->cls, sizeof(int) * (size_t)src->n);
    memcpy(out->xywhn, src->xywhn, sizeof(float) * 4 * (size_t)src->n);
    return AF_OK;
}

static af_status fail_load(void *user, int index, af_labelled *out, af_error *err)
{
    (void)user;
    (void)index;
    out->owned = 1; /* a failing loader may leave anything; af_augment must cope */
    if (err)
        err->code = AF_E_IO;
    return AF_E_IO;
}

/* Checks that pixel-box geometry is right: for box (x1,y1,x2,y2) of class c, the pixels of
 * exactly colour c found in the box grown by tol span [minx, maxx+1] x [miny, maxy+1] with
 * every side within tol of the box's (only enclosure for a clipped box unless
 * tight_when_clipped). Returns 1 when good. */
static int box_fits_colour(const af_image *im, const float *b, int c, double tol,
                           int tight_when_clipped)
{
    uint8_t col[3];
    palette(c, col);
    int x0 = (int)floor(b[0] - tol), x1 = (int)ceil(b[2] + tol);
    int y0 = (int)floor(b[1] - tol), y1 = (int)ceil(b[3] + tol);
    if (x0 < 0)
        x0 = 0;
    if (y0 < 0)
        y0 = 0;
    if (x1 > im->w)
        x1 = im->w;
    if (y1 > im->h)
        y1 = im->h;
    int minx = INT32_MAX, miny = INT32_MAX, maxx = -1, maxy = -1;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (!memcmp(im->data + ((size_t)y * im->w + x) * 3, col, 3)) {
                minx = x < minx ? x : minx;
                maxx = x > maxx ? x : maxx;
                miny = y < miny ? y : miny;
                maxy = y > maxy ? y : maxy;
            }
    if (maxx < 0) {
        fprintf(stderr, "  class %d box (%.2f %.2f %.2f %.2f): no pixel of its colour\n", c, b[0],
                b[1], b[2], b[3]);
        return 0;
    }
    double d[4] = {fabs(minx - b[0]), fabs(miny - b[1]), fabs(maxx + 1 - b[2]),
                   fabs(maxy + 1 - b[3])};
    /* A box cut by the image edge after a rotation / shear / perspective is the clipped box of
     * the 4 transformed corners (ultralytics), looser than the visible part: there only
     * enclosure is required. */
    int clipped = b[0] <= 0 || b[1] <= 0 || b[2] >= im->w || b[3] >= im->h;
    if (!tight_when_clipped && clipped) {
        d[0] = minx < b[0] ? b[0] - minx : 0;
        d[1] = miny < b[1] ? b[1] - miny : 0;
        d[2] = maxx + 1 > b[2] ? maxx + 1 - b[2] : 0;
        d[3] = maxy + 1 > b[3] ? maxy + 1 - b[3] : 0;
    }
    for (int k = 0; k < 4; k++)
        if (d[k] > tol) {
            fprintf(stderr,
                    "  class %d box (%.2f %.2f %.2f %.2f) vs colour extent (%d %d %d %d)\n", c,
                    b[0], b[1], b[2], b[3], minx, miny, maxx + 1, maxy + 1);
            return 0;
        }
    return 1;
}

/* Every pixel of class c's colour lies inside one of the given boxes of class c (grown by tol). */
static int colour_inside_boxes(const af_image *im, const af_boxes *b, int c, double tol)
{
    uint8_t col[3];
    palette(c, col);
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            if (memcmp(im->data + ((size_t)y * im->w + x) * 3, col, 3))
                continue;
            int inside = 0;
            for (int i = 0; i < b->n && !inside; i++) {
                const float *p = b->xyxy + 4 * i;
                inside = b->cls[i] == c && x >= p[0] - tol && x + 1 <= p[2] + tol &&
                         y >= p[1] - tol && y + 1 <= p[3] + tol;
            }
            if (!inside) {
                fprintf(stderr, "  pixel (%d, %d) of class %d is outside its boxes\n", x, y, c);
                return 0;
            }
        }
    return 1;
}

static void sample_to_boxes(const af_sample *s, af_boxes *b)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < s->n; i++) {
        const float *p = s->xywhn + 4 * i;
        float W = (float)s->img.w, H = (float)s->img.h;
        float q[4] = {(p[0] - p[2] / 2) * W, (p[1] - p[3] / 2) * H, (p[0] + p[2] / 2) * W,
                      (p[1] + p[3] / 2) * H};
        af_boxes_push(b, s->cls[i], q, NULL);
    }
}

static int count_colour(const af_image *im, const uint8_t col[3])
{
    int n = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++)
        n += !memcmp(im->data + 3 * i, col, 3);
    return n;
}

/* ---------------------------------------------------------------- rng */

static void test_rng(void)
{
    af_rng a, b, c;
    af_rng_seed3(&a, 42, 3, 17);
    af_rng_seed3(&b, 42, 3, 17);
    af_rng_seed3(&c, 42, 3, 18);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = af_rng_u32(&a), y = af_rng_u32(&b), z = af_rng_u32(&c);
        same &= x == y;
        differ += x != z;
    }
    CHECK(same);
    CHECK(differ > 90);
    /* PCG32 reference: pcg32_srandom(42, 54) then 6 outputs (pcg-c-basic demo) */
    af_rng p;
    af_rng_seed(&p, 42u, 54u);
    const uint32_t want[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                              0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    for (int i = 0; i < 6; i++)
        CHECK(af_rng_u32(&p) == want[i]);

    int hits[7] = {0};
    double lo = 1, hi = 0, sum = 0, sum2 = 0;
    for (int i = 0; i < 20000; i++) {
        double u = af_rng_uniform(&a, -2.0, 3.0);
        CHECK(u >= -2.0 && u < 3.0);
        int k = af_rng_int(&a, -3, 3);
        CHECK(k >= -3 && k <= 3);
        if (k >= -3 && k <= 3)
            hits[k + 3]++;
        CHECK(af_rng_choice(&a, 5) < 5);
        double be = af_rng_beta(&a, 32.0, 32.0);
        lo = be < lo ? be : lo;
        hi = be > hi ? be : hi;
        sum += be;
        sum2 += be * be;
    }
    for (int k = 0; k < 7; k++)
        CHECK(hits[k] > 2500 && hits[k] < 3200);
    double mean = sum / 20000, sd = sqrt(sum2 / 20000 - mean * mean);
    CHECK_NEAR(mean, 0.5, 0.003);
    CHECK_NEAR(sd, sqrt(1.0 / (4 * 65)), 0.003); /* Beta(32,32): var = 1/(4 (2a+1)) */
    CHECK(lo > 0.2 && hi < 0.8);
    CHECK(af_rng_int(&a, 5, 5) == 5 && af_rng_choice(&a, 1) == 0);
}

/* ---------------------------------------------------------------- hsv */

static void test_hsv_cv2_values(void)
{
    static const uint8_t rgb2hsv[][6] = {
        {255, 0, 0, 0, 255, 255},    {0, 255, 0, 60, 255, 255},   {0, 0, 255, 120, 255, 255},
        {255, 255, 0, 30, 255, 255}, {12, 200, 77, 70, 240, 200}, {200, 100, 50, 10, 191, 200},
        {90, 90, 90, 0, 0, 90},      {1, 2, 3, 105, 170, 3},      {250, 10, 200, 156, 245, 250},
        {0, 0, 0, 0, 0, 0},          {255, 255, 255, 0, 0, 255},  {17, 34, 200, 117, 233, 200},
    };
    for (size_t i = 0; i < sizeof rgb2hsv / sizeof rgb2hsv[0]; i++) {
        uint8_t hsv[3];
        af_rgb_to_hsv_u8(rgb2hsv[i], hsv);
        CHECK_MSG(!memcmp(hsv, rgb2hsv[i] + 3, 3), "rgb %d %d %d -> %d %d %d", rgb2hsv[i][0],
                  rgb2hsv[i][1], rgb2hsv[i][2], hsv[0], hsv[1], hsv[2]);
    }
    static const uint8_t hsv2rgb[][6] = {
        {0, 255, 255, 255, 0, 0},     {30, 255, 255, 255, 255, 0},  {60, 128, 200, 100, 200, 100},
        {90, 200, 100, 22, 100, 100}, {120, 50, 250, 201, 201, 250}, {150, 255, 128, 128, 0, 128},
        {179, 255, 255, 255, 0, 8},   {7, 77, 177, 177, 136, 124},  {100, 0, 33, 33, 33, 33},
    };
    for (size_t i = 0; i < sizeof hsv2rgb / sizeof hsv2rgb[0]; i++) {
        uint8_t rgb[3];
        af_hsv_to_rgb_u8(hsv2rgb[i], rgb);
        CHECK_MSG(!memcmp(rgb, hsv2rgb[i] + 3, 3), "hsv %d %d %d -> %d %d %d", hsv2rgb[i][0],
                  hsv2rgb[i][1], hsv2rgb[i][2], rgb[0], rgb[1], rgb[2]);
    }
}

static void test_hsv_roundtrip(void)
{
    /* 8-bit HSV quantises hue to 2 degrees: RGB -> HSV -> RGB is within 5 levels (cv2 gives
     * the same bound over all 2^24 colours), exact for grays and primaries */
    int maxd = 0;
    for (int r = 0; r < 256; r += 3)
        for (int g = 0; g < 256; g += 5)
            for (int b = 0; b < 256; b += 7) {
                uint8_t c[3] = {(uint8_t)r, (uint8_t)g, (uint8_t)b}, h[3], o[3];
                af_rgb_to_hsv_u8(c, h);
                af_hsv_to_rgb_u8(h, o);
                for (int k = 0; k < 3; k++) {
                    int d = abs(o[k] - c[k]);
                    maxd = d > maxd ? d : maxd;
                }
            }
    CHECK(maxd <= 5);
    for (int v = 0; v < 256; v++) {
        uint8_t c[3] = {(uint8_t)v, (uint8_t)v, (uint8_t)v}, h[3], o[3];
        af_rgb_to_hsv_u8(c, h);
        af_hsv_to_rgb_u8(h, o);
        CHECK(!memcmp(c, o, 3) && h[0] == 0 && h[1] == 0 && h[2] == v);
    }
    /* identity gains: the LUT method leaves an image as one round trip */
    double one[3] = {1, 1, 1};
    uint8_t lut[3][256];
    af_hsv_luts(one, lut);
    for (int x = 0; x < 256; x++)
        CHECK(lut[1][x] == x && lut[2][x] == x && lut[0][x] == (x < 180 ? x : x - 180));
}

static void test_hsv_luts_and_apply(void)
{
    /* ultralytics' LUT expressions evaluated with numpy for these gains */
    double r1[3] = {1.01, 0.5, 1.3};
    uint8_t lut[3][256];
    af_hsv_luts(r1, lut);
    CHECK(lut[0][0] == 0 && lut[0][100] == 101 && lut[0][178] == 179 && lut[0][179] == 0 &&
          lut[0][255] == 77);
    CHECK(lut[1][0] == 0 && lut[1][1] == 0 && lut[1][3] == 1 && lut[1][255] == 127);
    CHECK(lut[2][0] == 0 && lut[2][100] == 130 && lut[2][196] == 254 && lut[2][197] == 255 &&
          lut[2][255] == 255);
    double r2[3] = {0.985, 1.7, 0.6};
    af_hsv_luts(r2, lut);
    CHECK(lut[0][100] == 98 && lut[0][178] == 175 && lut[0][179] == 176 && lut[0][255] == 71);
    CHECK(lut[1][1] == 1 && lut[1][3] == 5 && lut[1][150] == 255 && lut[2][100] == 60 &&
          lut[2][255] == 153);
    /* RandomHSV on 4 pixels with gains r2, cv2 4.6 result */
    af_image im;
    REQUIRE(af_image_alloc(&im, 4, 1, 3, NULL) == AF_OK);
    const uint8_t in[12] = {200, 100, 50, 12, 200, 77, 90, 90, 90, 250, 10, 200};
    const uint8_t want[12] = {120, 36, 0, 0, 120, 32, 54, 54, 54, 150, 0, 135};
    memcpy(im.data, in, 12);
    af_hsv_apply(&im, lut);
    CHECK(!memcmp(im.data, want, 12));
    af_image_free(&im);
}

/* ---------------------------------------------------------------- box_candidates */

static void test_box_candidates(void)
{
    const float b10[4] = {0, 0, 10, 10};
    const float keep_same[4] = {0, 0, 10, 10}, small[4] = {0, 0, 3, 3}, ok[4] = {5, 5, 9, 8},
                thin[4] = {0, 0, 2, 10}, thin2[4] = {0, 0, 10, 2.0001f};
    CHECK(af_box_candidate(b10, keep_same, 2, 100, 0.1f) == 1);
    CHECK(af_box_candidate(b10, small, 2, 100, 0.1f) == 0); /* area 9/100 = 0.09 */
    CHECK(af_box_candidate(b10, ok, 2, 100, 0.1f) == 1);    /* 12/100, w 4 > 2, h 3 > 2 */
    CHECK(af_box_candidate(b10, thin, 2, 100, 0.1f) == 0);  /* w2 == 2 is not > 2 */
    CHECK(af_box_candidate(b10, thin2, 2, 100, 0.1f) == 1); /* 2.0001 > 2, area 0.20001 */
    const float big[4] = {0, 0, 400, 10}, ar_bad[4] = {0, 0, 301, 3}, ar_ok[4] = {0, 0, 299, 3};
    CHECK(af_box_candidate(big, ar_bad, 2, 100, 0.1f) == 0); /* aspect 100.33 */
    CHECK(af_box_candidate(big, ar_ok, 2, 100, 0.1f) == 1);  /* aspect 99.67, area 0.224 */
    const float tall[4] = {0, 0, 3, 301};
    CHECK(af_box_candidate(big, tall, 2, 100, 0.001f) == 0); /* h/w = 100.33 */
    const float zero[4] = {4, 4, 4, 4}, five[4] = {0, 0, 5, 5};
    CHECK(af_box_candidate(zero, five, 2, 100, 0.1f) == 1); /* 25 / (0 + eps) */
    CHECK(af_box_candidate(five, zero, 2, 100, 0.1f) == 0);
    const float nanb[4] = {NAN, 0, 5, 5};
    CHECK(af_box_candidate(b10, nanb, 2, 100, 0.1f) == 0);
}

/* ---------------------------------------------------------------- mosaic */

static void pattern_image(af_labelled *l, int w, int h, int k)
{
    memset(l, 0, sizeof *l);
    af_image_alloc(&l->img, w, h, 3, NULL);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                l->img.data[((size_t)y * w + x) * 3 + c] =
                    (uint8_t)((x * 7 + y * 13 + k * 50 + c * 31) % 251);
    l->owned = 1;
}

static void test_mosaic_placement(void)
{
    /* s = 64, centre (xc, yc) = (50, 40); tiles 64x48, 48x64, 64x64, 64x40. By _mosaic4:
     *  tile0: canvas [0,50)x[0,40)   <- img[8:48, 14:64],  pad (-14, -8)
     *  tile1: canvas [50,98)x[0,40)  <- img[24:64, 0:48],  pad (50, -24)
     *  tile2: canvas [0,50)x[40,104) <- img[0:64, 14:64],  pad (-14, 40)
     *  tile3: canvas [50,114)x[40,80)<- img[0:40, 0:64],   pad (50, 40)
     *  everything else 114. */
    af_labelled t[4];
    pattern_image(&t[0], 64, 48, 0);
    pattern_image(&t[1], 48, 64, 1);
    pattern_image(&t[2], 64, 64, 2);
    pattern_image(&t[3], 64, 40, 3);
    float lab0[8] = {0.1f, 0.5f, 0.2f, 0.5f, 0.5f, 0.5f, 0.25f, 0.5f};
    float lab1[4] = {0.5f, 0.25f, 0.5f, 0.5f}, lab2[4] = {0.5f, 0.5f, 0.25f, 0.25f};
    float lab3[4] = {0.9f, 0.5f, 0.2f, 0.5f};
    int c0[2] = {0, 1}, c1[1] = {2}, c2[1] = {3}, c3[1] = {4};
    t[0].n = 2, t[0].xywhn = lab0, t[0].cls = c0;
    t[1].n = 1, t[1].xywhn = lab1, t[1].cls = c1;
    t[2].n = 1, t[2].xywhn = lab2, t[2].cls = c2;
    t[3].n = 1, t[3].xywhn = lab3, t[3].cls = c3;
    const af_labelled *tp[4] = {&t[0], &t[1], &t[2], &t[3]};
    af_image out = {0};
    af_boxes b = {0};
    REQUIRE(af_mosaic4(tp, 64, 50, 40, &out, &b, NULL) == AF_OK);
    CHECK(out.w == 128 && out.h == 128 && out.c == 3);
    struct {
        int k, x0, y0, x1, y1, padw, padh;
    } reg[4] = {{0, 0, 0, 50, 40, -14, -8},
                {1, 50, 0, 98, 40, 50, -24},
                {2, 0, 40, 50, 104, -14, 40},
                {3, 50, 40, 114, 80, 50, 40}};
    int bad = 0;
    for (int y = 0; y < 128; y++)
        for (int x = 0; x < 128; x++) {
            const uint8_t *px = out.data + ((size_t)y * 128 + x) * 3;
            int r = -1;
            for (int i = 0; i < 4; i++)
                if (x >= reg[i].x0 && x < reg[i].x1 && y >= reg[i].y0 && y < reg[i].y1)
                    r = i;
            for (int c = 0; c < 3; c++) {
                int want = 114;
                if (r >= 0) {
                    const af_image *im = &t[reg[r].k].img;
                    want = im->data[((size_t)(y - reg[r].padh) * im->w + (x - reg[r].padw)) * 3 + c];
                }
                bad += px[c] != want;
            }
        }
    CHECK_MSG(bad == 0, "%d canvas bytes differ from the hand-computed placement", bad);
    /* boxes: tile0 box 0 -> (-14, 4, -1.2, 28) clipped to zero width: dropped */
    const float want[4][5] = {{1, 10, 4, 26, 28},
                              {2, 62, 0, 86, 8},
                              {3, 10, 64, 26, 80},
                              {4, 101.2f, 50, 114, 70}};
    REQUIRE(b.n == 4);
    for (int i = 0; i < 4; i++) {
        CHECK(b.cls[i] == (int)want[i][0]);
        for (int j = 0; j < 4; j++)
            CHECK_NEAR(b.xyxy[4 * i + j], want[i][j + 1], 1e-4);
    }
    for (int i = 0; i < 4; i++) {
        t[i].n = 0, t[i].xywhn = NULL, t[i].cls = NULL;
        af_labelled_free(&t[i]);
    }
    af_image_free(&out);
    af_boxes_free(&b);
    /* centre draw stays in [s/2, 1.5s) */
    af_rng r;
    af_rng_seed3(&r, 1, 0, 0);
    int lo = 1 << 30, hi = -1;
    for (int i = 0; i < 5000; i++) {
        int xc, yc;
        af_mosaic_center(&r, 640, &xc, &yc);
        lo = xc < lo ? xc : lo;
        hi = xc > hi ? xc : hi;
        CHECK(yc >= 320 && yc < 960);
    }
    CHECK(lo >= 320 && lo < 330 && hi < 960 && hi > 950);
}

static void test_mosaic_four_images(void)
{
    synth s;
    synth_init(&s, 64);
    const af_labelled *tp[4] = {&s.items[0], &s.items[1], &s.items[2], &s.items[3]};
    af_image out = {0};
    af_boxes b = {0};
    /* centre in the middle: all 4 tiles fully visible, 12 boxes, each rectangle present */
    REQUIRE(af_mosaic4(tp, 64, 64, 64, &out, &b, NULL) == AF_OK);
    CHECK(out.w == 128 && out.h == 128);
    CHECK(b.n == 4 * NRECT);
    for (int i = 0; i < b.n; i++)
        CHECK(box_fits_colour(&out, b.xyxy + 4 * i, b.cls[i], 0.01, 1));
    for (int c = 0; c < 4 * NRECT; c++)
        CHECK(colour_inside_boxes(&out, &b, c, 0.01));
    af_image_free(&out);
    af_boxes_free(&b);
    synth_free(&s);
}

/* ---------------------------------------------------------------- affine / perspective */

static void geometry_case(const af_aug_hyp *hyp, int nseeds, double tol, int tight, int *kept,
                          int *total)
{
    synth s;
    synth_init(&s, 128);
    for (int seed = 0; seed < nseeds; seed++) {
        int k = seed % NIMG;
        af_image img;
        REQUIRE(af_image_alloc(&img, s.items[k].img.w, s.items[k].img.h, 3, NULL) == AF_OK);
        memcpy(img.data, s.items[k].img.data, (size_t)img.w * img.h * 3);
        af_boxes b = {0};
        REQUIRE(af_boxes_add_labelled(&b, &s.items[k], 1.0, 0, 0, NULL) == AF_OK);
        af_rng r;
        af_rng_seed3(&r, 7, 0, seed);
        REQUIRE(af_random_perspective(&r, hyp, 0, &img, &b, NULL) == AF_OK);
        CHECK(img.w == s.items[k].img.w && img.h == s.items[k].img.h);
        for (int i = 0; i < b.n; i++)
            CHECK_MSG(box_fits_colour(&img, b.xyxy + 4 * i, b.cls[i], tol, tight), "seed %d", seed);
        for (int i = 0; i < b.n; i++)
            CHECK_MSG(colour_inside_boxes(&img, &b, b.cls[i], tol), "seed %d", seed);
        *kept += b.n;
        *total += NRECT;
        af_boxes_free(&b);
        af_image_free(&img);
    }
    synth_free(&s);
}

static void test_affine_geometry(void)
{
    af_aug_hyp h;
    af_aug_hyp_default(&h);
    int kept = 0, total = 0;
    geometry_case(&h, 24, 1.5, 1, &kept, &total); /* translate 0.1, scale 0.5 */
    CHECK(kept > total / 2);
    h.degrees = 30;
    h.shear = 8;
    kept = total = 0;
    geometry_case(&h, 24, 3.0, 0, &kept, &total);
    CHECK(kept > total / 2);
    h.perspective = 0.0008f;
    kept = total = 0;
    geometry_case(&h, 24, 3.0, 0, &kept, &total);
    CHECK(kept > total / 2);
}

static void test_affine_matrix(void)
{
    /* rotation by +90 degrees about the centre of a 100x60 input into a 100x60 output with
     * T = (0.5, 0.5): cv2's counter-clockwise (y down) rotation maps (x, y) ->
     * (y - 30 + 50, -(x - 50) + 30) */
    af_affine_draw d = {0, 0, 90, 1, 0, 0, 0.5, 0.5};
    float M[9];
    af_affine_matrix(&d, 100, 60, 100, 60, M);
    double x = 80, y = 10;
    CHECK_NEAR(M[0] * x + M[1] * y + M[2], y - 30 + 50, 1e-4);
    CHECK_NEAR(M[3] * x + M[4] * y + M[5], -(x - 50) + 30, 1e-4);
    CHECK_NEAR(M[6], 0, 0);
    CHECK_NEAR(M[8], 1, 0);
    /* order T S R P C: shear applied after scaling: x' = s x + tan(sh) s y */
    af_affine_draw e = {0, 0, 0, 2, 45, 0, 0, 0};
    af_affine_matrix(&e, 0, 0, 10, 10, M);
    CHECK_NEAR(M[0], 2, 1e-6);
    CHECK_NEAR(M[1], 2, 1e-6);
    CHECK_NEAR(M[4], 2, 1e-6);
    /* composition order T @ S @ R @ P @ C: 90 degrees, shear x 45 degrees, 100x60 -> 100x60,
     * T = (50, 30): S R = [[1,1],[0,1]] [[0,1],[-1,0]] = [[-1,1],[-1,0]], translation
     * (50, 30) + S R (-50, -30) = (70, 80) (R @ S would give [[0,1],[-1,-1]]) */
    af_affine_draw f = {0, 0, 90, 1, 45, 0, 0.5, 0.5};
    af_affine_matrix(&f, 100, 60, 100, 60, M);
    const float wantf[9] = {-1, 1, 70, -1, 0, 80, 0, 0, 1};
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(M[i], wantf[i], 1e-4);
    /* P sits right after C: the bottom row is P @ C's, [px, py, 1 - px w/2 - py h/2] */
    af_affine_draw g = {0.001, -0.002, 10, 1.2, 3, -4, 0.4, 0.6};
    af_affine_matrix(&g, 100, 60, 80, 90, M);
    CHECK_NEAR(M[6], 0.001, 1e-7);
    CHECK_NEAR(M[7], -0.002, 1e-7);
    CHECK_NEAR(M[8], 1 - 0.001 * 50 + 0.002 * 30, 1e-6);
    /* a forward translation by (+3, +2) moves content right/down in the warp */
    af_image src, dst = {0};
    REQUIRE(af_image_alloc(&src, 8, 6, 3, NULL) == AF_OK);
    memset(src.data, 0, 8 * 6 * 3);
    src.data[(2 * 8 + 1) * 3] = 200; /* red pixel at (1, 2) */
    double T[6] = {1, 0, 3, 0, 1, 2};
    REQUIRE(af_warp_affine(&src, T, 8, 6, 114, &dst, NULL) == AF_OK);
    CHECK(dst.data[(4 * 8 + 4) * 3] == 200);
    CHECK(dst.data[0] == 114 && dst.data[(5 * 8 + 7) * 3] == 0); /* border / content */
    af_image_free(&dst);
    double P[9] = {1, 0, 3, 0, 1, 2, 0, 0, 1};
    REQUIRE(af_warp_perspective(&src, P, 8, 6, 114, &dst, NULL) == AF_OK);
    CHECK(dst.data[(4 * 8 + 4) * 3] == 200);
    af_image_free(&dst);
    /* half-pixel shift: bilinear mean of two neighbours */
    memset(src.data, 0, 8 * 6 * 3);
    src.data[(2 * 8 + 1) * 3] = 200;
    double H[6] = {1, 0, 0.5, 0, 1, 0};
    REQUIRE(af_warp_affine(&src, H, 8, 6, 114, &dst, NULL) == AF_OK);
    CHECK(dst.data[(2 * 8 + 1) * 3] == 100 && dst.data[(2 * 8 + 2) * 3] == 100);
    af_image_free(&dst);
    af_image_free(&src);
}

static void test_warp_vs_cv2(void)
{
    /* 7x5 pattern (x*37 + y*59 + c*83) % 256 warped into 8x6 with border 114; expected bytes
     * from cv2 4.6 warpAffine (getRotationMatrix2D((3.2, 2.1), 17, 1.3) + (0.7, -0.4)) and
     * warpPerspective (the matrix P below), INTER_LINEAR, BORDER_CONSTANT */
    static const uint8_t want_aff[144] = {
        29,  110, 190, 64,  147, 182, 107, 190, 134, 146, 229, 65,  187, 123, 97,  204, 55,
        138, 165, 94,  177, 68,  137, 220, 61,  144, 135, 100, 183, 26,  141, 185, 51,  181,
        168, 91,  155, 107, 131, 47,  90,  173, 47,  130, 199, 87,  170, 181, 94,  177, 112,
        135, 218, 45,  177, 86,  87,  202, 44,  127, 133, 84,  167, 48,  124, 207, 82,  165,
        110, 123, 203, 33,  130, 165, 40,  171, 150, 81,  210, 85,  120, 197, 78,  161, 44,
        119, 179, 77,  160, 163, 118, 201, 91,  157, 204, 67,  161, 40,  88,  187, 32,  115,
        151, 74,  157, 132, 114, 192, 83,  154, 81,  110, 190, 22,  131, 193, 63,  139, 180,
        94,  174, 72,  121, 170, 67,  150, 28,  103, 179, 67,  124, 181, 96,  133, 109, 111,
        129, 92,  114, 114, 114, 114, 114, 114};
    static const uint8_t want_per[144] = {
        76,  109, 143, 84,  125, 167, 99,  146, 139, 120, 175, 61,  146, 154, 81,  180, 40,
        107, 184, 72,  126, 114, 114, 114, 41,  124, 161, 80,  163, 110, 119, 202, 104, 159,
        213, 69,  198, 75,  108, 225, 66,  149, 34,  106, 187, 114, 114, 114, 96,  179, 105,
        134, 192, 44,  172, 95,  82,  211, 110, 121, 63,  83,  161, 60,  119, 202, 76,  159,
        242, 108, 129, 143, 149, 128, 59,  187, 134, 97,  225, 58,  135, 120, 90,  173, 61,
        129, 212, 85,  168, 111, 125, 208, 43,  131, 161, 86,  191, 26,  109, 138, 63,  146,
        144, 99,  182, 89,  139, 117, 94,  177, 76,  133, 216, 70,  174, 175, 84,  178, 52,
        113, 213, 73,  140, 74,  99,  159, 71,  120, 169, 93,  135, 112, 110, 144, 74,  121,
        144, 95,  124, 134, 108, 119, 109, 114};
    af_image src, dst = {0};
    REQUIRE(af_image_alloc(&src, 7, 5, 3, NULL) == AF_OK);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++)
            for (int c = 0; c < 3; c++)
                src.data[(y * 7 + x) * 3 + c] = (uint8_t)((x * 37 + y * 59 + c * 83) % 256);
    const double A[6] = {1.2431961827519462,  0.3800832161395578, -0.8764025140482368,
                         -0.3800832161395578, 1.2431961827519462, 0.30555434918427327};
    REQUIRE(af_warp_affine(&src, A, 8, 6, 114, &dst, NULL) == AF_OK);
    int diff = 0;
    for (int i = 0; i < 144; i++)
        diff += dst.data[i] != want_aff[i];
    CHECK_MSG(diff == 0, "%d bytes differ from cv2.warpAffine", diff);
    af_image_free(&dst);
    const double P[9] = {1.1, 0.12, -0.5, -0.08, 0.95, 0.6, 0.01, -0.02, 1.0};
    REQUIRE(af_warp_perspective(&src, P, 8, 6, 114, &dst, NULL) == AF_OK);
    diff = 0;
    for (int i = 0; i < 144; i++)
        diff += dst.data[i] != want_per[i];
    CHECK_MSG(diff == 0, "%d bytes differ from cv2.warpPerspective", diff);
    af_image_free(&dst);
    af_image_free(&src);
}

/* ---------------------------------------------------------------- full pipeline */

static af_aug_hyp hyp_nohsv(void)
{
    af_aug_hyp h;
    af_aug_hyp_default(&h);
    h.hsv_h = h.hsv_s = h.hsv_v = 0;
    return h;
}

static void check_sample_geometry(const af_sample *smp, double tol, int tight, const char *what,
                                  int idx)
{
    af_boxes b;
    sample_to_boxes(smp, &b);
    for (int i = 0; i < b.n; i++) {
        CHECK_MSG(b.cls[i] >= 0 && b.cls[i] < NCLS, "%s %d", what, idx);
        for (int j = 0; j < 4; j++)
            CHECK(smp->xywhn[4 * i + j] >= 0 && smp->xywhn[4 * i + j] <= 1);
        CHECK_MSG(box_fits_colour(&smp->img, b.xyxy + 4 * i, b.cls[i], tol, tight), "%s %d box %d",
                  what, idx, i);
    }
    af_boxes_free(&b);
}

static void test_augment_mosaic(void)
{
    synth s;
    synth_init(&s, 128);
    af_aug_hyp h = hyp_nohsv();
    int total = 0, multi = 0;
    for (int idx = 0; idx < 24; idx++) {
        af_sample smp;
        af_error err = {0};
        s.calls = 0;
        REQUIRE(af_augment(synth_load, &s, NIMG, idx % NIMG, 128, &h, 1, 99, idx / NIMG, &smp,
                           &err) == AF_OK);
        CHECK(s.calls == 4);
        CHECK(smp.img.w == 128 && smp.img.h == 128 && smp.img.c == 3);
        check_sample_geometry(&smp, 1.5, 1, "mosaic", idx);
        /* content from several dataset images: count the images whose colours show */
        int seen = 0;
        for (int k = 0; k < NIMG; k++) {
            int any = 0;
            for (int j = 0; j < NRECT; j++) {
                uint8_t col[3];
                palette(NRECT * k + j, col);
                any |= count_colour(&smp.img, col) > 0;
            }
            seen += any;
        }
        multi += seen >= 2;
        total += smp.n;
        af_sample_free(&smp);
    }
    CHECK(multi >= 20);
    CHECK(total > 24);
    synth_free(&s);
}

static void test_augment_options_geometry(void)
{
    synth s;
    synth_init(&s, 128);
    s.copy = 1; /* owned copies: freed by af_augment */
    af_aug_hyp h = hyp_nohsv();
    h.degrees = 20;
    h.shear = 5;
    h.perspective = 0.0005f;
    h.flipud = 0.5f;
    for (int idx = 0; idx < 12; idx++) {
        af_sample smp;
        REQUIRE(af_augment(synth_load, &s, NIMG, idx % NIMG, 128, &h, 1, 5, idx, &smp, NULL) ==
                AF_OK);
        check_sample_geometry(&smp, 3.0, 0, "options", idx);
        af_sample_free(&smp);
        REQUIRE(af_augment(synth_load, &s, NIMG, idx % NIMG, 128, &h, 0, 5, idx, &smp, NULL) ==
                AF_OK);
        check_sample_geometry(&smp, 3.0, 0, "options/no mosaic", idx);
        af_sample_free(&smp);
    }
    synth_free(&s);
}

/* No hsv, translate, scale or flips: the affine step is the identity. */
static af_aug_hyp hyp_identity(void)
{
    af_aug_hyp h = hyp_nohsv();
    h.translate = 0;
    h.scale = 0;
    h.fliplr = 0;
    return h;
}

static void test_augment_no_mosaic_letterbox(void)
{
    /* close_mosaic path with translate = scale = 0 and no flips: M == I, so the sample is
     * exactly LetterBox's output and the labels are shifted by the half paddings */
    synth s;
    synth_init(&s, 128);
    af_aug_hyp h = hyp_identity();
    for (int k = 0; k < 2; k++) {
        af_sample smp;
        s.calls = 0;
        REQUIRE(af_augment(synth_load, &s, NIMG, k, 128, &h, 0, 1, 0, &smp, NULL) == AF_OK);
        CHECK(s.calls == 1);
        const af_labelled *l = &s.items[k];
        af_letterbox lb;
        af_letterbox_plan(l->img.h, l->img.w, 128, 128, 32, 0, 1, 1, &lb);
        af_image ref = {0};
        REQUIRE(af_letterbox_apply(&l->img, &lb, 114, &ref, NULL) == AF_OK);
        CHECK(smp.img.w == 128 && smp.img.h == 128);
        CHECK(!memcmp(ref.data, smp.img.data, 128 * 128 * 3));
        REQUIRE(smp.n == NRECT);
        double padw = (128 - l->img.w) / 2.0, padh = (128 - l->img.h) / 2.0;
        for (int j = 0; j < NRECT; j++) {
            CHECK(smp.cls[j] == l->cls[j]);
            CHECK_NEAR(smp.xywhn[4 * j] * 128, l->xywhn[4 * j] * l->img.w + padw, 1e-3);
            CHECK_NEAR(smp.xywhn[4 * j + 1] * 128, l->xywhn[4 * j + 1] * l->img.h + padh, 1e-3);
            CHECK_NEAR(smp.xywhn[4 * j + 2] * 128, l->xywhn[4 * j + 2] * l->img.w, 1e-3);
            CHECK_NEAR(smp.xywhn[4 * j + 3] * 128, l->xywhn[4 * j + 3] * l->img.h, 1e-3);
        }
        af_image_free(&ref);
        af_sample_free(&smp);
    }
    /* the same with the default ranges: still one image, geometry right */
    af_aug_hyp d = hyp_nohsv();
    for (int k = 0; k < NIMG; k++) {
        af_sample smp;
        s.calls = 0;
        REQUIRE(af_augment(synth_load, &s, NIMG, k, 128, &d, 0, 3, 1, &smp, NULL) == AF_OK);
        CHECK(s.calls == 1);
        check_sample_geometry(&smp, 1.5, 1, "letterbox", k);
        af_sample_free(&smp);
    }
    synth_free(&s);
}

/* ultralytics 8.3's LetterBox (YOLO11 training, labels_pad_rounded) moves the labels by
 * its rounded padding (left, top), 8.1.9's by the unrounded half padding; images of
 * side 126 are resized by 128/126 into odd paddings, where the two differ. */
static void test_augment_no_mosaic_label_padding(void)
{
    synth s;
    synth_init(&s, 126);
    af_aug_hyp h = hyp_identity();
    int differ = 0;
    for (int kr = 0; kr < 2 * NIMG; kr++) {
        int k = kr % NIMG;
        h.labels_pad_rounded = kr >= NIMG;
        af_sample smp;
        REQUIRE(af_augment(synth_load, &s, NIMG, k, 128, &h, 0, 1, 0, &smp, NULL) == AF_OK);
        const af_labelled *l = &s.items[k];
        af_letterbox lb;
        af_letterbox_plan(l->img.h, l->img.w, 128, 128, 32, 0, 1, 1, &lb);
        double padw = (128 - lb.new_w) / 2.0, padh = (128 - lb.new_h) / 2.0;
        differ += padw != lb.left || padh != lb.top;
        if (h.labels_pad_rounded) {
            padw = lb.left;
            padh = lb.top;
        }
        double sw = l->img.w * lb.ratio, sh = l->img.h * lb.ratio;
        REQUIRE(smp.n == NRECT);
        for (int j = 0; j < NRECT; j++) {
            CHECK_NEAR(smp.xywhn[4 * j] * 128, l->xywhn[4 * j] * sw + padw, 1e-3);
            CHECK_NEAR(smp.xywhn[4 * j + 1] * 128, l->xywhn[4 * j + 1] * sh + padh, 1e-3);
        }
        af_sample_free(&smp);
    }
    CHECK(differ > 0);
    synth_free(&s);
}

static void test_augment_flips(void)
{
    /* the flip draws happen whatever p is, so p = 1 vs p = 0 with one seed gives the mirror */
    synth s;
    synth_init(&s, 128);
    af_aug_hyp h0 = hyp_nohsv(), h1 = hyp_nohsv();
    h0.fliplr = 0;
    h1.fliplr = 1;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            h1.fliplr = 0;
            h1.flipud = 1;
        }
        af_sample a, b;
        REQUIRE(af_augment(synth_load, &s, NIMG, 2, 128, &h0, 1, 11, 0, &a, NULL) == AF_OK);
        REQUIRE(af_augment(synth_load, &s, NIMG, 2, 128, &h1, 1, 11, 0, &b, NULL) == AF_OK);
        REQUIRE(a.n == b.n && a.n > 0);
        int bad = 0;
        for (int y = 0; y < 128; y++)
            for (int x = 0; x < 128; x++) {
                int fx = pass == 0 ? 127 - x : x, fy = pass == 0 ? y : 127 - y;
                bad += memcmp(a.img.data + ((size_t)y * 128 + x) * 3,
                              b.img.data + ((size_t)fy * 128 + fx) * 3, 3) != 0;
            }
        CHECK(bad == 0);
        for (int i = 0; i < a.n; i++) {
            CHECK(a.cls[i] == b.cls[i]);
            int ax = pass == 0 ? 0 : 1;
            CHECK_NEAR(b.xywhn[4 * i + ax], 1.0 - a.xywhn[4 * i + ax], 1e-6);
            CHECK_NEAR(b.xywhn[4 * i + 1 - ax], a.xywhn[4 * i + 1 - ax], 0);
            CHECK_NEAR(b.xywhn[4 * i + 2], a.xywhn[4 * i + 2], 1e-6);
            CHECK_NEAR(b.xywhn[4 * i + 3], a.xywhn[4 * i + 3], 1e-6);
        }
        check_sample_geometry(&b, 1.5, 1, "flip", pass);
        af_sample_free(&a);
        af_sample_free(&b);
    }
    /* direct flips on a 3x2 image */
    af_image im;
    REQUIRE(af_image_alloc(&im, 3, 2, 3, NULL) == AF_OK);
    for (int i = 0; i < 18; i++)
        im.data[i] = (uint8_t)i;
    af_boxes b = {0};
    const float q[4] = {0.5f, 0.25f, 2, 1.5f};
    af_boxes_push(&b, 0, q, NULL);
    af_flip_lr(&im, &b);
    CHECK(im.data[0] == 6 && im.data[6] == 0 && im.data[9] == 15 && im.data[3] == 3);
    CHECK(b.xyxy[0] == 1 && b.xyxy[2] == 2.5f && b.xyxy[1] == 0.25f);
    af_flip_ud(&im, &b);
    CHECK(im.data[0] == 15 && im.data[9] == 6);
    CHECK(b.xyxy[1] == 0.5f && b.xyxy[3] == 1.75f);
    af_boxes_free(&b);
    af_image_free(&im);
    synth_free(&s);
}

static void test_augment_mixup(void)
{
    uint8_t pa[6] = {0, 255, 100, 7, 200, 1}, pb[6] = {255, 0, 100, 8, 100, 254};
    af_image a = {2, 1, 3, pa}, b = {2, 1, 3, pb};
    REQUIRE(af_mixup_blend(&a, &b, 0.3, NULL) == AF_OK);
    /* trunc(a * 0.3 + b * 0.7) */
    const uint8_t want[6] = {178, 76, 100, 7, 130, 178};
    CHECK(!memcmp(pa, want, 6));
    uint8_t pc[3] = {0};
    af_image c = {1, 1, 3, pc};
    CHECK(af_mixup_blend(&a, &c, 0.5, NULL) == AF_E_ARG);

    /* mixup = 1 vs 0 with one seed: the first pre_transform is the same, so the no-mixup
     * labels are a prefix of the mixup labels and the image is a blend */
    synth s;
    synth_init(&s, 128);
    af_aug_hyp h0 = hyp_nohsv(), h1 = hyp_nohsv();
    h0.fliplr = h1.fliplr = 0;
    h1.mixup = 1;
    int grew = 0;
    for (int idx = 0; idx < 6; idx++) {
        af_sample x, y;
        s.calls = 0;
        REQUIRE(af_augment(synth_load, &s, NIMG, idx, 128, &h1, 1, 21, 0, &y, NULL) == AF_OK);
        CHECK(s.calls == 8);
        REQUIRE(af_augment(synth_load, &s, NIMG, idx, 128, &h0, 1, 21, 0, &x, NULL) == AF_OK);
        REQUIRE(y.n >= x.n);
        CHECK(!memcmp(x.cls, y.cls, sizeof(int) * (size_t)x.n));
        CHECK(!memcmp(x.xywhn, y.xywhn, sizeof(float) * 4 * (size_t)x.n));
        grew += y.n > x.n;
        CHECK(memcmp(x.img.data, y.img.data, 128 * 128 * 3) != 0);
        /* r ~ Beta(32,32) in (0.2, 0.8): a pixel moves by at most 0.8 * 255 */
        int far = 0;
        for (size_t i = 0; i < 128 * 128 * 3; i++)
            far += abs(x.img.data[i] - y.img.data[i]) > 205;
        CHECK(far == 0);
        af_sample_free(&x);
        af_sample_free(&y);
        /* mixup is off while mosaic is closed */
        s.calls = 0;
        REQUIRE(af_augment(synth_load, &s, NIMG, idx, 128, &h1, 0, 21, 0, &y, NULL) == AF_OK);
        CHECK(s.calls == 1);
        af_sample_free(&y);
    }
    CHECK(grew >= 4);
    synth_free(&s);
}

static void test_augment_determinism(void)
{
    synth s;
    synth_init(&s, 128);
    af_aug_hyp h;
    af_aug_hyp_default(&h);
    h.mixup = 0.5f;
    h.degrees = 5;
    af_sample a, b, c, d;
    REQUIRE(af_augment(synth_load, &s, NIMG, 3, 128, &h, 1, 1234, 7, &a, NULL) == AF_OK);
    s.copy = 1; /* a different loader ownership mode must not change anything */
    REQUIRE(af_augment(synth_load, &s, NIMG, 3, 128, &h, 1, 1234, 7, &b, NULL) == AF_OK);
    REQUIRE(af_augment(synth_load, &s, NIMG, 4, 128, &h, 1, 1234, 7, &c, NULL) == AF_OK);
    REQUIRE(af_augment(synth_load, &s, NIMG, 3, 128, &h, 1, 1234, 8, &d, NULL) == AF_OK);
    CHECK(a.n == b.n && !memcmp(a.img.data, b.img.data, 128 * 128 * 3));
    CHECK(!memcmp(a.cls, b.cls, sizeof(int) * (size_t)a.n));
    CHECK(!memcmp(a.xywhn, b.xywhn, sizeof(float) * 4 * (size_t)a.n));
    CHECK(memcmp(a.img.data, c.img.data, 128 * 128 * 3) != 0);
    CHECK(memcmp(a.img.data, d.img.data, 128 * 128 * 3) != 0);
    af_sample_free(&a);
    af_sample_free(&b);
    af_sample_free(&c);
    af_sample_free(&d);
    synth_free(&s);
}

static void test_augment_errors_and_collate(void)
{
    synth s;
    synth_init(&s, 64);
    af_aug_hyp h;
    af_aug_hyp_default(&h);
    af_sample smp;
    af_error err = {0};
    CHECK(af_augment(synth_load, &s, NIMG, NIMG, 64, &h, 1, 0, 0, &smp, &err) == AF_E_ARG);
    CHECK(af_augment(synth_load, &s, NIMG, 0, 63, &h, 1, 0, 0, &smp, &err) == AF_E_ARG);
    CHECK(af_augment(NULL, &s, NIMG, 0, 64, &h, 1, 0, 0, &smp, &err) == AF_E_ARG);
    af_aug_hyp bad = h;
    bad.fliplr = 1.5f;
    CHECK(af_augment(synth_load, &s, NIMG, 0, 64, &bad, 1, 0, 0, &smp, &err) == AF_E_ARG);
    CHECK(strstr(err.msg, "fliplr") != NULL);
    bad = h;
    bad.degrees = NAN;
    CHECK(af_augment(synth_load, &s, NIMG, 0, 64, &bad, 1, 0, 0, &smp, &err) == AF_E_ARG);
    CHECK(af_augment(fail_load, &s, NIMG, 0, 64, &h, 1, 0, 0, &smp, &err) == AF_E_IO);
    CHECK(smp.img.data == NULL && smp.n == 0);
    s.copy = 1;
    s.calls = 0;
    s.fail_after = 2; /* the third load (a mosaic partner) fails: nothing may leak */
    CHECK(af_augment(synth_load, &s, NIMG, 0, 64, &h, 1, 0, 0, &smp, &err) == AF_E_IO);
    s.fail_after = 0;
    af_sample v[3];
    for (int i = 0; i < 3; i++)
        REQUIRE(af_augment(synth_load, &s, NIMG, i, 64, &h, 1, 9, 0, &v[i], NULL) == AF_OK);
    af_batch bt;
    REQUIRE(af_collate(v, 3, &bt, NULL) == AF_OK);
    CHECK(bt.b == 3 && bt.imgsz == 64 && bt.n == v[0].n + v[1].n + v[2].n);
    int t = 0;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < v[i].n; k++, t++) {
            CHECK(bt.batch_idx[t] == (float)i && bt.cls[t] == (float)v[i].cls[k]);
            CHECK(!memcmp(bt.bboxes + 4 * t, v[i].xywhn + 4 * k, 4 * sizeof(float)));
        }
    /* CHW RGB / 255 */
    size_t plane = 64 * 64;
    CHECK_NEAR(bt.img[2 * 3 * plane + 1 * plane + 65], v[2].img.data[65 * 3 + 1] / 255.0f, 0);
    CHECK_NEAR(bt.img[0 * 3 * plane + 2 * plane + 7], v[0].img.data[7 * 3 + 2] / 255.0f, 0);
    af_batch_free(&bt);
    for (int i = 0; i < 3; i++)
        af_sample_free(&v[i]);
    synth_free(&s);
}

/* Throughput of the default 640 mosaic pipeline on one thread (printed, not asserted). */
static void test_bench_640(void)
{
    synth s;
    synth_init(&s, 640);
    af_aug_hyp h;
    af_aug_hyp_default(&h);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n = 0;
    double el = 0;
    while (n < 200 && el < 1.0) {
        af_sample smp;
        REQUIRE(af_augment(synth_load, &s, NIMG, n % NIMG, 640, &h, 1, 77, 0, &smp, NULL) ==
                AF_OK);
        af_sample_free(&smp);
        n++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }
    printf("  bench: 640 mosaic + affine + hsv + flip: %.1f samples/s on one thread (%d in %.2fs)\n",
           n / el, n, el);
    synth_free(&s);
}

int main(void)
{
    RUN(test_rng);
    RUN(test_hsv_cv2_values);
    RUN(test_hsv_roundtrip);
    RUN(test_hsv_luts_and_apply);
    RUN(test_box_candidates);
    RUN(test_mosaic_placement);
    RUN(test_mosaic_four_images);
    RUN(test_affine_matrix);
    RUN(test_warp_vs_cv2);
    RUN(test_affine_geometry);
    RUN(test_augment_mosaic);
    RUN(test_augment_options_geometry);
    RUN(test_augment_no_mosaic_letterbox);
    RUN(test_augment_no_mosaic_label_padding);
    RUN(test_augment_flips);
    RUN(test_augment_mixup);
    RUN(test_augment_determinism);
    RUN(test_augment_errors_and_collate);
    RUN(test_bench_640);
    return t_summary();
}
