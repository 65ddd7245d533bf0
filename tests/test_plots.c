/* Validation plots (src/eval/plot.h): curves, confusion matrix, val_batch mosaics.
 * Each plot is rendered from known synthetic data, read back with the project's decoder
 * and checked where the picture is determined by the data: sizes, white background,
 * the mean curve where its points map through the axes found in the picture (spines),
 * the legend, the ordering of cell colours, tiles and boxes. */
#include <stdint.h>
#include <unistd.h>

#include "eval/plot.h"
#include "testutil.h"

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static const uint8_t *px(const af_image *im, int x, int y)
{
    return im->data + ((size_t)y * im->w + x) * 3;
}

static int is_white(const uint8_t *p)
{
    return p[0] >= 250 && p[1] >= 250 && p[2] >= 250;
}

static int is_dark(const uint8_t *p)
{
    return p[0] < 90 && p[1] < 90 && p[2] < 90;
}

static int is_blue(const uint8_t *p)
{
    return p[2] > 200 && p[0] < 90 && p[1] < 90;
}

static double luminance(const uint8_t *p)
{
    return 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
}

/* Any pixel within r of (x, y) satisfying pred. */
static int near_any(const af_image *im, double x, double y, int r, int (*pred)(const uint8_t *))
{
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            int xx = (int)(x + 0.5) + dx, yy = (int)(y + 0.5) + dy;
            if (xx >= 0 && yy >= 0 && xx < im->w && yy < im->h && pred(px(im, xx, yy)))
                return 1;
        }
    return 0;
}

/* Centres of the first and last runs of 1s in flags[0..n). */
static int first_last_runs(const char *flags, int n, double *c0, double *c1)
{
    int a = 0, b = n - 1;
    while (a < n && !flags[a])
        a++;
    while (b >= 0 && !flags[b])
        b--;
    if (a >= n || b - a < n / 4)
        return 0;
    int ae = a, bs = b;
    while (ae + 1 < n && flags[ae + 1])
        ae++;
    while (bs - 1 >= 0 && flags[bs - 1])
        bs--;
    *c0 = (a + ae) / 2.0;
    *c1 = (bs + b) / 2.0;
    return 1;
}

/* The axes box from the picture: the first and last columns / rows that are dark over
 * more than 40% of the image (the spines). */
static int find_spines(const af_image *im, double *x0, double *x1, double *y0, double *y1)
{
    char *fx = calloc((size_t)im->w, 1), *fy = calloc((size_t)im->h, 1);
    int ok = fx && fy;
    for (int x = 0; ok && x < im->w; x++) {
        int n = 0;
        for (int y = 0; y < im->h; y++)
            n += is_dark(px(im, x, y));
        fx[x] = n > im->h * 2 / 5;
    }
    for (int y = 0; ok && y < im->h; y++) {
        int n = 0;
        for (int x = 0; x < im->w; x++)
            n += is_dark(px(im, x, y));
        fy[y] = n > im->w * 2 / 5;
    }
    ok = ok && first_last_runs(fx, im->w, x0, x1) && first_last_runs(fy, im->h, y0, y1);
    free(fx);
    free(fy);
    return ok;
}

static void check_corners_white(const af_image *im)
{
    CHECK(is_white(px(im, 0, 0)));
    CHECK(is_white(px(im, im->w - 1, 0)));
    CHECK(is_white(px(im, 0, im->h - 1)));
    CHECK(is_white(px(im, im->w - 1, im->h - 1)));
}

static double xs[1000];

static void init_x(void)
{
    for (int i = 0; i < 1000; i++)
        xs[i] = i / 999.0; /* np.linspace(0, 1, 1000) */
}

/* ---- curves ---- */

