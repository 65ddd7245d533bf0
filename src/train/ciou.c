#include "train/ciou.h"

#include <math.h>

#define CIOU_EPS 1e-7f

/* torch.minimum/maximum backward: the share of the gradient going to a. */
static double share_min(float a, float b)
{
    return a < b ? 1.0 : a == b ? 0.5 : 0.0;
}

static double share_max(float a, float b)
{
    return a > b ? 1.0 : a == b ? 0.5 : 0.0;
}

static float min_f(float a, float b)
{
    return b < a ? b : a;
}

static float max_f(float a, float b)
{
    return b > a ? b : a;
}

typedef struct ciou_fwd {
    float w1, h1, w2, h2;
    float iw, ih, inter, uni, iou;
    float cw, ch, c2, dx, dy, rho2;
    float r1, r2, da, v;
} ciou_fwd;

/* Everything up to v, in torch's float32 operation order. */
static void ciou_forward(const float b1[4], const float b2[4], ciou_fwd *f)
{
    f->w1 = b1[2] - b1[0];
    f->h1 = (b1[3] - b1[1]) + CIOU_EPS;
    f->w2 = b2[2] - b2[0];
    f->h2 = (b2[3] - b2[1]) + CIOU_EPS;
    f->iw = min_f(b1[2], b2[2]) - max_f(b1[0], b2[0]);
    f->ih = min_f(b1[3], b2[3]) - max_f(b1[1], b2[1]);
    float iwc = f->iw < 0.0f ? 0.0f : f->iw;
    float ihc = f->ih < 0.0f ? 0.0f : f->ih;
    f->inter = iwc * ihc;
    f->uni = ((f->w1 * f->h1 + f->w2 * f->h2) - f->inter) + CIOU_EPS;
    f->iou = f->inter / f->uni;
    f->cw = max_f(b1[2], b2[2]) - min_f(b1[0], b2[0]);
    f->ch = max_f(b1[3], b2[3]) - min_f(b1[1], b2[1]);
    f->c2 = (f->cw * f->cw + f->ch * f->ch) + CIOU_EPS;
    f->dx = ((b2[0] + b2[2]) - b1[0]) - b1[2];
    f->dy = ((b2[1] + b2[3]) - b1[1]) - b1[3];
    f->rho2 = (f->dx * f->dx + f->dy * f->dy) / 4.0f;
    f->r1 = f->w1 / f->h1;
    f->r2 = f->w2 / f->h2;
    f->da = atanf(f->r2) - atanf(f->r1);
    f->v = (float)(4.0 / (M_PI * M_PI)) * (f->da * f->da);
}

static float alpha_of(const ciou_fwd *f)
{
    return f->v / ((f->v - f->iou) + (1.0f + CIOU_EPS));
}

float af_ciou(const float b1[4], const float b2[4], af_ciou_parts *parts)
{
    ciou_fwd f;
    ciou_forward(b1, b2, &f);
    float alpha = alpha_of(&f);
    float c = f.iou - (f.rho2 / f.c2 + f.v * alpha);
    if (parts) {
        parts->iou = f.iou;
        parts->rho2 = f.rho2;
        parts->c2 = f.c2;
        parts->v = f.v;
        parts->alpha = alpha;
        parts->ciou = c;
    }
    return c;
}

float af_ciou_fixed_alpha(const float b1[4], const float b2[4], float alpha)
{
    ciou_fwd f;
    ciou_forward(b1, b2, &f);
    return f.iou - (f.rho2 / f.c2 + f.v * alpha);
}

float af_ciou_backward(const float b1[4], const float b2[4], float g, float d1[4], float d2[4])
{
    ciou_fwd f;
    ciou_forward(b1, b2, &f);
    float alpha = alpha_of(&f);
    float c = f.iou - (f.rho2 / f.c2 + f.v * alpha);

    double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0}; /* d/d b1, d/d b2 */
    double gd = g;
    /* ciou = iou - rho2/c2 - v*alpha */
    double g_iou = gd;
    double g_rho2 = -gd / f.c2;
    double g_c2 = gd * (double)f.rho2 / ((double)f.c2 * f.c2);
    double g_v = -gd * alpha;
    /* iou = inter / union */
    double g_inter = g_iou / f.uni;
    double g_uni = -g_iou * (double)f.inter / ((double)f.uni * f.uni);
    /* union = w1*h1 + w2*h2 - inter + eps */
    double g_w1 = g_uni * f.h1, g_h1 = g_uni * f.w1;
    double g_w2 = g_uni * f.h2, g_h2 = g_uni * f.w2;
    g_inter -= g_uni;
    /* inter = clamp(iw, 0) * clamp(ih, 0); clamp passes the gradient at >= 0 */
    double iwc = f.iw < 0.0f ? 0.0 : f.iw, ihc = f.ih < 0.0f ? 0.0 : f.ih;
    double g_iw = f.iw >= 0.0f ? g_inter * ihc : 0.0;
    double g_ih = f.ih >= 0.0f ? g_inter * iwc : 0.0;
    /* iw = min(b1x2, b2x2) - max(b1x1, b2x1), same in y */
    for (int k = 0; k < 2; k++) {
        double gi = k ? g_ih : g_iw;
        double s = share_min(b1[2 + k], b2[2 + k]);
        a[2 + k] += gi * s;
        b[2 + k] += gi * (1.0 - s);
        s = share_max(b1[k], b2[k]);
        a[k] -= gi * s;
        b[k] -= gi * (1.0 - s);
    }
    /* c2 = cw^2 + ch^2 + eps; cw = max(x2) - min(x1) */
    for (int k = 0; k < 2; k++) {
        double gc = g_c2 * 2.0 * (k ? f.ch : f.cw);
        double s = share_max(b1[2 + k], b2[2 + k]);
        a[2 + k] += gc * s;
        b[2 + k] += gc * (1.0 - s);
        s = share_min(b1[k], b2[k]);
        a[k] -= gc * s;
        b[k] -= gc * (1.0 - s);
    }
    /* rho2 = (dx^2 + dy^2) / 4, dx = b2x1 + b2x2 - b1x1 - b1x2 */
    for (int k = 0; k < 2; k++) {
        double gdd = g_rho2 * 0.5 * (k ? f.dy : f.dx);
        b[k] += gdd;
        b[2 + k] += gdd;
        a[k] -= gdd;
        a[2 + k] -= gdd;
    }
    /* v = K (atan(r2) - atan(r1))^2, r = w / h */
    double g_da = g_v * (4.0 / (M_PI * M_PI)) * 2.0 * f.da;
    double g_r2 = g_da / (1.0 + (double)f.r2 * f.r2);
    double g_r1 = -g_da / (1.0 + (double)f.r1 * f.r1);
    g_w1 += g_r1 / f.h1;
    g_h1 -= g_r1 * (double)f.w1 / ((double)f.h1 * f.h1);
    g_w2 += g_r2 / f.h2;
    g_h2 -= g_r2 * (double)f.w2 / ((double)f.h2 * f.h2);
    /* w = x2 - x1, h = y2 - y1 + eps */
    a[2] += g_w1;
    a[0] -= g_w1;
    a[3] += g_h1;
    a[1] -= g_h1;
    b[2] += g_w2;
    b[0] -= g_w2;
    b[3] += g_h2;
    b[1] -= g_h2;
    for (int k = 0; k < 4; k++) {
        if (d1)
            d1[k] = (float)a[k];
        if (d2)
            d2[k] = (float)b[k];
    }
    return c;
}
