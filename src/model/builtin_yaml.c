/* The ultralytics 8.1.9 YOLOv8 detect descriptions (cfg/models/v8/yolov8.yaml and
 * yolov8-p6.yaml), 8.3's YOLO11 one (cfg/models/11/yolo11.yaml), as JSON, and the
 * file-name rules that pick one. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/desc.h"

static const char yolov8_json[] =
    "{\"nc\":80,\"scales\":{\"n\":[0.33,0.25,1024],\"s\":[0.33,0.50,1024],"
    "\"m\":[0.67,0.75,768],\"l\":[1.00,1.00,512],\"x\":[1.00,1.25,512]},"
    "\"backbone\":[[-1,1,\"Conv\",[64,3,2]],[-1,1,\"Conv\",[128,3,2]],[-1,3,\"C2f\",[128,true]],"
    "[-1,1,\"Conv\",[256,3,2]],[-1,6,\"C2f\",[256,true]],[-1,1,\"Conv\",[512,3,2]],"
    "[-1,6,\"C2f\",[512,true]],[-1,1,\"Conv\",[1024,3,2]],[-1,3,\"C2f\",[1024,true]],"
    "[-1,1,\"SPPF\",[1024,5]]],"
    "\"head\":[[-1,1,\"nn.Upsample\",[\"None\",2,\"nearest\"]],[[-1,6],1,\"Concat\",[1]],"
    "[-1,3,\"C2f\",[512]],[-1,1,\"nn.Upsample\",[\"None\",2,\"nearest\"]],"
    "[[-1,4],1,\"Concat\",[1]],[-1,3,\"C2f\",[256]],[-1,1,\"Conv\",[256,3,2]],"
    "[[-1,12],1,\"Concat\",[1]],[-1,3,\"C2f\",[512]],[-1,1,\"Conv\",[512,3,2]],"
    "[[-1,9],1,\"Concat\",[1]],[-1,3,\"C2f\",[1024]],[[15,18,21],1,\"Detect\",[\"nc\"]]]}";

static const char yolov8_p6_json[] =
    "{\"nc\":80,\"scales\":{\"n\":[0.33,0.25,1024],\"s\":[0.33,0.50,1024],"
    "\"m\":[0.67,0.75,768],\"l\":[1.00,1.00,512],\"x\":[1.00,1.25,512]},"
    "\"backbone\":[[-1,1,\"Conv\",[64,3,2]],[-1,1,\"Conv\",[128,3,2]],[-1,3,\"C2f\",[128,true]],"
    "[-1,1,\"Conv\",[256,3,2]],[-1,6,\"C2f\",[256,true]],[-1,1,\"Conv\",[512,3,2]],"
    "[-1,6,\"C2f\",[512,true]],[-1,1,\"Conv\",[768,3,2]],[-1,3,\"C2f\",[768,true]],"
    "[-1,1,\"Conv\",[1024,3,2]],[-1,3,\"C2f\",[1024,true]],[-1,1,\"SPPF\",[1024,5]]],"
    "\"head\":[[-1,1,\"nn.Upsample\",[\"None\",2,\"nearest\"]],[[-1,8],1,\"Concat\",[1]],"
    "[-1,3,\"C2\",[768,false]],[-1,1,\"nn.Upsample\",[\"None\",2,\"nearest\"]],"
    "[[-1,6],1,\"Concat\",[1]],[-1,3,\"C2\",[512,false]],"
    "[-1,1,\"nn.Upsample\",[\"None\",2,\"nearest\"]],[[-1,4],1,\"Concat\",[1]],"
    "[-1,3,\"C2\",[256,false]],[-1,1,\"Conv\",[256,3,2]],[[-1,17],1,\"Concat\",[1]],"
    "[-1,3,\"C2\",[512,false]],[-1,1,\"Conv\",[512,3,2]],[[-1,14],1,\"Concat\",[1]],"
    "[-1,3,\"C2\",[768,false]],[-1,1,\"Conv\",[768,3,2]],[[-1,11],1,\"Concat\",[1]],"
    "[-1,3,\"C2\",[1024,false]],[[20,23,26,29],1,\"Detect\",[\"nc\"]]]}";

static const char yolo11_json[] =
    "{\"nc\":80,\"scales\":{\"n\":[0.50,0.25,1024],\"s\":[0.50,0.50,1024],"
    "\"m\":[0.50,1.00,512],\"l\":[1.00,1.00,512],\"x\":[1.00,1.50,512]},"
    "\"backbone\":[[-1,1,\"Conv\",[64,3,2]],[-1,1,\"Conv\",[128,3,2]],"
    "[-1,2,\"C3k2\",[256,false,0.25]],[-1,1,\"Conv\",[256,3,2]],"
    "[-1,2,\"C3k2\",[512,false,0.25]],[-1,1,\"Conv\",[512,3,2]],[-1,2,\"C3k2\",[512,true]],"
    "[-1,1,\"Conv\",[1024,3,2]],[-1,2,\"C3k2\",[1024,true]],[-1,1,\"SPPF\",[1024,5]],"
    "[-1,2,\"C2PSA\",[1024]]],"
    "\"head\":[[-1,1,\"nn.Upsample\",[\"None\",2,\"nearest\"]],[[-1,6],1,\"Concat\",[1]],"
    "[-1,2,\"C3k2\",[512,false]],[-1,1,\"nn.Upsample\",[\"None\",2,\"nearest\"]],"
    "[[-1,4],1,\"Concat\",[1]],[-1,2,\"C3k2\",[256,false]],[-1,1,\"Conv\",[256,3,2]],"
    "[[-1,13],1,\"Concat\",[1]],[-1,2,\"C3k2\",[512,false]],[-1,1,\"Conv\",[512,3,2]],"
    "[[-1,10],1,\"Concat\",[1]],[-1,2,\"C3k2\",[1024,true]],"
    "[[16,19,22],1,\"Detect\",[\"nc\"]]]}";

cJSON *af_model_yaml_builtin(const char *name, int nc, af_error *err)
{
    /* stem: strip directories and a ".yaml"/".yml" suffix */
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    char stem[64];
    size_t len = strlen(base);
    if (len >= 5 && strcmp(base + len - 5, ".yaml") == 0)
        len -= 5;
    else if (len >= 4 && strcmp(base + len - 4, ".yml") == 0)
        len -= 4;
    if (len == 0 || len >= sizeof stem) {
        af_fail(err, AF_E_ARG, "%s: not a YOLOv8 model name (e.g. yolov8n.yaml)", name);
        return NULL;
    }
    memcpy(stem, base, len);
    stem[len] = '\0';
    /* "yolov8x6" -> "yolov8x-p6", as ultralytics renames old P6 names */
    if (len == 8 && strncmp(stem, "yolov8", 6) == 0 && strchr("nsmlx", stem[6]) && stem[7] == '6')
        snprintf(stem, sizeof stem, "yolov8%c-p6", base[6]);
    int v11 = strncmp(stem, "yolo11", 6) == 0; /* yolo11.yaml, yolo11n.yaml .. yolo11x.yaml */
    if (!v11 && strncmp(stem, "yolov8", 6) != 0) {
        af_fail(err, AF_E_ARG,
                "%s: not a YOLOv8 or YOLO11 model name (e.g. yolov8n.yaml, yolov8s-p6.yaml, "
                "yolo11n.yaml)",
                name);
        return NULL;
    }
    char scale = 0;
    const char *rest = stem + 6;
    if (*rest && strchr("nsmlx", *rest)) {
        scale = *rest;
        rest++;
    }
    const char *json;
    if (*rest == '\0')
        json = v11 ? yolo11_json : yolov8_json;
    else if (!v11 && strcmp(rest, "-p6") == 0)
        json = yolov8_p6_json;
    else {
        af_fail(err, AF_E_UNSUPPORTED,
                v11 ? "%s: unknown YOLO11 variant (supported: yolo11{n,s,m,l,x}.yaml)"
                    : "%s: unknown YOLOv8 variant (supported: yolov8{n,s,m,l,x}.yaml and -p6)",
                name);
        return NULL;
    }
    cJSON *d = cJSON_Parse(json);
    if (!d) {
        af_fail(err, AF_E_NOMEM, "out of memory building %s", name);
        return NULL;
    }
    if (scale) {
        char s[2] = {scale, 0};
        cJSON_AddStringToObject(d, "scale", s);
    }
    cJSON_AddStringToObject(d, "yaml_file", base);
    if (nc > 0)
        cJSON_ReplaceItemInObject(d, "nc", cJSON_CreateNumber(nc));
    return d;
}
