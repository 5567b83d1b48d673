#!/bin/sh
# Files, disks and processes as they fail: names made to break out of the
# exports, diagnose's scratch database, a full disk (/dev/full, a small
# tmpfs) and a read-only folder under --db, --out, --checkpoint,
# --steps-csv and report --html, train killed by SIGKILL and resumed (its
# telemetry and steps CSV continuing with no hole and no duplicate), and
# two tunes on one database.
set -u
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
src="$(cd "$(dirname "$0")" && pwd)/.."
tmp=$(mktemp -d)
mnt="$tmp/mnt"
cleanup() {
    mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
    [ -f "$tmp/planted" ] && while read -r d; do rmdir "$d" 2>/dev/null; done < "$tmp/planted"
    rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1
fail=0
check() { case "$3" in *"$2"*) ;; *) echo "FAIL: $1: expected '$2' in:"; echo "$3" | head -30; fail=1 ;; esac; }
status() { [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }; }
command -v python3 > /dev/null || { echo "FAIL: python3 is missing: run scripts/deps.sh"; exit 1; }
# a query's rows, one a line, fields joined by '|' (Python's own sqlite3)
q() { python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for r in c.execute(sys.argv[2]): print("|".join(map(str, r)))' "$@"; }
# a small model on synthetic data: 600 steps in a fraction of a second
cat > tiny.json <<'EOF'
{"name": "tiny", "input": [16], "layers": [{"name": "fc1", "type": "linear", "out": 32}, {"name": "a1", "type": "relu"},
 {"name": "head", "type": "linear", "out": 4}], "loss": "softmax_cross_entropy",
 "optimizer": {"type": "adamw", "lr": 3e-3}, "train": {"batch": 32, "steps": 600, "seed": 3, "eval_every": 200}}
EOF
data=synthetic:2048,16,4

# ---- exports: names made to break out of the Python and the YAML ------------------
out=$(python3 "$src/tests/exports_hostile.py" "$bin" "$tmp" 2>&1)
status "hostile names in the exports" 0 $?
check "hostile names in the exports" "hostile names in the exports: ok" "$out"
out=$(python3 "$src/tests/exports_parse.py" "$bin" hostile.policy.json hostile.model.json 2>&1)
status "hostile names: every field of every export" 0 $?
check "hostile names: every field of every export" "exports of hostile.policy.json: ok" "$out"
[ -e PWNED ] || [ -e PWNED_MODEL ] && { echo "FAIL: an export ran code"; fail=1; }
printf '{"name": "m", "input": [4], "layers": [{"name": "bad\377name", "type": "linear", "out": 2}]}' > notutf8.json
printf '{"prectune_policy": 1}' > fp32.policy.json
err=$("$bin" export fp32.policy.json --to torch --model notutf8.json 2>&1)
status "a layer's name that is not UTF-8" 2 $?
check "a layer's name that is not UTF-8" "not UTF-8" "$err"

# ---- diagnose TELEMETRY.csv: its scratch database in a private folder --------------
# folders planted (by one mkdir: no process in between takes an id) at the
# names the next process ids would give it must not stop it
next=$(sh -c 'echo $$')
names=""
i=1
while [ $i -le 300 ]; do
    d="/tmp/prectune-diagnose-$((next + i)).db"
    [ -e "$d" ] || { names="$names $d"; echo "$d" >> "$tmp/planted"; }
    i=$((i + 1))
done
# shellcheck disable=SC2086
mkdir $names
mkdir scratch
out=$(TMPDIR="$tmp/scratch" "$bin" diagnose "$src/tests/data/external_telemetry.csv" --json 2>&1)
status "diagnose a CSV beside planted scratch names" 1 $?
check "diagnose a CSV beside planted scratch names" '"cause":	"activation_overflow"' "$out"
left=$(ls -A scratch)
[ -z "$left" ] || { echo "FAIL: diagnose left scratch files in TMPDIR: $left"; fail=1; }

# ---- train killed by SIGKILL, resumed: every step's rows once, in order ----------
# killed right after the checkpoint of step 300 is written (the telemetry and the
# CSV must not lag behind it), resumed and killed at step 450 (100 steps past the
# checkpoint of 400: rows written after it must not come twice), resumed to the end
"$bin" train tiny.json --data $data --quiet --checkpoint ref --steps-csv ref.csv > ref.txt 2>&1
status "the uninterrupted run" 0 $?
PRECTUNE_TEST_KILL_AFTER_STEPS=300 "$bin" train tiny.json --data $data --quiet --checkpoint k \
    --steps-csv k.csv > /dev/null 2>&1
status "train killed at step 300 (SIGKILL)" 137 $?
PRECTUNE_TEST_KILL_AFTER_STEPS=450 "$bin" train tiny.json --data $data --quiet --checkpoint k \
    --steps-csv k.csv --resume > /dev/null 2>&1
status "the resumed train killed at step 450 (SIGKILL)" 137 $?
"$bin" train tiny.json --data $data --quiet --checkpoint k --steps-csv k.csv --resume > k.txt 2>&1
status "the second resume" 0 $?
[ "$(grep 'weights hash' k.txt)" = "$(grep 'weights hash' ref.txt)" ] ||
    { echo "FAIL: the resumed run's weights differ from the uninterrupted run's"; fail=1; }
got=$(q k/telemetry.db "SELECT count(*), count(DISTINCT step), min(step), max(step) FROM steps")
[ "$got" = "600|600|0|599" ] || { echo "FAIL: steps in the database (rows, distinct, first, last): $got, expected 600|600|0|599"; fail=1; }
got=$(q k/telemetry.db "SELECT count(DISTINCT step), min(step), max(step) FROM layer_stats")
[ "$got" = "60|0|590" ] || { echo "FAIL: steps with statistics (distinct, first, last): $got, expected 60|0|590"; fail=1; }
got=$(q k/telemetry.db "SELECT group_concat(step) FROM evals")
[ "$got" = "200,400,600" ] || { echo "FAIL: evaluations at steps $got, expected 200,400,600"; fail=1; }
got=$(q k/telemetry.db "SELECT count(*), group_concat(status) FROM runs")
[ "$got" = "1|finished" ] || { echo "FAIL: runs (count, status): $got, expected 1|finished"; fail=1; }
[ "$(q k/telemetry.db "PRAGMA integrity_check")" = ok ] || { echo "FAIL: integrity_check of the resumed run's database"; fail=1; }
# the same records as the uninterrupted run's (the resume is bit-identical)
cols="step, loss, scale, skipped, lr, grad_norm"
[ "$(q k/telemetry.db "SELECT $cols FROM steps ORDER BY step")" = "$(q ref/telemetry.db "SELECT $cols FROM steps ORDER BY step")" ] ||
    { echo "FAIL: the resumed run's step rows differ from the uninterrupted run's"; fail=1; }
cut -d, -f1-7 ref.csv > ref.cut; cut -d, -f1-7 k.csv > k.cut
cmp -s ref.cut k.cut || { echo "FAIL: the resumed run's steps CSV differs from the uninterrupted run's (ms aside):";
                          diff ref.cut k.cut | head -8; fail=1; }
# a steps CSV that cannot be continued without a hole is refused, not appended to
head -101 ref.csv > short.csv
cp -r k short
err=$("$bin" train tiny.json --data $data --quiet --checkpoint short --steps-csv short.csv --resume 2>&1)
status "resume into a steps CSV that lacks steps" 2 $?
check "resume into a steps CSV that lacks steps" "short.csv: has the rows of steps 0 to 99 only, but the checkpoint resumes at step 600" "$err"

[ $fail = 0 ] && echo "cli_io: all checks passed"
exit $fail
