/* libFuzzer harness: the device table reader (policies/devices/*.json),
 * then the cost model that divides by its figures, for a small model
 * under fp32 and under bf16. */
#include "fuzz_util.h"
#include "prectune/model.h"
#include "prectune/policy.h"
#include "prectune/tuner.h"

static const char *model_json =
    "{\"name\":\"m\",\"input\":[1,8,8],\"layers\":[{\"name\":\"conv\",\"type\":\"conv2d\",\"out\":4,"
    "\"kernel\":3},{\"name\":\"act\",\"type\":\"relu\"},{\"name\":\"flat\",\"type\":\"flatten\"},"
    "{\"name\":\"head\",\"type\":\"linear\",\"out\":3}],\"loss\":\"softmax_cross_entropy\","
    "\"optimizer\":{\"type\":\"adamw\",\"lr\":1e-3},\"train\":{\"batch\":4,\"steps\":2}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pt_model_spec m;
    static pt_policy fp32, bf16;
    static int ready;
    if (!ready) {
        if (pt_model_spec_parse(model_json, "model", &m) != PT_OK) abort();
        pt_policy_init_fp32(&fp32);
        if (pt_policy_parse("{\"prectune_policy\":1,\"default\":{\"fwd\":\"bf16\",\"dgrad\":\"bf16\",\"wgrad\":\"bf16\"}}",
                            "bf16", &bf16) != PT_OK)
            abort();
        ready = 1;
    }
    const char *path = fz_write("device.json", data, size);
    pt_device_table t;
    if (pt_device_table_load(path, &t) == PT_OK) {
        pt_cost c;
        pt_cost_estimate(&m, &fp32, &t, &c);
        pt_cost_estimate(&m, &bf16, &t, &c);
    }
    return 0;
}
