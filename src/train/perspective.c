/*
 * ultralytics 8.1.9 RandomPerspective (data/augment.py) and the cv2 warps it calls.
 *
 * Matrix: M = T @ S @ R @ P @ C in float32 (numpy evaluates left to right):
 *   C = translate(-in_w/2, -in_h/2); P = [[1,0,0],[0,1,0],[px,py,1]];
 *   R = cv2.getRotationMatrix2D(angle, (0,0), scale) = [[a, b, 0], [-b, a, 0]],
 *       a = scale cos(angle), b = scale sin(angle) (angle in degrees, counter-clockwise on
 *       screen: y points down); S = [[1, tan(shx), 0], [tan(shy), 1, 0]];
 *   T = translate(tx * out_w, ty * out_h).
 * Warps (cv2 4.6 imgwarp.cpp, INTER_LINEAR, BORDER_CONSTANT): the forward matrix is inverted
 * in double (affine: cv2's closed form; perspective: adjugate / determinant, where cv2 uses
 * LU), each destination pixel (x, y) (pixel centres at integers, no half-pixel shift) maps
 * to a source position in 1/32 pixel fixed point:
 *   affine:      X = (round((m1 y + m2) 1024) + 16 + round(m0 x 1024)) >> 5,
 *   perspective: X = round((m0 x + m1 y + m2) * 32 / (m6 x + m7 y + m8)) (0 when w = 0),
 * ix = X >> 5 (floor), fx = X & 31, likewise Y; the result is the bilinear mix of the 4
 * source pixels with weights (32-fx)(32-fy)*32 ... (sum 2^15), (sum + 2^14) >> 15; taps
 * outside the source take the border value. This is cv2's arithmetic: on 16 random images
 * and rotation/scale/shear/perspective matrices of RandomPerspective's kind it gave the
 * same bytes as cv2 4.6's warpAffine / warpPerspective; bit-exactness is not promised in
 * general (cv2's SIMD remap was not studied).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/augment.h"

#define PI_D 3.14159265358979323846

void af_affine_sample(af_rng *r, const af_aug_hyp *hyp, af_affine_draw *d)
{
    d->px = af_rng_uniform(r, -hyp->perspective, hyp->perspective);
    d->py = af_rng_uniform(r, -hyp->perspective, hyp->perspective);
    d->angle = af_rng_uniform(r, -hyp->degrees, hyp->degrees);
    d->scale = af_rng_uniform(r, 1.0 - hyp->scale, 1.0 + hyp->scale);
    d->shx = af_rng_uniform(r, -hyp->shear, hyp->shear);
    d->shy = af_rng_uniform(r, -hyp->shear, hyp->shear);
    d->tx = af_rng_uniform(r, 0.5 - hyp->translate, 0.5 + hyp->translate);
    d->ty = af_rng_uniform(r, 0.5 - hyp->translate, 0.5 + hyp->translate);
}

static void matmul3f(const float a[9], const float b[9], float out[9])
{
    float t[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            t[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    memcpy(out, t, sizeof t);
}

static void eye3f(float m[9])
{
    memset(m, 0, 9 * sizeof(float));
    m[0] = m[4] = m[8] = 1.0f;
}

void af_affine_matrix(const af_affine_draw *d, int in_w, int in_h, int out_w, int out_h,
                      float M[9])
{
    float C[9], P[9], R[9], S[9], T[9];
    eye3f(C);
    C[2] = (float)(-in_w / 2.0);
    C[5] = (float)(-in_h / 2.0);
    eye3f(P);
    P[6] = (float)d->px;
    P[7] = (float)d->py;
    eye3f(R);
    double a = d->angle * PI_D / 180.0;
    double al = cos(a) * d->scale, be = sin(a) * d->scale;
    R[0] = (float)al;
    R[1] = (float)be;
    R[3] = (float)-be;
    R[4] = (float)al;
    eye3f(S);
    S[1] = (float)tan(d->shx * PI_D / 180.0);
    S[3] = (float)tan(d->shy * PI_D / 180.0);
    eye3f(T);
    T[2] = (float)(d->tx * out_w);
    T[5] = (float)(d->ty * out_h);
    matmul3f(T, S, M);
    matmul3f(M, R, M);
    matmul3f(M, P, M);
    matmul3f(M, C, M);
}

/* cvRound of a double with cv2's saturation to int. */
static int64_t round_sat_int(double v)
{
    if (!(v == v))
        return INT_MIN;
    if (v >= (double)INT_MAX)
        return INT_MAX;
    if (v <= (double)INT_MIN)
        return INT_MIN;
    return (int64_t)nearbyint(v);
}

