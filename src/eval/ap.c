/*
 * metrics.ap_per_class and compute_ap (ultralytics 8.1.9), in float64 as numpy
 * computes them, plus the numpy building blocks they need bit for bit:
 * argsort (default kind), interp, pairwise add.reduce, linspace.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "eval/metrics.h"

/* ---- numpy building blocks -------------------------------------------- */



/* numpy DOUBLE_pairwise_sum (umath/loops_utils.h) */
double af_np_pairwise_sum(const double *a, size_t n, size_t stride)
{
    if (n < 8) {
        double res = -0.0;
        for (size_t i = 0; i < n; i++)
            res += a[i * stride];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;
        for (int k = 0; k < 8; k++)
            r[k] = a[(size_t)k * stride];
        for (i = 8; i < n - (n % 8); i += 8)
            for (size_t k = 0; k < 8; k++)
                r[k] += a[(i + k) * stride];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i * stride];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return af_np_pairwise_sum(a, n2, stride) + af_np_pairwise_sum(a + n2 * stride, n - n2, stride);
}

/* add.reduce with the identity 0.0 as initial value, as np.sum does */
static double np_sum(const double *a, size_t n, size_t stride)
{
    return 0.0 + af_np_pairwise_sum(a, n, stride);
}

void af_np_linspace(double start, double stop, size_t num, double *out)
{
    if (num == 0)
        return;
    if (num == 1) {
        out[0] = start;
        return;
    }
    double step = (stop - start) / (double)(num - 1);
    for (size_t i = 0; i < num; i++)
        out[i] = (double)i * step + start;
    out[num - 1] = stop;
}

/* The index j with xp[j] <= key < xp[j+1] (numpy binary_search_with_guess
 * returns this whatever the guess): -1 below, nxp above the range. */
