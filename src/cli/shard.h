/* --shard: which part of a sorted source list one process of a job array takes. */
#ifndef AF_CLI_SHARD_H
#define AF_CLI_SHARD_H

/* "I/N", or "N" with I from the scheduler: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN
 * (Slurm job arrays), else JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs). NULL or ""
 * gives 0/1. Returns 0, or 1 after one error line (prefix: "animeface CMD"). */
int shard_parse(const char *prefix, const char *arg, int *index, int *count);

/* Shard of a path: FNV-1a 64 of its bytes, mod count. A path's shard depends on the path
 * alone: not on the other files, the listing order, or the time it was listed. */
int shard_of(const char *path, int count);

#endif
