/*
 * animeface — YOLOv8 anime face detection in C.
 * Public API of libanimeface. Copyright the animeface authors, AGPL-3.0-or-later.
 *
 * Conventions: every call that can fail returns an af_status and fills an
 * af_error (when non-NULL) with one line naming the problem. The library never
 * prints, never exits and keeps no global state. An af_model is immutable after
 * loading and may be shared by several threads; each thread detects through its
 * own af_context.
 */
#ifndef ANIMEFACE_H
#define ANIMEFACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Everything declared here is exported from libanimeface.so; the library is
 * built with -fvisibility=hidden, so nothing else is. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define AF_VERSION_STRING "0.1.0"

typedef enum af_status {
    AF_OK = 0,
    AF_E_IO,          /* file missing, unreadable, short read, write failed */
    AF_E_FORMAT,      /* malformed or truncated file content */
    AF_E_UNSUPPORTED, /* well-formed but not something animeface handles */
    AF_E_LIMIT,       /* a size or count over a safety limit */
    AF_E_NOMEM,       /* allocation failed */
    AF_E_ARG,         /* bad argument or option value */
    AF_E_SECURITY,    /* refused: e.g. a pickle global outside the allow-list */
    AF_E_INTERNAL     /* a bug or a failure inside a dependency */
} af_status;

typedef struct af_error {
    af_status code;
    char msg[512]; /* one line, no trailing newline */
} af_error;

/* Name of a status code ("io error", "format error", ...). */
const char *af_status_name(af_status s);

typedef struct af_model af_model;
typedef struct af_context af_context;

typedef struct af_detection {
    float x1, y1, x2, y2; /* pixels of the original image */
    float conf;
    int cls;
} af_detection;

typedef enum af_pixel_format {
    AF_PIXEL_RGB = 0,
    AF_PIXEL_RGBA, /* alpha is ignored, as cv2.imread does */
    AF_PIXEL_GRAY,
    AF_PIXEL_BGR
} af_pixel_format;

typedef struct af_detect_options {
    float conf;      /* 0.25 */
    float iou;       /* 0.7 */
    int imgsz_h;     /* 0: the model's training imgsz */
    int imgsz_w;     /* 0: same as imgsz_h */
    int max_det;     /* 300 */
    int agnostic;    /* class-agnostic NMS */
    const int *classes; /* keep only these classes (NULL: all) */
    int nclasses;
} af_detect_options;

/* Fills opts with ultralytics 8.1.9 predict defaults. */
void af_detect_options_default(af_detect_options *opts);

/* Loads an ultralytics checkpoint (.pt) or an animeface safetensors file.
 * Format is recognised by content, not by name. */
af_status af_model_load(const char *path, af_model **out, af_error *err);
af_status af_model_load_memory(const void *data, size_t size, const char *name,
                               af_model **out, af_error *err);
void af_model_free(af_model *m);

int af_model_num_classes(const af_model *m);
const char *af_model_class_name(const af_model *m, int cls); /* never NULL */
int af_model_default_imgsz(const af_model *m);                /* train imgsz */
int af_model_max_stride(const af_model *m);
/* The calibrated confidence threshold the model carries (the F1-optimal confidence that
 * `animeface val --save-threshold` stored in its safetensors metadata), or 0 if none. */
float af_model_conf_threshold(const af_model *m);

/* Arithmetic of the convolutions. */
typedef enum af_precision {
    AF_PRECISION_FP32 = 0, /* the default */
    AF_PRECISION_BF16,     /* bf16 inputs and weights, float32 accumulation and outputs */
    AF_PRECISION_INT8      /* s8 inputs and weights (a calibrated model: animeface calibrate),
                            * s32 accumulation, float32 outputs */
} af_precision;

/* Switches the model's convolutions to bf16, where the CPU runs bf16 natively
 * (avx512_bf16 or AMX, through oneDNN). Elsewhere returns AF_E_UNSUPPORTED with
 * a message naming the CPU's instruction set, and the model stays fp32.
 * In bf16 the Winograd convolutions run their products in bf16, the stride-1
 * ones as F(4x4,3x3) whichever of AUTO and FAST was chosen (its bf16 rounding
 * outweighs F(4x4)'s; DIRECT stays direct). Choose the algorithm first.
 * AF_PRECISION_INT8 needs a model calibrated by `animeface calibrate` (else
 * AF_E_ARG saying so) and runs on any x86-64 with AVX2 (VNNI where present).
 * Call before creating contexts; switching back needs a fresh load. */
af_status af_model_set_precision(af_model *m, af_precision p, af_error *err);
af_precision af_model_get_precision(const af_model *m);

/* Algorithm of the 3x3 convolutions: stride 1 from 32 channels on either side
 * (two thirds of YOLOv8's work), and stride 2 from 64 channels (cin x cout up
 * to 512 x 512), on CPUs with AVX2 and FMA (elsewhere, and for every other
 * convolution, oneDNN's direct kernels). The stride-2 ones
 * have one Winograd form (a polyphase split, 25 multiplies for 36, rounding
 * like direct's), taken by AUTO and FAST alike. */
typedef enum af_conv_algo {
    AF_CONV_ALGO_AUTO = 0, /* the default: Winograd F(2x2,3x3), 2.25x fewer multiplies than
                              direct, rounding errors like direct's (within ultralytics'
                              golden tolerances) */
    AF_CONV_ALGO_DIRECT,   /* oneDNN's direct kernels everywhere */
    AF_CONV_ALGO_FAST      /* Winograd F(4x4,3x3): 4x fewer multiplies, about 10x the float32
                              rounding error of direct per conv (box coordinates move by a
                              few 1e-3 px more on background anchors), 4x the 3x3 weight memory */
} af_conv_algo;

/* Switches the algorithm (either way). Call before creating contexts and
 * before af_model_set_precision (afterwards: AF_E_ARG). */
af_status af_model_set_conv_algo(af_model *m, af_conv_algo a, af_error *err);

/* Per-thread state: activation buffers and compiled primitives. */
af_status af_context_create(const af_model *m, int threads, af_context **out, af_error *err);
void af_context_free(af_context *ctx);

/* Detects on an 8-bit image buffer (row stride in bytes). The result array is
 * owned by the context and valid until the next call on it. */
af_status af_detect(af_context *ctx, const uint8_t *pixels, int width, int height,
                    size_t stride, af_pixel_format fmt, const af_detect_options *opts,
                    const af_detection **dets, int *ndets, af_error *err);

/* Timings of the last af_detect call in milliseconds. */
typedef struct af_timings {
    double preprocess_ms, inference_ms, postprocess_ms;
    int input_h, input_w;
} af_timings;
void af_context_last_timings(const af_context *ctx, af_timings *t);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif
#ifdef __cplusplus
}
#endif
#endif
