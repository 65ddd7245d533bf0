/* The HTTP side of animeface serve: libmicrohttpd parses every request (and
 * the multipart forms, through its post processor); this file routes them,
 * enforces the limits, hands the image work to the worker pool (suspending
 * the connection until a worker has the answer) and stops gracefully.
 *
 * A request goes START (headers read: route, method, Content-Length, queue
 * checked; GET answers at once) -> BODY (bytes kept within the limits) ->
 * QUEUED (connection suspended, a worker runs serve_job_run) -> DONE (the
 * answer is queued to MHD). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/state.h"

static serve_endpoint route(const char *url)
{
    static const struct {
        const char *path;
        serve_endpoint ep;
    } table[] = {{"/", EP_PAGE},          {"/index.html", EP_PAGE},  {"/v1/detect", EP_DETECT},
                 {"/v1/crop", EP_CROP},   {"/v1/models", EP_MODELS}, {"/healthz", EP_HEALTHZ},
                 {"/metrics", EP_METRICS}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(url, table[i].path))
            return table[i].ep;
    return EP_OTHER;
}

static int is_post_endpoint(serve_endpoint ep)
{
    return ep == EP_DETECT || ep == EP_CROP;
}

static enum MHD_Result send_reply(serve_req *r)
{
    serve_reply *y = &r->reply;
    struct MHD_Response *resp;
    if (y->is_static)
        resp = MHD_create_response_from_buffer(y->len, y->body, MHD_RESPMEM_PERSISTENT);
    else
        resp = MHD_create_response_from_buffer_with_free_callback(y->len, y->body, free);
    if (!resp)
        return MHD_NO;
    if (!y->is_static)
        y->body = NULL; /* MHD frees it with the response */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, y->type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (y->disposition[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, y->disposition);
    if (y->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, y->allow);
    if (y->retry_after) {
        char s[16];
        snprintf(s, sizeof s, "%d", y->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, s);
    }
    if (r->ep == EP_PAGE && y->code == MHD_HTTP_OK)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; "
                                "style-src 'unsafe-inline'; img-src blob: data:; "
                                "connect-src 'self'; form-action 'none'");
    if (atomic_load(&r->srv->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->code_sent = y->code;
    enum MHD_Result ok = MHD_queue_response(r->conn, y->code, resp);
    MHD_destroy_response(resp);
    r->stage = STAGE_DONE;
    return ok;
}

static void busy(serve_req *r, const char *why)
{
    serve_reply_error(&r->reply, MHD_HTTP_SERVICE_UNAVAILABLE, "%s; try again shortly", why);
    r->reply.retry_after = 1;
}

/* GET endpoints: answered from the MHD thread, they are cheap. */
static void answer_get(serve_server *s, serve_req *r)
{
    const serve_config *cfg = s->cfg;
    switch (r->ep) {
    case EP_PAGE: {
        size_t n;
        const char *page = serve_page(&n);
        serve_reply_static(&r->reply, MHD_HTTP_OK, "text/html; charset=utf-8", page, n);
        break;
    }
    case EP_MODELS:
        if (s->models_json)
            serve_reply_static(&r->reply, MHD_HTTP_OK, "application/json", s->models_json,
                               s->models_len);
        else
            serve_reply_error(&r->reply, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        break;
    case EP_HEALTHZ: {
        char *buf = malloc(256);
        if (!buf) {
            busy(r, "out of memory");
            break;
        }
        int stopping = atomic_load(&s->stopping);
        int n = snprintf(buf, 256,
                         "{\"status\": \"%s\", \"workers\": %d, \"queue_depth\": %d, "
                         "\"queue_capacity\": %d}\n",
                         stopping ? "stopping" : "ok", cfg->workers, serve_pool_depth(s->pool),
                         cfg->queue);
        serve_reply_take(&r->reply, stopping ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                         "application/json", buf, (size_t)n);
        break;
    }
    case EP_METRICS: {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            busy(r, "out of memory");
            break;
        }
        serve_metrics_render(&s->metrics, f, serve_pool_depth(s->pool), cfg->queue,
                             atomic_load(&s->in_flight), cfg->workers);
        if (fclose(f)) {
            free(buf);
            busy(r, "out of memory");
            break;
        }
        serve_reply_take(&r->reply, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf,
                         len);
        break;
    }
    default:
        break;
    }
}

/* The first call for a request: its headers are in. Returns 1 when r->reply
 * holds the answer already. */
static int start(serve_server *s, serve_req *r, const char *method)
{
    const serve_config *cfg = s->cfg;
    int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    if (r->ep == EP_OTHER) {
        serve_reply_error(&r->reply, MHD_HTTP_NOT_FOUND,
                          "no such path; the API is POST /v1/detect, POST /v1/crop, "
                          "GET /v1/models, /healthz, /metrics and the page at /");
        return 1;
    }
    if (!is_post_endpoint(r->ep)) {
        if (!get) {
            serve_reply_error(&r->reply, MHD_HTTP_METHOD_NOT_ALLOWED, "%s takes GET, not %.16s",
                              serve_endpoint_label(r->ep), method);
            r->reply.allow = "GET, HEAD";
            return 1;
        }
        answer_get(s, r);
        return 1;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST)) {
        serve_reply_error(&r->reply, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "%s takes POST (the image as the body or as form field 'image'), "
                          "not %.16s",
                          serve_endpoint_label(r->ep), method);
        r->reply.allow = "POST";
        return 1;
    }
    if (atomic_load(&s->stopping)) {
        busy(r, "the server is shutting down");
        return 1;
    }
    serve_body_begin(&r->body, r->conn, cfg->max_upload, &s->budget);
    if (r->body.expect > cfg->max_upload) {
        serve_reply_error(&r->reply, MHD_HTTP_CONTENT_TOO_LARGE,
                          "the body is %zu bytes, over the upload limit of %zu bytes "
                          "(--max-upload)",
                          r->body.expect, cfg->max_upload);
        return 1;
    }
    if (serve_pool_depth(s->pool) >= cfg->queue) {
        busy(r, "the queue is full");
        return 1;
    }
    r->stage = STAGE_BODY;
    return 0;
}

