/* TrueType fonts for cairo through FreeType, without fontconfig: the face
 * is owned by the cairo font face and freed with its last reference. */
#include "draw/font.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-ft.h>
#include <ft2build.h>
#include FT_FREETYPE_H

#include "core/error.h"

typedef struct font_holder {
    FT_Library lib;
    FT_Face face;
} font_holder;

static const cairo_user_data_key_t font_holder_key;

static void font_holder_free(void *p)
{
    font_holder *h = p;
    FT_Done_Face(h->face);
    FT_Done_FreeType(h->lib);
    free(h);
}

af_status af_font_load(const char *path, cairo_font_face_t **out, af_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return af_fail(err, AF_E_IO, "font %s: %s (give another TrueType font)", path,
                       strerror(errno));
    fclose(f);
    font_holder *h = calloc(1, sizeof *h);
    if (!h)
        return af_fail(err, AF_E_NOMEM, "font %s: out of memory", path);
    FT_Error fe = FT_Init_FreeType(&h->lib);
    if (fe) {
        free(h);
        return af_fail(err, AF_E_INTERNAL, "font %s: FreeType init failed (error %d)", path,
                       (int)fe);
    }
    fe = FT_New_Face(h->lib, path, 0, &h->face);
    if (fe) {
        FT_Done_FreeType(h->lib);
        free(h);
        return af_fail(err, AF_E_FORMAT, "font %s: not a font FreeType can read (error %d)", path,
                       (int)fe);
    }
    cairo_font_face_t *ff = cairo_ft_font_face_create_for_ft_face(h->face, 0);
    if (cairo_font_face_status(ff) != CAIRO_STATUS_SUCCESS) {
        cairo_font_face_destroy(ff);
        font_holder_free(h);
        return af_fail(err, AF_E_NOMEM, "font %s: cairo cannot use it", path);
    }
    if (cairo_font_face_set_user_data(ff, &font_holder_key, h, font_holder_free) !=
        CAIRO_STATUS_SUCCESS) {
        cairo_font_face_destroy(ff);
        font_holder_free(h);
        return af_fail(err, AF_E_NOMEM, "font %s: out of memory", path);
    }
    *out = ff; /* the face is freed with the last reference to ff */
    return AF_OK;
}

int af_utf8_seq_len(const unsigned char *p)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
    if (len <= 1)
        return len;
    uint32_t cp = len == 2 ? (*p & 0x1Fu) : len == 3 ? (*p & 0x0Fu) : (*p & 0x07u);
    for (int k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[k] & 0x3Fu);
    }
    int ok = cp >= min_cp[len] && cp < 0x110000 && (cp & 0xFFFFF800u) != 0xD800 &&
             (cp < 0xFDD0 || cp > 0xFDEF) && (cp & 0xFFFE) != 0xFFFE;
    return ok ? len : 0;
}
