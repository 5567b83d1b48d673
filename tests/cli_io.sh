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
check "a layer's name that is not UTF-8" "not valid UTF-8" "$err"

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

# ---- a full disk: /dev/full, where a path can be given ------------------------------
err=$("$bin" train tiny.json --data $data --quiet --no-db --steps-csv /dev/full 2>&1)
status "--steps-csv /dev/full" 2 $?
check "--steps-csv /dev/full" "--steps-csv /dev/full: write failed: No space left on device" "$err"
err=$("$bin" train tiny.json --data $data --quiet --db /dev/full 2>&1)
status "--db /dev/full" 2 $?
check "--db /dev/full" "/dev/full: not a regular file" "$err"
err=$("$bin" train tiny.json --data $data --quiet --no-db --checkpoint /dev/full 2>&1)
status "--checkpoint /dev/full" 2 $?
check "--checkpoint /dev/full" "--checkpoint /dev/full: cannot create the folder: Not a directory" "$err"
err=$("$bin" report ref/telemetry.db --html /dev/full 2>&1)
status "report --html /dev/full" 2 $?
check "report --html /dev/full" "/dev/full: not a regular file: it is not replaced" "$err"
[ -c /dev/full ] || { echo "FAIL: /dev/full is no longer a device"; fail=1; }
err=$("$bin" export fp32.policy.json --to torch --model tiny.json 2>&1 > /dev/full)
status "export > /dev/full" 2 $?
check "export > /dev/full" "writing the output (stdout) failed: No space left on device" "$err"

# ---- a full disk: a small tmpfs ------------------------------------------------------
have_mnt=0
mkdir "$mnt"
if mount -t tmpfs -o size=1m tmpfs "$mnt" 2>/dev/null; then
    have_mnt=1
else
    echo "SKIP the full tmpfs and the read-only mount: mount -t tmpfs is not permitted here (it needs root" \
         "or CAP_SYS_ADMIN); the /dev/full checks ran"
