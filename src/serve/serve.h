/* animeface serve: a local HTTP service over libmicrohttpd. The CLI
 * (src/cli/serve.c) fills a serve_config and calls serve_run, which returns
 * when SIGTERM or SIGINT has been received and every request in flight has
 * been answered. */
#ifndef AF_SERVE_SERVE_H
#define AF_SERVE_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "animeface.h"

typedef struct serve_config {
    const af_model *model;
    const char *model_name; /* shown in the JSON and /v1/models */
    char model_sha256[65];  /* hex of the model file's bytes */
    const char *host;       /* 127.0.0.1 */
    int port;               /* 0: any free port (printed) */
    int workers;            /* detections at once, one af_context each */
    int threads;            /* compute threads per worker */
    int queue;              /* requests waiting for a worker, beyond which 503 */
    size_t max_upload;      /* bytes of a request body, beyond which 413 */
    uint64_t max_pixels;    /* decoded image w*h, beyond which 400 */
    int max_imgsz;          /* largest imgsz a request may ask for */
    int timeout_s;          /* idle connections and slow requests are dropped after this */
    int max_connections;
    FILE *log; /* start/stop lines (stderr) */
} serve_config;

/* Runs the server until SIGTERM/SIGINT (which the caller has blocked in every
 * thread; serve_run waits for them with sigwait). Returns 0 after a graceful
 * stop, 1 when the server could not start (after one line on cfg->log). */
int serve_run(const serve_config *cfg);

#endif
