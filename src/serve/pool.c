#include "serve/pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"

struct serve_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **ring;
    int cap, head, n, stopping;
    serve_job_fn fn;
    void *cls;
    int nworkers, joined;
    af_context **ctx;
    pthread_t *tid;
    struct worker_arg {
        serve_pool *p;
        int index;
    } * args;
};

static void *worker_main(void *arg)
{
    struct worker_arg *a = arg;
    serve_pool *p = a->p;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->n && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->n) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        void *job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n--;
        pthread_mutex_unlock(&p->mu);
        p->fn(job, p->ctx[a->index], p->cls);
    }
}

static void pool_free(serve_pool *p)
{
    for (int i = 0; i < p->nworkers; i++)
        af_context_free(p->ctx[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->ring);
    free(p->ctx);
    free(p->tid);
    free(p->args);
    free(p);
}

af_status serve_pool_start(const af_model *m, int workers, int threads, int queue_cap,
                           serve_job_fn fn, void *cls, serve_pool **out, af_error *err)
{
    *out = NULL;
    if (workers < 1 || queue_cap < 1)
        return af_fail(err, AF_E_ARG, "workers and queue must be at least 1");
    serve_pool *p = calloc(1, sizeof *p);
    if (!p)
        return af_fail(err, AF_E_NOMEM, "out of memory for the workers");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->cap = queue_cap;
    p->fn = fn;
    p->cls = cls;
    p->ring = calloc((size_t)queue_cap, sizeof *p->ring);
    p->ctx = calloc((size_t)workers, sizeof *p->ctx);
    p->tid = calloc((size_t)workers, sizeof *p->tid);
    p->args = calloc((size_t)workers, sizeof *p->args);
    if (!p->ring || !p->ctx || !p->tid || !p->args) {
        pool_free(p);
        return af_fail(err, AF_E_NOMEM, "out of memory for the workers");
    }
    for (int i = 0; i < workers; i++) {
        af_status st = af_context_create(m, threads, &p->ctx[i], err);
        if (st) {
            pool_free(p);
            return st;
        }
        p->nworkers = i + 1;
    }
    int started = 0;
    for (int i = 0; i < workers; i++) {
        p->args[i] = (struct worker_arg){p, i};
        if (pthread_create(&p->tid[i], NULL, worker_main, &p->args[i]))
            break;
        started++;
    }
    if (started < workers) {
        pthread_mutex_lock(&p->mu);
        p->stopping = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < started; i++)
            pthread_join(p->tid[i], NULL);
        pool_free(p);
        return af_fail(err, AF_E_INTERNAL, "cannot start worker thread %d", started + 1);
    }
    *out = p;
    return AF_OK;
}

int serve_pool_submit(serve_pool *p, void *job)
{
    int rc = -1;
    pthread_mutex_lock(&p->mu);
    if (!p->stopping && p->n < p->cap) {
        p->ring[(p->head + p->n) % p->cap] = job;
        p->n++;
        pthread_cond_signal(&p->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int serve_pool_depth(serve_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void serve_pool_stop(serve_pool *p)
{
    if (!p || p->joined)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->tid[i], NULL);
    p->joined = 1;
}

void serve_pool_free(serve_pool *p)
{
    if (!p)
        return;
    serve_pool_stop(p);
    pool_free(p);
}
