/* animeface crop and manifest merge, end to end: outputs and manifest, EXIF-rotated input,
 * bad files in the batch, resume after kill -9 (nothing lost, nothing doubled), N shards
 * merged = one run, the scheduler variables, predict --resume, the calibrated threshold,
 * and a Slurm job array on a single-node Slurm started here (skipped where it cannot start).
 * The binary is $AF_CLI (set by `make test`). */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "io/image.h"
#include "testutil.h"

static char tmpdir[256];
static char buf[1 << 16];

static char *read_all(const char *path, size_t *len)
{
    return (char *)t_read_file(path, len);
}

static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = read_all(a, &na), *y = read_all(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == c;
    return n;
}

/* Crop files (not manifests or journals) of dir a and dir b: same names, same bytes;
 * no temporary files left. Returns the number of crops, -1 on a difference. */
static int same_crops(const char *a, const char *b)
{
    DIR *d = opendir(a);
    if (!d)
        return -1;
    int n = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
            continue;
        if (strstr(e->d_name, ".tmp")) {
            fprintf(stderr, "  temporary file left: %s/%s\n", a, e->d_name);
            bad = 1;
            continue;
        }
        if (!strncmp(e->d_name, "manifest", 8))
            continue;
        char pa[1024], pb[1024];
        snprintf(pa, sizeof pa, "%s/%s", a, e->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, e->d_name);
        if (!same_file(pa, pb)) {
            fprintf(stderr, "  %s differs from %s (or is missing there)\n", pa, pb);
            bad = 1;
        }
        n++;
    }
    closedir(d);
    /* and nothing in b that a lacks */
    d = opendir(b);
    int nb = 0;
    while (d && (e = readdir(d)))
        nb += e->d_name[0] != '.' && strncmp(e->d_name, "manifest", 8) && !strstr(e->d_name, ".tmp");
    if (d)
        closedir(d);
    if (nb != n) {
        fprintf(stderr, "  %s has %d crops, %s %d\n", a, n, b, nb);
        bad = 1;
    }
    return bad ? -1 : n;
}

/* 24 images: the four samples, each copied six times under other names */
static char imgs[512];

static int make_images(void)
{
    snprintf(imgs, sizeof imgs, "%s/imgs", tmpdir);
    return sh(buf, sizeof buf,
              "mkdir -p %s && for k in 0 1 2 3 4 5; do for f in samples/*.jpg; do "
              "cp \"$f\" %s/s$k-$(basename \"$f\"); done; done",
              imgs, imgs);
}

/* the uninterrupted one-process run every other run is compared with */
static char ref[512];
static const char *crop_opts = "--square --margin 0.5 --size 96 --workers 2 --threads 2 --quiet";

/* the reference run, made by test_crop_outputs (or here when that one is filtered out) */
static int ensure_ref(void)
{
    char m[600];
    snprintf(m, sizeof m, "%s/manifest.jsonl", ref);
    if (t_file_exists(m))
        return 1;
    return sh(buf, sizeof buf, "%s crop %s --out %s %s", cli(), imgs, ref, crop_opts) == 0;
}

