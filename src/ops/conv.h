/* 2-D convolution on NHWC float32 tensors through oneDNN, with bias and SiLU
 * fused. Square kernel, symmetric padding, groups 1, dilation 1 (all YOLOv8
 * convolutions). */
#ifndef AF_OPS_CONV_H
#define AF_OPS_CONV_H

#include "animeface.h"
#include "ops/engine.h"

typedef enum af_act { AF_ACT_NONE = 0, AF_ACT_SILU } af_act;

/* Activation layouts: NHWC (the default), planar NCHW (for the network input,
 * where oneDNN's fast first-layer kernel wants it), nChw8c and nChw16c
 * (ops/blocked.h). */
typedef enum af_layout {
    AF_LAYOUT_NHWC = 0,
    AF_LAYOUT_NCHW,
    AF_LAYOUT_BLK8,
    AF_LAYOUT_BLK16
} af_layout;

/* The block size of a blocked layout (8 or 16), 0 for NHWC and NCHW. */
static inline int af_layout_blk(af_layout l)
{
    return l == AF_LAYOUT_BLK8 ? 8 : l == AF_LAYOUT_BLK16 ? 16 : 0;
}

/* The blocked layout of block size blk (8 or 16). */
static inline af_layout af_blk_layout(int blk)
{
    return blk == 16 ? AF_LAYOUT_BLK16 : AF_LAYOUT_BLK8;
}

typedef struct af_conv_desc {
    int cin, cout, k, stride, pad;
    af_act act;
} af_conv_desc;

/* Output size (floor division as torch). Gives 0 where the input is too small. */
void af_conv_out_hw(const af_conv_desc *d, int h, int w, int *oh, int *ow);

/* Checks the descriptor's numbers (positive, in range). */
af_status af_conv_desc_check(const af_conv_desc *d, af_error *err);

/* Immutable weights prepared once (reordered into the layout oneDNN's kernel
 * wants), shared by threads. weight OIHW [cout][cin][k][k], bias [cout] or NULL. */
typedef struct af_conv_weights af_conv_weights;
af_status af_conv_weights_create(af_engine *e, const af_conv_desc *d, const float *weight,
                                 const float *bias, af_conv_weights **out, af_error *err);
/* The same, with the weights laid out for convolutions between the given
 * activation layouts (af_conv_weights_create: NHWC to NHWC). Convolutions on
 * other layouts still work, with a private copy of the weights. */
af_status af_conv_weights_create_for(af_engine *e, const af_conv_desc *d, const float *weight,
                                     const float *bias, af_layout src_layout,
                                     af_layout dst_layout, af_conv_weights **out, af_error *err);
void af_conv_weights_free(af_conv_weights *w);

/* Turns prepared weights into bf16 ones: convolutions created from them
 * afterwards convert their input to bf16, multiply in bf16 and accumulate and
 * write float32 (bias and SiLU in float32). AF_E_UNSUPPORTED where oneDNN has
 * no bf16 kernel on this CPU (the weights then stay float32). Not while an
 * af_conv made from w exists. */
af_status af_conv_weights_to_bf16(af_conv_weights *w, af_error *err);
int af_conv_weights_is_bf16(const af_conv_weights *w);

/* Turns prepared weights into int8 ones: s8 weights with one scale per output
 * channel (its largest |w| -> 127); convolutions created from them afterwards
 * quantize their input to s8 with act_absmax -> 127 (rounded to nearest,
 * saturated; from a calibration), run oneDNN's s8 kernels (s32 accumulation,
 * VNNI where the CPU has it; NHWC, reordered to and from the caller's layouts)
 * and give float32 (scales, bias and SiLU in float32). The float weights are
 * kept too, for shapes whose kernel wants another weights format.
 * AF_E_UNSUPPORTED where oneDNN has no int8 kernel. Not while an af_conv made
 * from w exists. */
af_status af_conv_weights_to_int8(af_conv_weights *w, float act_absmax, af_error *err);
int af_conv_weights_is_int8(const af_conv_weights *w);

/* Winograd weights (ops/winograd.h): F(2x2,3x3) is chosen at creation for
 * 3x3 stride-1 pad-1 convolutions between blocked activations from 32
 * channels on either side, and its stride-2 form (S2) for stride-2 pad-1 ones
 * from 64 channels up to cin x cout = 512 x 512, on CPUs where oneDNN's best
 * kernels are AVX2. af_conv_weights_set_winograd turns such weights into
 * F(m x m, 3x3) ones (m = 2 or 4; stride 2: S2 for either) or back into
 * oneDNN's (m = 0); other weights stay as they are. Not while an af_conv made
 * from w exists. af_conv_weights_winograd: m (2 for S2), or 0. */
