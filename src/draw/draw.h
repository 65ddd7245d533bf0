/*
 * Annotated prediction images, drawn like ultralytics 8.1.9 Results.plot()
 * (Annotator, cv2 path) but rendered with cairo and a TrueType font.
 *
 * Geometry (same rules as Annotator.box_label):
 * - line width lw = line_width, or max(round((h + w + 3) / 2 * 0.003), 2)
 *   (sum(im.shape) of a 3-channel image; Python round, half to even);
 * - box corners int(x1), int(y1), int(x2), int(y2) (truncation), outline of
 *   width lw centred on the edges, round joins (cv2 thick lines have round
 *   caps), anti-aliased, in the class colour: ultralytics Colors palette,
 *   class index modulo 20;
 * - label "name 0.83" ("%s %.2f"; the name alone when hide_conf or conf is
 *   0, nothing when hide_labels); font scale sf = lw/3, thickness tf =
 *   max(lw-1, 1); label height h = cvRound(21*sf + (tf+1)/2) as cv2's
 *   getTextSize gives for FONT_HERSHEY_SIMPLEX, label width = text advance +
 *   tf; filled box from (x1, y1) to (x1+w, y1-h-3) when y1-h >= 3 (above the
 *   box), else to (x1+w, y1+h+3) (inside); white text with its baseline at
 *   y1-2 (above) or y1+h+2 (inside); the font's cap height is 21*sf pixels,
 *   the size of the Hershey capitals cv2 draws;
 * - detections are drawn last to first, as Results.plot iterates
 *   reversed(boxes), so the best detection ends on top.
 */
#ifndef AF_DRAW_DRAW_H
#define AF_DRAW_DRAW_H

#include <stddef.h>
#include <stdint.h>

#include "animeface.h"
#include "io/image.h"

#define AF_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

typedef struct af_draw_style {
    int line_width; /* 0: automatic */
    int hide_labels, hide_conf;
    const char *font_path; /* NULL: AF_DEFAULT_FONT */
} af_draw_style;

void af_draw_style_default(af_draw_style *st);

/* Draws the detections (original-image pixels) onto img in place. img: 3
 * (RGB) or 4 (RGBA, alpha left as is) channels, rows of w*c bytes. names[cls]
 * is the class name; a class outside [0, nnames) is shown as its number. The
 * font is opened only when a label is drawn; a missing or unreadable font
 * file gives AF_E_IO. */
af_status af_draw_detections(af_image *img, const af_detection *d, int n,
                             const char *const *names, int nnames, const af_draw_style *st,
                             af_error *err);

/* ultralytics Colors()(cls) in RGB: the 20-entry palette, Python modulo. */
void af_palette_color(int cls, uint8_t rgb[3]);

/* The line width Annotator uses for an image of w x h (line_width 0: auto). */
int af_draw_line_width(int w, int h, int line_width);

/* The label text ("" when hidden); returns its length (snprintf semantics). */
int af_draw_label_text(char *buf, size_t cap, const char *name, float conf, int hide_labels,
                       int hide_conf);

#endif
