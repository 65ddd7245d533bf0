/* A program that only detects faces, as an embedder writes it: its own JPEG decoder
 * (libjpeg), then libanimeface alone (include/animeface.h, pkg-config animeface).
 * Usage: detect_only MODEL IMAGE.jpg -> one line per face "x1 y1 x2 y2 conf cls", then
 * "N faces". tests/embed/test_embed.sh builds it against the installed library. */
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include <animeface.h>

static unsigned char *read_jpeg(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr); /* exits on a corrupt file: fine for a demo */
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    *w = (int)cinfo.output_width;
    *h = (int)cinfo.output_height;
    unsigned char *rgb = malloc((size_t)*w * (size_t)*h * 3);
    while (rgb && cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = rgb + (size_t)cinfo.output_scanline * (size_t)*w * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return rgb;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE.jpg\n", argv[0]);
        return 2;
    }
    int width, height;
    unsigned char *rgb = read_jpeg(argv[2], &width, &height);
    if (!rgb) {
        fprintf(stderr, "%s: cannot read\n", argv[2]);
        return 1;
    }
    af_model *m;
    af_context *ctx;
    af_error err;
    if (af_model_load(argv[1], &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        free(rgb);
        return 1;
    }
    if (af_context_create(m, 0, &ctx, &err)) { /* one context per thread; the model is shared */
        fprintf(stderr, "%s\n", err.msg);
        af_model_free(m);
        free(rgb);
        return 1;
    }
    af_detect_options o;
    af_detect_options_default(&o);
    const af_detection *d;
    int n;
    int rc = 0;
    if (af_detect(ctx, rgb, width, height, (size_t)width * 3, AF_PIXEL_RGB, &o, &d, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        rc = 1;
    } else {
        for (int i = 0; i < n; i++)
            printf("%.9g %.9g %.9g %.9g %.9g %d\n", d[i].x1, d[i].y1, d[i].x2, d[i].y2, d[i].conf,
                   d[i].cls);
        printf("%d faces\n", n);
    }
    af_context_free(ctx);
    af_model_free(m);
    free(rgb);
    return rc;
}