af_status af_conv_weights_set_winograd(af_conv_weights *w, int m, af_error *err);
/* Whether d is a convolution the Winograd path takes on this CPU (where the
 * engine's activations are nChw8c: af_engine_blk; 3x3, pad 1,
 * stride 1 from 32 channels on either side or stride 2 as above; the layouts
 * aside): the one test for inference and training (ops/conv_train.c, which
 * takes the stride-1 ones). */
int af_conv_winograd_suits(const af_engine *e, const af_conv_desc *d);
int af_conv_weights_winograd(const af_conv_weights *w);
const af_conv_desc *af_conv_weights_desc(const af_conv_weights *w);

/* Per-thread executable for one input shape (n, h, width); cheap to keep
 * several (a caller caches one per shape). threads: OpenMP threads used by
 * af_conv_forward (<= 0: the calling thread's OpenMP setting at creation). */
typedef struct af_conv af_conv;
af_status af_conv_create(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                         int threads, af_conv **out, af_error *err);
/* The same, running the naive loops (the path taken when oneDNN refuses a
 * shape): for checking a network against the references. */
af_status af_conv_create_naive(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                               af_conv **out, af_error *err);
/* The same between other layouts (src, dst as af_conv_forward then takes them). */
af_status af_conv_create_for(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                             int threads, af_layout src_layout, af_layout dst_layout,
                             af_conv **out, af_error *err);
af_status af_conv_create_naive_for(af_engine *e, const af_conv_weights *w, int n, int h,
                                   int width, af_layout src_layout, af_layout dst_layout,
                                   af_conv **out, af_error *err);
/* Activations in bfloat16 instead of float32, for convs with bf16 weights
 * (af_conv_weights_to_bf16): AF_CONV_SRC_BF16 the input (no conversion before
 * the kernel), AF_CONV_DST_BF16 the output (the kernel writes bf16, SiLU
 * applied in float first). A network passes bf16 from one bf16 conv to the
 * next this way, halving the traffic and skipping the input conversion. */
/* Likewise between int8 convs: AF_CONV_SRC_Q8 the input is s8 NHWC already
 * quantized with this conv's input range (no quantizing reorder before the
 * kernel), AF_CONV_DST_Q8 the output is s8 NHWC quantized with the range of
 * the one conv that reads it (`reader`; no reorder after the kernel): its
 * float result (SiLU applied) times 127 / range, rounded to nearest and
 * saturated, the reader's own quantization. */
enum { AF_CONV_SRC_BF16 = 1, AF_CONV_DST_BF16 = 2, AF_CONV_SRC_Q8 = 4, AF_CONV_DST_Q8 = 8 };
/* af_conv_create_for with activations io (0 or the AF_CONV_* flags; bf16
 * flags without bf16 weights, s8 flags without int8 weights or reader:
 * AF_E_ARG); naive: the naive loops (which then convert bf16 around float
 * copies; int8 has no naive path). */
af_status af_conv_create_io(af_engine *e, const af_conv_weights *w, int n, int h, int width,
                            int threads, af_layout src_layout, af_layout dst_layout, int io,
                            const af_conv_weights *reader, int naive, af_conv **out,
                            af_error *err);
/* src NHWC (n, h, w, cin), dst NHWC (n, oh, ow, cout) (or the layouts the conv
 * was created for): float32, or uint16_t bf16 where created with the io flags;
 * must not overlap.
 * Not reentrant for one af_conv; distinct af_conv objects may run at once. */
af_status af_conv_forward(af_conv *c, const void *src, void *dst, af_error *err);
void af_conv_free(af_conv *c);

typedef enum af_conv_path {
    AF_CONV_DNNL_SHARED = 0, /* oneDNN, using the shared prepared weights */
    AF_CONV_DNNL_PRIVATE,    /* oneDNN, weights reordered again for this shape */
    AF_CONV_REF,             /* oneDNN refused the shape: naive loops */
    AF_CONV_WINOGRAD,        /* ops/winograd.h (3x3 stride 1 or 2, blocked, AVX2) */
    AF_CONV_POINTWISE        /* ops/pointwise.h (1x1, bf16 weights, nChw16c, avx512_bf16) */
} af_conv_path;

/* oneDNN implementation name (e.g. "jit:avx2"), "ref:naive" on the fallback,
 * "winograd:f2x2_3x3:avx2" on the Winograd path. */
const char *af_conv_impl(const af_conv *c);
af_conv_path af_conv_get_path(const af_conv *c);
void af_conv_get_out_hw(const af_conv *c, int *oh, int *ow);

#endif
