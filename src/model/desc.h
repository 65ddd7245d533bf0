/* Model description: the ultralytics model yaml dict (as JSON) resolved into
 * concrete layers, as ultralytics 8.1.9 nn/tasks.py parse_model does (and
 * 8.3's for the YOLO11 modules C3k2 and C2PSA and its depthwise Detect head). */
#ifndef AF_MODEL_DESC_H
#define AF_MODEL_DESC_H

#include <cjson/cJSON.h>

#include "animeface.h"

#define AF_MAX_FROM 8
#define AF_MAX_LEVELS 4
#define AF_MAX_LAYERS 256

typedef enum af_module_type {
    AF_M_CONV = 0,
    AF_M_C2F,
    AF_M_C2,
    AF_M_SPPF,
    AF_M_UPSAMPLE,
    AF_M_CONCAT,
    AF_M_DETECT,
    AF_M_C3K2, /* YOLO11 (ultralytics 8.3): C2f whose blocks are Bottleneck(e=0.5) or C3k */
    AF_M_C2PSA /* YOLO11: cv1 -> split (a, b), b through n PSABlocks, cat -> cv2 */
} af_module_type;

const char *af_module_name(af_module_type t);

typedef struct af_layer_spec {
    af_module_type type;
    int from[AF_MAX_FROM]; /* absolute layer indices; -1 = the network input */
    int nfrom;
    int c1, c2;   /* input channels (of from[0]), output channels */
    int n;        /* bottleneck repeats (C2f, C2, C3k2), PSABlocks (C2PSA) */
    int k, s;     /* Conv kernel and stride; SPPF pool kernel in k */
    int shortcut; /* C2f / C2 / C3k2 bottleneck residual */
    int hidden;   /* C2f / C2 / C3k2 / C2PSA: hidden channels c = int(c2 * e) */
    int c3k;      /* C3k2: its blocks are C3k (else Bottleneck with e = 0.5) */
    int heads;    /* C2PSA: attention heads (c / 64); key_dim = (c / heads) / 2 */
    int dwhead;   /* Detect: 8.3's class branch DWConv-Conv-DWConv-Conv-Conv2d (legacy=False,
                   * set as 8.3 does: when a C3k2 precedes it) */
    int nlevels;  /* Detect: number of input levels */
    int ch[AF_MAX_LEVELS]; /* Detect: channels of each level */
} af_layer_spec;

typedef struct af_model_desc {
    int nc;
    int ch_in;
    int reg_max;
    double depth, width;
    int max_channels;
    char scale; /* 'n','s','m','l','x' or 0 */
    int nlayers;
    af_layer_spec layers[AF_MAX_LAYERS];
} af_model_desc;

/* Resolves the yaml dict. nc_override > 0 replaces yaml["nc"]. */
af_status af_model_desc_parse(const cJSON *yaml, int nc_override, af_model_desc *d, af_error *err);

/* Built-in descriptions by ultralytics file name: "yolov8n.yaml", "yolov8s-p6.yaml",
 * "yolov8x6.yaml" (renamed to -p6 as ultralytics does), "yolov8.yaml" (scale n),
 * "yolo11n.yaml" .. "yolo11x.yaml" (8.3's cfg/models/11/yolo11.yaml).
 * Returns a new cJSON dict (free with cJSON_Delete) or NULL with err set. */
cJSON *af_model_yaml_builtin(const char *name, int nc, af_error *err);



/* Number of parameters (weights, BN affine, biases, DFL), as ultralytics counts them. */
long long af_model_desc_param_count(const af_model_desc *d);

#endif
