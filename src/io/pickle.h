/*
 * A restricted pickle reader. It NEVER runs code: it interprets the opcodes into
 * a plain value tree. Globals are checked against a fixed allow-list (the
 * constructors that torch checkpoints need and the nn.Module classes of torch
 * and ultralytics); anything else is refused with AF_E_SECURITY. Calls of
 * allowed functions and instances of allowed classes become records
 * (AF_PK_CALL / AF_PK_OBJECT) that the caller interprets.
 *
 * The values of one pickle live in an arena owned by the af_pickle document and
 * are freed together; values may be shared (memo) and may even form cycles, so
 * walkers must bound their depth.
 */
#ifndef AF_IO_PICKLE_H
#define AF_IO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "animeface.h"

typedef enum af_pk_kind {
    AF_PK_NONE = 0,
    AF_PK_BOOL,
    AF_PK_INT,    /* fits in int64 (bigger LONG values are refused) */
    AF_PK_FLOAT,
    AF_PK_STR,    /* text, NUL-terminated (len excludes the NUL) */
    AF_PK_BYTES,
    AF_PK_TUPLE,
    AF_PK_LIST,
    AF_PK_SET,    /* set or frozenset */
    AF_PK_DICT,   /* dict or OrderedDict, insertion order, duplicates kept (lookup: last) */
    AF_PK_GLOBAL, /* reference to an allowed global */
    AF_PK_CALL,   /* REDUCE of an allowed function (never executed): func, args */
    AF_PK_OBJECT, /* instance of an allowed class: cls, args, state (from BUILD) */
    AF_PK_PERSID  /* persistent id (BINPERSID): pid */
} af_pk_kind;

typedef struct af_pk_value af_pk_value;
struct af_pk_value {
    af_pk_kind kind;
    int depth; /* nesting depth when it was last built (leaves: 0) */
    union {
        int b;
        int64_t i;
        double f;
        struct {
            char *ptr;
            size_t len;
        } s; /* STR, BYTES */
        struct {
            af_pk_value **items;
            size_t count, cap;
        } seq; /* TUPLE, LIST, SET */
        struct {
            af_pk_value **keys, **vals;
            size_t count, cap;
        } dict;
        struct {
            const char *module, *name; /* "torch._utils", "_rebuild_tensor_v2" */
            int role;                  /* internal: what the allow-list says it is */
        } global;
        struct {
            af_pk_value *cls;   /* GLOBAL: the function (CALL) or class (OBJECT) */
            af_pk_value *args;  /* TUPLE */
            af_pk_value *state; /* OBJECT: BUILD state or NULL */
        } obj;
        struct {
            af_pk_value *pid;
        } persid;
    } u;
};

typedef struct af_pickle_limits {
    size_t max_stack;  /* items on the stack, default 1<<20 */
    size_t max_marks;  /* open MARKs, default 4096 */
    size_t max_memo;   /* largest memo index + 1, default 1<<22 (also <= input length) */
    size_t max_values; /* values created, default 1<<24 */
    int max_depth;     /* nesting of containers, default 512 */
} af_pickle_limits;

typedef struct af_pickle {
    af_pk_value *root;
    void *arena; /* internal */
} af_pickle;

/* Interprets a pickle (protocols 2-5 and the common protocol 0/1 opcodes).
 * name is used in messages (e.g. "best.pt: data.pkl"). lim may be NULL.
 * On failure *doc is empty. Errors: AF_E_FORMAT (truncated/malformed, unknown
 * opcode with its offset), AF_E_SECURITY (a global outside the allow-list),
 * AF_E_LIMIT, AF_E_UNSUPPORTED, AF_E_NOMEM. */
af_status af_pickle_load(const void *buf, size_t len, const char *name,
                         const af_pickle_limits *lim, af_pickle *doc, af_error *err);
void af_pickle_free(af_pickle *doc);

/* 1 if global name (module + "." + name) is on the allow-list. */
int af_pickle_global_allowed(const char *module, const char *name);

/* Helpers for walking values (all accept NULL). */
const af_pk_value *af_pk_dict_get(const af_pk_value *dict, const char *key); /* str key, last match */
const af_pk_value *af_pk_dict_get_int(const af_pk_value *dict, int64_t key);
int af_pk_is_global(const af_pk_value *v, const char *module, const char *name);
/* For CALL/OBJECT: 1 if the function/class is module.name. */
int af_pk_is_call_of(const af_pk_value *v, const char *module, const char *name);
const char *af_pk_str(const af_pk_value *v); /* STR text or NULL */
int af_pk_get_int(const af_pk_value *v, int64_t *out);     /* INT or BOOL; 0 on success */
int af_pk_get_number(const af_pk_value *v, double *out);   /* INT, BOOL or FLOAT; 0 on success */
/* Class name "module.Name" of an OBJECT into buf; "" if not an object. */
const char *af_pk_class_name(const af_pk_value *v, char *buf, size_t size);

/* Converts plain data to JSON: None, bool, int, float, str, list/tuple/set
 * (arrays), dict (object; int/float/bool keys are written as text). An OBJECT
 * whose state is a dict becomes that dict; globals become "module.name";
 * other records and bytes become null. Fails with AF_E_LIMIT past max_depth. */
af_status af_pk_to_json(const af_pk_value *v, int max_depth, cJSON **out, af_error *err);

#endif
