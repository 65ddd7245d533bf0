/* The work of /v1/detect and /v1/crop, on a worker: decode the upload, detect
 * with the request's options, answer with the same JSON numbers as
 * `predict --json` (cli/jsonl.c writes both) or with the zip of crops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsonl.h"
#include "io/image.h"
#include "serve/crop_zip.h"
#include "serve/state.h"

/* Status for a failed step: the client's fault (400), memory (503), else 500. */
static unsigned status_for(af_status st)
{
    switch (st) {
    case AF_E_FORMAT:
    case AF_E_UNSUPPORTED:
    case AF_E_LIMIT:
    case AF_E_ARG:
    case AF_E_IO:
        return MHD_HTTP_BAD_REQUEST;
    case AF_E_NOMEM:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static void detect_json(serve_req *r, const af_image *img, const af_detection *d, int n, double ms)
{
    const serve_config *cfg = r->srv->cfg;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        serve_reply_error(&r->reply, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        return;
    }
    fprintf(f, "{\"width\": %d, \"height\": %d, ", img->w, img->h);
    jsonl_write_detections(f, d, n, cfg->model);
    fputs(", \"model\": ", f);
    jsonl_write_string(f, cfg->model_name);
    fprintf(f, ", \"time_ms\": %.3f}\n", ms);
    if (fclose(f)) {
        free(buf);
        serve_reply_error(&r->reply, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        return;
    }
    serve_reply_take(&r->reply, MHD_HTTP_OK, "application/json", buf, len);
}

static void crop_zip(serve_req *r, const af_image *img, const af_detection *d, int n)
{
    const serve_config *cfg = r->srv->cfg;
    serve_crop_source src = {r->body.filename[0] ? r->body.filename : "image", cfg->model_name,
                             cfg->model_sha256, cfg->model};
    uint8_t *zip = NULL;
    size_t len = 0;
    af_error err = {0};
    af_status st = serve_crop_zip(img, d, n, &r->params.crop, &src, &zip, &len, &err);
    if (st) {
        serve_reply_error(&r->reply, status_for(st), "%s", err.msg);
        return;
    }
    serve_reply_take(&r->reply, MHD_HTTP_OK, "application/zip", (char *)zip, len);
    snprintf(r->reply.disposition, sizeof r->reply.disposition,
             "attachment; filename=\"crops.zip\"");
}

static void run(serve_req *r, af_context *ctx)
{
    const serve_config *cfg = r->srv->cfg;
    double t0 = serve_now();
    af_image_limits lim;
    af_image_limits_default(&lim);
    lim.max_pixels = cfg->max_pixels;
    lim.max_file_bytes = cfg->max_upload;
    af_image img = {0};
    af_error err = {0};
    const char *name = r->body.filename[0] ? r->body.filename : "upload";
    af_status st = af_image_decode(r->body.data, r->body.len, name, &lim, &img, &err);
    const af_detection *d = NULL;
    int n = 0;
    if (!st)
        st = af_detect(ctx, img.data, img.w, img.h, (size_t)img.w * img.c, AF_PIXEL_RGB,
                       &r->params.det, &d, &n, &err);
    if (st) {
        serve_reply_error(&r->reply, status_for(st), "%s", err.msg);
        if (status_for(st) == MHD_HTTP_SERVICE_UNAVAILABLE)
            r->reply.retry_after = 1;
    } else if (r->ep == EP_CROP) {
        crop_zip(r, &img, d, n);
    } else {
        detect_json(r, &img, d, n, (serve_now() - t0) * 1e3);
    }
    af_image_free(&img);
}

void serve_job_run(void *job, af_context *ctx, void *cls)
{
    serve_req *r = job;
    (void)cls;
    run(r, ctx);
    /* the body is no longer needed: give its memory back to the budget now */
    serve_body_free(&r->body);
    r->stage = STAGE_DONE;
    MHD_resume_connection(r->conn);
}
