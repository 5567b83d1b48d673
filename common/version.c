/* The version the library was built as. */
#include "prectune/prectune.h"

const char *pt_version(void) { return PT_VERSION_STRING; }
