/*
 * Restricted pickle interpreter: opcodes -> plain value tree. Nothing from the
 * file is ever executed or looked up dynamically; see pickle.h.
 */
#include "io/pickle.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "io/pickle_numpy.h"

/* ---- allow-list --------------------------------------------------------- */

enum role {
    R_CLASS = 1, /* instance record (AF_PK_OBJECT) */
    R_FUNC,      /* call record (AF_PK_CALL) */
    R_ODICT,     /* collections.OrderedDict -> dict */
    R_SET,       /* set / frozenset -> set */
    R_SIZE,      /* torch.Size -> tuple */
    R_ENCODE,    /* _codecs.encode(str, 'latin1') -> bytes */
    R_BYTES,     /* bytes() -> b'' (how protocol 2 writes empty bytes) */
    R_TYPE,      /* a type used only as a value (torch.HalfStorage, ...) */
    R_NP_SCALAR, /* numpy scalar(dtype, bytes) -> bool / int / float */
    R_NP_RECON,  /* numpy _reconstruct(ndarray, ...) -> array record, filled by BUILD */
    R_NP_ARRAY   /* numpy.ndarray: only as _reconstruct's argument */
};

static const struct {
    const char *module, *name;
    enum role role;
} allow_exact[] = {
    {"collections", "OrderedDict", R_ODICT},
    {"builtins", "set", R_SET},
    {"__builtin__", "set", R_SET},
    {"builtins", "frozenset", R_SET},
    {"__builtin__", "frozenset", R_SET},
    {"builtins", "slice", R_FUNC},
    {"__builtin__", "slice", R_FUNC},
    {"_codecs", "encode", R_ENCODE},
    {"builtins", "bytes", R_BYTES},
    {"__builtin__", "bytes", R_BYTES},
    {"torch", "Size", R_SIZE},
    {"torch", "device", R_FUNC},
    {"torch._utils", "_rebuild_tensor_v2", R_FUNC},
    {"torch._utils", "_rebuild_parameter", R_FUNC},
    {"torch._utils", "_rebuild_parameter_with_state", R_FUNC},
    {"torch", "HalfStorage", R_TYPE},
    {"torch", "FloatStorage", R_TYPE},
    {"torch", "DoubleStorage", R_TYPE},
    {"torch", "BFloat16Storage", R_TYPE},
    {"torch", "LongStorage", R_TYPE},
    {"torch", "IntStorage", R_TYPE},
    {"torch", "ShortStorage", R_TYPE},
    {"torch", "CharStorage", R_TYPE},
    {"torch", "ByteStorage", R_TYPE},
    {"torch", "BoolStorage", R_TYPE},
    {"torch", "float16", R_TYPE},
    {"torch", "float32", R_TYPE},
    {"torch", "bfloat16", R_TYPE},
    {"ultralytics.utils", "IterableSimpleNamespace", R_CLASS},
    {"ultralytics.yolo.utils", "IterableSimpleNamespace", R_CLASS}, /* 8.0.x before 8.0.136 */
    {"ultralytics.utils.loss", "v8DetectionLoss", R_CLASS},
    {"ultralytics.utils.loss", "v8SegmentationLoss", R_CLASS},
    {"ultralytics.utils.loss", "v8PoseLoss", R_CLASS},
    {"ultralytics.utils.loss", "v8ClassificationLoss", R_CLASS},
    {"ultralytics.utils.loss", "v8OBBLoss", R_CLASS},
    {"types", "SimpleNamespace", R_CLASS},
    {"argparse", "Namespace", R_CLASS},
    /* numpy values in mid-training checkpoints (best_fitness, train_metrics, ...): read as
     * plain data, see np_build_array() and io/pickle_numpy.h; numpy 2 spells the module
     * numpy._core */
    {"numpy", "dtype", R_CLASS},
    {"numpy", "ndarray", R_NP_ARRAY},
    {"numpy.core.multiarray", "scalar", R_NP_SCALAR},
    {"numpy._core.multiarray", "scalar", R_NP_SCALAR},
    {"numpy.core.multiarray", "_reconstruct", R_NP_RECON},
    {"numpy._core.multiarray", "_reconstruct", R_NP_RECON},
};

/* THE table of model classes: modules (and their submodules) whose CamelCase
 * names are accepted as classes; they only ever become records (AF_PK_OBJECT)
 * whose state the .pt reader walks, so a class that is new in some release
 * (YOLO11's C3k2, C2PSA, PSABlock, Attention in ultralytics.nn.modules.block)
 * loads and reaches the architecture code, which says what it cannot build.
 *   torch.nn.modules.*            Conv2d, BatchNorm2d, SiLU, Upsample, ...
 *   ultralytics.nn.modules(.*)    C2f, SPPF, Detect, ... (8.0.x: flat module;
 *                                 later .block/.conv/.head)
 *   ultralytics.nn.tasks          DetectionModel
 *   ultralytics(.yolo).utils.loss / .tal   the criterion kept on the model
 *                                 (v8DetectionLoss, BboxLoss, TaskAlignedAssigner;
 *                                 ultralytics.yolo.* before 8.0.136) */
static const char *const allow_class_modules[] = {
    "torch.nn.modules",       "ultralytics.nn.modules",      "ultralytics.nn.tasks",
    "ultralytics.utils.loss", "ultralytics.utils.tal",       "ultralytics.yolo.utils.loss",
    "ultralytics.yolo.utils.tal",
};

static int is_ident(const char *s, int allow_dots)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.' && allow_dots && p != s && p[1] && p[-1] != '.')
            continue;
        if (!(isalnum(c) || c == '_'))
            return 0;
        if ((p == s || p[-1] == '.') && isdigit(c))
            return 0;
    }
    return 1;
}

static int lookup_role(const char *module, const char *name)
{
    for (size_t i = 0; i < sizeof allow_exact / sizeof allow_exact[0]; i++)
        if (!strcmp(module, allow_exact[i].module) && !strcmp(name, allow_exact[i].name))
            return (int)allow_exact[i].role;
    if (!is_ident(module, 1) || !is_ident(name, 0) || !isupper((unsigned char)name[0]))
        return 0;
    for (size_t i = 0; i < sizeof allow_class_modules / sizeof allow_class_modules[0]; i++) {
        size_t n = strlen(allow_class_modules[i]);
        if (!strncmp(module, allow_class_modules[i], n) && (module[n] == 0 || module[n] == '.'))
            return R_CLASS;
    }
    return 0;
}

int af_pickle_global_allowed(const char *module, const char *name)
{
    return module && name && lookup_role(module, name) != 0;
}

/* ---- arena -------------------------------------------------------------- */

#define CHUNK 4096

typedef struct arena {
    af_pk_value **chunks;
    size_t nchunks, capchunks;
    size_t used; /* in the last chunk */
    size_t total;
} arena;

static void value_free_owned(af_pk_value *v)
{
    switch (v->kind) {
    case AF_PK_STR:
    case AF_PK_BYTES: free(v->u.s.ptr); break;
    case AF_PK_TUPLE:
    case AF_PK_LIST:
    case AF_PK_SET: free(v->u.seq.items); break;
    case AF_PK_DICT:
        free(v->u.dict.keys);
        free(v->u.dict.vals);
        break;
    case AF_PK_GLOBAL: free((char *)v->u.global.module); break;
    default: break;
    }
}

