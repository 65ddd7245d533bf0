/* Error reporting helpers: fill an af_error with one formatted line. */
#ifndef AF_CORE_ERROR_H
#define AF_CORE_ERROR_H

#include "animeface.h"

#if defined(__GNUC__)
#define AF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AF_PRINTF(a, b)
#endif

/* Sets err (if non-NULL) and returns code, so callers can `return af_fail(...)`. */
af_status af_fail(af_error *err, af_status code, const char *fmt, ...) AF_PRINTF(3, 4);

/* Prepends "prefix: " to the message already in err (e.g. the file name). */
void af_error_prefix(af_error *err, const char *fmt, ...) AF_PRINTF(2, 3);

void af_error_clear(af_error *err);

#endif
