/* Image formats beyond JPEG/PNG/WebP (issue 16): TIFF, PNM, BMP (RLE4/RLE8, bitfields,
 * every bit depth), GIF, AVIF, animated WebP. Every file in tests/fixtures/formats is
 * decoded and compared, pixel for pixel, with the pixels its reference decoded (cv2.imread
 * of OpenCV 4.6 where it reads the format, else PIL 9.4 or libavif's avifdec; see
 * gen_formats.py and manifest.txt there). Files cv2 refuses must be refused here too, with
 * one clear line. Truncated and corrupt variants of each format fail cleanly. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/dataset.h"
#include "io/image.h"
#include "testutil.h"

#define DIR "tests/fixtures/formats/"

typedef struct entry {
    char file[128], ref[32];
} entry;

static entry entries[256];
static int nentries;

static int load_manifest(void)
{
    FILE *f = fopen(DIR "manifest.txt", "r");
    if (!f)
        return 0;
    while (nentries < 256 &&
           fscanf(f, "%127s %31s", entries[nentries].file, entries[nentries].ref) == 2)
        nentries++;
    fclose(f);
    return nentries;
}

/* Decodes every manifest file whose name contains `sub` and compares it with its golden. */
static void check_group(const char *sub, int min_files)
{
    int seen = 0;
    for (int i = 0; i < nentries; i++) {
        const entry *e = &entries[i];
        if (!strstr(e->file, sub))
            continue;
        seen++;
        char path[256], golden[300];
        snprintf(path, sizeof path, DIR "%s", e->file);
        snprintf(golden, sizeof golden, DIR "%s.png", e->file);
        af_image img = {0}, g = {0};
        af_error err = {0};
        af_status st = af_image_load(path, NULL, &img, &err);
        if (!strcmp(e->ref, "fail")) {
            CHECK_MSG(st != AF_OK, "%s: cv2 refuses it, animeface decoded it", e->file);
            CHECK_MSG(st == AF_OK || (strstr(err.msg, e->file) && !strchr(err.msg, '\n')),
                      "%s: message %s", e->file, err.msg);
            af_image_free(&img);
            continue;
        }
        CHECK_MSG(st == AF_OK, "%s: %s", e->file, err.msg);
        REQUIRE(af_image_load(golden, NULL, &g, &err) == AF_OK);
        if (st == AF_OK) {
            CHECK_MSG(img.w == g.w && img.h == g.h && img.c == 3, "%s: %dx%dx%d, %s gives %dx%d",
                      e->file, img.w, img.h, img.c, e->ref, g.w, g.h);
            if (img.w == g.w && img.h == g.h && img.c == 3) {
                size_t n = (size_t)g.w * g.h * 3, bad = 0, first = 0;
                for (size_t k = 0; k < n; k++)
                    if (img.data[k] != g.data[k] && !bad++)
                        first = k;
                CHECK_MSG(bad == 0,
                          "%s: %zu of %zu bytes differ from %s (first at pixel %zu: %d vs %d)",
                          e->file, bad, n, e->ref, first / 3, img.data[first], g.data[first]);
            }
        }
        af_image_free(&img);
        af_image_free(&g);
    }
    CHECK_MSG(seen >= min_files, "only %d files matching '%s' in the manifest (want %d)", seen, sub,
              min_files);
}

static void test_tiff_vs_cv2(void) { check_group(".tif", 34); }
static void test_pnm_vs_cv2(void)
{
    check_group(".pbm", 3);
    check_group(".pgm", 5);
    check_group(".ppm", 4);
    check_group(".pnm", 1);
}
static void test_bmp_vs_cv2(void) { check_group(".bmp", 18); }
static void test_gif_vs_pil(void) { check_group(".gif", 7); }
static void test_avif_vs_avifdec(void) { check_group(".avif", 4); }
static void test_animated_webp_vs_pil(void) { check_group(".webp", 3); }

