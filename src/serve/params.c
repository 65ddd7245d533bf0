#include "serve/params.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

static af_status get_double(serve_lookup_fn lookup, void *cls, const char *name, double lo,
                            double hi, double *out, af_error *err)
{
    const char *s = lookup(cls, name);
    if (!s)
        return AF_OK;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return af_fail(err, AF_E_ARG, "%s: '%.40s' is not a number from %g to %g", name, s, lo, hi);
    *out = v;
    return AF_OK;
}

/* Comma-separated integers in [lo, hi]; at most cap of them. */
static af_status get_ints(serve_lookup_fn lookup, void *cls, const char *name, long lo, long hi,
                          int *out, int cap, int *n, af_error *err)
{
    const char *s = lookup(cls, name);
    *n = 0;
    if (!s)
        return AF_OK;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < lo || v > hi || *n == cap || (*end && *end != ','))
            return af_fail(err, AF_E_ARG,
                           "%s: '%.40s' is not a list of at most %d integers from %ld to %ld", name,
                           s, cap, lo, hi);
        out[(*n)++] = (int)v;
        if (!*end)
            return AF_OK;
        p = end + 1;
    }
}

static af_status get_bool(serve_lookup_fn lookup, void *cls, const char *name, int *out,
                          af_error *err)
{
    const char *s = lookup(cls, name);
    if (!s)
        return AF_OK;
    if (!*s || !strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
        !strcasecmp(s, "on"))
        *out = 1;
    else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
             !strcasecmp(s, "off"))
        *out = 0;
    else
        return af_fail(err, AF_E_ARG, "%s: '%.40s' is not true or false", name, s);
    return AF_OK;
}

static af_status get_format(serve_lookup_fn lookup, void *cls, serve_crop_params *c, af_error *err)
{
    const char *s = lookup(cls, "format");
    if (!s)
        return AF_OK;
    if (!strcasecmp(s, "jpg") || !strcasecmp(s, "jpeg")) {
        c->format = "jpeg";
        c->ext = "jpg";
    } else if (!strcasecmp(s, "png")) {
        c->format = "png";
        c->ext = "png";
    } else if (!strcasecmp(s, "webp")) {
        c->format = "webp";
        c->ext = "webp";
    } else {
        return af_fail(err, AF_E_ARG, "format: '%.40s' is not jpg, png or webp", s);
    }
    return AF_OK;
}

af_status serve_params_parse(serve_lookup_fn lookup, void *cls, int max_imgsz, float default_conf,
                             serve_params *p, af_error *err)
{
    memset(p, 0, sizeof *p);
    af_detect_options_default(&p->det);
    if (default_conf > 0)
        p->det.conf = default_conf;
    p->crop.format = "jpeg";
    p->crop.ext = "jpg";
    p->crop.quality = 95;
    double conf = p->det.conf, iou = p->det.iou, margin = 0;
    int v[2], n, st;
    if ((st = get_double(lookup, cls, "conf", 0, 1, &conf, err)) ||
        (st = get_double(lookup, cls, "iou", 0, 1, &iou, err)) ||
        (st = get_double(lookup, cls, "margin", 0, 10, &margin, err)))
        return st;
    p->det.conf = (float)conf;
    p->det.iou = (float)iou;
    p->crop.margin = margin;
    if ((st = get_ints(lookup, cls, "imgsz", 1, max_imgsz, v, 2, &n, err)))
        return st;
    if (n) {
        p->det.imgsz_h = v[0];
        p->det.imgsz_w = n > 1 ? v[1] : v[0];
    }
    if ((st = get_ints(lookup, cls, "max_det", 1, 100000, v, 1, &n, err)))
        return st;
    if (n)
        p->det.max_det = v[0];
    if ((st = get_ints(lookup, cls, "classes", 0, 100000, p->classes, SERVE_MAX_CLASSES, &n, err)))
        return st;
    if (n) {
        p->det.classes = p->classes;
        p->det.nclasses = n;
    }
    if ((st = get_bool(lookup, cls, "agnostic", &p->det.agnostic, err)) ||
        (st = get_bool(lookup, cls, "square", &p->crop.square, err)) ||
        (st = get_format(lookup, cls, &p->crop, err)))
        return st;
    if ((st = get_ints(lookup, cls, "size", 1, 4096, v, 2, &n, err)))
        return st;
    if (n == 1)
        p->crop.size_n = v[0];
    else if (n == 2) {
        p->crop.size_w = v[0];
        p->crop.size_h = v[1];
    }
    if ((st = get_ints(lookup, cls, "quality", 1, 100, v, 1, &n, err)))
        return st;
    if (n)
        p->crop.quality = v[0];
    return AF_OK;
}
