/* PR / F1 / P / R curves as ultralytics 8.1.9 metrics.plot_pr_curve and plot_mc_curve. */
#define AF_PLOT_INTERNAL
#include "eval/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define FIG_W 2250 /* 9 in at 250 dpi */
#define FIG_H 1500 /* 6 in */
#define DPI 250.0
#define FONT_PT 11.0 /* ultralytics plt_settings: font.size 11 */
#define MAX_PER_CLASS_LEGEND 21
#define MAX_POINTS 10000000

/* matplotlib's tab10 cycle */
static const uint8_t tab10[10][3] = {
    {0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28},
    {0x94, 0x67, 0xbd}, {0x8c, 0x56, 0x4b}, {0xe3, 0x77, 0xc2}, {0x7f, 0x7f, 0x7f},
    {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf},
};

void af_plot_smooth(const double *y, int n, double f, double *out)
{
    if (n <= 0)
        return;
    /* nf = round(n * f * 2) // 2 + 1 (Python round: half to even); yp = y padded with
     * nf // 2 copies of y[0] / y[-1]; out = np.convolve(yp, ones(nf) / nf, "valid")
     * (for an even nf numpy gives n + 1 values: the first n are returned) */
    double r = nearbyint((double)n * (f > 0 ? f : 0) * 2);
    if (r > 2.0 * n)
        r = 2.0 * n;
    const long nf = (long)r / 2 + 1, half = nf / 2;
    const double k = 1.0 / (double)nf;
    for (long i = 0; i < n; i++) {
        double s = 0;
        for (long j = i - half; j < i - half + nf; j++) {
            long c = j < 0 ? 0 : j >= n ? n - 1 : j;
            s += y[c] * k;
        }
        out[i] = s;
    }
}

static void fmt_num(char *buf, size_t cap, double v, int decimals)
{
    if (isnan(v))
        snprintf(buf, cap, "nan");
    else
        snprintf(buf, cap, "%.*f", decimals, v);
}

/* numpy mean over classes (axis of the nc rows), point by point; NaN when nc == 0. */
static void class_mean(const double *y, int nc, int npts, double *out)
{
    for (int i = 0; i < npts; i++) {
        double s = 0;
        for (int c = 0; c < nc; c++)
            s += y[(size_t)c * npts + i];
        out[i] = nc > 0 ? s / nc : NAN;
    }
}

int af_plot_mean_label(char *buf, size_t cap, af_plot_kind kind, const double *x,
                       const double *y, int nc, int npts, const double *ap50)
{
    char a[48], b[48];
    if (kind == AF_PLOT_PR) {
        double s = 0;
        for (int c = 0; c < nc; c++)
            s += ap50[c];
        fmt_num(a, sizeof a, nc > 0 ? s / nc : NAN, 3);
        return snprintf(buf, cap, "all classes %s mAP@0.5", a);
    }
    if (npts <= 0)
        return snprintf(buf, cap, "all classes nan at nan");
    double *m = malloc(2 * (size_t)npts * sizeof *m);
    if (!m)
        return -1;
    class_mean(y, nc, npts, m);
    af_plot_smooth(m, npts, 0.05, m + npts);
    const double *sm = m + npts;
    int arg = 0;
    double best = sm[0];
    for (int i = 0; i < npts; i++) { /* np.max / np.argmax: the first NaN wins */
        if (isnan(sm[i])) {
            arg = i;
            best = NAN;
            break;
        }
        if (sm[i] > best) {
            best = sm[i];
            arg = i;
        }
    }
    fmt_num(a, sizeof a, best, 2);
    fmt_num(b, sizeof b, x[arg], 3);
    free(m);
    return snprintf(buf, cap, "all classes %s at %s", a, b);
}

/* ---- layout ---- */

typedef struct curve_fig {
    const char *title, *xlabel, *ylabel;
    af_legend_entry *leg;
    int nleg;
    double ticks[16];
    char ticklab[16][32];
    int nticks;
} curve_fig;

/* Draws (draw != 0) or only measures the decorations around axes a; returns their
 * union with the axes box in bb. */
