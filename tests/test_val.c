/* `animeface val` end to end: yolov8n_face.pt on the 48-image icartoonface
 * subset of the metrics golden (imgsz 416, conf 0.001, iou 0.6, batch 16)
 * gives ultralytics 8.1.9's P, R, mAP50, mAP50-95 (issue 3: within 0.002),
 * and writes every plot. Also the CLI's table, JSON and exit status. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/validator.h"
#include "model/model.h"
#include "testutil.h"

static char tmpdir[256];

static int make_subset(char *yaml, size_t cap)
{
    /* icf48: the first 48 val images sorted by name */
    af_strlist all = {0};
    af_strlist dirs = {0};
    af_error err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", t_shared("data/icartoonface/images/val"));
    if (!t_file_exists(t_shared("data/icartoonface/data.yaml")))
        return 0;
    if (af_strlist_push(&dirs, dir, &err) || af_image_list_collect(&dirs, &all, &err) ||
        all.n < 48) {
        af_strlist_free(&dirs);
        af_strlist_free(&all);
        return 0;
    }
    char list[512];
    snprintf(list, sizeof list, "%s/val48.txt", tmpdir);
    FILE *f = fopen(list, "w");
    for (size_t i = 0; f && i < 48; i++) {
        char *abs = NULL;
        if (af_path_resolve(NULL, all.v[i], &abs, &err) == AF_OK)
            fprintf(f, "%s\n", abs);
        free(abs);
    }
    if (f)
        fclose(f);
    snprintf(yaml, cap, "%s/data.yaml", tmpdir);
    f = fopen(yaml, "w");
    if (f) {
        fprintf(f, "train: val48.txt\nval: val48.txt\nnames:\n  0: face\n");
        fclose(f);
    }
    af_strlist_free(&dirs);
    af_strlist_free(&all);
    return f != NULL;
}

/* The 48-image subset's report against a golden's metrics (issue 3: within 0.002). */
static void check_metrics(const af_val_report *rep, double P, double R, double M50, double M,
                          double F)
{
    const af_val_metrics *vm = &rep->metrics;
    printf("   P %.9f (%+.1e)  R %.9f (%+.1e)  mAP50 %.9f (%+.1e)  mAP50-95 %.9f (%+.1e)\n",
           vm->p, vm->p - P, vm->r, vm->r - R, vm->map50, vm->map50 - M50, vm->map, vm->map - M);
    CHECK(rep->images == 48 && vm->instances == 89);
    CHECK_NEAR(vm->p, P, 0.002);
    CHECK_NEAR(vm->r, R, 0.002);
    CHECK_NEAR(vm->map50, M50, 0.002);
    CHECK_NEAR(vm->map, M, 0.002);
    CHECK_NEAR(vm->fitness, F, 0.002);
}

