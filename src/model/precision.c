/* The arithmetic of the prepared convolution weights: af_model_set_precision
 * (bf16) and af_model_set_conv_algo (Winograd or direct). */
#include "core/error.h"
#include "model/model.h"
#include "ops/conv.h"
#include "ops/engine.h"

af_status af_model_set_precision(af_model *m, af_precision p, af_error *err)
{
    if (p == m->precision)
        return AF_OK;
    if (p != AF_PRECISION_BF16)
        return af_fail(err, AF_E_ARG, "a bf16 model goes back to fp32 only by loading it again");
    if (m->raw)
        return af_fail(err, AF_E_ARG, "bf16 is for inference; training runs in fp32");
    const char *isa;
    if (!af_engine_has_bf16(m->engine, &isa))
        return af_fail(err, AF_E_UNSUPPORTED,
                       "this CPU has no bf16 arithmetic (oneDNN uses %s here; bf16 needs "
                       "avx512_bf16 or AMX)",
                       isa);
    for (int i = 0; i < m->nconvs; i++) {
        if (!m->convs[i].prepared) /* depthwise (ops/dwconv.h): stays fp32 */
            continue;
        af_status st = af_conv_weights_to_bf16(m->convs[i].prepared, err);
        if (st) { /* those converted so far stay bf16: each conv is consistent on its own */
            af_error_prefix(err, "%s", m->convs[i].name);
            return st;
        }
    }
    m->precision = AF_PRECISION_BF16;
    return AF_OK;
}

af_precision af_model_get_precision(const af_model *m)
{
    return m->precision;
}

af_status af_model_set_conv_algo(af_model *m, af_conv_algo a, af_error *err)
{
    if (a != AF_CONV_ALGO_AUTO && a != AF_CONV_ALGO_DIRECT && a != AF_CONV_ALGO_FAST)
        return af_fail(err, AF_E_ARG, "unknown convolution algorithm %d", (int)a);
    const int tile = a == AF_CONV_ALGO_AUTO ? 2 : a == AF_CONV_ALGO_FAST ? 4 : 0;
    if (m->raw)
        return AF_OK; /* training convolutions have their own kernels */
    for (int i = 0; i < m->nconvs; i++) {
        if (!m->convs[i].prepared) /* depthwise (ops/dwconv.h) */
            continue;
        af_status st =
            af_conv_weights_set_winograd(m->convs[i].prepared, tile, err);
        if (st) {
            af_error_prefix(err, "%s", m->convs[i].name);
            return st;
        }
    }
    return AF_OK;
}
