/* Confusion matrix heatmap as ultralytics 8.1.9 ConfusionMatrix.plot (seaborn heatmap). */
#define AF_PLOT_INTERNAL
#include "eval/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define FIG_W 3000 /* 12 in at 250 dpi */
#define FIG_H 2250 /* 9 in */
#define DPI 250.0
#define MAX_CLASSES 4096

/* matplotlib "Blues" (ColorBrewer, 9 nodes evenly spaced) */
static const uint8_t blues[9][3] = {
    {0xf7, 0xfb, 0xff}, {0xde, 0xeb, 0xf7}, {0xc6, 0xdb, 0xef}, {0x9e, 0xca, 0xe1},
    {0x6b, 0xae, 0xd6}, {0x42, 0x92, 0xc6}, {0x21, 0x71, 0xb5}, {0x08, 0x51, 0x9c},
    {0x08, 0x30, 0x6b},
};

/* Entry i of the 256-colour lookup table matplotlib builds from the nodes. */
static af_rgb blues_lut(int i)
{
    const double x = i / 255.0 * 8;
    int k = (int)floor(x);
    if (k > 7)
        k = 7;
    const double t = x - k;
    af_rgb c;
    c.r = ((1 - t) * blues[k][0] + t * blues[k + 1][0]) / 255.0;
    c.g = ((1 - t) * blues[k][1] + t * blues[k + 1][1]) / 255.0;
    c.b = ((1 - t) * blues[k][2] + t * blues[k + 1][2]) / 255.0;
    return c;
}

/* Colormap(v / vmax): x * N truncated, 1.0 mapped to the last entry. */
static int blues_index(double v, double vmax)
{
    double x = v / vmax * 256;
    if (!(x >= 0))
        return 0;
    if (x >= 255)
        return 255;
    return (int)x;
}

