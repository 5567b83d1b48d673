/* libFuzzer harness: the model spec reader (JSON text), and what train
 * computes from a spec it accepted (fingerprint, parameter count, the
 * layer graph's queries, the step plan under fp32 and bf16). */
#include "fuzz_util.h"
#include "instrument/plan.h"
#include "prectune/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_string(data, size);
    pt_model_spec s;
    if (pt_model_spec_parse(text, "fuzz.json", &s) == PT_OK) {
        char fp[24];
        pt_model_fingerprint(&s, fp);
        (void)pt_model_parameters(&s);
        for (int i = 0; i < s.nlayers; i++) {
            (void)pt_model_readers(&s, i);
            (void)pt_model_spec_find(&s, s.layers[i].name);
        }
        pt_policy pol;
        pt_policy_init_fp32(&pol);
        pt_plan_caps caps = {.fp8_twins = true};
        for (int k = 0; k < 2; k++) {
            if (k) pol.def = (pt_layer_formats){PT_FMT_BF16, PT_FMT_BF16, PT_FMT_BF16};
            pt_plan p;
            if (pt_plan_build(&s, &pol, &caps, s.train.batch, true, &p) == PT_OK) pt_plan_free(&p);
        }
        pt_policy_free(&pol);
        pt_model_spec_free(&s);
    }
    free(text);
    return 0;
}
