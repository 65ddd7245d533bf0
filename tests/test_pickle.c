/* The restricted pickle reader: plain data in every protocol, refused globals,
 * malformed and hostile inputs (tests/fixtures/pickle, see make_fixtures.py). */
#include <stdint.h>

#include "core/error.h"
#include "io/pickle.h"
#include "testutil.h"

static unsigned char *load_fixture(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "pickle/%s", name);
    return t_read_file(t_fixture(rel), len);
}

/* Loads a fixture and returns the status; the document is freed. */
static af_status load_status(const char *name, af_error *err)
{
    size_t len;
    unsigned char *b = load_fixture(name, &len);
    if (!b) {
        fprintf(stderr, "cannot read fixture %s\n", name);
        return AF_E_IO;
    }
    af_pickle doc;
    af_status st = af_pickle_load(b, len, name, NULL, &doc, err);
    if (!st)
        af_pickle_free(&doc);
    free(b);
    return st;
}

static int64_t get_i(const af_pk_value *d, const char *k)
{
    int64_t v = -999;
    af_pk_get_int(af_pk_dict_get(d, k), &v);
    return v;
}

static void check_plain(const char *file)
{
    size_t len;
    unsigned char *b = load_fixture(file, &len);
    REQUIRE(b != NULL);
    af_pickle doc;
    af_error err = {0};
    af_status st = af_pickle_load(b, len, file, NULL, &doc, &err);
    free(b);
    CHECK_MSG(st == AF_OK, "%s: %s", file, err.msg);
    if (st)
        return;
    const af_pk_value *r = doc.root;
    CHECK(r->kind == AF_PK_DICT);
    CHECK(get_i(r, "a") == 1);
    CHECK(get_i(r, "neg") == -5);
    CHECK(get_i(r, "big") == ((int64_t)1 << 40));
    CHECK(get_i(r, "min64") == INT64_MIN);
    double f = 0;
    CHECK(af_pk_get_number(af_pk_dict_get(r, "f"), &f) == 0 && f == 0.5);
    const char *s = af_pk_str(af_pk_dict_get(r, "s"));
    CHECK(s && !strcmp(s, "h\xc3\xa9llo"));
    const af_pk_value *by = af_pk_dict_get(r, "b");
    CHECK_MSG(by && by->kind == AF_PK_BYTES && by->u.s.len == 3 &&
                  !memcmp(by->u.s.ptr, "\x00\x01\xff", 3),
              "%s: bytes", file);
    const af_pk_value *t = af_pk_dict_get(r, "t");
    CHECK(t && t->kind == AF_PK_TUPLE && t->u.seq.count == 4);
    if (t && t->kind == AF_PK_TUPLE && t->u.seq.count == 4)
        CHECK(t->u.seq.items[3]->kind == AF_PK_INT && t->u.seq.items[3]->u.i == 4);
    const af_pk_value *l = af_pk_dict_get(r, "l");
    CHECK(l && l->kind == AF_PK_LIST && l->u.seq.count == 3);
    if (l && l->kind == AF_PK_LIST && l->u.seq.count == 3) {
        CHECK(l->u.seq.items[0]->kind == AF_PK_NONE);
        CHECK(l->u.seq.items[1]->kind == AF_PK_BOOL && l->u.seq.items[1]->u.b == 1);
        CHECK(l->u.seq.items[2]->kind == AF_PK_BOOL && l->u.seq.items[2]->u.b == 0);
    }
    const af_pk_value *set = af_pk_dict_get(r, "set");
    CHECK(set && set->kind == AF_PK_SET && set->u.seq.count == 1 &&
          set->u.seq.items[0]->u.i == 7);
    const af_pk_value *od = af_pk_dict_get(r, "od");
    CHECK(od && od->kind == AF_PK_DICT && od->u.dict.count == 2);
    CHECK(get_i(od, "x") == 1);
    CHECK(af_pk_str(af_pk_dict_get(od, "y")) && !strcmp(af_pk_str(af_pk_dict_get(od, "y")), "z"));
    const af_pk_value *sh = af_pk_dict_get(r, "shared");
    CHECK(sh && sh->kind == AF_PK_LIST && sh->u.seq.count == 2 &&
          sh->u.seq.items[0] == sh->u.seq.items[1]); /* memo sharing kept */
    const af_pk_value *k = af_pk_dict_get(r, "k");
    CHECK(af_pk_str(af_pk_dict_get_int(k, 0)) && !strcmp(af_pk_str(af_pk_dict_get_int(k, 0)), "face"));
    cJSON *j = NULL;
    CHECK(af_pk_to_json(k, 8, &j, &err) == AF_OK);
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    CHECK_MSG(txt && !strcmp(txt, "{\"0\":\"face\",\"1\":\"cat\"}"), "%s", txt ? txt : "(null)");
    free(txt);
    cJSON_Delete(j);
    /* the whole dict converts (bytes become null) */
    CHECK(af_pk_to_json(r, 8, &j, &err) == AF_OK);
    cJSON_Delete(j);
    af_pickle_free(&doc);
}

