#include "serve/body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const field_names[SERVE_NFIELDS] = {"conf",    "iou",      "imgsz",  "max_det",
                                                       "classes", "agnostic", "margin", "square",
                                                       "size",    "format",   "quality"};

static int budget_take(serve_budget *g, size_t n)
{
    size_t was = atomic_fetch_add(&g->used, n);
    if (was + n > g->max || was + n < was) {
        atomic_fetch_sub(&g->used, n);
        return -1;
    }
    return 0;
}

/* Makes room for need bytes of image. */
static serve_body_state reserve(serve_body *b, size_t need)
{
    if (need > b->max)
        return b->state = BODY_TOO_LARGE;
    if (need <= b->cap)
        return BODY_OK;
    size_t cap = b->cap ? b->cap : 64 * 1024;
    if (b->expect && b->expect <= b->max && cap < b->expect)
        cap = b->expect; /* the whole body at once when its length is known */
    while (cap < need)
        cap *= 2;
    if (cap > b->max)
        cap = b->max;
    if (budget_take(b->budget, cap - b->cap))
        return b->state = BODY_BUSY;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        atomic_fetch_sub(&b->budget->used, cap - b->cap);
        return b->state = BODY_NOMEM;
    }
    b->data = p;
    b->cap = cap;
    return BODY_OK;
}

static serve_body_state append(serve_body *b, const char *data, size_t n)
{
    if (reserve(b, b->len + n))
        return b->state;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return BODY_OK;
}

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size)
{
    serve_body *b = cls;
    if (!key)
        return MHD_YES;
    if (!strcmp(key, "image")) {
        if (off == 0) {
            b->image_parts++;
            if (b->image_parts == 1 && filename)
                snprintf(b->filename, sizeof b->filename, "%s", filename);
        }
        if (b->image_parts == 1 && size && append(b, data, size))
            return MHD_NO;
        return MHD_YES;
    }
    for (int i = 0; i < SERVE_NFIELDS; i++) {
        if (strcmp(key, field_names[i]))
            continue;
        if (off + size >= SERVE_FIELD_MAX) {
            b->state = BODY_BAD_FORM;
            return MHD_NO;
        }
        memcpy(b->fields[i] + off, data, size);
        b->fields[i][off + size] = '\0';
        b->has[i] = 1;
        return MHD_YES;
    }
    return MHD_YES; /* other fields are ignored */
}

int serve_body_begin(serve_body *b, struct MHD_Connection *c, size_t max, serve_budget *budget)
{
    memset(b, 0, sizeof *b);
    b->max = max;
    b->budget = budget;
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end != cl && !*end)
            b->expect = (size_t)v;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    /* only forms that can carry a file go through the post processor; a raw image
     * labelled application/x-www-form-urlencoded (curl --data-binary's default) stays raw */
    if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
        b->pp = MHD_create_post_processor(c, 64 * 1024, on_field, b);
        if (!b->pp)
            b->state = BODY_BAD_FORM;
    }
    return 0;
}

serve_body_state serve_body_feed(serve_body *b, const char *data, size_t n)
{
    b->seen += n;
    if (b->state)
        return b->state;
    if (b->seen > b->max || b->seen < n)
        return b->state = BODY_TOO_LARGE;
    if (!b->pp)
        return append(b, data, n);
    if (MHD_post_process(b->pp, data, n) != MHD_YES && !b->state)
        b->state = BODY_BAD_FORM;
    return b->state;
}

serve_body_state serve_body_end(serve_body *b)
{
    if (b->pp) {
        if (MHD_destroy_post_processor(b->pp) != MHD_YES && !b->state)
            b->state = BODY_BAD_FORM;
        b->pp = NULL;
    }
    return b->state;
}

const char *serve_body_field(const serve_body *b, const char *name)
{
    for (int i = 0; i < SERVE_NFIELDS; i++)
        if (b->has[i] && !strcmp(name, field_names[i]))
            return b->fields[i];
    return NULL;
}

void serve_body_free(serve_body *b)
{
    if (b->pp)
        MHD_destroy_post_processor(b->pp);
    b->pp = NULL;
    if (b->cap)
        atomic_fetch_sub(&b->budget->used, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
