/* oneDNN CPU engine and OpenMP thread control.
 *
 * Debian's libdnnl is built with the OpenMP runtime: a primitive runs on
 * omp_get_max_threads() threads of the calling thread (and some kernels size
 * their work split for that count when created). The omp_* entry points are
 * looked up at run time in the OpenMP runtime that libdnnl already loaded, so
 * the library needs no -fopenmp at link time and follows whichever runtime
 * oneDNN was built with. The ICV set by omp_set_num_threads is per thread, so
 * two threads can use different counts. */
#define _GNU_SOURCE
#include "ops/engine.h"

#include <dlfcn.h>
#include <dnnl.h>
#include <dnnl_debug.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct af_engine {
    dnnl_engine_t eng;
    int blk;          /* block size of the blocked activations: 8 or 16 */
    int blk_forced;   /* set by AF_BLK rather than asked of oneDNN */
    int no_winograd;  /* AF_WINOGRAD=0 */
    int no_pointwise; /* AF_POINTWISE=0 */
    void (*omp_set_num_threads)(int);
    int (*omp_get_max_threads)(void);
};

/* The widest channel block with a vector kernel of oneDNN's for a typical
 * 3x3 convolution (64 -> 64 channels at 40 x 40, fp32, activations nChw16c,
 * then nChw8c, weights `any`): 16 where its convolutions are AVX-512
 * (jit:avx512_core), 8 with AVX2 (and SSE4.1). oneDNN 2.6 left to choose
 * (format `any`) takes NHWC on AVX-512 CPUs (its brgconv kernels); per
 * convolution of yolov8n these ran within a few percent of the nChw16c ones
 * (bench/README.md), and the blocked layout keeps C2f's in-place concatenation. */
static int query_blk(dnnl_engine_t eng)
{
    dnnl_memory_desc_t src, wei, dst;
    dnnl_dims_t sd = {1, 64, 40, 40}, wd = {64, 64, 3, 3}, st = {1, 1}, pad = {1, 1};
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    int ok = 0;
    if (dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nChw16c) ||
        dnnl_memory_desc_init_by_tag(&dst, 4, sd, dnnl_f32, dnnl_nChw16c) ||
        dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                           &src, &wei, NULL, &dst, st, pad, pad) ||
        dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL))
        return 8;
    ok = !af_dnnl_impl_is_ref(pd);
    dnnl_primitive_desc_destroy(pd);
    return ok ? 16 : 8;
}

af_status af_engine_create(af_engine **out, af_error *err)
{
    *out = NULL;
    af_engine *e = calloc(1, sizeof *e);
    if (!e)
        return af_fail(err, AF_E_NOMEM, "engine: out of memory");
    dnnl_status_t st = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
    if (st != dnnl_success) {
        free(e);
        return af_fail(err, AF_E_INTERNAL, "oneDNN: cannot create the CPU engine (%s)",
                       af_dnnl_status_name(st));
    }
    const char *force = getenv("AF_BLK");
    if (force && (!strcmp(force, "8") || !strcmp(force, "16"))) {
        e->blk = atoi(force);
        e->blk_forced = 1;
    } else {
        e->blk = query_blk(e->eng);
    }
    const char *wino = getenv("AF_WINOGRAD");
    e->no_winograd = wino && !strcmp(wino, "0");
    const char *pw = getenv("AF_POINTWISE");
    e->no_pointwise = pw && !strcmp(pw, "0");
    /* POSIX allows converting dlsym's object pointer to a function pointer. */
    void *set = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    void *get = dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    if (set && get) {
        *(void **)&e->omp_set_num_threads = set;
        *(void **)&e->omp_get_max_threads = get;
    }
    *out = e;
    return AF_OK;
}

void af_engine_free(af_engine *e)
{
    if (!e)
        return;
    if (e->eng)
        dnnl_engine_destroy(e->eng);
    free(e);
}

struct dnnl_engine *af_engine_dnnl(const af_engine *e)
{
    return e->eng;
}

int af_engine_set_threads(const af_engine *e, int threads)
{
    if (!e->omp_set_num_threads)
        return 0;
    int prev = e->omp_get_max_threads();
    if (threads > 0 && threads != prev)
        e->omp_set_num_threads(threads);
    return prev;
}

void af_engine_restore_threads(const af_engine *e, int prev)
{
    if (e->omp_set_num_threads && prev > 0 && e->omp_get_max_threads() != prev)
        e->omp_set_num_threads(prev);
}

int af_engine_max_threads(const af_engine *e)
{
    return e->omp_get_max_threads ? e->omp_get_max_threads() : 1;
}

const char *af_dnnl_impl(const struct dnnl_primitive_desc *pd)
{
    const char *s = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
        return "?";
    return s;
}

int af_dnnl_impl_is_ref(const struct dnnl_primitive_desc *pd)
{
    return strncmp(af_dnnl_impl(pd), "ref", 3) == 0;
}

const char *af_dnnl_status_name(int status)
{
    return dnnl_status2str((dnnl_status_t)status);
}

int af_engine_blk(const af_engine *e)
{
    return e->blk;
}

int af_engine_blk_forced(const af_engine *e)
{
    return e->blk_forced;
}

int af_engine_winograd(const af_engine *e)
{
    return !e->no_winograd;
}

int af_engine_pointwise(const af_engine *e)
{
    return !e->no_pointwise;
}

int af_engine_has_bf16(const af_engine *e, const char **isa)
{
    (void)e;
    unsigned v = (unsigned)dnnl_get_effective_cpu_isa();
    const char *name = "unknown";
    static const struct {
        unsigned bits;
        const char *name;
    } tab[] = {{dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
               {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
               {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
               {dnnl_cpu_isa_avx512_core, "avx512_core"},
               {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
               {dnnl_cpu_isa_avx2, "avx2"},
               {dnnl_cpu_isa_avx, "avx"},
               {dnnl_cpu_isa_sse41, "sse41"}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if ((v & tab[i].bits) == tab[i].bits) {
            name = tab[i].name;
            break;
        }
    if (isa)
        *isa = name;
    unsigned bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    return (v & bf16) == bf16;
}
