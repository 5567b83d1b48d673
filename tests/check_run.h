/* The end of every test program's main(): run the suite, report as
 * Check does, and give the exit status CTest expects. fork: CK_FORK_GETENV
 * (Check's default, CK_FORK unless the environment says otherwise) or
 * CK_NOFORK where tests share state or CUDA is initialized. */
#ifndef PT_CHECK_RUN_H
#define PT_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int pt_check_run(Suite *s, enum fork_status fork)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, fork);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
