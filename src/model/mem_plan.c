/* Activation memory plan: record sizes and lifetimes, then pack them into
 * one arena (greedy by size, the usual offset-assignment heuristic). */
#include "model/mem_plan.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void af_mem_plan_reset(af_mem_plan *p)
{
    p->n = 0;
    p->clock = 0;
    p->arena = 0;
}

void af_mem_plan_free(af_mem_plan *p)
{
    free(p->blocks);
    memset(p, 0, sizeof *p);
}

int af_mem_plan_record_alloc(af_mem_plan *p, size_t bytes)
{
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        af_mem_block *b = realloc(p->blocks, (size_t)cap * sizeof *b);
        if (!b)
            return -1;
        p->blocks = b;
        p->cap = cap;
    }
    af_mem_block *b = &p->blocks[p->n];
    b->bytes = bytes;
    b->start = p->clock++;
    b->end = -1;
    b->offset = 0;
    return p->n++;
}

void af_mem_plan_record_release(af_mem_plan *p, int k)
{
    if (k >= 0 && k < p->n && p->blocks[k].end < 0)
        p->blocks[k].end = p->clock++;
}

static long end_of(const af_mem_block *b)
{
    return b->end < 0 ? LONG_MAX : b->end;
}

int af_mem_plan_overlap_in_time(const af_mem_block *a, const af_mem_block *b)
{
    return a->start < end_of(b) && b->start < end_of(a);
}

static size_t round_up(size_t v)
{
    return (v + AF_MEM_PLAN_ALIGN - 1) / AF_MEM_PLAN_ALIGN * AF_MEM_PLAN_ALIGN;
}

/* Block order for placing: larger first, then earlier first. */
static int placed_after(const af_mem_block *b, int i, int j)
{
    return b[i].bytes != b[j].bytes ? b[i].bytes < b[j].bytes : i > j;
}

/* Insertion sort of block indices (qsort has no context); n is a few hundred. */
static void sort_idx(int *idx, int n, const af_mem_block *b)
{
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && placed_after(b, idx[j], v)) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
}

void af_mem_plan_solve(af_mem_plan *p)
{
    p->arena = 0;
    if (p->n == 0)
        return;
    int *idx = malloc((size_t)p->n * sizeof *idx);
    int *placed = malloc((size_t)p->n * sizeof *placed);
    if (!idx || !placed) { /* no room to plan: lay the blocks end to end */
        size_t off = 0;
        for (int i = 0; i < p->n; i++) {
            p->blocks[i].offset = off;
            off += round_up(p->blocks[i].bytes);
        }
        p->arena = off ? off : AF_MEM_PLAN_ALIGN;
        free(idx);
        free(placed);
        return;
    }
    for (int i = 0; i < p->n; i++)
        idx[i] = i;
    sort_idx(idx, p->n, p->blocks);
    int np = 0;
    size_t arena = 0;
    for (int t = 0; t < p->n; t++) {
        af_mem_block *b = &p->blocks[idx[t]];
        size_t need = round_up(b->bytes);
        /* lowest offset clear of every placed block that lives at the same
         * time: try 0 and the end of each such block, keep the smallest fit */
        size_t best = SIZE_MAX;
        for (int c = -1; c < np; c++) {
            size_t cand = 0;
            if (c >= 0) {
                const af_mem_block *o = &p->blocks[placed[c]];
                if (!af_mem_plan_overlap_in_time(b, o))
                    continue;
                cand = o->offset + round_up(o->bytes);
            }
            if (cand >= best)
                continue;
            int ok = 1;
            for (int q = 0; q < np && ok; q++) {
                const af_mem_block *o = &p->blocks[placed[q]];
                if (af_mem_plan_overlap_in_time(b, o) && cand < o->offset + round_up(o->bytes) &&
                    o->offset < cand + need)
                    ok = 0;
            }
            if (ok)
                best = cand;
        }
        b->offset = best;
        placed[np++] = idx[t];
        if (best + need > arena)
            arena = best + need;
    }
    p->arena = arena ? arena : AF_MEM_PLAN_ALIGN;
    free(idx);
    free(placed);
}