static void test_crop_outputs(void)
{
    int rc = sh(buf, sizeof buf, "%s crop %s --out %s %s --list-empty %s/empty.txt", cli(), imgs,
                ref, crop_opts, tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK(strstr(buf, "24 images") != NULL);
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.jsonl", ref);
    char *man = read_all(path, NULL);
    REQUIRE(man);
    int lines = count_char(man, '\n');
    CHECK(lines >= 24);
    /* every record names a 96x96 crop that exists, with the keys the README lists */
    const char *keys[] = {"\"source\": ", "\"crop\": ", "\"rect\": [", "\"box\": [",
                          "\"box_in_crop\": [", "\"conf\": ", "\"cls\": 0", "\"name\": \"face\"",
                          "\"model\": ", "\"model_sha256\": \""};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        CHECK_MSG(strstr(man, keys[k]) != NULL, "no %s in the manifest", keys[k]);
    char *p = man;
    int checked = 0;
    while ((p = strstr(p, "\"crop\": \""))) {
        p += 9;
        char name[256];
        int i = 0;
        while (*p && *p != '"' && i < 255)
            name[i++] = *p++;
        name[i] = '\0';
        snprintf(path, sizeof path, "%s/%s", ref, name);
        af_image im = {0};
        af_error err = {0};
        CHECK_MSG(af_image_load(path, NULL, &im, &err) == AF_OK, "%s", err.msg);
        CHECK(im.w == 96 && im.h == 96);
        af_image_free(&im);
        checked++;
    }
    CHECK(checked == lines);
    /* the summary counts them; the journal has one line per image */
    char want[64];
    snprintf(want, sizeof want, "24 images, %d crops", lines);
    CHECK_MSG(strstr(buf, want) != NULL, "%s", buf);
    snprintf(path, sizeof path, "%s/manifest.jsonl.done", ref);
    char *journal = read_all(path, NULL);
    CHECK(journal && count_char(journal, '\n') == 24);
    free(journal);
    free(man);
    /* same command again: refused, the manifest is not appended to twice */
    rc = sh(buf, sizeof buf, "%s crop %s --out %s %s", cli(), imgs, ref, crop_opts);
    CHECK(rc == 2 && strstr(buf, "--resume") != NULL);
}

/* --pad none keeps crops inside the image; names, --name-box, --format png, --keep-tree */
static void test_crop_naming_and_formats(void)
{
    int rc = sh(buf, sizeof buf,
                "mkdir -p %s/tree/a %s/tree/b && cp samples/personai_icartoonface_detval_00346.jpg "
                "%s/tree/a/x.jpg && cp samples/personai_icartoonface_detval_00552.jpg "
                "%s/tree/b/x.jpg",
                tmpdir, tmpdir, tmpdir, tmpdir);
    REQUIRE(rc == 0);
    /* two x.jpg: refused without --keep-tree, before any work */
    rc = sh(buf, sizeof buf, "%s crop %s/tree --recursive --out %s/t1 --quiet", cli(), tmpdir,
            tmpdir);
    CHECK_MSG(rc == 2 && strstr(buf, "--keep-tree") != NULL, "rc %d: %s", rc, buf);
    rc = sh(buf, sizeof buf,
            "%s crop %s/tree --recursive --keep-tree --out %s/t2 --format png --name-box --quiet "
            "--conf 0.5 && ls -R %s/t2",
            cli(), tmpdir, tmpdir, tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK(strstr(buf, "/t2/a:") != NULL && strstr(buf, "/t2/b:") != NULL);
    CHECK(strstr(buf, "x_0_0") != NULL && strstr(buf, ".png") != NULL);
    /* kohya's numbers are the face box in the crop: tight crops (no margin) hold the
     * box edge to edge, so cx = w/2 and cy = h/2 */
    char path[600];
    snprintf(path, sizeof path, "%s/t2/manifest.jsonl", tmpdir);
    char *man = read_all(path, NULL);
    REQUIRE(man);
    const char *c = strstr(man, "\"crop\": \"a/x_0_");
    REQUIRE(c);
    int cx, cy, w, h;
    CHECK(sscanf(c, "\"crop\": \"a/x_0_%d_%d_%d_%d.png", &cx, &cy, &w, &h) == 4);
    CHECK_MSG(abs(2 * cx - w) <= 1 && abs(2 * cy - h) <= 1, "%d %d %d %d", cx, cy, w, h);
    free(man);
    /* --pad color: a wide square runs past the image, filled with the colour */
    rc = sh(buf, sizeof buf,
            "%s crop %s/tree/a --out %s/t3 --square --margin 3 --pad color:255,0,0 --format png "
            "--conf 0.5 --quiet",
            cli(), tmpdir, tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    snprintf(path, sizeof path, "%s/t3/manifest.jsonl", tmpdir);
    man = read_all(path, NULL);
    REQUIRE(man);
    long long r[4];
    c = strstr(man, "\"rect\": [");
    REQUIRE(c && sscanf(c, "\"rect\": [%lld, %lld, %lld, %lld]", &r[0], &r[1], &r[2], &r[3]) == 4);
    free(man);
    af_image src = {0}, cr = {0};
    af_error err = {0};
    snprintf(path, sizeof path, "%s/t3/x_0.png", tmpdir);
    REQUIRE(af_image_load("samples/personai_icartoonface_detval_00346.jpg", NULL, &src, &err) == 0);
    REQUIRE(af_image_load(path, NULL, &cr, &err) == AF_OK);
    CHECK(cr.w == r[2] - r[0] && cr.h == r[3] - r[1] && cr.w == cr.h);
    int outside = 0, red = 0;
    for (int y = 0; y < cr.h && cr.w == r[2] - r[0]; y += 7)
        for (int x = 0; x < cr.w; x += 7) {
            long long sx = r[0] + x, sy = r[1] + y;
            if (sx >= 0 && sy >= 0 && sx < src.w && sy < src.h)
                continue;
            const uint8_t *q = cr.data + ((size_t)y * cr.w + x) * 3;
            outside++;
            red += q[0] == 255 && q[1] == 0 && q[2] == 0;
        }
    CHECK_MSG(outside > 0 && red == outside, "%d of %d outside pixels red", red, outside);
    af_image_free(&src);
    af_image_free(&cr);
}

/* a JPEG whose EXIF says "rotate 90° clockwise" (orientation 6): crops come from the
 * upright image, in its coordinates */
static void test_crop_exif_rotated(void)
{
    size_t n;
    char *jpg = read_all("samples/personai_icartoonface_detval_00346.jpg", &n);
    REQUIRE(jpg && (unsigned char)jpg[0] == 0xff && (unsigned char)jpg[1] == 0xd8);
    unsigned char app1[] = {0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0,
                            8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/exif", tmpdir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/rot.jpg", dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fwrite(jpg, 1, 2, f);
    fwrite(app1, 1, sizeof app1, f);
    fwrite(jpg + 2, 1, n - 2, f);
    fclose(f);
    free(jpg);
    af_image up = {0};
    af_error err = {0};
    REQUIRE(af_image_load(path, NULL, &up, &err) == AF_OK);
    /* conf 0.1: the network sees the faces on their side */
    int rc = sh(buf, sizeof buf,
                "%s crop %s --out %s/out --format png --margin 0.2 --conf 0.1 --quiet", cli(), dir,
                dir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    snprintf(path, sizeof path, "%s/out/manifest.jsonl", dir);
    char *man = read_all(path, NULL);
    REQUIRE(man);
    int crops = 0;
    for (char *p = man; (p = strstr(p, "\"crop\": \"")); p++) {
        char name[128];
        long long r[4];
        REQUIRE(sscanf(p, "\"crop\": \"%127[^\"]\", \"rect\": [%lld, %lld, %lld, %lld]", name, &r[0],
                       &r[1], &r[2], &r[3]) == 5);
        /* the rectangle lies in the upright image (pad none) ... */
        CHECK(r[0] >= 0 && r[1] >= 0 && r[2] <= up.w && r[3] <= up.h);
        /* ... and the crop holds exactly its pixels */
        char cp[700];
        snprintf(cp, sizeof cp, "%s/out/%s", dir, name);
        af_image c = {0};
        REQUIRE(af_image_load(cp, NULL, &c, &err) == AF_OK);
        CHECK(c.w == r[2] - r[0] && c.h == r[3] - r[1]);
        size_t bad = 0;
        for (int y = 0; y < c.h && c.w == r[2] - r[0]; y++)
            bad += memcmp(c.data + (size_t)y * c.w * 3,
                          up.data + ((size_t)(r[1] + y) * up.w + (size_t)r[0]) * 3,
                          (size_t)c.w * 3) != 0;
        CHECK_MSG(bad == 0, "%s: %zu rows differ from the upright image", name, bad);
        af_image_free(&c);
        crops++;
    }
    CHECK(crops > 0);
    free(man);
    af_image_free(&up);
}

static void test_crop_bad_files(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bad", tmpdir);
    int rc = sh(buf, sizeof buf,
                "mkdir -p %s && cp samples/personai_icartoonface_detval_00346.jpg %s/a.jpg && "
                "head -c 3000 samples/personai_icartoonface_detval_00552.jpg > %s/b.jpg && "
                "echo hello > %s/c.jpg && cp samples/personai_icartoonface_detval_00706.jpg "
                "%s/d.jpg",
                dir, dir, dir, dir, dir);
    REQUIRE(rc == 0);
    rc = sh(buf, sizeof buf, "%s crop %s %s/missing.jpg --out %s/out --quiet", cli(), dir, dir,
            dir);
    CHECK_MSG(rc == 1, "rc %d: %s", rc, buf);
    CHECK(strstr(buf, "b.jpg") && strstr(buf, "c.jpg") && strstr(buf, "missing.jpg"));
    CHECK(strstr(buf, "3 of 5 sources failed") != NULL);
    CHECK(strstr(buf, "2 images,") != NULL); /* a.jpg and d.jpg went on */
    char path[600];
    snprintf(path, sizeof path, "%s/out/manifest.jsonl", dir);
    char *man = read_all(path, NULL);
    CHECK(man && strstr(man, "/a.jpg") && strstr(man, "/d.jpg") && !strstr(man, "/b.jpg"));
    free(man);
    /* --resume retries only the failed ones */
    rc = sh(buf, sizeof buf, "%s crop %s --out %s/out --resume", cli(), dir, dir);
    CHECK(rc == 1 && strstr(buf, "2 already done") != NULL && strstr(buf, "2 of 4 sources failed"));
}

/* starts the CLI (argv split at spaces), returns its pid */
static pid_t spawn(const char *cmdline)
{
    static char copy[4096];
    snprintf(copy, sizeof copy, "%s", cmdline);
    char *argv[64];
    int n = 0;
    for (char *t = strtok(copy, " "); t && n < 63; t = strtok(NULL, " "))
        argv[n++] = t;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int lines_in(const char *path)
{
    char *s = read_all(path, NULL);
    int n = count_char(s, '\n');
    free(s);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* kill -9 once `min_lines` lines are in `watch`; 1 if it was still running then */
static int kill_after(pid_t pid, const char *watch, int min_lines)
{
    for (int t = 0; t < 6000; t++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return 0; /* finished first */
        if (lines_in(watch) >= min_lines)
            break;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

static void test_crop_resume_after_kill(void)
{
    REQUIRE(ensure_ref());
    char out[512], cmd[2048], journal[600];
    snprintf(out, sizeof out, "%s/killed", tmpdir);
    snprintf(journal, sizeof journal, "%s/manifest.jsonl.done", out);
    int kills = 0;
    /* killed twice: after 3 images, then after 12 of the resumed run */
    for (int round = 0; round < 2; round++) {
        snprintf(cmd, sizeof cmd, "%s crop %s --out %s %s%s", cli(), imgs, out, crop_opts,
                 round ? " --resume" : "");
        pid_t pid = spawn(cmd);
        REQUIRE(pid > 0);
        kills += kill_after(pid, journal, round ? 12 : 3);
    }
    if (kills < 2)
        fprintf(stderr, "  note: a run finished before it could be killed (%d kills)\n", kills);
    CHECK(kills >= 1);
    int rc = sh(buf, sizeof buf, "%s crop %s --out %s %s --resume", cli(), imgs, out, crop_opts);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/manifest.jsonl", out);
    snprintf(b, sizeof b, "%s/manifest.jsonl", ref);
    CHECK_MSG(same_file(a, b), "the resumed manifest differs from the uninterrupted run's");
    CHECK(lines_in(journal) == 24);
    CHECK(same_crops(out, ref) > 0);
}

static void test_crop_shards_merged(void)
{
    REQUIRE(ensure_ref());
    char out[512];
    snprintf(out, sizeof out, "%s/sharded", tmpdir);
    for (int i = 0; i < 3; i++) {
        int rc = sh(buf, sizeof buf, "%s crop %s --out %s %s --shard %d/3", cli(), imgs, out,
                    crop_opts, i);
        CHECK_MSG(rc == 0, "shard %d: rc %d: %s", i, rc, buf);
    }
    int rc = sh(buf, sizeof buf,
                "%s manifest merge %s/manifest.0-of-3.jsonl %s/manifest.1-of-3.jsonl "
                "%s/manifest.2-of-3.jsonl -o %s/all.jsonl --check %s",
                cli(), out, out, out, tmpdir, imgs);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    CHECK_MSG(strstr(buf, "0 duplicated, 0 of 24 missing") != NULL, "%s", buf);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/all.jsonl", tmpdir);
    snprintf(b, sizeof b, "%s/manifest.jsonl", ref);
    CHECK_MSG(same_file(a, b), "merged shards differ from the one-process run");
    CHECK(same_crops(out, ref) > 0);
    /* every shard got some of the 24 */
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/manifest.%d-of-3.jsonl.done", out, i);
        int n = lines_in(a);
        CHECK_MSG(n > 0 && n < 24, "shard %d has %d images", i, n);
    }
    /* merge reports a shard given twice and a missing one */
    rc = sh(buf, sizeof buf,
            "%s manifest merge %s/manifest.0-of-3.jsonl %s/manifest.0-of-3.jsonl "
            "%s/manifest.1-of-3.jsonl -o %s/part.jsonl --check %s",
            cli(), out, out, out, tmpdir, imgs);
    CHECK(rc == 1 && strstr(buf, "duplicated source") != NULL && strstr(buf, "missing") != NULL);
}

/* --shard N takes I from Slurm's or Kubernetes' variables */
static void test_crop_shard_from_scheduler(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/one", tmpdir);
    int rc = sh(buf, sizeof buf, "mkdir -p %s && cp samples/personai_icartoonface_detval_00346.jpg %s/",
                dir, dir);
    REQUIRE(rc == 0);
    rc = sh(buf, sizeof buf,
            "SLURM_ARRAY_TASK_ID=6 SLURM_ARRAY_TASK_MIN=4 %s crop %s --out %s/o --shard 3 --quiet "
            "&& ls %s/o",
            cli(), dir, dir, dir);
    CHECK_MSG(rc == 0 && strstr(buf, "manifest.2-of-3.jsonl"), "rc %d: %s", rc, buf);
    rc = sh(buf, sizeof buf,
            "env -u SLURM_ARRAY_TASK_ID JOB_COMPLETION_INDEX=1 %s crop %s --out %s/o --shard 3 "
            "--quiet && ls %s/o",
            cli(), dir, dir, dir);
    CHECK_MSG(rc == 0 && strstr(buf, "manifest.1-of-3.jsonl"), "rc %d: %s", rc, buf);
    rc = sh(buf, sizeof buf,
            "env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX %s crop %s --out %s/o --shard 3",
            cli(), dir, dir);
    CHECK(rc == 2 && strstr(buf, "SLURM_ARRAY_TASK_ID") != NULL);
    rc = sh(buf, sizeof buf, "%s crop %s --out %s/o --shard 3/3", cli(), dir, dir);
    CHECK(rc == 2 && strstr(buf, "0..2") != NULL);
}

static void test_predict_resume_after_kill(void)
{
    REQUIRE(ensure_ref());
    char proj[512], cmd[2048], json[600], a[700], b[700];
    snprintf(proj, sizeof proj, "%s/pred", tmpdir);
    snprintf(json, sizeof json, "%s/killed.jsonl", proj);
    int rc = sh(buf, sizeof buf,
                "mkdir -p %s && %s predict %s --json %s/ref.jsonl --save-txt --project %s --name "
                "ref --workers 2 --threads 2 --quiet",
                proj, cli(), imgs, proj, proj);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    snprintf(cmd, sizeof cmd,
             "%s predict %s --json %s --save-txt --project %s --name k --workers 2 --threads 2 "
             "--quiet",
             cli(), imgs, json, proj);
    pid_t pid = spawn(cmd);
    REQUIRE(pid > 0);
    int killed = kill_after(pid, json, 5);
    if (!killed)
        fprintf(stderr, "  note: predict finished before it could be killed\n");
    rc = sh(buf, sizeof buf, "%s --resume", cmd);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    snprintf(a, sizeof a, "%s/ref.jsonl", proj);
    CHECK_MSG(same_file(a, json), "resumed JSON Lines differ from the uninterrupted run's");
    /* the labels: same files, same bytes */
    snprintf(a, sizeof a, "%s/ref/labels", proj);
    snprintf(b, sizeof b, "%s/k/labels", proj);
    CHECK(same_crops(a, b) > 0);
    rc = sh(buf, sizeof buf, "%s predict %s --resume", cli(), imgs);
    CHECK(rc == 2 && strstr(buf, "--json FILE") != NULL);
}

/* val --save-threshold stores the F1-optimal confidence; crop and predict default to it */
static void test_calibrated_threshold(void)
{
    const char *data = t_shared("data/icartoonface/data.yaml");
    if (!t_file_exists(data))
        SKIP("%s not found", data);
    char model[512];
    snprintf(model, sizeof model, "%s/m.safetensors", tmpdir);
    int rc = sh(buf, sizeof buf, "cp models/default.safetensors %s", model);
    REQUIRE(rc == 0);
    /* a small val set: the first 24 images of the val split */
    rc = sh(buf, sizeof buf,
            "mkdir -p %s/ds/images/val %s/ds/labels/val && d=$(dirname %s) && for f in $(ls "
            "$d/images/val | head -24); do cp $d/images/val/$f %s/ds/images/val/ && cp "
            "$d/labels/val/${f%%.*}.txt %s/ds/labels/val/ 2>/dev/null; done; printf 'val: "
            "images/val\\ntrain: images/val\\nnames:\\n  0: face\\n' > %s/ds/data.yaml",
            tmpdir, tmpdir, data, tmpdir, tmpdir, tmpdir);
    REQUIRE(rc == 0);
    rc = sh(buf, sizeof buf,
            "%s val --model %s --data %s/ds/data.yaml --save-threshold --plots=False --project "
            "%s/runs",
            cli(), model, tmpdir, tmpdir);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, buf);
    const char *p = strstr(buf, "Saved conf_threshold ");
    double saved = 0, shown = 0;
    REQUIRE(p && sscanf(p, "Saved conf_threshold %lf", &saved) == 1);
    p = strstr(buf, "F1-optimal confidence: ");
    REQUIRE(p && sscanf(p, "F1-optimal confidence: %lf", &shown) == 1);
    CHECK_NEAR(saved, shown, 5e-4);
    /* ultralytics' px = linspace(0, 1, 1000): the threshold is one of its points */
    CHECK_NEAR(saved * 999, floor(saved * 999 + 0.5), 1e-5);
    rc = sh(buf, sizeof buf, "%s info %s", cli(), model);
    char want[64];
    snprintf(want, sizeof want, "conf:       %.3f (calibrated", saved);
    CHECK_MSG(strstr(buf, want) != NULL, "%s", buf);
    rc = sh(buf, sizeof buf, "%s crop samples --out %s/thr --model %s", cli(), tmpdir, model);
    snprintf(want, sizeof want, "conf %.3g (the model's calibrated threshold)", saved);
    CHECK_MSG(rc == 0 && strstr(buf, want) != NULL, "%s", buf);
    /* predict: no box under the calibrated threshold unless --conf says so */
    rc = sh(buf, sizeof buf, "%s predict samples --model %s --json - --quiet", cli(), model);
    CHECK(rc == 0);
    double minconf = 1;
    for (p = buf; (p = strstr(p, "\"conf\": ")); p++)
        minconf = fmin(minconf, atof(p + 8));
    CHECK_MSG(minconf >= saved - 1e-6, "min conf %g < %g", minconf, saved);
    rc = sh(buf, sizeof buf, "%s val --data %s/ds/data.yaml --save-threshold --model %s", cli(),
            tmpdir, "../shared/fixtures/yolov8n_face.pt");
    CHECK(rc == 2 && strstr(buf, "export") != NULL);
}

/* ---- a single-node Slurm on localhost, in a temporary folder ---- */

static char slurm_dir[512];

static void slurm_stop(void)
{
    const char *pids[] = {"slurmd.pid", "slurmctld.pid", "munge/munged.pid"};
    for (int i = 0; i < 3; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", slurm_dir, pids[i]);
        char *s = read_all(p, NULL);
        long pid = s ? atol(s) : 0;
        free(s);
        if (pid > 1) {
            kill((pid_t)pid, SIGTERM);
            for (int t = 0; t < 100 && kill((pid_t)pid, 0) == 0; t++)
                sleep_ms(50);
        }
    }
}

/* Starts munged, slurmctld and slurmd; NULL when running, else why not. */
static const char *slurm_start(char *why, size_t cap)
{
    const char *bins[] = {"/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd",
                          "/usr/bin/sbatch", "/usr/bin/sinfo"};
    for (int i = 0; i < 5; i++)
        if (access(bins[i], X_OK) != 0) {
            snprintf(why, cap, "%s not installed (scripts/install-deps.sh installs slurm-wlm "
                               "and munge)", bins[i]);
            return why;
        }
    if (getuid() != 0) {
        snprintf(why, cap, "not root: the test runs slurmctld/slurmd/munged as root (CI does)");
        return why;
    }
    snprintf(slurm_dir, sizeof slurm_dir, "%s/slurm", tmpdir);
    int port = 20000 + (int)(getpid() % 10000) * 2;
    const char *T = slurm_dir;
    int rc = sh(buf, sizeof buf,
                "mkdir -p %s/state %s/spool %s/munge && chmod 700 %s/munge && "
                "dd if=/dev/urandom of=%s/munge/munge.key bs=1024 count=1 2>/dev/null && "
                "chmod 400 %s/munge/munge.key && /usr/sbin/munged -f --key-file=%s/munge/munge.key "
                "--socket=%s/munge/munge.sock --pid-file=%s/munge/munged.pid "
                "--log-file=%s/munge/munged.log --seed-file=%s/munge/munged.seed",
                T, T, T, T, T, T, T, T, T, T, T);
    if (rc != 0) {
        snprintf(why, cap, "munged did not start: %.300s", buf);
        return why;
    }
    char conf[800];
    snprintf(conf, sizeof conf, "%s/slurm.conf", T);
    FILE *f = fopen(conf, "w");
    if (!f) {
        snprintf(why, cap, "cannot write %s", conf);
        return why;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(f,
            "ClusterName=aftest\nSlurmctldHost=localhost(127.0.0.1)\nSlurmUser=root\n"
            "SlurmdUser=root\nSlurmctldPort=%d\nSlurmdPort=%d\nAuthType=auth/munge\n"
            "AuthInfo=socket=%s/munge/munge.sock\nCredType=cred/munge\nStateSaveLocation=%s/state\n"
            "SlurmdSpoolDir=%s/spool\nSlurmctldPidFile=%s/slurmctld.pid\n"
            "SlurmdPidFile=%s/slurmd.pid\nSlurmctldLogFile=%s/slurmctld.log\n"
            "SlurmdLogFile=%s/slurmd.log\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "SchedulerType=sched/builtin\nSelectType=select/cons_tres\n"
            "SelectTypeParameters=CR_Core\nReturnToService=2\nMpiDefault=none\n"
            "JobCompType=jobcomp/none\nJobAcctGatherType=jobacct_gather/none\n"
            "AccountingStorageType=accounting_storage/none\n"
            "NodeName=localhost NodeAddr=127.0.0.1 CPUs=%ld State=UNKNOWN\n"
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            port, port + 1, T, T, T, T, T, T, T, cpus > 0 ? cpus : 1);
    fclose(f);
    setenv("SLURM_CONF", conf, 1);
    rc = sh(buf, sizeof buf, "/usr/sbin/slurmctld -f %s && /usr/sbin/slurmd -f %s -N localhost",
            conf, conf);
    if (rc != 0) {
        snprintf(why, cap, "slurmctld/slurmd did not start: %.300s", buf);
        return why;
    }
    for (int t = 0; t < 300; t++) { /* up to 30 s for the node to come up */
        if (sh(buf, sizeof buf, "/usr/bin/sinfo -h -o %%T") == 0 && strstr(buf, "idle"))
            return NULL;
        sleep_ms(100);
    }
    sh(buf, sizeof buf, "tail -n 3 %s/slurmctld.log %s/slurmd.log", T, T);
    snprintf(why, cap, "the Slurm node did not become idle in 30 s: %.400s", buf);
    return why;
}

/* A 4-task Slurm job array, each task `crop --shard 4`; the merged manifest equals the
 * one-process run's, crop for crop (same bytes). */
static void test_slurm_array(void)
{
    REQUIRE(ensure_ref());
    char why[1024];
    if (slurm_start(why, sizeof why)) {
        slurm_stop();
        SKIP("%s", why);
    }
    char exe[4096], out[600], job[700];
    if (!realpath(cli(), exe)) {
        slurm_stop();
        REQUIRE(0);
    }
    snprintf(out, sizeof out, "%s/slurm-out", tmpdir);
    snprintf(job, sizeof job, "%s/job.sh", slurm_dir);
    FILE *f = fopen(job, "w");
    if (f) {
        fprintf(f, "#!/bin/sh\nexec %s crop %s --out %s %s --shard 4\n", exe, imgs, out, crop_opts);
        fclose(f);
    }
    int rc = sh(buf, sizeof buf,
                "cd %s && timeout 900 /usr/bin/sbatch --wait --array=0-3 --output=%s/task-%%a.log "
                "%s",
                slurm_dir, slurm_dir, job);
    CHECK_MSG(rc == 0, "sbatch: rc %d: %s", rc, buf);
    rc = sh(buf, sizeof buf,
            "%s manifest merge %s/manifest.0-of-4.jsonl %s/manifest.1-of-4.jsonl "
            "%s/manifest.2-of-4.jsonl %s/manifest.3-of-4.jsonl -o %s/slurm-all.jsonl --check %s",
            cli(), out, out, out, out, tmpdir, imgs);
    CHECK_MSG(rc == 0 && strstr(buf, "0 of 24 missing"), "merge: rc %d: %s", rc, buf);
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/slurm-all.jsonl", tmpdir);
    snprintf(b, sizeof b, "%s/manifest.jsonl", ref);
    CHECK_MSG(same_file(a, b), "the Slurm array's merged manifest differs from one process's");
    CHECK(same_crops(out, ref) > 0);
    if (t_cur_failed)
        sh(buf, sizeof buf, "cat %s/task-*.log; tail -n 5 %s/slurmctld.log", slurm_dir, slurm_dir),
            fprintf(stderr, "%s\n", buf);
    slurm_stop();
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/af_crop_cli_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(ref, sizeof ref, "%s/ref", tmpdir);
    if (make_images() != 0) {
        fprintf(stderr, "cannot copy samples: %s\n", buf);
        return 1;
    }
    RUN(test_crop_outputs);
    RUN(test_crop_naming_and_formats);
    RUN(test_crop_exif_rotated);
    RUN(test_crop_bad_files);
    RUN(test_crop_resume_after_kill);
    RUN(test_crop_shards_merged);
    RUN(test_crop_shard_from_scheduler);
    RUN(test_predict_resume_after_kill);
    RUN(test_calibrated_threshold);
    RUN(test_slurm_array);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (!getenv("AF_KEEP_TMP") && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_summary();
}
