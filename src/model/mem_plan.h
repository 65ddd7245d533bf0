/* Memory plan for a run whose buffers are requested in the same order every
 * time (the forward pass for one input shape): the first run records each
 * buffer's size and lifetime, then every buffer gets a fixed offset in one
 * arena, chosen so that buffers alive at the same time never overlap. The
 * arena needs about the peak of live bytes instead of the sum of a free
 * list's high-water marks. */
#ifndef AF_MODEL_MEM_PLAN_H
#define AF_MODEL_MEM_PLAN_H

#include <stddef.h>

#include "animeface.h"

typedef struct af_mem_block {
    size_t bytes;
    long start, end; /* event clock at allocation and release (end < 0: never released) */
    size_t offset;   /* set by af_mem_plan_solve */
} af_mem_block;

typedef struct af_mem_plan {
    af_mem_block *blocks;
    int n, cap;
    long clock;   /* events so far in this run */
    size_t arena; /* bytes the solved plan needs; 0 while unsolved */
} af_mem_plan;

/* Offsets are multiples of this many bytes. */
#define AF_MEM_PLAN_ALIGN 64

void af_mem_plan_reset(af_mem_plan *p); /* forget the recording, keep the storage */
void af_mem_plan_free(af_mem_plan *p);

/* Recording: the k-th request of the run (returns k, or -1 out of memory) and its release. */
int af_mem_plan_record_alloc(af_mem_plan *p, size_t bytes);
void af_mem_plan_record_release(af_mem_plan *p, int k);

/* Assigns offsets (largest first, each at the lowest offset that is free for
 * its whole lifetime) and sets p->arena. Blocks never released live to the end. */
void af_mem_plan_solve(af_mem_plan *p);

/* Whether blocks a and b are alive at the same time. */
int af_mem_plan_overlap_in_time(const af_mem_block *a, const af_mem_block *b);

#endif