static ptrdiff_t np_interp_search(double key, const double *xp, size_t nxp)
{
    if (key > xp[nxp - 1])
        return (ptrdiff_t)nxp;
    if (key < xp[0])
        return -1;
    size_t lo = 0, hi = nxp; /* first index with xp > key */
    while (lo < hi) {
        size_t mid = lo + ((hi - lo) >> 1);
        if (key >= xp[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

/* numpy arr_interp (multiarray/compiled_base.c) */
void af_np_interp(const double *x, size_t nx, const double *xp, const double *fp, size_t nxp,
                  double left, double right, double *out)
{
    for (size_t i = 0; i < nx; i++) {
        double xv = x[i];
        if (xv != xv) {
            out[i] = xv;
            continue;
        }
        ptrdiff_t j = np_interp_search(xv, xp, nxp);
        if (j == -1) {
            out[i] = left;
        } else if (j == (ptrdiff_t)nxp) {
            out[i] = right;
        } else if (j == (ptrdiff_t)nxp - 1) {
            out[i] = fp[j];
        } else if (xp[j] == xv) {
            out[i] = fp[j];
        } else {
            double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
            double r = slope * (xv - xp[j]) + fp[j];
            if (r != r) {
                r = slope * (xv - xp[j + 1]) + fp[j + 1];
                if (r != r && fp[j] == fp[j + 1])
                    r = fp[j];
            }
            out[i] = r;
        }
    }
}

/* ---- compute_ap ------------------------------------------------------- */

#define AP_NINTERP 101

static double trapz_101(const double *y, const double *x)
{
    double term[AP_NINTERP - 1];
    for (size_t k = 0; k + 1 < AP_NINTERP; k++)
        term[k] = (x[k + 1] - x[k]) * (y[k + 1] + y[k]) / 2.0;
    return np_sum(term, AP_NINTERP - 1, 1);
}

/* envelope into caller buffers of n+2 */
static void ap_envelope(const double *recall, const double *precision, size_t n, double *mrec,
                        double *mpre)
{
    mrec[0] = 0.0;
    mpre[0] = 1.0;
    for (size_t k = 0; k < n; k++) {
        mrec[k + 1] = recall[k];
        mpre[k + 1] = precision[k];
    }
    mrec[n + 1] = 1.0;
    mpre[n + 1] = 0.0;
    /* flip(maximum.accumulate(flip(mpre))); np.maximum propagates NaN */
    for (size_t k = n + 1; k-- > 0;) {
        double a = mpre[k], b = mpre[k + 1];
        mpre[k] = (a != a || a >= b) ? a : b;
    }
}

static double ap_from_envelope(const double *mrec, const double *mpre, size_t m)
{
    double x[AP_NINTERP], y[AP_NINTERP];
    af_np_linspace(0.0, 1.0, AP_NINTERP, x);
    af_np_interp(x, AP_NINTERP, mrec, mpre, m, mpre[0], mpre[m - 1], y);
    return trapz_101(y, x);
}

double af_compute_ap(const double *recall, const double *precision, size_t n, double *mrec,
                     double *mpre)
{
    double *buf = NULL;
    if (!mrec || !mpre) {
        if (n > SIZE_MAX / (2 * sizeof(double)) - 2 || !(buf = malloc(2 * (n + 2) * sizeof *buf)))
            return NAN;
        mrec = buf;
        mpre = buf + n + 2;
    }
    ap_envelope(recall, precision, n, mrec, mpre);
    double ap = ap_from_envelope(mrec, mpre, n + 2);
    free(buf);
    return ap;
}

/* ---- ap_per_class ----------------------------------------------------- */

void af_ap_result_free(af_ap_result *r)
{
    if (!r)
        return;
    free(r->classes);
    free(r->nt);
    free(r->tp);
    free(r->fp);
    free(r->p);
    free(r->r);
    free(r->f1);
    free(r->ap);
    free(r->p_curve);
    free(r->r_curve);
    free(r->f1_curve);
    free(r->x);
    free(r->prec_values);
    free(r->prec_class);
    memset(r, 0, sizeof *r);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* metrics.smooth(y, f): box filter of nf = round(n*f*2)//2 + 1 points over y
 * padded with nf//2 copies of each end, mode 'valid'. */
static void smooth(const double *y, size_t n, double f, double *yp, double *out)
{
    size_t nf = (size_t)nearbyint((double)n * f * 2.0) / 2 + 1;
    size_t half = nf / 2;
    for (size_t k = 0; k < half; k++) {
        yp[k] = y[0];
        yp[half + n + k] = y[n - 1];
    }
    memcpy(yp + half, y, n * sizeof *y);
    double w = 1.0 / (double)nf;
    size_t nout = n + 2 * half - nf + 1;
    for (size_t k = 0; k < nout; k++) {
        double s = 0.0;
        for (size_t m = 0; m < nf; m++)
            s += yp[k + m] * w;
        out[k] = s;
    }
}

static af_status ap_alloc(af_ap_result *o, size_t nc, af_error *err)
{
    size_t ncurve, nap;
    if (af_mul_size(nc, AF_AP_NCURVE, &ncurve) || af_mul_size(nc, AF_NIOU, &nap) ||
        ncurve > SIZE_MAX / sizeof(double))
        return af_fail(err, AF_E_LIMIT, "ap_per_class: %zu classes is too many", nc);
    size_t n1 = nc ? nc : 1, nk = ncurve ? ncurve : 1;
    o->classes = calloc(n1, sizeof *o->classes);
    o->nt = calloc(n1, sizeof *o->nt);
    o->tp = calloc(n1, sizeof(double));
    o->fp = calloc(n1, sizeof(double));
    o->p = calloc(n1, sizeof(double));
    o->r = calloc(n1, sizeof(double));
    o->f1 = calloc(n1, sizeof(double));
    o->ap = calloc(nap ? nap : 1, sizeof(double));
    o->p_curve = calloc(nk, sizeof(double));
    o->r_curve = calloc(nk, sizeof(double));
    o->f1_curve = calloc(nk, sizeof(double));
    o->x = calloc(AF_AP_NCURVE, sizeof(double));
    o->prec_values = calloc(nk, sizeof(double));
    o->prec_class = calloc(n1, sizeof(size_t));
    if (!o->classes || !o->nt || !o->tp || !o->fp || !o->p || !o->r || !o->f1 || !o->ap ||
        !o->p_curve || !o->r_curve || !o->f1_curve || !o->x || !o->prec_values || !o->prec_class)
        return af_fail(err, AF_E_NOMEM, "ap_per_class: out of memory for %zu classes", nc);
    return AF_OK;
}

/* Fills row ci of the curves and ap for one class; sel are the class's
 * prediction indices in descending-confidence order. work holds 5*n+4 doubles. */
static void ap_one_class(af_ap_result *o, size_t ci, const uint8_t *tp, const float *conf,
                         const size_t *sel, size_t n, double *work, const double *negx)
{
    double *xp = work, *recall = work + n, *precision = work + 2 * n;
    double *mrec = work + 3 * n, *mpre = work + 4 * n + 2;
    const double nl_eps = (double)o->nt[ci] + 1e-16;
    for (size_t k = 0; k < n; k++)
        xp[k] = (double)-conf[sel[k]];

    for (int j = 0; j < AF_NIOU; j++) {
        int64_t tpc = 0, fpc = 0;
        for (size_t k = 0; k < n; k++) {
            uint8_t t = tp[sel[k] * AF_NIOU + (size_t)j] ? 1 : 0;
            tpc += t;
            fpc += 1 - t;
            recall[k] = (double)tpc / nl_eps;
            precision[k] = (double)tpc / (double)(tpc + fpc);
        }
        if (j == 0) {
            double *rc = o->r_curve + ci * AF_AP_NCURVE, *pc = o->p_curve + ci * AF_AP_NCURVE;
            af_np_interp(negx, AF_AP_NCURVE, xp, recall, n, 0.0, recall[n - 1], rc);
            af_np_interp(negx, AF_AP_NCURVE, xp, precision, n, 1.0, precision[n - 1], pc);
        }
        ap_envelope(recall, precision, n, mrec, mpre);
        o->ap[ci * AF_NIOU + (size_t)j] = ap_from_envelope(mrec, mpre, n + 2);
        if (j == 0) {
            double *pv = o->prec_values + o->n_prec * AF_AP_NCURVE;
            af_np_interp(o->x, AF_AP_NCURVE, mrec, mpre, n + 2, mpre[0], mpre[n + 1], pv);
            o->prec_class[o->n_prec++] = ci;
        }
    }
}

af_status af_ap_per_class(const uint8_t *tp, const float *conf, const int *pred_cls,
                          size_t npred, const int *target_cls, size_t ntarget,
                          af_ap_result *out, af_error *err)
{
    memset(out, 0, sizeof *out);
    af_status st;
    size_t work_n;
    if (af_mul_size(npred, 5, &work_n) || af_add_size(work_n, 4, &work_n) ||
        work_n > SIZE_MAX / sizeof(double))
        return af_fail(err, AF_E_LIMIT, "ap_per_class: %zu predictions is too many", npred);

    /* unique target classes and their counts */
    int *tc = malloc((ntarget ? ntarget : 1) * sizeof *tc);
    if (!tc)
        return af_fail(err, AF_E_NOMEM, "ap_per_class: out of memory for %zu labels", ntarget);
    if (ntarget)
        memcpy(tc, target_cls, ntarget * sizeof *tc);
    qsort(tc, ntarget, sizeof *tc, cmp_int);
    size_t nc = 0;
    for (size_t k = 0; k < ntarget; k++)
        nc += k == 0 || tc[k] != tc[k - 1];
    if ((st = ap_alloc(out, nc, err)) != AF_OK) {
        free(tc);
        af_ap_result_free(out);
        return st;
    }
    out->nc = nc;
    for (size_t k = 0, c = 0; k < ntarget; k++) {
        if (k > 0 && tc[k] == tc[k - 1]) {
            out->nt[c - 1]++;
            continue;
        }
        out->classes[c] = tc[k];
        out->nt[c++] = 1;
    }
    free(tc);
    af_np_linspace(0.0, 1.0, AF_AP_NCURVE, out->x);
    if (nc == 0)
        return AF_OK;

    /* i = np.argsort(-conf) */
    float *negconf = malloc((npred ? npred : 1) * sizeof *negconf);
    size_t *order = malloc((npred ? npred : 1) * sizeof *order);
    size_t *sel = malloc((npred ? npred : 1) * sizeof *sel);
    double *work = malloc(work_n * sizeof *work);
    double *negx = malloc(AF_AP_NCURVE * sizeof *negx);
    /* mean F1, its smoothed copy, the padded input of smooth (nf <= n + 1) */
    double *tmp = malloc((4 * AF_AP_NCURVE + 1) * sizeof *tmp);
    if (!negconf || !order || !sel || !work || !negx || !tmp) {
        free(negconf), free(order), free(sel), free(work), free(negx), free(tmp);
        af_ap_result_free(out);
        return af_fail(err, AF_E_NOMEM, "ap_per_class: out of memory for %zu predictions", npred);
    }
    for (size_t k = 0; k < npred; k++)
        negconf[k] = -conf[k];
    af_np_argsort_f32(negconf, npred, order);
    for (size_t k = 0; k < AF_AP_NCURVE; k++)
        negx[k] = -out->x[k];

    for (size_t ci = 0; ci < nc; ci++) {
        size_t n = 0;
        for (size_t k = 0; k < npred; k++)
            if (pred_cls[order[k]] == out->classes[ci])
                sel[n++] = order[k];
        if (n == 0)
            continue;
        ap_one_class(out, ci, tp, conf, sel, n, work, negx);
    }

    /* f1 = 2 * p * r / (p + r + eps); its mean over classes (axis 0) */
    double *f1mean = tmp, *smoothed = tmp + AF_AP_NCURVE;
    for (size_t k = 0; k < nc * AF_AP_NCURVE; k++) {
        double p = out->p_curve[k], r = out->r_curve[k];
        out->f1_curve[k] = 2.0 * p * r / (p + r + 1e-16);
    }
    for (size_t k = 0; k < AF_AP_NCURVE; k++) {
        double s = 0.0;
        for (size_t ci = 0; ci < nc; ci++)
            s += out->f1_curve[ci * AF_AP_NCURVE + k];
        f1mean[k] = s / (double)nc;
    }
    /* smooth(f1.mean(0), 0.1).argmax() */
    double *padded = tmp + 2 * AF_AP_NCURVE;
    smooth(f1mean, AF_AP_NCURVE, 0.1, padded, smoothed);
    size_t best = 0; /* np.argmax: the first maximum, or the first NaN */
    for (size_t k = 1; k < AF_AP_NCURVE && smoothed[best] == smoothed[best]; k++)
        if (smoothed[k] != smoothed[k] || smoothed[k] > smoothed[best])
            best = k;
    out->best = best;
    for (size_t ci = 0; ci < nc; ci++) {
        double p = out->p_curve[ci * AF_AP_NCURVE + best];
        double r = out->r_curve[ci * AF_AP_NCURVE + best];
        out->p[ci] = p;
        out->r[ci] = r;
        out->f1[ci] = out->f1_curve[ci * AF_AP_NCURVE + best];
        double t = nearbyint(r * (double)out->nt[ci]);
        out->tp[ci] = t;
        out->fp[ci] = nearbyint(t / (p + 1e-16) - t);
    }
    free(negconf), free(order), free(sel), free(work), free(negx), free(tmp);
    return AF_OK;
}
