#include "serve/metrics.h"

#include <string.h>

static const char *const labels[EP_COUNT] = {"/",        "/v1/detect", "/v1/crop", "/v1/models",
                                             "/healthz", "/metrics",   "other"};

static const double bounds[SERVE_NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                              1,     2.5,  5,     10,   30,  60,   120};

const char *serve_endpoint_label(serve_endpoint ep)
{
    return ep >= 0 && ep < EP_COUNT ? labels[ep] : "other";
}

void serve_metrics_init(serve_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void serve_metrics_free(serve_metrics *m)
{
    pthread_mutex_destroy(&m->mu);
}

static int code_slot(serve_metrics *m, unsigned code)
{
    for (int i = 0; i < m->ncodes; i++)
        if (m->codes[i] == code)
            return i;
    if (m->ncodes < SERVE_NCODES)
        m->codes[m->ncodes] = code;
    else
        return SERVE_NCODES - 1; /* never reached: the server answers with a few codes */
    return m->ncodes++;
}

void serve_metrics_observe(serve_metrics *m, serve_endpoint ep, unsigned code, double seconds)
{
    if (ep < 0 || ep >= EP_COUNT)
        ep = EP_OTHER;
    pthread_mutex_lock(&m->mu);
    m->count[ep][code_slot(m, code)]++;
    int b = 0;
    while (b < SERVE_NBUCKETS && seconds > bounds[b])
        b++;
    m->bucket[ep][b]++;
    m->sum[ep] += seconds;
    pthread_mutex_unlock(&m->mu);
}

static void code_label(unsigned code, char *out, size_t cap)
{
    if (code)
        snprintf(out, cap, "%u", code);
    else
        snprintf(out, cap, "none");
}

/* One counter by endpoint and code (only the errors when errors_only). */
static void counts(serve_metrics *m, FILE *f, const char *name, const char *help, int errors_only)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int e = 0; e < EP_COUNT; e++)
        for (int k = 0; k < m->ncodes; k++) {
            unsigned code = m->codes[k];
            if (!m->count[e][k] || (errors_only && code && code < 400))
                continue;
            char c[16];
            code_label(code, c, sizeof c);
            fprintf(f, "%s{endpoint=\"%s\",code=\"%s\"} %llu\n", name, labels[e], c,
                    m->count[e][k]);
        }
}

void serve_metrics_render(serve_metrics *m, FILE *f, int queue_depth, int queue_cap, int in_flight,
                          int workers)
{
    pthread_mutex_lock(&m->mu);
    counts(m, f, "animeface_http_requests_total",
           "Requests by endpoint and status code (code \"none\": the connection ended without "
           "an answer).",
           0);
    counts(m, f, "animeface_http_errors_total",
           "Requests answered with a status of 400 or more, or dropped, by endpoint and code.", 1);
    fputs("# HELP animeface_http_request_duration_seconds Time from the request's headers to "
          "the end of its answer.\n"
          "# TYPE animeface_http_request_duration_seconds histogram\n",
          f);
    for (int e = 0; e < EP_COUNT; e++) {
        unsigned long long total = 0;
        for (int b = 0; b <= SERVE_NBUCKETS; b++)
            total += m->bucket[e][b];
        if (!total)
            continue;
        unsigned long long cum = 0;
        for (int b = 0; b < SERVE_NBUCKETS; b++) {
            cum += m->bucket[e][b];
            fprintf(f,
                    "animeface_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} "
                    "%llu\n",
                    labels[e], bounds[b], cum);
        }
        fprintf(f,
                "animeface_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} "
                "%llu\n"
                "animeface_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n"
                "animeface_http_request_duration_seconds_count{endpoint=\"%s\"} %llu\n",
                labels[e], total, labels[e], m->sum[e], labels[e], total);
    }
    pthread_mutex_unlock(&m->mu);
    fprintf(f,
            "# HELP animeface_queue_depth Requests waiting for a worker.\n"
            "# TYPE animeface_queue_depth gauge\n"
            "animeface_queue_depth %d\n"
            "# HELP animeface_queue_capacity Requests that may wait before new ones get 503.\n"
            "# TYPE animeface_queue_capacity gauge\n"
            "animeface_queue_capacity %d\n"
            "# HELP animeface_requests_in_flight Requests received and not yet answered.\n"
            "# TYPE animeface_requests_in_flight gauge\n"
            "animeface_requests_in_flight %d\n"
            "# HELP animeface_workers Detections that run at once (one context each).\n"
            "# TYPE animeface_workers gauge\n"
            "animeface_workers %d\n",
            queue_depth, queue_cap, in_flight, workers);
}
