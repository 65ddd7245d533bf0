#include "train/loader.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/resize.h"
#include "io/image.h"

#define RING 3 /* batches prepared ahead */

typedef struct slot {
    af_sample *s; /* batch samples */
    int nready;
    af_status st;
    char msg[512];
} slot;

struct af_loader {
    const af_dataset *ds;
    int *items; /* usable dataset items */
    int n;
    af_loader_opts o;
    af_labelled *cache; /* cache_ram: decoded + resized images */
    size_t *perm;
    int epoch, use_mosaic, active;
    int nbatches;
    int next_pos;  /* next sample position to produce */
    int consumed;  /* batches handed out this epoch */
    int inflight;  /* samples being augmented right now */
    slot ring[RING];
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_ready;
    pthread_t *threads;
    int nthreads, stop;
    /* collated output */
    float *img;
    size_t img_cap;
    float *tg;
    size_t tg_cap;
};

/* load_image (ultralytics, augment): long side resized to imgsz, INTER_LINEAR. */
static af_status load_resized(const af_loader *l, int i, af_labelled *out, af_error *err)
{
    const af_dataset_item *it = &l->ds->items[l->items[i]];
    memset(out, 0, sizeof *out);
    af_image img = {0};
    af_status st = af_image_load(it->image, NULL, &img, err);
    if (st)
        return st;
    int imgsz = l->o.imgsz;
    double r = (double)imgsz / (img.w > img.h ? img.w : img.h);
    if (r != 1) {
        int w = (int)ceil(img.w * r), h = (int)ceil(img.h * r);
        w = w < imgsz ? (w < 1 ? 1 : w) : imgsz;
        h = h < imgsz ? (h < 1 ? 1 : h) : imgsz;
        af_image rs = {0};
        st = af_resize_linear_u8(&img, w, h, &rs, err);
        af_image_free(&img);
        if (st)
            return st;
        img = rs;
    }
    out->img = img;
    out->n = it->lb.n;
    out->cls = malloc(((size_t)out->n + 1) * sizeof *out->cls);
    out->xywhn = malloc(((size_t)out->n + 1) * 4 * sizeof *out->xywhn);
    out->owned = 1;
    if (!out->cls || !out->xywhn) {
        af_labelled_free(out);
        return af_fail(err, AF_E_NOMEM, "out of memory loading %s", it->image);
    }
    memcpy(out->cls, it->lb.cls, (size_t)out->n * sizeof *out->cls);
    memcpy(out->xywhn, it->lb.xywhn, (size_t)out->n * 4 * sizeof *out->xywhn);
    return AF_OK;
}

static af_status load_cb(void *user, int index, af_labelled *out, af_error *err)
{
    af_loader *l = user;
    if (index < 0 || index >= l->n)
        return af_fail(err, AF_E_INTERNAL, "sample index %d out of range", index);
    if (l->cache) {
        *out = l->cache[index];
        out->owned = 0;
        return AF_OK;
    }
    return load_resized(l, index, out, err);
}

static void *worker(void *arg)
{
    af_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        int bs = l->o.batch;
        if (l->active && l->next_pos < l->n && l->next_pos / bs < l->consumed + RING) {
            int pos = l->next_pos++;
            int epoch = l->epoch, mosaic = l->use_mosaic;
            size_t index = l->perm[pos];
            slot *sl = &l->ring[(pos / bs) % RING];
            l->inflight++;
            pthread_mutex_unlock(&l->mu);
            af_sample s;
            af_error e = {0};
            af_status st = af_augment(load_cb, l, l->n, (int)index, l->o.imgsz, &l->o.hyp, mosaic,
                                      l->o.seed, epoch, &s, &e);
            pthread_mutex_lock(&l->mu);
            if (st) {
                memset(&s, 0, sizeof s);
                if (!sl->st) {
                    sl->st = st;
                    snprintf(sl->msg, sizeof sl->msg, "%s", e.msg);
                }
            }
            sl->s[pos % bs] = s;
            sl->nready++;
            l->inflight--;
            pthread_cond_broadcast(&l->cv_ready);
        } else {
            pthread_cond_wait(&l->cv_work, &l->mu);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void slot_clear(slot *sl, int bs)
{
    for (int j = 0; j < bs; j++)
        af_sample_free(&sl->s[j]);
    memset(sl->s, 0, (size_t)bs * sizeof *sl->s);
    sl->nready = 0;
    sl->st = AF_OK;
    sl->msg[0] = '\0';
}

af_status af_loader_create(const af_dataset *ds, const af_loader_opts *o, af_loader **out,
                           af_error *err)
{
    *out = NULL;
    if (o->batch < 1 || o->imgsz < 32)
        return af_fail(err, AF_E_ARG, "batch must be >= 1 and imgsz >= 32");
    af_loader *l = calloc(1, sizeof *l);
    if (!l)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    l->ds = ds;
    l->o = *o;
    l->items = malloc((ds->n + 1) * sizeof *l->items);
    l->perm = malloc((ds->n + 1) * sizeof *l->perm);
    if (!l->items || !l->perm) {
        af_loader_free(l);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < ds->n; i++)
        if (ds->items[i].state != AF_LABEL_CORRUPT)
            l->items[l->n++] = (int)i;
    if (l->n == 0) {
        af_loader_free(l);
        return af_fail(err, AF_E_ARG, "no usable training images");
    }
    l->nbatches = (l->n + o->batch - 1) / o->batch;
    for (int r = 0; r < RING; r++) {
        l->ring[r].s = calloc((size_t)o->batch, sizeof(af_sample));
        if (!l->ring[r].s) {
            af_loader_free(l);
            return af_fail(err, AF_E_NOMEM, "out of memory");
        }
    }
    if (o->cache_ram) {
        l->cache = calloc((size_t)l->n, sizeof *l->cache);
        if (!l->cache) {
            af_loader_free(l);
            return af_fail(err, AF_E_NOMEM, "out of memory for the RAM cache");
        }
        for (int i = 0; i < l->n; i++) {
            af_status st = load_resized(l, i, &l->cache[i], err);
            if (st) {
                af_loader_free(l);
                return st;
            }
        }
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_ready, NULL);
    int nt = o->workers > 0 ? o->workers : 1;
    l->threads = calloc((size_t)nt, sizeof *l->threads);
    if (!l->threads) {
        af_loader_free(l);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < nt; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
            af_loader_free(l);
            return af_fail(err, AF_E_INTERNAL, "cannot start a loader thread");
        }
        l->nthreads++;
    }
    *out = l;
    return AF_OK;
}

void af_loader_free(af_loader *l)
{
    if (!l)
        return;
    if (l->nthreads) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv_work);
        pthread_mutex_unlock(&l->mu);
        for (int i = 0; i < l->nthreads; i++)
            pthread_join(l->threads[i], NULL);
    }
    if (l->threads) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv_work);
        pthread_cond_destroy(&l->cv_ready);
    }
    for (int r = 0; r < RING; r++) {
        if (l->ring[r].s)
            slot_clear(&l->ring[r], l->o.batch);
        free(l->ring[r].s);
    }
    if (l->cache)
        for (int i = 0; i < l->n; i++)
            af_labelled_free(&l->cache[i]);
    free(l->cache);
    free(l->threads);
    free(l->items);
    free(l->perm);
    free(l->img);
    free(l->tg);
    free(l);
}