static void test_plain_protocols(void)
{
    check_plain("plain_p1.pkl");
    check_plain("plain_p2.pkl");
    check_plain("plain_p3.pkl");
    check_plain("plain_p4.pkl");
    check_plain("plain_p5.pkl");
}

static void check_refused(const char *file, const char *global)
{
    af_error err = {0};
    af_status st = load_status(file, &err);
    char want[160];
    snprintf(want, sizeof want, "'%s'", global);
    CHECK_MSG(st == AF_E_SECURITY, "%s: status %d (%s)", file, st, err.msg);
    CHECK_MSG(strstr(err.msg, want) && strstr(err.msg, "not allowed"), "%s: message '%s'", file,
              err.msg);
}

static void test_refuses_code(void)
{
    check_refused("evil_posix_system.pkl", "posix.system");
    check_refused("evil_os_system.pkl", "os.system");
    check_refused("evil_eval_p4.pkl", "builtins.eval");
    check_refused("evil_popen.pkl", "subprocess.Popen");
    check_refused("evil_popen_p2.pkl", "commands.Popen");
    check_refused("evil_getattr.pkl", "__builtin__.getattr");
    check_refused("evil_nested.pkl", "posix.system");
}

static void test_allow_list(void)
{
    CHECK(af_pickle_global_allowed("torch.nn.modules.conv", "Conv2d"));
    CHECK(af_pickle_global_allowed("ultralytics.nn.modules.block", "C2f"));
    CHECK(af_pickle_global_allowed("torch._utils", "_rebuild_tensor_v2"));
    CHECK(af_pickle_global_allowed("collections", "OrderedDict"));
    CHECK(!af_pickle_global_allowed("os", "system"));
    CHECK(!af_pickle_global_allowed("posix", "system"));
    CHECK(!af_pickle_global_allowed("builtins", "eval"));
    CHECK(!af_pickle_global_allowed("builtins", "getattr"));
    CHECK(!af_pickle_global_allowed("torch", "load"));
    CHECK(!af_pickle_global_allowed("ultralytics.nn.tasks", "torch_safe_load"));
    CHECK(!af_pickle_global_allowed("torch.nn.modules.conv.os", "system"));
    CHECK(!af_pickle_global_allowed("torch.nn.modules..x", "A"));
    CHECK(!af_pickle_global_allowed("torch.nn.modulesx", "A"));
    CHECK(!af_pickle_global_allowed("torch.nn.modules.conv", "Conv2d.__init__"));
    /* ultralytics 8.0.x paths and 8.3's YOLO11 blocks are records like any module */
    CHECK(af_pickle_global_allowed("ultralytics.nn.modules", "C2f"));
    CHECK(af_pickle_global_allowed("ultralytics.nn.modules.block", "C3k2"));
    CHECK(af_pickle_global_allowed("ultralytics.nn.modules.block", "C2PSA"));
    CHECK(af_pickle_global_allowed("ultralytics.nn.modules.block", "PSABlock"));
    CHECK(af_pickle_global_allowed("ultralytics.nn.modules.block", "Attention"));
    /* numpy values as data; nothing else of numpy */
    CHECK(af_pickle_global_allowed("numpy.core.multiarray", "scalar"));
    CHECK(af_pickle_global_allowed("numpy._core.multiarray", "_reconstruct"));
    CHECK(af_pickle_global_allowed("numpy", "dtype"));
    CHECK(!af_pickle_global_allowed("numpy", "load"));
    CHECK(!af_pickle_global_allowed("numpy", "frombuffer"));
    CHECK(!af_pickle_global_allowed("numpy.core.multiarray", "fromstring"));
    CHECK(!af_pickle_global_allowed("numpy.testing._private.utils", "runstring"));
}

