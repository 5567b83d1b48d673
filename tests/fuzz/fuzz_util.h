/* What the harnesses share: a private temporary directory for the files
 * the readers take by path, and writing one fuzz input there. */
#ifndef PT_FUZZ_UTIL_H
#define PT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The harness's directory (made once, under $TMPDIR or /tmp), and a path in it. */
static inline const char *fz_path(const char *name)
{
    static char dir[256];
    static char buf[8][512];
    static int next;
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/pt-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* Writes n bytes to the file `name` of the harness's directory; returns its path. */
static inline const char *fz_write(const char *name, const uint8_t *data, size_t n)
{
    const char *p = fz_path(name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f)) abort();
    return p;
}

/* A NUL-terminated copy of the input (for the readers of text in memory). */
static inline char *fz_string(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

#endif