static void arena_free(arena *a)
{
    if (!a)
        return;
    size_t left = a->total;
    for (size_t c = 0; c < a->nchunks; c++) {
        size_t n = left < CHUNK ? left : CHUNK;
        for (size_t i = 0; i < n; i++)
            value_free_owned(&a->chunks[c][i]);
        left -= n;
        free(a->chunks[c]);
    }
    free(a->chunks);
    free(a);
}

/* ---- interpreter state -------------------------------------------------- */

typedef struct up {
    const uint8_t *p;
    size_t len, pos;
    const char *name;
    af_pickle_limits lim;
    arena *ar;
    af_pk_value **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    af_pk_value **memo;
    size_t memocap, memocount;
    af_pk_value *none, *yes, *no;
    af_error *err;
    size_t op_pos;
    uint8_t op;
} up;

static const char *opname(uint8_t op)
{
    switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    }
    return NULL;
}

/* Fails with a message that names the pickle, the opcode and its offset. */
static af_status u_fail(up *u, af_status code, const char *fmt, ...) AF_PRINTF(3, 4);
static af_status u_fail(up *u, af_status code, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *on = opname(u->op);
    if (on)
        return af_fail(u->err, code, "%s: %s (opcode %s at offset %zu)", u->name, msg, on,
                       u->op_pos);
    return af_fail(u->err, code, "%s: %s (opcode 0x%02x at offset %zu)", u->name, msg, u->op,
                   u->op_pos);
}

static af_status new_value(up *u, af_pk_kind kind, af_pk_value **out)
{
    arena *a = u->ar;
    if (a->total >= u->lim.max_values)
        return u_fail(u, AF_E_LIMIT, "more than %zu values", u->lim.max_values);
    if (a->nchunks == 0 || a->used == CHUNK) {
        if (a->nchunks == a->capchunks) {
            size_t cap = a->capchunks ? a->capchunks * 2 : 16;
            af_pk_value **c = realloc(a->chunks, cap * sizeof *c);
            if (!c)
                return u_fail(u, AF_E_NOMEM, "out of memory");
            a->chunks = c;
            a->capchunks = cap;
        }
        af_pk_value *chunk = calloc(CHUNK, sizeof *chunk);
        if (!chunk)
            return u_fail(u, AF_E_NOMEM, "out of memory");
        a->chunks[a->nchunks++] = chunk;
        a->used = 0;
    }
    af_pk_value *v = &a->chunks[a->nchunks - 1][a->used++];
    a->total++;
    memset(v, 0, sizeof *v);
    v->kind = kind;
    *out = v;
    return AF_OK;
}

static af_status add_depth(up *u, af_pk_value *parent, const af_pk_value *child)
{
    if (child && child->depth + 1 > parent->depth) {
        parent->depth = child->depth + 1;
        if (parent->depth > u->lim.max_depth)
            return u_fail(u, AF_E_LIMIT, "values nested deeper than %d levels",
                          u->lim.max_depth);
    }
    return AF_OK;
}

static af_status seq_add(up *u, af_pk_value *s, af_pk_value *item)
{
    if (s->u.seq.count == s->u.seq.cap) {
        size_t cap = s->u.seq.cap ? s->u.seq.cap * 2 : 4;
        af_pk_value **it = realloc(s->u.seq.items, cap * sizeof *it);
        if (!it)
            return u_fail(u, AF_E_NOMEM, "out of memory");
        s->u.seq.items = it;
        s->u.seq.cap = cap;
    }
    s->u.seq.items[s->u.seq.count++] = item;
    return add_depth(u, s, item);
}

static af_status dict_add(up *u, af_pk_value *d, af_pk_value *k, af_pk_value *v)
{
    if (d->u.dict.count == d->u.dict.cap) {
        size_t cap = d->u.dict.cap ? d->u.dict.cap * 2 : 4;
        af_pk_value **ks = realloc(d->u.dict.keys, cap * sizeof *ks);
        if (!ks)
            return u_fail(u, AF_E_NOMEM, "out of memory");
        d->u.dict.keys = ks;
        af_pk_value **vs = realloc(d->u.dict.vals, cap * sizeof *vs);
        if (!vs)
            return u_fail(u, AF_E_NOMEM, "out of memory");
        d->u.dict.vals = vs;
        d->u.dict.cap = cap;
    }
    d->u.dict.keys[d->u.dict.count] = k;
    d->u.dict.vals[d->u.dict.count] = v;
    d->u.dict.count++;
    af_status st = add_depth(u, d, k);
    return st ? st : add_depth(u, d, v);
}

static af_status push(up *u, af_pk_value *v)
{
    if (u->sp >= u->lim.max_stack)
        return u_fail(u, AF_E_LIMIT, "stack deeper than %zu items", u->lim.max_stack);
    if (u->sp == u->scap) {
        size_t cap = u->scap ? u->scap * 2 : 256;
        af_pk_value **s = realloc(u->stack, cap * sizeof *s);
        if (!s)
            return u_fail(u, AF_E_NOMEM, "out of memory");
        u->stack = s;
        u->scap = cap;
    }
    u->stack[u->sp++] = v;
    return AF_OK;
}

static size_t mark_base(const up *u)
{
    return u->nmarks ? u->marks[u->nmarks - 1] : 0;
}

static af_status pop(up *u, af_pk_value **out)
{
    if (u->sp <= mark_base(u))
        return u_fail(u, AF_E_FORMAT, "stack underflow");
    *out = u->stack[--u->sp];
    return AF_OK;
}

static af_status top(up *u, af_pk_value **out)
{
    if (u->sp <= mark_base(u))
        return u_fail(u, AF_E_FORMAT, "stack underflow");
    *out = u->stack[u->sp - 1];
    return AF_OK;
}

/* Pops the topmost MARK: the items above it are stack[*base .. sp). The caller
 * then sets u->sp = *base after consuming them. */
static af_status pop_mark(up *u, size_t *base)
{
    if (!u->nmarks)
        return u_fail(u, AF_E_FORMAT, "no MARK on the stack");
    *base = u->marks[--u->nmarks];
    return AF_OK;
}

static af_status need(up *u, size_t n)
{
    if (u->len - u->pos < n)
        return u_fail(u, AF_E_FORMAT, "truncated pickle: needs %zu more bytes, %zu left", n,
                      u->len - u->pos);
    return AF_OK;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Reads a text line (protocol 0 arguments) into buf, without the newline. */
static af_status read_line(up *u, char *buf, size_t size)
{
    size_t max = u->len - u->pos;
    const uint8_t *nl = memchr(u->p + u->pos, '\n', max < size ? max : size);
    if (!nl) {
        if (max < size)
            return u_fail(u, AF_E_FORMAT, "truncated pickle: unterminated text argument");
        return u_fail(u, AF_E_FORMAT, "text argument longer than %zu bytes", size - 1);
    }
    size_t n = (size_t)(nl - (u->p + u->pos));
    memcpy(buf, u->p + u->pos, n);
    buf[n] = 0;
    u->pos += n + 1;
    return AF_OK;
}

/* Structural UTF-8 check (surrogates allowed, as Python's 'surrogatepass'). */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        if (c < 0x80)
            k = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            k = 1;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3;
        else
            return 0;
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        if (c == 0xe0 && s[i + 1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xf0 && s[i + 1] < 0x90)
            return 0;
        if (c == 0xf4 && s[i + 1] > 0x8f)
            return 0;
        i += k + 1;
    }
    return 1;
}

