#!/bin/sh
# Crafted files through the command line: policies of the wrong shape, the
# one policy validation (policy check and train agree), numbers past int64,
# /dev/zero as each kind of file, telemetry CSVs with NaN steps or too many
# layers, and run databases with values no run writes (report and
# diagnose refuse them with exit 2; report's plots end for any value).
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { case "$3" in *"$2"*) ;; *) echo "FAIL: $1: expected '$2' in:"; echo "$3"; fail=1 ;; esac; }
status() { [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }; }

cat > m.json <<'EOF2'
{"name": "crafted", "input": [4], "layers": [{"name": "fc", "type": "linear", "out": 8},
 {"name": "act", "type": "relu"}, {"name": "head", "type": "linear", "out": 2}],
 "train": {"batch": 16, "steps": 30, "seed": 3}}
EOF2
data="random:200,4,2"

# ---- policies of the wrong shape: exit 2, never a crash --------------------------
for v in '{"criteria":[0]}' '{"baseline":[0]}' '{"policy":[1,2]}' '{"criteria":"x"}'; do
    printf '{"prectune_policy":1,"validation":%s}' "$v" > shape.json
    err=$("$bin" policy check shape.json 2>&1); rc=$?
    status "policy check $v" 2 $rc; check "policy check $v" "shape.json: validation." "$err"
    err=$("$bin" train m.json --data "$data" --policy shape.json --no-db --quiet 2>&1); rc=$?
    status "train --policy $v" 2 $rc; check "train --policy $v" "expected an object" "$err"
done
printf '{"prectune_policy":1,"validation":{"seeds":[1e300]}}' > seeds.json
err=$("$bin" policy check seeds.json 2>&1); status "seed past int64" 2 $?
check "seed past int64" "seeds.json: validation.seeds[0]: expected an integer" "$err"
printf '{"prectune_policy":1,"tf32":true,"tf32":false}' > dup.json
err=$("$bin" policy check dup.json 2>&1); status "duplicate key" 2 $?
check "duplicate key" "dup.json: tf32: duplicate key" "$err"

# ---- one validation: what policy check refuses, train refuses (unless --force) ----
printf '{"prectune_policy":1,"default":{"fwd":"fp16","dgrad":"fp16","wgrad":"fp16"}}' > noscale.json
printf '{"prectune_policy":1,"default":{"fwd":"fp16","dgrad":"fp16","wgrad":"fp16"},"loss_scale":{"mode":"static","init":1e30}}' > static.json
for p in noscale static; do
    want="loss_scale.mode"; [ $p = static ] && want="loss_scale.init"
    err=$("$bin" policy check $p.json 2>&1); status "policy check $p" 2 $?; check "policy check $p" "$p.json: $want" "$err"
    err=$("$bin" train m.json --data "$data" --policy $p.json --no-db --quiet 2>&1); status "train $p" 2 $?
    check "train $p" "$p.json: $want" "$err"
    err=$("$bin" validate m.json --data "$data" --policy $p.json --steps 20 2>&1); status "validate $p" 2 $?
    check "validate $p" "$p.json: $want" "$err"
    err=$("$bin" export $p.json --to csv --model m.json 2>&1); status "export $p" 2 $?
done
"$bin" train m.json --data "$data" --policy noscale.json --force --no-db --quiet > /dev/null 2>&1
status "train --force noscale" 0 $?

# ---- numbers past int64 --------------------------------------------------------
err=$(timeout 60 "$bin" train m.json --data "$data" --steps 99999999999999999999 --no-db --quiet 2>&1); status "--steps past int64" 2 $?
check "--steps past int64" "--steps '99999999999999999999': expected an integer" "$err"
for cmd in report diagnose; do
    err=$(timeout 60 "$bin" $cmd x.db --run 99999999999999999999 2>&1); status "$cmd --run past int64" 2 $?
    check "$cmd --run past int64" "--run '99999999999999999999': expected an integer >= 1" "$err"
done

# ---- /dev/zero as each kind of file: refused at a size limit ----------------------
err=$(timeout 60 "$bin" train /dev/zero --data "$data" --no-db 2>&1); status "model /dev/zero" 2 $?
check "model /dev/zero" "/dev/zero: larger than" "$err"
err=$(timeout 60 "$bin" policy check /dev/zero 2>&1); status "policy /dev/zero" 2 $?
check "policy /dev/zero" "the limit for a model spec, policy" "$err"
err=$(timeout 60 "$bin" train m.json --data "$data" --init /dev/zero --no-db 2>&1); status "--init /dev/zero" 2 $?
check "--init /dev/zero" "the limit for initial weights of model 'crafted'" "$err"
err=$(timeout 60 "$bin" train m.json --data csv:/dev/zero --no-db 2>&1); status "csv /dev/zero" 2 $?
check "csv /dev/zero" "/dev/zero:1: a record longer than 16 MiB" "$err"
ln -s /dev/zero zero.csv
err=$(timeout 60 "$bin" diagnose zero.csv 2>&1); status "telemetry csv /dev/zero" 2 $?
check "telemetry csv /dev/zero" "zero.csv:1: a record longer than 16 MiB" "$err"

