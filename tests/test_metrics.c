/*
 * Validation metrics against the ultralytics 8.1.9 golden
 * tests/fixtures/golden/metrics_val48.{safetensors,json} (48 images, 7649
 * predictions, 89 labels; README "Metrics golden"), plus hand-worked cases
 * and edge cases.
 *
 * - tp: recomputed from pred/gt boxes, equal bit for bit (7649 x 10);
 * - ap_per_class: tp, fp, p, r, f1, ap, unique classes, p/r/f1 curves and x
 *   within 1e-6 of the stored float32 values (max diffs printed);
 * - P, R, mAP50, mAP50-95, fitness within 1e-12 of the JSON's float64 values;
 * - the confusion matrix equal; the printed table lines equal.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>

#include "eval/metrics.h"
#include "eval/report.h"
#include "eval/val_stats.h"
#include "io/safetensors.h"
#include "testutil.h"

#define GOLDEN "golden/metrics_val48.safetensors"
#define GOLDEN_JSON "golden/metrics_val48.json"

typedef struct golden {
    af_safetensors st;
    cJSON *js;
    size_t npred, ngt, nimg;
    const float *pred_xyxy, *pred_conf, *gt_xyxy;
    int *pred_cls, *gt_cls;
    const int64_t *pred_img, *gt_img;
    const uint8_t *tp;
} golden;

static const af_tensor *need(const golden *g, const char *name, af_dtype dt)
{
    const af_tensor *t = af_tensor_list_find(&g->st.tensors, name);
    if (!t || t->dtype != dt) {
        fprintf(stderr, "golden tensor %s missing or not %s\n", name, af_dtype_name(dt));
        return NULL;
    }
    return t;
}

static int golden_load(golden *g)
{
    memset(g, 0, sizeof *g);
    af_error err = {0};
    if (af_safetensors_read_file(t_fixture(GOLDEN), &g->st, &err) != AF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    size_t len;
    char *js = (char *)t_read_file(t_fixture(GOLDEN_JSON), &len);
    if (!js)
        return -1;
    g->js = cJSON_ParseWithLength(js, len);
    free(js);
    const af_tensor *px = need(g, "pred_xyxy", AF_DT_F32), *pc = need(g, "pred_conf", AF_DT_F32);
    const af_tensor *pk = need(g, "pred_cls", AF_DT_I64), *pi = need(g, "pred_img", AF_DT_I64);
    const af_tensor *gx = need(g, "gt_xyxy", AF_DT_F32), *gk = need(g, "gt_cls", AF_DT_I64);
    const af_tensor *gi = need(g, "gt_img", AF_DT_I64), *tp = need(g, "tp", AF_DT_U8);
    const af_tensor *io = need(g, "img_ori_hw", AF_DT_I64);
    if (!g->js || !px || !pc || !pk || !pi || !gx || !gk || !gi || !tp || !io)
        return -1;
    g->npred = (size_t)pc->shape[0];
    g->ngt = (size_t)gk->shape[0];
    g->nimg = (size_t)io->shape[0];
    if (px->shape[0] != (int64_t)g->npred || tp->shape[0] != (int64_t)g->npred ||
        tp->shape[1] != AF_NIOU || gx->shape[0] != (int64_t)g->ngt)
        return -1;
    g->pred_xyxy = px->data;
    g->pred_conf = pc->data;
    g->gt_xyxy = gx->data;
    g->pred_img = pi->data;
    g->gt_img = gi->data;
    g->tp = tp->data;
    g->pred_cls = malloc(g->npred * sizeof(int));
    g->gt_cls = malloc(g->ngt * sizeof(int));
    if (!g->pred_cls || !g->gt_cls)
        return -1;
    for (size_t i = 0; i < g->npred; i++)
        g->pred_cls[i] = (int)((const int64_t *)pk->data)[i];
    for (size_t i = 0; i < g->ngt; i++)
        g->gt_cls[i] = (int)((const int64_t *)gk->data)[i];
    /* predictions and labels are grouped by image, in image order */
    for (size_t i = 1; i < g->npred; i++)
        if (g->pred_img[i] < g->pred_img[i - 1])
            return -1;
    for (size_t i = 1; i < g->ngt; i++)
        if (g->gt_img[i] < g->gt_img[i - 1])
            return -1;
    return 0;
}

static void golden_free(golden *g)
{
    af_safetensors_free(&g->st);
    cJSON_Delete(g->js);
    free(g->pred_cls);
    free(g->gt_cls);
}

/* the image's slice [*b, *e) of a grouped index array */
static void slice_of(const int64_t *img, size_t n, size_t im, size_t *b, size_t *e)
{
    size_t i = 0;
    while (i < n && img[i] < (int64_t)im)
        i++;
    *b = i;
    while (i < n && img[i] == (int64_t)im)
        i++;
    *e = i;
}

