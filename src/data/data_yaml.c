/* data.yaml as ultralytics 8.1.9 check_det_dataset reads it (rules in data/dataset.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/error.h"
#include "data/dataset.h"

#define YAML_MAX_BYTES (16u << 20)
#define MAX_CLASSES 100000

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_plain(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* PyYAML (YAML 1.1) null: ~, null, Null, NULL, or nothing. */
static int is_null(yaml_node_t *n)
{
    if (!n)
        return 1;
    if (!is_plain(n))
        return 0;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *py_bool(const char *s)
{
    static const char *const t[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
    static const char *const f[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
    for (size_t i = 0; i < 9; i++) {
        if (!strcmp(s, t[i]))
            return "True";
        if (!strcmp(s, f[i]))
            return "False";
    }
    return NULL;
}

/* str() of a scalar name value. */
static const char *name_text(yaml_node_t *n)
{
    if (is_null(n))
        return "None";
    const char *s = scalar(n);
    if (is_plain(n) && py_bool(s))
        return py_bool(s);
    return s;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        if (k && !strcmp(k, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* A whole non-negative decimal integer (Python int() of a str or a YAML int). */
static int parse_int(const char *s, long *out)
{
    const char *p = s;
    while (*p == ' ')
        p++;
    if (*p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return 1;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end)
        return 1;
    *out = v;
    return 0;
}

static af_status load_names(yaml_document_t *doc, yaml_node_t *nn, af_data_config *cfg,
                            const char *yp, af_error *err)
{
    size_t n;
    if (nn->type == YAML_SEQUENCE_NODE)
        n = (size_t)(nn->data.sequence.items.top - nn->data.sequence.items.start);
    else if (nn->type == YAML_MAPPING_NODE)
        n = (size_t)(nn->data.mapping.pairs.top - nn->data.mapping.pairs.start);
    else
        return af_fail(err, AF_E_FORMAT, "%s: 'names' must be a list or a mapping like {0: face}", yp);
    if (n == 0)
        return af_fail(err, AF_E_FORMAT, "%s: 'names' is empty", yp);
    if (n > MAX_CLASSES)
        return af_fail(err, AF_E_LIMIT, "%s: more than %d names", yp, MAX_CLASSES);
    cfg->names = calloc(n, sizeof *cfg->names);
    if (!cfg->names)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    cfg->nc = (int)n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *v;
        size_t idx = i;
        if (nn->type == YAML_SEQUENCE_NODE) {
            v = yaml_document_get_node(doc, nn->data.sequence.items.start[i]);
        } else {
            yaml_node_pair_t *p = &nn->data.mapping.pairs.start[i];
            const char *ks = scalar(yaml_document_get_node(doc, p->key));
            long k;
            if (!ks || parse_int(ks, &k))
                return af_fail(err, AF_E_FORMAT, "%s: 'names' key '%s' is not a class index", yp,
                               ks ? ks : "?");
            if (k < 0 || (size_t)k >= n)
                return af_fail(err, AF_E_FORMAT,
                               "%s: %zu-class dataset requires class indices 0-%zu, but 'names' has "
                               "index %ld",
                               yp, n, n - 1, k);
            idx = (size_t)k;
            if (cfg->names[idx])
                return af_fail(err, AF_E_FORMAT, "%s: 'names' index %ld given twice", yp, k);
            v = yaml_document_get_node(doc, p->value);
        }
        const char *t = v && v->type == YAML_SCALAR_NODE ? name_text(v) : (v ? NULL : "None");
        if (!t)
            return af_fail(err, AF_E_FORMAT, "%s: class name %zu is not a scalar", yp, idx);
        cfg->names[idx] = strdup(t);
        if (!cfg->names[idx])
            return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    return AF_OK;
}

static af_status add_split(yaml_document_t *doc, yaml_node_t *v, const char *key, const char *root,
                           af_strlist *out, const char *yp, af_error *err)
{
    if (is_null(v))
        return AF_OK;
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = scalar(v);
        char *r;
        af_status st = af_path_resolve(root, s, &r, err);
        if (st)
            return st;
        struct stat sb;
        if (stat(r, &sb) != 0 && strncmp(s, "../", 3) == 0) {
            free(r);
            st = af_path_resolve(root, s + 3, &r, err);
            if (st)
                return st;
        }
        return af_strlist_push_own(out, r, err);
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return af_fail(err, AF_E_FORMAT, "%s: '%s' must be a path or a list of paths", yp, key);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        const char *s = scalar(yaml_document_get_node(doc, *it));
        if (!s)
            return af_fail(err, AF_E_FORMAT, "%s: '%s' list entries must be paths", yp, key);
        char *r;
        af_status st = af_path_resolve(root, s, &r, err);
        if (st || (st = af_strlist_push_own(out, r, err)))
            return st;
    }
    return AF_OK;
}

static af_status parse_doc(yaml_document_t *doc, const char *yp, af_data_config *cfg, af_error *err)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return af_fail(err, AF_E_FORMAT, "%s: not a YAML mapping of dataset keys", yp);
    yaml_node_t *train = map_get(doc, root, "train");
    yaml_node_t *val = map_get(doc, root, "val");
    if (!train)
        return af_fail(err, AF_E_FORMAT,
                       "%s: 'train:' key missing; 'train' and 'val' are required in all data YAMLs", yp);
    if (!val)
        val = map_get(doc, root, "validation");
    if (!val)
        return af_fail(err, AF_E_FORMAT,
                       "%s: 'val:' key missing; 'train' and 'val' are required in all data YAMLs", yp);
    yaml_node_t *names = map_get(doc, root, "names");
    yaml_node_t *ncn = map_get(doc, root, "nc");
    if (!names && !ncn)
        return af_fail(err, AF_E_FORMAT, "%s: either 'names' or 'nc' is required", yp);
    long nc = -1;
    if (ncn) {
        const char *s = scalar(ncn);
        if (!s || !is_plain(ncn) || parse_int(s, &nc))
            return af_fail(err, AF_E_FORMAT, "%s: 'nc' must be an integer", yp);
        if (nc < 1 || nc > MAX_CLASSES)
            return af_fail(err, AF_E_FORMAT, "%s: 'nc: %ld' must be between 1 and %d", yp, nc,
                           MAX_CLASSES);
    }
    af_status st;
    if (names) {
        if ((st = load_names(doc, names, cfg, yp, err)))
            return st;
        if (nc >= 0 && nc != cfg->nc)
            return af_fail(err, AF_E_FORMAT, "%s: 'names' length %d and 'nc: %ld' must match", yp,
                           cfg->nc, nc);
    } else {
        cfg->names = calloc((size_t)nc, sizeof *cfg->names);
        if (!cfg->names)
            return af_fail(err, AF_E_NOMEM, "out of memory");
        cfg->nc = (int)nc;
        for (long i = 0; i < nc; i++) {
            char b[32];
            snprintf(b, sizeof b, "class_%ld", i);
            if (!(cfg->names[i] = strdup(b)))
                return af_fail(err, AF_E_NOMEM, "out of memory");
        }
    }
    /* root: `path` (non-empty) else the yaml's folder */
    yaml_node_t *pathn = map_get(doc, root, "path");
    char *ydir = strdup(cfg->yaml_path);
    if (!ydir)
        return af_fail(err, AF_E_NOMEM, "out of memory");
    char *sl = strrchr(ydir, '/');
    if (sl == ydir)
        sl[1] = '\0';
    else if (sl)
        *sl = '\0';
    const char *ps = pathn && !is_null(pathn) ? scalar(pathn) : NULL;
    if (pathn && !is_null(pathn) && !ps) {
        free(ydir);
        return af_fail(err, AF_E_FORMAT, "%s: 'path' must be a folder", yp);
    }
    st = af_path_resolve(ydir, ps && *ps ? ps : ".", &cfg->root, err);
    free(ydir);
    if (st)
        return st;
    if ((st = add_split(doc, train, "train", cfg->root, &cfg->train, yp, err)) ||
        (st = add_split(doc, val, "val", cfg->root, &cfg->val, yp, err)) ||
        (st = add_split(doc, map_get(doc, root, "test"), "test", cfg->root, &cfg->test, yp, err)))
        return st;
    for (size_t i = 0; i < cfg->val.n; i++) {
        struct stat sb;
        if (stat(cfg->val.v[i], &sb) != 0)
            return af_fail(err, AF_E_IO, "%s: dataset images not found, missing path '%s'", yp,
                           cfg->val.v[i]);
    }
    return AF_OK;
}

af_status af_data_config_load(const char *yaml_path, af_data_config *cfg, af_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    size_t yl = strlen(yaml_path);
    if (yl < 5 || (strcmp(yaml_path + yl - 5, ".yaml") && strcmp(yaml_path + yl - 4, ".yml")))
        return af_fail(err, AF_E_ARG, "%s: a dataset description must be a .yaml or .yml file",
                       yaml_path);
    FILE *f = fopen(yaml_path, "rb");
    if (!f)
        return af_fail(err, AF_E_IO, "%s: cannot open: %s", yaml_path, strerror(errno));
    unsigned char *buf = malloc(YAML_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, YAML_MAX_BYTES + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || n > YAML_MAX_BYTES) {
        free(buf);
        return rerr ? af_fail(err, AF_E_IO, "%s: read error", yaml_path)
                    : af_fail(err, AF_E_LIMIT, "%s: larger than %u bytes", yaml_path, YAML_MAX_BYTES);
    }
    af_status st = af_path_resolve(NULL, yaml_path, &cfg->yaml_path, err);
    if (st) {
        free(buf);
        return st;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(buf);
        af_data_config_free(cfg);
        return af_fail(err, AF_E_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, buf, n);
    if (!yaml_parser_load(&parser, &doc)) {
        st = af_fail(err, AF_E_FORMAT, "%s:%zu: YAML error: %s", yaml_path,
                     parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        free(buf);
        af_data_config_free(cfg);
        return st;
    }
    st = parse_doc(&doc, yaml_path, cfg, err);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(buf);
    if (st)
        af_data_config_free(cfg);
    return st;
}

void af_data_config_free(af_data_config *cfg)
{
    if (cfg->names)
        for (int i = 0; i < cfg->nc; i++)
            free(cfg->names[i]);
    free(cfg->names);
    free(cfg->yaml_path);
    free(cfg->root);
    af_strlist_free(&cfg->train);
    af_strlist_free(&cfg->val);
    af_strlist_free(&cfg->test);
    memset(cfg, 0, sizeof *cfg);
}

const af_strlist *af_data_config_split(const af_data_config *cfg, const char *split)
{
    if (!strcmp(split, "train"))
        return &cfg->train;
    if (!strcmp(split, "val"))
        return &cfg->val;
    if (!strcmp(split, "test"))
        return &cfg->test;
    return NULL;
}
