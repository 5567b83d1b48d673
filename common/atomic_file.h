/* Writing a file so that a crash leaves the old file or the new one, never
 * half of one: temp file beside it, fsync, rename, fsync of the directory.
 * Checkpoints and policy files go through here. */
#ifndef PT_ATOMIC_FILE_H
#define PT_ATOMIC_FILE_H

#include <stddef.h>

#include "prectune/status.h"

pt_status pt_write_file_atomic(const char *path, const void *data, size_t len);

#endif
