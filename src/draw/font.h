/* Loading a TrueType font file for cairo (annotations, plots). */
#ifndef AF_DRAW_FONT_H
#define AF_DRAW_FONT_H

#include <cairo.h>

#include "animeface.h"

/* A cairo font face for the font file at path (AF_E_IO if missing,
 * AF_E_FORMAT if FreeType cannot read it). Release with cairo_font_face_destroy. */
af_status af_font_load(const char *path, cairo_font_face_t **out, af_error *err);

/* Length (1..4) of the valid UTF-8 sequence at p, by cairo's notion of valid
 * (no overlong forms, surrogates or non-characters), or 0 if p does not start
 * one. cairo rejects a string with an invalid sequence (and its context then
 * stays in an error state), so text is checked with this before drawing. */
int af_utf8_seq_len(const unsigned char *p);

#endif
