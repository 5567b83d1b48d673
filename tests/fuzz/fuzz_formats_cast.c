/* libFuzzer harness: `prectune formats --cast` reading numbers on stdin.
 * Byte 0 picks the format, the scale, --saturate and --json; the rest is
 * stdin. The command's own entry point runs (its output to /dev/null). */
#include "fuzz_util.h"
#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const formats[] = {"fp32", "tf32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "fp9", "FP16"};
    static const char *const scales[] = {"1", "0.5", "1e30", "1e-40"};
    if (size < 1) return 0;
    static int redirected;
    if (!redirected) {
        if (!freopen("/dev/null", "w", stdout)) abort();
        redirected = 1;
    }
    int sel = data[0];
    const char *in = fz_write("stdin.txt", data + 1, size - 1);
    if (!freopen(in, "r", stdin)) abort();
    char *argv[8];
    int argc = 0;
    argv[argc++] = (char *)"formats";
    argv[argc++] = (char *)"--cast";
    argv[argc++] = (char *)formats[sel & 7];
    argv[argc++] = (char *)"--scale";
    argv[argc++] = (char *)scales[(sel >> 3) & 3];
    if (sel & 32) argv[argc++] = (char *)"--saturate";
    if (sel & 64) argv[argc++] = (char *)"--json";
    argv[argc] = NULL;
    pt_cmd_formats(argc, argv);
    return 0;
}
