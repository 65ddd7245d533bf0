/* Prometheus counters of the server: requests by endpoint and status code,
 * errors (status >= 400, or the connection dropped without an answer) by
 * endpoint and code, a latency histogram per endpoint. Thread-safe. The
 * queue depth and the requests in flight are gauges passed in at render
 * time. */
#ifndef AF_SERVE_METRICS_H
#define AF_SERVE_METRICS_H

#include <pthread.h>
#include <stdio.h>

typedef enum serve_endpoint {
    EP_PAGE,
    EP_DETECT,
    EP_CROP,
    EP_MODELS,
    EP_HEALTHZ,
    EP_METRICS,
    EP_OTHER,
    EP_COUNT
} serve_endpoint;

/* The path label of an endpoint ("/v1/detect"; "other" for unknown paths). */
const char *serve_endpoint_label(serve_endpoint ep);

#define SERVE_NCODES 16   /* distinct status codes counted; more go to the last slot */
#define SERVE_NBUCKETS 14 /* latency histogram upper bounds (seconds) */

typedef struct serve_metrics {
    pthread_mutex_t mu;
    unsigned codes[SERVE_NCODES]; /* 0: dropped without an answer */
    int ncodes;
    unsigned long long count[EP_COUNT][SERVE_NCODES];
    unsigned long long bucket[EP_COUNT][SERVE_NBUCKETS + 1]; /* + the +Inf bucket */
    double sum[EP_COUNT];
} serve_metrics;

void serve_metrics_init(serve_metrics *m);
void serve_metrics_free(serve_metrics *m);
/* code 0: the connection ended without a response (timeout, client gone). */
void serve_metrics_observe(serve_metrics *m, serve_endpoint ep, unsigned code, double seconds);
/* Writes the text exposition format. */
void serve_metrics_render(serve_metrics *m, FILE *f, int queue_depth, int queue_cap, int in_flight,
                          int workers);

#endif
