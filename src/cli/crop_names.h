/* Where `animeface crop` writes each source's crops: DIR/{base}_{i}.{ext}, base = the
 * file's stem, or with --keep-tree its folder below the sources' common folder too. */
#ifndef AF_CLI_CROP_NAMES_H
#define AF_CLI_CROP_NAMES_H

#include <stddef.h>

/* bases[i] for paths[i] (malloc'd array of malloc'd strings). Two sources with the same
 * base would overwrite each other's crops: that is refused here, with one line naming
 * both (so every shard of a job, listing the same sources, refuses the same way).
 * Returns 0, 1 after an error line, or 2 when out of memory. */
int crop_names_build(const char *prefix, char **paths, size_t n, int keep_tree, char ***bases);
void crop_names_free(char **bases, size_t n);

#endif