static double json_num(const cJSON *o, const char *path0, const char *path1)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, path0);
    if (path1)
        a = cJSON_GetObjectItemCaseSensitive(a, path1);
    return cJSON_IsNumber(a) ? a->valuedouble : NAN;
}

/* ---- golden ---------------------------------------------------------- */

static void test_iou_thresholds(void)
{
    golden g;
    if (!t_file_exists(t_fixture(GOLDEN)))
        SKIP("%s absent", GOLDEN);
    REQUIRE(golden_load(&g) == 0);
    const af_tensor *t = need(&g, "iouv", AF_DT_F32);
    REQUIRE(t && t->shape[0] == AF_NIOU);
    CHECK(memcmp(t->data, af_iou_thresholds(), sizeof(float) * AF_NIOU) == 0);
    golden_free(&g);
}

static void test_tp_golden(void)
{
    golden g;
    if (!t_file_exists(t_fixture(GOLDEN)))
        SKIP("%s absent", GOLDEN);
    REQUIRE(golden_load(&g) == 0);
    uint8_t *tp = calloc(g.npred * AF_NIOU + 1, 1);
    float *iou = malloc(sizeof(float) * 300 * 64);
    REQUIRE(tp && iou);
    af_error err = {0};
    size_t ntp50 = 0;
    for (size_t im = 0; im < g.nimg; im++) {
        size_t pb, pe, gb, ge;
        slice_of(g.pred_img, g.npred, im, &pb, &pe);
        slice_of(g.gt_img, g.ngt, im, &gb, &ge);
        REQUIRE(pe - pb <= 300 && ge - gb <= 64);
        if (pe == pb || ge == gb)
            continue;
        af_box_iou(g.gt_xyxy + 4 * gb, ge - gb, g.pred_xyxy + 4 * pb, pe - pb, iou);
        CHECK(af_match_predictions(g.pred_cls + pb, pe - pb, g.gt_cls + gb, ge - gb, iou,
                                   tp + pb * AF_NIOU, &err) == AF_OK);
    }
    size_t diff = 0;
    for (size_t i = 0; i < g.npred * AF_NIOU; i++) {
        diff += tp[i] != g.tp[i];
        ntp50 += (i % AF_NIOU == 0) && tp[i];
    }
    printf("  tp: %zu x %d, %zu cells differ, %zu tp at IoU 0.5\n", g.npred, AF_NIOU, diff, ntp50);
    CHECK(diff == 0);
    free(tp);
    free(iou);
    golden_free(&g);
}

/* max |v - golden| and, in *nexact, how many v round to the stored float32 exactly */
static double cmp_f32(const golden *g, const char *name, const double *v, size_t n,
                      size_t *nexact)
{
    const af_tensor *t = need(g, name, AF_DT_F32);
    size_t tn = 0;
    *nexact = 0;
    if (!t || af_shape_numel(t->shape, t->ndim, &tn) || tn != n)
        return INFINITY;
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        float gv = ((const float *)t->data)[i];
        double e = fabs(v[i] - (double)gv);
        *nexact += (float)v[i] == gv;
        if (!(e <= d))
            d = e;
    }
    return d;
}

