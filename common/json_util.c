/* Strict JSON reading for model specs and policies (see json_util.h). */
#include "json_util.h"

#include <errno.h>
#include <iconv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pt_status pt_jfail(const pt_jctx *c, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pt_fail(PT_ERR_INVALID, "%s: %s: %s", c->file, path && *path ? path : "(top level)",
                   msg);
}

pt_status pt_jexpect_object(const pt_jctx *c, const cJSON *v, const char *path)
{
    return cJSON_IsObject(v) ? PT_OK : pt_jfail(c, path, "expected an object");
}

pt_status pt_jcheck_keys(const pt_jctx *c, const cJSON *obj, const char *path,
                         const char *const *known)
{
    if (!cJSON_IsObject(obj)) return pt_jfail(c, path, "expected an object");
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++) ok = strcmp(it->string, *k) == 0;
        if (!ok) {
            char list[512] = "";
            for (const char *const *k = known; *k; k++) {
                strncat(list, *k, sizeof list - strlen(list) - 1);
                if (k[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            char p[256];
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", it->string);
            return pt_jfail(c, p, "unknown key (expected one of: %s)", list);
        }
    }
    return PT_OK;
}

static void member_path(char *buf, size_t n, const char *path, const char *key)
{
    snprintf(buf, n, "%s%s%s", path, *path ? "." : "", key);
}

pt_status pt_jget_int(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                      int64_t min, int64_t max, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return PT_OK;
    char p[256];
    member_path(p, sizeof p, path, key);
    double d = cJSON_GetNumberValue(v);
    if (!cJSON_IsNumber(v) || d != floor(d))
        return pt_jfail(c, p, "expected an integer");
    /* 2^63 is (double)INT64_MAX: at or past it the cast is undefined */
    if (!(d >= (double)min) || !(d <= (double)max) || d >= 0x1p63 || d < -0x1p63)
        return pt_jfail(c, p, "%.17g is out of range (expected %lld to %lld)", d, (long long)min,
                        (long long)max);
    *out = (int64_t)d;
    return PT_OK;
}

pt_status pt_jget_float(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                        double min, double max, bool min_exclusive, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return PT_OK;
    char p[256];
    member_path(p, sizeof p, path, key);
    if (!cJSON_IsNumber(v)) return pt_jfail(c, p, "expected a number");
    double d = cJSON_GetNumberValue(v);
    if (!isfinite(d) || d < min || d > max || (min_exclusive && d == min))
        return pt_jfail(c, p, "%g is out of range (expected %s%g to %g)", d,
                        min_exclusive ? "more than " : "", min, max);
    *out = d;
    return PT_OK;
}

pt_status pt_jget_bool(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                       bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return PT_OK;
    char p[256];
    member_path(p, sizeof p, path, key);
    if (!cJSON_IsBool(v)) return pt_jfail(c, p, "expected true or false");
    *out = cJSON_IsTrue(v);
    return PT_OK;
}

pt_status pt_jget_string(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                         char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return PT_OK;
    char p[256];
    member_path(p, sizeof p, path, key);
    if (!cJSON_IsString(v)) return pt_jfail(c, p, "expected a string");
    if (strlen(v->valuestring) == 0) return pt_jfail(c, p, "expected a non-empty string");
    if (strlen(v->valuestring) >= n)
        return pt_jfail(c, p, "'%s' is longer than %zu characters", v->valuestring, n - 1);
    strcpy(out, v->valuestring);
    return PT_OK;
}

pt_status pt_jget_enum(const pt_jctx *c, const cJSON *obj, const char *path, const char *key,
                       const char *const *choices, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return PT_OK;
    char p[256];
    member_path(p, sizeof p, path, key);
    char list[256] = "";
    for (const char *const *k = choices; *k; k++) {
        strncat(list, *k, sizeof list - strlen(list) - 1);
        if (k[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    if (!cJSON_IsString(v)) return pt_jfail(c, p, "expected a string, one of: %s", list);
    for (int i = 0; choices[i]; i++)
        if (strcmp(v->valuestring, choices[i]) == 0) {
            *out = i;
            return PT_OK;
        }
    return pt_jfail(c, p, "'%s' is not one of: %s", v->valuestring, list);
}

bool pt_utf8_valid(const char *s)
{
    bool ascii = true;
    for (const char *p = s; *p && ascii; p++) ascii = (unsigned char)*p < 0x80;
    if (ascii) return true;
    iconv_t cd = iconv_open("UTF-8", "UTF-8");
    if (cd == (iconv_t)-1) return false;
    char buf[256], *in = (char *)s;
    size_t left = strlen(s);
    bool ok = true;
    while (left && ok) {
        char *o = buf;
        size_t room = sizeof buf;
        if (iconv(cd, &in, &left, &o, &room) == (size_t)-1 && errno != E2BIG) ok = false;
    }
    iconv_close(cd);
    return ok;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The first key of object v that appears twice, or NULL (sorted: an
 * object of a million keys is checked as fast as it was parsed). */
static const char *duplicate_key(const cJSON *v)
{
    size_t n = 0;
    for (const cJSON *it = v->child; it; it = it->next) n++;
    if (n < 2) return NULL;
    const cJSON **k = malloc(n * sizeof *k);
    if (!k) return NULL;
    n = 0;
    for (const cJSON *it = v->child; it; it = it->next) k[n++] = it;
    qsort(k, n, sizeof *k, by_key);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(k[i - 1]->string, k[i]->string) == 0) dup = k[i]->string;
    free(k);
    return dup;
}

/* Every object's keys are distinct and every key and string is UTF-8. */
static pt_status check_tree(const pt_jctx *c, const cJSON *v, const char *path)
{
    if (cJSON_IsString(v) && !pt_utf8_valid(v->valuestring))
        return pt_jfail(c, path, "not valid UTF-8 text");
    if (cJSON_IsObject(v)) {
        for (const cJSON *it = v->child; it; it = it->next)
            if (!pt_utf8_valid(it->string)) return pt_jfail(c, path, "a key is not valid UTF-8 text");
        const char *dup = duplicate_key(v);
        if (dup) {
            char p[256];
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", dup);
            return pt_jfail(c, p, "duplicate key (each key may appear once)");
        }
    }
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char p[256];
        if (cJSON_IsObject(v)) {
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", it->string);
        } else {
            snprintf(p, sizeof p, "%s[%d]", path, i);
        }
        pt_status st = check_tree(c, it, p);
        if (st) return st;
    }
    return PT_OK;
}

pt_status pt_jparse(const pt_jctx *c, const char *text, cJSON **out)
{
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(text, &end, 1);
    if (*out) {
        pt_status st = check_tree(c, *out, "");
        if (st) {
            cJSON_Delete(*out);
            *out = NULL;
        }
        return st;
    }
    int line = 1, col = 1;
    for (const char *p = text; end && p < end; p++) {
        if (*p == '\n') line++, col = 1;
        else col++;
    }
    return pt_fail(PT_ERR_INVALID, "%s:%d:%d: invalid JSON near '%.20s'", c->file, line, col,
                   end ? end : "");
}
