#include "draw/draw.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "draw/font.h"

#define CAIRO_MAX_SIDE 32767

void af_draw_style_default(af_draw_style *st)
{
    st->line_width = 0;
    st->hide_labels = 0;
    st->hide_conf = 0;
    st->font_path = NULL;
}

int af_draw_line_width(int w, int h, int line_width)
{
    if (line_width > 0)
        return line_width;
    /* max(round(sum(im.shape) / 2 * 0.003), 2) with im.shape = (h, w, 3) */
    double v = nearbyint(((double)h + w + 3) / 2 * 0.003);
    return v < 2 ? 2 : (int)v;
}

/* Replaces, in place, each byte that does not start a valid UTF-8 sequence
 * with '?', using cairo's notion of valid (no overlong forms, no surrogates
 * or non-characters), so cairo never rejects the string (an invalid string
 * would put the cairo context in an error state). */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int len = af_utf8_seq_len(p);
        if (!len) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}

int af_draw_label_text(char *buf, size_t cap, const char *name, float conf, int hide_labels,
                       int hide_conf)
{
    int r;
    if (hide_labels)
        r = snprintf(buf, cap, "%s", "");
    else if (hide_conf || conf == 0.0f) /* Python: `if conf` is false for 0.0 */
        r = snprintf(buf, cap, "%s", name);
    else
        r = snprintf(buf, cap, "%s %.2f", name, (double)conf);
    if (cap > 0)
        utf8_sanitize(buf);
    return r;
}


/* ---- drawing ---- */

/* Python int(float): truncation; 0 for out-of-range values is never used
 * because callers skip non-finite boxes first. */
static int trunc_coord(float v)
{
    if (v > 1e8f)
        v = 1e8f;
    if (v < -1e8f)
        v = -1e8f;
    return (int)v;
}

typedef struct draw_ctx {
    cairo_t *cr;
    int lw;
    double sf;
    int tf;
    int label_h;     /* cv2 getTextSize height */
    double font_px;  /* font size giving a cap height of 21*sf */
} draw_ctx;

static void set_rgb(cairo_t *cr, const uint8_t c[3])
{
    cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
}

static void draw_one(const draw_ctx *dc, const af_detection *d, const char *label)
{
    cairo_t *cr = dc->cr;
    uint8_t col[3];
    af_palette_color(d->cls, col);
    const int x1 = trunc_coord(d->x1), y1 = trunc_coord(d->y1);
    const int x2 = trunc_coord(d->x2), y2 = trunc_coord(d->y2);

    /* box: cv2.rectangle(p1, p2, thickness=lw, LINE_AA) centred on pixel centres */
    set_rgb(cr, col);
    cairo_set_line_width(cr, dc->lw);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_rectangle(cr, x1 + 0.5, y1 + 0.5, (double)x2 - x1, (double)y2 - y1);
    cairo_stroke(cr);

    if (!label[0])
        return;
    cairo_set_font_size(cr, dc->font_px);
    cairo_text_extents_t ext;
    cairo_text_extents(cr, label, &ext);
    const int w = (int)nearbyint(ext.x_advance + dc->tf), h = dc->label_h;
    const int outside = y1 - h >= 3;
    const int top = outside ? y1 - h - 3 : y1, bottom = outside ? y1 : y1 + h + 3;
    /* filled cv2.rectangle: both corners inclusive */
    cairo_rectangle(cr, x1, top, (double)w + 1, (double)bottom - top + 1);
    cairo_fill(cr);
    const int base = outside ? y1 - 2 : y1 + h + 2;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_move_to(cr, x1, base + 1); /* glyphs stand on pixel row `base` */
    cairo_show_text(cr, label);
    cairo_new_path(cr);
}

static void copy_in(const af_image *img, unsigned char *sd, int stride)
{
    for (int y = 0; y < img->h; y++) {
        const uint8_t *s = img->data + (size_t)y * img->w * img->c;
        uint32_t *o = (uint32_t *)(void *)(sd + (size_t)y * stride);
        for (int x = 0; x < img->w; x++, s += img->c)
            o[x] = ((uint32_t)s[0] << 16) | ((uint32_t)s[1] << 8) | s[2];
    }
}