static void test_ap_per_class_golden(void)
{
    golden g;
    if (!t_file_exists(t_fixture(GOLDEN)))
        SKIP("%s absent", GOLDEN);
    REQUIRE(golden_load(&g) == 0);
    af_ap_result a;
    af_error err = {0};
    REQUIRE(af_ap_per_class(g.tp, g.pred_conf, g.pred_cls, g.npred, g.gt_cls, g.ngt, &a, &err) ==
            AF_OK);
    REQUIRE(a.nc == 1);
    const af_tensor *uc = need(&g, "unique_classes", AF_DT_I64);
    REQUIRE(uc && uc->shape[0] == 1);
    CHECK(a.classes[0] == (int)((const int64_t *)uc->data)[0]);
    CHECK(a.nt[0] == 89);
    struct {
        const char *name;
        const double *v;
        size_t n;
    } cmp[] = {{"ap_tp", a.tp, 1},      {"ap_fp", a.fp, 1},          {"p", a.p, 1},
               {"r", a.r, 1},           {"f1", a.f1, 1},             {"ap", a.ap, AF_NIOU},
               {"p_curve", a.p_curve, AF_AP_NCURVE}, {"r_curve", a.r_curve, AF_AP_NCURVE},
               {"f1_curve", a.f1_curve, AF_AP_NCURVE}, {"x", a.x, AF_AP_NCURVE}};
    for (size_t k = 0; k < sizeof cmp / sizeof cmp[0]; k++) {
        size_t nexact;
        double d = cmp_f32(&g, cmp[k].name, cmp[k].v, cmp[k].n, &nexact);
        printf("  %-8s max |diff| vs golden float32: %.3g, %zu/%zu equal as float32\n",
               cmp[k].name, d, nexact, cmp[k].n);
        CHECK_MSG(d <= 1e-6, "%s", cmp[k].name);
        CHECK_MSG(nexact == cmp[k].n, "%s", cmp[k].name);
    }
    /* the float64 values in the JSON: these are the arithmetic itself */
    const cJSON *ap = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g.js, "ap"), 0);
    double dap = 0;
    for (int j = 0; j < AF_NIOU; j++) {
        const cJSON *v = cJSON_GetArrayItem(ap, j);
        REQUIRE(cJSON_IsNumber(v));
        dap = fmax(dap, fabs(a.ap[j] - v->valuedouble));
    }
    double dp = fabs(a.p[0] - cJSON_GetArrayItem(cJSON_GetObjectItem(g.js, "p"), 0)->valuedouble);
    double dr = fabs(a.r[0] - cJSON_GetArrayItem(cJSON_GetObjectItem(g.js, "r"), 0)->valuedouble);
    double df = fabs(a.f1[0] - cJSON_GetArrayItem(cJSON_GetObjectItem(g.js, "f1"), 0)->valuedouble);
    printf("  float64: ap max |diff| %.3g, p %.3g, r %.3g, f1 %.3g (max-F1 index %zu)\n", dap, dp,
           dr, df, a.best);
    CHECK(dap <= 1e-12 && dp <= 1e-12 && dr <= 1e-12 && df <= 1e-12);
    /* prec_values (not stored by the golden: plot=False): one row, a non-increasing
     * curve in [0, 1] starting at 1 */
    REQUIRE(a.n_prec == 1 && a.prec_class[0] == 0);
    int mono = 1;
    for (size_t k = 0; k < AF_AP_NCURVE; k++) {
        double v = a.prec_values[k];
        mono &= v >= 0 && v <= 1 && (k == 0 || v <= a.prec_values[k - 1]);
    }
    CHECK(mono && a.prec_values[0] == 1.0 && a.prec_values[AF_AP_NCURVE - 1] == 0.0);
    af_ap_result_free(&a);
    golden_free(&g);
}

static af_status run_val(const golden *g, af_val_stats **out, af_error *err)
{
    af_status st = af_val_stats_create(1, out, err);
    if (st != AF_OK)
        return st;
    af_detection *d = malloc((g->npred + 1) * sizeof *d);
    if (!d)
        return AF_E_NOMEM;
    for (size_t i = 0; i < g->npred; i++) {
        const float *b = g->pred_xyxy + 4 * i;
        d[i] = (af_detection){b[0], b[1], b[2], b[3], g->pred_conf[i], g->pred_cls[i]};
    }
    for (size_t im = 0; im < g->nimg && st == AF_OK; im++) {
        size_t pb, pe, gb, ge;
        slice_of(g->pred_img, g->npred, im, &pb, &pe);
        slice_of(g->gt_img, g->ngt, im, &gb, &ge);
        st = af_val_stats_add_image(*out, d + pb, pe - pb, g->gt_xyxy + 4 * gb, g->gt_cls + gb,
                                    ge - gb, err);
    }
    free(d);
    return st;
}

