/* JPEG decoding with libjpeg(-turbo), the way OpenCV 4.6's JpegDecoder does it:
 * default decompression settings, gray and YCbCr -> RGB by libjpeg, CMYK/YCCK -> RGB with
 * OpenCV's integer formula, then the EXIF orientation of the first APP1 marker. */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "core/error.h"
#include "io/image.h"

#define JPEG_MAX_MEMORY (512L << 20) /* libjpeg's own buffers (multi-scan coefficients) */

typedef struct jpeg_state {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int scanning;  /* 1 once single-scan data is being read row by row */
    int eof;       /* the source ran out (libjpeg then feeds a fake EOI) */
    int truncated;
    char msg[JMSG_LENGTH_MAX];
} jpeg_state;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_state *s = (jpeg_state *)cinfo->err;
    s->pub.format_message(cinfo, s->msg);
    longjmp(s->jb, 1);
}

/* Warnings (msg_level < 0) are swallowed, except those that mean image data is missing:
 * running out of input while reading the header or buffering a multi-scan (progressive)
 * image, or running out in the middle of a scan (end of input followed by "hit marker").
 * A file that lacks only its EOI marker decodes fine. Trace messages are ignored. */
static void on_emit_message(j_common_ptr cinfo, int msg_level)
{
    jpeg_state *s = (jpeg_state *)cinfo->err;
    if (msg_level >= 0)
        return;
    if (s->pub.msg_code == JWRN_JPEG_EOF) {
        s->eof = 1;
        if (!s->scanning) {
            s->truncated = 1;
            longjmp(s->jb, 1);
        }
    } else if (s->pub.msg_code == JWRN_HIT_MARKER && s->eof) {
        s->truncated = 1;
        longjmp(s->jb, 1);
    }
    s->pub.num_warnings++;
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* OpenCV's icvCvt_CMYK2BGR_8u_C4C3R, written as RGB. */
static void cmyk_row_to_rgb(const uint8_t *cmyk, uint8_t *rgb, int w)
{
    for (int i = 0; i < w; i++, cmyk += 4, rgb += 3) {
        int c = cmyk[0], m = cmyk[1], y = cmyk[2], k = cmyk[3];
        rgb[0] = (uint8_t)(k - ((255 - c) * k >> 8));
        rgb[1] = (uint8_t)(k - ((255 - m) * k >> 8));
        rgb[2] = (uint8_t)(k - ((255 - y) * k >> 8));
    }
}

af_status af_image_decode_jpeg(const uint8_t *buf, size_t len, const char *name,
                               const af_image_limits *lim, af_image *out, af_error *err)
{
    struct jpeg_decompress_struct cinfo;
    /* Everything touched after setjmp lives in this heap block (no volatile games). */
    struct ctx {
        jpeg_state st;
        af_image img;
        uint8_t *row;
        int orientation;
    } *x = calloc(1, sizeof *x);
    if (!x)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
    af_status rc = AF_OK;

    cinfo.err = jpeg_std_error(&x->st.pub);
    x->st.pub.error_exit = on_error_exit;
    x->st.pub.emit_message = on_emit_message;
    x->st.pub.output_message = on_output_message;
    if (setjmp(x->st.jb)) {
        if (x->st.truncated)
            rc = af_fail(err, AF_E_FORMAT, "%s: truncated JPEG data (premature end of file)", name);
        else if (x->st.pub.msg_code == JERR_NO_BACKING_STORE)
            rc = af_fail(err, AF_E_LIMIT,
                         "%s: this multi-scan JPEG needs more than %d MiB of decoder memory", name,
                         (int)(JPEG_MAX_MEMORY >> 20));
        else if (x->st.pub.msg_code == JERR_BAD_PRECISION ||
                 x->st.pub.msg_code == JERR_CONVERSION_NOTIMPL ||
                 x->st.pub.msg_code == JERR_NOT_COMPILED ||
                 x->st.pub.msg_code == JERR_ARITH_NOTIMPL)
            rc = af_fail(err, AF_E_UNSUPPORTED, "%s: unsupported JPEG: %s", name, x->st.msg);
        else
            rc = af_fail(err, AF_E_FORMAT, "%s: invalid JPEG data: %s", name, x->st.msg);
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    /* A progressive (multi-scan) JPEG is buffered as coefficients, 2 bytes per sample, on top
     * of the output: 16384x16384 CMYK would take 2 GiB from a 1 KB file. Past this budget
     * libjpeg needs a backing store, which this build lacks: a clean JERR_NO_BACKING_STORE.
     * Single-scan JPEGs need no such buffer and are unaffected. */
    cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&cinfo, TRUE);

    rc = af_image_check_size(name, "JPEG", cinfo.image_width, cinfo.image_height, lim, err);
    if (rc)
        goto done;

    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1) { /* OpenCV looks at the first APP1 only */
            if (m->data_length > 6)
                x->orientation = af_exif_orientation(m->data + 6, m->data_length - 6);
            break;
        }
    }

    int cmyk = cinfo.num_components == 4;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_components != (cmyk ? 4 : 3)) {
        rc = af_fail(err, AF_E_UNSUPPORTED, "%s: JPEG with %d output components is not supported",
                     name, (int)cinfo.output_components);
        goto done;
    }
    x->st.scanning = 1;
    if ((rc = af_image_alloc(&x->img, (int)cinfo.output_width, (int)cinfo.output_height, 3, err)))
        goto done;
    if (cmyk && !(x->row = malloc((size_t)cinfo.output_width * 4))) {
        rc = af_fail(err, AF_E_NOMEM, "%s: out of memory", name);
        goto done;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = x->img.data + (size_t)cinfo.output_scanline * x->img.w * 3;
        JSAMPROW rows[1] = {cmyk ? x->row : dst};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
            rc = af_fail(err, AF_E_FORMAT, "%s: truncated JPEG data (premature end of file)", name);
            goto done;
        }
        if (cmyk)
            cmyk_row_to_rgb(x->row, dst, x->img.w);
    }
    /* jpeg_finish_decompress is not needed: the markers were read with the header, and a
     * missing EOI after complete image data is no reason to fail. */

done:
    jpeg_destroy_decompress(&cinfo);
    if (rc == AF_OK && x->orientation > 1)
        rc = af_image_apply_orientation(&x->img, x->orientation, err);
    if (rc == AF_OK) {
        *out = x->img;
    } else {
        af_image_free(&x->img);
    }
    free(x->row);
    free(x);
    return rc;
}