static double lin(double c)
{
    return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

/* seaborn: ".15" text on light cells (relative luminance > .408), white on dark ones. */
static af_rgb annot_color(af_rgb c)
{
    const double lum = 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
    return lum > 0.408 ? (af_rgb){0.15, 0.15, 0.15} : (af_rgb){1, 1, 1};
}

typedef struct cm_fig {
    int n;             /* nc + 1 cells a side */
    const double *a;   /* n x n values, NaN = blank */
    double vmax;
    char (*ticklab)[128];
    const int *tickpos; /* cell index of each tick label */
    int nticks;
    int annotate, normalize;
    double scale; /* seaborn font_scale */
    double cbt[16];
    char cblab[16][32];
    int ncbt;
} cm_fig;

typedef struct cm_geom {
    af_axes hm;        /* heatmap (square) */
    double cb[4];      /* colorbar box x0 y0 x1 y1 */
} cm_geom;

/* Heatmap and colorbar inside the outer box (L, T, R, B), as make_axes_gridspec
 * (fraction 0.15, pad 0.05, aspect 20) and a square heatmap anchored right-centre. */
static void cm_place(const double box[4], int n, cm_geom *g)
{
    const double W = box[2] - box[0], H = box[3] - box[1];
    const double pw = 0.8 * W;
    const double side = fmin(pw, H);
    g->hm.x1 = box[0] + pw;
    g->hm.x0 = g->hm.x1 - side;
    g->hm.y0 = box[1] + (H - side) / 2;
    g->hm.y1 = g->hm.y0 + side;
    g->hm.xmin = 0;
    g->hm.xmax = n;
    g->hm.ymin = 0;
    g->hm.ymax = n;
    const double cw = fmin(0.15 * W, H / 20), ch = cw * 20;
    g->cb[0] = box[0] + 0.85 * W;
    g->cb[2] = g->cb[0] + cw;
    g->cb[1] = box[1] + (H - ch) / 2;
    g->cb[3] = g->cb[1] + ch;
}

/* Whether neighbouring labels of extent ext (along the axis) overlap at spacing cell. */
static int labels_overlap(af_canvas *cv, const cm_fig *f, double fs, double cell)
{
    for (int i = 0; i + 1 < f->nticks; i++) {
        af_text_box a, b;
        af_text_measure(cv, f->ticklab[i], fs, &a);
        af_text_measure(cv, f->ticklab[i + 1], fs, &b);
        double gap = (f->tickpos[i + 1] - f->tickpos[i]) * cell;
        if (a.w / 2 + b.w / 2 > gap)
            return 1;
    }
    return 0;
}

static void cm_decorations(af_canvas *cv, const cm_fig *f, const cm_geom *g, int draw,
                           double bb[4])
{
    const af_rgb ink = {0.15, 0.15, 0.15};
    const double tfs = af_pt(cv, 11 * f->scale), lfs = af_pt(cv, 12 * f->scale);
    const double off = af_pt(cv, 6 + 3.5), lp = af_pt(cv, 4);
    const af_axes *a = &g->hm;
    const double cell = (a->x1 - a->x0) / f->n;
    double t[4], lab[4] = {a->x0, a->y0, a->x1, a->y1};
    bb[0] = a->x0;
    bb[1] = a->y0;
    bb[2] = g->cb[2];
    bb[3] = a->y1;
    double cbb[4] = {g->cb[0], g->cb[1], g->cb[2], g->cb[3]};
    af_bbox_union(bb, cbb);

    /* x ticks: horizontal unless they overlap; y ticks: vertical unless they overlap */
    const int xrot = labels_overlap(cv, f, tfs, cell);
    const int yrot = !labels_overlap(cv, f, tfs, cell);
    for (int i = 0; i < f->nticks; i++) {
        const double c = a->x0 + (f->tickpos[i] + 0.5) * cell;
        if (draw)
            af_text_draw(cv, f->ticklab[i], tfs, c, a->y1 + off, AF_HA_CENTER, AF_VA_TOP, xrot,
                         ink, t);
        else
            af_text_bbox(cv, f->ticklab[i], tfs, c, a->y1 + off, AF_HA_CENTER, AF_VA_TOP, xrot,
                         t);
        af_bbox_union(bb, t);
        af_bbox_union(lab, t);
        const double r = a->y0 + (f->tickpos[i] + 0.5) * cell;
        if (draw)
            af_text_draw(cv, f->ticklab[i], tfs, a->x0 - off, r, AF_HA_RIGHT, AF_VA_CENTER, yrot,
                         ink, t);
        else
            af_text_bbox(cv, f->ticklab[i], tfs, a->x0 - off, r, AF_HA_RIGHT, AF_VA_CENTER, yrot,
                         t);
        af_bbox_union(bb, t);
        af_bbox_union(lab, t);
    }
    const double cx = (a->x0 + a->x1) / 2, cy = (a->y0 + a->y1) / 2;
    const char *title = f->normalize ? "Confusion Matrix Normalized" : "Confusion Matrix";
    if (draw) {
        af_text_draw(cv, "True", lfs, cx, fmax(lab[3], a->y1 + off) + lp, AF_HA_CENTER,
                     AF_VA_TOP, 0, ink, t);
        af_bbox_union(bb, t);
        af_text_draw(cv, "Predicted", lfs, fmin(lab[0], a->x0 - off) - lp, cy, AF_HA_RIGHT,
                     AF_VA_CENTER, 1, ink, t);
        af_bbox_union(bb, t);
        af_text_draw(cv, title, lfs, cx, a->y0 - af_pt(cv, 6), AF_HA_CENTER, AF_VA_BASELINE, 0,
                     ink, t);
        af_bbox_union(bb, t);
    } else {
        af_text_bbox(cv, "True", lfs, cx, fmax(lab[3], a->y1 + off) + lp, AF_HA_CENTER,
                     AF_VA_TOP, 0, t);
        af_bbox_union(bb, t);
        af_text_bbox(cv, "Predicted", lfs, fmin(lab[0], a->x0 - off) - lp, cy, AF_HA_RIGHT,
                     AF_VA_CENTER, 1, t);
        af_bbox_union(bb, t);
        af_text_bbox(cv, title, lfs, cx, a->y0 - af_pt(cv, 6), AF_HA_CENTER, AF_VA_BASELINE, 0,
                     t);
        af_bbox_union(bb, t);
    }
    /* colorbar tick labels, right of the bar (ticks 6 pt, pad 3.5 pt) */
    const double cbh = g->cb[3] - g->cb[1];
    for (int i = 0; i < f->ncbt; i++) {
        const double y = g->cb[3] - f->cbt[i] / f->vmax * cbh;
        if (draw) {
            cairo_t *cr = cv->cr;
            cairo_set_source_rgb(cr, ink.r, ink.g, ink.b);
            cairo_set_line_width(cr, af_pt(cv, 1.25));
            cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
            cairo_move_to(cr, g->cb[2], y);
            cairo_line_to(cr, g->cb[2] + af_pt(cv, 6), y);
            cairo_stroke(cr);
            af_text_draw(cv, f->cblab[i], tfs, g->cb[2] + off, y, AF_HA_LEFT, AF_VA_CENTER, 0,
                         ink, t);
        } else {
            af_text_bbox(cv, f->cblab[i], tfs, g->cb[2] + off, y, AF_HA_LEFT, AF_VA_CENTER, 0,
                         t);
        }
        af_bbox_union(bb, t);
    }
}

static void cm_draw_cells(af_canvas *cv, const cm_fig *f, const cm_geom *g)
{
    cairo_t *cr = cv->cr;
    const af_axes *a = &g->hm;
    const int n = f->n;
    const double cell = (a->x1 - a->x0) / n;
    const double afs = af_pt(cv, 8);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) {
            const double v = f->a[(size_t)r * n + c];
            if (isnan(v))
                continue; /* masked: the white face shows */
            af_rgb col = blues_lut(blues_index(v, f->vmax));
            const double x0 = a->x0 + c * cell, y0 = a->y0 + r * cell;
            cairo_set_source_rgb(cr, col.r, col.g, col.b);
            cairo_rectangle(cr, x0, y0, cell, cell);
            cairo_fill(cr);
            if (f->annotate) {
                char s[64];
                snprintf(s, sizeof s, "%.*f", f->normalize ? 2 : 0, v);
                af_text_draw(cv, s, afs, x0 + cell / 2, y0 + cell / 2, AF_HA_CENTER, AF_VA_CENTER,
                             0, annot_color(col), NULL);
            }
        }
    /* colorbar: 256 bands from 0 (bottom) to vmax (top) */
    const double h = g->cb[3] - g->cb[1];
    for (int i = 0; i < 256; i++) {
        af_rgb col = blues_lut(i);
        cairo_set_source_rgb(cr, col.r, col.g, col.b);
        const double yb = g->cb[3] - h * i / 256.0, yt = g->cb[3] - h * (i + 1) / 256.0;
        /* overlap the next band a little so no seam shows between anti-aliased edges */
        cairo_rectangle(cr, g->cb[0], yt - (i < 255 ? 0.5 : 0), g->cb[2] - g->cb[0],
                        yb - yt + (i < 255 ? 0.5 : 0));
        cairo_fill(cr);
    }
}