static void test_val_golden(void)
{
    golden g;
    if (!t_file_exists(t_fixture(GOLDEN)))
        SKIP("%s absent", GOLDEN);
    REQUIRE(golden_load(&g) == 0);
    af_val_stats *s = NULL;
    af_error err = {0};
    REQUIRE(run_val(&g, &s, &err) == AF_OK);
    REQUIRE(af_val_stats_num_predictions(s) == g.npred);
    CHECK(memcmp(af_val_stats_tp(s), g.tp, g.npred * AF_NIOU) == 0);
    af_val_metrics m;
    REQUIRE(af_val_stats_finalize(s, &m, &err) == AF_OK);
    CHECK(m.images == 48 && m.instances == 89 && m.ap_computed && m.nrows == 1);
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(g.js, "val_results_dict");
    struct {
        const char *key;
        double v;
    } want[] = {{"metrics/precision(B)", m.p},
                {"metrics/recall(B)", m.r},
                {"metrics/mAP50(B)", m.map50},
                {"metrics/mAP50-95(B)", m.map},
                {"fitness", m.fitness}};
    for (size_t k = 0; k < 5; k++) {
        double e = json_num(rd, want[k].key, NULL);
        printf("  %-22s %.17g  golden %.17g  |diff| %.3g\n", want[k].key, want[k].v, e,
               fabs(want[k].v - e));
        CHECK_NEAR(want[k].v, e, 1e-12);
    }
    /* confusion matrix */
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(g.js, "confusion_matrix");
    int cm_eq = 1;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            cm_eq &= m.confusion[i * 2 + j] ==
                     cJSON_GetArrayItem(cJSON_GetArrayItem(cm, i), j)->valuedouble;
    printf("  confusion [[%g, %g], [%g, %g]] conf %g iou %g\n", m.confusion[0], m.confusion[1],
           m.confusion[2], m.confusion[3], m.confusion_conf, m.confusion_iou);
    CHECK(cm_eq);
    /* printed lines */
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(g.js, "printed");
    char line[256];
    af_report_header(line, sizeof line);
    CHECK(strcmp(line, cJSON_GetArrayItem(pr, 0)->valuestring) == 0);
    af_report_row(line, sizeof line, "all", m.images, m.instances, m.p, m.r, m.map50, m.map);
    CHECK_MSG(strcmp(line, cJSON_GetArrayItem(pr, 1)->valuestring) == 0, "'%s'", line);
    CHECK(strcmp(line, "                   all         48         89      0.872      0.506      "
                       "0.601      0.285") == 0);
    af_report_speed(line, sizeof line, 0.7, 19.6, 0.0, 0.8);
    CHECK(strcmp(line, cJSON_GetArrayItem(pr, 2)->valuestring) == 0);
    char *text = NULL;
    const char *names[] = {"face"};
    REQUIRE(af_report_table(&m, names, &text, &err) == AF_OK);
    char expect[512];
    snprintf(expect, sizeof expect, "%s\n%s\n", cJSON_GetArrayItem(pr, 0)->valuestring,
             cJSON_GetArrayItem(pr, 1)->valuestring);
    CHECK(strcmp(text, expect) == 0); /* nc == 1: no per-class rows */
    free(text);
    /* JSON */
    cJSON *o = NULL;
    af_val_speed sp = {0.7, 19.6, 0.0, 0.8};
    REQUIRE(af_val_metrics_to_json(&m, names, &sp, &o, &err) == AF_OK);
    CHECK(json_num(o, "images", NULL) == 48 && json_num(o, "instances", NULL) == 89);
    CHECK(json_num(o, "P", NULL) == m.p && json_num(o, "mAP50-95", NULL) == m.map);
    CHECK(json_num(o, "fitness", NULL) == m.fitness && json_num(o, "R", NULL) == m.r);
    CHECK(json_num(o, "speed_ms", "inference") == 19.6);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "classes"), 0);
    CHECK(c0 && strcmp(cJSON_GetObjectItem(c0, "name")->valuestring, "face") == 0);
    CHECK(json_num(c0, "instances", NULL) == 89 && json_num(c0, "mAP50", NULL) == m.map50);
    /* the printed JSON parses back to the same doubles */
    char *txt = cJSON_PrintUnformatted(o);
    cJSON *back = cJSON_Parse(txt);
    CHECK(back && json_num(back, "mAP50", NULL) == m.map50 && json_num(back, "P", NULL) == m.p);
    cJSON_Delete(back);
    free(txt);
    cJSON_Delete(o);
    af_val_metrics_free(&m);
    af_val_stats_free(s);
    golden_free(&g);
}

/* ---- hand-worked cases ----------------------------------------------- */

static void test_box_iou_hand(void)
{
    const float a[] = {0, 0, 10, 10, 0, 0, 4, 4};
    const float b[] = {5, 5, 15, 15, 20, 20, 30, 30, 0, 0, 10, 10};
    float out[6];
    af_box_iou(a, 2, b, 3, out);
    CHECK(out[0] == 25.0f / (175.0f + 1e-7f));
    CHECK(out[1] == 0.0f);
    CHECK(out[2] == 100.0f / (100.0f + 1e-7f));
    CHECK(out[3] == 0.0f); /* touching corner region: max(0,4-5) */
    CHECK(out[5] == 16.0f / (100.0f + 1e-7f));
}

