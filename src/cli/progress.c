#include "cli/progress.h"

#include <stdio.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void progress_init(progress *p, size_t total, int enabled)
{
    p->enabled = enabled;
    p->total = total;
    p->done = p->failed = 0;
    p->t0 = now_s();
    p->last_draw = 0;
}

static void draw(progress *p)
{
    double el = now_s() - p->t0;
    double rate = el > 0 ? p->done / el : 0;
    double eta = rate > 0 ? (p->total - p->done) / rate : 0;
    int width = 30;
    int fill = p->total ? (int)(width * p->done / p->total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%3d%% |%s| %zu/%zu images, %.1f img/s, %zu failed, ETA %.0fs  ",
            p->total ? (int)(100 * p->done / p->total) : 100, bar, p->done, p->total, rate,
            p->failed, eta);
    fflush(stderr);
}

void progress_step(progress *p, int failed)
{
    p->done++;
    p->failed += failed != 0;
    if (!p->enabled)
        return;
    double t = now_s();
    if (t - p->last_draw > 0.1 || p->done == p->total) {
        p->last_draw = t;
        draw(p);
    }
}

void progress_finish(progress *p)
{
    if (p->enabled) {
        draw(p);
        fputc('\n', stderr);
    }
}

double progress_elapsed(const progress *p)
{
    return now_s() - p->t0;
}
