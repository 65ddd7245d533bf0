#include "detect/labels.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "detect/boxes.h"

/* Python "%g" % x: as C's %g, except that NaN is always "nan" (glibc may
 * print "-nan"). */
static int fmt_g(char *buf, size_t cap, double x)
{
    if (isnan(x))
        return snprintf(buf, cap, "nan");
    return snprintf(buf, cap, "%g", x);
}

int af_label_line(char *buf, size_t cap, const af_detection *d, int img_w, int img_h,
                  int save_conf)
{
    const float xyxy[4] = {d->x1, d->y1, d->x2, d->y2};
    float b[4];
    af_xyxy2xywh(xyxy, b);
    const float fw = (float)img_w, fh = (float)img_h;
    double v[6];
    int nv = 0;
    v[nv++] = (double)d->cls;
    v[nv++] = (double)(b[0] / fw);
    v[nv++] = (double)(b[1] / fh);
    v[nv++] = (double)(b[2] / fw);
    v[nv++] = (double)(b[3] / fh);
    if (save_conf)
        v[nv++] = (double)d->conf;
    char tmp[6 * 40];
    size_t at = 0;
    for (int k = 0; k < nv; k++) {
        if (k)
            tmp[at++] = ' ';
        at += (size_t)fmt_g(tmp + at, sizeof tmp - at, v[k]); /* <= 13 chars each */
    }
    tmp[at] = '\0';
    return snprintf(buf, cap, "%s", tmp);
}

af_status af_labels_append(const char *path, const af_detection *d, int n, int img_w, int img_h,
                           int save_conf, af_error *err)
{
    if (n < 0 || (n > 0 && !d) || img_w <= 0 || img_h <= 0)
        return af_fail(err, AF_E_ARG, "labels %s: bad arguments", path);
    if (n == 0)
        return AF_OK;
    FILE *f = fopen(path, "a");
    if (!f)
        return af_fail(err, AF_E_IO, "labels %s: %s", path, strerror(errno));
    char line[512];
    for (int i = 0; i < n; i++) {
        af_label_line(line, sizeof line, &d[i], img_w, img_h, save_conf);
        if (fputs(line, f) == EOF || fputc('\n', f) == EOF) {
            int e = errno;
            fclose(f);
            return af_fail(err, AF_E_IO, "labels %s: write failed: %s", path, strerror(e));
        }
    }
    if (fclose(f) != 0)
        return af_fail(err, AF_E_IO, "labels %s: write failed: %s", path, strerror(errno));
    return AF_OK;
}
