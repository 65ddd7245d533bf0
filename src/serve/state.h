/* What the server's files share: the server, one request's state and the
 * answer a request gets. */
#ifndef AF_SERVE_STATE_H
#define AF_SERVE_STATE_H

#include <microhttpd.h>
#include <stdatomic.h>

#include "serve/body.h"
#include "serve/metrics.h"
#include "serve/params.h"
#include "serve/pool.h"
#include "serve/serve.h"

typedef struct serve_server {
    const serve_config *cfg;
    struct MHD_Daemon *daemon;
    serve_pool *pool;
    serve_metrics metrics;
    serve_budget budget;
    atomic_int in_flight; /* requests received and not yet completed */
    atomic_int stopping;  /* SIGTERM/SIGINT received */
    char *models_json;    /* the /v1/models answer, built once */
    size_t models_len;
} serve_server;

typedef struct serve_reply {
    unsigned code; /* 0: none yet */
    char *body;    /* malloc'd, or static when is_static */
    size_t len;
    int is_static;
    const char *type;      /* Content-Type */
    char disposition[160]; /* Content-Disposition, "" for none */
    int retry_after;       /* seconds, 0 for none */
    const char *allow;     /* Allow (405), or NULL */
} serve_reply;

typedef enum serve_stage { STAGE_START, STAGE_BODY, STAGE_QUEUED, STAGE_DONE } serve_stage;

typedef struct serve_req {
    serve_server *srv;
    struct MHD_Connection *conn;
    serve_endpoint ep;
    double t0;
    serve_stage stage;
    serve_body body;
    serve_params params;
    serve_reply reply;
    unsigned code_sent; /* the status given to MHD */
} serve_req;

/* Seconds on the monotonic clock. */
double serve_now(void);

/* r's answer: a JSON {"error": msg} with status code. */
void serve_reply_error(serve_reply *r, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* r's answer: body (malloc'd, taken over) of the given type. */
void serve_reply_take(serve_reply *r, unsigned code, const char *type, char *body, size_t len);
/* r's answer: a constant body. */
void serve_reply_static(serve_reply *r, unsigned code, const char *type, const char *body,
                        size_t len);
void serve_reply_free(serve_reply *r);

/* Runs a queued /v1/detect or /v1/crop request on a worker's context, fills
 * its reply and resumes its connection. (pool job function; cls: the server) */
void serve_job_run(void *job, af_context *ctx, void *cls);

/* The JSON of /v1/models and /healthz (malloc'd; NULL when out of memory). */
char *serve_models_json(const serve_config *cfg, size_t *len);

/* The page at / (page.html, compiled in). */
const char *serve_page(size_t *len);

#endif
