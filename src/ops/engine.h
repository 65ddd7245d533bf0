/* The CPU compute engine shared by all layer kernels: one oneDNN CPU engine
 * plus control of the OpenMP thread count that oneDNN (Debian build, OpenMP
 * runtime) uses. One engine is created per model and may be used by several
 * threads at once. */
#ifndef AF_OPS_ENGINE_H
#define AF_OPS_ENGINE_H

#include "animeface.h"

typedef struct af_engine af_engine;

af_status af_engine_create(af_engine **out, af_error *err);
void af_engine_free(af_engine *e);

/* The underlying dnnl_engine_t (struct dnnl_engine *), for the ops. */
struct dnnl_engine *af_engine_dnnl(const af_engine *e);

/* Sets the OpenMP thread count of the calling thread (which oneDNN reads when
 * a primitive is created and executed) and returns the previous count, to be
 * handed to af_engine_restore_threads. threads <= 0 leaves it unchanged.
 * Returns 0 if the OpenMP runtime is not reachable (then nothing changes). */
int af_engine_set_threads(const af_engine *e, int threads);
void af_engine_restore_threads(const af_engine *e, int prev);

/* omp_get_max_threads() of the calling thread, or 1 if OpenMP is not reachable. */
int af_engine_max_threads(const af_engine *e);

/* Whether oneDNN runs bf16 natively on this CPU (avx512_bf16 or AMX; oneDNN
 * emulates bf16 on plain AVX-512, which is slower than fp32). *isa names the
 * instruction set oneDNN uses here ("avx2", "avx512_core_bf16", ...). */
int af_engine_has_bf16(const af_engine *e, const char **isa);

/* The block size of the blocked activations (ops/blocked.h) for this CPU,
 * chosen when the engine is created: 16 (nChw16c) where oneDNN has vector
 * kernels for it (AVX-512), else 8 (nChw8c: AVX2, and the fallback). The environment variable AF_BLK=8 or AF_BLK=16 forces it (for
 * tests of both layouts on one machine; oneDNN then runs whatever kernels it
 * has for that layout). af_engine_blk_forced: whether AF_BLK chose it. */
int af_engine_blk(const af_engine *e);
int af_engine_blk_forced(const af_engine *e);

/* Whether the Winograd path (ops/winograd.h) may replace oneDNN's direct
 * 3x3 kernels: yes (on AVX2 and on AVX-512 CPUs alike it is the faster in the
 * network: bench/README.md), unless the environment sets AF_WINOGRAD=0 (for
 * comparisons; `--conv direct` does the same per model). The CPU check
 * itself is af_wino_supported's. */
int af_engine_winograd(const af_engine *e);
/* Whether bf16 1x1 convs between nChw16c activations may run on
 * ops/pointwise.h instead of oneDNN's kernels: yes, unless the environment
 * sets AF_POINTWISE=0 (for comparisons). The CPU check is af_pw_supported's. */
int af_engine_pointwise(const af_engine *e);

struct dnnl_primitive_desc;

/* The implementation name of a oneDNN primitive descriptor ("jit:avx2", ...;
 * "?" when it has none), and whether it is oneDNN's reference (naive) one. */
const char *af_dnnl_impl(const struct dnnl_primitive_desc *pd);
int af_dnnl_impl_is_ref(const struct dnnl_primitive_desc *pd);

/* Name of a oneDNN status code ("out_of_memory", "unimplemented", ...). */
const char *af_dnnl_status_name(int status);

#endif
