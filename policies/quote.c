/* String literals for the exporters (see quote.h). UTF-8 is decoded by
 * iconv (to UTF-32), so a malformed sequence is refused, not guessed at. */
#include "quote.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* s decoded to code points: a malloc'd array of *n, or NULL when s is not
 * UTF-8 (or memory ran out). */
static uint32_t *decode(const char *s, size_t *n)
{
    size_t len = strlen(s);
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    if (!cp) return NULL;
    iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
    if (cd == (iconv_t)-1) {
        free(cp);
        return NULL;
    }
    char *in = (char *)s, *outp = (char *)cp;
    size_t inleft = len, outleft = (len + 1) * sizeof *cp;
    size_t r = iconv(cd, &in, &inleft, &outp, &outleft);
    iconv_close(cd);
    if (r == (size_t)-1 || inleft) {
        free(cp);
        return NULL;
    }
    *n = (size_t)(outp - (char *)cp) / sizeof *cp;
    for (size_t i = 0; i < *n; i++) { /* UTF-32LE bytes to host order */
        const unsigned char *b = (const unsigned char *)&cp[i];
        cp[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    return cp;
}

int pt_quote_literal(FILE *out, const char *s)
{
    size_t n;
    uint32_t *cp = decode(s, &n);
    if (!cp) return -1;
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c == '\\' || c == '"') fprintf(out, "\\%c", (int)c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c >= 0x20 && c < 0x7f) fputc((int)c, out);
        else if (c < 0x100) fprintf(out, "\\x%02x", (unsigned)c);
        else if (c < 0x10000) fprintf(out, "\\u%04x", (unsigned)c);
        else fprintf(out, "\\U%08x", (unsigned)c);
    }
    fputc('"', out);
    free(cp);
    return 0;
}

char *pt_regex_escape(const char *s)
{
    size_t len = strlen(s);
    char *r = malloc(2 * len + 1), *p = r;
    if (!r) return NULL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        /* what Python's re.escape escapes, and every ASCII control */
        bool plain = *c >= 0x20 && !strchr("()[]{}?*+-|^$\\.&~# \x7f", *c);
        if (!plain) *p++ = '\\';
        *p++ = (char)*c;
    }
    *p = '\0';
    return r;
}