static int sat_short(int64_t v)
{
    return v < SHRT_MIN ? SHRT_MIN : v > SHRT_MAX ? SHRT_MAX : (int)v;
}

/* One destination pixel from source position (ix + fx/32, iy + fy/32). */
static inline void sample_px(const af_image *src, int ix, int iy, int fx, int fy,
                             uint8_t border, uint8_t *dst)
{
    int c = src->c, w = src->w, h = src->h;
    if (ix >= w || ix + 1 < 0 || iy >= h || iy + 1 < 0) {
        memset(dst, border, (size_t)c);
        return;
    }
    int w00 = (32 - fx) * (32 - fy) * 32, w01 = fx * (32 - fy) * 32;
    int w10 = (32 - fx) * fy * 32, w11 = fx * fy * 32;
    size_t stride = (size_t)w * (size_t)c;
    if (ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h) {
        const uint8_t *p0 = src->data + (size_t)iy * stride + (size_t)ix * c;
        const uint8_t *p1 = p0 + stride;
        for (int k = 0; k < c; k++) {
            int v = w00 * p0[k] + w01 * p0[c + k] + w10 * p1[k] + w11 * p1[c + k];
            dst[k] = (uint8_t)((v + (1 << 14)) >> 15);
        }
        return;
    }
    int in_x0 = ix >= 0 && ix < w, in_x1 = ix + 1 >= 0 && ix + 1 < w;
    int in_y0 = iy >= 0 && iy < h, in_y1 = iy + 1 >= 0 && iy + 1 < h;
    const uint8_t *r0 = in_y0 ? src->data + (size_t)iy * stride : NULL;
    const uint8_t *r1 = in_y1 ? src->data + (size_t)(iy + 1) * stride : NULL;
    for (int k = 0; k < c; k++) {
        int v00 = r0 && in_x0 ? r0[(size_t)ix * c + k] : border;
        int v01 = r0 && in_x1 ? r0[(size_t)(ix + 1) * c + k] : border;
        int v10 = r1 && in_x0 ? r1[(size_t)ix * c + k] : border;
        int v11 = r1 && in_x1 ? r1[(size_t)(ix + 1) * c + k] : border;
        int v = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11;
        int o = (v + (1 << 14)) >> 15;
        dst[k] = (uint8_t)(o > 255 ? 255 : o);
    }
}

static af_status check_warp(const af_image *src, int dw, int dh, af_image *dst, af_error *err)
{
    if (!src->data || src->w < 1 || src->h < 1 || src->c < 1 || src->c > 4)
        return af_fail(err, AF_E_ARG, "warp: empty source image");
    if (dw < 1 || dh < 1 || dw > 65500 || dh > 65500)
        return af_fail(err, AF_E_ARG, "warp: output size %dx%d is outside 1..65500", dw, dh);
    return af_image_alloc(dst, dw, dh, src->c, err);
}

