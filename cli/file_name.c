/* A model's name in the name of a file prectune makes by default
 * (prectune-runs/<name>-<time>.db, prectune-runs/<name>-tune.db,
 * <name>.policy.json). The name is anything the spec's author wrote, so
 * it is made one inert path component here: it cannot name another
 * folder ("../../x", "/etc/x"), a hidden file, or carry control
 * characters into a file name. Specs are not refused for their names:
 * a name is also a label (reports, policies, fingerprints), where it
 * stays as written; only the file name is changed, and the commands
 * print the path they write. Layer names never become paths. */
#include <stdbool.h>
#include <string.h>

#include "cli.h"

void pt_cli_file_name_part(const char *name, char *out, size_t n)
{
    size_t k = 0;
    if (n == 0) return;
    for (const unsigned char *p = (const unsigned char *)name; *p && k + 1 < n; p++) {
        unsigned char c = *p;
        /* letters, digits, '.', '-', '+', '_' and UTF-8 bytes stay; '/',
         * '\\', spaces, control and shell characters become '_' */
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '+' || c == '_' || c >= 0x80;
        out[k++] = keep ? (char)c : '_';
    }
    out[k] = '\0';
    /* no leading '.' (no "..", no hidden file) and no leading '-' (not an option) */
    if (k == 0 || out[0] == '.' || out[0] == '-') {
        if (k + 1 >= n) k = n - 2;
        memmove(out + 1, out, k + 1);
        out[0] = '_';
        out[k + 1] = '\0';
    }
}