static void decorations(af_canvas *cv, const curve_fig *f, const af_axes *a, int draw,
                        double bb[4])
{
    const double fs = af_pt(cv, FONT_PT), tick = af_pt(cv, 3.5), pad = af_pt(cv, 3.5);
    const af_rgb black = {0, 0, 0};
    double t[4], lab[4] = {1e30, 1e30, -1e30, -1e30};
    bb[0] = a->x0;
    bb[1] = a->y0;
    bb[2] = a->x1;
    bb[3] = a->y1;
    cairo_t *cr = cv->cr;
    if (draw) {
        /* spines */
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, af_pt(cv, 0.8));
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_SQUARE);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
        cairo_rectangle(cr, a->x0, a->y0, a->x1 - a->x0, a->y1 - a->y0);
        cairo_stroke(cr);
        /* tick marks, outwards */
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
        for (int i = 0; i < f->nticks; i++) {
            double px = af_axes_px(a, f->ticks[i]), py = af_axes_py(a, f->ticks[i]);
            cairo_move_to(cr, px, a->y1);
            cairo_line_to(cr, px, a->y1 + tick);
            cairo_move_to(cr, a->x0, py);
            cairo_line_to(cr, a->x0 - tick, py);
        }
        cairo_stroke(cr);
    }
    /* x tick labels */
    for (int i = 0; i < f->nticks; i++) {
        double px = af_axes_px(a, f->ticks[i]);
        if (draw)
            af_text_draw(cv, f->ticklab[i], fs, px, a->y1 + tick + pad, AF_HA_CENTER, AF_VA_TOP,
                         0, black, t);
        else
            af_text_bbox(cv, f->ticklab[i], fs, px, a->y1 + tick + pad, AF_HA_CENTER, AF_VA_TOP,
                         0, t);
        af_bbox_union(bb, t);
        lab[3] = fmax(lab[3], t[3]);
    }
    /* y tick labels */
    for (int i = 0; i < f->nticks; i++) {
        double py = af_axes_py(a, f->ticks[i]);
        if (draw)
            af_text_draw(cv, f->ticklab[i], fs, a->x0 - tick - pad, py, AF_HA_RIGHT,
                         AF_VA_CENTER, 0, black, t);
        else
            af_text_bbox(cv, f->ticklab[i], fs, a->x0 - tick - pad, py, AF_HA_RIGHT,
                         AF_VA_CENTER, 0, t);
        af_bbox_union(bb, t);
        lab[0] = fmin(lab[0], t[0]);
    }
    if (f->nticks == 0) {
        lab[3] = a->y1 + tick;
        lab[0] = a->x0 - tick;
    }
    const double lp = af_pt(cv, 4.0);
    const double cx = (a->x0 + a->x1) / 2, cy = (a->y0 + a->y1) / 2;
    if (draw) {
        af_text_draw(cv, f->xlabel, fs, cx, lab[3] + lp, AF_HA_CENTER, AF_VA_TOP, 0, black, t);
        af_bbox_union(bb, t);
        af_text_draw(cv, f->ylabel, fs, lab[0] - lp, cy, AF_HA_RIGHT, AF_VA_CENTER, 1, black, t);
        af_bbox_union(bb, t);
        af_text_draw(cv, f->title, af_pt(cv, FONT_PT * 1.2), cx, a->y0 - af_pt(cv, 6.0),
                     AF_HA_CENTER, AF_VA_BASELINE, 0, black, t);
        af_bbox_union(bb, t);
    } else {
        af_text_bbox(cv, f->xlabel, fs, cx, lab[3] + lp, AF_HA_CENTER, AF_VA_TOP, 0, t);
        af_bbox_union(bb, t);
        af_text_bbox(cv, f->ylabel, fs, lab[0] - lp, cy, AF_HA_RIGHT, AF_VA_CENTER, 1, t);
        af_bbox_union(bb, t);
        af_text_bbox(cv, f->title, af_pt(cv, FONT_PT * 1.2), cx, a->y0 - af_pt(cv, 6.0),
                     AF_HA_CENTER, AF_VA_BASELINE, 0, t);
        af_bbox_union(bb, t);
    }
    /* legend: bbox_to_anchor (1.04, 1), loc "upper left", borderaxespad 0.5 */
    double lw, lh;
    af_legend_measure(cv, f->leg, f->nleg, fs, &lw, &lh);
    const double lx = a->x0 + 1.04 * (a->x1 - a->x0) + 0.5 * fs, ly = a->y0 + 0.5 * fs;
    if (draw)
        af_legend_draw(cv, f->leg, f->nleg, fs, lx, ly);
    t[0] = lx;
    t[1] = ly;
    t[2] = lx + lw;
    t[3] = ly + lh;
    af_bbox_union(bb, t);
}

/* matplotlib tight_layout (pad 1.08 font sizes), one pass from the default subplot
 * box as savefig runs it: each margin is what the decorations stick out of the box
 * (never negative) plus the pad. */
static void tight_axes(af_canvas *cv, const curve_fig *f, af_axes *a)
{
    const double pad = af_pt(cv, 1.08 * FONT_PT);
    a->x0 = 0.125 * cv->w;
    a->x1 = 0.9 * cv->w;
    a->y0 = (1 - 0.88) * cv->h;
    a->y1 = (1 - 0.11) * cv->h;
    double bb[4];
    decorations(cv, f, a, 0, bb);
    double nx0 = pad + fmax(0, a->x0 - bb[0]), nx1 = cv->w - pad - fmax(0, bb[2] - a->x1);
    double ny0 = pad + fmax(0, a->y0 - bb[1]), ny1 = cv->h - pad - fmax(0, bb[3] - a->y1);
    if (nx1 - nx0 < 0.1 * cv->w || ny1 - ny0 < 0.1 * cv->h)
        return; /* decorations too large (very long names): keep the default box */
    a->x0 = nx0;
    a->x1 = nx1;
    a->y0 = ny0;
    a->y1 = ny1;
}

