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

static af_status get_format(serve_lookup_fn lookup, void *cls, crop_cfg *c, af_error *err)
{
    const char *s = lookup(cls, "format");
    if (!s)
        return AF_OK;
    if (!strcasecmp(s, "jpg") || !strcasecmp(s, "jpeg"))
        c->ext = "jpg";
    else if (!strcasecmp(s, "png"))
        c->ext = "png";
    else if (!strcasecmp(s, "webp"))
        c->ext = "webp";
    else
        return af_fail(err, AF_E_ARG, "format: '%.40s' is not jpg, png or webp", s);
    return AF_OK;
}

/* aspect, square, pad, margin: the crop's shape, as `animeface crop` reads them */
static af_status get_shape(serve_lookup_fn lookup, void *cls, crop_cfg *c, af_error *err)
{
    int square = 0, st;
    const char *aspect = lookup(cls, "aspect"), *pad = lookup(cls, "pad");
    if ((st = get_double(lookup, cls, "margin", 0, 100, &c->geo.margin, err)) ||
        (st = get_bool(lookup, cls, "square", &square, err)))
        return st;
    if (aspect && crop_parse_aspect(aspect, &c->geo.aspect))
        return af_fail(err, AF_E_ARG, "aspect: '%.40s' is not W:H, two positive numbers", aspect);
    if (aspect && square)
        return af_fail(err, AF_E_ARG, "square and aspect both set the shape: give one");
    if (square)
        c->geo.aspect = 1;
    if (pad && crop_parse_pad(pad, &c->geo))
        return af_fail(err, AF_E_ARG, "pad: '%.40s' is not edge, black, color:R,G,B or none",
                       pad);
    return AF_OK;
}

/* size, no_upscale and the face selection */
static af_status get_crop(serve_lookup_fn lookup, void *cls, crop_cfg *c, af_error *err)
{
    int v[2], n, st;
    if ((st = get_shape(lookup, cls, c, err)) || (st = get_format(lookup, cls, c, err)) ||
        (st = get_bool(lookup, cls, "no_upscale", &c->no_upscale, err)) ||
        (st = get_bool(lookup, cls, "one_face", &c->sel.one_face, err)) ||
        (st = get_double(lookup, cls, "min_size", 0, 1e6, &c->sel.min_size, err)) ||
        (st = get_double(lookup, cls, "max_size", 0, 1e6, &c->sel.max_size, err)) ||
        (st = get_double(lookup, cls, "min_rel", 0, 1, &c->sel.min_rel, err)))
        return st;
    if ((st = get_ints(lookup, cls, "size", 1, 65500, v, 2, &n, err)))
        return st;
    if (n) {
        c->size_w = v[0];
        c->size_h = v[n - 1];
    }
    if ((st = get_ints(lookup, cls, "max_faces", 0, 100000, v, 1, &n, err)))
        return st;
    if (n)
        c->sel.max_faces = v[0];
    if ((st = get_ints(lookup, cls, "quality", 1, 100, v, 1, &n, err)))
        return st;
    if (n)
        c->quality = v[0];
    return AF_OK;
}

af_status serve_params_parse(serve_lookup_fn lookup, void *cls, int max_imgsz, float default_conf,
                             serve_params *p, af_error *err)
{
    memset(p, 0, sizeof *p);
    af_detect_options_default(&p->det);
    if (default_conf > 0)
        p->det.conf = default_conf;
    crop_cfg *c = &p->crop.cfg;
    c->ext = "jpg";
    c->quality = 95;
    double conf = p->det.conf, iou = p->det.iou;
    int v[2], n, st;
    if ((st = get_double(lookup, cls, "conf", 0, 1, &conf, err)) ||
        (st = get_double(lookup, cls, "iou", 0, 1, &iou, err)))
        return st;
    p->det.conf = (float)conf;
    p->det.iou = (float)iou;
    c->sel.conf = (float)conf;
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
        c->sel.classes = p->classes;
        c->sel.nclasses = n;
    }
    if ((st = get_bool(lookup, cls, "agnostic", &p->det.agnostic, err)))
        return st;
    return get_crop(lookup, cls, c, err);
}
