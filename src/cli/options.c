#include "cli/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* "max_det" and "max-det" name the same option. */
static int name_eq(const char *a, size_t alen, const char *b)
{
    if (!b || strlen(b) != alen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
        if (x != y)
            return 0;
    }
    return 1;
}

/* "conf=0.3": an identifier, '=', a value (a path with '=' in it is not). */
static int is_key_value(const char *a)
{
    const char *eq = strchr(a, '=');
    if (!eq || eq == a)
        return 0;
    for (const char *p = a; p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '-' ||
              (*p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

static const opt_spec *find(const opt_spec *s, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (name_eq(name, len, s[i].name) || name_eq(name, len, s[i].alias))
            return &s[i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *t[] = {"1", "true", "yes", "on"}, *f[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, t[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(v, f[i])) {
            *out = 0;
            return 0;
        }
    }
    return 1;
}

static int set_value(const char *prog, const opt_spec *s, const char *v)
{
    char *end;
    switch (s->type) {
    case OPT_BOOL:
        if (parse_bool(v, (int *)s->dst)) {
            fprintf(stderr, "%s: option '%s' takes True or False, not '%s'\n", prog, s->name, v);
            return 1;
        }
        return 0;
    case OPT_INT:
    case OPT_FLOAT: {
        errno = 0;
        double d = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(d) || (s->type == OPT_INT && d != floor(d))) {
            fprintf(stderr, "%s: option '%s' takes %s, not '%s'\n", prog, s->name,
                    s->type == OPT_INT ? "an integer" : "a number", v);
            return 1;
        }
        if (s->min <= s->max && (d < s->min || d > s->max)) {
            fprintf(stderr, "%s: option '%s' must be between %g and %g (got %s)\n", prog,
                    s->name, s->min, s->max, v);
            return 1;
        }
        if (s->type == OPT_INT)
            *(int *)s->dst = (int)d;
        else
            *(double *)s->dst = d;
        return 0;
    }
    case OPT_STRING:
        *(const char **)s->dst = v;
        return 0;
    case OPT_INTLIST: {
        opt_intlist *l = s->dst;
        l->n = 0;
        const char *p = v;
        while (*p == '[' || *p == '(' || *p == ' ')
            p++;
        while (*p && *p != ']' && *p != ')') {
            errno = 0;
            long x = strtol(p, &end, 10);
            if (end == p || errno || x < (long)s->min || x > (long)s->max || l->n >= 256) {
                fprintf(stderr, "%s: option '%s' takes a list of integers like 0,2,3, not '%s'\n",
                        prog, s->name, v);
                return 1;
            }
            l->v[l->n++] = (int)x;
            p = end;
            while (*p == ',' || *p == ' ')
                p++;
        }
        if (l->n == 0) {
            fprintf(stderr, "%s: option '%s' needs at least one value\n", prog, s->name);
            return 1;
        }
        return 0;
    }
    }
    return 1;
}

int opt_parse(const char *prog, int argc, char **argv, const opt_spec *specs, int nspecs,
              char **positional, int cap, int *npos)
{
    *npos = 0;
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const char *name = NULL, *val = NULL;
        size_t nlen = 0;
        int negated = 0, dashed = 0;
        if (!only_pos && a[0] == '-' && a[1] == '-' && a[2]) {
            dashed = 1;
            name = a + 2;
            const char *eq = strchr(name, '=');
            nlen = eq ? (size_t)(eq - name) : strlen(name);
            val = eq ? eq + 1 : NULL;
        } else if (!only_pos && a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {
            /* single-letter short options are not used; report clearly */
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, a);
            return 1;
        } else if (!only_pos && is_key_value(a)) {
            name = a;
            nlen = (size_t)(strchr(a, '=') - a);
            val = strchr(a, '=') + 1;
            if (name_eq(name, nlen, "source")) {
                if (*npos >= cap) {
                    fprintf(stderr, "%s: too many sources\n", prog);
                    return 1;
                }
                positional[(*npos)++] = (char *)val;
                continue;
            }
        } else {
            if (*npos >= cap) {
                fprintf(stderr, "%s: too many arguments (max %d)\n", prog, cap);
                return 1;
            }
            positional[(*npos)++] = a;
            continue;
        }
        const opt_spec *s = find(specs, nspecs, name, nlen);
        if (!s && dashed && nlen > 3 && strncmp(name, "no-", 3) == 0) {
            s = find(specs, nspecs, name + 3, nlen - 3);
            if (s && s->type == OPT_BOOL && !val)
                negated = 1;
            else
                s = NULL;
        }
        if (!s) {
            fprintf(stderr, "%s: unknown option '%.*s' (see %s --help)\n", prog, (int)nlen, name,
                    prog);
            return 1;
        }
        if (s->type == OPT_BOOL && !val) {
            *(int *)s->dst = !negated;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: option '--%s' needs a value\n", prog, s->name);
                return 1;
            }
            val = argv[++i];
        }
        if (set_value(prog, s, val))
            return 1;
    }
    return 0;
}

void opt_print_help(const char *usage, const opt_spec *specs, int nspecs)
{
    printf("%s\n\nOptions:\n", usage);
    for (int i = 0; i < nspecs; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", specs[i].name, specs[i].metavar ? " " : "",
                 specs[i].metavar ? specs[i].metavar : "");
        printf("  %-26s %s\n", left, specs[i].help);
    }
}

int opt_parse_cmd(const char *prog, const char *usage, int argc, char **argv,
                  const opt_spec *specs, int nspecs, const int *help, char ***pos, int *npos)
{
    *npos = 0;
    if (!(*pos = calloc((size_t)argc + 1, sizeof **pos)))
        return 1;
    int rc = -1;
    if (opt_parse(prog, argc, argv, specs, nspecs, *pos, argc + 1, npos)) {
        rc = 2;
    } else if (*help) {
        opt_print_help(usage, specs, nspecs);
        rc = 0;
    }
    if (rc >= 0) {
        free(*pos);
        *pos = NULL;
    }
    return rc;
}