int af_loader_size(const af_loader *l)
{
    return l->n;
}

int af_loader_batches(const af_loader *l)
{
    return l->nbatches;
}

af_status af_loader_start_epoch(af_loader *l, int epoch, int use_mosaic, af_error *err)
{
    pthread_mutex_lock(&l->mu);
    /* drop whatever the last epoch left prepared, once no sample is in flight */
    l->active = 0;
    while (l->inflight > 0)
        pthread_cond_wait(&l->cv_ready, &l->mu);
    for (int r = 0; r < RING; r++)
        slot_clear(&l->ring[r], l->o.batch);
    for (int i = 0; i < l->n; i++)
        l->perm[i] = (size_t)i;
    af_shuffle_indices(l->perm, (size_t)l->n, l->o.seed * 1000003ull + (uint64_t)epoch);
    l->epoch = epoch;
    l->use_mosaic = use_mosaic;
    l->next_pos = 0;
    l->consumed = 0;
    l->active = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    (void)err;
    return AF_OK;
}

static af_status collate(af_loader *l, slot *sl, int n, af_train_batch *b, af_error *err)
{
    int s = l->o.imgsz;
    size_t per = (size_t)s * s * 3, need = per * n;
    if (need > l->img_cap) {
        free(l->img);
        l->img = malloc(need * sizeof *l->img);
        l->img_cap = l->img ? need : 0;
        if (!l->img)
            return af_fail(err, AF_E_NOMEM, "out of memory for a training batch");
    }
    int nt = 0;
    for (int j = 0; j < n; j++) {
        const af_sample *sm = &sl->s[j];
        if (sm->img.w != s || sm->img.h != s || sm->img.c != 3)
            return af_fail(err, AF_E_INTERNAL, "augmented sample has size %dx%dx%d", sm->img.w,
                           sm->img.h, sm->img.c);
        const uint8_t *src = sm->img.data;
        float *dst = l->img + (size_t)j * per;
        for (size_t k = 0; k < per; k++)
            dst[k] = (float)src[k] / 255.0f;
        nt += sm->n;
    }
    size_t tneed = (size_t)nt * 6 + 1;
    if (tneed > l->tg_cap) {
        free(l->tg);
        l->tg = malloc(tneed * sizeof *l->tg);
        l->tg_cap = l->tg ? tneed : 0;
        if (!l->tg)
            return af_fail(err, AF_E_NOMEM, "out of memory for targets");
    }
    float *bi = l->tg, *cl = bi + nt, *bx = cl + nt;
    int k = 0;
    for (int j = 0; j < n; j++) {
        const af_sample *sm = &sl->s[j];
        for (int t = 0; t < sm->n; t++, k++) {
            bi[k] = (float)j;
            cl[k] = (float)sm->cls[t];
            memcpy(bx + 4 * k, sm->xywhn + 4 * t, 4 * sizeof(float));
        }
    }
    *b = (af_train_batch){n, s, l->img, nt, bi, cl, bx};
    return AF_OK;
}

af_status af_loader_next(af_loader *l, af_train_batch *b, int *more, af_error *err)
{
    memset(b, 0, sizeof *b);
    *more = 0;
    pthread_mutex_lock(&l->mu);
    if (!l->active || l->consumed >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return AF_OK;
    }
    int bi = l->consumed, bs = l->o.batch;
    int n = bi == l->nbatches - 1 ? l->n - bi * bs : bs;
    slot *sl = &l->ring[bi % RING];
    while (sl->nready < n)
        pthread_cond_wait(&l->cv_ready, &l->mu);
    pthread_mutex_unlock(&l->mu);
    af_status st = sl->st ? af_fail(err, sl->st, "%s", sl->msg) : collate(l, sl, n, b, err);
    pthread_mutex_lock(&l->mu);
    slot_clear(sl, bs);
    l->consumed++;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    if (!st)
        *more = 1;
    return st;
}