af_status af_plot_confusion(const char *path, const double *m, int nc, const char *const *names,
                            int normalize, af_error *err)
{
    if (!path || !m || nc < 0)
        return af_fail(err, AF_E_ARG, "plot confusion %s: bad arguments (nc %d)",
                       path ? path : "(null)", nc);
    if (nc > MAX_CLASSES)
        return af_fail(err, AF_E_LIMIT, "plot confusion %s: %d classes (at most %d)", path, nc,
                       MAX_CLASSES);
    const int n = nc + 1;
    double *a = malloc((size_t)n * n * sizeof *a);
    char(*lab)[128] = calloc((size_t)n, sizeof *lab);
    int *pos = calloc((size_t)n, sizeof *pos);
    if (!a || !lab || !pos) {
        free(a);
        free(lab);
        free(pos);
        return af_fail(err, AF_E_NOMEM, "plot confusion %s: out of memory", path);
    }
    double vmax = NAN;
    for (int c = 0; c < n; c++) {
        double sum = 0;
        for (int r = 0; r < n; r++)
            sum += m[(size_t)r * n + c];
        for (int r = 0; r < n; r++) {
            double v = m[(size_t)r * n + c];
            if (normalize)
                v = v / (sum + 1e-9);
            if (v < 0.005)
                v = NAN; /* ultralytics: array[array < 0.005] = nan */
            a[(size_t)r * n + c] = v;
            if (!isnan(v) && (isnan(vmax) || v > vmax))
                vmax = v;
        }
    }
    if (isnan(vmax) || !isfinite(vmax))
        vmax = 1; /* all blank (or infinite): nothing to scale */

    af_canvas cv;
    af_status s = af_canvas_open(&cv, FIG_W, FIG_H, DPI, err);
    if (s != AF_OK) {
        free(a);
        free(lab);
        free(pos);
        return s;
    }
    cm_fig f;
    memset(&f, 0, sizeof f);
    f.n = n;
    f.a = a;
    f.vmax = vmax;
    f.ticklab = lab;
    f.tickpos = pos;
    f.annotate = nc < 30;
    f.normalize = normalize != 0;
    f.scale = nc < 50 ? 1.0 : 0.8;
    f.ncbt = af_ticks_auto(0, vmax, f.cbt, 16);
    af_ticks_format(f.cbt, f.ncbt, f.cblab);

    double box[4] = {0.125 * FIG_W, 0.12 * FIG_H, 0.9 * FIG_W, 0.89 * FIG_H};
    cm_geom g;
    if (names && nc > 0 && nc < 99) {
        for (int i = 0; i < n; i++) {
            char num[16];
            const char *nm = i < nc ? names[i] : "background";
            if (!nm) {
                snprintf(num, sizeof num, "%d", i);
                nm = num;
            }
            af_plot_utf8(lab[i], sizeof lab[i], nm);
            pos[i] = i;
        }
        f.nticks = n;
    } else {
        /* seaborn "auto": every k-th index so that labels of the font size fit */
        cm_place(box, n, &g);
        const double size_in = (g.hm.y1 - g.hm.y0) / DPI;
        const int max_ticks = (int)floor(size_in / (11 * f.scale / 72));
        const int every = max_ticks < 1 ? n + 1 : n / max_ticks + 1;
        for (int i = 0; i < n && max_ticks >= 1; i += every) {
            snprintf(lab[f.nticks], sizeof lab[f.nticks], "%d", i);
            pos[f.nticks++] = i;
        }
    }

    /* tight_layout (pad 1.08 x font.size 12), run twice as matplotlib does here (seaborn
     * draws the figure once to test label overlap, savefig draws it again): the margins
     * are what the decorations stick out of the box, never negative */
    const double pad = af_pt(&cv, 1.08 * 12 * f.scale);
    for (int it = 0; it < 2; it++) {
        double bb[4];
        cm_place(box, n, &g);
        cm_decorations(&cv, &f, &g, 0, bb);
        double nb[4] = {pad + fmax(0, box[0] - bb[0]), pad + fmax(0, box[1] - bb[1]),
                        FIG_W - pad - fmax(0, bb[2] - box[2]),
                        FIG_H - pad - fmax(0, bb[3] - box[3])};
        if (nb[2] - nb[0] < 0.2 * FIG_W || nb[3] - nb[1] < 0.2 * FIG_H)
            break; /* labels too large: keep the last usable box */
        memcpy(box, nb, sizeof box);
    }
    cm_place(box, n, &g);
    cm_draw_cells(&cv, &f, &g);
    double bb[4];
    cm_decorations(&cv, &f, &g, 1, bb);

    s = af_canvas_save(&cv, path, 0, err);
    af_canvas_close(&cv);
    free(a);
    free(lab);
    free(pos);
    return s;
}
