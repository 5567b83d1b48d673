/* Private scratch folders (see temp_dir.h). */
#include "temp_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pt_status pt_temp_dir_create(const char *prefix, char *dir, size_t n)
{
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    if ((size_t)snprintf(dir, n, "%s/%s-XXXXXX", base, prefix) >= n)
        return pt_fail(PT_ERR_INVALID, "TMPDIR %s: path too long", base);
    if (!mkdtemp(dir)) {
        pt_status st = pt_fail(PT_ERR_IO, "%s: cannot create a temporary folder: %s", base, strerror(errno));
        dir[0] = '\0';
        return st;
    }
    return PT_OK;
}

void pt_temp_dir_remove(const char *dir)
{
    if (!dir || !dir[0]) return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                (size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path)
                unlink(path);
        closedir(d);
    }
    rmdir(dir);
}
