/* Per-thread error messages: the library reports errors as values and
 * keeps the words that explain them here, where the CLI prints them. */
#include "prectune/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

static const char *const status_names[PT_STATUS_COUNT] = {
    [PT_OK] = "ok",
    [PT_ERR_INVALID] = "invalid",
    [PT_ERR_IO] = "io",
    [PT_ERR_NOMEM] = "out of memory",
    [PT_ERR_UNSUPPORTED] = "unsupported",
    [PT_ERR_CUDA] = "cuda",
    [PT_ERR_NO_DEVICE] = "no device",
    [PT_ERR_STOPPED] = "stopped",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == PT_STATUS_COUNT,
               "one name per status");

const char *pt_status_name(pt_status s)
{
    return (unsigned)s < PT_STATUS_COUNT ? status_names[s] : "unknown";
}

const char *pt_last_error(void) { return last_error; }

void pt_clear_error(void) { last_error[0] = '\0'; }

/* Formats into a local buffer first, so that a message may wrap the
 * previous one (pt_fail(st, "context: %s", pt_last_error())). */
pt_status pt_fail(pt_status s, const char *fmt, ...)
{
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return s;
}
