#include "cli/pool.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (int)n : 1;
}

int pool_create(pool *p, const char *cmd, af_model *m, int threads, int workers, size_t nimages)
{
    memset(p, 0, sizeof *p);
    int w = workers > 0 ? workers : (threads > 0 ? threads : online_cores());
    if (w > POOL_MAX_WORKERS)
        w = POOL_MAX_WORKERS;
    if ((size_t)w > nimages)
        w = nimages > 0 ? (int)nimages : 1;
    w = w < 1 ? 1 : w;
    int per = threads > 0 ? threads : online_cores();
    p->per = per / w > 0 ? per / w : 1;
    af_error err = {0};
    for (int k = 0; k < w; k++) {
        if (af_context_create(m, w > 1 ? p->per : threads, &p->ctx[k], &err)) {
            fprintf(stderr, "animeface %s: %s\n", cmd, err.msg);
            pool_free(p);
            return 1;
        }
        p->n = k + 1;
    }
    return 0;
}

void pool_free(pool *p)
{
    for (int k = 0; k < p->n; k++)
        af_context_free(p->ctx[k]);
    p->n = 0;
}

typedef struct shared {
    char **paths;
    size_t count;
    const af_detect_options *o;
    const pool_fns *f;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next, turn;
} shared;

typedef struct worker {
    shared *s;
    af_context *ctx;
} worker;

static void *worker_main(void *arg)
{
    worker *wk = arg;
    shared *s = wk->s;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        size_t i = s->next++;
        pthread_mutex_unlock(&s->mu);
        if (i >= s->count)
            break;
        pool_item it;
        memset(&it, 0, sizeof it);
        it.i = i;
        it.path = s->paths[i];
        it.st = af_image_load(it.path, NULL, &it.img, &it.err);
        if (!it.st)
            it.st = af_detect(wk->ctx, it.img.data, it.img.w, it.img.h, (size_t)it.img.w * it.img.c,
                              AF_PIXEL_RGB, s->o, &it.d, &it.nd, &it.err);
        if (!it.st)
            af_context_last_timings(wk->ctx, &it.t);
        /* it.d stays valid: this worker's context runs nothing until it is done */
        if (s->f->work)
            s->f->work(s->f->ud, &it);
        pthread_mutex_lock(&s->mu);
        while (s->turn != i)
            pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
        s->f->ordered(s->f->ud, &it);
        af_image_free(&it.img);
        pthread_mutex_lock(&s->mu);
        s->turn = i + 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

void pool_run(pool *p, char **paths, size_t count, const af_detect_options *o, const pool_fns *f)
{
    shared s = {paths, count, o, f, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    worker wk[POOL_MAX_WORKERS];
    pthread_t tid[POOL_MAX_WORKERS];
    int started = 0;
    for (int w = 0; w < p->n; w++)
        wk[w] = (worker){&s, p->ctx[w]};
    for (int w = 1; w < p->n; w++) {
        if (pthread_create(&tid[started + 1], NULL, worker_main, &wk[w]))
            break; /* fewer workers: still correct */
        started++;
    }
    worker_main(&wk[0]); /* the calling thread is one of them */
    for (int w = 1; w <= started; w++)
        pthread_join(tid[w], NULL);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
}
