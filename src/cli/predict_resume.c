#include "cli/predict_resume.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/fsutil.h"
#include "cli/jsonl.h"

static int add_image(void *ud, const cJSON *rec)
{
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(rec, "image");
    return cJSON_IsString(im) && !path_set_add(ud, im->valuestring);
}

typedef struct journal_scan {
    path_set *done;    /* images in the journal */
    const char *txt;   /* label file of the image being repaired */
    const char *skip;  /* that image */
    long size;         /* its size as the last other image left it; -1: none */
} journal_scan;

static int scan_journal(void *ud, const cJSON *rec)
{
    journal_scan *j = ud;
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(rec, "image");
    const cJSON *txt = cJSON_GetObjectItemCaseSensitive(rec, "txt");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(rec, "size");
    if (!cJSON_IsString(im))
        return 0;
    if (j->done && path_set_add(j->done, im->valuestring))
        return 0;
    if (j->txt && strcmp(im->valuestring, j->skip) && cJSON_IsString(txt) &&
        !strcmp(txt->valuestring, j->txt) && cJSON_IsNumber(size))
        j->size = (long)size->valuedouble;
    return 1;
}

static void label_path(const char *save_dir, const char *image, char *out, size_t cap)
{
    char stem[1024];
    fs_stem(image, stem, sizeof stem);
    snprintf(out, cap, "%s/labels/%s.txt", save_dir, stem);
}

int predict_resume_open(predict_resume *r, int resume, const char *json_path,
                        const char *save_dir, int save_txt, char **paths, size_t n)
{
    memset(r, 0, sizeof *r);
    char jpath[4300] = "";
    if (save_txt)
        snprintf(jpath, sizeof jpath, "%s/.predict-done.jsonl", save_dir);
    if (resume) {
        const char *pre = "animeface predict --resume";
        path_set journal_done = {0};
        journal_scan js = {save_txt && !json_path ? &r->done : &journal_done, NULL, NULL, -1};
        if ((json_path && resume_scan(json_path, pre, add_image, &r->done)) ||
            (save_txt && resume_scan(jpath, pre, scan_journal, &js))) {
            path_set_free(&journal_done);
            return 1;
        }
        path_set_free(&journal_done);
        /* only the first unfinished image can have been half written (images are written
         * in order): its label file goes back to the size the journal last saw */
        for (size_t i = 0; save_txt && i < n; i++) {
            if (path_set_has(&r->done, paths[i]))
                continue;
            char txt[4400];
            label_path(save_dir, paths[i], txt, sizeof txt);
            journal_scan fix = {NULL, txt, paths[i], -1};
            if (resume_scan(jpath, pre, scan_journal, &fix))
                return 1;
            if (fix.size >= 0 ? truncate(txt, fix.size) != 0 && errno != ENOENT
                              : unlink(txt) != 0 && errno != ENOENT) {
                fprintf(stderr, "%s: cannot repair %s: %s\n", pre, txt, strerror(errno));
                return 1;
            }
            break;
        }
    }
    if (save_txt && !(r->journal = fopen(jpath, resume ? "a" : "w"))) {
        fprintf(stderr, "animeface predict: cannot write %s: %s\n", jpath, strerror(errno));
        path_set_free(&r->done);
        return 1;
    }
    return 0;
}

void predict_resume_record(predict_resume *r, const char *image, const char *txt_path)
{
    if (!r->journal)
        return;
    struct stat st;
    fputs("{\"image\": ", r->journal);
    jsonl_write_string(r->journal, image);
    if (txt_path && stat(txt_path, &st) == 0) {
        fputs(", \"txt\": ", r->journal);
        jsonl_write_string(r->journal, txt_path);
        fprintf(r->journal, ", \"size\": %lld", (long long)st.st_size);
    }
    fputs("}\n", r->journal);
    fflush(r->journal);
}

void predict_resume_close(predict_resume *r)
{
    if (r->journal)
        fclose(r->journal);
    path_set_free(&r->done);
    memset(r, 0, sizeof *r);
}
