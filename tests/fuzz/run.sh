#!/bin/sh
# Fuzzes each harness for SECONDS (two at a time), from a copy of its seed
# corpus, and fails if one crashes, leaks or hangs; the crashing inputs are
# kept under LOGDIR (default: a new temporary directory) with each log.
#
#   tests/fuzz/run.sh BUILD_FUZZ_DIR SECONDS [READER ...]
#
# RUNS=N stops each after N executions instead (SECONDS still caps it).
# KEEP_GOING=1 fuzzes on past crashes (libFuzzer's fork mode), to count
# them where a reader has a known bug. The readers' files go to /dev/shm
# where it exists (fsync costs nothing there).
set -u
build=$1; secs=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
readers=${*:-"model_spec policy csv idx telemetry_csv checkpoint device_table formats_cast telemetry_db"}
logdir=${LOGDIR:-$(mktemp -d)}
mkdir -p "$logdir"
one() {
    r=$1
    work="$logdir/$r"
    rm -rf "$work"; mkdir -p "$work/corpus" "$work/crashes"
    cp "$here/corpus/$r"/* "$work/corpus/" 2>/dev/null
    tmp="$work"; [ -d /dev/shm ] && tmp=$(mktemp -d /dev/shm/pt-fuzz-XXXXXX)
    TMPDIR="$tmp" "$build/tests/fuzz/fuzz_$r" "$work/corpus" -max_total_time="$secs" ${RUNS:+-runs=$RUNS} \
        -timeout=20 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 ${KEEP_GOING:+-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1} \
        -artifact_prefix="$work/crashes/" > "$work/log" 2>&1
    rc=$?
    [ "$tmp" = "$work" ] || rm -rf "$tmp"
    stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$work/log" | sed 's/^stat:://' | tr '\n' ' ')
    cov=$(grep -E '#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$work/log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
    if [ $rc = 0 ]; then echo "ok   fuzz_$r: $stats$cov"
    else echo "FAIL fuzz_$r (exit $rc): $stats$cov; log and input in $work"; grep -m3 -E 'ERROR|runtime error|SUMMARY' "$work/log"; fi
    return $rc
}
fail=0
set -- $readers
while [ $# -gt 0 ]; do
    one "$1" > "$logdir/$1.out" 2>&1 & p1=$!
    p2=""
    if [ $# -gt 1 ]; then one "$2" > "$logdir/$2.out" 2>&1 & p2=$!; fi
    wait $p1 || fail=1
    [ -n "$p2" ] && { wait $p2 || fail=1; }
    cat "$logdir/$1.out"; [ $# -gt 1 ] && cat "$logdir/$2.out"
    shift; [ $# -gt 0 ] && shift
done
exit $fail
