/* YOLO datasets as ultralytics 8.1.9 reads them (src/data): data.yaml, image lists, label
 * rules, the split and convert tools. Synthetic datasets are built in a mkdtemp folder;
 * expected values are written by hand (or, for Python's str()/"%g" of a float, printed once
 * by python3 from the same formula). The real icartoonface set is used when present. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "cli_run.h"
#include "testutil.h"

static char g_tmp[512];

static const char *tp(const char *rel)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, rel);
    return buf[k];
}

static void mkdirs(const char *path)
{
    char b[1024];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(b, 0777);
            *p = '/';
        }
    mkdir(b, 0777);
}

/* Writes tmp/rel (parents created). */
static void put(const char *rel, const char *text)
{
    const char *p = tp(rel);
    char d[1024];
    snprintf(d, sizeof d, "%s", p);
    *strrchr(d, '/') = '\0';
    mkdirs(d);
    FILE *f = fopen(p, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", p);
        return;
    }
    fputs(text, f);
    fclose(f);
}

static void putb(const char *rel, const unsigned char *b, size_t n)
{
    put(rel, "");
    FILE *f = fopen(tp(rel), "wb");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
}

static char *slurp(const char *path)
{
    size_t n;
    unsigned char *b = t_read_file(path, &n);
    if (!b)
        return NULL;
    char *s = malloc(n + 1);
    memcpy(s, b, n);
    s[n] = '\0';
    free(b);
    return s;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void fresh_tmp(void)
{
    if (g_tmp[0])
        nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/af_test_dataset_XXXXXX");
    if (!mkdtemp(g_tmp))
        fprintf(stderr, "mkdtemp failed: %s\n", strerror(errno));
}

static const af_dataset_item *find_item(const af_dataset *ds, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < ds->n; i++) {
        size_t n = strlen(ds->items[i].image);
        if (n >= sl && !strcmp(ds->items[i].image + n - sl, suffix))
            return &ds->items[i];
    }
    return NULL;
}

