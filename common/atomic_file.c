/* Atomic file writes (see atomic_file.h). */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

pt_status pt_write_file_atomic(const char *path, const void *data, size_t len)
{
    /* the new file replaces a file, never a device, a pipe or a folder */
    struct stat old;
    bool exists = stat(path, &old) == 0;
    if (exists && !S_ISREG(old.st_mode))
        return pt_fail(PT_ERR_INVALID, "%s: not a regular file: it is not replaced", path);
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
        return pt_fail(PT_ERR_INVALID, "%s: path too long", path);
    int fd = mkstemp(tmp); /* a name of its own beside the file, created here */
    if (fd < 0) return pt_fail(PT_ERR_IO, "%s: cannot write into its folder: %s", path, strerror(errno));
    /* mkstemp's 0600: the replaced file's mode, else what the umask leaves of 0644 */
    mode_t mode = exists ? old.st_mode & 07777 : 0644;
    if (!exists) {
        mode_t mask = umask(0);
        umask(mask);
        mode &= ~mask;
    }
    size_t off = 0;
    int e = 0;
    while (off < len) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            break;
        }
        off += (size_t)w;
    }
    if (!e && (fchmod(fd, mode) != 0 || fsync(fd) != 0)) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (e) {
        unlink(tmp);
        return pt_fail(PT_ERR_IO, "%s: write failed: %s (%s)", path, strerror(e),
                       exists ? "the file there is as it was" : "nothing written");
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return pt_fail(PT_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd); /* the rename itself survives a crash */
        close(dfd);
    }
    return PT_OK;
}
