/* Reading JSON objects strictly: every key must be known, every value of
 * the expected type, and every error names the file and the JSON path. */
#ifndef PT_JSON_UTIL_H
#define PT_JSON_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "prectune/status.h"

typedef struct pt_jctx {
    const char *file;
} pt_jctx;

/* Fails with "file: path: message". */
pt_status pt_jfail(const pt_jctx *c, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Every key of obj must be in the NULL-terminated list `known`. */
pt_status pt_jcheck_keys(const pt_jctx *c, const cJSON *obj, const char *path,
                         const char *const *known);
pt_status pt_jexpect_object(const pt_jctx *c, const cJSON *v, const char *path);

/* Optional members: absent leaves *out unchanged; wrong type or range fails. */
pt_status pt_jget_int(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                      int64_t min, int64_t max, int64_t *out);
pt_status pt_jget_float(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                        double min, double max, bool min_exclusive, double *out);
pt_status pt_jget_bool(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                       bool *out);
/* String member copied into out (size n); absent leaves it unchanged. */
pt_status pt_jget_string(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                         char *out, size_t n);
/* The member's value is one of `choices` (NULL-terminated): *out = index. */
pt_status pt_jget_enum(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                       const char *const *choices, int *out);

/* Whether s is valid UTF-8 (iconv's judgement). */
bool pt_utf8_valid(const char *s);

/* Parses text; a syntax error names the line and column, a duplicate key
 * or text that is not UTF-8 its JSON path. */
pt_status pt_jparse(const pt_jctx *c, const char *text, cJSON **out);

#endif
