#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *af_status_name(af_status s)
{
    switch (s) {
    case AF_OK: return "ok";
    case AF_E_IO: return "i/o error";
    case AF_E_FORMAT: return "format error";
    case AF_E_UNSUPPORTED: return "unsupported";
    case AF_E_LIMIT: return "limit exceeded";
    case AF_E_NOMEM: return "out of memory";
    case AF_E_ARG: return "bad argument";
    case AF_E_SECURITY: return "refused";
    case AF_E_INTERNAL: return "internal error";
    }
    return "unknown error";
}

af_status af_fail(af_error *err, af_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void af_error_prefix(af_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
}

void af_error_clear(af_error *err)
{
    if (err) {
        err->code = AF_OK;
        err->msg[0] = '\0';
    }
}
