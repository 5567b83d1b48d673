/* libFuzzer harness: the token readers (`--data tokens:FILE[,VAL_FILE]`,
 * `--data text:FILE`). Byte 0: bits 0-1 the kind (0 tokens, 1 tokens with
 * a held-out file, 2 and 3 text), bits 2-4 the context length (1, 2, 3, 4,
 * 8, 16, 64, 1024), bit 5 no held-out split; byte 1 the vocabulary (0:
 * 50257, 1: 256, else that many tokens, which text refuses below 256);
 * bytes 2-3: where the training file ends and the held-out file begins.
 * The rest is the files' bytes. */
#include "fuzz_util.h"
#include "prectune/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    static const int contexts[8] = {1, 2, 3, 4, 8, 16, 64, 1024};
    uint8_t sel = data[0], voc = data[1];
    size_t split = (size_t)data[2] | (size_t)data[3] << 8;
    data += 4, size -= 4;
    if (split > size) split = size;
    int kind = sel & 3;
    pt_data_options o = pt_data_options_default();
    o.context = contexts[(sel >> 2) & 7];
    o.vocab = voc == 0 ? 50257 : voc == 1 ? 256 : voc;
    if (sel & 32) o.val_fraction = 0;
    char spec[1200];
    if (kind == 0) {
        snprintf(spec, sizeof spec, "tokens:%s", fz_write("train.bin", data, size));
    } else if (kind == 1) {
        const char *a = fz_write("train.bin", data, split), *b = fz_write("val.bin", data + split, size - split);
        snprintf(spec, sizeof spec, "tokens:%s,%s", a, b);
    } else {
        snprintf(spec, sizeof spec, "text:%s", fz_write("a.txt", data, size));
    }
    pt_data d;
    if (pt_data_open(spec, &o, &d) == PT_OK) {
        /* what a reader accepts is what the trainer may index: check it */
        const pt_dataset *s[2] = {&d.train, &d.test};
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < s[k]->n * s[k]->dim; i++)
                if (s[k]->label[i] < 0 || s[k]->label[i] >= d.nclasses || s[k]->x[i] < 0 ||
                    s[k]->x[i] >= (float)d.nclasses)
                    abort();
        pt_data_free(&d);
    }
    return 0;
}
