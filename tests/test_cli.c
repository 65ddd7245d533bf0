/* The animeface command: predict on files, folders, globs and lists; its
 * outputs (log lines, JSON Lines, txt labels, annotated images, crops); bad
 * files reported by name while the batch goes on; bad options refused. The
 * binary is $AF_CLI (set by `make test`). */
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "testutil.h"

static char tmpdir[256];

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Detections in JSON Lines output s whose "conf" is at least lo. */
static int count_conf_at_least(const char *s, double lo)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, "\"conf\": ")); p++)
        n += strtod(p + 8, NULL) >= lo;
    return n;
}

/* Lines that start with prefix. */
static int count_prefix(const char *s, const char *prefix)
{
    int n = 0;
    size_t k = strlen(prefix);
    for (const char *p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, k) == 0;
    return n;
}

static char buf[1 << 16];

/* A file of tmpdir as a NUL-terminated string (malloc'd), NULL when unreadable. */
static char *read_tmp_text(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    size_t len;
    char *s = (char *)t_read_file(path, &len);
    char *t = s ? realloc(s, len + 1) : NULL;
    if (!t) {
        free(s);
        return NULL;
    }
    t[len] = 0;
    return t;
}

static void test_predict_default_model_on_samples(void)
{
    /* the bundled model's training size, as `info` reports it */
    int rc = sh(buf, sizeof buf, "%s info", cli());
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    const char *p = strstr(buf, "imgsz:");
    int trained = 0;
    REQUIRE(p && sscanf(p, "imgsz: %d (trained at)", &trained) == 1 && trained >= 32);
    rc = sh(buf, sizeof buf, "%s predict samples --project %s/runs --name demo", cli(), tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK(count_prefix(buf, "image ") == 4);
    CHECK(strstr(buf, "image 1/4 ") != NULL);
    CHECK(strstr(buf, "faces, ") != NULL);
    /* default imgsz is the checkpoint's training size: the longest side of every letterboxed
     * input equals it */
    char shape[64], side[32];
    snprintf(shape, sizeof shape, "at shape (1, 3, %d, %d)", trained, trained);
    snprintf(side, sizeof side, "x%d ", trained);
    CHECK_MSG(strstr(buf, shape) != NULL || strstr(buf, side) != NULL, "imgsz %d not used: %s",
              trained, buf);
    CHECK(strstr(buf, "Speed: ") != NULL);
    /* two images at a time: the per-image times are each worker's, and the folder's own rate
     * is printed beside them; one at a time prints no such line */
    rc = sh(buf, sizeof buf,
            "%s predict samples --workers 2 --threads 2 --project %s/runs --name w2", cli(),
            tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK(count_prefix(buf, "image ") == 4);
    const char *rate = strstr(buf, "Throughput: ");
    CHECK_MSG(rate && strstr(rate, " images/s, 2 images at a time (1 compute thread each)\n"),
              "%s", buf);
    rc = sh(buf, sizeof buf, "%s predict samples --workers 1 --project %s/runs --name w1", cli(),
            tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK(strstr(buf, "Throughput: ") == NULL);
}

static void test_predict_outputs(void)
{
    int rc = sh(buf, sizeof buf,
                "%s predict model=%s source=tests/fixtures/images/test_priconne.png imgsz=640 "
                "save=True save_txt=True save_conf=True save_crop=True project=%s/runs name=out "
                "--json %s/out.jsonl",
                cli(), t_shared("fixtures/yolov8n_face.pt"), tmpdir, tmpdir);
    if (!t_file_exists(t_shared("fixtures/yolov8n_face.pt")))
        SKIP("shared fixtures not found");
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK(strstr(buf, "512x640 15 faces, ") != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/runs/out/test_priconne.png", tmpdir);
    CHECK(t_file_exists(path));
    snprintf(path, sizeof path, "%s/runs/out/labels/test_priconne.txt", tmpdir);
    size_t len = 0;
    char *txt = (char *)t_read_file(path, &len);
    REQUIRE(txt != NULL);
    txt = realloc(txt, len + 1);
    txt[len] = 0;
    CHECK(count_lines(txt, "\n") == 15);
    CHECK(strncmp(txt, "0 ", 2) == 0);
    free(txt);
    snprintf(path, sizeof path, "%s/runs/out/crops/face/test_priconne.jpg", tmpdir);
    CHECK(t_file_exists(path));
    snprintf(path, sizeof path, "%s/runs/out/crops/face/test_priconne15.jpg", tmpdir);
    CHECK(t_file_exists(path));
    snprintf(path, sizeof path, "%s/out.jsonl", tmpdir);
    char *js = (char *)t_read_file(path, &len);
    REQUIRE(js != NULL);
    js = realloc(js, len + 1);
    js[len] = 0;
    CHECK(strstr(js, "\"width\": 1432, \"height\": 1080") != NULL);
    CHECK(count_lines(js, "\"name\": \"face\"") == 15);
    /* the best box of the golden: 1025.245 463.893 1078.86 520.151, conf 0.96297 */
    CHECK(strstr(js, "\"box\": [1025.24") != NULL);
    free(js);
    /* a second run goes to out2, as ultralytics increments names */
    rc = sh(buf, sizeof buf, "%s predict tests/fixtures/images/dog.jpg --save --project %s/runs "
            "--name out --quiet", cli(), tmpdir);
    CHECK(rc == 0);
    snprintf(path, sizeof path, "%s/runs/out2/dog.jpg", tmpdir);
    CHECK(t_file_exists(path));
}

static void test_batch_goes_on_past_bad_files(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s/mixed", tmpdir);
    mkdir(d, 0777);
    char out[1 << 12];
    sh(out, sizeof out,
       "cp samples/personai_icartoonface_detval_00346.jpg %s/a_good.jpg && "
       "printf 'not an image' > %s/b_text.jpg && : > %s/c_empty.png && "
       "head -c 5000 samples/personai_icartoonface_detval_00552.jpg > %s/d_truncated.jpg && "
       "cp samples/personai_icartoonface_detval_00706.jpg %s/e_good.jpg",
       d, d, d, d, d);
    int rc = sh(buf, sizeof buf, "%s predict %s --json %s/mixed.jsonl", cli(), d, tmpdir);
    CHECK_MSG(rc == 1, "rc %d", rc);
    CHECK(strstr(buf, "a_good.jpg: ") != NULL);
    CHECK(strstr(buf, "e_good.jpg: ") != NULL);
    CHECK(strstr(buf, "b_text.jpg") != NULL);
    CHECK(strstr(buf, "c_empty.png") != NULL);
    CHECK(strstr(buf, "3 of 5 sources failed") != NULL);
    char *js = read_tmp_text("mixed.jsonl");
    REQUIRE(js != NULL);
    CHECK(count_lines(js, "\"error\": ") == 3);
    CHECK(count_lines(js, "\"detections\": ") == 2);
    free(js);
}

/* Folder entries named like images that are not readable files (issue 16): each one is
 * named in the failure summary and as a JSON Lines error record with its reason, and a
 * FIFO does not hang the run (`timeout` ends a hung command: exit 124). Formats beyond
 * IMG_FORMATS (a GIF here) are picked from folders. The no-permission entry is skipped as
 * root (root reads any file). */
static void test_predict_special_folder_entries(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s/special", tmpdir);
    mkdir(d, 0777);
    char out[1 << 12];
    int root = geteuid() == 0;
    sh(out, sizeof out,
       "cp samples/personai_icartoonface_detval_00346.jpg %s/a_good.jpg && "
       "cp tests/fixtures/formats/still.gif %s/b_still.gif && mkfifo %s/c_fifo.jpg && "
       "ln -s no_such_target.jpg %s/d_dangling.jpg && ln -s e_loop.png %s/e_loop.png && "
       "mkdir %s/f_folder.jpg && cp samples/personai_icartoonface_detval_00346.jpg %s/g_noperm.jpg && "
       "chmod 000 %s/g_noperm.jpg && ln -s /dev/null %s/h_device.webp",
       d, d, d, d, d, d, d, d, d);
    int rc = sh(buf, sizeof buf, "timeout 60 %s predict %s --json %s/special.jsonl", cli(), d,
                tmpdir);
    CHECK_MSG(rc == 1, "rc %d (124: timed out, a FIFO blocked?)\n%s", rc, buf);
    CHECK(strstr(buf, "a_good.jpg: ") != NULL);
    CHECK(strstr(buf, "b_still.gif: ") != NULL);
    CHECK_MSG(strstr(buf, "c_fifo.jpg: is a FIFO (named pipe), not an image file"), "%s", buf);
    CHECK_MSG(strstr(buf, "d_dangling.jpg: cannot open: dangling symbolic link"), "%s", buf);
    CHECK_MSG(strstr(buf, "e_loop.png: cannot open: symbolic link loop"), "%s", buf);
    CHECK_MSG(strstr(buf, "f_folder.jpg: is a directory, not an image file"), "%s", buf);
    CHECK_MSG(strstr(buf, "h_device.webp: is a device, not an image file"), "%s", buf);
    if (!root)
        CHECK_MSG(strstr(buf, "g_noperm.jpg: cannot open: Permission denied"), "%s", buf);
    else
        fprintf(stderr, "  (g_noperm.jpg: running as root, which reads any file: not checked)\n");
    int nfail = root ? 5 : 6;
    char want[64];
    snprintf(want, sizeof want, "%d of 8 sources failed", nfail);
    CHECK_MSG(strstr(buf, want), "want '%s' in:\n%s", want, buf);
    char *js = read_tmp_text("special.jsonl");
    REQUIRE(js != NULL);
    CHECK(count_lines(js, "\"error\": ") == nfail);
    CHECK(count_lines(js, "\"detections\": ") == 8 - nfail);
    CHECK(strstr(js, "c_fifo.jpg: is a FIFO (named pipe)") != NULL);
    CHECK(strstr(js, "d_dangling.jpg: cannot open: dangling symbolic link") != NULL);
    free(js);
    /* an explicit dangling symlink argument gets its reason too */
    rc = sh(buf, sizeof buf, "timeout 60 %s predict %s/d_dangling.jpg", cli(), d);
    CHECK(rc == 1);
    CHECK_MSG(strstr(buf, "d_dangling.jpg: dangling symbolic link"), "%s", buf);
    sh(out, sizeof out, "chmod 644 %s/g_noperm.jpg", d);
}

static void test_sources_globs_lists_missing(void)
{
    char list[512];
    snprintf(list, sizeof list, "%s/list.txt", tmpdir);
    FILE *f = fopen(list, "w");
    REQUIRE(f != NULL);
    fprintf(f, "samples/personai_icartoonface_detval_00346.jpg\nsamples/personai_icartoonface_detval_00880.jpg\n");
    fclose(f);
    int rc = sh(buf, sizeof buf, "%s predict %s", cli(), list);
    CHECK(rc == 0);
    CHECK(count_prefix(buf, "image ") == 2);
    rc = sh(buf, sizeof buf, "%s predict 'samples/*0.jpg'", cli());
    CHECK(rc == 0);
    CHECK(count_prefix(buf, "image ") == 1);
    rc = sh(buf, sizeof buf, "%s predict no_such_file.jpg", cli());
    CHECK(rc == 1);
    CHECK(strstr(buf, "no_such_file.jpg: does not exist") != NULL);
}

/* --precision bf16: a notice and fp32 where the CPU has no bf16 (then the
 * boxes are those of fp32, byte for byte); bf16 boxes where it has (then the
 * same faces: bf16 moves a confidence by well under 0.05, so every fp32 face
 * 0.05 above the threshold (the bundled model's 0.382) is found and none 0.05
 * below it: counted on an fp32 run at --conf 0.3, which lists those below the
 * threshold too). A bad value is refused. */
static void test_predict_precision(void)
{
    static char fp32[1 << 14], bf16[1 << 14], low[1 << 14];
    const char *args = "tests/fixtures/images/test_priconne.png --imgsz 640 --json - --quiet";
    int rc = sh(fp32, sizeof fp32, "%s predict %s", cli(), args);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, fp32);
    rc = sh(bf16, sizeof bf16, "%s predict %s --precision bf16", cli(), args);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, bf16);
    const char *notice = strstr(bf16, "notice: --precision bf16: this CPU has no bf16");
    if (notice) {
        CHECK(strstr(bf16, "running fp32") != NULL);
        const char *nl = strchr(notice, '\n');
        REQUIRE(nl != NULL);
        CHECK_MSG(strcmp(nl + 1, fp32) == 0, "fp32 fallback differs:\n%s\nvs\n%s", nl + 1, fp32);
    } else {
        rc = sh(low, sizeof low, "%s predict %s --conf 0.3", cli(), args);
        CHECK_MSG(rc == 0, "rc %d: %s", rc, low);
        const int n = count_lines(bf16, "\"name\": ");
        CHECK_MSG(n >= count_conf_at_least(low, 0.382 + 0.05) &&
                      n <= count_conf_at_least(low, 0.382 - 0.05),
                  "bf16 finds %d faces, fp32 %d above 0.432 and %d above 0.332", n,
                  count_conf_at_least(low, 0.432), count_conf_at_least(low, 0.332));
    }
    rc = sh(buf, sizeof buf, "%s predict %s --precision fp16", cli(), args);
    CHECK(rc == 1);
    CHECK(strstr(buf, "--precision must be fp32, bf16 or int8, not 'fp16'") != NULL);
}

/* --conv direct (oneDNN's kernels for every conv) and fast (Winograd
 * F(4x4,3x3)): the same faces as the default (Winograd F(2x2,3x3) on AVX2
 * CPUs). A bad value is refused. */
/* int8: a model without calibration is refused with a line that says how to
 * make one; `animeface calibrate` writes the same file twice from the same
 * images (deterministic); the calibrated model runs --precision int8 and
 * finds about the faces fp32 finds on the test image (its accuracy on the val
 * split is measured by `animeface val`, models/README.md); a missing source
 * is named. */
static void test_calibrate_int8(void)
{
    static char fp32[1 << 14], int8[1 << 14];
    const char *img = "tests/fixtures/images/test_priconne.png --imgsz 640 --json - --quiet";
    int rc = sh(buf, sizeof buf, "%s predict %s --precision int8", cli(), img);
    CHECK(rc == 1);
    CHECK_MSG(strstr(buf, "no int8 calibration") && strstr(buf, "animeface calibrate"), "%s", buf);
    for (int k = 0; k < 2; k++) {
        rc = sh(buf, sizeof buf, "%s calibrate models/default.safetensors --source "
                "tests/fixtures/images -o %s/int8_%d.safetensors --threads 2", cli(), tmpdir, k);
        CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
        CHECK(strstr(buf, "from 4 images") != NULL);
    }
    rc = sh(buf, sizeof buf, "cmp %s/int8_0.safetensors %s/int8_1.safetensors", tmpdir, tmpdir);
    CHECK_MSG(rc == 0, "calibration is not deterministic: %s", buf);
    rc = sh(fp32, sizeof fp32, "%s predict %s --model %s/int8_0.safetensors", cli(), img, tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, fp32);
    rc = sh(int8, sizeof int8, "%s predict %s --model %s/int8_0.safetensors --precision int8",
            cli(), img, tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, int8);
    /* faces near the 0.25 threshold may fall either side (19 and 20 on AVX-512 VNNI) */
    const int n32 = count_lines(fp32, "\"name\": "), n8 = count_lines(int8, "\"name\": ");
    CHECK(n32 > 0);
    CHECK_MSG(abs(n8 - n32) <= 1 + n32 / 10, "int8 found %d faces, fp32 %d", n8, n32);
    rc = sh(buf, sizeof buf, "%s calibrate models/default.safetensors --source no_such_dir -o "
            "%s/x.safetensors", cli(), tmpdir);
    CHECK(rc == 1);
    CHECK_MSG(strstr(buf, "no_such_dir") != NULL, "%s", buf);
}

static void test_predict_conv_algo(void)
{
    static char autob[1 << 14], direct[1 << 14], fast[1 << 14];
    const char *args = "tests/fixtures/images/test_priconne.png --imgsz 640 --json - --quiet";
    int rc = sh(autob, sizeof autob, "%s predict %s", cli(), args);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, autob);
    rc = sh(direct, sizeof direct, "%s predict %s --conv direct", cli(), args);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, direct);
    CHECK(count_lines(autob, "\"name\": ") > 0);
    CHECK(count_lines(direct, "\"name\": ") == count_lines(autob, "\"name\": "));
    rc = sh(fast, sizeof fast, "%s predict %s --conv fast", cli(), args);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, fast);
    CHECK(count_lines(fast, "\"name\": ") == count_lines(autob, "\"name\": "));
    rc = sh(buf, sizeof buf, "%s predict %s --conv fft", cli(), args);
    CHECK(rc == 1);
    CHECK(strstr(buf, "--conv must be auto, direct or fast, not 'fft'") != NULL);
}

