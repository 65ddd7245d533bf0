/* Model descriptions resolve like ultralytics parse_model: parameter counts
 * equal those ultralytics 8.1.9 documents for each scale. */
#include "model/desc.h"
#include "testutil.h"

static long long count(const char *name, int nc)
{
    af_error err = {0};
    cJSON *y = af_model_yaml_builtin(name, nc, &err);
    if (!y) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    static af_model_desc d;
    af_status st = af_model_desc_parse(y, 0, &d, &err);
    cJSON_Delete(y);
    if (st) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    return af_model_desc_param_count(&d);
}

static void test_p5_scales(void)
{
    /* cfg/models/v8/yolov8.yaml comments (nc=80) */
    CHECK(count("yolov8n.yaml", 0) == 3157200);
    CHECK(count("yolov8s.yaml", 0) == 11166560);
    CHECK(count("yolov8m.yaml", 0) == 25902640);
    CHECK(count("yolov8l.yaml", 0) == 43691520);
    CHECK(count("yolov8x.yaml", 0) == 68229648);
}

static void test_p6(void)
{
    /* fixtures README: yolov8n-p6 with nc=1 has 4,783,332 parameters */
    CHECK(count("yolov8n-p6.yaml", 1) == 4783332);
    /* old spelling yolov8x6 is renamed to yolov8x-p6 */
    CHECK(count("yolov8x6.yaml", 1) == count("yolov8x-p6.yaml", 1));
    CHECK(count("yolov8x6.yaml", 1) > 90000000);
}

static void test_yolo11_scales(void)
{
    /* ultralytics 8.3 cfg/models/11/yolo11.yaml comments (nc=80), the same numbers
     * YOLO('yolo11n.yaml').info() prints under 8.3.40 */
    CHECK(count("yolo11n.yaml", 0) == 2624080);
    CHECK(count("yolo11s.yaml", 0) == 9458752);
    CHECK(count("yolo11m.yaml", 0) == 20114688);
    CHECK(count("yolo11l.yaml", 0) == 25372160);
    CHECK(count("yolo11x.yaml", 0) == 56966176);
    CHECK(count("yolo11.yaml", 0) == 2624080); /* no scale: the first, n */
    /* nc=1: the model summaries 8.3.40's trainer printed for the face fixtures
     * (tests/fixtures/yolo11/README.md) */
    CHECK(count("yolo11n.yaml", 1) == 2590035);
    CHECK(count("yolo11s.yaml", 1) == 9428179);
}

static void test_bad_descriptions(void)
{
    af_error err = {0};
    af_model_desc d;
    CHECK(af_model_yaml_builtin("resnet50.yaml", 1, &err) == NULL);
    CHECK(af_model_yaml_builtin("yolov8q.yaml", 1, &err) == NULL);
    CHECK(af_model_yaml_builtin("yolo11q.yaml", 1, &err) == NULL);
    CHECK(af_model_yaml_builtin("yolo11n-p6.yaml", 1, &err) == NULL);
    const char *bad[] = {
        "{\"nc\":1,\"backbone\":[[-1,1,\"Conv\",[16,3,2]]],\"head\":[[-1,1,\"Foo\",[1]]]}",
        "{\"nc\":1,\"backbone\":[[5,1,\"Conv\",[16,3,2]]],\"head\":[]}",
        "{\"nc\":1,\"backbone\":[[-1,1,\"Conv\",[16,3,2]]],\"head\":[]}",
        "{\"backbone\":[],\"head\":[]}",
        "[1,2,3]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *y = cJSON_Parse(bad[i]);
        REQUIRE(y != NULL);
        af_status st = af_model_desc_parse(y, 0, &d, &err);
        CHECK_MSG(st != AF_OK, "case %zu accepted", i);
        CHECK(strlen(err.msg) > 10);
        cJSON_Delete(y);
    }
}

int main(void)
{
    RUN(test_p5_scales);
    RUN(test_p6);
    RUN(test_yolo11_scales);
    RUN(test_bad_descriptions);
    return t_summary();
}