af_status af_warp_affine(const af_image *src, const double M[6], int dw, int dh,
                         uint8_t border, af_image *dst, af_error *err)
{
    af_status st = check_warp(src, dw, dh, dst, err);
    if (st)
        return st;
    /* cv2's inversion of a 2x3 matrix */
    double D = M[0] * M[4] - M[1] * M[3];
    D = D != 0.0 ? 1.0 / D : 0.0;
    double A11 = M[4] * D, A22 = M[0] * D, A12 = -M[1] * D, A21 = -M[3] * D;
    double b1 = -A11 * M[2] - A12 * M[5], b2 = -A21 * M[2] - A22 * M[5];
    int64_t *adelta = malloc((size_t)dw * 2 * sizeof(int64_t));
    if (!adelta) {
        af_image_free(dst);
        return af_fail(err, AF_E_NOMEM, "warp: out of memory");
    }
    int64_t *bdelta = adelta + dw;
    for (int x = 0; x < dw; x++) {
        adelta[x] = round_sat_int(A11 * x * 1024.0);
        bdelta[x] = round_sat_int(A21 * x * 1024.0);
    }
    int c = src->c;
    for (int y = 0; y < dh; y++) {
        int64_t X0 = round_sat_int((A12 * y + b1) * 1024.0) + 16;
        int64_t Y0 = round_sat_int((A22 * y + b2) * 1024.0) + 16;
        uint8_t *out = dst->data + (size_t)y * (size_t)dw * (size_t)c;
        for (int x = 0; x < dw; x++, out += c) {
            int64_t X = (X0 + adelta[x]) >> 5, Y = (Y0 + bdelta[x]) >> 5;
            int ix = sat_short(X >> 5), iy = sat_short(Y >> 5), fx = (int)(X & 31),
                fy = (int)(Y & 31);
            if (c == 3 && (unsigned)ix < (unsigned)(src->w - 1) &&
                (unsigned)iy < (unsigned)(src->h - 1)) {
                /* the common case, inlined: 3 channels, all 4 taps inside */
                const uint8_t *p0 = src->data + ((size_t)iy * (size_t)src->w + (size_t)ix) * 3;
                const uint8_t *p1 = p0 + (size_t)src->w * 3;
                int w00 = (32 - fx) * (32 - fy) * 32, w01 = fx * (32 - fy) * 32;
                int w10 = (32 - fx) * fy * 32, w11 = fx * fy * 32;
                out[0] = (uint8_t)((w00 * p0[0] + w01 * p0[3] + w10 * p1[0] + w11 * p1[3] +
                                    (1 << 14)) >> 15);
                out[1] = (uint8_t)((w00 * p0[1] + w01 * p0[4] + w10 * p1[1] + w11 * p1[4] +
                                    (1 << 14)) >> 15);
                out[2] = (uint8_t)((w00 * p0[2] + w01 * p0[5] + w10 * p1[2] + w11 * p1[5] +
                                    (1 << 14)) >> 15);
                continue;
            }
            sample_px(src, ix, iy, fx, fy, border, out);
        }
    }
    free(adelta);
    return AF_OK;
}

/* Inverse of a 3x3 matrix (adjugate / determinant); zero matrix when singular. */
static void invert3(const double m[9], double o[9])
{
    double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8],
           c02 = m[3] * m[7] - m[4] * m[6];
    double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
    if (det == 0.0 || !isfinite(det)) {
        memset(o, 0, 9 * sizeof(double));
        return;
    }
    double id = 1.0 / det;
    o[0] = c00 * id;
    o[1] = (m[2] * m[7] - m[1] * m[8]) * id;
    o[2] = (m[1] * m[5] - m[2] * m[4]) * id;
    o[3] = c01 * id;
    o[4] = (m[0] * m[8] - m[2] * m[6]) * id;
    o[5] = (m[2] * m[3] - m[0] * m[5]) * id;
    o[6] = c02 * id;
    o[7] = (m[1] * m[6] - m[0] * m[7]) * id;
    o[8] = (m[0] * m[4] - m[1] * m[3]) * id;
}

af_status af_warp_perspective(const af_image *src, const double M[9], int dw, int dh,
                              uint8_t border, af_image *dst, af_error *err)
{
    af_status st = check_warp(src, dw, dh, dst, err);
    if (st)
        return st;
    double m[9];
    invert3(M, m);
    int c = src->c;
    for (int y = 0; y < dh; y++) {
        double X0 = m[1] * y + m[2], Y0 = m[4] * y + m[5], W0 = m[7] * y + m[8];
        uint8_t *out = dst->data + (size_t)y * (size_t)dw * (size_t)c;
        for (int x = 0; x < dw; x++, out += c) {
            double W = W0 + m[6] * x;
            W = W != 0.0 ? 32.0 / W : 0.0;
            double fX = fmax((double)INT_MIN, fmin((double)INT_MAX, (X0 + m[0] * x) * W));
            double fY = fmax((double)INT_MIN, fmin((double)INT_MAX, (Y0 + m[3] * x) * W));
            int64_t X = round_sat_int(fX), Y = round_sat_int(fY);
            sample_px(src, sat_short(X >> 5), sat_short(Y >> 5), (int)(X & 31), (int)(Y & 31),
                      border, out);
        }
    }
    return AF_OK;
}