static const char *lookup_option(void *cls, const char *name)
{
    serve_req *r = cls;
    const char *v = serve_body_field(&r->body, name);
    return v ? v : MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* The whole body is in: check it and the options, then queue the work.
 * Returns 1 when r->reply holds an answer to send now. */
static int body_done(serve_server *s, serve_req *r)
{
    const serve_config *cfg = s->cfg;
    switch (serve_body_end(&r->body)) {
    case BODY_OK:
        break;
    case BODY_TOO_LARGE:
        serve_reply_error(&r->reply, MHD_HTTP_CONTENT_TOO_LARGE,
                          "the body is over the upload limit of %zu bytes (--max-upload)",
                          cfg->max_upload);
        return 1;
    case BODY_BUSY:
        busy(r, "too many uploads at once");
        return 1;
    case BODY_NOMEM:
        busy(r, "out of memory");
        return 1;
    case BODY_BAD_FORM:
        serve_reply_error(&r->reply, MHD_HTTP_BAD_REQUEST,
                          "the multipart form is malformed or cut short, or a field value is "
                          "longer than %d bytes",
                          SERVE_FIELD_MAX - 1);
        return 1;
    }
    if (r->body.pp == NULL && r->body.image_parts == 0 && r->body.len == 0) {
        const char *ct =
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        int form = ct && !strncasecmp(ct, "multipart/form-data", 19);
        serve_reply_error(&r->reply, MHD_HTTP_BAD_REQUEST,
                          form ? "the form has no file field 'image'"
                               : "no image: send it as the request body or as form field "
                                 "'image'");
        return 1;
    }
    af_error err = {0};
    if (serve_params_parse(lookup_option, r, cfg->max_imgsz, af_model_conf_threshold(cfg->model),
                           &r->params, &err)) {
        serve_reply_error(&r->reply, MHD_HTTP_BAD_REQUEST, "%s", err.msg);
        return 1;
    }
    if (r->ep == EP_CROP && r->params.det.max_det > SERVE_MAX_CROPS) {
        serve_reply_error(&r->reply, MHD_HTTP_BAD_REQUEST,
                          "max_det: /v1/crop cuts at most %d faces per request", SERVE_MAX_CROPS);
        return 1;
    }
    /* every crop of one request together: a few times what may be uploaded */
    r->params.crop.max_bytes =
        8 * cfg->max_upload > ((size_t)256 << 20) ? 8 * cfg->max_upload : (size_t)256 << 20;
    /* suspend before queueing: a worker may finish and resume at once */
    r->stage = STAGE_QUEUED;
    MHD_suspend_connection(r->conn);
    if (serve_pool_submit(s->pool, r)) {
        busy(r, atomic_load(&s->stopping) ? "the server is shutting down" : "the queue is full");
        r->stage = STAGE_DONE;
        MHD_resume_connection(r->conn);
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    serve_server *s = cls;
    serve_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->srv = s;
        r->conn = c;
        r->t0 = serve_now();
        r->ep = route(url);
        atomic_fetch_add(&s->in_flight, 1);
        *con_cls = r;
        return start(s, r, method) ? send_reply(r) : MHD_YES;
    }
    switch (r->stage) {
    case STAGE_BODY:
        if (*upload_size) {
            /* a slow body: the whole request has timeout_s seconds */
            if (serve_now() - r->t0 > s->cfg->timeout_s)
                return MHD_NO;
            size_t n = *upload_size;
            *upload_size = 0;
            /* over a limit: the answer waits for the body's end, but reading a
             * body twice the limit long is not worth it */
            if (serve_body_feed(&r->body, upload, n) && r->body.seen > 2 * s->cfg->max_upload)
                return MHD_NO;
            return MHD_YES;
        }
        return body_done(s, r) ? send_reply(r) : MHD_YES;
    case STAGE_DONE:
        if (r->code_sent)
            return MHD_YES;
        return send_reply(r); /* after a worker resumed the connection */
    default:
        return MHD_YES;
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    serve_server *s = cls;
    serve_req *r = *con_cls;
    (void)c;
    (void)toe;
    if (!r)
        return;
    unsigned code = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? r->code_sent : 0;
    serve_metrics_observe(&s->metrics, r->ep, code, serve_now() - r->t0);
    serve_body_free(&r->body);
    serve_reply_free(&r->reply);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    serve_server *s = cls;
    if (!s->cfg->log)
        return;
    fputs("animeface serve: ", s->cfg->log);
    vfprintf(s->cfg->log, fmt, ap);
    fflush(s->cfg->log);
}

static int start_daemon(serve_server *s)
{
    const serve_config *cfg = s->cfg;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    const char *host = strcmp(cfg->host, "localhost") ? cfg->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)cfg->port);
        addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)cfg->port);
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(cfg->log,
                "animeface serve: --host '%s' is not an IPv4 or IPv6 address (or localhost)\n",
                cfg->host);
        return -1;
    }
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, s, MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
        MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(cfg->log,
                "animeface serve: cannot listen on %s port %d (in use, or not an "
                "address of this machine?)\n",
                cfg->host, cfg->port);
        return -1;
    }
    return 0;
}

