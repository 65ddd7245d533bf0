#include "cli/jsonl.h"

void jsonl_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* %.9g round-trips every float exactly. */
void jsonl_write_detections(FILE *f, const af_detection *d, int n, const af_model *m)
{
    fputs("\"detections\": [", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"box\": [%.9g, %.9g, %.9g, %.9g], \"conf\": %.9g, \"cls\": %d, \"name\": ",
                i ? ", " : "", d[i].x1, d[i].y1, d[i].x2, d[i].y2, d[i].conf, d[i].cls);
        jsonl_write_string(f, af_model_class_name(m, d[i].cls));
        fputc('}', f);
    }
    fputc(']', f);
}

void jsonl_write_result(FILE *f, const char *image, int width, int height, const af_detection *d,
                        int n, const af_model *m)
{
    fputs("{\"image\": ", f);
    jsonl_write_string(f, image);
    fprintf(f, ", \"width\": %d, \"height\": %d, ", width, height);
    jsonl_write_detections(f, d, n, m);
    fputs("}\n", f);
    fflush(f);
}

void jsonl_write_error(FILE *f, const char *image, const char *error)
{
    fputs("{\"image\": ", f);
    jsonl_write_string(f, image);
    fputs(", \"error\": ", f);
    jsonl_write_string(f, error);
    fputs("}\n", f);
    fflush(f);
}