# ---- telemetry CSVs: integers checked, more than 256 layers an input error ----------
hdr="step,layer,role,count,nan,pos_inf,neg_inf,absmax"
printf '%s\nnan,fc,x,10,0,0,0,1\n' "$hdr" > nanstep.csv
err=$("$bin" diagnose nanstep.csv 2>&1); status "NaN step" 2 $?
check "NaN step" "nanstep.csv:2:1: step 'nan' is not an integer" "$err"
printf '%s\n0,fc,x,1e30,0,0,0,1\n' "$hdr" > bigcount.csv
err=$("$bin" diagnose bigcount.csv 2>&1); status "count past 2^53" 2 $?
check "count past 2^53" "bigcount.csv:2:4: count '1e30' is not an integer" "$err"
{ echo "$hdr"; i=0; while [ $i -lt 257 ]; do echo "0,l$i,x,10,0,0,0,1"; i=$((i + 1)); done; } > wide.csv
err=$("$bin" diagnose wide.csv 2>&1); status "257 layers" 2 $?
check "257 layers" "wide.csv:258: layer 'l256': more than 256 layers" "$err"

# ---- run databases with values no run writes --------------------------------------
if ! python3 -c 'import sqlite3' 2>/dev/null; then
    echo "SKIP the database checks: python3 with sqlite3 is missing (run scripts/deps.sh)"
    [ $fail = 0 ] && exit 77
    exit 1
fi
"$bin" train m.json --data "$data" --db run.db --stats-every 5 --quiet > /dev/null 2>&1; status "train" 0 $?
craft() { cp run.db "$1.db"; python3 -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()" "$1.db" "$2"; }
craft loss "UPDATE steps SET loss = -1e308 WHERE step = 3"
timeout 60 "$bin" report loss.db --html loss.html > /dev/null 2>&1; status "report of a loss of -1e308" 0 $?
size=$(wc -c < loss.html)
[ "$size" -lt 5000000 ] || { echo "FAIL: report of a loss of -1e308 wrote $size bytes"; fail=1; }
craft scale "UPDATE steps SET scale = 0 WHERE step = 2"
err=$(timeout 60 "$bin" report scale.db --html scale.html 2>&1); status "report of a scale of 0" 2 $?
check "report of a scale of 0" "scale.db: table steps, column scale" "$err"
craft li "UPDATE layer_stats SET layer_index = 1000 WHERE rowid = (SELECT min(rowid) FROM layer_stats WHERE step = 5)"
err=$(timeout 60 "$bin" report li.db --html li.html 2>&1); status "report of layer_index 1000" 0 $?
craft lineg "UPDATE layer_stats SET layer_index = -7 WHERE rowid = (SELECT min(rowid) FROM layer_stats WHERE step = 5)"
err=$(timeout 60 "$bin" report lineg.db --html lineg.html 2>&1); status "report of layer_index -7" 2 $?
check "report of layer_index -7" "lineg.db: table layer_stats, column layer_index: -7" "$err"
err=$(timeout 60 "$bin" diagnose lineg.db 2>&1); status "diagnose of layer_index -7" 2 $?
check "diagnose of layer_index -7" "lineg.db: table layer_stats, column layer_index" "$err"
craft ver "PRAGMA user_version = 99"
err=$("$bin" report ver.db 2>&1); status "report of user_version 99" 2 $?
check "report of user_version 99" "ver.db: telemetry schema version (PRAGMA user_version) 99" "$err"
err=$("$bin" diagnose ver.db 2>&1); status "diagnose of user_version 99" 2 $?
craft name "UPDATE layer_stats SET layer = CAST(X'66C3' AS TEXT) WHERE layer = 'fc'"
err=$("$bin" diagnose name.db --json 2>&1); status "diagnose of a non-UTF-8 name" 2 $?
check "diagnose of a non-UTF-8 name" "name.db: table layer_stats, column layer: a name is not valid UTF-8" "$err"

[ $fail = 0 ] && echo "cli_crafted: all checks passed"
exit $fail
