/* The val results table and JSON (ultralytics 8.1.9 print format). */
#include "eval/report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int af_report_header(char *buf, size_t cap)
{
    return snprintf(buf, cap, "%22s%11s%11s%11s%11s%11s%11s", "Class", "Images", "Instances",
                    "Box(P", "R", "mAP50", "mAP50-95)");
}

int af_report_row(char *buf, size_t cap, const char *name, int images, int64_t instances,
                  double p, double r, double map50, double map)
{
    return snprintf(buf, cap, "%22s%11d%11" PRId64 "%11.3g%11.3g%11.3g%11.3g", name, images,
                    instances, p, r, map50, map);
}

int af_report_speed(char *buf, size_t cap, double preprocess_ms, double inference_ms,
                    double loss_ms, double postprocess_ms)
{
    return snprintf(buf, cap,
                    "Speed: %.1fms preprocess, %.1fms inference, %.1fms loss, %.1fms "
                    "postprocess per image",
                    preprocess_ms, inference_ms, loss_ms, postprocess_ms);
}

static const char *class_name(const char *const *names, int cls, char *tmp, size_t cap)
{
    if (names && names[cls])
        return names[cls];
    snprintf(tmp, cap, "%d", cls);
    return tmp;
}

/* appends one line (formatted by the caller into line) to the growing text */
static int append_line(char **text, size_t *len, size_t *cap, const char *line)
{
    size_t n = strlen(line);
    if (*len + n + 2 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (*len + n + 2 > c)
            c *= 2;
        char *t = realloc(*text, c);
        if (!t)
            return -1;
        *text = t;
        *cap = c;
    }
    memcpy(*text + *len, line, n);
    *len += n;
    (*text)[(*len)++] = '\n';
    (*text)[*len] = '\0';
    return 0;
}

af_status af_report_table(const af_val_metrics *m, const char *const *names, char **text,
                          af_error *err)
{
    *text = NULL;
    size_t len = 0, cap = 0;
    char *out = NULL;
    /* a class name may be long: size the line for it */
    size_t longest = 0;
    for (size_t i = 0; names && i < m->nrows; i++)
        if (names[m->rows[i].cls] && strlen(names[m->rows[i].cls]) > longest)
            longest = strlen(names[m->rows[i].cls]);
    size_t lcap = longest + 256;
    char *line = malloc(lcap);
    char tmp[32];
    int bad = !line;
    if (!bad) {
        af_report_header(line, lcap);
        bad |= append_line(&out, &len, &cap, line);
        af_report_row(line, lcap, "all", m->images, m->instances, m->p, m->r, m->map50, m->map);
        bad |= append_line(&out, &len, &cap, line);
    }
    if (!bad && m->nc > 1)
        for (size_t i = 0; i < m->nrows && !bad; i++) {
            const af_val_class_row *row = &m->rows[i];
            af_report_row(line, lcap, class_name(names, row->cls, tmp, sizeof tmp), row->images,
                          row->instances, row->p, row->r, row->map50, row->map);
            bad |= append_line(&out, &len, &cap, line);
        }
    free(line);
    if (bad) {
        free(out);
        return af_fail(err, AF_E_NOMEM, "val report: out of memory");
    }
    *text = out;
    return AF_OK;
}

af_status af_val_metrics_to_json(const af_val_metrics *m, const char *const *names,
                                 const af_val_speed *speed, cJSON **out, af_error *err)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *classes = cJSON_CreateArray();
    cJSON *sp = cJSON_CreateObject();
    int bad = !o || !classes || !sp;
    if (!bad) {
        bad |= !cJSON_AddNumberToObject(o, "images", m->images);
        bad |= !cJSON_AddNumberToObject(o, "instances", (double)m->instances);
        bad |= !cJSON_AddNumberToObject(o, "P", m->p);
        bad |= !cJSON_AddNumberToObject(o, "R", m->r);
        bad |= !cJSON_AddNumberToObject(o, "mAP50", m->map50);
        bad |= !cJSON_AddNumberToObject(o, "mAP50-95", m->map);
        bad |= !cJSON_AddNumberToObject(o, "fitness", m->fitness);
    }
    char tmp[32];
    for (size_t i = 0; !bad && i < m->nrows; i++) {
        const af_val_class_row *row = &m->rows[i];
        cJSON *c = cJSON_CreateObject();
        if (!c || !cJSON_AddItemToArray(classes, c)) {
            cJSON_Delete(c);
            bad = 1;
            break;
        }
        bad |= !cJSON_AddStringToObject(c, "name", class_name(names, row->cls, tmp, sizeof tmp));
        bad |= !cJSON_AddNumberToObject(c, "images", row->images);
        bad |= !cJSON_AddNumberToObject(c, "instances", (double)row->instances);
        bad |= !cJSON_AddNumberToObject(c, "P", row->p);
        bad |= !cJSON_AddNumberToObject(c, "R", row->r);
        bad |= !cJSON_AddNumberToObject(c, "mAP50", row->map50);
        bad |= !cJSON_AddNumberToObject(c, "mAP50-95", row->map);
    }
    if (!bad && speed) {
        bad |= !cJSON_AddNumberToObject(sp, "preprocess", speed->preprocess);
        bad |= !cJSON_AddNumberToObject(sp, "inference", speed->inference);
        bad |= !cJSON_AddNumberToObject(sp, "loss", speed->loss);
        bad |= !cJSON_AddNumberToObject(sp, "postprocess", speed->postprocess);
    }
    if (!bad) {
        bad |= !cJSON_AddItemToObject(o, "classes", classes);
        if (!bad)
            classes = NULL;
        bad |= !cJSON_AddItemToObject(o, "speed_ms", sp);
        if (!bad)
            sp = NULL;
    }
    if (bad) {
        cJSON_Delete(o);
        cJSON_Delete(classes);
        cJSON_Delete(sp);
        return af_fail(err, AF_E_NOMEM, "val metrics json: out of memory");
    }
    *out = o;
    return AF_OK;
}