static void test_match_hand(void)
{
    /* two labels, four predictions; iou is labels x preds */
    const int pcls[] = {0, 0, 0, 1};
    const int tcls[] = {0, 1};
    const float iou[] = {
        0.90f, 0.95f, 0.60f, 0.99f, /* label 0 (cls 0): pred 3 has the wrong class */
        0.00f, 0.00f, 0.00f, 0.55f, /* label 1 (cls 1) */
    };
    uint8_t tp[4 * AF_NIOU];
    af_error err = {0};
    REQUIRE(af_match_predictions(pcls, 4, tcls, 2, iou, tp, &err) == AF_OK);
    /* ultralytics keeps, per label, the LOWEST pred index among its matches
     * after the per-pred dedup (the re-sort by IoU is commented out): pred 0
     * (0.90) wins over pred 1 (0.95) at 0.5..0.90 */
    for (int t = 0; t < AF_NIOU; t++) {
        float thr = af_iou_thresholds()[t];
        CHECK(tp[0 * AF_NIOU + t] == (0.90f >= thr));
        CHECK(tp[1 * AF_NIOU + t] == (0.90f < thr && 0.95f >= thr));
        CHECK(tp[2 * AF_NIOU + t] == 0);
        CHECK(tp[3 * AF_NIOU + t] == (0.55f >= thr));
    }
    /* one pred overlapping two labels goes to the label with the higher IoU */
    const int p1[] = {0};
    const int t2[] = {0, 0};
    const float iou2[] = {0.7f, 0.8f};
    uint8_t tp2[AF_NIOU];
    REQUIRE(af_match_predictions(p1, 1, t2, 2, iou2, tp2, &err) == AF_OK);
    CHECK(tp2[0] == 1 && tp2[6] == 1 && tp2[7] == 0); /* 0.8f == iouv[6] */
    /* no labels or no preds */
    REQUIRE(af_match_predictions(p1, 1, t2, 0, iou2, tp2, &err) == AF_OK);
    CHECK(tp2[0] == 0);
    REQUIRE(af_match_predictions(p1, 0, t2, 2, iou2, tp2, &err) == AF_OK);
}

static void test_numpy_blocks(void)
{
    /* np.interp(x, xp, fp) with duplicated xp: the last of equal xp wins */
    const double xp[] = {0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0};
    const double fp[] = {0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0};
    const double x[] = {-1.0, 0.0, 0.5, 1.0, 1.5, 3.0, 3.5, 4.0, 5.0};
    const double want[] = {-7.0, 0.0, 5.0, 20.0, 25.0, 50.0, 55.0, 60.0, 99.0};
    double out[9];
    af_np_interp(x, 9, xp, fp, 7, -7.0, 99.0, out);
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(out[i], want[i], 0);
    const double one = 2.0, fone = 5.0, xs[] = {1.0, 2.0, 3.0};
    af_np_interp(xs, 3, &one, &fone, 1, -1.0, 9.0, out);
    CHECK(out[0] == -1.0 && out[1] == 5.0 && out[2] == 9.0);
    /* np.linspace(0, 1, 101)[i] == i * 0.01 (numpy multiplies by the step) */
    double ls[101];
    af_np_linspace(0.0, 1.0, 101, ls);
    CHECK(ls[3] == 3 * 0.01 && ls[100] == 1.0 && ls[0] == 0.0);
    /* pairwise sum: exact for integers; 0.1 * 10 matches numpy's blocked order */
    double v[300];
    for (int i = 0; i < 300; i++)
        v[i] = i;
    CHECK(af_np_pairwise_sum(v, 300, 1) == 44850.0);
    CHECK(af_np_pairwise_sum(v, 10, 2) == 90.0);
    double t[10];
    for (int i = 0; i < 10; i++)
        t[i] = 0.1;
    /* ((.1+.1)+(.1+.1))+((.1+.1)+(.1+.1)) + .1 + .1, which is not the sequential sum */
    double blocked = ((0.1 + 0.1) + (0.1 + 0.1)) + ((0.1 + 0.1) + (0.1 + 0.1));
    blocked += 0.1;
    blocked += 0.1;
    CHECK(af_np_pairwise_sum(t, 10, 1) == blocked);
    /* argsort: small arrays are insertion-sorted, equal keys keep their order */
    const float k[] = {3, 1, 2, 1, 3, 0};
    size_t idx[6];
    af_np_argsort_f32(k, 6, idx);
    const size_t wi[] = {5, 1, 3, 2, 0, 4};
    CHECK(memcmp(idx, wi, sizeof wi) == 0);
    /* larger: sorted result, a permutation */
    float big[1000];
    size_t bi[1000];
    uint32_t r = 12345;
    for (int i = 0; i < 1000; i++) {
        r = r * 1103515245u + 12345u;
        big[i] = (float)((r >> 16) % 50); /* many ties */
    }
    af_np_argsort_f32(big, 1000, bi);
    int ok = 1;
    unsigned char seen[1000] = {0};
    for (int i = 0; i < 1000; i++) {
        ok &= bi[i] < 1000 && !seen[bi[i]];
        if (bi[i] < 1000)
            seen[bi[i]] = 1;
        ok &= i == 0 || big[bi[i - 1]] <= big[bi[i]];
    }
    CHECK(ok);
}

