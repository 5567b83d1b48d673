/* Errors are values: every fallible call returns a pt_status, and the
 * message that explains it (naming the file, field or operation) is kept
 * per thread, like errno, so library code never prints or exits. */
#ifndef PRECTUNE_STATUS_H
#define PRECTUNE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pt_status {
    PT_OK = 0,
    PT_ERR_INVALID,     /* bad argument or bad input data */
    PT_ERR_IO,          /* file could not be read or written */
    PT_ERR_NOMEM,       /* allocation failed (host or device) */
    PT_ERR_UNSUPPORTED, /* operation not available on this backend/format */
    PT_ERR_CUDA,        /* a CUDA, cuBLASLt or cuDNN call failed */
    PT_ERR_NO_DEVICE,   /* no GPU present */
    PT_ERR_STOPPED,     /* a run stopped by a guard (death spiral) or by the user */
    PT_STATUS_COUNT
} pt_status;

/* Short name of a status ("invalid", "io", ...). */
const char *pt_status_name(pt_status s);

/* The message of the last error set on this thread ("" if none). */
const char *pt_last_error(void);

/* Sets this thread's error message (printf-style) and returns s, so that
 * library code can write `return pt_fail(PT_ERR_IO, "%s: ...", path);`. */
pt_status pt_fail(pt_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void pt_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