fi
# leaves N KiB free on the tmpfs: fills it, then gives N back
leave() { rm -f "$mnt/fill"; dd if=/dev/zero of="$mnt/fill" bs=4k 2>/dev/null; truncate -s -"$1"K "$mnt/fill"; }
no_temp() { left=$(ls -A "$2" | grep '\.tmp\.'); [ -z "$left" ] || { echo "FAIL: $1: a temporary file was left: $left"; fail=1; }; }
if [ $have_mnt = 1 ]; then
    # --checkpoint: room for the initial state and one checkpoint (48 KiB each), not for a second
    mkdir "$mnt/ck"
    leave 100
    err=$("$bin" train tiny.json --data $data --quiet --no-db --checkpoint "$mnt/ck" --checkpoint-every 100 2>&1)
    status "--checkpoint on a full disk" 2 $?
    check "--checkpoint on a full disk" "ck/checkpoint.ptck: write failed: No space left on device (the file there is as it was)" "$err"
    no_temp "--checkpoint on a full disk" "$mnt/ck"
    rm -f "$mnt/fill"; cp -r "$mnt/ck" ck2
    out=$("$bin" train tiny.json --data $data --no-db --checkpoint ck2 --resume 2>&1)
    status "resume from the checkpoint the full disk left" 0 $?
    check "resume from the checkpoint the full disk left" "resuming ck2/checkpoint.ptck at step 100" "$out"
    check "resume from the checkpoint the full disk left: the uninterrupted weights" "$(grep 'weights hash' ref.txt)" "$out"
    rm -rf "$mnt/ck"

    # report --html over a previous report
    "$bin" report ref/telemetry.db --html "$mnt/r.html" 2> /dev/null; cp "$mnt/r.html" r.orig
    leave 0
    err=$("$bin" report ref/telemetry.db --html "$mnt/r.html" 2>&1)
    status "report --html on a full disk" 2 $?
    check "report --html on a full disk" "r.html: write failed: No space left on device (the file there is as it was)" "$err"
    cmp -s r.orig "$mnt/r.html" || { echo "FAIL: report --html on a full disk changed the previous report"; fail=1; }
    no_temp "report --html on a full disk" "$mnt"
    rm -f "$mnt"/*

    # tune --out over a previous policy
    "$bin" tune tiny.json --data $data --probe-steps 20 --budget-runs 5 --validate-steps 20 --formats fp32,bf16 \
        --db out.db --out "$mnt/p.json" --quiet > /dev/null 2>&1
    cp "$mnt/p.json" p.orig
    leave 0
    err=$("$bin" tune tiny.json --data $data --probe-steps 20 --budget-runs 5 --validate-steps 20 --formats fp32,bf16 \
        --db out.db --out "$mnt/p.json" --quiet 2>&1)
    status "tune --out on a full disk" 2 $?
    check "tune --out on a full disk" "p.json: write failed: No space left on device (the file there is as it was)" "$err"
    cmp -s p.orig "$mnt/p.json" || { echo "FAIL: tune --out on a full disk changed the previous policy"; fail=1; }
    no_temp "tune --out on a full disk" "$mnt"
    rm -f "$mnt"/*

    # --steps-csv
    leave 8
    err=$("$bin" train tiny.json --data $data --quiet --no-db --steps-csv "$mnt/s.csv" 2>&1)
    status "--steps-csv on a full disk" 2 $?
    check "--steps-csv on a full disk" "s.csv: write failed: No space left on device" "$err"

    # --db: a new database on a full disk, then one that fills the disk as it runs
    leave 0
    err=$("$bin" train tiny.json --data $data --quiet --db "$mnt/new.db" 2>&1)
    status "a new --db on a full disk" 2 $?
    check "a new --db on a full disk" "new.db: cannot write the telemetry database: database or disk is full (No space left on device" "$err"
    left=$(ls "$mnt" | grep new.db)
    [ -z "$left" ] || { echo "FAIL: a new --db on a full disk left $left"; fail=1; }
    leave 150
    err=$("$bin" train tiny.json --data $data --quiet --db "$mnt/t.db" --steps 3000 2>&1)
    status "--db filling the disk" 2 $?
    check "--db filling the disk" "t.db: writing telemetry: database or disk is full (No space left on device on the disk that holds it)" "$err"
    n=$(echo "$err" | grep -c "disk is full")
    [ "$n" = 1 ] || { echo "FAIL: --db filling the disk: the error said $n times:"; echo "$err"; fail=1; }
    case "$err" in *rollback*) echo "FAIL: --db filling the disk: $err"; fail=1 ;; esac
    rm -f "$mnt/fill"
    got=$(q "$mnt/t.db" "SELECT group_concat(status) FROM runs")
    [ "$got" = failed ] || { echo "FAIL: --db filling the disk: the run is marked '$got', not 'failed'"; fail=1; }
    [ "$(q "$mnt/t.db" "PRAGMA integrity_check")" = ok ] || { echo "FAIL: --db filling the disk: integrity_check"; fail=1; }
    rm -f "$mnt"/*
fi

# ---- a read-only folder under --out, --checkpoint, --db, --html, --steps-csv -----------
ro=""
if [ $have_mnt = 1 ]; then ro="$mnt/ro"
elif [ "$(id -u)" != 0 ]; then ro="$tmp/ro"
else echo "SKIP the read-only folder: root writes into a chmod a-w folder, and a read-only mount is not permitted here"
fi
if [ -n "$ro" ]; then
    mkdir "$ro"
    "$bin" tune tiny.json --data $data --probe-steps 20 --budget-runs 5 --validate-steps 20 --formats fp32,bf16 \
        --db out.db --out "$ro/p.json" --quiet > /dev/null 2>&1
    cp "$ro/p.json" p.orig
    PRECTUNE_TEST_KILL_AFTER_STEPS=300 "$bin" train tiny.json --data $data --quiet --no-db --checkpoint "$ro/ck" \
        > /dev/null 2>&1
    cp "$ro/ck/checkpoint.ptck" ck.orig
    cp ref/telemetry.db "$ro/t.db"
    if [ $have_mnt = 1 ]; then mount -o remount,ro "$mnt"; else chmod a-w "$ro"; fi
    err=$("$bin" tune tiny.json --data $data --probe-steps 20 --budget-runs 5 --validate-steps 20 --formats fp32,bf16 \
        --db out.db --out "$ro/p.json" --quiet 2>&1)
    status "tune --out in a read-only folder" 2 $?
    check "tune --out in a read-only folder" "--out $ro/p.json: cannot write into $ro" "$err"
    cmp -s p.orig "$ro/p.json" || { echo "FAIL: tune --out in a read-only folder changed the policy"; fail=1; }
    err=$("$bin" train tiny.json --data $data --quiet --no-db --checkpoint "$ro/ck" --resume 2>&1)
    status "--checkpoint in a read-only folder" 2 $?
    check "--checkpoint in a read-only folder" "ck/checkpoint.ptck: cannot write into its folder" "$err"
    cmp -s ck.orig "$ro/ck/checkpoint.ptck" || { echo "FAIL: --checkpoint in a read-only folder changed the checkpoint"; fail=1; }
    err=$("$bin" train tiny.json --data $data --quiet --db "$ro/t.db" 2>&1)
    status "--db in a read-only folder" 2 $?
    check "--db in a read-only folder" "t.db: cannot write the telemetry database" "$err"
    cmp -s ref/telemetry.db "$ro/t.db" || { echo "FAIL: --db in a read-only folder changed the database"; fail=1; }
    err=$("$bin" report ref/telemetry.db --html "$ro/r.html" 2>&1)
    status "report --html in a read-only folder" 2 $?
    check "report --html in a read-only folder" "r.html: cannot write into its folder" "$err"
    err=$("$bin" train tiny.json --data $data --quiet --no-db --steps-csv "$ro/s.csv" 2>&1)
    status "--steps-csv in a read-only folder" 2 $?
    check "--steps-csv in a read-only folder" "s.csv: cannot create" "$err"
    [ $have_mnt = 1 ] || chmod u+w "$ro"
fi

# ---- two tunes on one database ----------------------------------------------------------
targs="tiny.json --data $data --probe-steps 20 --budget-runs 5 --validate-steps 20 --formats fp32,bf16 --quiet"
# the first stops itself (SIGSTOP) once a probe is stored; the second starts then
PRECTUNE_TEST_STOP_AFTER_PROBES=1 "$bin" tune $targs --db two.db --out first.json > first.out 2>&1 &
pid=$!
n=0
while [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" != T ] && kill -0 $pid 2>/dev/null && [ $n -lt 600 ]; do
    sleep 0.1; n=$((n + 1))
done
err=$("$bin" tune $targs --db two.db --out second.json 2>&1); rc=$?
kill -CONT $pid; wait $pid; rc1=$?
status "a second tune on the database of a running one" 2 $rc
check "a second tune on the database of a running one" "two.db: another prectune tune (pid $pid on" "$err"
[ -e second.json ] && { echo "FAIL: the second tune wrote a policy"; fail=1; }
status "the first tune, continued" 0 $rc1
out=$("$bin" tune $targs --db two.db --out third.json 2>&1)
status "a tune after the first ended" 0 $?
check "a tune after the first ended: every probe reused" "tuning           0 probe runs" "$out"
[ "$(q two.db "PRAGMA integrity_check")" = ok ] || { echo "FAIL: integrity_check of the two tunes' database"; fail=1; }
[ -z "$(q two.db "SELECT * FROM claims")" ] || { echo "FAIL: a claim stayed after the tunes ended"; fail=1; }
# the claim of a tune killed by SIGKILL is taken over by the next
PRECTUNE_TEST_KILL_AFTER_PROBES=1 "$bin" tune $targs --db gone.db --out gone.json > /dev/null 2>&1
status "a tune killed by SIGKILL" 137 $?
out=$("$bin" tune $targs --db gone.db --out gone.json 2>&1)
status "a tune after one killed by SIGKILL" 0 $?

[ $fail = 0 ] && echo "cli_io: all checks passed"
exit $fail