/* numpy scalars, dtypes and arrays (as numpy pickles them, protocols 2 and 4)
 * read as the plain values numpy's .item() / .tolist() give (make_numpy.py). */
static void check_numpy(const char *file)
{
    size_t len, elen;
    unsigned char *b = load_fixture(file, &len);
    unsigned char *e = load_fixture("numpy_expected.json", &elen);
    REQUIRE(b != NULL && e != NULL);
    af_pickle doc;
    af_error err = {0};
    af_status st = af_pickle_load(b, len, file, NULL, &doc, &err);
    CHECK_MSG(st == AF_OK, "%s: %s", file, err.msg);
    cJSON *want = cJSON_ParseWithLength((const char *)e, elen), *got = NULL;
    CHECK(want != NULL);
    if (!st) {
        const af_pk_value *r = doc.root;
        CHECK(af_pk_dict_get(r, "f64")->kind == AF_PK_FLOAT);
        CHECK(af_pk_dict_get(r, "i64")->kind == AF_PK_INT);
        CHECK(af_pk_dict_get(r, "b")->kind == AF_PK_BOOL);
        const af_pk_value *sh = af_pk_dict_get(r, "shared");
        CHECK(sh && sh->kind == AF_PK_LIST && sh->u.seq.count == 2 &&
              sh->u.seq.items[0] == sh->u.seq.items[1]); /* one array, memo kept */
        CHECK_MSG(af_pk_to_json(r, 16, &got, &err) == AF_OK, "%s", err.msg);
        char *txt = got ? cJSON_PrintUnformatted(got) : NULL;
        CHECK_MSG(cJSON_Compare(want, got, 1), "%s: got %s", file, txt ? txt : "(null)");
        free(txt);
        af_pickle_free(&doc);
    }
    cJSON_Delete(got);
    cJSON_Delete(want);
    free(b);
    free(e);
}

static void test_numpy_values(void)
{
    check_numpy("numpy_p2.pkl");
    check_numpy("numpy_p4.pkl");
    check_numpy("numpy2_p2.pkl"); /* numpy 2: numpy._core.multiarray */
}

static void check_status(const char *file, af_status want, const char *needle)
{
    af_error err = {0};
    af_status st = load_status(file, &err);
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", file, st, want, err.msg);
    if (needle)
        CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", file, err.msg,
                  needle);
    CHECK_MSG(strstr(err.msg, file) != NULL, "%s: message '%s' does not name the input", file,
              err.msg);
}

static void test_malformed(void)
{
    check_status("truncated.pkl", AF_E_FORMAT, "truncated");
    check_status("no_stop.pkl", AF_E_FORMAT, "without STOP");
    check_status("mark_bomb.pkl", AF_E_LIMIT, "MARK");
    check_status("nest_bomb.pkl", AF_E_LIMIT, "nested deeper");
    check_status("huge_memo.pkl", AF_E_LIMIT, "memo index");
    check_status("missing_memo.pkl", AF_E_FORMAT, "memo entry 5 is missing");
    check_status("unknown_opcode.pkl", AF_E_FORMAT, "0xff at offset 3");
    check_status("ext1.pkl", AF_E_UNSUPPORTED, "EXT1");
    check_status("underflow.pkl", AF_E_FORMAT, "underflow");
    check_status("bad_length.pkl", AF_E_FORMAT, "truncated");
    check_status("bigint.pkl", AF_E_UNSUPPORTED, "64 bits");
    check_status("np_short_scalar.pkl", AF_E_FORMAT, "numpy scalar of 8 bytes holds 3");
    check_status("np_short_array.pkl", AF_E_FORMAT, "does not match its shape");
    check_status("np_rows_bomb.pkl", AF_E_LIMIT, "too many rows");
    check_status("np_recon_other.pkl", AF_E_UNSUPPORTED, "not an ndarray");
    check_refused("np_evil_load.pkl", "numpy.load");
    check_refused("np_evil_frombuffer.pkl", "numpy.frombuffer");
}

