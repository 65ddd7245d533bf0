/* val_batchN_labels.jpg / val_batchN_pred.jpg as ultralytics 8.1.9 plotting.plot_images. */
#define AF_PLOT_INTERNAL
#include "eval/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "draw/draw.h"
#include "detect/letterbox.h"
#include "detect/resize.h"

#define MAX_MOSAIC_PIXELS ((uint64_t)1 << 26) /* before the resize to 1920 */
#define PIL_JPEG_QUALITY 75                    /* PIL's Image.save default */

typedef struct mosaic_ctx {
    af_canvas cv;
    double asc; /* PIL ascender of the font, pixels */
    int fs;
} mosaic_ctx;

static void set_rgb8(cairo_t *cr, const uint8_t c[3])
{
    cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
}

/* PIL ImageDraw.rectangle filled: both corners inclusive. */
static void pil_fill(cairo_t *cr, long x0, long y0, long x1, long y1, const uint8_t c[3])
{
    if (x1 < x0 || y1 < y0)
        return;
    set_rgb8(cr, c);
    cairo_rectangle(cr, (double)x0, (double)y0, (double)(x1 - x0 + 1), (double)(y1 - y0 + 1));
    cairo_fill(cr);
}

/* PIL ImageDraw.rectangle(outline, width): a frame of `width` pixels inside the box. */
static void pil_frame(cairo_t *cr, long x0, long y0, long x1, long y1, int width,
                      const uint8_t c[3])
{
    if (x1 < x0 || y1 < y0)
        return;
    if (width <= 0)
        width = 1;
    if (x1 - x0 + 1 <= 2L * width || y1 - y0 + 1 <= 2L * width) {
        pil_fill(cr, x0, y0, x1, y1, c);
        return;
    }
    pil_fill(cr, x0, y0, x1, y0 + width - 1, c);
    pil_fill(cr, x0, y1 - width + 1, x1, y1, c);
    pil_fill(cr, x0, y0 + width, x0 + width - 1, y1 - width, c);
    pil_fill(cr, x1 - width + 1, y0 + width, x1, y1 - width, c);
}

/* PIL font.getbbox(text)[2:4] with the "la" anchor: advance width, ascender + ink below
 * the baseline. */
static void pil_text_size(mosaic_ctx *m, const char *s, long *w, long *h)
{
    cairo_t *cr = m->cv.cr;
    cairo_set_font_size(cr, m->fs);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    const double right = fmax(e.x_advance, e.x_bearing + e.width);
    const double below = e.y_bearing + e.height;
    *w = (long)ceil(right - 1e-9);
    *h = (long)m->asc + (below > 0 ? (long)ceil(below - 1e-9) : 0);
}

/* PIL ImageDraw.text((x, y), s) with the "la" anchor: the ascender line at y. */
static void pil_text(mosaic_ctx *m, long x, long y, const char *s, const uint8_t c[3])
{
    cairo_t *cr = m->cv.cr;
    cairo_set_font_size(cr, m->fs);
    set_rgb8(cr, c);
    cairo_move_to(cr, (double)x, (double)y + m->asc);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
}

/* Annotator.box_label, PIL branch. */
static void box_label(mosaic_ctx *m, long x0, long y0, long x1, long y1, const char *label,
                      const uint8_t col[3], int lw)
{
    static const uint8_t white[3] = {255, 255, 255};
    cairo_t *cr = m->cv.cr;
    if (x1 < x0 || y1 < y0)
        return; /* PIL refuses such a rectangle */
    pil_frame(cr, x0, y0, x1, y1, lw, col);
    if (!label[0])
        return;
    long w, h;
    pil_text_size(m, label, &w, &h);
    const int outside = y0 - h >= 0;
    pil_fill(cr, x0, outside ? y0 - h : y0, x0 + w + 1, outside ? y0 + 1 : y0 + h + 1, col);
    pil_text(m, x0, outside ? y0 - h : y0, label, white);
}

/* Base name of a path, at most 40 code points, valid UTF-8. */
static void file_label(char *buf, size_t cap, const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    af_plot_utf8(buf, cap, b);
    int cps = 0;
    for (char *p = buf; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80 && ++cps > 40) {
            *p = '\0';
            break;
        }
    }
}

static double clampf(double v)
{
    return v < -1e9 ? -1e9 : v > 1e9 ? 1e9 : v;
}