static af_status make_bytes(up *u, af_pk_kind kind, const uint8_t *src, size_t n,
                            af_pk_value **out)
{
    af_pk_value *v;
    af_status st = new_value(u, kind, &v);
    if (st)
        return st;
    if (n == SIZE_MAX)
        return u_fail(u, AF_E_LIMIT, "string too long");
    v->u.s.ptr = malloc(n + 1);
    if (!v->u.s.ptr)
        return u_fail(u, AF_E_NOMEM, "out of memory for a %zu-byte string", n);
    if (n)
        memcpy(v->u.s.ptr, src, n);
    v->u.s.ptr[n] = 0;
    v->u.s.len = n;
    *out = v;
    return AF_OK;
}

/* Reads a length-prefixed string/bytes argument and pushes it. */
static af_status op_sized(up *u, int lenbytes, int is_signed, af_pk_kind kind)
{
    af_status st = need(u, (size_t)lenbytes);
    if (st)
        return st;
    uint64_t n = rd_le(u->p + u->pos, lenbytes);
    if (is_signed && lenbytes == 4 && (n & 0x80000000u))
        return u_fail(u, AF_E_FORMAT, "negative length");
    u->pos += (size_t)lenbytes;
    if (n > u->len - u->pos)
        return u_fail(u, AF_E_FORMAT, "truncated pickle: %" PRIu64 "-byte string, %zu bytes left",
                      n, u->len - u->pos);
    const uint8_t *s = u->p + u->pos;
    u->pos += (size_t)n;
    if (kind == AF_PK_STR && !utf8_ok(s, (size_t)n)) {
        if (u->op == 'T' || u->op == 'U')
            kind = AF_PK_BYTES; /* protocol 2 str of arbitrary bytes */
        else
            return u_fail(u, AF_E_FORMAT, "string is not valid UTF-8");
    }
    af_pk_value *v;
    st = make_bytes(u, kind, s, (size_t)n, &v);
    return st ? st : push(u, v);
}

static af_status push_int(up *u, int64_t i)
{
    af_pk_value *v;
    af_status st = new_value(u, AF_PK_INT, &v);
    if (st)
        return st;
    v->u.i = i;
    return push(u, v);
}

static af_status push_float(up *u, double f)
{
    af_pk_value *v;
    af_status st = new_value(u, AF_PK_FLOAT, &v);
    if (st)
        return st;
    v->u.f = f;
    return push(u, v);
}

/* LONG1 / LONG4: little-endian two's complement of n bytes. */
static af_status op_long(up *u, int lenbytes)
{
    af_status st = need(u, (size_t)lenbytes);
    if (st)
        return st;
    uint64_t n = rd_le(u->p + u->pos, lenbytes);
    if (lenbytes == 4 && (n & 0x80000000u))
        return u_fail(u, AF_E_FORMAT, "negative length");
    u->pos += (size_t)lenbytes;
    if (n > u->len - u->pos)
        return u_fail(u, AF_E_FORMAT, "truncated pickle: %" PRIu64 "-byte integer", n);
    const uint8_t *b = u->p + u->pos;
    u->pos += (size_t)n;
    if (n == 0)
        return push_int(u, 0);
    int neg = (b[n - 1] & 0x80) != 0;
    /* bytes beyond the 8th must be pure sign extension */
    for (uint64_t k = 8; k < n; k++)
        if (b[k] != (neg ? 0xff : 0x00))
            return u_fail(u, AF_E_UNSUPPORTED, "integer wider than 64 bits");
    uint64_t v = 0;
    size_t m = n < 8 ? (size_t)n : 8;
    for (size_t k = 0; k < m; k++)
        v |= (uint64_t)b[k] << (8 * k);
    if (m < 8 && neg)
        v |= ~(uint64_t)0 << (8 * m);
    if (n > 8 && (((v >> 63) & 1) != (uint64_t)neg))
        return u_fail(u, AF_E_UNSUPPORTED, "integer wider than 64 bits");
    int64_t iv;
    memcpy(&iv, &v, sizeof iv);
    return push_int(u, iv);
}

static af_status parse_decimal(up *u, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno == ERANGE)
        return u_fail(u, errno == ERANGE ? AF_E_UNSUPPORTED : AF_E_FORMAT,
                      "bad integer '%.40s'", s);
    if (*end == 'L')
        end++;
    if (*end)
        return u_fail(u, AF_E_FORMAT, "bad integer '%.40s'", s);
    *out = v;
    return AF_OK;
}

static af_status memo_put(up *u, uint64_t idx)
{
    af_pk_value *v;
    af_status st = top(u, &v);
    if (st)
        return st;
    size_t lim = u->lim.max_memo < u->len ? u->lim.max_memo : u->len;
    if (idx >= lim)
        return u_fail(u, AF_E_LIMIT, "memo index %" PRIu64 " too large (limit %zu)", idx, lim);
    if (idx >= u->memocap) {
        size_t cap = u->memocap ? u->memocap : 256;
        while (cap <= idx)
            cap *= 2;
        if (cap > lim)
            cap = lim;
        af_pk_value **m = realloc(u->memo, cap * sizeof *m);
        if (!m)
            return u_fail(u, AF_E_NOMEM, "out of memory");
        memset(m + u->memocap, 0, (cap - u->memocap) * sizeof *m);
        u->memo = m;
        u->memocap = cap;
    }
    if (!u->memo[idx])
        u->memocount++;
    u->memo[idx] = v;
    return AF_OK;
}

static af_status memo_get(up *u, uint64_t idx)
{
    if (idx >= u->memocap || !u->memo[idx])
        return u_fail(u, AF_E_FORMAT, "memo entry %" PRIu64 " is missing", idx);
    return push(u, u->memo[idx]);
}

