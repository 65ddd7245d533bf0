/*
 * Validation plots of ultralytics 8.1.9 `val`, rendered with cairo (DejaVu Sans through
 * FreeType, no fontconfig lookup) and written as PNG / JPEG:
 *
 *  - af_plot_curve: PR_curve.png (metrics.plot_pr_curve) and F1/P/R_curve.png
 *    (metrics.plot_mc_curve): a 9x6 in figure at 250 dpi (2250x1500 px), matplotlib's
 *    default look with font.size 11 (ultralytics plt_settings), tight layout, axes [0,1]²,
 *    ticks every 0.2, per-class curves (coloured tab10 with a legend when 0 < nc < 21 and
 *    names are given, else thin grey), the bold blue mean curve, the legend outside at
 *    the upper right of the axes (bbox_to_anchor (1.04, 1), loc "upper left").
 *  - af_plot_confusion: confusion_matrix[_normalized].png (ConfusionMatrix.plot): a 12x9 in
 *    figure at 250 dpi (3000x2250 px), seaborn heatmap look (darkgrid + notebook context),
 *    Blues colormap, square cells, colorbar, annotations when nc < 30.
 *  - af_plot_mosaic: val_batchN_labels.jpg / val_batchN_pred.jpg (plotting.plot_images):
 *    up to 16 images in a ceil(sqrt(n)) square grid filled column by column, at most
 *    1920 px, white tile borders, file names, PIL-style boxes and labels in the
 *    ultralytics Colors palette; JPEG quality 75 (PIL's default).
 *
 * The format of the written file follows the extension of path (af_image_save).
 */
#ifndef AF_EVAL_PLOT_H
#define AF_EVAL_PLOT_H

#include <stdint.h>

#include "animeface.h"
#include "io/image.h"

typedef enum { AF_PLOT_PR, AF_PLOT_F1, AF_PLOT_P, AF_PLOT_R } af_plot_kind;

/* x: npts abscissae (recall for PR, confidence otherwise; ultralytics: linspace(0, 1,
 * 1000)); y: nc rows of npts values (row c = class c). names: nc class names, or NULL
 * (then the per-class curves are grey and have no legend, as for nc >= 21). ap50: nc
 * AP@0.5 values, required for AF_PLOT_PR (legend "face 0.955", "all classes 0.955
 * mAP@0.5"), ignored otherwise (legend "all classes 0.61 at 0.402" from the maximum of
 * af_plot_smooth(mean over classes, 0.05)). nc may be 0 (the mean is then NaN, as numpy
 * gives). NaN points are not drawn. */
af_status af_plot_curve(const char *path, af_plot_kind kind, const double *x, const double *y,
                        int nc, int npts, const char *const *names, const double *ap50,
                        af_error *err);

/* m: (nc+1) x (nc+1) counts, row-major, rows = predicted, columns = true, the last row
 * and column being "background". names: nc names (tick labels are names + "background"
 * when names != NULL and nc < 99, else numbers). normalize: divide each column by its
 * sum + 1e-9. Values < 0.005 are left blank, as ultralytics sets them to NaN. */
af_status af_plot_confusion(const char *path, const double *m, int nc, const char *const *names,
                            int normalize, af_error *err);

/* Boxes of one mosaic image. */
typedef struct af_mosaic_boxes {
    int n;
    const float *xyxy;  /* n x 4, pixels of the image given */
    const int *cls;     /* n classes */
    const float *conf;  /* NULL: ground truth ("name"); else predictions, drawn when
                           conf > 0.25 with "name 0.8" (one decimal) */
    const char *file;   /* image path: its base name (first 40 bytes) is written at the
                           tile's top left; NULL: nothing */
} af_mosaic_boxes;

#define AF_MOSAIC_MAX_IMAGES 16
#define AF_MOSAIC_MAX_SIZE 1920

/* imgs: nimgs RGB images (only the first 16 are used); boxes: nimgs entries or NULL.
 * The tile size is the largest width x largest height; images of another size are
 * letterboxed into it (scaled to fit, centred, padded with 114). In ultralytics every
 * image of a val batch has the batch's shape, so they are placed as they are. */
af_status af_plot_mosaic(const char *path, const af_image *const *imgs, int nimgs,
                         const af_mosaic_boxes *boxes, const char *const *names, int nnames,
                         af_error *err);

/* ultralytics metrics.smooth(y, f): box filter of nf = round(n*f*2)//2 + 1 points with
 * edge padding; out has n values (out may not alias y). */
void af_plot_smooth(const double *y, int n, double f, double *out);

/* The legend text of the mean curve ("all classes 0.955 mAP@0.5" or "all classes 0.61
 * at 0.402"), written to buf (snprintf semantics). For PR, ap50 holds nc values; for the
 * others, x and y as af_plot_curve. Returns the length or -1 when out of memory. */
