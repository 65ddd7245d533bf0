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
    p->plain_every = 0;
    p->last_plain = p->t0;
    p->skipped = 0;
}

void progress_set_plain(progress *p, double seconds)
{
    p->plain_every = p->enabled ? 0 : seconds;
}

static void fmt_eta(double s, char *out, size_t cap)
{
    if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, cap, "%.0fs", s);
}

static void plain_line(progress *p, double t)
{
    double el = t - p->t0;
    size_t here = p->done - p->skipped;
    double rate = el > 0 ? here / el : 0;
    char eta[32];
    fmt_eta(rate > 0 ? (p->total - p->done) / rate : 0, eta, sizeof eta);
    fprintf(stderr, "progress: %zu/%zu images, %.1f img/s, %zu failed, ETA %s\n", p->done,
            p->total, rate, p->failed, eta);
    fflush(stderr);
}

static void draw(progress *p)
{
    double el = now_s() - p->t0;
    double rate = el > 0 ? (p->done - p->skipped) / el : 0;
    char eta[32];
    fmt_eta(rate > 0 ? (p->total - p->done) / rate : 0, eta, sizeof eta);
    int width = 30;
    int fill = p->total ? (int)(width * p->done / p->total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%3d%% |%s| %zu/%zu images, %.1f img/s, %zu failed, ETA %s  ",
            p->total ? (int)(100 * p->done / p->total) : 100, bar, p->done, p->total, rate,
            p->failed, eta);
    fflush(stderr);
}

void progress_step(progress *p, int failed)
{
    p->done++;
    p->failed += failed != 0;
    if (!p->enabled) {
        if (p->plain_every > 0) {
            double t = now_s();
            if (t - p->last_plain >= p->plain_every) {
                p->last_plain = t;
                plain_line(p, t);
            }
        }
        return;
    }
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
