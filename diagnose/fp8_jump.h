/* The fp8_scale_staleness criterion over layer_stats rows, shared by the
 * diagnosis and its replay: an fp8 cast that clamped values because the
 * tensor's amax went past twice what its scale holds (448 for e4m3, 57344
 * for e5m2; smaller overshoots are delayed scaling following a tensor
 * that grows step by step). */
#ifndef PT_FP8_JUMP_H
#define PT_FP8_JUMP_H

#define PT_FP8_JUMP_SQL                                                                    \
    "format LIKE 'fp8%' AND scale > 0 AND overflow_e4m3 + overflow_e5m2 > 0 AND absmax * scale > 2 * " \
    "CASE format WHEN 'fp8_e4m3' THEN 448 ELSE 57344 END"

#endif