static void test_pr_curve(void)
{
    init_x();
    static double y[2000];
    for (int i = 0; i < 1000; i++) {
        y[i] = xs[i] < 0.5 ? 0.8 : 0.3;
        y[1000 + i] = y[i];
    }
    const char *names[2] = {"face", "cat"};
    const double ap[2] = {0.9, 0.6};
    af_error e;
    const char *path = tmp_path("PR_curve.png");
    REQUIRE(af_plot_curve(path, AF_PLOT_PR, xs, y, 2, 1000, names, ap, &e) == AF_OK);
    af_image im;
    REQUIRE(af_image_load(path, NULL, &im, &e) == AF_OK);
    CHECK(im.w == 2250 && im.h == 1500 && im.c == 3);
    check_corners_white(&im);
    double x0, x1, y0, y1;
    if (find_spines(&im, &x0, &x1, &y0, &y1)) {
        CHECK(x1 - x0 > 0.45 * im.w && y1 - y0 > 0.6 * im.h);
        /* the legend sits right of the axes: room is left for it */
        CHECK(x1 < 0.8 * im.w);
        const double on[5][2] = {{0.1, 0.8}, {0.25, 0.8}, {0.4, 0.8}, {0.6, 0.3}, {0.9, 0.3}};
        for (int k = 0; k < 5; k++) {
            double cx = x0 + on[k][0] * (x1 - x0), cy = y1 - on[k][1] * (y1 - y0);
            CHECK_MSG(is_blue(px(&im, (int)cx, (int)cy)), "mean curve at (%g, %g)", on[k][0],
                      on[k][1]);
        }
        const double off[3][2] = {{0.25, 0.5}, {0.7, 0.7}, {0.2, 0.1}};
        for (int k = 0; k < 3; k++) {
            double cx = x0 + off[k][0] * (x1 - x0), cy = y1 - off[k][1] * (y1 - y0);
            CHECK_MSG(is_white(px(&im, (int)cx, (int)cy)), "background at (%g, %g)", off[k][0],
                      off[k][1]);
        }
        /* legend right of the axes, near its top: text, a blue and an orange handle */
        int dark = 0, blue = 0, orange = 0;
        for (int yy = (int)y0; yy < (int)(y0 + 0.3 * (y1 - y0)); yy++)
            for (int xx = (int)x1 + 20; xx < im.w; xx++) {
                const uint8_t *p = px(&im, xx, yy);
                dark += is_dark(p);
                blue += is_blue(p);
                orange += p[0] > 230 && p[1] > 100 && p[1] < 150 && p[2] < 60;
            }
        CHECK_MSG(dark > 500 && blue > 200 && orange > 50, "legend: %d dark, %d blue, %d orange",
                  dark, blue, orange);
        /* tick labels below the axis at 0.0, 0.2, ..., 1.0 */
        for (int k = 0; k <= 5; k++) {
            double cx = x0 + k * 0.2 * (x1 - x0);
            int found = 0;
            for (int yy = (int)y1 + 20; yy < (int)y1 + 90 && !found; yy++)
                found = near_any(&im, cx, yy, 20, is_dark);
            CHECK_MSG(found, "x tick label %d", k);
        }
    } else {
        CHECK_MSG(0, "no axes spines found");
    }
    af_image_free(&im);
}

static void test_f1_curve_grey(void)
{
    init_x();
    /* three classes without names: thin grey lines; the mean is 0.6 everywhere */
    static double y[3000];
    for (int i = 0; i < 1000; i++) {
        y[i] = 0.2;
        y[1000 + i] = 0.6;
        y[2000 + i] = 1.0;
    }
    af_error e;
    const char *path = tmp_path("F1_curve.png");
    REQUIRE(af_plot_curve(path, AF_PLOT_F1, xs, y, 3, 1000, NULL, NULL, &e) == AF_OK);
    af_image im;
    REQUIRE(af_image_load(path, NULL, &im, &e) == AF_OK);
    CHECK(im.w == 2250 && im.h == 1500);
    check_corners_white(&im);
    double x0, x1, y0, y1;
    if (find_spines(&im, &x0, &x1, &y0, &y1)) {
        double cx = x0 + 0.5 * (x1 - x0);
        CHECK(is_blue(px(&im, (int)cx, (int)(y1 - 0.6 * (y1 - y0)))));
        const uint8_t *g = px(&im, (int)cx, (int)(y1 - 0.2 * (y1 - y0)));
        CHECK_MSG(g[0] > 100 && g[0] < 160 && abs(g[0] - g[2]) < 10 && abs(g[0] - g[1]) < 10,
                  "grey class curve: %d %d %d", g[0], g[1], g[2]);
    } else {
        CHECK_MSG(0, "no axes spines found");
    }
    af_image_free(&im);
}

