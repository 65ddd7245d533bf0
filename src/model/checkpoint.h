/*
 * A model checkpoint as animeface sees it: the ultralytics state_dict tensors
 * plus the model description and the few attributes inference and training
 * need. Loaded from an ultralytics .pt (torch zip + pickle, read without
 * Python) or from safetensors (animeface's own layout or a plain state dict).
 */
#ifndef AF_MODEL_CHECKPOINT_H
#define AF_MODEL_CHECKPOINT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/tensor.h"

#define AF_CKPT_MAX_FILE ((size_t)2 << 30)

typedef struct af_checkpoint {
    af_tensor_list tensors; /* ultralytics state_dict names: "model.0.conv.weight",
                               "model.0.bn.running_var", "model.22.dfl.conv.weight", ...
                               (F16 or F32 as stored; num_batches_tracked omitted) */
    cJSON *yaml;            /* the model description dict (DetectionModel.yaml) or NULL */
    cJSON *names;           /* object {"0": "face", ...} or NULL */
    cJSON *train_args;      /* dict of training args (imgsz etc.) or NULL */
    cJSON *bn_eps;          /* object: BN module prefix ("model.0.bn") -> eps; NULL if unknown
                               (then 1e-3) */
    double stride[8];
    int nstride;            /* DetectionModel.stride, e.g. 8,16,32 (,64); 0 if unknown */
    int nc;                 /* number of classes (yaml nc, model nc, or metadata); 0 if unknown */
    int fused;              /* 1 if convs carry the BN already (no *.bn.* tensors, conv.bias) */
    int imgsz;              /* training image size (train_args imgsz), 640 if not stored */
    int detect_dw_cls;      /* Detect's class branch as the tensors show it: 1 depthwise
                               (DWConv+Conv pairs, "*.cv3.0.0.0.*": YOLO11, and YOLOv8 as
                               ultralytics 8.3.0-8.3.16 built it, before Detect.legacy),
                               0 YOLOv8's two 3x3 Convs, -1 no Detect tensors seen */
    char format[16];        /* "pt" or "safetensors" */
    char *version;          /* ultralytics version string from the checkpoint, or NULL */
    double conf_threshold;  /* metadata "conf_threshold": the calibrated (F1-optimal)
                               confidence `animeface val --save-threshold` stored; 0: none */
    cJSON *int8;            /* int8 calibration (animeface calibrate): {conv name ("model.2.m.0.cv1"):
                               the largest |input| seen}, metadata "int8_act_absmax"; or NULL */
} af_checkpoint;

/* Dispatch on content: zip (PK\3\4) => .pt, else safetensors. */
af_status af_checkpoint_load(const char *path, af_checkpoint *ck, af_error *err);
af_status af_checkpoint_load_memory(const void *buf, size_t len, const char *name,
                                    af_checkpoint *ck, af_error *err);

/* Writes animeface's safetensors: float tensors converted to store (AF_DT_F16
 * or AF_DT_F32), others kept; __metadata__ "format":"animeface", "yaml",
 * "names", "stride", "train_args", "bn_eps", "nc", "ultralytics_version",
 * "int8_act_absmax" (JSON text). Atomic: tmp file in the same directory, fsync, rename. */
af_status af_checkpoint_save_safetensors(const af_checkpoint *ck, const char *path,
                                         af_dtype store, af_error *err);

void af_checkpoint_free(af_checkpoint *ck);

/* Class names as ultralytics may store them, a list ['face'] or a dict {0: 'face'}, as the
 * JSON object {"0": "face"}. Takes ownership of j (NULL stays NULL). */
cJSON *af_names_as_object(cJSON *j);

/* The image size in training args ({"imgsz": 416} or [h, w]); 640 if absent. */
int af_train_args_imgsz(const cJSON *train_args);

/* The eps of a BN module ("model.0.bn"): bn_eps entry, else 1e-3. */
double af_checkpoint_bn_eps(const af_checkpoint *ck, const char *bn_prefix);

/* Sets ck->fused from the tensor names (no "*.bn.*" tensors and some
 * "*.conv.bias"). */
void af_checkpoint_detect_fused(af_checkpoint *ck);

#endif
