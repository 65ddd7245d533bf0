/* The loaded network: layers resolved from the description, with their
 * convolutions (BN folded, weights prepared for oneDNN). Immutable after
 * loading; shared by all contexts/threads. */
#ifndef AF_MODEL_MODEL_H
#define AF_MODEL_MODEL_H

#include "animeface.h"
#include "model/checkpoint.h"
#include "model/desc.h"
#include "ops/conv.h"
#include "ops/engine.h"

typedef struct af_conv_unit {
    af_conv_desc desc;
    af_conv_weights *prepared; /* oneDNN layout */
    float *weight;             /* OIHW, BN folded; NULL once prepared (only raw models keep it) */
    float *bias;               /* [cout], BN folded (NULL in unfused mode) */
    float *bn_alpha, *bn_beta; /* unfused mode: y = silu(conv(x) * alpha + beta), as
                                * PyTorch's eval BatchNorm computes it */
    int has_bn;                /* an ultralytics Conv (conv + BN + SiLU), else a plain Conv2d */
    int silu;                  /* the module's activation: SiLU (ultralytics Conv), or none
                                * (act=False, e.g. Attention's qkv/proj/pe; plain Conv2d) */
    int groups;                /* 1, or cin (= cout): depthwise (DWConv, Attention.pe), run by
                                * ops/dwconv.h from `weight` [cout][1][k][k] + `bias`, never
                                * prepared for oneDNN */
    float *bn_gamma, *bn_bias, *bn_mean, *bn_var; /* raw mode: the BN parameters as stored */
    float bn_eps;
    float act_absmax;          /* int8 calibration: the largest |input| seen, 0 if none */
    char name[64];             /* state-dict prefix, e.g. "model.2.m.0.cv1" */
} af_conv_unit;

/* Floats of a unit's weight: cout x cin/groups x k x k. */
static inline size_t af_conv_unit_weights(const af_conv_unit *u)
{
    return (size_t)u->desc.cout * (size_t)(u->desc.cin / u->groups) * (size_t)u->desc.k *
           (size_t)u->desc.k;
}

typedef struct af_layer {
    af_layer_spec spec;
    int stride;      /* output stride relative to the network input */
    int cv1, cv2;    /* Conv: cv1 is the conv; C2f/C2/SPPF: their cv1 and cv2 */
    int mbase;       /* C2f/C2: bottleneck j uses convs mbase+2j (cv1) and mbase+2j+1 (cv2);
                      * C3k2/C2PSA: block j starts at mbase + j * mstep */
    int mstep;       /* C3k2: 2 (Bottleneck cv1, cv2) or 7 (C3k cv1, cv2, cv3, m.0.cv1,
                      * m.0.cv2, m.1.cv1, m.1.cv2); C2PSA: 5 (attn.qkv, attn.proj, attn.pe,
                      * ffn.0, ffn.1) */
    int hidden;      /* C2f/C2/C3k2/C2PSA: hidden channels c */
    int box[AF_MAX_LEVELS][3]; /* Detect cv2[l][0..2] */
    int cls[AF_MAX_LEVELS][5]; /* Detect cv3[l]: [0..2], or with the depthwise head (spec.dwhead)
                                * cv3[l].0.0 (DW), .0.1, .1.0 (DW), .1.1, .2 */
    int ncls;                  /* convs in each cls[l]: 3, or 5 with the depthwise head */
} af_layer;

struct af_model {
    af_model_desc desc;
    af_layer layers[AF_MAX_LAYERS];
    af_conv_unit *convs;
    int nconvs;
    float dfl[64];  /* DFL conv weights (reg_max bins) */
    int nlevels;
    int strides[AF_MAX_LEVELS];
    int max_stride;
    int nc;
    char **names;
    int imgsz;      /* training imgsz (default for predict) */
    af_engine *engine;
    int unfused; /* BN kept apart from the conv (reference mode, slower) */
    int raw;     /* raw parameters for training: nothing folded, no oneDNN weights */
    af_precision precision; /* of the prepared convolution weights */
    cJSON *yaml; /* the description dict it was built from (nc as built) */
    float conf_threshold; /* calibrated confidence threshold from the checkpoint; 0: none */
};

/* Builds a model from a loaded checkpoint (consumes nothing; ck may be freed after). */
af_status af_model_build(const af_checkpoint *ck, af_model **out, af_error *err);

/* Same; unfused != 0 keeps BatchNorm as a separate per-channel affine computed
 * exactly as PyTorch's eval BatchNorm (float32 alpha = weight / sqrt(var + eps),
 * beta = bias - mean * alpha). The reference mode for parity tests. */
af_status af_model_build_ex(const af_checkpoint *ck, int unfused, af_model **out, af_error *err);

/* Raw model for training: the description's layers with PyTorch's default
 * initialisation (kaiming-uniform convs, BN 1/0/0/1 with eps 1e-3, Detect
 * bias_init), seeded; nc > 0 overrides the description's. Weights are then
 * taken from `from` (may be NULL) wherever name and shape match, as
 * ultralytics' intersect_dicts does; *ntransferred counts those tensors. */
af_status af_model_build_raw(const cJSON *yaml, int nc, const af_checkpoint *from, unsigned seed,
                             af_model **out, int *ntransferred, af_error *err);

/* Builds a model with random (seeded) weights from a description alone, for timing. */
af_status af_model_build_random(const cJSON *yaml, int nc, unsigned seed, af_model **out,
                                af_error *err);

#endif