static void test_val_matches_ultralytics(void)
{
    char yaml[512];
    if (!t_file_exists(t_shared("fixtures/yolov8n_face.pt")) || !make_subset(yaml, sizeof yaml))
        SKIP("shared fixtures or data not found");
    af_error err = {0};
    af_model *m = NULL;
    REQUIRE(af_model_load(t_shared("fixtures/yolov8n_face.pt"), &m, &err) == AF_OK);
    af_data_config cfg;
    REQUIRE(af_data_config_load(yaml, &cfg, &err) == AF_OK);
    af_dataset ds;
    REQUIRE(af_dataset_load(&cfg, "val", NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 48);
    CHECK(ds.counts.instances == 89);
    af_val_options o;
    af_val_options_default(&o);
    o.imgsz = 416;
    o.iou = 0.6f;
    char out[512];
    snprintf(out, sizeof out, "%s/val", tmpdir);
    mkdir(out, 0777);
    o.save_dir = out;
    o.save_json = 1;
    af_val_report rep;
    af_status st = af_validate(m, &ds, (const char *const *)cfg.names, &o, NULL, NULL, &rep, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (!st) {
        /* golden metrics_val48.json (printed by ultralytics: 0.872 0.506 0.601 0.285) */
        const double P = 0.872390232476761, R = 0.5056179775280899, M50 = 0.6013596829395353,
                     M = 0.2847570230699482, F = 0.3164172890569069;
        const af_val_metrics *vm = &rep.metrics;
        check_metrics(&rep, P, R, M50, M, F);
        /* the confusion matrix of the golden: [[47, 3], [42, 0]] */
        printf("   confusion %g %g %g %g\n", vm->confusion[0], vm->confusion[1], vm->confusion[2], vm->confusion[3]);
        CHECK(vm->confusion && vm->confusion[0] == 47 && vm->confusion[1] == 3 &&
              vm->confusion[2] == 42 && vm->confusion[3] == 0);
        const char *files[] = {"PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png",
                               "confusion_matrix.png", "confusion_matrix_normalized.png",
                               "val_batch0_labels.jpg", "val_batch0_pred.jpg",
                               "val_batch2_pred.jpg", "predictions.json"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char p[700];
            snprintf(p, sizeof p, "%s/%s", out, files[i]);
            CHECK_MSG(t_file_exists(p), "%s missing", files[i]);
        }
        af_val_report_free(&rep);
    }
    af_dataset_free(&ds);
    af_data_config_free(&cfg);
    af_model_free(m);
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A YOLO11 face model (tests/fixtures/yolo11) on the same subset: ultralytics
 * 8.3.40's metrics and confusion matrix (the fixture's `golden` json), with 8.3's
 * label placement (rounded letterbox padding). */
static void val_yolo11_case(const char *model, const char *golden)
{
    char yaml[512], pt[512];
    snprintf(pt, sizeof pt, "%s", t_model(model));
    if (!t_file_exists(pt) || !make_subset(yaml, sizeof yaml))
        SKIP("%s or shared data not found", model);
    size_t len;
    char *js = (char *)t_read_file(t_fixture(golden), &len);
    REQUIRE(js != NULL);
    js = realloc(js, len + 1);
    js[len] = 0;
    cJSON *g = cJSON_Parse(js);
    free(js);
    REQUIRE(g != NULL);
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(g, "val_results_dict");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(g, "confusion_matrix");
    const double P = json_num(rd, "metrics/precision(B)"), R = json_num(rd, "metrics/recall(B)"),
                 M50 = json_num(rd, "metrics/mAP50(B)"), M = json_num(rd, "metrics/mAP50-95(B)"),
                 F = json_num(rd, "fitness");
    af_error err = {0};
    af_model *m = NULL;
    REQUIRE(af_model_load(pt, &m, &err) == AF_OK);
    af_data_config cfg;
    REQUIRE(af_data_config_load(yaml, &cfg, &err) == AF_OK);
    af_dataset ds;
    REQUIRE(af_dataset_load(&cfg, "val", NULL, &ds, &err) == AF_OK);
    af_val_options o;
    af_val_options_default(&o);
    o.imgsz = 416;
    o.iou = 0.6f;
    af_val_report rep;
    af_status st = af_validate(m, &ds, (const char *const *)cfg.names, &o, NULL, NULL, &rep, &err);
    CHECK_MSG(st == AF_OK, "%s", err.msg);
    if (!st) {
        const af_val_metrics *vm = &rep.metrics;
        check_metrics(&rep, P, R, M50, M, F);
        /* closer than issue 3's 0.002 (ours are within 5e-7), so that the label
         * placement shows: on the yolo11s golden, 8.1.9's unrounded (dw, dh) shift
         * gives mAP50-95 2.0e-4 below 8.3's rounded one */
        CHECK_MSG(fabs(vm->p - P) <= 5e-5 && fabs(vm->r - R) <= 5e-5 &&
                      fabs(vm->map50 - M50) <= 5e-5 && fabs(vm->map - M) <= 5e-5,
                  "%s: metrics beyond 5e-5 of ultralytics 8.3.40's", model);
        int cm_ok = vm->confusion != NULL && cJSON_GetArraySize(cm) == 2;
        for (int i = 0; cm_ok && i < 4; i++) {
            const cJSON *row = cJSON_GetArrayItem(cm, i / 2);
            const cJSON *v = cJSON_GetArrayItem(row, i % 2);
            cm_ok = cJSON_IsNumber(v) && v->valuedouble == vm->confusion[i];
        }
        printf("   confusion %g %g %g %g\n", vm->confusion[0], vm->confusion[1],
               vm->confusion[2], vm->confusion[3]);
        CHECK_MSG(cm_ok, "%s: the confusion matrix differs from ultralytics'", model);
        af_val_report_free(&rep);
    }
    cJSON_Delete(g);
    af_dataset_free(&ds);
    af_data_config_free(&cfg);
    af_model_free(m);
}

static void test_val_yolo11_matches_ultralytics_83(void)
{
    val_yolo11_case("yolo11/yolo11n_face.pt", "yolo11/val48.json");
}

static void test_val_yolo11s_matches_ultralytics_83(void)
{
    val_yolo11_case("yolo11/yolo11s_face.pt", "yolo11/val48_s.json");
}

static void test_val_cli_bad_dataset(void)
{
    const char *cli = getenv("AF_CLI");
    if (!cli || !*cli)
        cli = "build/release/animeface";
    char yaml[512], cmd[2048];
    snprintf(yaml, sizeof yaml, "%s/bad.yaml", tmpdir);
    FILE *f = fopen(yaml, "w");
    REQUIRE(f != NULL);
    fprintf(f, "train: nowhere\nval: nowhere\nnames: [face]\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s val --data %s --no-plots > %s/o.txt 2>&1", cli, yaml, tmpdir);
    int rc = system(cmd);
    CHECK(rc != 0);
    snprintf(cmd, sizeof cmd, "%s/o.txt", tmpdir);
    size_t n;
    char *s = (char *)t_read_file(cmd, &n);
    REQUIRE(s != NULL);
    s = realloc(s, n + 1);
    s[n] = 0;
    CHECK(strstr(s, "nowhere") != NULL);
    free(s);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/animeface-test-val-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    RUN(test_val_matches_ultralytics);
    RUN(test_val_yolo11_matches_ultralytics_83);
    RUN(test_val_yolo11s_matches_ultralytics_83);
    RUN(test_val_cli_bad_dataset);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_summary();
}
