#include "gpu_skip.h"

#include <stdio.h>
#include <stdlib.h>

#include "prectune/backend.h"

void pt_test_require_gpu(const char *test)
{
    if (pt_cuda_device_count() == 0) {
        printf("SKIP %s: no CUDA device present (this test is labelled gpu)\n", test);
        exit(77);
    }
}