static void test_mc_kinds_and_empty(void)
{
    init_x();
    static double y[1000];
    for (int i = 0; i < 1000; i++)
        y[i] = 1 - xs[i];
    const char *names[1] = {"face"};
    af_error e;
    CHECK(af_plot_curve(tmp_path("P_curve.png"), AF_PLOT_P, xs, y, 1, 1000, names, NULL, &e) ==
          AF_OK);
    CHECK(af_plot_curve(tmp_path("R_curve.png"), AF_PLOT_R, xs, y, 1, 1000, names, NULL, &e) ==
          AF_OK);
    /* no class at all: ultralytics plots NaN means */
    CHECK(af_plot_curve(tmp_path("empty.png"), AF_PLOT_F1, xs, NULL, 0, 1000, NULL, NULL, &e) ==
          AF_OK);
    CHECK(af_plot_curve(tmp_path("empty_pr.png"), AF_PLOT_PR, xs, NULL, 0, 1000, NULL, NULL, &e) ==
          AF_OK);
    af_image im;
    if (af_image_load(tmp_path("R_curve.png"), NULL, &im, &e) == AF_OK) {
        CHECK(im.w == 2250 && im.h == 1500);
        af_image_free(&im);
    } else {
        CHECK_MSG(0, "%s", e.msg);
    }
    /* bad arguments */
    CHECK(af_plot_curve(tmp_path("x.png"), AF_PLOT_PR, xs, y, 1, 1000, names, NULL, &e) ==
          AF_E_ARG);
    CHECK(af_plot_curve(tmp_path("x.png"), AF_PLOT_F1, xs, y, -1, 1000, names, NULL, &e) ==
          AF_E_ARG);
    CHECK(af_plot_curve(tmp_path("x.png"), AF_PLOT_F1, xs, y, 1, 0, names, NULL, &e) == AF_E_ARG);
    CHECK(af_plot_curve("/nonexistent-dir/x.png", AF_PLOT_F1, xs, y, 1, 1000, names, NULL, &e) ==
          AF_E_IO);
}

static void test_smooth(void)
{
    /* step 0 -> 1 at index 500: the 51-point box filter ramps over 500-25 .. 500+25 */
    static double y[1000], s[1000];
    for (int i = 0; i < 1000; i++)
        y[i] = i >= 500 ? 1 : 0;
    af_plot_smooth(y, 1000, 0.05, s);
    double worst = 0;
    for (int i = 0; i < 1000; i++) {
        int ones = i + 25 - 500 + 1;
        ones = ones < 0 ? 0 : ones > 51 ? 51 : ones;
        worst = fmax(worst, fabs(s[i] - ones / 51.0));
    }
    CHECK_NEAR(worst, 0, 1e-12);
    /* edges repeat y[0] / y[-1]: a ramp keeps its end values' average */
    for (int i = 0; i < 1000; i++)
        y[i] = i;
    af_plot_smooth(y, 1000, 0.05, s);
    double e0 = 0;
    for (int j = -25; j <= 25; j++)
        e0 += j < 0 ? 0 : j;
    CHECK_NEAR(s[0], e0 / 51, 1e-9);
    CHECK_NEAR(s[500], 500, 1e-9);
    /* n = 10, f = 0.05: round(1.0) // 2 + 1 = 1 point: identity */
    double a[10] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3}, b[10];
    af_plot_smooth(a, 10, 0.05, b);
    for (int i = 0; i < 10; i++)
        CHECK_NEAR(b[i], a[i], 0);
}

static void test_mean_labels(void)
{
    init_x();
    char buf[128];
    const double ap[2] = {0.9, 0.6};
    af_plot_mean_label(buf, sizeof buf, AF_PLOT_PR, xs, NULL, 2, 1000, ap);
    CHECK_MSG(strcmp(buf, "all classes 0.750 mAP@0.5") == 0, "%s", buf);
    /* triangle peak at index 401: smoothed max 1 - 0.002 * 650 / 51 = 0.9745 at x 0.401 */
    static double y[1000];
    for (int i = 0; i < 1000; i++)
        y[i] = 1 - abs(i - 401) * 0.002;
    af_plot_mean_label(buf, sizeof buf, AF_PLOT_F1, xs, y, 1, 1000, NULL);
    CHECK_MSG(strcmp(buf, "all classes 0.97 at 0.401") == 0, "%s", buf);
    /* the mean of two classes, peaks of each at different places */
    static double y2[2000];
    for (int i = 0; i < 1000; i++) {
        y2[i] = i < 600 ? 0.5 : 0.1;
        y2[1000 + i] = 0.3;
    }
    af_plot_mean_label(buf, sizeof buf, AF_PLOT_P, xs, y2, 2, 1000, NULL);
    CHECK_MSG(strcmp(buf, "all classes 0.40 at 0.000") == 0, "%s", buf);
    af_plot_mean_label(buf, sizeof buf, AF_PLOT_R, xs, NULL, 0, 1000, NULL);
    CHECK_MSG(strcmp(buf, "all classes nan at 0.000") == 0, "%s", buf);
    af_plot_mean_label(buf, sizeof buf, AF_PLOT_PR, xs, NULL, 0, 1000, NULL);
    CHECK_MSG(strcmp(buf, "all classes nan mAP@0.5") == 0, "%s", buf);
}

