/* libFuzzer harness: the model spec reader (JSON text), and what train
 * computes from a spec it accepted (fingerprint, parameter count, the
 * layer graph's queries). */
#include "fuzz_util.h"
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
            (void)pt_model_activation_after(&s, i);
            (void)pt_model_activation_before(&s, i);
            (void)pt_model_spec_find(&s, s.layers[i].name);
        }
        pt_model_spec_free(&s);
    }
    free(text);
    return 0;
}
