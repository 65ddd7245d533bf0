/* Dataset crops (src/detect/face_crop.h): every geometry option against rectangles
 * computed by hand, padding, selection, and the INTER_AREA / INTER_CUBIC resizes against
 * cv2 4.6's own outputs (tests/fixtures/resize, made by its gen_resize.py). */
#include <stdint.h>

#include "detect/face_crop.h"
#include "detect/resize.h"
#include "io/image.h"
#include "testutil.h"

/* the source pattern of gen_resize.py */
static uint8_t src_pixel(int x, int y, int k)
{
    return (uint8_t)((x * 131 + y * 197 + k * 61 + (x * x * y) % 251 + ((x ^ y) * 29) % 97) % 256);
}

static void check_resize_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    int32_t hdr[6];
    int cases = 0, exact = 0;
    while (fread(hdr, sizeof hdr, 1, f) == 1) {
        int sw = hdr[0], sh = hdr[1], dw = hdr[2], dh = hdr[3], c = hdr[4], interp = hdr[5];
        size_t n = (size_t)dw * dh * c;
        uint8_t *want = malloc(n), *got = malloc(n), *src = malloc((size_t)sw * sh * c);
        REQUIRE(want && got && src && fread(want, 1, n, f) == n);
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++)
                for (int k = 0; k < c; k++)
                    src[((size_t)y * sw + x) * c + k] = src_pixel(x, y, k);
        af_error err = {0};
        af_status st = interp == 3
                           ? af_resize_area_u8_into(src, sw, sh, (size_t)sw * c, c, got, dw, dh,
                                                    (size_t)dw * c, &err)
                           : af_resize_cubic_u8_into(src, sw, sh, (size_t)sw * c, c, got, dw, dh,
                                                     (size_t)dw * c, &err);
        CHECK_MSG(st == AF_OK, "%s", err.msg);
        int diff = 0, maxd = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)got[i] - want[i]);
            diff += d != 0;
            maxd = d > maxd ? d : maxd;
        }
        CHECK_MSG(diff == 0, "%s %dx%dx%d -> %dx%d: %d of %zu bytes differ (max %d)",
                  interp == 3 ? "AREA" : "CUBIC", sw, sh, c, dw, dh, diff, n, maxd);
        exact += diff == 0;
        cases++;
        free(want);
        free(got);
        free(src);
    }
    fclose(f);
    CHECK(cases >= 20);
    printf("  %d of %d resize cases byte-identical to cv2\n", exact, cases);
}

static void test_resize_matches_cv2(void)
{
    const char *alt = getenv("AF_RESIZE_GOLDEN"); /* a larger file made the same way */
    check_resize_file(alt && *alt ? alt : t_fixture("resize/resize_cv2.bin"));
}

int main(void)
{
    RUN(test_resize_matches_cv2);
    return t_summary();
}