static void test_compute_ap_hand(void)
{
    /* one label found by the first prediction: envelope 1 up to recall 1, but */
    const double rec[] = {1.0, 1.0}, pre[] = {1.0, 0.5};
    /* x = 1 takes mpre[-1] = 0: a perfect class scores 0.995, as in ultralytics */
    CHECK_NEAR(af_compute_ap(rec, pre, 2, NULL, NULL), 0.995, 1e-12);
    /* recall 0.5 at precision 1, then nothing: area of 1 on [0, 0.5] plus the
     * linear ramp of the 101-point interpolation from 0.5 to 0.51 */
    const double rec2[] = {0.5}, pre2[] = {1.0};
    double mrec[3], mpre[3];
    double ap = af_compute_ap(rec2, pre2, 1, mrec, mpre);
    CHECK(mrec[0] == 0 && mrec[1] == 0.5 && mrec[2] == 1 && mpre[2] == 0 && mpre[1] == 1);
    /* interp at 0.51: 1 + (0 - 1) / 0.5 * 0.01 = 0.98; trapz: 0.5 + 0.01 * (1 + 0.98) / 2
     * + the triangle-ish tail over [0.51, 1] of the line to 0 at 1 */
    double tail = 0;
    for (int k = 51; k < 100; k++) {
        double y0 = 1.0 - (k * 0.01 - 0.5) * 2, y1 = 1.0 - ((k + 1) * 0.01 - 0.5) * 2;
        tail += 0.01 * (y0 + y1) / 2;
    }
    CHECK_NEAR(ap, 0.5 + 0.01 * (1 + 0.98) / 2 + tail, 1e-9);
    CHECK_NEAR(ap, 0.75, 1e-9); /* the envelope is 1 to 0.5 then a ramp to 0 at 1 */
}

static void test_confusion_hand(void)
{
    af_confusion cm;
    af_error err = {0};
    REQUIRE(af_confusion_init(&cm, 2, 0.001, 0.45, &err) == AF_OK);
    CHECK(cm.conf == 0.25f && cm.iou_thres == 0.45f);
    const float gt[] = {0, 0, 10, 10, 20, 20, 30, 30, 50, 50, 60, 60};
    const int gc[] = {0, 1, 1};
    const af_detection d[] = {
        {0, 0, 10, 10, 0.9f, 0},   /* label 0, correct class */
        {20, 20, 30, 31, 0.8f, 0}, /* label 1 (class 1) predicted as 0 */
        {20, 20, 30, 30, 0.2f, 1}, /* below conf 0.25: ignored */
        {80, 80, 90, 90, 0.7f, 1}, /* nothing: predicted background */
    };
    REQUIRE(af_confusion_process(&cm, d, 4, gt, gc, 3, &err) == AF_OK);
    /* rows predicted (0, 1, bg), columns true (0, 1, bg) */
    const double want[9] = {1, 1, 0, 0, 0, 1, 0, 1, 0};
    CHECK(memcmp(cm.matrix, want, sizeof want) == 0);
    /* image where nothing matches: labels -> background FN, detections NOT
     * counted (ultralytics counts unmatched detections only when n > 0) */
    const af_detection far[] = {{100, 100, 110, 110, 0.9f, 0}};
    REQUIRE(af_confusion_process(&cm, far, 1, gt, gc, 1, &err) == AF_OK);
    CHECK(cm.matrix[2 * 3 + 0] == 1 && cm.matrix[0 * 3 + 2] == 0);
    /* detections=None */
    REQUIRE(af_confusion_process(&cm, NULL, 0, gt, gc, 2, &err) == AF_OK);
    CHECK(cm.matrix[2 * 3 + 0] == 2 && cm.matrix[2 * 3 + 1] == 2);
    /* no labels: confident detections are false positives */
    REQUIRE(af_confusion_process(&cm, d, 4, NULL, NULL, 0, &err) == AF_OK);
    CHECK(cm.matrix[0 * 3 + 2] == 2 && cm.matrix[1 * 3 + 2] == 2);
    /* class out of range */
    const int bad[] = {2};
    CHECK(af_confusion_process(&cm, d, 1, gt, bad, 1, &err) == AF_E_ARG);
    af_confusion_free(&cm);
    /* a user conf other than the default is kept */
    REQUIRE(af_confusion_init(&cm, 1, 0.1, 0.5, &err) == AF_OK);
    CHECK(cm.conf == 0.1f);
    af_confusion_free(&cm);
}

/* ---- edge cases through the accumulator ------------------------------ */