static void test_bad_options(void)
{
    int rc = sh(buf, sizeof buf, "%s predict samples --conf 1.5", cli());
    CHECK(rc == 2);
    CHECK(strstr(buf, "conf") != NULL);
    rc = sh(buf, sizeof buf, "%s predict samples --frobnicate", cli());
    CHECK(rc == 2);
    CHECK(strstr(buf, "unknown option 'frobnicate'") != NULL);
    rc = sh(buf, sizeof buf, "%s predict samples --imgsz abc", cli());
    CHECK(rc == 2);
    rc = sh(buf, sizeof buf, "%s predict samples --model samples/personai_icartoonface_detval_00346.jpg", cli());
    CHECK(rc == 1);
    CHECK(strstr(buf, "personai_icartoonface_detval_00346.jpg") != NULL);
    rc = sh(buf, sizeof buf, "%s nosuchcommand", cli());
    CHECK(rc == 2);
    rc = sh(buf, sizeof buf, "%s predict --help", cli());
    CHECK(rc == 0 && strstr(buf, "--conf") != NULL);
}

/* `animeface info yolo11n.yaml`: a built-in description, counted as ultralytics 8.3's
 * model summary prints it (2,624,080 for n, 9,458,752 for s, nc=80); an unknown name is refused. */
static void test_info_description(void)
{
    int rc = sh(buf, sizeof buf, "%s info yolo11n.yaml", cli());
    CHECK_MSG(rc == 0 && strstr(buf, " 2,624,080 parameters") && strstr(buf, "scale:      n"),
              "rc %d: %s", rc, buf);
    rc = sh(buf, sizeof buf, "%s info yolo11s.yaml", cli());
    CHECK_MSG(rc == 0 && strstr(buf, " 9,458,752 parameters") && strstr(buf, "scale:      s"),
              "rc %d: %s", rc, buf);
    rc = sh(buf, sizeof buf, "%s info yolo11q.yaml", cli());
    CHECK(rc == 1 && strstr(buf, "yolo11q.yaml") != NULL);
}

