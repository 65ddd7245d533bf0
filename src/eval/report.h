/*
 * The results of a detection val as ultralytics 8.1.9 prints them
 * (DetectionValidator.get_desc / print_results, BaseValidator's speed line),
 * and as a JSON object.
 */
#ifndef AF_EVAL_REPORT_H
#define AF_EVAL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "animeface.h"
#include "eval/val_stats.h"

/* ("%22s" + "%11s" * 6) % ("Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)")
 * Returns the snprintf length. */
int af_report_header(char *buf, size_t cap);
/* ("%22s" + "%11i" * 2 + "%11.3g" * 4) % (name, images, instances, p, r, map50, map) */
int af_report_row(char *buf, size_t cap, const char *name, int images, int64_t instances,
                  double p, double r, double map50, double map);
/* "Speed: %.1fms preprocess, %.1fms inference, %.1fms loss, %.1fms postprocess per image" */
int af_report_speed(char *buf, size_t cap, double preprocess_ms, double inference_ms,
                    double loss_ms, double postprocess_ms);

/* The printed table: header, the "all" row and, when nc > 1, one row per class
 * with labels (print_results with verbose). Lines end with '\n'. names: nc class
 * names, or NULL (class ids are printed). *text is malloc'd. The caller prints
 * ultralytics' warning itself when m->instances == 0:
 * "WARNING ⚠️ no labels found in detect set, can not compute metrics without labels". */
af_status af_report_table(const af_val_metrics *m, const char *const *names, char **text,
                          af_error *err);

typedef struct af_val_speed {
    double preprocess, inference, loss, postprocess; /* ms per image */
} af_val_speed;

/* {"images", "instances", "P", "R", "mAP50", "mAP50-95", "fitness",
 *  "classes": [{"name", "images", "instances", "P", "R", "mAP50", "mAP50-95"}],
 *  "speed_ms": {"preprocess", "inference", "loss", "postprocess"}}
 * classes: one entry per class with labels (ap_class_index order). speed NULL:
 * "speed_ms" is an empty object for the caller to fill. */
af_status af_val_metrics_to_json(const af_val_metrics *m, const char *const *names,
                                 const af_val_speed *speed, cJSON **out, af_error *err);

#endif
