/* A one-line progress bar on stderr (only when stderr is a terminal); elsewhere (a log
 * file, a batch job) optionally a plain line every plain_every seconds. */
#ifndef AF_CLI_PROGRESS_H
#define AF_CLI_PROGRESS_H

#include <stddef.h>

typedef struct progress {
    int enabled;
    size_t total, done, failed;
    double t0, last_draw;
    double plain_every; /* 0: off */
    double last_plain;
    size_t skipped;     /* done before this run (resumed): not counted in the rate */
} progress;

void progress_init(progress *p, size_t total, int enabled);
void progress_step(progress *p, int failed);
/* Not a terminal: "N/TOTAL images, R img/s, F failed, ETA" every `seconds`. */
void progress_set_plain(progress *p, double seconds);
void progress_finish(progress *p);
/* seconds since progress_init */
double progress_elapsed(const progress *p);

#endif