/* An issue whose file ends with file_suffix, on line, with msg containing text. */
static int has_issue(const af_dataset *ds, const char *file_suffix, int line, const char *text,
                     af_issue_kind kind)
{
    size_t sl = strlen(file_suffix);
    for (size_t i = 0; i < ds->issues.n; i++) {
        const af_issue *is = &ds->issues.v[i];
        size_t n = strlen(is->file);
        if (n >= sl && !strcmp(is->file + n - sl, file_suffix) && is->line == line &&
            strstr(is->msg, text) && is->kind == kind)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ icartoonface */

static void test_icartoonface(void)
{
    const char *y = t_shared("data/icartoonface/data.yaml");
    if (!t_file_exists(y))
        SKIP("%s absent", y);
    af_data_config cfg;
    af_error err = {0};
    REQUIRE(af_data_config_load(y, &cfg, &err) == AF_OK);
    CHECK(cfg.nc == 1);
    CHECK(!strcmp(cfg.names[0], "face"));
    CHECK(cfg.train.n == 1 && cfg.val.n == 1 && cfg.test.n == 0);
    CHECK(strstr(cfg.val.v[0], "/icartoonface/images/val") != NULL);
    af_dataset_opts o = {1};
    af_dataset tr, va;
    REQUIRE(af_dataset_load(&cfg, "train", &o, &tr, &err) == AF_OK);
    CHECK(tr.counts.images == 2525);
    CHECK(tr.counts.corrupt == 0);
    af_dataset_free(&tr);
    REQUIRE(af_dataset_load(&cfg, "val", &o, &va, &err) == AF_OK);
    CHECK(va.counts.images == 671);
    CHECK_MSG(va.counts.instances == 1205, "val instances %zu (ultralytics: 1205)", va.counts.instances);
    CHECK(va.counts.found == 671 && va.counts.backgrounds == 0 && va.counts.corrupt == 0);
    CHECK(va.issues.n == 0);
    /* every label read: compare each box with an independent sscanf of the file */
    size_t boxes = 0, mism = 0;
    for (size_t i = 0; i < va.n; i++) {
        const af_dataset_item *it = &va.items[i];
        CHECK(strstr(it->label, "/labels/val/") != NULL);
        if (i > 0)
            CHECK(strcmp(va.items[i - 1].image, it->image) < 0);
        FILE *f = fopen(it->label, "r");
        if (!f) {
            mism++;
            continue;
        }
        int c, k = 0;
        float v[4];
        while (fscanf(f, "%d %f %f %f %f", &c, &v[0], &v[1], &v[2], &v[3]) == 5) {
            if (k >= it->lb.n || it->lb.cls[k] != c || memcmp(v, it->lb.xywhn + 4 * k, sizeof v))
                mism++;
            k++;
        }
        fclose(f);
        if (k != it->lb.n)
            mism++;
        boxes += (size_t)k;
    }
    CHECK(boxes == 1205);
    CHECK(mism == 0);
    af_dataset_free(&va);
    af_data_config_free(&cfg);
}

/* ------------------------------------------------------------------ paths */

static void test_img2label_and_formats(void)
{
    char *a = af_img2label_path("/d/images/x/images/a.b.jpg");
    CHECK(a && !strcmp(a, "/d/images/x/labels/a.b.txt"));
    free(a);
    a = af_img2label_path("/flat/pic.PNG");
    CHECK(a && !strcmp(a, "/flat/pic.txt"));
    free(a);
    a = af_img2label_path("/d.v1/img"); /* rsplit(".", 1) on the whole path, as ultralytics */
    CHECK(a && !strcmp(a, "/d.txt"));
    free(a);
    CHECK(af_is_img_format("a.JPG") && af_is_img_format("x/y.webp") && af_is_img_format("t.tiff"));
    CHECK(!af_is_img_format("a.gif") && !af_is_img_format("a.jpg ") && !af_is_img_format("a"));
    CHECK(af_is_img_format("jpg")); /* "jpg".split(".")[-1] is "jpg" */
    char *r = NULL;
    af_error err = {0};
    CHECK(af_path_resolve("/a/b", "../c/./d//e", &r, &err) == AF_OK && r && !strcmp(r, "/a/c/d/e"));
    free(r);
    CHECK(af_path_resolve("/x", "/abs/y/..", &r, &err) == AF_OK && r && !strcmp(r, "/abs"));
    free(r);
}

static void test_image_list_rules(void)
{
    fresh_tmp();
    put("ds/images/train/b.jpg", "");
    put("ds/images/train/a.PNG", "");
    put("ds/images/train/sub/c.webp", "");
    put("ds/images/train/.hidden.jpg", "");
    put("ds/images/train/.cache/d.jpg", "");
    put("ds/images/train/notes.txt", "");
    put("ds/images/train/README", "");
    put("ds/images/train/anim.gif", "");
    af_strlist paths = {0}, imgs = {0};
    af_error err = {0};
    af_strlist_push(&paths, tp("ds/images/train"), &err);
    REQUIRE(af_image_list_collect(&paths, &imgs, &err) == AF_OK);
    CHECK(imgs.n == 3);
    if (imgs.n == 3) {
        CHECK(!strcmp(imgs.v[0], tp("ds/images/train/a.PNG")));
        CHECK(!strcmp(imgs.v[1], tp("ds/images/train/b.jpg")));
        CHECK(!strcmp(imgs.v[2], tp("ds/images/train/sub/c.webp")));
    }
    af_strlist_free(&imgs);
    /* a .txt list: "./" lines relative to the list's folder, absolute lines as written,
     * non-image lines dropped, surrounding whitespace of the whole text stripped */
    char list[2048];
    snprintf(list, sizeof list, "\n  ./images/train/b.jpg\n%s\n./images/train/notes.txt\n\n./x.gif\n",
             tp("ds/images/train/sub/c.webp"));
    put("ds/train.txt", list);
    af_strlist_free(&paths);
    af_strlist_push(&paths, tp("ds/train.txt"), &err);
    REQUIRE(af_image_list_collect(&paths, &imgs, &err) == AF_OK);
    CHECK(imgs.n == 2);
    if (imgs.n == 2) {
        CHECK(!strcmp(imgs.v[0], tp("ds/images/train/b.jpg")));
        CHECK(!strcmp(imgs.v[1], tp("ds/images/train/sub/c.webp")));
    }
    af_strlist_free(&imgs);
    /* str.replace("./", parent) replaces every "./" of a line that starts with "./" */
    put("ds/odd.txt", "./a./b.jpg\n");
    af_strlist_free(&paths);
    af_strlist_push(&paths, tp("ds/odd.txt"), &err);
    REQUIRE(af_image_list_collect(&paths, &imgs, &err) == AF_OK);
    char want[2048];
    snprintf(want, sizeof want, "%s/a%s/b.jpg", tp("ds"), tp("ds"));
    CHECK(imgs.n == 1 && !strcmp(imgs.v[0], want));
    af_strlist_free(&imgs);
    /* missing path / no images */
    af_strlist_free(&paths);
    af_strlist_push(&paths, tp("ds/images/nope"), &err);
    CHECK(af_image_list_collect(&paths, &imgs, &err) == AF_E_IO && strstr(err.msg, "does not exist"));
    af_strlist_free(&imgs);
    af_strlist_free(&paths);
    put("ds/empty/readme.md", "");
    af_strlist_push(&paths, tp("ds/empty"), &err);
    CHECK(af_image_list_collect(&paths, &imgs, &err) == AF_E_IO && strstr(err.msg, "no images"));
    af_strlist_free(&imgs);
    af_strlist_free(&paths);
}

/* ------------------------------------------------------------------ labels */

static void build_rules_dataset(void)
{
    static const char *const imgs[] = {"ok",   "one",  "cols", "cls",  "neg",  "big",  "dup",
                                       "miss", "empty", "blank", "seg", "segodd", "frac", "word",
                                       "crlf", "spmid", "nanc"};
    for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "r/images/train/%s.jpg", imgs[i]);
        put(p, "");
    }
    put("r/labels/train/ok.txt", "0 0.5 0.5 0.2 0.2\n0 0.25 0.25 0.1 0.1\n");
    put("r/labels/train/one.txt", "0 1 1 1 1");
    put("r/labels/train/cols.txt", "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n");
    put("r/labels/train/cls.txt", "0 0.5 0.5 0.2 0.2\n\n1 0.5 0.5 0.2 0.2\n");
    put("r/labels/train/neg.txt", "0 -0.1 0.5 0.2 0.2\n");
    put("r/labels/train/big.txt", "0 0.5 1.5 0.2 0.2\n");
    put("r/labels/train/dup.txt", "0 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.1 0.1\n0 0.5 0.5 0.2 0.2\n");
    /* miss: no label file */
    put("r/labels/train/empty.txt", "");
    put("r/labels/train/blank.txt", "  \n\n");
    put("r/labels/train/seg.txt", "0 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n");
    put("r/labels/train/segodd.txt", "0 0.1 0.2 0.3 0.2 0.3 0.6 0.1\n");
    put("r/labels/train/frac.txt", "0.5 0.5 0.5 0.2 0.2\n");
    put("r/labels/train/word.txt", "0 abc 0.5 0.2 0.2\n");
    put("r/labels/train/crlf.txt", "0 0.5 0.5 0.2 0.2\r\n0 0.5 0.5 0.2 0.3\r\n");
    put("r/labels/train/spmid.txt", "0 0.5 0.5 0.2 0.2\n   \n0 0.1 0.1 0.1 0.1\n");
    put("r/labels/train/nanc.txt", "nan 0.5 0.5 0.2 0.2\n");
    put("r/images/val/v.jpg", "");
    put("r/data.yaml", "train: images/train\nval: images/val\nnames: [face]\n");
}