static int finite_metrics(const af_val_metrics *m)
{
    int ok = isfinite(m->p) && isfinite(m->r) && isfinite(m->map50) && isfinite(m->map) &&
             isfinite(m->fitness);
    for (size_t i = 0; i < m->nrows; i++)
        ok &= isfinite(m->rows[i].p) && isfinite(m->rows[i].r) && isfinite(m->rows[i].map50) &&
              isfinite(m->rows[i].map);
    for (int c = 0; c < m->nc; c++)
        ok &= isfinite(m->maps[c]);
    if (m->ap_computed)
        for (size_t k = 0; k < m->ap.nc * AF_AP_NCURVE; k++)
            ok &= isfinite(m->ap.p_curve[k]) && isfinite(m->ap.r_curve[k]) &&
                  isfinite(m->ap.f1_curve[k]);
    return ok;
}

static void test_edge_no_predictions(void)
{
    af_val_stats *s;
    af_error err = {0};
    REQUIRE(af_val_stats_create(1, &s, &err) == AF_OK);
    const float gt[] = {0, 0, 10, 10};
    const int gc[] = {0};
    REQUIRE(af_val_stats_add_image(s, NULL, 0, gt, gc, 1, &err) == AF_OK);
    REQUIRE(af_val_stats_add_image(s, NULL, 0, NULL, NULL, 0, &err) == AF_OK);
    af_val_metrics m;
    REQUIRE(af_val_stats_finalize(s, &m, &err) == AF_OK);
    CHECK(m.images == 2 && m.instances == 1 && !m.ap_computed && m.nrows == 0);
    CHECK(m.p == 0 && m.r == 0 && m.map50 == 0 && m.map == 0 && m.fitness == 0);
    CHECK(m.confusion[1 * 2 + 0] == 1); /* background FN */
    CHECK(finite_metrics(&m));
    char line[256];
    af_report_row(line, sizeof line, "all", m.images, m.instances, m.p, m.r, m.map50, m.map);
    CHECK(strcmp(line, "                   all          2          1          0          0"
                       "          0          0") == 0);
    af_val_metrics_free(&m);
    af_val_stats_free(s);
}

static void test_edge_no_labels(void)
{
    af_val_stats *s;
    af_error err = {0};
    REQUIRE(af_val_stats_create(1, &s, &err) == AF_OK);
    const af_detection d[] = {{0, 0, 10, 10, 0.9f, 0}, {5, 5, 9, 9, 0.5f, 0}};
    REQUIRE(af_val_stats_add_image(s, d, 2, NULL, NULL, 0, &err) == AF_OK);
    af_val_metrics m;
    REQUIRE(af_val_stats_finalize(s, &m, &err) == AF_OK);
    CHECK(m.images == 1 && m.instances == 0 && !m.ap_computed && m.nrows == 0);
    /* 8.1.9 skips label-less images in the confusion matrix */
    CHECK(m.confusion[0] == 0 && m.confusion[1] == 0 && m.confusion[2] == 0 && m.confusion[3] == 0);
    CHECK(finite_metrics(&m) && m.fitness == 0);
    cJSON *o;
    REQUIRE(af_val_metrics_to_json(&m, NULL, NULL, &o, &err) == AF_OK);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "classes")) == 0);
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(o, "speed_ms")));
    cJSON_Delete(o);
    af_val_metrics_free(&m);
    af_val_stats_free(s);
    /* ap_per_class with no labels at all: nothing, no NaN */
    af_ap_result a;
    const uint8_t tp[AF_NIOU] = {0};
    const float conf[] = {0.5f};
    const int pc[] = {0};
    REQUIRE(af_ap_per_class(tp, conf, pc, 1, NULL, 0, &a, &err) == AF_OK);
    CHECK(a.nc == 0 && a.n_prec == 0 && a.x[999] == 1.0);
    af_ap_result_free(&a);
}

