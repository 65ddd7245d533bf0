#include "cli/crop_write.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/fsutil.h"
#include "cli/jsonl.h"

/* data -> DIR/.NAME.tmp -> DIR/NAME: a reader (or a resumed run) never sees half a file */
static int write_atomic(const char *final, const uint8_t *data, size_t len, char *msg, size_t cap)
{
    char tmp[8400];
    const char *slash = strrchr(final, '/');
    size_t dl = slash ? (size_t)(slash - final + 1) : 0;
    snprintf(tmp, sizeof tmp, "%.*s.%s.tmp", (int)dl, final, final + dl);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(msg, cap, "cannot write %s: %s", tmp, strerror(errno));
        return 1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(msg, cap, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return 1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, final) != 0) {
        snprintf(msg, cap, "cannot write %s: %s", final, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

static long round_half_up(double v)
{
    return (long)floor(v + 0.5);
}

/* One crop: pixels, resize, encode, write; its record into rec. */
static int one_crop(const crop_cfg *c, const char *source, const char *base, int k,
                    const af_image *img, const af_detection *det, FILE *rec, char *msg, size_t cap)
{
    const float box[4] = {det->x1, det->y1, det->x2, det->y2};
    int64_t rect[4];
    af_error err = {0};
    af_image px = {0}, out = {0};
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    int rc = 1;
    if (af_face_crop_rect(box, img->w, img->h, &c->geo, rect, &err) ||
        af_face_crop_pixels(img, rect, &c->geo, &px, &err))
        goto fail;
    if (c->size_w > 0) {
        if (af_face_crop_resize(&px, c->size_w, c->size_h, c->no_upscale, &out, &err))
            goto fail;
        af_image_free(&px);
    } else {
        out = px;
        px = (af_image){0};
    }
    double bc[4];
    af_face_box_in_crop(box, rect, out.w, out.h, bc);
    char name[5400], path[8400];
    if (c->name_box)
        snprintf(name, sizeof name, "%s_%d_%04ld_%04ld_%04ld_%04ld.%s", base, k,
                 round_half_up((bc[0] + bc[2]) / 2), round_half_up((bc[1] + bc[3]) / 2),
                 round_half_up(bc[2] - bc[0]), round_half_up(bc[3] - bc[1]), c->ext);
    else
        snprintf(name, sizeof name, "%s_%d.%s", base, k, c->ext);
    snprintf(path, sizeof path, "%s/%s", c->out_dir, name);
    if (c->keep_tree && strchr(name, '/')) {
        char dir[8400];
        snprintf(dir, sizeof dir, "%s", path);
        *strrchr(dir, '/') = '\0';
        if (fs_mkdirs(dir)) {
            snprintf(msg, cap, "cannot create %s", dir);
            goto done;
        }
    }
    const char *fmt = !strcmp(c->ext, "jpg") ? "jpeg" : c->ext;
    if (af_image_encode(&out, fmt, c->quality, &enc, &enc_len, &err))
        goto fail;
    if (write_atomic(path, enc, enc_len, msg, cap))
        goto done;
    fputs("{\"source\": ", rec);
    jsonl_write_string(rec, source);
    fputs(", \"crop\": ", rec);
    jsonl_write_string(rec, name);
    fprintf(rec,
            ", \"rect\": [%lld, %lld, %lld, %lld], \"box\": [%.9g, %.9g, %.9g, %.9g], "
            "\"box_in_crop\": [%.9g, %.9g, %.9g, %.9g], \"size\": [%d, %d], \"conf\": %.9g, "
            "\"cls\": %d, \"name\": ",
            (long long)rect[0], (long long)rect[1], (long long)rect[2], (long long)rect[3],
            box[0], box[1], box[2], box[3], bc[0], bc[1], bc[2], bc[3], out.w, out.h, det->conf,
            det->cls);
    jsonl_write_string(rec, af_model_class_name(c->m, det->cls));
    fputs(", \"model\": ", rec);
    jsonl_write_string(rec, c->model_name);
    fprintf(rec, ", \"model_sha256\": \"%s\"}\n", c->model_sha256);
    rc = 0;
    goto done;
fail:
    snprintf(msg, cap, "%s", err.msg);
done:
    free(enc);
    af_image_free(&px);
    af_image_free(&out);
    return rc;
}

void crop_image(const crop_cfg *c, const char *source, const char *base, const af_image *img,
                const af_detection *d, int nd, crop_result *r)
{
    memset(r, 0, sizeof *r);
    int *keep = malloc((size_t)(nd > 0 ? nd : 1) * sizeof *keep);
    FILE *rec = open_memstream(&r->records, &r->len);
    if (!keep || !rec) {
        snprintf(r->msg, sizeof r->msg, "out of memory");
        r->failed = 1;
        free(keep);
        if (rec)
            fclose(rec);
        return;
    }
    int n = af_face_select(d, nd, img->w, img->h, &c->sel, keep);
    for (int k = 0; k < n && !r->failed; k++)
        r->failed = one_crop(c, source, base, k, img, &d[keep[k]], rec, r->msg, sizeof r->msg);
    r->ncrops = n;
    free(keep);
    if (fclose(rec) != 0 && !r->failed) {
        snprintf(r->msg, sizeof r->msg, "out of memory");
        r->failed = 1;
    }
}
