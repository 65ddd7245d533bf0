/* Fuzz target: image decoding (JPEG, PNG, BMP, WebP, TIFF, PNM, GIF, AVIF, EXIF
 * orientation) through af_image_decode with the default limits. */
#include <stdint.h>
#include <stddef.h>

#include "io/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    af_image img = {0};
    af_error err = {0};
    if (af_image_decode(data, size, "fuzz", NULL, &img, &err) == AF_OK) {
        /* touch every pixel so uninitialised rows show up under MSan/valgrind */
        volatile unsigned sum = 0;
        size_t n = (size_t)img.w * (size_t)img.h * (size_t)img.c;
        for (size_t i = 0; i < n; i += 61)
            sum += img.data[i];
        (void)sum;
    }
    af_image_free(&img);
    return 0;
}
