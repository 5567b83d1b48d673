/* The CSV reader of data.h (`--data csv:FILE`), for pt_data_open;
 * internal to the library. */
#ifndef PT_DATA_CSV_H
#define PT_DATA_CSV_H

#include "prectune/data.h"

/* Fills *d from nothing; on failure the caller frees what was filled with
 * pt_data_free. */
pt_status pt_csv_open(const char *path, const pt_data_options *o, pt_data *d);

#endif
