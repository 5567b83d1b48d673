/* libFuzzer harness: the checkpoint reader (`train --resume`), for a
 * small MLP under an fp8 delayed-scaling policy (so the fp8 histories are
 * in the file). The harness writes the input's CRC itself (its last four
 * bytes) so that the fuzzer reaches the header's values and not only the
 * checksum; a checkpoint that loads is trained from for two steps, as a
 * resume does. With PT_FUZZ_WRITE_SEED=FILE it writes a real checkpoint
 * of its model (the seed corpus) and exits. */
#include <zlib.h>

#include "fuzz_util.h"
#include "prectune/backend.h"
#include "prectune/data.h"
#include "prectune/model.h"
#include "prectune/policy.h"
#include "prectune/trainer.h"

static const char *model_json =
    "{\"name\":\"ckpt\",\"input\":[8],\"layers\":[{\"name\":\"fc1\",\"type\":\"linear\",\"out\":6},"
    "{\"name\":\"act\",\"type\":\"relu\"},{\"name\":\"head\",\"type\":\"linear\",\"out\":3}],"
    "\"loss\":\"softmax_cross_entropy\",\"optimizer\":{\"type\":\"adamw\",\"lr\":1e-3},"
    "\"train\":{\"batch\":4,\"steps\":100,\"seed\":3}}";
static const char *policy_json =
    "{\"prectune_policy\":1,\"default\":{\"fwd\":\"fp8_e4m3\",\"dgrad\":\"fp8_e5m2\",\"wgrad\":\"fp8_e5m2\"},"
    "\"loss_scale\":{\"mode\":\"dynamic\"},\"fp8\":{\"recipe\":\"delayed\",\"amax_history\":4}}";

static pt_trainer *tr;
static pt_data data_;

static void setup(void)
{
    static pt_model_spec m;
    static pt_policy p;
    pt_backend *be;
    char csv[4096] = "";
    for (int r = 0; r < 24; r++) {
        char row[256];
        int k = 0;
        for (int c = 0; c < 8; c++) k += snprintf(row + k, sizeof row - k, "%d,", (r * 7 + c * 3) % 11);
        snprintf(row + k, sizeof row - k, "%d\n", r % 3);
        strcat(csv, row);
    }
    const char *path = fz_write("data.csv", (const uint8_t *)csv, strlen(csv));
    char spec[600];
    snprintf(spec, sizeof spec, "csv:%s", path);
    pt_data_options o = pt_data_options_default();
    o.header = 0;
    if (pt_model_spec_parse(model_json, "model", &m) || pt_policy_parse(policy_json, "policy", &p) ||
        pt_data_open(spec, &o, &data_) || pt_backend_open("cpu", &be) ||
        pt_trainer_create(be, &m, &p, &data_, &tr)) {
        fprintf(stderr, "fuzz_checkpoint setup: %s\n", pt_last_error());
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setup();
    const char *seed = getenv("PT_FUZZ_WRITE_SEED");
    if (seed) {
        pt_step_record r;
        for (int i = 0; i < 3; i++)
            if (pt_trainer_step(tr, &r)) abort();
        if (pt_trainer_save(tr, seed)) abort();
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    uint8_t *buf = malloc(size);
    memcpy(buf, data, size);
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(size - 4));
    memcpy(buf + size - 4, &crc, 4);
    const char *path = fz_write("run.ckpt", buf, size);
    free(buf);
    if (pt_trainer_load(tr, path) == PT_OK) {
        pt_step_record r;
        for (int i = 0; i < 2; i++)
            if (pt_trainer_step(tr, &r)) break;
    }
    return 0;
}
