/* libFuzzer harness: the IDX reader (`--data idx:IMAGES,LABELS`), plain
 * and gzipped. Byte 0: bit 0 gzips the images, bit 1 the labels (through
 * zlib, so the reader sees valid streams of fuzzed content; the raw bytes
 * also go in as files named .gz when bit 2 is set); bytes 1-2: where the
 * images end and the labels begin. */
#include <zlib.h>

#include "fuzz_util.h"
#include "prectune/data.h"

static const char *put(const char *name, const uint8_t *p, size_t n, int gz)
{
    if (!gz) return fz_write(name, p, n);
    const char *path = fz_path(name);
    gzFile f = gzopen(path, "wb");
    if (!f) abort();
    if (n && gzwrite(f, p, (unsigned)n) != (int)n) abort();
    gzclose(f);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    int sel = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3, size -= 3;
    if (split > size) split = size;
    int raw_gz = sel & 4;
    const char *img = put(raw_gz || (sel & 1) ? "images.gz" : "images", data, split, (sel & 1) && !raw_gz);
    const char *lab = put(raw_gz || (sel & 2) ? "labels.gz" : "labels", data + split, size - split,
                          (sel & 2) && !raw_gz);
    char spec[1200];
    snprintf(spec, sizeof spec, "idx:%s,%s", img, lab);
    pt_data_options o = pt_data_options_default();
    pt_data d;
    if (pt_data_open(spec, &o, &d) == PT_OK) pt_data_free(&d);
    return 0;
}
