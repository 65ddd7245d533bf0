/* The validation input pipeline: rect batch shapes and each image's
 * resize + padding (ratio_pad) equal ultralytics 8.1.9's on the 48-image
 * metrics golden (imgsz 416, batch 16, stride 32). */
#include <cjson/cJSON.h>
#include <math.h>

#include "eval/val_input.h"
#include "testutil.h"

static cJSON *load_json(const char *path)
{
    size_t n;
    char *s = (char *)t_read_file(path, &n);
    if (!s)
        return NULL;
    s = realloc(s, n + 1);
    s[n] = 0;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

static void test_rect_batches_and_ratio_pad(void)
{
    cJSON *j = load_json(t_fixture("golden/metrics_val48.json"));
    REQUIRE(j != NULL);
    const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(j, "images");
    int n = cJSON_GetArraySize(imgs);
    REQUIRE(n == 48);
    /* the dataset order is by file name; the golden rows are in validator
     * (rect-sorted) order, which numpy's unstable argsort of h/w decided */
    int byname[48];
    for (int i = 0; i < n; i++)
        byname[i] = i;
    for (int i = 1; i < n; i++)
        for (int q = i; q > 0; q--) {
            const char *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(imgs, byname[q - 1]), "file")->valuestring;
            const char *b = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(imgs, byname[q]), "file")->valuestring;
            if (strcmp(a, b) <= 0)
                break;
            int t = byname[q];
            byname[q] = byname[q - 1];
            byname[q - 1] = t;
        }
    int h0[48], w0[48];
    for (int i = 0; i < n; i++) {
        const cJSON *hw = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(imgs, byname[i]), "ori_hw");
        h0[i] = cJSON_GetArrayItem(hw, 0)->valueint;
        w0[i] = cJSON_GetArrayItem(hw, 1)->valueint;
    }
    af_val_plan plan;
    af_error err = {0};
    REQUIRE(af_val_plan_rect(h0, w0, n, 416, 32, 16, &plan, &err) == AF_OK);
    CHECK(plan.nbatch == 3);
    int bad_order = 0, bad_shape = 0, bad_pad = 0;
    for (int k = 0; k < n; k++) {
        int i = byname[plan.order[k]]; /* golden row of the image at sorted position k */
        bad_order += i != k;
        const cJSON *row = cJSON_GetArrayItem(imgs, i);
        const cJSON *ihw = cJSON_GetObjectItemCaseSensitive(row, "input_hw");
        int bh = plan.batch_h[k / 16], bw = plan.batch_w[k / 16];
        if (bh != cJSON_GetArrayItem(ihw, 0)->valueint || bw != cJSON_GetArrayItem(ihw, 1)->valueint)
            bad_shape++;
        const cJSON *ohw = cJSON_GetObjectItemCaseSensitive(row, "ori_hw");
        af_image img = {0};
        REQUIRE(af_image_alloc(&img, cJSON_GetArrayItem(ohw, 1)->valueint,
                               cJSON_GetArrayItem(ohw, 0)->valueint, 3, &err) == AF_OK);
        memset(img.data, 100, (size_t)img.w * img.h * 3);
        af_val_image v;
        REQUIRE(af_val_prepare(&img, 416, bh, bw, &v, &err) == AF_OK);
        const cJSON *rp = cJSON_GetObjectItemCaseSensitive(row, "ratio_pad");
        const cJSON *g = cJSON_GetArrayItem(rp, 0), *p = cJSON_GetArrayItem(rp, 1);
        if (fabs(v.gain_h - cJSON_GetArrayItem(g, 0)->valuedouble) > 1e-12 ||
            fabs(v.gain_w - cJSON_GetArrayItem(g, 1)->valuedouble) > 1e-12 ||
            v.pad_left != (int)cJSON_GetArrayItem(p, 0)->valuedouble ||
            v.pad_top != (int)cJSON_GetArrayItem(p, 1)->valuedouble)
            bad_pad++;
        CHECK(v.input.w == bw && v.input.h == bh);
        af_val_image_free(&v);
        af_image_free(&img);
    }
    CHECK_MSG(bad_order == 0, "%d images in another order than ultralytics' validator", bad_order);
    CHECK_MSG(bad_shape == 0, "%d images with another batch shape", bad_shape);
    CHECK_MSG(bad_pad == 0, "%d images with another ratio_pad", bad_pad);
    af_val_plan_free(&plan);
    cJSON_Delete(j);
}

int main(void)
{
    RUN(test_rect_batches_and_ratio_pad);
    return t_summary();
}
