#include "detect/boxes.h"

#include <math.h>

void af_xywh2xyxy(const float in[4], float out[4])
{
    float cx = in[0], cy = in[1], dw = in[2] / 2, dh = in[3] / 2;
    out[0] = cx - dw;
    out[1] = cy - dh;
    out[2] = cx + dw;
    out[3] = cy + dh;
}

void af_xyxy2xywh(const float in[4], float out[4])
{
    float x1 = in[0], y1 = in[1], x2 = in[2], y2 = in[3];
    out[0] = (x1 + x2) / 2;
    out[1] = (y1 + y2) / 2;
    out[2] = x2 - x1;
    out[3] = y2 - y1;
}

/* torch.clamp(x, lo, hi) on float: NaN propagates. */
static float clampf(float x, float lo, float hi)
{
    if (x < lo)
        x = lo;
    if (x > hi)
        x = hi;
    return x;
}

void af_clip_boxes(af_detection *d, int n, int h0, int w0)
{
    for (int i = 0; i < n; i++) {
        d[i].x1 = clampf(d[i].x1, 0.0f, (float)w0);
        d[i].y1 = clampf(d[i].y1, 0.0f, (float)h0);
        d[i].x2 = clampf(d[i].x2, 0.0f, (float)w0);
        d[i].y2 = clampf(d[i].y2, 0.0f, (float)h0);
    }
}

void af_scale_boxes_params(int in_h, int in_w, int h0, int w0, double *gain, int *pad_x,
                           int *pad_y)
{
    double gh = (double)in_h / h0, gw = (double)in_w / w0;
    double g = gh < gw ? gh : gw; /* Python min(): the first on ties */
    *gain = g;
    /* Python round(): half to even = nearbyint in the default rounding mode */
    *pad_x = (int)nearbyint((in_w - w0 * g) / 2 - 0.1);
    *pad_y = (int)nearbyint((in_h - h0 * g) / 2 - 0.1);
}

void af_scale_boxes_ratio_pad(af_detection *d, int n, double gain, double pad_x, double pad_y,
                              int h0, int w0)
{
    /* torch: float tensor -= python number, /= python float: the scalar is
     * cast to float32 and the op runs in float32 */
    const float px = (float)pad_x, py = (float)pad_y, g = (float)gain;
    for (int i = 0; i < n; i++) {
        d[i].x1 = (d[i].x1 - px) / g;
        d[i].y1 = (d[i].y1 - py) / g;
        d[i].x2 = (d[i].x2 - px) / g;
        d[i].y2 = (d[i].y2 - py) / g;
    }
    af_clip_boxes(d, n, h0, w0);
}

void af_scale_boxes(af_detection *d, int n, int in_h, int in_w, int h0, int w0)
{
    double gain;
    int px, py;
    if (h0 <= 0 || w0 <= 0)
        return;
    af_scale_boxes_params(in_h, in_w, h0, w0, &gain, &px, &py);
    af_scale_boxes_ratio_pad(d, n, gain, px, py, h0, w0);
}