static void copy_out(af_image *img, const unsigned char *sd, int stride)
{
    for (int y = 0; y < img->h; y++) {
        uint8_t *o = img->data + (size_t)y * img->w * img->c;
        const uint32_t *s = (const uint32_t *)(const void *)(sd + (size_t)y * stride);
        for (int x = 0; x < img->w; x++, o += img->c) {
            o[0] = (uint8_t)(s[x] >> 16);
            o[1] = (uint8_t)(s[x] >> 8);
            o[2] = (uint8_t)s[x];
        }
    }
}

af_status af_draw_detections(af_image *img, const af_detection *d, int n,
                             const char *const *names, int nnames, const af_draw_style *st,
                             af_error *err)
{
    af_draw_style defaults;
    if (!st) {
        af_draw_style_default(&defaults);
        st = &defaults;
    }
    if (!img || !img->data || img->w <= 0 || img->h <= 0)
        return af_fail(err, AF_E_ARG, "draw: empty image");
    if (img->c != 3 && img->c != 4)
        return af_fail(err, AF_E_UNSUPPORTED, "draw: %d-channel image (RGB or RGBA expected)",
                       img->c);
    if (img->w > CAIRO_MAX_SIDE || img->h > CAIRO_MAX_SIDE)
        return af_fail(err, AF_E_LIMIT, "draw: image %dx%d is larger than %d pixels a side",
                       img->w, img->h, CAIRO_MAX_SIDE);
    if (n < 0 || (n > 0 && !d) || st->line_width < 0 || nnames < 0)
        return af_fail(err, AF_E_ARG, "draw: bad arguments (n %d, line width %d)", n,
                       st->line_width);
    if (n == 0)
        return AF_OK;

    draw_ctx dc;
    dc.lw = af_draw_line_width(img->w, img->h, st->line_width);
    dc.sf = dc.lw / 3.0;
    dc.tf = dc.lw - 1 > 1 ? dc.lw - 1 : 1;
    dc.label_h = (int)nearbyint(21 * dc.sf + (dc.tf + 1) / 2);

    cairo_font_face_t *ff = NULL;
    if (!st->hide_labels) {
        const char *fp = st->font_path ? st->font_path : AF_DEFAULT_FONT;
        af_status s = af_font_load(fp, &ff, err);
        if (s != AF_OK)
            return s;
    }
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, img->w, img->h);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        cairo_font_face_destroy(ff);
        return af_fail(err, AF_E_NOMEM, "draw: cannot allocate a %dx%d canvas", img->w, img->h);
    }
    unsigned char *sd = cairo_image_surface_get_data(surf);
    const int stride = cairo_image_surface_get_stride(surf);
    cairo_surface_flush(surf);
    copy_in(img, sd, stride);
    cairo_surface_mark_dirty(surf);

    cairo_t *cr = cairo_create(surf);
    dc.cr = cr;
    dc.font_px = 0;
    if (ff) {
        cairo_set_font_face(cr, ff);
        cairo_font_options_t *fo = cairo_font_options_create();
        cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
        cairo_set_font_options(cr, fo);
        cairo_font_options_destroy(fo);
        cairo_set_font_size(cr, 100);
        cairo_text_extents_t ext;
        cairo_text_extents(cr, "H", &ext);
        const double cap = ext.height > 1 ? ext.height / 100 : 0.73;
        dc.font_px = 21 * dc.sf / cap;
    }

    for (int i = n - 1; i >= 0; i--) { /* reversed(boxes), as Results.plot */
        const af_detection *di = &d[i];
        if (!isfinite(di->x1) || !isfinite(di->y1) || !isfinite(di->x2) || !isfinite(di->y2))
            continue;
        char label[320], num[16];
        const char *name = NULL;
        if (names && di->cls >= 0 && di->cls < nnames)
            name = names[di->cls];
        if (!name) {
            snprintf(num, sizeof num, "%d", di->cls);
            name = num;
        }
        af_draw_label_text(label, sizeof label, name, di->conf, st->hide_labels || !ff,
                           st->hide_conf);
        draw_one(&dc, di, label);
    }

    af_status rc = AF_OK;
    cairo_status_t cs = cairo_status(cr);
    if (cs != CAIRO_STATUS_SUCCESS)
        rc = af_fail(err, AF_E_INTERNAL, "draw: cairo: %s", cairo_status_to_string(cs));
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    if (rc == AF_OK)
        copy_out(img, sd, stride);
    cairo_surface_destroy(surf);
    cairo_font_face_destroy(ff);
    return rc;
}
