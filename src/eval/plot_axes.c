/* A small matplotlib-like layer on cairo: canvas, text, axes lines, ticks, legend. */
#define AF_PLOT_INTERNAL
#include "eval/plot.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "draw/font.h"

#define CAIRO_MAX_SIDE 32767


/* ---- canvas ---- */

af_status af_canvas_open(af_canvas *cv, int w, int h, double dpi, af_error *err)
{
    memset(cv, 0, sizeof *cv);
    if (w <= 0 || h <= 0 || w > CAIRO_MAX_SIDE || h > CAIRO_MAX_SIDE)
        return af_fail(err, AF_E_LIMIT, "plot: canvas %dx%d out of range", w, h);
    af_status s = af_font_load(AF_PLOT_FONT, &cv->font, err);
    if (s != AF_OK)
        return s;
    cv->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(cv->surf) != CAIRO_STATUS_SUCCESS) {
        af_canvas_close(cv);
        return af_fail(err, AF_E_NOMEM, "plot: cannot allocate a %dx%d canvas", w, h);
    }
    cv->cr = cairo_create(cv->surf);
    cv->w = w;
    cv->h = h;
    cv->dpi = dpi;
    cairo_set_source_rgb(cv->cr, 1, 1, 1);
    cairo_paint(cv->cr);
    cairo_set_font_face(cv->cr, cv->font);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_SLIGHT);
    cairo_set_font_options(cv->cr, fo);
    cairo_font_options_destroy(fo);
    return AF_OK;
}

void af_canvas_close(af_canvas *cv)
{
    if (cv->cr)
        cairo_destroy(cv->cr);
    if (cv->surf)
        cairo_surface_destroy(cv->surf);
    if (cv->font)
        cairo_font_face_destroy(cv->font);
    memset(cv, 0, sizeof *cv);
}

af_status af_canvas_save(af_canvas *cv, const char *path, int jpeg_quality, af_error *err)
{
    cairo_status_t cs = cairo_status(cv->cr);
    if (cs != CAIRO_STATUS_SUCCESS)
        return af_fail(err, AF_E_INTERNAL, "plot %s: cairo: %s", path, cairo_status_to_string(cs));
    cairo_surface_flush(cv->surf);
    af_image img;
    af_status s = af_image_alloc(&img, cv->w, cv->h, 3, err);
    if (s != AF_OK)
        return s;
    const unsigned char *sd = cairo_image_surface_get_data(cv->surf);
    const int stride = cairo_image_surface_get_stride(cv->surf);
    for (int y = 0; y < cv->h; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(sd + (size_t)y * stride);
        uint8_t *o = img.data + (size_t)y * cv->w * 3;
        for (int x = 0; x < cv->w; x++, o += 3) {
            o[0] = (uint8_t)(row[x] >> 16);
            o[1] = (uint8_t)(row[x] >> 8);
            o[2] = (uint8_t)row[x];
        }
    }
    s = af_image_save(path, &img, jpeg_quality, err);
    af_image_free(&img);
    return s;
}

/* ---- text ---- */

void af_plot_utf8(char *buf, size_t cap, const char *s)
{
    if (cap == 0)
        return;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        int len = af_utf8_seq_len(p);
        int ok = len > 0;
        if (!ok)
            len = 1;
        if (o + (size_t)len >= cap)
            break;
        if (ok)
            memcpy(buf + o, p, (size_t)len);
        else
            buf[o] = '?';
        o += (size_t)len;
        p += len;
    }
    buf[o] = '\0';
}

void af_text_measure(af_canvas *cv, const char *s, double size_px, af_text_box *tb)
{
    cairo_set_font_size(cv->cr, size_px);
    cairo_text_extents_t e;
    cairo_text_extents(cv->cr, "lp", &e);
    tb->asc = -e.y_bearing;
    tb->desc = e.height + e.y_bearing;
    cairo_text_extents(cv->cr, s, &e);
    tb->w = e.x_advance;
}

