/* The token readers of data.h (text:, tokens:, fortunes), for pt_data_open
 * and the tests; internal to the library. */
#ifndef PT_DATA_TOKENS_H
#define PT_DATA_TOKENS_H

#include "prectune/data.h"

/* The magic and version of llm.c's .bin token files (a header of 256
 * little-endian int32: magic, version, token count; then the uint16 ids) */
#define PT_TOKEN_FILE_MAGIC 20240520
#define PT_TOKEN_FILE_VERSION 1
#define PT_TOKEN_FILE_HEADER_BYTES 1024

/* Each fills *d from nothing (its contents are not read); on failure the
 * caller frees what was filled with pt_data_free. */
pt_status pt_tokens_open_text(const char *path, const pt_data_options *o, pt_data *d);
pt_status pt_tokens_open_bin(const char *list, const pt_data_options *o, pt_data *d);
/* dir: PT_FORTUNES_DIR, or another folder laid out the same way (tests) */
pt_status pt_tokens_open_fortunes(const char *dir, const pt_data_options *o, pt_data *d);

#endif
