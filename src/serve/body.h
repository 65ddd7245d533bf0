/* A request body as it arrives: the raw bytes of an image, or a
 * multipart/form-data form parsed by libmicrohttpd's post processor (field
 * "image" holds the image; the option fields are kept as short strings).
 * Every buffer is bounded: the image by the upload limit, all bodies together
 * by a shared budget, each option value by SERVE_FIELD_MAX. */
#ifndef AF_SERVE_BODY_H
#define AF_SERVE_BODY_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_FIELD_MAX 96
#define SERVE_NFIELDS 11

/* Bytes held by all request bodies at once, and the most they may hold. */
typedef struct serve_budget {
    atomic_size_t used;
    size_t max;
} serve_budget;

typedef enum serve_body_state {
    BODY_OK = 0,
    BODY_TOO_LARGE, /* over the upload limit: 413 */
    BODY_BUSY,      /* the shared budget is spent: 503 */
    BODY_BAD_FORM,  /* the post processor refused the form, or a field is too long: 400 */
    BODY_NOMEM
} serve_body_state;

typedef struct serve_body {
    struct MHD_PostProcessor *pp; /* NULL: a raw body */
    serve_budget *budget;
    size_t max;      /* the upload limit */
    size_t expect;   /* Content-Length when given, else 0 */
    uint8_t *data;   /* the image bytes */
    size_t len, cap; /* cap is what is reserved from the budget */
    size_t seen;     /* body bytes received (raw or form) */
    serve_body_state state;
    int image_parts; /* form fields named "image" seen */
    char filename[128];
    char fields[SERVE_NFIELDS][SERVE_FIELD_MAX];
    unsigned char has[SERVE_NFIELDS];
} serve_body;

/* Starts reading a body on connection c (multipart/form-data when its
 * Content-Type says so). Returns 0, or -1 when out of memory. */
int serve_body_begin(serve_body *b, struct MHD_Connection *c, size_t max, serve_budget *budget);

/* Takes n more bytes; returns b->state (BODY_OK to go on). After an error
 * state the rest of the body is counted but not kept. */
serve_body_state serve_body_feed(serve_body *b, const char *data, size_t n);

/* Ends the body; returns b->state (BODY_BAD_FORM for a form cut short). */
serve_body_state serve_body_end(serve_body *b);

/* The value of form field name, or NULL. */
const char *serve_body_field(const serve_body *b, const char *name);

void serve_body_free(serve_body *b);

#endif
