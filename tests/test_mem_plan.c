/* The activation memory plan (model/mem_plan.h) against a naive check: buffers
 * alive at the same time never share a byte, offsets are aligned, and the
 * arena lies between the peak of live bytes and the sum of all buffers. */
#include <stdint.h>

#include "model/mem_plan.h"
#include "testutil.h"

/* Naive reference: the most bytes alive at once, walking the event clock. */
static size_t peak_live(const af_mem_plan *p)
{
    size_t peak = 0;
    for (long t = 0; t <= p->clock; t++) {
        size_t live = 0;
        for (int i = 0; i < p->n; i++) {
            const af_mem_block *b = &p->blocks[i];
            if (b->start <= t && (b->end < 0 || t < b->end))
                live += b->bytes;
        }
        peak = live > peak ? live : peak;
    }
    return peak;
}

static void check_plan(const af_mem_plan *p)
{
    size_t sum = 0;
    for (int i = 0; i < p->n; i++) {
        const af_mem_block *a = &p->blocks[i];
        sum += (a->bytes + AF_MEM_PLAN_ALIGN - 1) / AF_MEM_PLAN_ALIGN * AF_MEM_PLAN_ALIGN;
        CHECK(a->offset % AF_MEM_PLAN_ALIGN == 0);
        CHECK(a->offset + a->bytes <= p->arena);
        for (int j = 0; j < i; j++) {
            const af_mem_block *b = &p->blocks[j];
            int in_time = af_mem_plan_overlap_in_time(a, b);
            int in_space = a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
            CHECK_MSG(!(in_time && in_space), "blocks %d and %d share memory while both alive", i,
                      j);
        }
    }
    CHECK(p->arena >= peak_live(p));
    CHECK(p->arena <= (sum ? sum : AF_MEM_PLAN_ALIGN));
}

/* A chain a -> b -> c, each freed after the next exists: two buffers at a time. */
static void test_chain_reuses_memory(void)
{
    af_mem_plan p = {0};
    int prev = af_mem_plan_record_alloc(&p, 1000);
    for (int i = 0; i < 10; i++) {
        int k = af_mem_plan_record_alloc(&p, 1000);
        af_mem_plan_record_release(&p, prev);
        prev = k;
    }
    af_mem_plan_record_release(&p, prev);
    af_mem_plan_solve(&p);
    check_plan(&p);
    CHECK(p.arena == 2 * 1024); /* 1000 rounded to 1024, two alive at once */
    af_mem_plan_free(&p);
}

/* Lifetimes that do not touch may share; one never released stays to the end. */
static void test_disjoint_and_unreleased(void)
{
    af_mem_plan p = {0};
    int a = af_mem_plan_record_alloc(&p, 4096);
    af_mem_plan_record_release(&p, a);
    int b = af_mem_plan_record_alloc(&p, 4096);
    int c = af_mem_plan_record_alloc(&p, 64); /* never released */
    af_mem_plan_record_release(&p, b);
    int d = af_mem_plan_record_alloc(&p, 100);
    af_mem_plan_record_release(&p, d);
    af_mem_plan_solve(&p);
    check_plan(&p);
    CHECK(p.blocks[a].offset == p.blocks[b].offset);
    CHECK(p.arena == 4096 + 64);
    CHECK(p.blocks[c].end < 0);
    af_mem_plan_free(&p);
}

/* Random recordings (nested, like a network's layers and their temporaries). */
static void test_random_recordings(void)
{
    uint32_t s = 12345;
    for (int round = 0; round < 200; round++) {
        af_mem_plan p = {0};
        int live[64], nlive = 0;
        int steps = 1 + round % 120;
        for (int t = 0; t < steps; t++) {
            s = s * 1664525u + 1013904223u;
            if (nlive < 64 && (nlive == 0 || (s >> 16) % 3)) {
                s = s * 1664525u + 1013904223u;
                size_t bytes = 1 + (s >> 8) % (1 << ((s >> 4) % 20));
                int k = af_mem_plan_record_alloc(&p, bytes);
                REQUIRE(k >= 0);
                live[nlive++] = k;
            } else {
                int j = (int)((s >> 20) % (uint32_t)nlive);
                af_mem_plan_record_release(&p, live[j]);
                live[j] = live[--nlive];
            }
        }
        if (round % 2) /* half the rounds release everything, half leave some alive */
            while (nlive)
                af_mem_plan_record_release(&p, live[--nlive]);
        af_mem_plan_solve(&p);
        check_plan(&p);
        af_mem_plan_free(&p);
    }
}

static void test_empty_and_reset(void)
{
    af_mem_plan p = {0};
    af_mem_plan_solve(&p);
    CHECK(p.arena == AF_MEM_PLAN_ALIGN || p.arena == 0);
    int k = af_mem_plan_record_alloc(&p, 10);
    CHECK(k == 0);
    af_mem_plan_reset(&p);
    CHECK(p.n == 0 && p.clock == 0);
    CHECK(af_mem_plan_record_alloc(&p, 10) == 0);
    af_mem_plan_record_release(&p, 0);
    af_mem_plan_record_release(&p, 0);  /* twice: ignored */
    af_mem_plan_record_release(&p, 7);  /* unknown: ignored */
    af_mem_plan_record_release(&p, -1); /* not owned: ignored */
    af_mem_plan_solve(&p);
    check_plan(&p);
    af_mem_plan_free(&p);
}

int main(void)
{
    RUN(test_chain_reuses_memory);
    RUN(test_disjoint_and_unreleased);
    RUN(test_random_recordings);
    RUN(test_empty_and_reset);
    return t_summary();
}
