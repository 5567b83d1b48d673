/* train --steps-csv: one row per step, streamed to a file. Every write is
 * checked (a full disk stops the run with exit 2, naming the file); before
 * a checkpoint is written the file is flushed and synced, so that it holds
 * a row for every step the checkpoint has done; a resumed run cuts the
 * file back to the checkpoint's step and continues it, so that each step
 * has one row, in order. */
#ifndef PT_STEPS_CSV_H
#define PT_STEPS_CSV_H

#include <stdint.h>
#include <stdio.h>

#include "prectune/trainer.h"

typedef struct pt_steps_csv {
    FILE *f;
    const char *path;
} pt_steps_csv;

/* Opens path for the steps from from_step on: a new file (a header) when
 * from_step is 0 or there is no file yet, else the file cut back to its
 * header and the rows of steps 0 to from_step - 1 (refused when it lacks
 * one of them or a row is not one of ours). */
pt_status pt_steps_csv_open(pt_steps_csv *c, const char *path, int64_t from_step);
pt_status pt_steps_csv_row(pt_steps_csv *c, const pt_step_record *s);
/* Everything written so far on the disk (before a checkpoint). */
pt_status pt_steps_csv_sync(pt_steps_csv *c);
/* Closes the file (no-op when none is open); a failed close is an error. */
pt_status pt_steps_csv_close(pt_steps_csv *c);

#endif
