#!/bin/sh
# `prectune train` as a user runs it: bad input (exit 2, the file and field
# named), interrupted runs resumed bit-identically (SIGINT and kill -9),
# and the loss-scale guard stopping a run that cannot make progress.
set -u
bin="$1"
src="$(cd "$(dirname "$0")" && pwd)"
spec="$src/data/small-mlp.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { case "$3" in *"$2"*) ;; *) echo "FAIL: $1: expected '$2' in:"; echo "$3"; fail=1 ;; esac; }
status() { [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }; }

# ---- bad input -------------------------------------------------------------
printf '{"name": "m", "input": [784], "layers": [{"name": "a", "type": "linear", "outs": 3}]}' > "$tmp/bad.json"
err=$("$bin" train "$tmp/bad.json" --data fashion-mnist 2>&1); rc=$?
status "unknown key" 2 $rc; check "unknown key named" "bad.json: layers[0].outs: unknown key" "$err"
err=$("$bin" train "$spec" 2>&1); rc=$?
status "no --data" 2 $rc; check "no --data" "--data SPEC is required" "$err"
printf '{"prectune_policy": 1, "layers": {"fc7": {"fwd": "bf16"}}}' > "$tmp/p.json"
err=$("$bin" train "$spec" --data fashion-mnist --policy "$tmp/p.json" 2>&1); rc=$?
status "policy layer" 2 $rc; check "policy layer named" "p.json: layers.fc7: model 'small-mlp' has no layer" "$err"
# a transformer's spec errors, before any data is read
gpt() { printf '{"name": "g", "input": [%s], "layers": [{"name": "wte", "type": "embedding", "vocab": 64, "out": 32},
 {"name": "wpe", "type": "position_embedding", "context": 16}, {"name": "h", "type": "gpt_block", "heads": %s},
 {"name": "head", "type": "linear", "out": %s, "tie": "wte"}]}' "$1" "$2" "$3" > "$tmp/gpt.json"; }
gpt 16 5 64; err=$("$bin" train "$tmp/gpt.json" --data random:64,16,64 2>&1); rc=$?
status "heads" 2 $rc; check "heads named" "gpt.json: layers[2].heads: 5 heads do not divide the width 32" "$err"
gpt 32 4 64; err=$("$bin" train "$tmp/gpt.json" --data random:64,32,64 2>&1); rc=$?
status "context" 2 $rc; check "context named" "gpt.json: layers[1].context: the sequence has 32 positions, past the table's 16" "$err"
gpt 16 4 60; err=$("$bin" train "$tmp/gpt.json" --data random:64,16,64 2>&1); rc=$?
status "tied head" 2 $rc; check "tied head named" "gpt.json: layers[3].out: a head tied to embedding 'wte'" "$err"
gpt 16 4 64; err=$("$bin" train "$tmp/gpt.json" --data random:64,16,64 2>&1); rc=$?
status "token data" 2 $rc; check "token data wanted" "gives 16 outputs a sample (one a position)" "$err"
err=$("$bin" train "$spec" --data csv:/nonexistent.csv 2>&1); rc=$?
status "missing csv" 2 $rc; check "missing csv" "/nonexistent.csv: cannot open" "$err"

# ---- a model's name is no path: the default database stays in prectune-runs/ ----
mkdir -p "$tmp/w/x"
awk 'BEGIN { print "a,b,y"; for (i = 0; i < 200; i++) printf "%d,%d,%d\n", i % 7, i % 5, i % 2 }' > "$tmp/w/x/d.csv"
for name in ../../esc /tmp/esc-abs; do
    printf '{"name": "%s", "input": [2], "layers": [{"name": "fc", "type": "linear", "out": 2}],
 "loss": "softmax_cross_entropy", "train": {"batch": 8, "steps": 2}}' "$name" > "$tmp/w/x/esc.json"
    out=$(cd "$tmp/w/x" && "$bin" train esc.json --data csv:d.csv 2>&1); status "train a model named $name" 0 $?
    check "the database named for it" "telemetry: prectune-runs/_" "$out"