int af_plot_mean_label(char *buf, size_t cap, af_plot_kind kind, const double *x,
                       const double *y, int nc, int npts, const double *ap50);

/* ==== internal: the small axes / text / legend layer shared by plot_*.c ==== */

/* results.png from a training run's results.csv (ultralytics plot_results layout). */
af_status af_plot_results(const char *csv_path, const char *png_path, af_error *err);

#ifdef AF_PLOT_INTERNAL
#include <cairo.h>

#define AF_PLOT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

typedef struct af_canvas {
    cairo_surface_t *surf;
    cairo_t *cr;
    cairo_font_face_t *font;
    int w, h;
    double dpi; /* points -> pixels: pt * dpi / 72 */
} af_canvas;

typedef struct af_rgb {
    double r, g, b;
} af_rgb;

/* Horizontal / vertical alignment of text, matplotlib's meaning. */
typedef enum { AF_HA_LEFT, AF_HA_CENTER, AF_HA_RIGHT } af_halign;
typedef enum { AF_VA_TOP, AF_VA_CENTER, AF_VA_BASELINE, AF_VA_BOTTOM } af_valign;

/* A white w x h canvas with the DejaVu Sans face loaded. */
af_status af_canvas_open(af_canvas *cv, int w, int h, double dpi, af_error *err);
void af_canvas_close(af_canvas *cv);
/* Writes the canvas through af_image_save (format from the extension). */
af_status af_canvas_save(af_canvas *cv, const char *path, int jpeg_quality, af_error *err);

static inline double af_pt(const af_canvas *cv, double pt)
{
    return pt * cv->dpi / 72.0;
}

/* Copies s into buf (cap bytes), replacing bytes that are not valid UTF-8 with '?'. */
void af_plot_utf8(char *buf, size_t cap, const char *s);

/* Text box of s at size_px, as matplotlib lays out one line: width = advance, ascent
 * and descent measured on "lp" (so every label of a size has the same height). */
typedef struct af_text_box {
    double w, asc, desc;
} af_text_box;
void af_text_measure(af_canvas *cv, const char *s, double size_px, af_text_box *tb);

/* Draws s anchored at (x, y) with the alignment given; rot90: rotated 90 degrees
 * counter-clockwise (reading upwards), the alignment then applies to the rotated box.
 * Returns the bounding box drawn (x0, y0, x1, y1) in bb when non-NULL. */
void af_text_draw(af_canvas *cv, const char *s, double size_px, double x, double y,
                  af_halign ha, af_valign va, int rot90, af_rgb c, double bb[4]);
/* Only the box af_text_draw would cover. */
void af_text_bbox(af_canvas *cv, const char *s, double size_px, double x, double y,
                  af_halign ha, af_valign va, int rot90, double bb[4]);

/* Axes: a pixel box (y down) and its data limits. */
typedef struct af_axes {
    double x0, y0, x1, y1; /* left, top, right, bottom in pixels */
    double xmin, xmax, ymin, ymax;
} af_axes;

static inline double af_axes_px(const af_axes *a, double x)
{
    return a->x0 + (x - a->xmin) / (a->xmax - a->xmin) * (a->x1 - a->x0);
}
static inline double af_axes_py(const af_axes *a, double y)
{
    return a->y1 - (y - a->ymin) / (a->ymax - a->ymin) * (a->y1 - a->y0);
}

/* A polyline of data points, clipped to the axes box; NaN points break the line.
 * Matplotlib line style: projecting caps, round joins. */
void af_axes_line(af_canvas *cv, const af_axes *a, const double *x, const double *y, int n,
                  double lw_px, af_rgb c);

/* Tick values of matplotlib's AutoLocator (MaxNLocator, nbins 9, steps 1, 2, 2.5, 5, 10)
 * on [lo, hi]; at most cap values, returns the count. */
int af_ticks_auto(double lo, double hi, double *t, int cap);
/* ScalarFormatter-like labels: the fewest decimals that represent every tick. */
void af_ticks_format(const double *t, int n, char (*lab)[32]);

/* Legend entry: a line handle and a label. */
typedef struct af_legend_entry {
    const char *label;
    af_rgb color;
    double lw_px;
} af_legend_entry;

/* Size of a legend box (matplotlib defaults: borderpad 0.4, labelspacing 0.5,
 * handlelength 2, handletextpad 0.8, in font sizes). */
void af_legend_measure(af_canvas *cv, const af_legend_entry *e, int n, double font_px, double *w,
                       double *h);
/* Draws it with its top-left corner at (x, y): white face, 0.8-grey rounded frame. */
void af_legend_draw(af_canvas *cv, const af_legend_entry *e, int n, double font_px, double x,
                    double y);

/* Extends bb (x0, y0, x1, y1) to cover o. */
void af_bbox_union(double bb[4], const double o[4]);
#endif

#endif
