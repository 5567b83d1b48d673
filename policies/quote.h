/* Names from a model spec or a policy written into another language's
 * source (the exporters' Python and YAML): as that language's string
 * literals, so that no name can end the literal, start a statement or a
 * key, or change a regular expression. */
#ifndef PT_QUOTE_H
#define PT_QUOTE_H

#include <stdbool.h>
#include <stdio.h>

/* s (well-formed UTF-8) as a double-quoted literal that Python and YAML
 * both read back as exactly s: printable ASCII as itself, '\\' and '"'
 * escaped, newline, tab and carriage return as \n, \t and \r, every
 * other character as \xHH, \uHHHH or \UHHHHHHHH. The
 * literal is pure printable ASCII: it cannot break a line or a comment.
 * Returns 0, or -1 (writing nothing) when s is not UTF-8. */
int pt_quote_literal(FILE *out, const char *s);

/* s as a Python regular expression that matches exactly s: the
 * characters Python's re.escape escapes, and ASCII controls, escaped with
 * '\\'. Not quoted: pass the result through pt_quote_literal. Returns a
 * malloc'd string (NULL when out of memory). */
char *pt_regex_escape(const char *s);

#endif