static void test_edge_multiclass(void)
{
    /* nc = 3: class 0 found, class 1 has labels but no predictions, class 2
     * has predictions but no labels */
    af_val_stats *s;
    af_error err = {0};
    REQUIRE(af_val_stats_create(3, &s, &err) == AF_OK);
    const float gt[] = {0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50};
    const int gc[] = {0, 1, 0};
    const af_detection d[] = {
        {0, 0, 10, 10, 0.9f, 0},     {40, 40, 50, 52, 0.6f, 0}, {20, 20, 30, 30, 0.8f, 2},
        {100, 100, 120, 120, 0.3f, 2}, {60, 60, 70, 70, 0.4f, 0},
    };
    REQUIRE(af_val_stats_add_image(s, d, 5, gt, gc, 3, &err) == AF_OK);
    REQUIRE(af_val_stats_add_image(s, d, 2, NULL, NULL, 0, &err) == AF_OK); /* FPs only */
    af_val_metrics m;
    REQUIRE(af_val_stats_finalize(s, &m, &err) == AF_OK);
    CHECK(m.images == 2 && m.instances == 3 && m.ap_computed);
    REQUIRE(m.nrows == 2);
    CHECK(m.rows[0].cls == 0 && m.rows[0].instances == 2 && m.rows[0].images == 2);
    CHECK(m.rows[1].cls == 1 && m.rows[1].instances == 1);
    CHECK(m.rows[1].p == 0 && m.rows[1].r == 0 && m.rows[1].map50 == 0 && m.rows[1].map == 0);
    CHECK(m.rows[0].map50 > 0.5 && m.rows[0].r > 0);
    CHECK(m.nt_per_class[0] == 2 && m.nt_per_class[1] == 1 && m.nt_per_class[2] == 0);
    /* means are over the classes with labels; maps: the mean for class 2 */
    CHECK_NEAR(m.map50, (m.rows[0].map50 + m.rows[1].map50) / 2, 1e-15);
    CHECK(m.maps[2] == m.map && m.maps[0] == m.rows[0].map && m.maps[1] == 0);
    CHECK(finite_metrics(&m));
    /* confusion (rows pred 0,1,2,bg; cols true 0,1,2,bg): label 0 <- pred 0 twice
     * (both IoU > 0.45), label 1 <- pred class 2, pred 0 at (60,60) and pred 2 at
     * (100,100) are background, the label-less image is skipped */
    CHECK(m.confusion[0 * 4 + 0] == 2 && m.confusion[2 * 4 + 1] == 1);
    CHECK(m.confusion[0 * 4 + 3] == 1 && m.confusion[2 * 4 + 3] == 1);
    double total = 0;
    for (int k = 0; k < 16; k++)
        total += m.confusion[k];
    CHECK(total == 5);
    char *text;
    const char *names[] = {"face", "body", "hand"};
    REQUIRE(af_report_table(&m, names, &text, &err) == AF_OK);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK(lines == 4 && strstr(text, "\n                  face          2          2") &&
          strstr(text, "\n                  body          2          1          0          0"));
    free(text);
    af_val_metrics_free(&m);
    af_val_stats_free(s);
}

static void test_edge_no_true_positive(void)
{
    af_val_stats *s;
    af_error err = {0};
    REQUIRE(af_val_stats_create(2, &s, &err) == AF_OK);
    const float gt[] = {0, 0, 10, 10};
    const int gc[] = {1};
    const af_detection d[] = {{0, 0, 10, 10, 0.9f, 0}}; /* right box, wrong class */
    REQUIRE(af_val_stats_add_image(s, d, 1, gt, gc, 1, &err) == AF_OK);
    af_val_metrics m;
    REQUIRE(af_val_stats_finalize(s, &m, &err) == AF_OK);
    /* get_stats skips DetMetrics.process when tp has no True: all zero, no rows */
    CHECK(!m.ap_computed && m.nrows == 0 && m.p == 0 && m.map == 0 && m.fitness == 0);
    CHECK(m.confusion[0 * 3 + 1] == 1);
    af_val_metrics_free(&m);
    /* bad classes are refused */
    const af_detection bad[] = {{0, 0, 1, 1, 0.5f, 2}};
    CHECK(af_val_stats_add_image(s, bad, 1, NULL, NULL, 0, &err) == AF_E_ARG);
    const int badc[] = {-1};
    CHECK(af_val_stats_add_image(s, NULL, 0, gt, badc, 1, &err) == AF_E_ARG);
    CHECK(af_val_stats_set_confusion(s, 0.001, 0.45, &err) == AF_E_ARG); /* after images */
    af_val_stats_free(s);
    CHECK(af_val_stats_create(0, &s, &err) == AF_E_ARG);
}

static void test_report_format(void)
{
    char line[256];
    af_report_header(line, sizeof line);
    CHECK(strcmp(line, "                 Class     Images  Instances      Box(P          R      "
                       "mAP50  mAP50-95)") == 0);
    /* %11.3g as Python prints it: 1 -> "1", 0.0001234 -> "0.000123", 1e-5 -> "1e-05" */
    af_report_row(line, sizeof line, "a-very-long-class-name-here", 5, 12345678901LL, 1.0,
                  0.0001234, 1e-5, 0.99951);
    CHECK(strcmp(line, "a-very-long-class-name-here          512345678901          1   "
                       "0.000123      1e-05          1") == 0);
}

int main(void)
{
    RUN(test_iou_thresholds);
    RUN(test_box_iou_hand);
    RUN(test_match_hand);
    RUN(test_numpy_blocks);
    RUN(test_compute_ap_hand);
    RUN(test_confusion_hand);
    RUN(test_tp_golden);
    RUN(test_ap_per_class_golden);
    RUN(test_val_golden);
    RUN(test_edge_no_predictions);
    RUN(test_edge_no_labels);
    RUN(test_edge_multiclass);
    RUN(test_edge_no_true_positive);
    RUN(test_report_format);
    return t_summary();
}
