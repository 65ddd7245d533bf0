/* results.png: the training curves of results.csv in ultralytics' layout
 * (utils/plotting.py plot_results: 2 x 5 panels, each column as blue points
 * joined by a line, plus a dotted smoothed curve). */
#define AF_PLOT_INTERNAL
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/plot.h"

#define MAXCOL 32
#define MAXROW 100000

/* the panels, in ultralytics' order (index into the csv columns by name) */
static const char *const panels[10] = {
    "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)",
    "metrics/recall(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss", "metrics/mAP50(B)",
    "metrics/mAP50-95(B)"};

static void trim(char *s)
{
    char *p = s;
    while (*p == ' ')
        p++;
    memmove(s, p, strlen(p) + 1);
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static void frame_and_ticks(af_canvas *cv, const af_axes *a, double font)
{
    cairo_t *cr = cv->cr;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, af_pt(cv, 0.8));
    cairo_rectangle(cr, a->x0, a->y0, a->x1 - a->x0, a->y1 - a->y0);
    cairo_stroke(cr);
    double t[32];
    char lab[32][32];
    af_rgb black = {0, 0, 0};
    int n = af_ticks_auto(a->xmin, a->xmax, t, 32);
    af_ticks_format(t, n, lab);
    for (int i = 0; i < n; i++) {
        double x = af_axes_px(a, t[i]);
        if (x < a->x0 - 0.5 || x > a->x1 + 0.5)
            continue;
        cairo_move_to(cr, x, a->y1);
        cairo_line_to(cr, x, a->y1 + af_pt(cv, 3.5));
        cairo_stroke(cr);
        af_text_draw(cv, lab[i], font, x, a->y1 + af_pt(cv, 5), AF_HA_CENTER, AF_VA_TOP, 0,
                     black, NULL);
    }
    n = af_ticks_auto(a->ymin, a->ymax, t, 32);
    af_ticks_format(t, n, lab);
    for (int i = 0; i < n; i++) {
        double y = af_axes_py(a, t[i]);
        if (y < a->y0 - 0.5 || y > a->y1 + 0.5)
            continue;
        cairo_move_to(cr, a->x0, y);
        cairo_line_to(cr, a->x0 - af_pt(cv, 3.5), y);
        cairo_stroke(cr);
        af_text_draw(cv, lab[i], font, a->x0 - af_pt(cv, 5), y, AF_HA_RIGHT, AF_VA_CENTER, 0,
                     black, NULL);
    }
}

af_status af_plot_results(const char *csv_path, const char *png_path, af_error *err)
{
    FILE *f = fopen(csv_path, "r");
    if (!f)
        return af_fail(err, AF_E_IO, "%s: cannot open", csv_path);
    char line[8192];
    char names[MAXCOL][64];
    int ncol = 0, nrow = 0;
    double *v = malloc((size_t)MAXROW * MAXCOL * sizeof *v);
    if (!v) {
        fclose(f);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    if (fgets(line, sizeof line, f)) {
        for (char *tok = strtok(line, ","); tok && ncol < MAXCOL; tok = strtok(NULL, ",")) {
            snprintf(names[ncol], sizeof names[ncol], "%s", tok);
            trim(names[ncol]);
            ncol++;
        }
    }
    while (nrow < MAXROW && fgets(line, sizeof line, f)) {
        int c = 0;
        for (char *tok = strtok(line, ","); tok && c < ncol; tok = strtok(NULL, ","))
            v[(size_t)nrow * MAXCOL + c++] = atof(tok);
        for (; c < ncol; c++)
            v[(size_t)nrow * MAXCOL + c] = NAN;
        nrow++;
    }
    fclose(f);
    if (ncol < 2 || nrow < 1) {
        free(v);
        return af_fail(err, AF_E_FORMAT, "%s: no results to plot", csv_path);
    }
    /* figure 12 x 6 inches at 200 dpi, as ultralytics */
    af_canvas cv;
    af_status st = af_canvas_open(&cv, 2400, 1200, 200, err);
    if (st) {
        free(v);
        return st;
    }
    double font = af_pt(&cv, 8), tfont = af_pt(&cv, 10);
    double *x = malloc((size_t)nrow * sizeof *x), *y = malloc((size_t)nrow * sizeof *y),
           *sm = malloc((size_t)nrow * sizeof *sm);
    if (!x || !y || !sm) {
        st = af_fail(err, AF_E_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < nrow; i++)
        x[i] = v[(size_t)i * MAXCOL + 0];
    for (int p = 0; p < 10; p++) {
        int col = -1;
        for (int c = 0; c < ncol; c++)
            if (!strcmp(names[c], panels[p]))
                col = c;
        double pw = cv.w / 5.0, ph = cv.h / 2.0;
        af_axes a;
        a.x0 = (p % 5) * pw + pw * 0.16;
        a.x1 = (p % 5 + 1) * pw - pw * 0.05;
        a.y0 = (p / 5) * ph + ph * 0.12;
        a.y1 = (p / 5 + 1) * ph - ph * 0.12;
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; col >= 0 && i < nrow; i++) {
            y[i] = v[(size_t)i * MAXCOL + col];
            if (isfinite(y[i])) {
                lo = fmin(lo, y[i]);
                hi = fmax(hi, y[i]);
            }
        }
        if (!(lo <= hi)) {
            lo = 0;
            hi = 1;
        }
        if (hi - lo < 1e-12) {
            lo -= 0.5;
            hi += 0.5;
        }
        double pad = (hi - lo) * 0.05;
        a.ymin = lo - pad;
        a.ymax = hi + pad;
        a.xmin = x[0] - (nrow > 1 ? (x[nrow - 1] - x[0]) * 0.05 : 1);
        a.xmax = x[nrow - 1] + (nrow > 1 ? (x[nrow - 1] - x[0]) * 0.05 : 1);
        frame_and_ticks(&cv, &a, font);
        af_rgb blue = {0x1f / 255.0, 0x77 / 255.0, 0xb4 / 255.0};
        af_rgb orange = {1.0, 0x7f / 255.0, 0x0e / 255.0};
        af_text_draw(&cv, panels[p], tfont, (a.x0 + a.x1) / 2, a.y0 - af_pt(&cv, 4), AF_HA_CENTER,
                     AF_VA_BOTTOM, 0, (af_rgb){0, 0, 0}, NULL);
        if (col < 0)
            continue;
        af_axes_line(&cv, &a, x, y, nrow, af_pt(&cv, 2), blue);
        for (int i = 0; i < nrow; i++) { /* marker "." */
            if (!isfinite(y[i]))
                continue;
            cairo_arc(cv.cr, af_axes_px(&a, x[i]), af_axes_py(&a, y[i]), af_pt(&cv, 2.5), 0,
                      2 * M_PI);
            cairo_set_source_rgb(cv.cr, blue.r, blue.g, blue.b);
            cairo_fill(cv.cr);
        }
        if (nrow >= 3) { /* smooth(y, 0.05): box filter of odd width */
            af_plot_smooth(y, nrow, 0.05, sm);
            cairo_save(cv.cr);
            double dash[2] = {af_pt(&cv, 1), af_pt(&cv, 1.65)};
            cairo_set_dash(cv.cr, dash, 2, 0);
            af_axes_line(&cv, &a, x, sm, nrow, af_pt(&cv, 2), orange);
            cairo_restore(cv.cr);
        }
    }
    st = af_canvas_save(&cv, png_path, 0, err);
out:
    af_canvas_close(&cv);
    free(x);
    free(y);
    free(sm);
    free(v);
    return st;
}