/* The lossless AVIF decodes to exactly the pixels it was encoded from (the PNG written by
 * gen_formats.py, checked there too), independent of avifdec. */
static void test_avif_lossless_is_exact(void)
{
    af_image a = {0}, b = {0};
    af_error err = {0};
    REQUIRE(af_image_load(DIR "lossless.avif", NULL, &a, &err) == AF_OK);
    REQUIRE(af_image_load(DIR "lossless.avif.png", NULL, &b, &err) == AF_OK);
    CHECK(a.w == 21 && a.h == 13 && !memcmp(a.data, b.data, (size_t)a.w * a.h * 3));
    af_image_free(&a);
    af_image_free(&b);
}

/* TIFF orientation 6 (RightTop) turns 21x13 into 13x21, like cv2. */
static void test_tiff_orientation_size(void)
{
    af_image a = {0};
    af_error err = {0};
    REQUIRE(af_image_load(DIR "orient6.tif", NULL, &a, &err) == AF_OK);
    CHECK(a.w == 13 && a.h == 21);
    af_image_free(&a);
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Cut every fixture of these kinds at several points and flip bytes in its middle: each
 * must fail with one line naming the file (or, for a flip, decode), never crash. */
static void test_truncated_and_corrupt(void)
{
    static const char *files[] = {"rgb8_strips.tif", "rgb8_tiff_lzw.tif", "rgb8_jpeg.tif",
                                  "tiled.tif",       "p6.ppm",            "p5_16bit.pgm",
                                  "p3.ppm",          "p4.pbm",            "rle8.bmp",
                                  "rle4.bmp",        "still.gif",          "interlaced.gif",
                                  "yuv420.avif",     "alpha.avif",        "anim.webp"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, DIR "%s", files[i]);
        size_t n;
        unsigned char *buf = t_read_file(src, &n);
        REQUIRE(buf);
        const char *p = tmp_path(files[i]);
        size_t cuts[] = {n / 5, n / 2, n - n / 8};
        for (int c = 0; c < 3; c++) {
            REQUIRE(write_bytes(p, buf, cuts[c]));
            af_image o = {0};
            af_error err = {0};
            af_status st = af_image_load(p, NULL, &o, &err);
            /* the ASCII PNM "p3.ppm" cut after a whole number decodes short: every cut
             * below falls mid-data, and cv2 fails those too */
            CHECK_MSG(st != AF_OK, "%s cut at %zu of %zu bytes decoded", files[i], cuts[c], n);
            CHECK_MSG(strstr(err.msg, p) && !strchr(err.msg, '\n'), "%s: %s", files[i], err.msg);
            af_image_free(&o);
        }
        for (size_t k = n / 3; k < n; k += 7)
            buf[k] ^= 0x5a;
        REQUIRE(write_bytes(p, buf, n));
        af_image o = {0};
        af_error err = {0};
        if (af_image_load(p, NULL, &o, &err) != AF_OK)
            CHECK_MSG(strstr(err.msg, p) && !strchr(err.msg, '\n'), "%s: %s", files[i], err.msg);
        af_image_free(&o);
        free(buf);
        unlink(p);
    }
}