/* Origin of the text and its bounding box for the given anchor. */
static void text_place(const af_text_box *tb, double x, double y, af_halign ha, af_valign va,
                       int rot90, double *ox, double *oy, double bb[4])
{
    const double th = tb->asc + tb->desc; /* across the baseline */
    const double bw = rot90 ? th : tb->w, bh = rot90 ? tb->w : th;
    double bx0 = ha == AF_HA_LEFT ? x : ha == AF_HA_CENTER ? x - bw / 2 : x - bw;
    double by0;
    if (rot90) {
        by0 = va == AF_VA_TOP ? y : va == AF_VA_BOTTOM ? y - bh : y - bh / 2;
        *ox = bx0 + tb->asc;
        *oy = by0 + bh;
    } else {
        if (va == AF_VA_TOP)
            by0 = y;
        else if (va == AF_VA_CENTER)
            by0 = y - bh / 2;
        else if (va == AF_VA_BASELINE)
            by0 = y - tb->asc;
        else
            by0 = y - bh;
        *ox = bx0;
        *oy = by0 + tb->asc;
    }
    bb[0] = bx0;
    bb[1] = by0;
    bb[2] = bx0 + bw;
    bb[3] = by0 + bh;
}

void af_text_bbox(af_canvas *cv, const char *s, double size_px, double x, double y,
                  af_halign ha, af_valign va, int rot90, double bb[4])
{
    af_text_box tb;
    double ox, oy;
    af_text_measure(cv, s, size_px, &tb);
    text_place(&tb, x, y, ha, va, rot90, &ox, &oy, bb);
}

void af_text_draw(af_canvas *cv, const char *s, double size_px, double x, double y,
                  af_halign ha, af_valign va, int rot90, af_rgb c, double bb[4])
{
    af_text_box tb;
    double ox, oy, box[4];
    af_text_measure(cv, s, size_px, &tb);
    text_place(&tb, x, y, ha, va, rot90, &ox, &oy, box);
    cairo_t *cr = cv->cr;
    cairo_save(cr);
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_translate(cr, ox, oy);
    if (rot90)
        cairo_rotate(cr, -M_PI / 2);
    cairo_move_to(cr, 0, 0);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
    cairo_restore(cr);
    if (bb)
        memcpy(bb, box, sizeof box);
}

void af_bbox_union(double bb[4], const double o[4])
{
    if (o[0] < bb[0])
        bb[0] = o[0];
    if (o[1] < bb[1])
        bb[1] = o[1];
    if (o[2] > bb[2])
        bb[2] = o[2];
    if (o[3] > bb[3])
        bb[3] = o[3];
}

/* ---- lines ---- */

void af_axes_line(af_canvas *cv, const af_axes *a, const double *x, const double *y, int n,
                  double lw_px, af_rgb c)
{
    cairo_t *cr = cv->cr;
    cairo_save(cr);
    cairo_rectangle(cr, a->x0, a->y0, a->x1 - a->x0, a->y1 - a->y0);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, lw_px);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_SQUARE);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            open = 0;
            continue;
        }
        /* keep far-away values finite for cairo's fixed point */
        double px = af_axes_px(a, fmax(-1e4, fmin(1e4, x[i])));
        double py = af_axes_py(a, fmax(-1e4, fmin(1e4, y[i])));
        if (open)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        open = 1;
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* ---- ticks ---- */

int af_ticks_auto(double lo, double hi, double *t, int cap)
{
    static const double base[5] = {1, 2, 2.5, 5, 10};
    const int nbins = 9, min_n = 2;
    if (!isfinite(lo) || !isfinite(hi) || cap <= 0)
        return 0;
    if (hi < lo) {
        double tmp = lo;
        lo = hi;
        hi = tmp;
    }
    if (hi - lo < 1e-12 * fmax(1.0, fabs(hi))) { /* matplotlib's nonsingular expansion */
        double d = lo == 0 ? 1 : fabs(lo) * 0.001;
        lo -= d;
        hi += d;
    }
    const double raw = (hi - lo) / nbins;
    const double scale = pow(10, floor(log10(raw)));
    double steps[7];
    steps[0] = base[3] * scale / 10; /* 0.5 of the decade below */
    for (int i = 0; i < 5; i++)
        steps[i + 1] = base[i] * scale;
    steps[6] = 20 * scale;
    int istep = 1;
    while (istep < 6 && steps[istep] < raw * (1 - 1e-10))
        istep++;
    int count = 0;
    for (int k = istep; k >= 0; k--) {
        const double step = steps[k];
        const double best = floor(lo / step) * step;
        double low = floor((lo - best) / step + 1e-10);
        double high = ceil((hi - best) / step - 1e-10);
        count = 0;
        for (double j = low; j <= high && count < cap; j++) {
            double v = j * step + best;
            if (v >= lo - 1e-10 * (hi - lo) && v <= hi + 1e-10 * (hi - lo))
                t[count++] = fabs(v) < 1e-12 * (hi - lo) ? 0.0 : v;
        }
        if (count >= min_n)
            break;
    }
    return count;
}

