/* Building the answers: errors as JSON, bodies handed over to MHD later. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/jsonl.h"
#include "serve/state.h"

double serve_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void serve_reply_free(serve_reply *r)
{
    if (!r->is_static)
        free(r->body);
    memset(r, 0, sizeof *r);
}

void serve_reply_take(serve_reply *r, unsigned code, const char *type, char *body, size_t len)
{
    serve_reply_free(r);
    r->code = code;
    r->type = type;
    r->body = body;
    r->len = len;
}

void serve_reply_static(serve_reply *r, unsigned code, const char *type, const char *body,
                        size_t len)
{
    serve_reply_free(r);
    r->code = code;
    r->type = type;
    r->body = (char *)body;
    r->len = len;
    r->is_static = 1;
}

void serve_reply_error(serve_reply *r, unsigned code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        fputs("{\"error\": ", f);
        jsonl_write_string(f, msg);
        fputs("}\n", f);
        if (fclose(f)) {
            free(buf);
            buf = NULL;
        }
    }
    if (buf) {
        serve_reply_take(r, code, "application/json", buf, len);
    } else {
        static const char oom[] = "{\"error\": \"out of memory\"}\n";
        serve_reply_static(r, code, "application/json", oom, sizeof oom - 1);
    }
}

char *serve_models_json(const serve_config *cfg, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    const af_model *m = cfg->model;
    fputs("{\"models\": [{\"name\": ", f);
    jsonl_write_string(f, cfg->model_name);
    fputs(", \"classes\": [", f);
    for (int i = 0; i < af_model_num_classes(m); i++) {
        fputs(i ? ", " : "", f);
        jsonl_write_string(f, af_model_class_name(m, i));
    }
    fprintf(f, "], \"imgsz\": %d, \"stride\": %d, \"sha256\": \"%s\", \"default\": true}]}\n",
            af_model_default_imgsz(m), af_model_max_stride(m), cfg->model_sha256);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}