static void test_label_rules(void)
{
    fresh_tmp();
    build_rules_dataset();
    af_data_config cfg;
    af_error err = {0};
    REQUIRE(af_data_config_load(tp("r/data.yaml"), &cfg, &err) == AF_OK);
    af_dataset ds;
    REQUIRE(af_dataset_load(&cfg, "train", NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 17);
    const af_dataset_item *it;
    it = find_item(&ds, "/ok.jpg");
    REQUIRE(it);
    CHECK(it->state == AF_LABEL_FOUND && it->lb.n == 2);
    if (it->lb.n == 2) { /* order kept when nothing is removed */
        CHECK(it->lb.cls[0] == 0 && it->lb.xywhn[0] == 0.5f && it->lb.xywhn[4] == 0.25f);
        CHECK(it->lb.xywhn[7] == 0.1f);
    }
    CHECK(!strcmp(it->label, tp("r/labels/train/ok.txt")));
    it = find_item(&ds, "/one.jpg");
    CHECK(it && it->state == AF_LABEL_FOUND && it->lb.n == 1);
    it = find_item(&ds, "/cols.jpg");
    CHECK(it && it->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/cols.txt", 2, "labels require 5 columns", AF_ISSUE_CORRUPT));
    CHECK(has_issue(&ds, "labels/train/cols.txt", 2, "4 columns detected", AF_ISSUE_CORRUPT));
    it = find_item(&ds, "/cls.jpg");
    CHECK(it && it->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/cls.txt", 3, "class 1 is out of range (nc=1)", AF_ISSUE_CORRUPT));
    CHECK(find_item(&ds, "/neg.jpg")->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/neg.txt", 1, "negative label value -0.1", AF_ISSUE_CORRUPT));
    CHECK(find_item(&ds, "/big.jpg")->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/big.txt", 1, "out of bounds coordinate 1.5", AF_ISSUE_CORRUPT));
    it = find_item(&ds, "/dup.jpg");
    CHECK(it && it->state == AF_LABEL_FOUND && it->lb.n == 2);
    if (it && it->lb.n == 2) { /* np.unique order: rows sorted */
        CHECK(it->lb.xywhn[0] == 0.1f && it->lb.xywhn[4] == 0.5f);
    }
    CHECK(has_issue(&ds, "labels/train/dup.txt", 3, "duplicate of line 1", AF_ISSUE_WARNING));
    CHECK(find_item(&ds, "/miss.jpg")->state == AF_LABEL_MISSING);
    CHECK(find_item(&ds, "/empty.jpg")->state == AF_LABEL_EMPTY);
    CHECK(find_item(&ds, "/blank.jpg")->state == AF_LABEL_EMPTY);
    it = find_item(&ds, "/seg.jpg");
    CHECK(it && it->state == AF_LABEL_FOUND && it->lb.n == 1);
    if (it && it->lb.n == 1) {
        /* polygon (0.1,0.2) (0.3,0.2) (0.3,0.6) (0.1,0.6): xyxy 0.1 0.2 0.3 0.6, float32 maths */
        float x0 = 0.1f, y0 = 0.2f, x1 = 0.3f, y1 = 0.6f;
        CHECK(it->lb.xywhn[0] == (x0 + x1) / 2 && it->lb.xywhn[1] == (y0 + y1) / 2);
        CHECK(it->lb.xywhn[2] == x1 - x0 && it->lb.xywhn[3] == y1 - y0);
        CHECK_NEAR(it->lb.xywhn[1], 0.4, 1e-7);
    }
    CHECK(find_item(&ds, "/segodd.jpg")->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/segodd.txt", 1, "even number", AF_ISSUE_CORRUPT));
    CHECK(find_item(&ds, "/frac.jpg")->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/frac.txt", 1, "class 0.5 is not an integer", AF_ISSUE_CORRUPT));
    CHECK(find_item(&ds, "/word.jpg")->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/word.txt", 1, "'abc' is not a number", AF_ISSUE_CORRUPT));
    it = find_item(&ds, "/crlf.jpg");
    CHECK(it && it->state == AF_LABEL_FOUND && it->lb.n == 2);
    CHECK(find_item(&ds, "/spmid.jpg")->state == AF_LABEL_CORRUPT);
    CHECK(has_issue(&ds, "labels/train/spmid.txt", 2, "0 columns detected", AF_ISSUE_CORRUPT));
    CHECK(find_item(&ds, "/nanc.jpg")->state == AF_LABEL_CORRUPT);
    /* counts: found ok one dup seg crlf = 5; missing 1; empty 2; corrupt 10 */
    CHECK(ds.counts.images == 17);
    CHECK(ds.counts.found == 5);
    CHECK(ds.counts.missing == 1 && ds.counts.empty == 2 && ds.counts.backgrounds == 3);
    CHECK(ds.counts.corrupt == 9 + 0);
    CHECK(ds.counts.instances == 2 + 1 + 2 + 1 + 2);
    CHECK(ds.counts.duplicates == 1);
    af_dataset_free(&ds);
    /* nc = 2 makes class 1 valid */
    cfg.nc = 2;
    char **names = cfg.names;
    char *two[2] = {names[0], "other"};
    cfg.names = two;
    REQUIRE(af_dataset_load(&cfg, "train", NULL, &ds, &err) == AF_OK);
    CHECK(find_item(&ds, "/cls.jpg")->state == AF_LABEL_FOUND);
    af_dataset_free(&ds);
    cfg.names = names;
    cfg.nc = 1;
    af_data_config_free(&cfg);
}

static void test_py_float(void)
{
    double v;
    CHECK(!af_parse_py_float("1e-3", 4, &v) && v == 1e-3);
    CHECK(!af_parse_py_float(".5", 2, &v) && v == 0.5);
    CHECK(!af_parse_py_float("5.", 2, &v) && v == 5.0);
    CHECK(!af_parse_py_float("+2E+2", 5, &v) && v == 200.0);
    CHECK(!af_parse_py_float("-Infinity", 9, &v) && isinf(v) && v < 0);
    CHECK(!af_parse_py_float("NaN", 3, &v) && isnan(v));
    CHECK(af_parse_py_float("0x10", 4, &v));
    CHECK(af_parse_py_float("e5", 2, &v));
    CHECK(af_parse_py_float("1e", 2, &v));
    CHECK(af_parse_py_float("--1", 3, &v));
    CHECK(af_parse_py_float(".", 1, &v));
    CHECK(af_parse_py_float("", 0, &v));
    /* repr() as python3 prints it */
    static const struct {
        double v;
        const char *s;
    } r[] = {{0.1, "0.1"},
             {1e16, "1e+16"},
             {1e15, "1000000000000000.0"},
             {0.0001, "0.0001"},
             {0.00001, "1e-05"},
             {1.5, "1.5"},
             {0.1 + 0.2, "0.30000000000000004"},
             {123.0, "123.0"},
             {-2.5e-7, "-2.5e-07"},
             {5e-324, "5e-324"},
             {1.7976931348623157e308, "1.7976931348623157e+308"},
             {12345678901234567890.0, "1.2345678901234567e+19"},
             {0.0, "0.0"}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        char b[64];
        af_py_float_repr(r[i].v, b, sizeof b);
        CHECK_MSG(!strcmp(b, r[i].s), "repr %s, want %s", b, r[i].s);
    }
}

/* ------------------------------------------------------------------ data.yaml */

static int load_yaml_text(const char *text, af_data_config *cfg, af_error *err)
{
    put("y/data.yaml", text);
    return af_data_config_load(tp("y/data.yaml"), cfg, err);
}

static void test_yaml_names(void)
{
    fresh_tmp();
    put("y/images/train/a.jpg", "");
    put("y/images/val/b.jpg", "");
    af_data_config c;
    af_error err = {0};
    REQUIRE(load_yaml_text("train: images/train\nval: images/val\nnames: [cat, dog]\n", &c, &err) == AF_OK);
    CHECK(c.nc == 2 && !strcmp(c.names[0], "cat") && !strcmp(c.names[1], "dog"));
    CHECK(!strcmp(c.root, tp("y")));
    CHECK(!strcmp(c.train.v[0], tp("y/images/train")));
    af_data_config_free(&c);
    REQUIRE(load_yaml_text("train: images/train\nval: images/val\nnames:\n  1: dog\n  '0': cat\n", &c,
                           &err) == AF_OK);
    CHECK(c.nc == 2 && !strcmp(c.names[0], "cat") && !strcmp(c.names[1], "dog"));
    af_data_config_free(&c);
    REQUIRE(load_yaml_text("train: images/train\nval: images/val\nnc: 3\n", &c, &err) == AF_OK);
    CHECK(c.nc == 3 && !strcmp(c.names[2], "class_2"));
    af_data_config_free(&c);
    REQUIRE(load_yaml_text("train: images/train\nvalidation: images/val\nnc: 1\nnames: {0: yes}\n",
                           &c, &err) == AF_OK);
    CHECK(c.val.n == 1 && !strcmp(c.names[0], "True"));
    af_data_config_free(&c);
    CHECK(load_yaml_text("train: images/train\nval: images/val\nnc: 2\nnames: [a]\n", &c, &err) ==
              AF_E_FORMAT &&
          strstr(err.msg, "must match"));
    CHECK(load_yaml_text("train: images/train\nval: images/val\nnames: {0: a, 2: b}\n", &c, &err) ==
              AF_E_FORMAT &&
          strstr(err.msg, "class indices 0-1"));
    CHECK(load_yaml_text("train: images/train\nval: images/val\n", &c, &err) == AF_E_FORMAT &&
          strstr(err.msg, "'names' or 'nc'"));
    CHECK(load_yaml_text("val: images/val\nnc: 1\n", &c, &err) == AF_E_FORMAT &&
          strstr(err.msg, "'train:' key missing"));
    CHECK(load_yaml_text("train: [a\n", &c, &err) == AF_E_FORMAT && strstr(err.msg, "YAML"));
}

static void test_yaml_paths(void)
{
    fresh_tmp();
    put("root/images/t1/a.jpg", "");
    put("root/images/t2/b.jpg", "");
    put("root/images/t2/deep/c.jpg", "");
    put("root/images/val/v.jpg", "");
    put("root/labels/t1/a.txt", "0 0.5 0.5 0.1 0.1\n");
    /* absolute `path:` and train as a list of folders */
    char y[2048];
    snprintf(y, sizeof y, "path: %s\ntrain: [images/t1, images/t2]\nval: images/val\nnames: [face]\n",
             tp("root"));
    put("elsewhere/d.yaml", y);
    af_data_config c;
    af_error err = {0};
    REQUIRE(af_data_config_load(tp("elsewhere/d.yaml"), &c, &err) == AF_OK);
    CHECK(!strcmp(c.root, tp("root")));
    CHECK(c.train.n == 2);
    af_dataset ds;
    REQUIRE(af_dataset_load(&c, "train", NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 3);
    if (ds.n == 3) {
        CHECK(!strcmp(ds.items[0].image, tp("root/images/t1/a.jpg")));
        CHECK(!strcmp(ds.items[2].image, tp("root/images/t2/deep/c.jpg")));
        CHECK(!strcmp(ds.items[2].label, tp("root/labels/t2/deep/c.txt")));
    }
    CHECK(ds.counts.found == 1 && ds.counts.missing == 2 && ds.counts.instances == 1);
    af_dataset_free(&ds);
    CHECK(af_dataset_load(&c, "test", NULL, &ds, &err) == AF_E_ARG);
    af_data_config_free(&c);
    /* relative `path:` (relative to the yaml's folder) and train as a .txt list */
    put("root/lists/train.txt", "./../images/t1/a.jpg\n");
    put("root/train.txt", "./images/t2/b.jpg\n./images/t1/a.jpg\n");
    put("root/cfg/d.yaml", "path: ..\ntrain: train.txt\nval: images/val\ntest: images/val\nnc: 1\n");
    REQUIRE(af_data_config_load(tp("root/cfg/d.yaml"), &c, &err) == AF_OK);
    CHECK(!strcmp(c.root, tp("root")));
    REQUIRE(af_dataset_load(&c, "train", NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 2 && !strcmp(ds.items[0].image, tp("root/images/t1/a.jpg")));
    CHECK(ds.counts.instances == 1);
    af_dataset_free(&ds);
    REQUIRE(af_dataset_load(&c, "test", NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 1);
    af_dataset_free(&ds);
    af_data_config_free(&c);
    /* the "../" rule: ../images/val does not exist beside the root, images/val does */
    put("root/r.yaml", "train: ../images/t1\nval: ../images/val\nnc: 1\n");
    REQUIRE(af_data_config_load(tp("root/r.yaml"), &c, &err) == AF_OK);
    CHECK(!strcmp(c.val.v[0], tp("root/images/val")));
    CHECK(!strcmp(c.train.v[0], tp("root/images/t1")));
    af_data_config_free(&c);
    /* missing val folder: an error at load; missing train folder: an error for that split */
    put("root/m.yaml", "train: images/t1\nval: images/nope\nnc: 1\n");
    CHECK(af_data_config_load(tp("root/m.yaml"), &c, &err) == AF_E_IO &&
          strstr(err.msg, "missing path") && strstr(err.msg, "images/nope"));
    put("root/n.yaml", "train: images/gone\nval: images/val\nnc: 1\n");
    REQUIRE(af_data_config_load(tp("root/n.yaml"), &c, &err) == AF_OK);
    CHECK(af_dataset_load(&c, "train", NULL, &ds, &err) == AF_E_IO &&
          strstr(err.msg, "images/gone does not exist"));
    af_data_config_free(&c);
    CHECK(af_data_config_load(tp("root/train.txt"), &c, &err) == AF_E_ARG);
}

static void test_image_check(void)
{
    fresh_tmp();
    /* PNG header: 20 x 12 and 5 x 30 */
    static const unsigned char png_ok[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13,
                                           'I', 'H', 'D', 'R', 0, 0, 0, 20, 0, 0, 0, 12, 8, 2, 0, 0, 0};
    static const unsigned char png_small[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13,
                                              'I', 'H', 'D', 'R', 0, 0, 0, 5, 0, 0, 0, 30, 8, 2, 0, 0, 0};
    /* JPEG: SOI, SOF0 32 x 16 (h=16, w=32), no EOI */
    static const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 17, 8, 0, 16,
                                        0, 32, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0, 0, 0, 0};
    putb("p/images/train/ok.png", png_ok, sizeof png_ok);
    putb("p/images/train/small.png", png_small, sizeof png_small);
    putb("p/images/train/noeoi.jpg", jpg, sizeof jpg);
    put("p/images/train/fake.jpg", "GIF89a........................");
    put("p/t.txt", "./images/train/ok.png\n./images/train/absent.jpg\n");
    int w, h, noeoi;
    const char *fmt;
    af_error err = {0};
    CHECK(af_image_probe(tp("p/images/train/noeoi.jpg"), &w, &h, &fmt, &noeoi, &err) == AF_OK);
    CHECK(w == 32 && h == 16 && noeoi == 1 && !strcmp(fmt, "jpeg"));
    CHECK(af_image_probe(tp("p/images/train/ok.png"), &w, &h, &fmt, &noeoi, &err) == AF_OK);
    CHECK(w == 20 && h == 12 && !strcmp(fmt, "png"));
    af_strlist paths = {0};
    af_strlist_push(&paths, tp("p/images/train"), &err);
    af_dataset ds;
    af_dataset_opts o = {1};
    REQUIRE(af_dataset_load_paths(&paths, 1, &o, &ds, &err) == AF_OK);
    CHECK(ds.n == 4 && ds.counts.corrupt == 2);
    CHECK(has_issue(&ds, "small.png", 0, "<10 pixels", AF_ISSUE_CORRUPT));
    CHECK(has_issue(&ds, "fake.jpg", 0, "invalid GIF data", AF_ISSUE_CORRUPT)); /* a GIF header, no image */
    CHECK(has_issue(&ds, "noeoi.jpg", 0, "corrupt JPEG", AF_ISSUE_WARNING));
    CHECK(find_item(&ds, "noeoi.jpg")->state == AF_LABEL_MISSING);
    af_dataset_free(&ds);
    af_strlist_free(&paths);
    /* an image listed in a .txt that does not exist is corrupt (even without image checks) */
    af_strlist_push(&paths, tp("p/t.txt"), &err);
    REQUIRE(af_dataset_load_paths(&paths, 1, NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 2 && ds.counts.corrupt == 1);
    CHECK(has_issue(&ds, "absent.jpg", 0, "No such file", AF_ISSUE_CORRUPT));
    af_dataset_free(&ds);
    af_strlist_free(&paths);
}

/* ------------------------------------------------------------------ split */

static void test_splitmix_and_counts(void)
{
    uint64_t s = 0; /* reference outputs of splitmix64 seeded with 0 */
    CHECK(af_splitmix64(&s) == 0xe220a8397b1dcdafull);
    CHECK(af_splitmix64(&s) == 0x6e789e6aa1b965f4ull);
    CHECK(af_splitmix64(&s) == 0x06c45d188009454full);
    size_t perm[3];
    af_shuffle_indices(perm, 3, 0); /* j = 2 (0.883*3), then j = 0 (0.431*2) */
    CHECK(perm[0] == 1 && perm[1] == 0 && perm[2] == 2);
    size_t c[3];
    const double r1[3] = {0.7, 0.2, 0.1}, r2[3] = {0.5, 0.5, 0}, r3[3] = {7, 2, 1};
    af_split_counts(10, r1, c);
    CHECK(c[0] == 7 && c[1] == 2 && c[2] == 1);
    af_split_counts(3, r1, c);
    CHECK(c[0] == 2 && c[1] == 1 && c[2] == 0);
    af_split_counts(5, r2, c);
    CHECK(c[0] == 3 && c[1] == 2 && c[2] == 0);
    af_split_counts(100, r3, c);
    CHECK(c[0] == 70 && c[1] == 20 && c[2] == 10);
}

static void test_split_tool(void)
{
    fresh_tmp();
    for (int i = 0; i < 20; i++) {
        char p[64];
        snprintf(p, sizeof p, "flat/img%02d.jpg", i);
        put(p, "");
        snprintf(p, sizeof p, "flat/img%02d.txt", i);
        put(p, i == 5 ? "2 0.5 0.5 0.1 0.1\n" : "0 0.5 0.5 0.1 0.1\n");
    }
    af_split_opts o = {{0.7, 0.2, 0.1}, 42, NULL, NULL};
    af_split_result r;
    af_error err = {0};
    REQUIRE(af_data_split(tp("flat"), &o, &r, &err) == AF_OK);
    CHECK(r.counts[0] == 14 && r.counts[1] == 4 && r.counts[2] == 2);
    CHECK(r.nc == 3);
    char *tr1 = slurp(tp("flat/train.txt")), *va1 = slurp(tp("flat/val.txt")),
         *te1 = slurp(tp("flat/test.txt"));
    REQUIRE(tr1 && va1 && te1);
    CHECK(!strncmp(tr1, "./img", 5));
    /* every image exactly once */
    for (int i = 0; i < 20; i++) {
        char n[32];
        snprintf(n, sizeof n, "./img%02d.jpg\n", i);
        int k = (strstr(tr1, n) != NULL) + (strstr(va1, n) != NULL) + (strstr(te1, n) != NULL);
        CHECK_MSG(k == 1, "%s listed %d times", n, k);
    }
    /* the yaml reads back, labels found beside the images */
    af_data_config c;
    REQUIRE(af_data_config_load(r.yaml_path, &c, &err) == AF_OK);
    CHECK(c.nc == 3 && !strcmp(c.names[2], "class_2") && c.test.n == 1);
    af_dataset ds;
    REQUIRE(af_dataset_load(&c, "train", NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 14 && ds.counts.found == 14 && ds.counts.corrupt == 0);
    af_dataset_free(&ds);
    af_data_config_free(&c);
    af_split_result_free(&r);
    /* same seed: same lists; another seed: another train list */
    REQUIRE(af_data_split(tp("flat"), &o, &r, &err) == AF_OK);
    af_split_result_free(&r);
    char *tr2 = slurp(tp("flat/train.txt"));
    CHECK(tr2 && !strcmp(tr1, tr2));
    free(tr2);
    o.seed = 43;
    o.out_dir = tp("out/s43");
    o.names = "face, eye ,x";
    REQUIRE(af_data_split(tp("flat"), &o, &r, &err) == AF_OK);
    af_split_result_free(&r);
    tr2 = slurp(tp("out/s43/train.txt"));
    CHECK(tr2 && tr2[0] == '/' && strcmp(tr1, tr2) != 0); /* outside OUT: absolute paths */
    REQUIRE(af_data_config_load(tp("out/s43/data.yaml"), &c, &err) == AF_OK);
    CHECK(c.nc == 3 && !strcmp(c.names[1], "eye"));
    REQUIRE(af_dataset_load(&c, "val", NULL, &ds, &err) == AF_OK);
    CHECK(ds.n == 4);
    af_dataset_free(&ds);
    af_data_config_free(&c);
    free(tr2);
    free(tr1);
    free(va1);
    free(te1);
    o.ratios[0] = -1;
    CHECK(af_data_split(tp("flat"), &o, &r, &err) == AF_E_ARG);
}

/* ------------------------------------------------------------------ convert */

static void test_convert_voc(void)
{
    fresh_tmp();
    put("voc/a.xml",
        "<?xml version=\"1.0\"?>\n<!-- a comment -->\n<annotation>\n"
        "  <filename>a.jpg</filename>\n"
        "  <size><width>200</width><height>100</height><depth>3</depth></size>\n"
        "  <object><name>face</name><difficult>0</difficult>\n"
        "    <bndbox><xmin>21</xmin><ymin>11</ymin><xmax>61</xmax><ymax>51</ymax></bndbox></object>\n"
        "  <object><name>cat</name><difficult>1</difficult>\n"
        "    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>\n"
        "</annotation>\n");
    put("voc/b.xml",
        "<annotation><size><width>333</width><height>250</height></size>"
        "<object><name>b&amp;w</name><pose attr='x>y'>Left</pose>"
        "<bndbox><xmax> 100 </xmax><xmin>10.5</xmin><ymin>3</ymin><ymax>77</ymax></bndbox>"
        "</object></annotation>");
    put("voc/notes.txt", "ignored");
    af_convert_result r;
    af_error err = {0};
    REQUIRE(af_convert_voc(tp("voc"), tp("vout"), NULL, &r, &err) == AF_OK);
    /* names sorted: "b&w" < "cat" < "face" */
    CHECK(r.nc == 3 && !strcmp(r.names[0], "b&w") && !strcmp(r.names[1], "cat"));
    CHECK(r.files == 2 && r.boxes == 2 && r.skipped == 1);
    af_convert_result_free(&r);
    char *a = slurp(tp("vout/labels/a.txt")), *b = slurp(tp("vout/labels/b.txt"));
    /* ((21+61)/2-1)/200 = 0.2, ((11+51)/2-1)/100 = 0.3, 40/200, 40/100 */
    CHECK(a && !strcmp(a, "2 0.2 0.3 0.2 0.4\n"));
    /* python3: str() of ((10.5+100)/2-1)*(1/333), ((3+77)/2-1)*(1/250), 89.5*(1/333), 74*(1/250) */
    CHECK(b && !strcmp(b, "0 0.1629129129129129 0.156 0.26876876876876876 0.296\n"));
    free(a);
    free(b);
    af_data_config c;
    REQUIRE(af_data_config_load(tp("vout/data.yaml"), &c, &err) == AF_OK);
    CHECK(c.nc == 3 && !strcmp(c.names[0], "b&w") && !strcmp(c.names[2], "face"));
    af_data_config_free(&c);
    /* --names: only these classes, in this order */
    REQUIRE(af_convert_voc(tp("voc"), tp("vout2"), "face", &r, &err) == AF_OK);
    CHECK(r.nc == 1 && r.boxes == 1 && r.skipped == 2);
    af_convert_result_free(&r);
    a = slurp(tp("vout2/labels/a.txt"));
    b = slurp(tp("vout2/labels/b.txt"));
    CHECK(a && !strcmp(a, "0 0.2 0.3 0.2 0.4\n"));
    CHECK(b && !strcmp(b, ""));
    free(a);
    free(b);
    put("bad/x.xml", "<annotation><size><width>10</width></size>");
    CHECK(af_convert_voc(tp("bad"), tp("bout"), NULL, &r, &err) == AF_E_FORMAT && strstr(err.msg, "x.xml"));
}

static void test_convert_coco(void)
{
    fresh_tmp();
    put("coco/instances_val2017.json",
        "{\"images\": [{\"id\": 7, \"file_name\": \"a.jpg\", \"width\": 200, \"height\": 100},"
        " {\"id\": 9, \"file_name\": \"sub/b.png\", \"width\": 640, \"height\": 480},"
        " {\"id\": 11, \"file_name\": \"c.jpg\", \"width\": 10, \"height\": 10}],"
        " \"categories\": [{\"id\": 3, \"name\": \"face\"}, {\"id\": 1, \"name\": \"eye\"}],"
        " \"annotations\": ["
        "  {\"id\": 1, \"image_id\": 9, \"category_id\": 3, \"bbox\": [10, 20, 30, 40], \"iscrowd\": 0},"
        "  {\"id\": 2, \"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 50, 50], \"iscrowd\": 1},"
        "  {\"id\": 3, \"image_id\": 7, \"category_id\": 3, \"bbox\": [20, 10, 40, 60], \"iscrowd\": 0},"
        "  {\"id\": 4, \"image_id\": 7, \"category_id\": 3, \"bbox\": [20, 10, 40, 60], \"iscrowd\": 0},"
        "  {\"id\": 5, \"image_id\": 7, \"category_id\": 1, \"bbox\": [5, 5, 0, 10], \"iscrowd\": 0},"
        "  {\"id\": 6, \"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"iscrowd\": 0}"
        "]}");
    af_convert_result r;
    af_error err = {0};
    for (int pass = 0; pass < 2; pass++) { /* a second run rewrites, it does not append */
        REQUIRE(af_convert_coco(tp("coco"), tp("cout"), NULL, &r, &err) == AF_OK);
        /* ids 1 (eye), 3 (face) -> 0, 1 */
        CHECK(r.nc == 2 && !strcmp(r.names[0], "eye") && !strcmp(r.names[1], "face"));
        CHECK(r.files == 2 && r.boxes == 3 && r.skipped == 3);
        af_convert_result_free(&r);
        char *a = slurp(tp("cout/labels/val2017/a.txt")), *b = slurp(tp("cout/labels/val2017/sub/b.txt"));
        /* a: (20+20)/200, (10+30)/100, 40/200, 60/100; then (0+5)/200, (0+5)/100, 10/200, 10/100 */
        CHECK(a && !strcmp(a, "1 0.2 0.4 0.2 0.6\n0 0.025 0.05 0.05 0.1\n"));
        /* b: (10+15)/640, (20+20)/480, 30/640, 40/480 with %g */
        CHECK(b && !strcmp(b, "1 0.0390625 0.0833333 0.046875 0.0833333\n"));
        free(a);
        free(b);
    }
    CHECK(!t_file_exists(tp("cout/labels/val2017/c.txt")));
    af_data_config c;
    REQUIRE(af_data_config_load(tp("cout/data.yaml"), &c, &err) == AF_OK);
    CHECK(c.nc == 2 && !strcmp(c.names[1], "face"));
    CHECK(!strcmp(c.train.v[0], tp("cout/images/val2017")));
    af_data_config_free(&c);
    CHECK(af_convert_coco(tp("coco/instances_val2017.json"), tp("c2"), "x", &r, &err) == AF_E_ARG);
    put("evil/e.json", "{\"images\": [{\"id\": 1, \"file_name\": \"../../x.jpg\", \"width\": 9, "
                       "\"height\": 9}], \"categories\": [{\"id\": 1, \"name\": \"a\"}], "
                       "\"annotations\": [{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0,0,1,1], "
                       "\"iscrowd\": 0}]}");
    CHECK(af_convert_coco(tp("evil/e.json"), tp("eout"), NULL, &r, &err) == AF_E_SECURITY);
}

/* ------------------------------------------------------------------ CLI */

static int run_cli(const char *args, char *out, size_t cap)
{
    return sh(out, cap, "%s %s", cli(), args);
}

static void test_cli_data(void)
{
    if (!getenv("AF_CLI") || !t_file_exists(getenv("AF_CLI")))
        SKIP("AF_CLI not set (run through make test)");
    fresh_tmp();
    build_rules_dataset();
    static char out[1 << 16];
    char args[2048];
    snprintf(args, sizeof args, "data check %s --split train --no-images", tp("r/data.yaml"));
    int rc = run_cli(args, out, sizeof out);
    CHECK(rc == 1);
    CHECK_MSG(strstr(out, "labels/train/cls.txt:3: class 1 is out of range (nc=1)\n") != NULL, "%s", out);
    CHECK(strstr(out, "labels/train/dup.txt:3: warning: duplicate of line 1, removed\n") != NULL);
    CHECK(strstr(out, "train: 17 images, 3 backgrounds (1 without label file, 2 empty), 8 instances, "
                      "9 corrupt, 1 duplicates removed") != NULL);
    put("ok/images/train/a.jpg", "");
    put("ok/labels/train/a.txt", "0 0.5 0.5 0.5 0.5\n");
    put("ok/images/val/a.jpg", "");
    put("ok/data.yaml", "train: images/train\nval: images/val\nnames: {0: face}\n");
    snprintf(args, sizeof args, "data check %s --no-images", tp("ok/data.yaml"));
    rc = run_cli(args, out, sizeof out);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK(strstr(out, "val: 1 images, 1 backgrounds") != NULL);
    put("ok/bad.yaml", "train: images/missing\nval: images/val\nnc: 1\n");
    snprintf(args, sizeof args, "data check %s", tp("ok/bad.yaml"));
    rc = run_cli(args, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "images/missing does not exist"));
    snprintf(args, sizeof args, "data split %s --ratios 0.5,0.5 --seed 7 --out %s", tp("ok/images"),
             tp("ok/split"));
    rc = run_cli(args, out, sizeof out);
    CHECK_MSG(rc == 0 && strstr(out, "train 1, val 1, test 0 images"), "%s", out);
    snprintf(args, sizeof args, "data split %s --ratios 0.5,x", tp("ok/images"));
    CHECK(run_cli(args, out, sizeof out) == 2);
    snprintf(args, sizeof args, "data convert --from yolo %s --out %s", tp("ok"), tp("o2"));
    CHECK(run_cli(args, out, sizeof out) == 2);
}

int main(void)
{
    RUN(test_icartoonface);
    RUN(test_img2label_and_formats);
    RUN(test_image_list_rules);
    RUN(test_label_rules);
    RUN(test_py_float);
    RUN(test_yaml_names);
    RUN(test_yaml_paths);
    RUN(test_image_check);
    RUN(test_splitmix_and_counts);
    RUN(test_split_tool);
    RUN(test_convert_voc);
    RUN(test_convert_coco);
    RUN(test_cli_data);
    if (g_tmp[0])
        nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return t_summary();
}