/* Headers that claim huge sizes are refused by the limits before any pixel buffer. */
static void test_huge_headers(void)
{
    af_image o = {0};
    af_error err = {0};
    const char *pgm = "P5\n60000 60000\n255\n";
    CHECK(af_image_decode((const uint8_t *)pgm, strlen(pgm), "big.pgm", NULL, &o, &err) ==
          AF_E_LIMIT);
    /* GIF logical screen 65535x65535 */
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0,
                                  0, ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, ';'};
    CHECK(af_image_decode(gif, sizeof gif, "big.gif", NULL, &o, &err) == AF_E_LIMIT);
    CHECK_MSG(strstr(err.msg, "big.gif") && strstr(err.msg, "65535"), "%s", err.msg);
    size_t n;
    unsigned char *t = t_read_file(DIR "rgb8_strips.tif", &n);
    REQUIRE(t);
    af_image_limits lim;
    af_image_limits_default(&lim);
    lim.max_dim = 16;
    CHECK(af_image_decode(t, n, "small-limit.tif", &lim, &o, &err) == AF_E_LIMIT);
    free(t);
    t = t_read_file(DIR "lossless.avif", &n);
    REQUIRE(t);
    CHECK(af_image_decode(t, n, "small-limit.avif", &lim, &o, &err) == AF_E_LIMIT);
    CHECK_MSG(strstr(err.msg, "small-limit.avif"), "%s", err.msg);
    free(t);
    t = t_read_file(DIR "anim.webp", &n);
    REQUIRE(t);
    CHECK(af_image_decode(t, n, "small-limit.webp", &lim, &o, &err) == AF_E_LIMIT);
    free(t);
    CHECK(o.data == NULL);
}

/* ---- folder entries that are not readable image files ---- */

static int make_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd); /* the socket file stays */
    return ok;
}

static const struct special {
    const char *name, *reason;
} specials[] = {
    {"fifo.jpg", "is a FIFO (named pipe), not an image file"},
    {"dangling.jpg", "dangling symbolic link (its target does not exist)"},
    {"loop.png", "symbolic link loop"},
    {"folder.jpg", "is a directory, not an image file"},
    {"sock.jpg", "is a socket, not an image file"},
    {"device.jpg", "is a device, not an image file"},
    {"noperm.jpg", "Permission denied"},
};

/* Creates the special entries in dir; returns 0 when one cannot be made. */
static int make_specials(const char *dir)
{
    char p[512], t[512];
    int ok = 1;
    snprintf(p, sizeof p, "%s/fifo.jpg", dir);
    ok &= mkfifo(p, 0644) == 0;
    snprintf(p, sizeof p, "%s/dangling.jpg", dir);
    ok &= symlink("no-such-target.jpg", p) == 0;
    snprintf(p, sizeof p, "%s/loop.png", dir);
    ok &= symlink("loop.png", p) == 0;
    snprintf(p, sizeof p, "%s/folder.jpg", dir);
    ok &= mkdir(p, 0755) == 0;
    snprintf(p, sizeof p, "%s/sock.jpg", dir);
    ok &= make_socket(p);
    snprintf(p, sizeof p, "%s/device.jpg", dir);
    ok &= symlink("/dev/null", p) == 0;
    snprintf(p, sizeof p, "%s/noperm.jpg", dir);
    snprintf(t, sizeof t, DIR "rgb24.bmp");
    size_t n;
    unsigned char *b = t_read_file(t, &n);
    ok &= b && write_bytes(p, b, n) && chmod(p, 0) == 0;
    free(b);
    return ok;
}

static void remove_specials(const char *dir)
{
    char p[512];
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, specials[i].name);
        if (rmdir(p) != 0)
            unlink(p);
    }
}

/* af_image_load refuses each with its reason, at once (an alarm ends a hang on the FIFO).
 * As root the no-permission file is readable: that one case is skipped then. */