static af_rgb rgb8(const uint8_t c[3])
{
    return (af_rgb){c[0] / 255.0, c[1] / 255.0, c[2] / 255.0};
}

af_status af_plot_curve(const char *path, af_plot_kind kind, const double *x, const double *y,
                        int nc, int npts, const char *const *names, const double *ap50,
                        af_error *err)
{
    if (!path || !x || (nc > 0 && !y) || nc < 0 || npts < 1 || npts > MAX_POINTS ||
        (kind == AF_PLOT_PR && nc > 0 && !ap50) || kind < AF_PLOT_PR || kind > AF_PLOT_R)
        return af_fail(err, AF_E_ARG, "plot curve %s: bad arguments (nc %d, %d points)",
                       path ? path : "(null)", nc, npts);
    if ((size_t)nc * (size_t)npts > (size_t)1 << 28)
        return af_fail(err, AF_E_LIMIT, "plot curve %s: %d classes x %d points is too many",
                       path, nc, npts);

    const int per_class_legend = names && nc > 0 && nc < MAX_PER_CLASS_LEGEND;
    char(*labels)[160] = calloc((size_t)nc + 1, sizeof *labels);
    af_legend_entry *leg = calloc((size_t)nc + 1, sizeof *leg);
    double *mean = malloc(2 * (size_t)npts * sizeof *mean);
    if (!labels || !leg || !mean) {
        free(labels);
        free(leg);
        free(mean);
        return af_fail(err, AF_E_NOMEM, "plot curve %s: out of memory", path);
    }

    af_canvas cv;
    af_status s = af_canvas_open(&cv, FIG_W, FIG_H, DPI, err);
    if (s != AF_OK) {
        free(labels);
        free(leg);
        free(mean);
        return s;
    }
    const double lw1 = af_pt(&cv, 1.0), lw3 = af_pt(&cv, 3.0);

    curve_fig f;
    memset(&f, 0, sizeof f);
    static const char *const ylabels[4] = {"Precision", "F1", "Precision", "Recall"};
    static const char *const titles[4] = {"Precision-Recall Curve", "F1-Confidence Curve",
                                          "Precision-Confidence Curve", "Recall-Confidence Curve"};
    f.title = titles[kind];
    f.xlabel = kind == AF_PLOT_PR ? "Recall" : "Confidence";
    f.ylabel = ylabels[kind];
    f.leg = leg;
    if (per_class_legend) {
        for (int c = 0; c < nc; c++) {
            char nm[128], num[16];
            const char *name = names[c];
            if (!name) {
                snprintf(num, sizeof num, "%d", c);
                name = num;
            }
            af_plot_utf8(nm, sizeof nm, name);
            if (kind == AF_PLOT_PR) {
                char v[48];
                fmt_num(v, sizeof v, ap50[c], 3);
                snprintf(labels[c], sizeof labels[c], "%s %s", nm, v);
            } else {
                snprintf(labels[c], sizeof labels[c], "%s", nm);
            }
            leg[f.nleg++] = (af_legend_entry){labels[c], rgb8(tab10[c % 10]), lw1};
        }
    }
    if (af_plot_mean_label(labels[nc], sizeof labels[nc], kind, x, y, nc, npts, ap50) < 0) {
        af_canvas_close(&cv);
        free(labels);
        free(leg);
        free(mean);
        return af_fail(err, AF_E_NOMEM, "plot curve %s: out of memory", path);
    }
    leg[f.nleg++] = (af_legend_entry){labels[nc], {0, 0, 1}, lw3};
    f.nticks = af_ticks_auto(0, 1, f.ticks, 16);
    af_ticks_format(f.ticks, f.nticks, f.ticklab);

    af_axes a = {0, 0, 0, 0, 0, 1, 0, 1};
    tight_axes(&cv, &f, &a);

    for (int c = 0; c < nc; c++)
        af_axes_line(&cv, &a, x, y + (size_t)c * npts, npts, lw1,
                     per_class_legend ? rgb8(tab10[c % 10]) : (af_rgb){0.5, 0.5, 0.5});
    class_mean(y, nc, npts, mean);
    const double *my = mean;
    if (kind != AF_PLOT_PR) {
        af_plot_smooth(mean, npts, 0.05, mean + npts);
        my = mean + npts;
    }
    af_axes_line(&cv, &a, x, my, npts, lw3, (af_rgb){0, 0, 1});
    double bb[4];
    decorations(&cv, &f, &a, 1, bb);

    s = af_canvas_save(&cv, path, 0, err);
    af_canvas_close(&cv);
    free(labels);
    free(leg);
    free(mean);
    return s;
}
