/* The arithmetic of the prepared convolution weights: af_model_set_precision
 * (bf16) and af_model_set_conv_algo (Winograd or direct). */
#include <stdlib.h>

#include "core/error.h"
#include "model/model.h"
#include "ops/conv.h"
#include "ops/engine.h"

/* int8: every conv needs its calibrated input range (animeface calibrate). */
static af_status set_int8(af_model *m, af_error *err)
{
    for (int i = 0; i < m->nconvs; i++)
        if (m->convs[i].prepared && !(m->convs[i].act_absmax > 0))
            return af_fail(err, AF_E_ARG,
                           "the model has no int8 calibration (%s has no input range): make one "
                           "with `animeface calibrate MODEL --source DIR -o OUT.safetensors`",
                           m->convs[i].name);
    /* the Detect head's last 1x1 convs (box distribution and class logits)
     * stay fp32: their outputs are the boxes themselves and they are a sliver
     * of the work (with every conv int8 the bundled model lost 0.013 of
     * mAP50-95 on the val split; models/README.md) */
    unsigned char *keep = calloc((size_t)m->nconvs, 1);
    if (!keep)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    for (int i = 0; i < m->desc.nlayers; i++)
        if (m->desc.layers[i].type == AF_M_DETECT)
            for (int l = 0; l < m->nlevels; l++) {
                keep[m->layers[i].box[l][2]] = 1;
                keep[m->layers[i].cls[l][2]] = 1;
            }
    for (int i = 0; i < m->nconvs; i++) {
        if (keep[i] || !m->convs[i].prepared) /* depthwise (ops/dwconv.h): stays fp32 */
            continue;
        af_status st = af_conv_weights_to_int8(m->convs[i].prepared, m->convs[i].act_absmax, err);
        if (st) { /* those converted so far stay int8: each conv is consistent on its own */
            af_error_prefix(err, "%s", m->convs[i].name);
            free(keep);
            return st;
        }
    }
    free(keep);
    m->precision = AF_PRECISION_INT8;
    return AF_OK;
}

af_status af_model_set_precision(af_model *m, af_precision p, af_error *err)
{
    if (p == m->precision)
        return AF_OK;
    if (m->precision != AF_PRECISION_FP32 || p == AF_PRECISION_FP32)
        return af_fail(err, AF_E_ARG, "a model goes back to fp32 only by loading it again");
    if (m->raw)
        return af_fail(err, AF_E_ARG, "bf16 and int8 are for inference; training runs in fp32");
    if (p == AF_PRECISION_INT8)
        return set_int8(m, err);
    if (p != AF_PRECISION_BF16)
        return af_fail(err, AF_E_ARG, "unknown precision %d", (int)p);
    const char *isa;
    if (!af_engine_has_bf16(m->engine, &isa))
        return af_fail(err, AF_E_UNSUPPORTED,
                       "this CPU has no bf16 arithmetic (oneDNN uses %s here; bf16 needs "
                       "avx512_bf16 or AMX)",
                       isa);
    /* a conv oneDNN has no bf16 kernel for (such as the first one, 3 channels
     * in planar layout, on some CPUs) stays fp32; each conv is consistent on
     * its own */
    int converted = 0;
    af_error first = {0};
    for (int i = 0; i < m->nconvs; i++) {
        if (!m->convs[i].prepared) /* depthwise (ops/dwconv.h): stays fp32 */
            continue;
        af_error e1 = {0};
        af_status st = af_conv_weights_to_bf16(m->convs[i].prepared, &e1);
        if (st == AF_E_UNSUPPORTED) {
            if (!first.msg[0])
                af_fail(&first, st, "%s: %s", m->convs[i].name, e1.msg);
            continue;
        }
        if (st) {
            af_fail(err, st, "%s: %s", m->convs[i].name, e1.msg);
            return st;
        }
        converted++;
    }
    if (!converted && m->nconvs > 0)
        return af_fail(err, AF_E_UNSUPPORTED, "%s", first.msg);
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
    if (m->precision != AF_PRECISION_FP32) /* bf16/int8 weights come from the fp32 ones */
        return af_fail(err, AF_E_ARG,
                       "choose the convolution algorithm before the precision (the bf16 and "
                       "int8 weights are made from the fp32 weights of the chosen algorithm)");
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
