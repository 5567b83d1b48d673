/* GPU tests skip cleanly, saying why, where there is no CUDA device. */
#ifndef PT_GPU_SKIP_H
#define PT_GPU_SKIP_H
#ifdef __cplusplus
extern "C" {
#endif
/* Exits with 77 (CTest: skipped) after printing the reason when no CUDA
 * device is present. */
void pt_test_require_gpu(const char *test);
#ifdef __cplusplus
}
#endif
#endif
