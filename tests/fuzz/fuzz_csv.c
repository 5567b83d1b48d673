/* libFuzzer harness: the CSV data reader (`--data csv:FILE`). The first
 * byte picks the options (header detected or forced, label by default or
 * by index, standardization, classification or regression); the rest is
 * the file. */
#include "fuzz_util.h"
#include "prectune/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t sel = data[0];
    const char *path = fz_write("data.csv", data + 1, size - 1);
    char spec[600];
    snprintf(spec, sizeof spec, "csv:%s", path);
    pt_data_options o = pt_data_options_default();
    o.header = (int)(sel & 3) - 1 > 1 ? -1 : (int)(sel & 3) - 1;
    if (sel & 4) o.label = "0";
    o.standardize = !(sel & 8);
    o.classification = !(sel & 16);
    if (sel & 32) o.val_fraction = 0;
    pt_data d;
    if (pt_data_open(spec, &o, &d) == PT_OK) pt_data_free(&d);
    return 0;
}
