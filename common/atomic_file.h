/* Writing a file so that a crash leaves the old file or the new one, never
 * half of one: a temp file of its own beside it (mkstemp), fsync, rename,
 * fsync of the directory. A failed write (a full disk, a read-only folder)
 * removes the temp file and leaves the old file as it was; a path that is
 * not a regular file (a device, a folder) is refused, not replaced.
 * Checkpoints, policy files, device tables and HTML reports go through
 * here. */
#ifndef PT_ATOMIC_FILE_H
#define PT_ATOMIC_FILE_H

#include <stddef.h>

#include "prectune/status.h"

pt_status pt_write_file_atomic(const char *path, const void *data, size_t len);

#endif