static void test_special_entries_load(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/load", tmpdir);
    REQUIRE(mkdir(dir, 0755) == 0);
    REQUIRE(make_specials(dir));
    alarm(30);
    int root = geteuid() == 0;
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, specials[i].name);
        af_image o = {0};
        af_error err = {0};
        af_status st = af_image_load(p, NULL, &o, &err);
        if (root && !strcmp(specials[i].name, "noperm.jpg")) {
            /* root reads any file: try it as user nobody in a child process */
            af_image_free(&o);
            chmod(tmpdir, 0755);
            chmod(dir, 0755);
            pid_t pid = fork();
            if (pid == 0) {
                if (setgid(65534) != 0 || setuid(65534) != 0)
                    _exit(2);
                st = af_image_load(p, NULL, &o, &err);
                fprintf(stderr, "  -> (as nobody) %s\n", err.msg);
                _exit(st == AF_E_IO && strstr(err.msg, p) && strstr(err.msg, "Permission denied")
                          ? 0
                          : 1);
            }
            int ws = 0;
            CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid);
            if (WIFEXITED(ws) && WEXITSTATUS(ws) == 2)
                fprintf(stderr, "  (noperm.jpg: cannot become nobody, not checked)\n");
            else
                CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "noperm.jpg as nobody");
            chmod(tmpdir, 0700);
            continue;
        }
        CHECK_MSG(st == AF_E_IO, "%s: status %d (%s)", specials[i].name, (int)st, err.msg);
        CHECK_MSG(strstr(err.msg, p) && strstr(err.msg, specials[i].reason), "%s: %s",
                  specials[i].name, err.msg);
        fprintf(stderr, "  -> %s\n", err.msg);
        af_image_free(&o);
    }
    alarm(0);
    remove_specials(dir);
    rmdir(dir);
}

/* A dataset folder (val/train): each special entry is listed and reported as a corrupt
 * image with its reason, the good image stays. */
static void test_special_entries_dataset(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/images", tmpdir);
    REQUIRE(mkdir(dir, 0755) == 0);
    REQUIRE(make_specials(dir));
    char good[400];
    snprintf(good, sizeof good, "%s/good.bmp", dir);
    size_t n;
    unsigned char *b = t_read_file(DIR "rgb24.bmp", &n);
    REQUIRE(b && write_bytes(good, b, n));
    free(b);
    alarm(30);
    af_strlist paths = {0};
    REQUIRE(af_strlist_push(&paths, dir, NULL) == AF_OK);
    af_dataset ds;
    af_dataset_opts opts = {1};
    af_error err = {0};
    REQUIRE(af_dataset_load_paths(&paths, 1, &opts, &ds, &err) == AF_OK);
    alarm(0);
    int root = geteuid() == 0;
    CHECK_MSG(ds.n == 8, "%zu items", ds.n);
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        if (root && !strcmp(specials[i].name, "noperm.jpg"))
            continue;
        int found = 0;
        for (size_t k = 0; k < ds.issues.n; k++) {
            const af_issue *is = &ds.issues.v[k];
            const char *slash = strrchr(is->file, '/');
            if (slash && !strcmp(slash + 1, specials[i].name) && is->kind == AF_ISSUE_CORRUPT &&
                strstr(is->msg, specials[i].reason))
                found = 1;
        }
        CHECK_MSG(found, "no corrupt-image issue with '%s' for %s", specials[i].reason,
                  specials[i].name);
    }
    for (size_t k = 0; k < ds.issues.n; k++)
        fprintf(stderr, "  -> %s: %s\n", ds.issues.v[k].file, ds.issues.v[k].msg);
    CHECK(ds.counts.corrupt == (size_t)(root ? 6 : 7));
    af_dataset_free(&ds);
    af_strlist_free(&paths);
    remove_specials(dir);
    unlink(good);
    rmdir(dir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/af_test_formats_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    if (!load_manifest()) {
        fprintf(stderr, "cannot read " DIR "manifest.txt\n");
        return 1;
    }
    RUN(test_tiff_vs_cv2);
    RUN(test_pnm_vs_cv2);
    RUN(test_bmp_vs_cv2);
    RUN(test_gif_vs_pil);
    RUN(test_avif_vs_avifdec);
    RUN(test_animated_webp_vs_pil);
    RUN(test_avif_lossless_is_exact);
    RUN(test_tiff_orientation_size);
    RUN(test_truncated_and_corrupt);
    RUN(test_huge_headers);
    RUN(test_special_entries_load);
    RUN(test_special_entries_dataset);
    rmdir(tmpdir);
    return t_summary();
}