/* Places an image (letterboxed when its size differs from the tile) at (ox, oy) of the
 * mosaic; the map from image pixels to tile pixels is v * g + (dx | dy). */
static af_status place_tile(af_image *mo, const af_image *im, int w, int h, int ox, int oy,
                            double *g, double *dx, double *dy, af_error *err)
{
    af_image tmp = {0, 0, 0, NULL};
    const af_image *src = im;
    *g = 1;
    *dx = *dy = 0;
    if (im->w != w || im->h != h) {
        af_letterbox lb;
        af_letterbox_plan(im->h, im->w, h, w, 32, 0, 1, 1, &lb);
        af_status s = af_letterbox_apply(im, &lb, 114, &tmp, err);
        if (s != AF_OK)
            return s;
        if (tmp.w != w || tmp.h != h) {
            af_image_free(&tmp);
            return af_fail(err, AF_E_INTERNAL, "mosaic: letterbox gave %dx%d, not %dx%d", tmp.w,
                           tmp.h, w, h);
        }
        src = &tmp;
        *g = lb.ratio;
        *dx = lb.left;
        *dy = lb.top;
    }
    for (int y = 0; y < h; y++)
        memcpy(mo->data + ((size_t)(oy + y) * mo->w + ox) * 3, src->data + (size_t)y * w * 3,
               (size_t)w * 3);
    af_image_free(&tmp);
    return AF_OK;
}

static void copy_to_surface(af_canvas *cv, const af_image *im)
{
    cairo_surface_flush(cv->surf);
    unsigned char *sd = cairo_image_surface_get_data(cv->surf);
    const int stride = cairo_image_surface_get_stride(cv->surf);
    for (int y = 0; y < im->h; y++) {
        const uint8_t *s = im->data + (size_t)y * im->w * 3;
        uint32_t *o = (uint32_t *)(void *)(sd + (size_t)y * stride);
        for (int x = 0; x < im->w; x++, s += 3)
            o[x] = 0xFF000000u | ((uint32_t)s[0] << 16) | ((uint32_t)s[1] << 8) | s[2];
    }
    cairo_surface_mark_dirty(cv->surf);
}