void af_boxes_transform(af_boxes *b, const float M[9], int perspective)
{
    for (int i = 0; i < b->n; i++) {
        float *p = b->xyxy + 4 * (size_t)i;
        /* corners x1y1, x2y2, x1y2, x2y1 as ultralytics */
        const float cx[4] = {p[0], p[2], p[0], p[2]}, cy[4] = {p[1], p[3], p[3], p[1]};
        float xmin = 0, ymin = 0, xmax = 0, ymax = 0;
        for (int k = 0; k < 4; k++) {
            float x = M[0] * cx[k] + M[1] * cy[k] + M[2];
            float y = M[3] * cx[k] + M[4] * cy[k] + M[5];
            if (perspective) {
                float w = M[6] * cx[k] + M[7] * cy[k] + M[8];
                x /= w;
                y /= w;
            }
            if (k == 0 || x < xmin)
                xmin = x;
            if (k == 0 || x > xmax)
                xmax = x;
            if (k == 0 || y < ymin)
                ymin = y;
            if (k == 0 || y > ymax)
                ymax = y;
        }
        p[0] = xmin;
        p[1] = ymin;
        p[2] = xmax;
        p[3] = ymax;
    }
}

int af_box_candidate(const float box1[4], const float box2[4], float wh_thr, float ar_thr,
                     float area_thr)
{
    const float eps = 1e-16f;
    float w1 = box1[2] - box1[0], h1 = box1[3] - box1[1];
    float w2 = box2[2] - box2[0], h2 = box2[3] - box2[1];
    float a = w2 / (h2 + eps), b = h2 / (w2 + eps);
    float ar = a > b ? a : b; /* np.maximum: NaN propagates (and fails ar < ar_thr) */
    if (a != a || b != b)
        ar = a + b;
    return w2 > wh_thr && h2 > wh_thr && w2 * h2 / (w1 * h1 + eps) > area_thr && ar < ar_thr;
}

static int is_identity(const float M[9])
{
    static const float I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    for (int i = 0; i < 9; i++)
        if (M[i] != I[i])
            return 0;
    return 1;
}

af_status af_random_perspective(af_rng *r, const af_aug_hyp *hyp, int border, af_image *img,
                                af_boxes *b, af_error *err)
{
    int out_w = img->w + 2 * border, out_h = img->h + 2 * border;
    if (!img->data || out_w < 1 || out_h < 1)
        return af_fail(err, AF_E_ARG, "perspective: %dx%d image with border %d is empty",
                       img->w, img->h, border);
    af_affine_draw d;
    af_affine_sample(r, hyp, &d);
    float M[9];
    af_affine_matrix(&d, img->w, img->h, out_w, out_h, M);
    int persp = hyp->perspective != 0.0f;
    if (border != 0 || !is_identity(M)) {
        double Md[9];
        for (int i = 0; i < 9; i++)
            Md[i] = M[i];
        af_image out = {0};
        af_status st = persp ? af_warp_perspective(img, Md, out_w, out_h, 114, &out, err)
                             : af_warp_affine(img, Md, out_w, out_h, 114, &out, err);
        if (st)
            return st;
        af_image_free(img);
        *img = out;
    }
    if (b->n == 0)
        return AF_OK;
    size_t nb = (size_t)b->n;
    float *before = malloc(nb * 4 * sizeof(float));
    uint8_t *keep = malloc(nb);
    if (!before || !keep) {
        free(before);
        free(keep);
        return af_fail(err, AF_E_NOMEM, "perspective: out of memory for %d boxes", b->n);
    }
    float s = (float)d.scale;
    for (size_t i = 0; i < nb * 4; i++)
        before[i] = b->xyxy[i] * s;
    af_boxes_transform(b, M, persp);
    af_boxes_clip(b, (float)out_w, (float)out_h);
    for (size_t i = 0; i < nb; i++)
        keep[i] = (uint8_t)af_box_candidate(before + 4 * i, b->xyxy + 4 * i, 2.0f, 100.0f, 0.1f);
    af_boxes_select(b, keep);
    free(before);
    free(keep);
    return AF_OK;
}
