/* libFuzzer harness: the policy reader (JSON text), then what train and
 * `policy check` do with a policy they accepted (the model check against
 * a small MLP, the hazards, the step plan, writing it back as JSON). */
#include "fuzz_util.h"
#include "instrument/plan.h"
#include "prectune/model.h"
#include "prectune/policy.h"

static const char *model_json =
    "{\"name\":\"m\",\"input\":[8],\"layers\":[{\"name\":\"fc1\",\"type\":\"linear\",\"out\":4},"
    "{\"name\":\"ln\",\"type\":\"layernorm\"},{\"name\":\"act\",\"type\":\"relu\"},"
    "{\"name\":\"head\",\"type\":\"linear\",\"out\":3}],\"loss\":\"softmax_cross_entropy\","
    "\"optimizer\":{\"type\":\"adamw\",\"lr\":1e-3},\"train\":{\"batch\":4,\"steps\":2}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pt_model_spec m;
    static int have_model;
    if (!have_model) {
        if (pt_model_spec_parse(model_json, "model", &m) != PT_OK) abort();
        have_model = 1;
    }
    char *text = fz_string(data, size);
    pt_policy p;
    if (pt_policy_parse(text, "fuzz.policy.json", &p) == PT_OK) {
        if (pt_policy_check_model(&p, &m) == PT_OK) {
            FILE *devnull = fopen("/dev/null", "w");
            pt_policy_warnings(&p, &m, "", devnull);
            fclose(devnull);
            for (int i = 0; i < m.nlayers; i++) {
                (void)pt_policy_formats(&p, m.layers[i].name);
                (void)pt_policy_fp8_recipe(&p, m.layers[i].name);
                (void)pt_policy_norm_format(&p, m.layers[i].name);
            }
            pt_plan_caps caps = {.fp8_twins = true};
            pt_plan plan;
            if (pt_plan_build(&m, &p, &caps, m.train.batch, true, &plan) == PT_OK) pt_plan_free(&plan);
        }
        free(pt_policy_to_json(&p));
        pt_policy_free(&p);
    }
    free(text);
    return 0;
}