/* ---- confusion matrix ---- */

static int blueish(const uint8_t *p)
{
    return p[2] > 60 && p[2] - p[0] > 30;
}

static int not_white(const uint8_t *p)
{
    return !is_white(p);
}

/* Heatmap square from the picture: the first run of columns with many coloured pixels,
 * and the coloured rows of its left column (no cell of which is blank here). */
static int find_heatmap(const af_image *im, int *hx0, int *hx1, int *hy0, int *hy1)
{
    *hx0 = *hx1 = -1;
    for (int x = 0; x < im->w; x++) {
        int n = 0;
        for (int y = 0; y < im->h; y++)
            n += not_white(px(im, x, y));
        if (n > im->h / 5) {
            if (*hx0 < 0)
                *hx0 = x;
            *hx1 = x;
        } else if (*hx0 >= 0) {
            break;
        }
    }
    if (*hx0 < 0)
        return 0;
    const int cx = *hx0 + (*hx1 - *hx0) / 10; /* clear of the tick label */
    *hy0 = *hy1 = -1;
    for (int y = 0; y < im->h; y++)
        if (not_white(px(im, cx, y))) {
            if (*hy0 < 0)
                *hy0 = y;
            *hy1 = y;
        }
    return *hy0 >= 0;
}

static void check_confusion(const char *name, int normalize, double expect_order[3][2])
{
    const double m[4] = {47, 3, 42, 0}; /* the golden metrics_val48 matrix */
    const char *names[1] = {"face"};
    af_error e;
    const char *path = tmp_path(name);
    REQUIRE(af_plot_confusion(path, m, 1, names, normalize, &e) == AF_OK);
    af_image im;
    REQUIRE(af_image_load(path, NULL, &im, &e) == AF_OK);
    CHECK(im.w == 3000 && im.h == 2250);
    check_corners_white(&im);
    int hx0, hx1, hy0, hy1;
    if (!find_heatmap(&im, &hx0, &hx1, &hy0, &hy1)) {
        CHECK_MSG(0, "no heatmap found");
        af_image_free(&im);
        return;
    }
    const double cw = (hx1 - hx0 + 1) / 2.0, ch = (hy1 - hy0 + 1) / 2.0;
    CHECK_MSG(fabs(cw - ch) < 3, "square cells: %g x %g", cw, ch);
    CHECK(cw > 300);
    double lum[2][2];
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) /* sample off the centre, away from the number */
            lum[r][c] = luminance(px(&im, (int)(hx0 + (c + 0.25) * cw), (int)(hy0 + (r + 0.25) * ch)));
    /* expect_order: cells from darkest to lightest */
    for (int k = 0; k + 1 < 3; k++) {
        int r0 = (int)expect_order[k][0], c0 = (int)expect_order[k][1];
        int r1 = (int)expect_order[k + 1][0], c1 = (int)expect_order[k + 1][1];
        CHECK_MSG(lum[r0][c0] < lum[r1][c1] - 3, "cell (%d,%d) %.1f should be darker than (%d,%d) %.1f",
                  r0, c0, lum[r0][c0], r1, c1, lum[r1][c1]);
    }
    /* background-background is 0: blank (white) */
    CHECK(is_white(px(&im, (int)(hx0 + 1.25 * cw), (int)(hy0 + 1.25 * ch))));
    /* the number is written in the (0, 0) cell: pixels unlike the fill near the centre */
    const uint8_t *fill = px(&im, (int)(hx0 + 0.25 * cw), (int)(hy0 + 0.25 * ch));
    int text = 0;
    for (int y = (int)(hy0 + 0.5 * ch) - 30; y < (int)(hy0 + 0.5 * ch) + 30; y++)
        for (int x = (int)(hx0 + 0.5 * cw) - 60; x < (int)(hx0 + 0.5 * cw) + 60; x++) {
            const uint8_t *p = px(&im, x, y);
            text += abs(p[0] - fill[0]) + abs(p[1] - fill[1]) + abs(p[2] - fill[2]) > 90;
        }
    CHECK_MSG(text > 30, "annotation pixels: %d", text);
    /* colorbar right of the heatmap: dark at its top, light at its bottom */
    int cb = -1;
    for (int x = hx1 + 1; x < im.w && cb < 0; x++)
        if (blueish(px(&im, x, hy0 + 20)))
            cb = x;
    CHECK(cb > hx1 + 20);
    if (cb > 0) {
        CHECK(luminance(px(&im, cb + 5, hy0 + 20)) < 80);
        CHECK(luminance(px(&im, cb + 5, hy1 - 20)) > 230);
    }
    af_image_free(&im);
}

