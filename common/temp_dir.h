/* A private folder for a command's scratch files (the database a CSV is
 * imported into, a replay's databases, with SQLite's -wal and -shm files
 * beside them): made by mkdtemp under $TMPDIR (else /tmp), mode 0700, so
 * that no other process can guess a name in it, plant a file or a link
 * there first, or read what is written. */
#ifndef PT_TEMP_DIR_H
#define PT_TEMP_DIR_H

#include <stddef.h>

#include "prectune/status.h"

/* Makes the folder (its name starts with `prefix`) and writes its path to
 * dir[0..n). */
pt_status pt_temp_dir_create(const char *prefix, char *dir, size_t n);

/* Removes the files in the folder, then the folder (nothing outside it). */
void pt_temp_dir_remove(const char *dir);

#endif