static af_status push_global(up *u, const char *module, const char *name)
{
    int role = lookup_role(module, name);
    if (!role)
        return af_fail(u->err, AF_E_SECURITY,
                       "%s: pickle refers to '%s.%s', which is not allowed (animeface never runs "
                       "code from model files)",
                       u->name, module, name);
    af_pk_value *v;
    af_status st = new_value(u, AF_PK_GLOBAL, &v);
    if (st)
        return st;
    size_t lm = strlen(module), ln = strlen(name);
    char *buf = malloc(lm + ln + 2);
    if (!buf)
        return u_fail(u, AF_E_NOMEM, "out of memory");
    memcpy(buf, module, lm + 1);
    memcpy(buf + lm + 1, name, ln + 1);
    v->u.global.module = buf;
    v->u.global.name = buf + lm + 1;
    v->u.global.role = role;
    return push(u, v);
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static af_status op_global(up *u)
{
    char module[256], name[256];
    af_status st = read_line(u, module, sizeof module);
    if (!st)
        st = read_line(u, name, sizeof name);
    if (st)
        return st;
    if (!printable(module) || !printable(name) || !*module || !*name)
        return u_fail(u, AF_E_FORMAT, "malformed global name");
    return push_global(u, module, name);
}

static af_status op_stack_global(up *u)
{
    af_pk_value *n = NULL, *m = NULL;
    af_status st = pop(u, &n);
    if (!st)
        st = pop(u, &m);
    if (st)
        return st;
    if (n->kind != AF_PK_STR || m->kind != AF_PK_STR)
        return u_fail(u, AF_E_FORMAT, "STACK_GLOBAL needs two strings");
    if (m->u.s.len >= 256 || n->u.s.len >= 256 || strlen(m->u.s.ptr) != m->u.s.len ||
        strlen(n->u.s.ptr) != n->u.s.len || !printable(m->u.s.ptr) || !printable(n->u.s.ptr) ||
        !m->u.s.len || !n->u.s.len)
        return u_fail(u, AF_E_FORMAT, "malformed global name");
    return push_global(u, m->u.s.ptr, n->u.s.ptr);
}

static af_status make_seq(up *u, af_pk_kind kind, af_pk_value **items, size_t n,
                          af_pk_value **out)
{
    af_status st = new_value(u, kind, out);
    for (size_t i = 0; !st && i < n; i++)
        st = seq_add(u, *out, items[i]);
    return st;
}

/* The top stack items from index base; the stack may still be NULL when there are none. */
static af_pk_value **stack_at(up *u, size_t base)
{
    return u->sp > base ? u->stack + base : NULL;
}

static af_status op_tuple_n(up *u, size_t n)
{
    if (u->sp - mark_base(u) < n)
        return u_fail(u, AF_E_FORMAT, "stack underflow");
    af_pk_value *t;
    af_status st = make_seq(u, AF_PK_TUPLE, stack_at(u, u->sp - n), n, &t);
    if (st)
        return st;
    u->sp -= n;
    return push(u, t);
}

/* MARK-delimited: TUPLE, LIST, FROZENSET, DICT. */
static af_status op_from_mark(up *u, af_pk_kind kind)
{
    size_t base = 0;
    af_status st = pop_mark(u, &base);
    if (st)
        return st;
    size_t n = u->sp - base;
    af_pk_value *v;
    if (kind == AF_PK_DICT) {
        if (n % 2)
            return u_fail(u, AF_E_FORMAT, "odd number of items for a dict");
        st = new_value(u, AF_PK_DICT, &v);
        for (size_t i = 0; !st && i < n; i += 2)
            st = dict_add(u, v, u->stack[base + i], u->stack[base + i + 1]);
    } else {
        st = make_seq(u, kind, stack_at(u, base), n, &v);
    }
    if (st)
        return st;
    u->sp = base;
    return push(u, v);
}

static af_status op_appends(up *u, int with_mark, af_pk_kind want)
{
    size_t base = 0;
    af_status st;
    if (with_mark) {
        st = pop_mark(u, &base);
        if (st)
            return st;
    } else {
        if (u->sp - mark_base(u) < 2)
            return u_fail(u, AF_E_FORMAT, "stack underflow");
        base = u->sp - 1;
    }
    if (base == 0 || base <= mark_base(u))
        return u_fail(u, AF_E_FORMAT, "stack underflow");
    af_pk_value *target = u->stack[base - 1];
    size_t n = u->sp - base;
    if (want == AF_PK_DICT) {
        if (target->kind != AF_PK_DICT)
            return u_fail(u, AF_E_UNSUPPORTED, "setting items on something that is not a dict");
        if (n % 2)
            return u_fail(u, AF_E_FORMAT, "odd number of items for a dict");
        for (size_t i = 0; i < n; i += 2)
            if ((st = dict_add(u, target, u->stack[base + i], u->stack[base + i + 1])))
                return st;
    } else {
        if (target->kind != want)
            return u_fail(u, AF_E_UNSUPPORTED, "adding items to something that is not a %s",
                          want == AF_PK_SET ? "set" : "list");
        for (size_t i = 0; i < n; i++)
            if ((st = seq_add(u, target, u->stack[base + i])))
                return st;
    }
    u->sp = base;
    return AF_OK;
}

static int is_seq(const af_pk_value *v)
{
    return v->kind == AF_PK_TUPLE || v->kind == AF_PK_LIST || v->kind == AF_PK_SET;
}

/* Decodes UTF-8 text whose code points are all < 256 into latin-1 bytes. */
static af_status latin1_encode(up *u, const af_pk_value *s, af_pk_value **out)
{
    af_status st = make_bytes(u, AF_PK_BYTES, (const uint8_t *)"", 0, out);
    if (st)
        return st;
    uint8_t *dst = realloc((*out)->u.s.ptr, s->u.s.len + 1);
    if (!dst)
        return u_fail(u, AF_E_NOMEM, "out of memory");
    (*out)->u.s.ptr = (char *)dst;
    const uint8_t *p = (const uint8_t *)s->u.s.ptr;
    size_t n = 0;
    for (size_t i = 0; i < s->u.s.len;) {
        if (p[i] < 0x80) {
            dst[n++] = p[i++];
        } else if ((p[i] == 0xc2 || p[i] == 0xc3) && i + 1 < s->u.s.len) {
            dst[n++] = (uint8_t)(((p[i] & 0x1f) << 6) | (p[i + 1] & 0x3f));
            i += 2;
        } else {
            return u_fail(u, AF_E_FORMAT, "latin-1 text has a character above U+00FF");
        }
    }
    dst[n] = 0;
    (*out)->u.s.len = n;
    return AF_OK;
}

/* REDUCE / NEWOBJ: callable + args tuple -> data or a record. */
static af_status apply(up *u, af_pk_value *callable, af_pk_value *args, int newobj)
{
    if (callable->kind != AF_PK_GLOBAL)
        return u_fail(u, AF_E_UNSUPPORTED, "calling something that is not a global");
    if (args->kind != AF_PK_TUPLE)
        return u_fail(u, AF_E_FORMAT, "arguments are not a tuple");
    size_t na = args->u.seq.count;
    af_pk_value **a = args->u.seq.items;
    af_pk_value *v = NULL;
    af_status st;
    switch ((enum role)callable->u.global.role) {
    case R_ODICT:
        if ((st = new_value(u, AF_PK_DICT, &v)))
            return st;
        if (na == 1 && is_seq(a[0])) {
            for (size_t i = 0; i < a[0]->u.seq.count; i++) {
                af_pk_value *pr = a[0]->u.seq.items[i];
                if (!is_seq(pr) || pr->kind == AF_PK_SET || pr->u.seq.count != 2)
                    return u_fail(u, AF_E_FORMAT, "OrderedDict items are not pairs");
                if ((st = dict_add(u, v, pr->u.seq.items[0], pr->u.seq.items[1])))
                    return st;
            }
        } else if (na == 1 && a[0]->kind == AF_PK_DICT) {
            for (size_t i = 0; i < a[0]->u.dict.count; i++)
                if ((st = dict_add(u, v, a[0]->u.dict.keys[i], a[0]->u.dict.vals[i])))
                    return st;
        } else if (na != 0) {
            return u_fail(u, AF_E_UNSUPPORTED, "OrderedDict with unexpected arguments");
        }
        break;
    case R_SET:
        if (na == 0) {
            st = new_value(u, AF_PK_SET, &v);
        } else if (na == 1 && is_seq(a[0])) {
            st = make_seq(u, AF_PK_SET, a[0]->u.seq.items, a[0]->u.seq.count, &v);
        } else {
            return u_fail(u, AF_E_UNSUPPORTED, "set() with unexpected arguments");
        }
        if (st)
            return st;
        break;
    case R_SIZE:
        if (newobj)
            return u_fail(u, AF_E_UNSUPPORTED, "torch.Size built with NEWOBJ");
        if (na == 0)
            st = new_value(u, AF_PK_TUPLE, &v);
        else if (na == 1 && is_seq(a[0]))
            st = make_seq(u, AF_PK_TUPLE, a[0]->u.seq.items, a[0]->u.seq.count, &v);
        else
            return u_fail(u, AF_E_UNSUPPORTED, "torch.Size with unexpected arguments");
        if (st)
            return st;
        break;
    case R_ENCODE: {
        if (newobj || na < 1 || na > 2 || a[0]->kind != AF_PK_STR ||
            (na == 2 && a[1]->kind != AF_PK_STR))
            return u_fail(u, AF_E_UNSUPPORTED, "_codecs.encode with unexpected arguments");
        const char *enc = na == 2 ? a[1]->u.s.ptr : "utf-8";
        if (!strcmp(enc, "latin1") || !strcmp(enc, "latin-1") || !strcmp(enc, "iso-8859-1")) {
            if ((st = latin1_encode(u, a[0], &v)))
                return st;
        } else if (!strcmp(enc, "utf-8") || !strcmp(enc, "utf8")) {
            if ((st = make_bytes(u, AF_PK_BYTES, (const uint8_t *)a[0]->u.s.ptr, a[0]->u.s.len,
                                 &v)))
                return st;
        } else {
            return u_fail(u, AF_E_UNSUPPORTED, "_codecs.encode with encoding '%.40s'", enc);
        }
        break;
    }
    case R_FUNC:
    case R_CLASS:
        if (newobj && callable->u.global.role != R_CLASS)
            return u_fail(u, AF_E_UNSUPPORTED, "NEWOBJ of '%s.%s', which is not a class",
                          callable->u.global.module, callable->u.global.name);
        if ((st = new_value(u, callable->u.global.role == R_CLASS ? AF_PK_OBJECT : AF_PK_CALL,
                            &v)))
            return st;
        v->u.obj.cls = callable;
        v->u.obj.args = args;
        if ((st = add_depth(u, v, args)))
            return st;
        break;
    case R_BYTES:
        if (newobj || na != 0)
            return u_fail(u, AF_E_UNSUPPORTED, "bytes() with arguments");
        if ((st = make_bytes(u, AF_PK_BYTES, (const uint8_t *)"", 0, &v)))
            return st;
        break;
    case R_NP_SCALAR: {
        af_np_dtype dt;
        if (newobj || na != 2)
            return u_fail(u, AF_E_FORMAT, "numpy scalar with unexpected arguments");
        if ((st = new_value(u, AF_PK_CALL, &v)))
            return st;
        if (!af_np_dtype_of(a[0], &dt)) {
            if (a[1]->kind != AF_PK_BYTES || a[1]->u.s.len != (size_t)dt.size)
                return u_fail(u, AF_E_FORMAT, "numpy scalar of %d bytes holds %zu", dt.size,
                              a[1]->kind == AF_PK_BYTES ? a[1]->u.s.len : (size_t)0);
            af_np_decode(&dt, (const uint8_t *)a[1]->u.s.ptr, v);
        } else { /* a type animeface does not read (str, object, ...): opaque record */
            v->u.obj.cls = callable;
            v->u.obj.args = args;
            if ((st = add_depth(u, v, args)))
                return st;
        }
        break;
    }
    case R_NP_RECON:
        if (newobj || na != 3 || a[0]->kind != AF_PK_GLOBAL ||
            a[0]->u.global.role != R_NP_ARRAY)
            return u_fail(u, AF_E_UNSUPPORTED, "numpy _reconstruct of something not an ndarray");
        if ((st = new_value(u, AF_PK_OBJECT, &v)))
            return st;
        v->u.obj.cls = a[0];
        v->u.obj.args = args;
        if ((st = add_depth(u, v, args)))
            return st;
        break;
    case R_TYPE:
    case R_NP_ARRAY:
    default:
        return u_fail(u, AF_E_UNSUPPORTED, "'%s.%s' cannot be called",
                      callable->u.global.module, callable->u.global.name);
    }
    return push(u, v);
}

static af_status op_reduce(up *u)
{
    af_pk_value *args = NULL, *callable = NULL;
    af_status st = pop(u, &args);
    if (!st)
        st = pop(u, &callable);
    return st ? st : apply(u, callable, args, 0);
}

static af_status op_newobj(up *u, int ex)
{
    af_pk_value *args = NULL, *cls = NULL, *kwargs = NULL;
    af_status st = AF_OK;
    if (ex)
        st = pop(u, &kwargs);
    if (!st)
        st = pop(u, &args);
    if (!st)
        st = pop(u, &cls);
    if (st)
        return st;
    if (kwargs && (kwargs->kind != AF_PK_DICT || kwargs->u.dict.count))
        return u_fail(u, AF_E_UNSUPPORTED, "keyword arguments");
    return apply(u, cls, args, 1);
}

#define NP_MAX_DIMS 32

/* BUILD of an ndarray record from _reconstruct, state (version, shape, dtype,
 * is_fortran, data): the record becomes the array as plain data, in place (so
 * memo references see it): nested lists in C order, a 0-d array its one value.
 * data is raw bytes, or a list for object arrays. Arrays of types animeface
 * does not read keep the record (opaque; null in JSON). */
static af_status np_build_array(up *u, af_pk_value *obj, af_pk_value *state)
{
    if (obj->u.obj.state)
        return u_fail(u, AF_E_FORMAT, "numpy array built twice");
    if (state->kind != AF_PK_TUPLE || state->u.seq.count != 5)
        return u_fail(u, AF_E_FORMAT, "numpy array state is not a 5-tuple");
    af_pk_value **s = state->u.seq.items;
    const af_pk_value *shape = s[1], *data = s[4];
    int64_t dims[NP_MAX_DIMS], fortran;
    size_t nd, numel = 1, lists = 0, level = 1;
    if (shape->kind != AF_PK_TUPLE || shape->u.seq.count > NP_MAX_DIMS ||
        af_pk_get_int(s[3], &fortran))
        return u_fail(u, AF_E_FORMAT, "numpy array state has a bad shape or order");
    nd = shape->u.seq.count;
    for (size_t d = 0; d < nd; d++) {
        if (af_pk_get_int(shape->u.seq.items[d], &dims[d]) || dims[d] < 0 ||
            (uint64_t)dims[d] > SIZE_MAX || af_mul_size(numel, (size_t)dims[d], &numel))
            return u_fail(u, AF_E_FORMAT, "numpy array has a bad dimension");
        if (d + 1 < nd && (af_mul_size(level, (size_t)dims[d], &level) ||
                           af_add_size(lists, level, &lists) || lists > u->len))
            return u_fail(u, AF_E_LIMIT, "numpy array has too many rows for its pickle");
    }
    af_np_dtype dt;
    int known = !af_np_dtype_of(s[2], &dt);
    int objects = data->kind == AF_PK_LIST;
    if (objects ? data->u.seq.count != numel
                : data->kind != AF_PK_BYTES ||
                      (known && (numel > data->u.s.len || numel * (size_t)dt.size != data->u.s.len)))
        return u_fail(u, AF_E_FORMAT, "numpy array data does not match its shape");
    if ((!known && !objects) || (objects && nd == 0)) {
        obj->u.obj.state = state;
        return add_depth(u, obj, state);
    }
    if (nd == 0) {
        af_np_decode(&dt, (const uint8_t *)data->u.s.ptr, obj);
        obj->depth = 0;
        return AF_OK;
    }
    /* leaves in C order (a Fortran-ordered source is read transposed), then
     * the innermost dimension grouped into lists, level by level, up to the
     * record itself; pre[d] = lists of dimension d = dims[0] * ... * dims[d-1] */
    size_t pre[NP_MAX_DIMS], slots = numel;
    pre[0] = 1;
    for (size_t d = 1; d < nd; d++)
        pre[d] = pre[d - 1] * (size_t)dims[d - 1]; /* <= lists, checked above */
    if (pre[nd - 1] > slots)
        slots = pre[nd - 1];
    af_pk_value **flat = malloc((slots ? slots : 1) * sizeof *flat);
    if (!flat)
        return u_fail(u, AF_E_NOMEM, "out of memory for a %zu-element numpy array", numel);
    af_status st = AF_OK;
    int64_t idx[NP_MAX_DIMS] = {0};
    for (size_t i = 0; i < numel && !st; i++) {
        size_t src = i;
        if (fortran) {
            src = 0;
            for (size_t d = nd; d-- > 0;)
                src = src * (size_t)dims[d] + (size_t)idx[d];
            for (size_t d = nd; d-- > 0 && ++idx[d] == dims[d];)
                idx[d] = 0;
        }
        if (objects)
            flat[i] = data->u.seq.items[src];
        else if (!(st = new_value(u, AF_PK_NONE, &flat[i])))
            af_np_decode(&dt, (const uint8_t *)data->u.s.ptr + src * (size_t)dt.size, flat[i]);
    }
    for (size_t d = nd; d-- > 0 && !st;) {
        size_t w = (size_t)dims[d];
        for (size_t g = 0; g < pre[d] && !st; g++) {
            af_pk_value *l = obj;
            if (d) {
                st = new_value(u, AF_PK_LIST, &l);
            } else {
                memset(&obj->u, 0, sizeof obj->u);
                obj->kind = AF_PK_LIST;
                obj->depth = 0;
            }
            for (size_t j = 0; j < w && !st; j++)
                st = seq_add(u, l, flat[g * w + j]);
            flat[g] = l;
        }
    }
    free(flat);
    return st;
}

static af_status op_build(up *u)
{
    af_pk_value *state = NULL, *obj = NULL;
    af_status st = pop(u, &state);
    if (!st)
        st = top(u, &obj);
    if (st)
        return st;
    if (obj->kind == AF_PK_OBJECT && obj->u.obj.cls->kind == AF_PK_GLOBAL &&
        obj->u.obj.cls->u.global.role == R_NP_ARRAY)
        return np_build_array(u, obj, state);
    if (obj->kind == AF_PK_OBJECT) {
        /* (dict_state, slot_state) form: merge the two dicts */
        if (state->kind == AF_PK_TUPLE && state->u.seq.count == 2) {
            af_pk_value *d = state->u.seq.items[0], *s = state->u.seq.items[1];
            af_pk_value *m;
            if ((st = new_value(u, AF_PK_DICT, &m)))
                return st;
            for (int k = 0; k < 2; k++) {
                af_pk_value *src = k ? s : d;
                if (src->kind == AF_PK_NONE)
                    continue;
                if (src->kind != AF_PK_DICT)
                    return u_fail(u, AF_E_UNSUPPORTED, "object state is not a dict");
                for (size_t i = 0; i < src->u.dict.count; i++)
                    if ((st = dict_add(u, m, src->u.dict.keys[i], src->u.dict.vals[i])))
                        return st;
            }
            state = m;
        }
        if (obj->u.obj.state && obj->u.obj.state->kind == AF_PK_DICT &&
            state->kind == AF_PK_DICT) {
            af_pk_value *d = obj->u.obj.state;
            for (size_t i = 0; i < state->u.dict.count; i++)
                if ((st = dict_add(u, d, state->u.dict.keys[i], state->u.dict.vals[i])))
                    return st;
        } else {
            obj->u.obj.state = state;
        }
        return add_depth(u, obj, state);
    }
    if (state->kind == AF_PK_NONE)
        return AF_OK;
    if (obj->kind == AF_PK_DICT && state->kind == AF_PK_DICT)
        return AF_OK; /* OrderedDict.__dict__: attributes we do not need */
    return u_fail(u, AF_E_UNSUPPORTED, "BUILD on a value that is not an object");
}

static af_status step(up *u, int *done)
{
    af_status st;
    af_pk_value *v = NULL, *w = NULL;
    u->op_pos = u->pos;
    if (u->pos >= u->len) {
        u->op = 0;
        return af_fail(u->err, AF_E_FORMAT, "%s: truncated pickle: ends at offset %zu without STOP",
                       u->name, u->pos);
    }
    u->op = u->p[u->pos++];
    switch (u->op) {
    case 0x80: /* PROTO */
        if ((st = need(u, 1)))
            return st;
        if (u->p[u->pos] > 5)
            return u_fail(u, AF_E_UNSUPPORTED, "pickle protocol %d", u->p[u->pos]);
        u->pos++;
        return AF_OK;
    case 0x95: /* FRAME */
        if ((st = need(u, 8)))
            return st;
        if (rd_le(u->p + u->pos, 8) > u->len - u->pos - 8)
            return u_fail(u, AF_E_FORMAT, "truncated pickle: frame longer than the data");
        u->pos += 8;
        return AF_OK;
    case '.': *done = 1; return AF_OK;
    case '(':
        if (u->nmarks >= u->lim.max_marks)
            return u_fail(u, AF_E_LIMIT, "more than %zu nested MARKs", u->lim.max_marks);
        if (u->nmarks == u->mcap) {
            size_t cap = u->mcap ? u->mcap * 2 : 64;
            size_t *m = realloc(u->marks, cap * sizeof *m);
            if (!m)
                return u_fail(u, AF_E_NOMEM, "out of memory");
            u->marks = m;
            u->mcap = cap;
        }
        u->marks[u->nmarks++] = u->sp;
        return AF_OK;
    case '0': /* POP */
        if (u->sp > mark_base(u)) {
            u->sp--;
            return AF_OK;
        }
        if (u->nmarks) {
            u->nmarks--;
            return AF_OK;
        }
        return u_fail(u, AF_E_FORMAT, "stack underflow");
    case '1': { /* POP_MARK */
        size_t base = 0;
        if ((st = pop_mark(u, &base)))
            return st;
        u->sp = base;
        return AF_OK;
    }
    case '2': return (st = top(u, &v)) ? st : push(u, v);
    case 'N': return push(u, u->none);
    case 0x88: return push(u, u->yes);
    case 0x89: return push(u, u->no);
    case 'J':
        if ((st = need(u, 4)))
            return st;
        {
            uint32_t x = (uint32_t)rd_le(u->p + u->pos, 4);
            int32_t i;
            memcpy(&i, &x, 4);
            u->pos += 4;
            return push_int(u, i);
        }
    case 'K':
        if ((st = need(u, 1)))
            return st;
        return push_int(u, u->p[u->pos++]);
    case 'M':
        if ((st = need(u, 2)))
            return st;
        u->pos += 2;
        return push_int(u, (int64_t)rd_le(u->p + u->pos - 2, 2));
    case 0x8a: return op_long(u, 1);
    case 0x8b: return op_long(u, 4);
    case 'I':
    case 'L': {
        char line[64];
        int64_t i;
        if ((st = read_line(u, line, sizeof line)))
            return st;
        if (u->op == 'I' && !strcmp(line, "01"))
            return push(u, u->yes);
        if (u->op == 'I' && !strcmp(line, "00"))
            return push(u, u->no);
        if ((st = parse_decimal(u, line, &i)))
            return st;
        return push_int(u, i);
    }
    case 'F': {
        char line[64], *end;
        if ((st = read_line(u, line, sizeof line)))
            return st;
        double d = strtod(line, &end);
        if (end == line || *end)
            return u_fail(u, AF_E_FORMAT, "bad float '%s'", line);
        return push_float(u, d);
    }
    case 'G':
        if ((st = need(u, 8)))
            return st;
        {
            uint64_t x = 0;
            for (int k = 0; k < 8; k++)
                x = (x << 8) | u->p[u->pos + (size_t)k];
            double d;
            memcpy(&d, &x, 8);
            u->pos += 8;
            return push_float(u, d);
        }
    case 'X': return op_sized(u, 4, 0, AF_PK_STR);
    case 0x8c: return op_sized(u, 1, 0, AF_PK_STR);
    case 0x8d: return op_sized(u, 8, 0, AF_PK_STR);
    case 'T': return op_sized(u, 4, 1, AF_PK_STR);
    case 'U': return op_sized(u, 1, 0, AF_PK_STR);
    case 'B': return op_sized(u, 4, 0, AF_PK_BYTES);
    case 'C': return op_sized(u, 1, 0, AF_PK_BYTES);
    case 0x8e: return op_sized(u, 8, 0, AF_PK_BYTES);
    case 0x96: return op_sized(u, 8, 0, AF_PK_BYTES);
    case ')': return (st = new_value(u, AF_PK_TUPLE, &v)) ? st : push(u, v);
    case ']': return (st = new_value(u, AF_PK_LIST, &v)) ? st : push(u, v);
    case '}': return (st = new_value(u, AF_PK_DICT, &v)) ? st : push(u, v);
    case 0x8f: return (st = new_value(u, AF_PK_SET, &v)) ? st : push(u, v);
    case 0x85: return op_tuple_n(u, 1);
    case 0x86: return op_tuple_n(u, 2);
    case 0x87: return op_tuple_n(u, 3);
    case 't': return op_from_mark(u, AF_PK_TUPLE);
    case 'l': return op_from_mark(u, AF_PK_LIST);
    case 'd': return op_from_mark(u, AF_PK_DICT);
    case 0x91: return op_from_mark(u, AF_PK_SET);
    case 'a': return op_appends(u, 0, AF_PK_LIST);
    case 'e': return op_appends(u, 1, AF_PK_LIST);
    case 0x90: return op_appends(u, 1, AF_PK_SET);
    case 's':
        if (u->sp - mark_base(u) < 3)
            return u_fail(u, AF_E_FORMAT, "stack underflow");
        {
            size_t base = u->sp - 2;
            af_pk_value *d = u->stack[base - 1];
            if (d->kind != AF_PK_DICT)
                return u_fail(u, AF_E_UNSUPPORTED, "setting items on something that is not a dict");
            if ((st = dict_add(u, d, u->stack[base], u->stack[base + 1])))
                return st;
            u->sp = base;
            return AF_OK;
        }
    case 'u': return op_appends(u, 1, AF_PK_DICT);
    case 'c': return op_global(u);
    case 0x93: return op_stack_global(u);
    case 'R': return op_reduce(u);
    case 0x81: return op_newobj(u, 0);
    case 0x92: return op_newobj(u, 1);
    case 'b': return op_build(u);
    case 'Q':
    case 'P':
        if (u->op == 'Q') {
            if ((st = pop(u, &w)))
                return st;
        } else {
            char line[256];
            if ((st = read_line(u, line, sizeof line)))
                return st;
            if ((st = make_bytes(u, AF_PK_STR, (const uint8_t *)line, strlen(line), &w)))
                return st;
        }
        if ((st = new_value(u, AF_PK_PERSID, &v)))
            return st;
        v->u.persid.pid = w;
        if ((st = add_depth(u, v, w)))
            return st;
        return push(u, v);
    case 'q':
        if ((st = need(u, 1)))
            return st;
        return memo_put(u, u->p[u->pos++]);
    case 'r':
        if ((st = need(u, 4)))
            return st;
        u->pos += 4;
        return memo_put(u, rd_le(u->p + u->pos - 4, 4));
    case 0x94: return memo_put(u, u->memocount);
    case 'h':
        if ((st = need(u, 1)))
            return st;
        return memo_get(u, u->p[u->pos++]);
    case 'j':
        if ((st = need(u, 4)))
            return st;
        u->pos += 4;
        return memo_get(u, rd_le(u->p + u->pos - 4, 4));
    case 'p':
    case 'g': {
        char line[32];
        int64_t i;
        if ((st = read_line(u, line, sizeof line)) || (st = parse_decimal(u, line, &i)))
            return st;
        if (i < 0)
            return u_fail(u, AF_E_FORMAT, "negative memo index");
        return u->op == 'p' ? memo_put(u, (uint64_t)i) : memo_get(u, (uint64_t)i);
    }
    default: break;
    }
    if (opname(u->op))
        return u_fail(u, AF_E_UNSUPPORTED, "unsupported pickle opcode");
    return u_fail(u, AF_E_FORMAT, "unknown pickle opcode");
}

static void default_limits(af_pickle_limits *l, const af_pickle_limits *in)
{
    l->max_stack = 1u << 20;
    l->max_marks = 4096;
    l->max_memo = 1u << 22;
    l->max_values = 1u << 24;
    l->max_depth = 512;
    if (in) {
        if (in->max_stack)
            l->max_stack = in->max_stack;
        if (in->max_marks)
            l->max_marks = in->max_marks;
        if (in->max_memo)
            l->max_memo = in->max_memo;
        if (in->max_values)
            l->max_values = in->max_values;
        if (in->max_depth > 0)
            l->max_depth = in->max_depth;
    }
}

af_status af_pickle_load(const void *buf, size_t len, const char *name,
                         const af_pickle_limits *lim, af_pickle *doc, af_error *err)
{
    doc->root = NULL;
    doc->arena = NULL;
    up u;
    memset(&u, 0, sizeof u);
    u.p = buf;
    u.len = buf ? len : 0;
    u.name = name && *name ? name : "pickle";
    u.err = err;
    default_limits(&u.lim, lim);
    u.ar = calloc(1, sizeof *u.ar);
    if (!u.ar)
        return af_fail(err, AF_E_NOMEM, "%s: out of memory", u.name);
    af_status st = new_value(&u, AF_PK_NONE, &u.none);
    if (!st && !(st = new_value(&u, AF_PK_BOOL, &u.yes)))
        u.yes->u.b = 1;
    if (!st)
        st = new_value(&u, AF_PK_BOOL, &u.no);
    int done = 0;
    while (!st && !done)
        st = step(&u, &done);
    if (!st) {
        u.op_pos = u.pos - 1;
        if (u.sp == 0 || u.sp <= mark_base(&u))
            st = u_fail(&u, AF_E_FORMAT, "STOP with an empty stack");
    }
    if (!st) {
        doc->root = u.stack[u.sp - 1];
        doc->arena = u.ar;
    } else {
        arena_free(u.ar);
    }
    free(u.stack);
    free(u.marks);
    free(u.memo);
    return st;
}

void af_pickle_free(af_pickle *doc)
{
    if (!doc)
        return;
    arena_free(doc->arena);
    doc->arena = NULL;
    doc->root = NULL;
}

/* ---- walking helpers ---------------------------------------------------- */

const af_pk_value *af_pk_dict_get(const af_pk_value *d, const char *key)
{
    if (!d || d->kind != AF_PK_DICT || !key)
        return NULL;
    for (size_t i = d->u.dict.count; i-- > 0;) {
        const af_pk_value *k = d->u.dict.keys[i];
        if (k->kind == AF_PK_STR && !strcmp(k->u.s.ptr, key) && strlen(key) == k->u.s.len)
            return d->u.dict.vals[i];
    }
    return NULL;
}

const af_pk_value *af_pk_dict_get_int(const af_pk_value *d, int64_t key)
{
    if (!d || d->kind != AF_PK_DICT)
        return NULL;
    for (size_t i = d->u.dict.count; i-- > 0;) {
        const af_pk_value *k = d->u.dict.keys[i];
        if (k->kind == AF_PK_INT && k->u.i == key)
            return d->u.dict.vals[i];
    }
    return NULL;
}

int af_pk_is_global(const af_pk_value *v, const char *module, const char *name)
{
    return v && v->kind == AF_PK_GLOBAL && !strcmp(v->u.global.module, module) &&
           !strcmp(v->u.global.name, name);
}

int af_pk_is_call_of(const af_pk_value *v, const char *module, const char *name)
{
    return v && (v->kind == AF_PK_CALL || v->kind == AF_PK_OBJECT) &&
           af_pk_is_global(v->u.obj.cls, module, name);
}

const char *af_pk_str(const af_pk_value *v)
{
    return v && v->kind == AF_PK_STR ? v->u.s.ptr : NULL;
}

int af_pk_get_int(const af_pk_value *v, int64_t *out)
{
    if (v && v->kind == AF_PK_INT) {
        *out = v->u.i;
        return 0;
    }
    if (v && v->kind == AF_PK_BOOL) {
        *out = v->u.b;
        return 0;
    }
    return 1;
}

int af_pk_get_number(const af_pk_value *v, double *out)
{
    int64_t i;
    if (!af_pk_get_int(v, &i)) {
        *out = (double)i;
        return 0;
    }
    if (v && v->kind == AF_PK_FLOAT) {
        *out = v->u.f;
        return 0;
    }
    return 1;
}

const char *af_pk_class_name(const af_pk_value *v, char *buf, size_t size)
{
    if (!size)
        return buf;
    buf[0] = 0;
    if (v && v->kind == AF_PK_OBJECT && v->u.obj.cls && v->u.obj.cls->kind == AF_PK_GLOBAL)
        snprintf(buf, size, "%s.%s", v->u.obj.cls->u.global.module, v->u.obj.cls->u.global.name);
    return buf;
}

/* ---- JSON conversion ---------------------------------------------------- */

typedef struct jctx {
    int max_depth;
    size_t budget; /* values left to emit: shared values could otherwise blow up */
    af_error *err;
} jctx;

static af_status to_json(jctx *c, const af_pk_value *v, int depth, cJSON **out)
{
    *out = NULL;
    if (depth > c->max_depth)
        return af_fail(c->err, AF_E_LIMIT, "value nested deeper than %d levels", c->max_depth);
    if (c->budget == 0)
        return af_fail(c->err, AF_E_LIMIT, "value too large to convert");
    c->budget--;
    cJSON *j = NULL;
    af_status st = AF_OK;
    switch (v->kind) {
    case AF_PK_BOOL: j = cJSON_CreateBool(v->u.b); break;
    case AF_PK_INT: j = cJSON_CreateNumber((double)v->u.i); break;
    case AF_PK_FLOAT: j = cJSON_CreateNumber(v->u.f); break;
    case AF_PK_STR: j = cJSON_CreateString(v->u.s.ptr); break;
    case AF_PK_GLOBAL: {
        char buf[520];
        snprintf(buf, sizeof buf, "%s.%s", v->u.global.module, v->u.global.name);
        j = cJSON_CreateString(buf);
        break;
    }
    case AF_PK_TUPLE:
    case AF_PK_LIST:
    case AF_PK_SET:
        j = cJSON_CreateArray();
        for (size_t i = 0; j && !st && i < v->u.seq.count; i++) {
            cJSON *item;
            st = to_json(c, v->u.seq.items[i], depth + 1, &item);
            if (!st && !cJSON_AddItemToArray(j, item)) {
                cJSON_Delete(item);
                st = af_fail(c->err, AF_E_NOMEM, "out of memory");
            }
        }
        break;
    case AF_PK_DICT:
        if (v->u.dict.count > 16384)
            return af_fail(c->err, AF_E_LIMIT, "dict of %zu items too large to convert",
                           v->u.dict.count);
        j = cJSON_CreateObject();
        for (size_t i = 0; j && !st && i < v->u.dict.count; i++) {
            const af_pk_value *k = v->u.dict.keys[i];
            char kb[64];
            const char *key = kb;
            switch (k->kind) {
            case AF_PK_STR: key = k->u.s.ptr; break;
            case AF_PK_INT: snprintf(kb, sizeof kb, "%" PRId64, k->u.i); break;
            case AF_PK_BOOL: snprintf(kb, sizeof kb, "%s", k->u.b ? "true" : "false"); break;
            case AF_PK_FLOAT: snprintf(kb, sizeof kb, "%.17g", k->u.f); break;
            case AF_PK_NONE: snprintf(kb, sizeof kb, "null"); break;
            default: key = NULL; break;
            }
            if (!key)
                continue; /* keys that JSON cannot express are left out */
            cJSON *item;
            st = to_json(c, v->u.dict.vals[i], depth + 1, &item);
            if (st)
                break;
            cJSON_DeleteItemFromObjectCaseSensitive(j, key); /* later value wins */
            if (!cJSON_AddItemToObject(j, key, item)) {
                cJSON_Delete(item);
                st = af_fail(c->err, AF_E_NOMEM, "out of memory");
            }
        }
        break;
    case AF_PK_OBJECT:
        if (v->u.obj.state && v->u.obj.state->kind == AF_PK_DICT)
            return to_json(c, v->u.obj.state, depth + 1, out);
        j = cJSON_CreateNull();
        break;
    default: j = cJSON_CreateNull(); break;
    }
    if (!st && !j)
        st = af_fail(c->err, AF_E_NOMEM, "out of memory");
    if (st) {
        cJSON_Delete(j);
        return st;
    }
    *out = j;
    return AF_OK;
}

af_status af_pk_to_json(const af_pk_value *v, int max_depth, cJSON **out, af_error *err)
{
    *out = NULL;
    if (!v)
        return af_fail(err, AF_E_ARG, "no value");
    jctx c = {max_depth > 0 ? max_depth : 64, 1u << 20, err};
    return to_json(&c, v, 0, out);
}
