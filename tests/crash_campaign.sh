#!/bin/sh
# Crash campaign: kill -9 at random moments of `train --checkpoint` and of
# `tune`, resume each, and check that nothing is lost: the resumed run's
# final weights hash (train) and final policy (tune) equal an uninterrupted
# run's, `PRAGMA integrity_check` is ok on every database, and the resumed
# run's telemetry and steps CSV hold every step once (no hole left by the
# kill, no step twice).
#
#   tests/crash_campaign.sh PRECTUNE [KILLS]
#
# KILLS per command (default 20, the full campaign; CI runs 3). The kill
# times are drawn from CAMPAIGN_SEED (default: the process id), printed so
# that a failure can be replayed.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
kills=${2:-20}
src=$(cd "$(dirname "$0")/.." && pwd)
seed=${CAMPAIGN_SEED:-$$}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
spec="$src/tests/data/small-mlp.json"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "SKIP: Debian's dataset-fashion-mnist is not installed"; exit 77
fi
fail=0
landed=0
echo "crash campaign: $kills kills of train and of tune, seed $seed"

# integrity_check through python3's sqlite3 module (the sqlite3 CLI need not be there)
integrity() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$1"
}
# rows of the steps table of the database's only run, and its step count
step_rows() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM steps").fetchone()[0])' "$1"
}
# a pseudo-random delay in seconds (3 decimals) in [lo, hi), the i-th of the seed
delay() { awk -v s="$seed" -v i="$1" -v lo="$2" -v hi="$3" 'BEGIN { srand(s * 1000 + i); for (k = 0; k < 3; k++) r = rand(); printf "%.3f", lo + r * (hi - lo) }'; }
now() { date +%s.%N; }
hash_of() { sed -n 's/^weights hash *//p' "$1"; }

# ---- train --checkpoint ---------------------------------------------------------
steps=400
targs="$spec --data fashion-mnist --steps $steps --quiet"
t0=$(now)
"$bin" train $targs --db ref.db > ref.txt 2>&1 || { echo "FAIL: reference train"; cat ref.txt; exit 1; }
tref=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
ref=$(hash_of ref.txt)
echo "train reference: $steps steps in ${tref}s, weights hash $ref"
i=1
while [ $i -le "$kills" ]; do
    d=$(delay $i 0.05 "$tref")
    rm -rf k k.db*
    rm -f k.csv
    "$bin" train $targs --checkpoint k --checkpoint-every 25 --db k.db --steps-csv k.csv > /dev/null 2>&1 &
    pid=$!
    sleep "$d"
    kill -9 $pid 2>/dev/null && killed=yes || killed="no (it had finished)"
    wait $pid 2>/dev/null
    at=$(python3 -c 'import sqlite3,sys; v=sqlite3.connect(sys.argv[1]).execute("SELECT max(step) FROM steps").fetchone()[0]; print("none" if v is None else v)' k.db 2>/dev/null)
    ok=$(integrity k.db 2>&1)
    [ "$ok" = ok ] || { echo "FAIL: train kill $i: integrity_check after the kill: $ok"; fail=1; }
    if [ -f k/checkpoint.ptck ]; then resume=--resume; else resume=; fi
    [ -n "$resume" ] || rm -f k.csv k.db*
    "$bin" train $targs --checkpoint k --checkpoint-every 25 --db k.db --steps-csv k.csv $resume > k.txt 2>&1
    rc=$?
    got=$(hash_of k.txt)
    ok=$(integrity k.db 2>&1)
    rows=$(step_rows k.db)
    # the steps CSV: a header, then steps 0 .. steps-1, each once, in order
    csv=$(awk -F, -v n=$steps 'NR > 1 { gsub(/"/, "", $1); if ($1 != NR - 2) bad = 1; k++ } END { print (bad || k != n) ? "BAD (" k " rows)" : "ok" }' k.csv 2>/dev/null)
    line="train kill $i at ${d}s (killed: $killed, last stored step ${at:-none}, ${resume:-no checkpoint, fresh}): exit $rc, hash $got, integrity $ok, $rows step rows, steps CSV ${csv:-missing}"
    if [ $rc != 0 ] || [ "$got" != "$ref" ] || [ "$ok" != ok ] || [ "$rows" != $steps ] || [ "$csv" != ok ]; then
        echo "FAIL: $line"; cat k.txt; fail=1
    else echo "ok: $line"; fi
    [ "$killed" = yes ] && landed=$((landed + 1))
    i=$((i + 1))
done

# ---- tune -------------------------------------------------------------------
uargs="$spec --data fashion-mnist --probe-steps 20 --budget-runs 8 --quiet"
t0=$(now)
"$bin" tune $uargs --out ref.policy.json --db tref.db > tref.txt 2>&1 || { echo "FAIL: reference tune"; cat tref.txt; exit 1; }
tref=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
echo "tune reference: ${tref}s"
i=1
while [ $i -le "$kills" ]; do
    d=$(delay $((i + 1000)) 0.05 "$tref")
    rm -f k.policy.json u.db*
    "$bin" tune $uargs --out k.policy.json --db u.db > /dev/null 2>&1 &
    pid=$!
    sleep "$d"
    kill -9 $pid 2>/dev/null && killed=yes || killed="no (it had finished)"
    wait $pid 2>/dev/null
    ok=$(integrity u.db 2>&1)
    [ "$ok" = ok ] || { echo "FAIL: tune kill $i: integrity_check after the kill: $ok"; fail=1; }
    probes=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM probes").fetchone()[0])' u.db 2>/dev/null)
    "$bin" tune $uargs --out k.policy.json --db u.db > u.txt 2>&1
    rc=$?
    ok=$(integrity u.db 2>&1)
    if cmp -s ref.policy.json k.policy.json; then same=same; else same=DIFFERENT; fi
    line="tune kill $i at ${d}s (killed: $killed, ${probes:-0} probes stored): exit $rc, policy $same, integrity $ok"
    if [ $rc != 0 ] || [ $same != same ] || [ "$ok" != ok ]; then
        echo "FAIL: $line"; cat u.txt; diff ref.policy.json k.policy.json; fail=1
    else echo "ok: $line"; fi
    i=$((i + 1))
done
echo "train: $landed of $kills kills landed before the run ended (the others resumed a finished run)"
[ $fail = 0 ] && echo "crash campaign passed" || echo "crash campaign FAILED"
exit $fail