static void wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
}

/* Stop accepting, let what is in flight finish (slow clients are cut by their
 * timeout), then stop the workers and the daemon. */
static void drain(serve_server *s)
{
    atomic_store(&s->stopping, 1);
    MHD_socket ls = MHD_quiesce_daemon(s->daemon);
    double deadline = serve_now() + s->cfg->timeout_s + 5;
    while (atomic_load(&s->in_flight) > 0 && serve_now() < deadline)
        usleep(10 * 1000);
    serve_pool_stop(s->pool); /* runs whatever is still queued, resuming its connections */
    while (atomic_load(&s->in_flight) > 0 && serve_now() < deadline + 1)
        usleep(10 * 1000);
    MHD_stop_daemon(s->daemon);
    serve_pool_free(s->pool);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
}

int serve_run(const serve_config *cfg)
{
    serve_server s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    serve_metrics_init(&s.metrics);
    /* every body held at once: what the workers and the queue hold, plus a few uploading */
    s.budget.max = (size_t)(cfg->workers + cfg->queue + 4) * cfg->max_upload;
    s.models_json = serve_models_json(cfg, &s.models_len);
    af_error err = {0};
    if (serve_pool_start(cfg->model, cfg->workers, cfg->threads, cfg->queue, serve_job_run, &s,
                         &s.pool, &err)) {
        fprintf(cfg->log, "animeface serve: %s\n", err.msg);
        free(s.models_json);
        serve_metrics_free(&s.metrics);
        return 1;
    }
    if (start_daemon(&s)) {
        serve_pool_free(s.pool);
        free(s.models_json);
        serve_metrics_free(&s.metrics);
        return 1;
    }
    int port = cfg->port;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port)
        port = info->port;
    int v6 = strchr(cfg->host, ':') != NULL;
    fprintf(cfg->log,
            "animeface serve: http://%s%s%s:%d/ (model %s, %d worker%s x %d thread%s, queue %d); "
            "Ctrl-C or SIGTERM stops\n",
            v6 ? "[" : "", cfg->host, v6 ? "]" : "", port, cfg->model_name, cfg->workers,
            cfg->workers == 1 ? "" : "s", cfg->threads, cfg->threads == 1 ? "" : "s", cfg->queue);
    fflush(cfg->log);
    wait_for_signal();
    fprintf(cfg->log, "animeface serve: stopping: finishing %d request%s in flight\n",
            atomic_load(&s.in_flight), atomic_load(&s.in_flight) == 1 ? "" : "s");
    fflush(cfg->log);
    drain(&s);
    fprintf(cfg->log, "animeface serve: stopped\n");
    free(s.models_json);
    serve_metrics_free(&s.metrics);
    return 0;
}