af_status af_plot_mosaic(const char *path, const af_image *const *imgs, int nimgs,
                         const af_mosaic_boxes *boxes, const char *const *names, int nnames,
                         af_error *err)
{
    if (!path || !imgs || nimgs < 1 || nnames < 0 || (nnames > 0 && !names))
        return af_fail(err, AF_E_ARG, "mosaic %s: bad arguments (%d images)",
                       path ? path : "(null)", nimgs);
    const int bs = nimgs < AF_MOSAIC_MAX_IMAGES ? nimgs : AF_MOSAIC_MAX_IMAGES;
    int w = 0, h = 0;
    for (int i = 0; i < bs; i++) {
        const af_image *im = imgs[i];
        if (!im || !im->data || im->c != 3 || im->w <= 0 || im->h <= 0)
            return af_fail(err, AF_E_ARG, "mosaic %s: image %d is empty or not RGB", path, i);
        w = im->w > w ? im->w : w;
        h = im->h > h ? im->h : h;
        if (boxes && boxes[i].n < 0)
            return af_fail(err, AF_E_ARG, "mosaic %s: image %d has %d boxes", path, i,
                           boxes[i].n);
        if (boxes && boxes[i].n > 0 && (!boxes[i].xyxy || !boxes[i].cls))
            return af_fail(err, AF_E_ARG, "mosaic %s: image %d: boxes without coordinates or "
                           "classes", path, i);
    }
    const int ns = (int)ceil(sqrt((double)bs));
    if ((uint64_t)ns * w * (uint64_t)ns * h > MAX_MOSAIC_PIXELS)
        return af_fail(err, AF_E_LIMIT, "mosaic %s: %d tiles of %dx%d are too large (at most %llu "
                       "pixels before scaling)", path, ns * ns, w, h,
                       (unsigned long long)MAX_MOSAIC_PIXELS);

    af_image mo = {0, 0, 0, NULL}, scaled = {0, 0, 0, NULL};
    af_status s = af_image_alloc(&mo, ns * w, ns * h, 3, err);
    if (s != AF_OK)
        return s;
    memset(mo.data, 255, (size_t)mo.w * mo.h * 3);
    double g[AF_MOSAIC_MAX_IMAGES], dx[AF_MOSAIC_MAX_IMAGES], dy[AF_MOSAIC_MAX_IMAGES];
    for (int i = 0; i < bs && s == AF_OK; i++) /* column by column: x = w * (i // ns) */
        s = place_tile(&mo, imgs[i], w, h, w * (i / ns), h * (i % ns), &g[i], &dx[i], &dy[i], err);
    if (s != AF_OK) {
        af_image_free(&mo);
        return s;
    }

    /* scale = max_size / ns / max(h, w); below 1 the whole mosaic is cv2.resize'd */
    const int w0 = w, h0 = h;
    const double scale = (double)AF_MOSAIC_MAX_SIZE / ns / (h > w ? h : w);
    if (scale < 1) {
        h = (int)ceil(scale * h);
        w = (int)ceil(scale * w);
        s = af_resize_linear_u8(&mo, w * ns, h * ns, &scaled, err);
        af_image_free(&mo);
        if (s != AF_OK)
            return s;
        mo = scaled;
    }

    mosaic_ctx m;
    s = af_canvas_open(&m.cv, mo.w, mo.h, 72, err);
    if (s != AF_OK) {
        af_image_free(&mo);
        return s;
    }
    copy_to_surface(&m.cv, &mo);
    af_image_free(&mo);
    cairo_t *cr = m.cv.cr;
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE); /* PIL shapes are not anti-aliased */

    /* fs = int((h + w) * ns * 0.01); Annotator(line_width=round(fs / 10), font_size=fs) */
    int fs = (int)((double)(h + w) * ns * 0.01);
    int lw = (int)nearbyint(fs / 10.0);
    if (lw == 0) /* Annotator: line_width or max(round(sum(im.shape) / 2 * 0.003), 2) */
        lw = af_draw_line_width(m.cv.w, m.cv.h, 0);
    if (fs == 0) /* font_size or max(round(sum(im.size) / 2 * 0.035), 12) */
        fs = (int)fmax(nearbyint((m.cv.w + m.cv.h) / 2.0 * 0.035), 12);
    m.fs = fs;
    cairo_set_font_size(cr, fs);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    m.asc = ceil(fe.ascent - 1e-9);

    static const uint8_t white[3] = {255, 255, 255}, fname_col[3] = {220, 220, 220};
    for (int i = 0; i < bs; i++) {
        const long x = (long)w * (i / ns), y = (long)h * (i % ns);
        pil_frame(cr, x, y, x + w, y + h, 2, white);
        const af_mosaic_boxes *b = boxes ? &boxes[i] : NULL;
        if (b && b->file) {
            char fl[256];
            file_label(fl, sizeof fl, b->file);
            pil_text(&m, x + 5, y + 5, fl, fname_col);
        }
        if (!b)
            continue;
        for (int j = 0; j < b->n; j++) {
            const float *q = b->xyxy + (size_t)4 * j;
            if (!isfinite(q[0]) || !isfinite(q[1]) || !isfinite(q[2]) || !isfinite(q[3]))
                continue;
            if (b->conf && !(b->conf[j] > 0.25f))
                continue; /* 0.25 conf threshold */
            double c[4];
            for (int k = 0; k < 4; k++) {
                /* image pixels -> tile pixels -> mosaic pixels */
                double v = q[k] * g[i] + ((k & 1) ? dy[i] : dx[i]);
                if (!b->conf) /* labels are normalised, then times the (scaled) tile size */
                    v = (k & 1) ? v / h0 * h : v / w0 * w;
                else if (scale < 1)
                    v *= scale;
                c[k] = clampf(v + ((k & 1) ? y : x));
            }
            const int cls = b->cls[j];
            uint8_t col[3];
            af_palette_color(cls, col);
            char num[16], nm[128], label[192];
            const char *name = names && cls >= 0 && cls < nnames ? names[cls] : NULL;
            if (!name) {
                snprintf(num, sizeof num, "%d", cls);
                name = num;
            }
            af_plot_utf8(nm, sizeof nm, name);
            if (b->conf)
                snprintf(label, sizeof label, "%s %.1f", nm, (double)b->conf[j]);
            else
                snprintf(label, sizeof label, "%s", nm);
            box_label(&m, (long)c[0], (long)c[1], (long)c[2], (long)c[3], label, col, lw);
        }
    }
    s = af_canvas_save(&m.cv, path, PIL_JPEG_QUALITY, err);
    af_canvas_close(&m.cv);
    return s;
}
