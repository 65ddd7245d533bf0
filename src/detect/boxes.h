/*
 * Box conversions and scaling with ultralytics 8.1.9 ops semantics, in float32
 * as torch computes them (xywh2xyxy, xyxy2xywh, scale_boxes, clip_boxes).
 */
#ifndef AF_DETECT_BOXES_H
#define AF_DETECT_BOXES_H

#include "animeface.h"

/* (cx, cy, w, h) -> (x1, y1, x2, y2): x - w/2, y - h/2, x + w/2, y + h/2. In place is fine. */
void af_xywh2xyxy(const float in[4], float out[4]);
/* (x1, y1, x2, y2) -> ((x1+x2)/2, (y1+y2)/2, x2-x1, y2-y1). In place is fine. */
void af_xyxy2xywh(const float in[4], float out[4]);

/* clip_boxes: x to [0, w0], y to [0, h0] (torch.clamp: NaN stays NaN). */
void af_clip_boxes(af_detection *d, int n, int h0, int w0);

/* ops.scale_boxes(img1_shape=(in_h, in_w), boxes, img0_shape=(h0, w0)), padding=True:
 * gain = min(in_h/h0, in_w/w0); pad = (round((in_w - w0*gain)/2 - 0.1),
 * round((in_h - h0*gain)/2 - 0.1)) with Python's half-to-even round;
 * (xy - pad) / gain in float32, then clip to (h0, w0). */
void af_scale_boxes(af_detection *d, int n, int in_h, int in_w, int h0, int w0);

/* Same with an explicit ratio_pad ((gain, _), (pad_x, pad_y)) as the validator passes. */
void af_scale_boxes_ratio_pad(af_detection *d, int n, double gain, double pad_x, double pad_y,
                              int h0, int w0);

/* The gain and pads af_scale_boxes uses. */
void af_scale_boxes_params(int in_h, int in_w, int h0, int w0, double *gain, int *pad_x,
                           int *pad_y);

#endif
