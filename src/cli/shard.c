#include "cli/shard.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* a whole non-negative number, at most 1e6 */
static int parse_count(const char *s, long *out)
{
    char *end = NULL;
    long v = s && *s ? strtol(s, &end, 10) : -1;
    if (!s || !*s || *end || v < 0 || v > 1000000)
        return 1;
    *out = v;
    return 0;
}

int shard_parse(const char *prefix, const char *arg, int *index, int *count)
{
    *index = 0;
    *count = 1;
    if (!arg || !*arg)
        return 0;
    long i = -1, n = 0;
    char head[32];
    const char *slash = NULL;
    for (const char *p = arg; *p; p++)
        if (*p == '/')
            slash = p;
    if (slash) {
        snprintf(head, sizeof head, "%.*s", (int)(slash - arg < 31 ? slash - arg : 31), arg);
        if (parse_count(head, &i) || parse_count(slash + 1, &n) || n < 1) {
            fprintf(stderr, "%s: --shard must be I/N with 0 <= I < N (got '%s')\n", prefix, arg);
            return 1;
        }
    } else {
        if (parse_count(arg, &n) || n < 1) {
            fprintf(stderr, "%s: --shard must be I/N or N (got '%s')\n", prefix, arg);
            return 1;
        }
        const char *id = getenv("SLURM_ARRAY_TASK_ID"), *mn = getenv("SLURM_ARRAY_TASK_MIN");
        const char *k8s = getenv("JOB_COMPLETION_INDEX");
        long lo = 0;
        if (id && *id) {
            if (parse_count(id, &i) || (mn && *mn && parse_count(mn, &lo))) {
                fprintf(stderr, "%s: --shard %s: SLURM_ARRAY_TASK_ID '%s' / SLURM_ARRAY_TASK_MIN "
                                "'%s' are not task numbers\n",
                        prefix, arg, id, mn ? mn : "");
                return 1;
            }
            i -= lo;
        } else if (k8s && *k8s) {
            if (parse_count(k8s, &i)) {
                fprintf(stderr, "%s: --shard %s: JOB_COMPLETION_INDEX '%s' is not a number\n",
                        prefix, arg, k8s);
                return 1;
            }
        } else {
            fprintf(stderr, "%s: --shard %s: which shard? Give I/%s, or run it as a Slurm array "
                            "task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job "
                            "(JOB_COMPLETION_INDEX)\n",
                    prefix, arg, arg);
            return 1;
        }
    }
    if (i < 0 || i >= n) {
        fprintf(stderr, "%s: shard %ld is not in 0..%ld (--shard %s; a Slurm array of N tasks "
                        "numbered from SLURM_ARRAY_TASK_MIN, step 1)\n",
                prefix, i, n - 1, arg);
        return 1;
    }
    *index = (int)i;
    *count = (int)n;
    return 0;
}

int shard_of(const char *path, int count)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return count > 1 ? (int)(h % (uint64_t)count) : 0;
}