static void test_confusion_normalized(void)
{
    /* columns: face 47/89 = 0.53, 42/89 = 0.47; background 3/3 = 1.00, 0 -> blank */
    double order[3][2] = {{0, 1}, {0, 0}, {1, 0}};
    check_confusion("confusion_matrix_normalized.png", 1, order);
}

static void test_confusion_counts(void)
{
    double order[3][2] = {{0, 0}, {1, 0}, {0, 1}}; /* 47, 42, 3 */
    check_confusion("confusion_matrix.png", 0, order);
}

static void test_confusion_many_classes(void)
{
    /* 80 classes: no annotations, numbers... every label still drawn */
    static double m[81 * 81];
    static char nb[80][16];
    const char *names[80];
    for (int i = 0; i < 80; i++) {
        snprintf(nb[i], sizeof nb[i], "class%d", i);
        names[i] = nb[i];
    }
    for (int i = 0; i < 81 * 81; i++)
        m[i] = i % 82 == 0 ? 50 : (i % 13 == 0 ? 2 : 0);
    af_error e;
    CHECK(af_plot_confusion(tmp_path("cm80.png"), m, 80, names, 1, &e) == AF_OK);
    CHECK(af_plot_confusion(tmp_path("cm80_auto.png"), m, 80, NULL, 0, &e) == AF_OK);
    CHECK(af_plot_confusion(tmp_path("cm0.png"), m, 0, NULL, 1, &e) == AF_OK);
    const double zeros[4] = {0, 0, 0, 0};
    CHECK(af_plot_confusion(tmp_path("cm_empty.png"), zeros, 1, NULL, 1, &e) == AF_OK);
    CHECK(af_plot_confusion(tmp_path("x.png"), m, -1, NULL, 1, &e) == AF_E_ARG);
    CHECK(af_plot_confusion(tmp_path("x.png"), NULL, 1, NULL, 1, &e) == AF_E_ARG);
}

/* ---- mosaics ---- */

static int make_image(af_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    af_error e;
    if (af_image_alloc(im, w, h, 3, &e) != AF_OK)
        return 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        im->data[3 * i] = r;
        im->data[3 * i + 1] = g;
        im->data[3 * i + 2] = b;
    }
    return 1;
}

static int near_rgb(const uint8_t *p, int r, int g, int b, int tol)
{
    return abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol;
}