done
n=$(find "$tmp" /tmp/esc-abs* -name '*esc*.db' 2>/dev/null | grep -vc "^$tmp/w/x/prectune-runs/")
[ "$n" = 0 ] || { echo "FAIL: a model's name put a database outside prectune-runs/:"; find "$tmp" /tmp/esc-abs* -name '*esc*.db' 2>/dev/null; fail=1; }
n=$(ls "$tmp/w/x/prectune-runs" | grep -c '^_.*esc.*\.db$')
[ "$n" = 2 ] || { echo "FAIL: prectune-runs/ holds $n databases of the two models:"; ls -a "$tmp/w/x/prectune-runs"; fail=1; }

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "SKIP the training checks: Debian's dataset-fashion-mnist is not installed"
    [ $fail = 0 ] && exit 77
    exit 1
fi

hash_of() { sed -n 's/^weights hash *//p' "$1"; }
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# ---- the uninterrupted reference -------------------------------------------
"$bin" train "$spec" --data fashion-mnist --quiet > "$tmp/ref.txt" 2>&1 || { cat "$tmp/ref.txt"; exit 1; }
ref=$(hash_of "$tmp/ref.txt")
[ -n "$ref" ] || { echo "FAIL: no weights hash"; cat "$tmp/ref.txt"; exit 1; }

# ---- kill -9 mid-run, then --resume from the last periodic checkpoint --------
"$bin" train "$spec" --data fashion-mnist --quiet --checkpoint "$tmp/k" --checkpoint-every 100 \
    --steps-csv "$tmp/k.csv" > /dev/null 2>&1 &
pid=$!
while [ "$(lines "$tmp/k.csv")" -lt 450 ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -f "$tmp/k/checkpoint.ptck" ] || { echo "FAIL: no checkpoint after kill -9"; fail=1; }
ls "$tmp/k" | grep -q tmp && { echo "FAIL: a temporary checkpoint file was left"; fail=1; }
"$bin" train "$spec" --data fashion-mnist --checkpoint "$tmp/k" --resume > "$tmp/k.txt" 2> "$tmp/k.err"
status "resume after kill -9" 0 $?
check "resume message" "resuming" "$(cat "$tmp/k.err")"
got=$(hash_of "$tmp/k.txt")
[ "$got" = "$ref" ] || { echo "FAIL: kill -9 + resume gave weights $got, uninterrupted $ref"; fail=1; }

# ---- SIGINT: a checkpoint now, exit 130, then --resume ----------------------
"$bin" train "$spec" --data fashion-mnist --quiet --checkpoint "$tmp/i" --checkpoint-every 100000 \
    --steps-csv "$tmp/i.csv" > /dev/null 2> "$tmp/i.err" &
pid=$!
while [ "$(lines "$tmp/i.csv")" -lt 333 ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
kill -INT $pid; wait $pid; rc=$?
status "SIGINT" 130 $rc
check "SIGINT message" "checkpoint saved" "$(cat "$tmp/i.err")"
"$bin" train "$spec" --data fashion-mnist --checkpoint "$tmp/i" --resume --quiet > "$tmp/i.txt" 2>&1
got=$(hash_of "$tmp/i.txt")
[ "$got" = "$ref" ] || { echo "FAIL: SIGINT + resume gave weights $got, uninterrupted $ref"; fail=1; }

# ---- the loss-scale guard ----------------------------------------------------
printf '{"prectune_policy": 1, "default": {"fwd": "fp16", "dgrad": "fp16", "wgrad": "fp16"},
 "loss_scale": {"mode": "dynamic", "init": 1e30, "min": 1e30, "max": 1e30, "max_stuck": 5}}' > "$tmp/spiral.json"
err=$("$bin" train "$spec" --data fashion-mnist --policy "$tmp/spiral.json" --checkpoint "$tmp/s" --quiet 2>&1); rc=$?
status "death spiral" 1 $rc
check "death spiral named" "death spiral at step 4" "$err"
check "death spiral checkpoint" "checkpoint saved" "$err"
printf '{"prectune_policy": 1, "default": {"fwd": "fp16", "dgrad": "fp16", "wgrad": "fp16"},
 "loss_scale": {"mode": "static", "init": 1e30, "max_stuck": 3}}' > "$tmp/static.json"
err=$("$bin" train "$spec" --data fashion-mnist --force --policy "$tmp/static.json" --quiet 2>&1); rc=$?
status "static overflow" 1 $rc
check "static overflow named" "3 consecutive steps overflowed with a static loss scale" "$err"

[ $fail = 0 ] && echo "cli_train: all checks passed (weights $ref)"
echo
exit $fail
