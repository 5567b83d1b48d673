/* The checkpoint file's header (instrument/checkpoint.c writes and reads
 * it; the crafted-file tests patch it): one definition, so the two cannot
 * drift apart. */
#ifndef PT_CHECKPOINT_FORMAT_H
#define PT_CHECKPOINT_FORMAT_H

#include <stdint.h>

#include "prectune/model.h"

#define CKPT_MAGIC "PTCKPT\0"
#define CKPT_VERSION 2u /* 2: the fp8 states count clamping casts (saturated, sat_amax) */

typedef struct ckpt_header {
    char magic[8];
    uint32_t version, nlayers;
    char model[PT_NAME_MAX];
    uint64_t spec_hash, nparams;
    int64_t step, opt_step, sched_step, skipped, epoch, cursor;
    double scale;
    int64_t growth_tracker, stuck;
    int64_t hysteresis_left;
} ckpt_header;

#endif