static void test_mosaic_labels_and_preds(void)
{
    /* 5 images 640x480: ns = 3, scale 1920/3/640 = 1 (no resize), 1920x1440;
     * fs = int((480 + 640) * 3 * 0.01) = 33, lw = round(3.3) = 3 */
    static const uint8_t col[5][3] = {
        {40, 160, 40}, {40, 40, 160}, {160, 160, 40}, {40, 160, 160}, {100, 100, 100}};
    af_image im[5];
    const af_image *ptr[5];
    for (int i = 0; i < 5; i++) {
        REQUIRE(make_image(&im[i], 640, 480, col[i][0], col[i][1], col[i][2]));
        ptr[i] = &im[i];
    }
    const float xy[8] = {100, 150, 400, 400, 450, 100, 600, 300};
    const int cls[2] = {0, 2};
    const float conf[2] = {0.9f, 0.2f};
    af_mosaic_boxes b[5];
    for (int i = 0; i < 5; i++)
        b[i] = (af_mosaic_boxes){2, xy, cls, NULL, "/data/images/some_image.jpg"};
    const char *names[3] = {"face", "cat", "dog"};
    af_error e;
    const char *lp = tmp_path("val_batch0_labels.jpg");
    REQUIRE(af_plot_mosaic(lp, ptr, 5, b, names, 3, &e) == AF_OK);
    for (int i = 0; i < 5; i++)
        b[i].conf = conf;
    const char *pp = tmp_path("val_batch0_pred.jpg");
    REQUIRE(af_plot_mosaic(pp, ptr, 5, b, names, 3, &e) == AF_OK);

    af_image L, P;
    REQUIRE(af_image_load(lp, NULL, &L, &e) == AF_OK);
    if (af_image_load(pp, NULL, &P, &e) != AF_OK) {
        CHECK_MSG(0, "%s", e.msg);
        af_image_free(&L);
        goto out;
    }
    CHECK(L.w == 1920 && L.h == 1440 && P.w == 1920 && P.h == 1440);
    if (L.w == 1920 && L.h == 1440 && P.w == 1920 && P.h == 1440) {
        /* tiles filled column by column: image i at (640 * (i / 3), 480 * (i % 3)) */
        for (int i = 0; i < 5; i++) {
            int ox = 640 * (i / 3), oy = 480 * (i % 3);
            CHECK_MSG(near_rgb(px(&L, ox + 320, oy + 440), col[i][0], col[i][1], col[i][2], 12),
                      "tile %d colour", i);
            /* box 0 (face, palette 0 = FF3838): its left edge, 3 px wide, at x 100..102 */
            CHECK_MSG(near_rgb(px(&L, ox + 101, oy + 300), 0xFF, 0x38, 0x38, 45),
                      "tile %d label box", i);
            CHECK_MSG(near_rgb(px(&P, ox + 101, oy + 300), 0xFF, 0x38, 0x38, 45),
                      "tile %d pred box", i);
            /* box 1 (dog, palette 2 = FF701F): drawn as a label, not as a prediction
             * (conf 0.2 <= 0.25) */
            CHECK_MSG(near_rgb(px(&L, ox + 599, oy + 250), 0xFF, 0x70, 0x1F, 45),
                      "tile %d label box 2", i);
            CHECK_MSG(near_rgb(px(&P, ox + 599, oy + 250), col[i][0], col[i][1], col[i][2], 12),
                      "tile %d pred box 2 hidden", i);
            /* white tile border at the tile's left edge (2 px) */
            if (ox > 0)
                CHECK(near_rgb(px(&L, ox, oy + 240), 255, 255, 255, 30));
            /* the file name, light grey, near the top left */
            int light = 0;
            for (int y = oy + 8; y < oy + 40; y++)
                for (int x = ox + 8; x < ox + 200; x++)
                    light += near_rgb(px(&L, x, y), 220, 220, 220, 40);
            CHECK_MSG(light > 100, "tile %d file name: %d px", i, light);
        }
        /* empty tiles stay white */
        CHECK(near_rgb(px(&L, 640 + 320, 960 + 240), 255, 255, 255, 3));
        CHECK(near_rgb(px(&L, 1280 + 320, 240), 255, 255, 255, 3));
    }
    af_image_free(&L);
    af_image_free(&P);
out:
    for (int i = 0; i < 5; i++)
        af_image_free(&im[i]);
}

static void test_mosaic_resized_and_letterboxed(void)
{
    /* 16 images of 640x640 -> ns 4, scale 0.75, 1920x1920; one of them 320x160 is
     * letterboxed into its 640x640 tile (grey 114 bars above and below) */
    af_image a, small;
    REQUIRE(make_image(&a, 640, 640, 200, 60, 60));
    if (!make_image(&small, 320, 160, 60, 60, 200)) {
        af_image_free(&a);
        REQUIRE(0);
    }
    const af_image *ptr[17];
    for (int i = 0; i < 17; i++)
        ptr[i] = &a;
    ptr[5] = &small;
    af_error e;
    const char *path = tmp_path("val_batch1_labels.png");
    CHECK(af_plot_mosaic(path, ptr, 17, NULL, NULL, 0, &e) == AF_OK);
    af_image im;
    if (af_image_load(path, NULL, &im, &e) == AF_OK) {
        CHECK(im.w == 1920 && im.h == 1920);
        if (im.w == 1920 && im.h == 1920) {
            /* image 5 at column 1, row 1 of 480x480 tiles */
            CHECK(near_rgb(px(&im, 480 + 240, 480 + 240), 60, 60, 200, 2));
            CHECK(near_rgb(px(&im, 480 + 240, 480 + 40), 114, 114, 114, 2));
            CHECK(near_rgb(px(&im, 240, 240), 200, 60, 60, 2));
            CHECK(near_rgb(px(&im, 1440 + 240, 1440 + 240), 200, 60, 60, 2));
        }
        af_image_free(&im);
    } else {
        CHECK_MSG(0, "%s", e.msg);
    }
    /* bad input */
    af_image gray = {4, 4, 1, a.data};
    const af_image *g1[1] = {&gray};
    CHECK(af_plot_mosaic(path, g1, 1, NULL, NULL, 0, &e) == AF_E_ARG);
    CHECK(af_plot_mosaic(path, ptr, 0, NULL, NULL, 0, &e) == AF_E_ARG);
    af_mosaic_boxes bad = {1, NULL, NULL, NULL, NULL};
    CHECK(af_plot_mosaic(path, ptr, 1, &bad, NULL, 0, &e) == AF_E_ARG);
    af_image_free(&a);
    af_image_free(&small);
}

