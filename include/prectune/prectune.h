/* prectune: measure, tune and ship the numeric precision of training.
 * The umbrella header of the C API; each module has its own header. */
#ifndef PRECTUNE_H
#define PRECTUNE_H

#include "prectune/backend.h"
#include "prectune/formats.h"
#include "prectune/stats.h"
#include "prectune/status.h"
#include "prectune/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version ("0.1.0"), which may differ from the header's
 * PT_VERSION_STRING when a program runs against another build. */
const char *pt_version(void);

#ifdef __cplusplus
}
#endif
#endif
