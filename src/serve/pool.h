/* The workers: each owns one af_context of the shared model and takes jobs
 * from one bounded FIFO queue. */
#ifndef AF_SERVE_POOL_H
#define AF_SERVE_POOL_H

#include "animeface.h"

typedef struct serve_pool serve_pool;

/* Runs one job on a worker's context. */
typedef void (*serve_job_fn)(void *job, af_context *ctx, void *cls);

/* Creates the contexts (threads compute threads each; 0: all cores) and
 * starts the workers. queue_cap: jobs that may wait for a worker. */
af_status serve_pool_start(const af_model *m, int workers, int threads, int queue_cap,
                           serve_job_fn fn, void *cls, serve_pool **out, af_error *err);

/* Queues a job; returns 0, or -1 when the queue is full (or the pool stops). */
int serve_pool_submit(serve_pool *p, void *job);

/* Jobs waiting for a worker. */
int serve_pool_depth(serve_pool *p);

/* Refuses new jobs, runs what is queued and joins the workers; p stays
 * valid (submit fails, depth is 0) until serve_pool_free. */
void serve_pool_stop(serve_pool *p);
/* Stops the pool if needed and frees it with its contexts. */
void serve_pool_free(serve_pool *p);

#endif