static void remove_dir(void)
{
    static const char *const files[] = {
        "PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png", "empty.png",
        "empty_pr.png", "confusion_matrix.png", "confusion_matrix_normalized.png",
        "cm80.png", "cm80_auto.png", "cm0.png", "cm_empty.png", "val_batch0_labels.jpg",
        "val_batch0_pred.jpg", "val_batch1_labels.png", "x.png"};
    if (getenv("AF_KEEP_PLOTS"))
        return;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(tmp_path(files[i]));
    rmdir(tmpdir);
}

/* results.png from a results.csv in ultralytics' column layout: 2 x 5 panels,
 * the falling box loss drawn in the first panel's blue. */
static void test_results_png(void)
{
    const char *csv = tmp_path("results.csv");
    FILE *f = fopen(csv, "w");
    REQUIRE(f != NULL);
    fprintf(f, "%23s,%23s,%23s,%23s,%23s,%23s,%23s,%23s,%23s,%23s,%23s,%23s,%23s,%23s\n",
            "epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss",
            "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)",
            "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0",
            "lr/pg1", "lr/pg2");
    for (int e = 1; e <= 12; e++)
        fprintf(f, "%23d,%23.5g,%23.5g,%23.5g,%23.5g,%23.5g,%23.5g,%23.5g,%23.5g,%23.5g,%23.5g,"
                   "%23.5g,%23.5g,%23.5g\n",
                e, 3.0 / e, 4.0 / e, 2.0 / e, 0.05 * e, 0.06 * e, 0.07 * e, 0.04 * e, 2.0 / e,
                3.0 / e, 1.5 / e, 0.01, 0.01, 0.01);
    fclose(f);
    af_error e = {0};
    const char *png = tmp_path("results.png");
    REQUIRE(af_plot_results(csv, png, &e) == AF_OK);
    af_image im = {0};
    REQUIRE(af_image_load(png, NULL, &im, &e) == AF_OK);
    CHECK(im.w == 2400 && im.h == 1200);
    /* white corner, and blue (tab:blue 1f77b4) pixels inside the first panel */
    CHECK(im.data[0] == 255 && im.data[1] == 255 && im.data[2] == 255);
    int blue = 0;
    for (int y = 60; y < 540; y++)
        for (int x = 80; x < 470; x++) {
            const uint8_t *p = im.data + ((size_t)y * im.w + x) * 3;
            blue += p[2] > 150 && p[0] < 80 && p[1] > 90 && p[1] < 150;
        }
    CHECK_MSG(blue > 500, "%d blue pixels in the box-loss panel", blue);
    af_image_free(&im);
    CHECK(af_plot_results(tmp_path("missing.csv"), png, &e) == AF_E_IO);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/af_plots_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_smooth);
    RUN(test_mean_labels);
    RUN(test_pr_curve);
    RUN(test_f1_curve_grey);
    RUN(test_mc_kinds_and_empty);
    RUN(test_confusion_normalized);
    RUN(test_confusion_counts);
    RUN(test_confusion_many_classes);
    RUN(test_mosaic_labels_and_preds);
    RUN(test_mosaic_resized_and_letterboxed);
    RUN(test_results_png);
    if (getenv("AF_KEEP_PLOTS"))
        printf("plots kept in %s\n", tmpdir);
    remove_dir();
    return t_summary();
}
