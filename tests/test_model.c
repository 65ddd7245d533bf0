/* Loading a checkpoint into a network: weights that disagree with the
 * description, NaN weights, foreign tensors and missing tensors are refused
 * with a message naming the tensor; one model serves several threads with
 * the same results as one. */
#include <math.h>
#include <pthread.h>

#include "io/image.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "testutil.h"

static int load_ck(af_checkpoint *ck)
{
    af_error err = {0};
    if (!t_file_exists(t_shared("fixtures/yolov8n_face.pt")))
        return 0;
    return af_checkpoint_load(t_shared("fixtures/yolov8n_face.pt"), ck, &err) == AF_OK;
}

static void test_shape_mismatch(void)
{
    af_checkpoint ck;
    if (!load_ck(&ck))
        SKIP("shared fixtures not found");
    af_tensor *t = af_tensor_list_find_mut(&ck.tensors, "model.2.m.0.cv1.conv.weight");
    REQUIRE(t != NULL);
    t->shape[0] = 8; /* 16 -> 8 output channels: disagrees with the description */
    af_model *m = NULL;
    af_error err = {0};
    CHECK(af_model_build(&ck, &m, &err) == AF_E_FORMAT);
    CHECK(m == NULL);
    CHECK(strstr(err.msg, "model.2.m.0.cv1.conv.weight") != NULL);
    CHECK(strstr(err.msg, "shape") != NULL);
    af_checkpoint_free(&ck);
}

static void test_nan_weights(void)
{
    af_checkpoint ck;
    if (!load_ck(&ck))
        SKIP("shared fixtures not found");
    af_tensor *t = af_tensor_list_find_mut(&ck.tensors, "model.4.cv2.bn.running_var");
    REQUIRE(t != NULL && t->dtype == AF_DT_F16);
    ((uint16_t *)t->data)[3] = 0x7e00; /* f16 NaN */
    af_model *m = NULL;
    af_error err = {0};
    CHECK(af_model_build(&ck, &m, &err) == AF_E_FORMAT);
    CHECK(strstr(err.msg, "model.4.cv2.bn.running_var") != NULL);
    CHECK(strstr(err.msg, "NaN") != NULL);
    af_checkpoint_free(&ck);
}

static void test_missing_and_foreign_tensors(void)
{
    af_checkpoint ck;
    if (!load_ck(&ck))
        SKIP("shared fixtures not found");
    af_tensor *t = af_tensor_list_find_mut(&ck.tensors, "model.22.cv3.1.2.bias");
    REQUIRE(t != NULL);
    t->name[0] = 'x'; /* renamed: now missing, and a foreign one exists */
    af_model *m = NULL;
    af_error err = {0};
    CHECK(af_model_build(&ck, &m, &err) == AF_E_FORMAT);
    CHECK(strstr(err.msg, "model.22.cv3.1.2.bias") != NULL);
    CHECK(strstr(err.msg, "missing") != NULL);
    t->name[0] = 'm';
    int64_t shp[1] = {4};
    float *junk = calloc(4, sizeof *junk);
    REQUIRE(af_tensor_list_add(&ck.tensors, "model.99.extra", AF_DT_F32, 1, shp, junk, 16, &err) ==
            AF_OK);
    CHECK(af_model_build(&ck, &m, &err) == AF_E_FORMAT);
    CHECK(strstr(err.msg, "model.99.extra") != NULL);
    af_checkpoint_free(&ck);
}

typedef struct job {
    const af_model *m;
    const af_image *img;
    af_detection dets[300];
    int n;
    af_status st;
} job;

static void *detect_thread(void *arg)
{
    job *j = arg;
    af_context *ctx = NULL;
    af_error err = {0};
    j->st = af_context_create(j->m, 1, &ctx, &err);
    for (int rep = 0; !j->st && rep < 3; rep++) {
        const af_detection *d;
        af_detect_options o;
        af_detect_options_default(&o);
        o.conf = 0.05f;
        j->st = af_detect(ctx, j->img->data, j->img->w, j->img->h, (size_t)j->img->w * 3,
                          AF_PIXEL_RGB, &o, &d, &j->n, &err);
        if (!j->st)
            memcpy(j->dets, d, (size_t)j->n * sizeof *d);
    }
    af_context_free(ctx);
    return NULL;
}

static void test_two_threads_one_model(void)
{
    af_model *m = NULL;
    af_error err = {0};
    if (!t_file_exists(t_shared("fixtures/yolov8n_face.pt")))
        SKIP("shared fixtures not found");
    REQUIRE(af_model_load(t_shared("fixtures/yolov8n_face.pt"), &m, &err) == AF_OK);
    af_image img = {0};
    REQUIRE(af_image_load("samples/personai_icartoonface_detval_00880.jpg", NULL, &img, &err) ==
            AF_OK);
    job solo;
    memset(&solo, 0, sizeof solo);
    solo.m = m;
    solo.img = &img;
    job a = solo, b = solo;
    detect_thread(&solo);
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, detect_thread, &a) == 0);
    REQUIRE(pthread_create(&tb, NULL, detect_thread, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(solo.st == AF_OK && a.st == AF_OK && b.st == AF_OK);
    CHECK(solo.n > 0);
    CHECK(a.n == solo.n && b.n == solo.n);
    CHECK(memcmp(a.dets, solo.dets, (size_t)solo.n * sizeof(af_detection)) == 0);
    CHECK(memcmp(b.dets, solo.dets, (size_t)solo.n * sizeof(af_detection)) == 0);
    af_image_free(&img);
    af_model_free(m);
}

int main(void)
{
    RUN(test_shape_mismatch);
    RUN(test_nan_weights);
    RUN(test_missing_and_foreign_tensors);
    RUN(test_two_threads_one_model);
    return t_summary();
}
