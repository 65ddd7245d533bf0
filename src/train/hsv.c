/*
 * RandomHSV in OpenCV's 8-bit HSV space (imgproc color_hsv, OpenCV 4.6):
 *  RGB -> HSV (COLOR_BGR2HSV on the same pixel): v = max(r,g,b), diff = v - min,
 *    s = (diff * sdiv[v] + 2048) >> 12 with sdiv[i] = round((255 << 12) / i),
 *    h = g - b (v == r), b - r + 2 diff (v == g), else r - g + 4 diff;
 *    h = (h * hdiv[diff] + 2048) >> 12 with hdiv[i] = round((180 << 12) / (6 i)), + 180 if < 0;
 *    sdiv[0] = hdiv[0] = 0. Integer only: exact.
 *  HSV -> RGB (COLOR_HSV2BGR): float32: h * (6/180), s / 255, v / 255, sector = floor(h),
 *    f = h - sector, tab = {v, v(1-s), v(1-s f), v(1-s(1-f))}, per sector
 *    (b,g,r) = tab[{1,3,0},{1,0,2},{3,0,1},{0,2,1},{0,1,3},{2,1,0}], times 255 rounded to
 *    nearest (even). Matches cv2 4.6 on all but 257 of the 180*256*256 inputs (by 1, where
 *    cv2's vectorised float evaluation lands on the other side of a .5).
 *  LUTs (ultralytics): hue = uint8(fmod(x * r0, 180)) (numpy's non-negative mod),
 *    sat = uint8(clip(x * r1, 0, 255)), val = uint8(clip(x * r2, 0, 255)), x = 0..255.
 */
#include <math.h>

#include "train/augment.h"

typedef struct hsv_tables {
    int sdiv[256], hdiv[256];
} hsv_tables;

static void tables_init(hsv_tables *t)
{
    t->sdiv[0] = t->hdiv[0] = 0;
    for (int i = 1; i < 256; i++) {
        t->sdiv[i] = (int)nearbyint((double)(255 << 12) / (1.0 * i));
        t->hdiv[i] = (int)nearbyint((double)(180 << 12) / (6.0 * i));
    }
}

static inline void to_hsv(const hsv_tables *t, int r, int g, int b, uint8_t *hsv)
{
    int v = b, vmin = b;
    if (g > v)
        v = g;
    if (r > v)
        v = r;
    if (g < vmin)
        vmin = g;
    if (r < vmin)
        vmin = r;
    int diff = v - vmin;
    int vr = v == r ? -1 : 0, vg = v == g ? -1 : 0;
    int s = (diff * t->sdiv[v] + (1 << 11)) >> 12;
    int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + (~vg & (r - g + 4 * diff))));
    h = (h * t->hdiv[diff] + (1 << 11)) >> 12;
    h += h < 0 ? 180 : 0;
    hsv[0] = (uint8_t)(h < 0 ? 0 : h > 255 ? 255 : h);
    hsv[1] = (uint8_t)s;
    hsv[2] = (uint8_t)v;
}

static inline uint8_t sat_u8(float x)
{
    int i = (int)lrintf(x); /* nearest, ties to even, as cvRound */
    return (uint8_t)(i < 0 ? 0 : i > 255 ? 255 : i);
}

/* Hue -> sector and fraction, the float steps of HSV2RGB_native for an integer hue. */
typedef struct hue_tables {
    int sector[256];
    float frac[256];
} hue_tables;

static void hue_init(hue_tables *t)
{
    for (int i = 0; i < 256; i++) {
        float h = (float)i * (6.0f / 180.0f);
        h = fmodf(h, 6.0f);
        int sector = (int)floorf(h);
        h -= (float)sector;
        if ((unsigned)sector >= 6u) {
            sector = 0;
            h = 0.0f;
        }
        t->sector[i] = sector;
        t->frac[i] = h;
    }
}

static inline void to_rgb(const hue_tables *ht, int hi, int si, int vi, uint8_t *rgb)
{
    float s = (float)si * (1.0f / 255.0f), v = (float)vi * (1.0f / 255.0f);
    float b, g, r;
    if (s == 0) {
        b = g = r = v;
    } else {
        static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1},
                                              {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
        float tab[4];
        int sector = ht->sector[hi];
        float h = ht->frac[hi];
        tab[0] = v;
        tab[1] = v * (1.0f - s);
        tab[2] = v * (1.0f - s * h);
        tab[3] = v * (1.0f - s * (1.0f - h));
        b = tab[sector_data[sector][0]];
        g = tab[sector_data[sector][1]];
        r = tab[sector_data[sector][2]];
    }
    rgb[0] = sat_u8(r * 255.0f);
    rgb[1] = sat_u8(g * 255.0f);
    rgb[2] = sat_u8(b * 255.0f);
}

void af_rgb_to_hsv_u8(const uint8_t rgb[3], uint8_t hsv[3])
{
    hsv_tables t;
    tables_init(&t);
    to_hsv(&t, rgb[0], rgb[1], rgb[2], hsv);
}

void af_hsv_to_rgb_u8(const uint8_t hsv[3], uint8_t rgb[3])
{
    hue_tables ht;
    hue_init(&ht);
    to_rgb(&ht, hsv[0], hsv[1], hsv[2], rgb);
}

void af_hsv_luts(const double r[3], uint8_t lut[3][256])
{
    for (int x = 0; x < 256; x++) {
        double h = fmod((double)x * r[0], 180.0);
        if (h < 0)
            h += 180.0;
        if (!(h >= 0.0 && h < 180.0)) /* a tiny negative + 180 can round to 180; NaN */
            h = 0.0;
        lut[0][x] = (uint8_t)h;
        for (int c = 1; c < 3; c++) {
            double v = (double)x * r[c];
            v = !(v >= 0.0) ? 0.0 : v > 255.0 ? 255.0 : v; /* NaN -> 0 */
            lut[c][x] = (uint8_t)v;
        }
    }
}

void af_hsv_apply(af_image *img, const uint8_t lut[3][256])
{
    if (!img->data || img->c < 3)
        return;
    hsv_tables t;
    tables_init(&t);
    hue_tables ht;
    hue_init(&ht);
    size_t npx = (size_t)img->w * (size_t)img->h;
    int c = img->c;
    uint8_t *p = img->data;
    for (size_t i = 0; i < npx; i++, p += c) {
        uint8_t hsv[3];
        to_hsv(&t, p[0], p[1], p[2], hsv);
        to_rgb(&ht, lut[0][hsv[0]], lut[1][hsv[1]], lut[2][hsv[2]], p);
    }
}

void af_random_hsv(af_rng *r, float hgain, float sgain, float vgain, af_image *img)
{
    if (!(hgain != 0 || sgain != 0 || vgain != 0))
        return;
    double g[3] = {hgain, sgain, vgain}, rr[3];
    for (int i = 0; i < 3; i++)
        rr[i] = af_rng_uniform(r, -1.0, 1.0) * g[i] + 1.0;
    uint8_t lut[3][256];
    af_hsv_luts(rr, lut);
    af_hsv_apply(img, lut);
}
