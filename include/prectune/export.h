/* Exporting a policy for other tools (see policies/export.c). */
#ifndef PRECTUNE_EXPORT_H
#define PRECTUNE_EXPORT_H

#include <stdio.h>

#include "prectune/model.h"
#include "prectune/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* `to`: "deepspeed" (JSON config block), "te-debug" (YAML), "torch"
 * (Python), "csv". The model gives the layer names in order. */
pt_status pt_policy_export(const pt_policy *p, const pt_model_spec *m, const char *to, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