static void test_cycle_and_limits(void)
{
    size_t len;
    unsigned char *b = load_fixture("cycle.pkl", &len);
    REQUIRE(b != NULL);
    af_pickle doc;
    af_error err = {0};
    CHECK(af_pickle_load(b, len, "cycle.pkl", NULL, &doc, &err) == AF_OK);
    if (!err.code) {
        const af_pk_value *r = doc.root;
        CHECK(r->kind == AF_PK_LIST && r->u.seq.count == 1 && r->u.seq.items[0] == r);
        cJSON *j = NULL;
        CHECK(af_pk_to_json(r, 50, &j, &err) == AF_E_LIMIT);
        CHECK(j == NULL);
        af_pickle_free(&doc);
    }
    free(b);

    b = load_fixture("plain_p2.pkl", &len);
    REQUIRE(b != NULL);
    af_pickle_limits lim = {.max_stack = 2};
    CHECK(af_pickle_load(b, len, "p2", &lim, &doc, &err) == AF_E_LIMIT);
    af_pickle_limits lim2 = {.max_values = 10};
    CHECK(af_pickle_load(b, len, "p2", &lim2, &doc, &err) == AF_E_LIMIT);
    af_pickle_limits lim3 = {.max_depth = 1};
    CHECK(af_pickle_load(b, len, "p2", &lim3, &doc, &err) == AF_E_LIMIT);
    CHECK(af_pickle_load(NULL, 0, "empty", NULL, &doc, &err) == AF_E_FORMAT);
    free(b);
}

/* Every truncation and many single-byte changes: never a crash (run under
 * ASan), never success for a cut. */
static void test_mutations(void)
{
    const char *files[] = {"plain_p2.pkl", "plain_p4.pkl", "plain_p1.pkl", "numpy_p2.pkl",
                           "numpy_p4.pkl"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        unsigned char *b = load_fixture(files[f], &len);
        REQUIRE(b != NULL);
        af_pickle doc;
        af_error err;
        for (size_t n = 0; n < len; n++) {
            af_status st = af_pickle_load(b, n, "cut", NULL, &doc, &err);
            CHECK_MSG(st != AF_OK, "%s cut at %zu loaded", files[f], n);
            if (!st)
                af_pickle_free(&doc);
        }
        unsigned char *m = malloc(len);
        REQUIRE(m != NULL);
        const unsigned char vals[] = {0x00, 0x7f, 0x80, 0xff, '(', 'h', 'R', 0x81, 'b', '.'};
        for (size_t i = 0; i < len; i++) {
            for (size_t v = 0; v < sizeof vals; v++) {
                memcpy(m, b, len);
                m[i] = vals[v];
                if (af_pickle_load(m, len, "mut", NULL, &doc, &err) == AF_OK) {
                    cJSON *j = NULL;
                    if (af_pk_to_json(doc.root, 32, &j, &err) == AF_OK)
                        cJSON_Delete(j);
                    af_pickle_free(&doc);
                }
            }
        }
        free(m);
        free(b);
    }
}

int main(void)
{
    RUN(test_plain_protocols);
    RUN(test_refuses_code);
    RUN(test_allow_list);
    RUN(test_numpy_values);
    RUN(test_malformed);
    RUN(test_cycle_and_limits);
    RUN(test_mutations);
    return t_summary();
}