void af_ticks_format(const double *t, int n, char (*lab)[32])
{
    if (n <= 0)
        return;
    double mn = t[0], mx = t[0], amax = 0;
    for (int i = 0; i < n; i++) {
        mn = fmin(mn, t[i]);
        mx = fmax(mx, t[i]);
        amax = fmax(amax, fabs(t[i]));
    }
    double range = mx - mn;
    if (range == 0)
        range = amax;
    if (range == 0)
        range = 1;
    const int oom = (int)floor(log10(range));
    int sig = 3 - oom > 0 ? 3 - oom : 0;
    const double thresh = 1e-3 * pow(10, oom);
    while (sig >= 0) {
        double worst = 0, p = pow(10, sig);
        for (int i = 0; i < n; i++)
            worst = fmax(worst, fabs(t[i] - nearbyint(t[i] * p) / p));
        if (worst < thresh)
            sig--;
        else
            break;
    }
    sig++;
    if (sig > 12)
        sig = 12;
    for (int i = 0; i < n; i++) {
        snprintf(lab[i], 32, "%.*f", sig, t[i]);
        if (strcmp(lab[i], "-0") == 0 || strncmp(lab[i], "-0.", 3) == 0) {
            int zero = 1; /* matplotlib shows -0.0 as 0.0 (its minus is only for v < 0) */
            for (const char *q = lab[i] + 1; *q; q++)
                zero &= *q == '0' || *q == '.';
            if (zero)
                memmove(lab[i], lab[i] + 1, strlen(lab[i]));
        }
    }
}

/* ---- legend ---- */

void af_legend_measure(af_canvas *cv, const af_legend_entry *e, int n, double font_px, double *w,
                       double *h)
{
    af_text_box tb = {0, 0, 0};
    double tw = 0;
    for (int i = 0; i < n; i++) {
        af_text_measure(cv, e[i].label, font_px, &tb);
        tw = fmax(tw, tb.w);
    }
    if (n == 0)
        af_text_measure(cv, "", font_px, &tb);
    const double rowh = tb.asc + tb.desc;
    *w = 2 * 0.4 * font_px + 2.0 * font_px + 0.8 * font_px + tw;
    *h = 2 * 0.4 * font_px + n * rowh + (n > 1 ? (n - 1) * 0.5 * font_px : 0);
}

static void rounded_rect(cairo_t *cr, double x, double y, double w, double h, double r)
{
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
}

void af_legend_draw(af_canvas *cv, const af_legend_entry *e, int n, double font_px, double x,
                    double y)
{
    double w, h;
    af_legend_measure(cv, e, n, font_px, &w, &h);
    cairo_t *cr = cv->cr;
    cairo_save(cr);
    rounded_rect(cr, x, y, w, h, 0.2 * font_px);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, af_pt(cv, 1.0));
    cairo_stroke(cr);
    cairo_restore(cr);

    af_text_box tb;
    af_text_measure(cv, "", font_px, &tb);
    const double rowh = tb.asc + tb.desc;
    const double pad = 0.4 * font_px, hl = 2.0 * font_px, htp = 0.8 * font_px;
    for (int i = 0; i < n; i++) {
        const double top = y + pad + i * (rowh + 0.5 * font_px);
        const double base = top + tb.asc;
        const double ly = base - 0.35 * font_px;
        cairo_save(cr);
        cairo_set_source_rgb(cr, e[i].color.r, e[i].color.g, e[i].color.b);
        cairo_set_line_width(cr, e[i].lw_px);
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_SQUARE);
        cairo_move_to(cr, x + pad, ly);
        cairo_line_to(cr, x + pad + hl, ly);
        cairo_stroke(cr);
        cairo_restore(cr);
        af_text_draw(cv, e[i].label, font_px, x + pad + hl + htp, base, AF_HA_LEFT,
                     AF_VA_BASELINE, 0, (af_rgb){0, 0, 0}, NULL);
    }
}
