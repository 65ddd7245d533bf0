/* A one-line progress bar on stderr (only when stderr is a terminal). */
#ifndef AF_CLI_PROGRESS_H
#define AF_CLI_PROGRESS_H

#include <stddef.h>

typedef struct progress {
    int enabled;
    size_t total, done, failed;
    double t0, last_draw;
} progress;

void progress_init(progress *p, size_t total, int enabled);
void progress_step(progress *p, int failed);
void progress_finish(progress *p);
/* seconds since progress_init */
double progress_elapsed(const progress *p);

#endif