/* A mid-training last.pt of ultralytics 8.3.228 (model None, weights in ema,
 * optimizer state, numpy scalars) through info and val. 355,019 parameters is
 * what ultralytics' model summary printed for it (gen_ckpt.py's log). */
static void test_mid_training_checkpoint_info_val(void)
{
    const char *ck = t_fixture("ckpt/v8_3_228_last_mid.pt");
    int rc = sh(buf, sizeof buf, "%s info %s", cli(), ck);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK_MSG(strstr(buf, " 355,019 parameters") && strstr(buf, "imgsz:      160 (trained at)") &&
                  strstr(buf, "0=face"),
              "%s", buf);
    if (!t_file_exists(t_shared("data/icartoonface/images/val")))
        SKIP("shared data not found");
    rc = sh(buf, sizeof buf,
            "ls %s | sort | head -4 | sed 's|^|%s/|' > %s/mid.txt && "
            "printf 'train: mid.txt\nval: mid.txt\nnames:\n  0: face\n' > %s/mid.yaml",
            t_shared("data/icartoonface/images/val"), t_shared("data/icartoonface/images/val"),
            tmpdir, tmpdir);
    REQUIRE(rc == 0);
    rc = sh(buf, sizeof buf, "%s val --model %s --data %s/mid.yaml --no-plots --project %s/runs",
            cli(), ck, tmpdir, tmpdir);
    CHECK_MSG(rc == 0 && strstr(buf, "all "), "rc %d: %s", rc, buf);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/animeface-test-cli-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_predict_default_model_on_samples);
    RUN(test_predict_outputs);
    RUN(test_batch_goes_on_past_bad_files);
    RUN(test_sources_globs_lists_missing);
    RUN(test_predict_special_folder_entries);
    RUN(test_predict_precision);
    RUN(test_predict_conv_algo);
    RUN(test_calibrate_int8);
    RUN(test_bad_options);
    RUN(test_mid_training_checkpoint_info_val);
    RUN(test_info_description);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_summary();
}
