#!/bin/sh
# Token data through the command line: every malformed token file (made
# here by tests/make_tokens.py) and text file is refused with exit 2 and a
# message that names the file and the header field or byte offset; a
# file's own faults come before the model's (so they are checked whatever
# the spec); a model whose spec gives no context length is refused naming
# it; /dev/zero as token data stops at a field, not at memory; a language
# model's policy (validation.criteria.metric heldout_loss) reads and
# validates against the schema. The reads
# with a context and vocabulary are tests/test_tokens.c's.
set -u
bin="$1"
here=$(cd "$(dirname "$0")" && pwd)
mk="python3 $here/make_tokens.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { case "$3" in *"$2"*) ;; *) echo "FAIL: $1: expected '$2' in:"; echo "$3"; fail=1 ;; esac; }
status() { [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }; }
command -v python3 > /dev/null || { echo "python3 is missing: run scripts/deps.sh"; exit 1; }

cat > m.json <<'EOF2'
{"name": "tok", "input": [8], "layers": [{"name": "fc", "type": "linear", "out": 8},
 {"name": "act", "type": "relu"}, {"name": "head", "type": "linear", "out": 256}],
 "train": {"batch": 4, "steps": 10, "seed": 3}}
EOF2

# bad() NAME EXPECTED [make_tokens.py options]: the file refused by train and tune, exit 2
bad() {
    name=$1 want=$2
    shift 2
    $mk "$name" "$@" || { echo "FAIL: make_tokens.py $name $*"; fail=1; return; }
    err=$("$bin" train m.json --data "tokens:$name" --no-db --quiet 2>&1); status "train $name" 2 $?
    check "train $name" "$name: $want" "$err"
    err=$("$bin" tune m.json --data "tokens:$name" --db t.db --out p.json 2>&1); status "tune $name" 2 $?
    check "tune $name" "$name: $want" "$err"
}
bad magic.bin "magic 12345 at byte offset 0, expected 20240520" --count-ids 100 --magic 12345
bad version.bin "version 2 at byte offset 4, expected 1" --count-ids 100 --version 2
bad long.bin "truncated: the token count at byte offset 8 claims 101 tokens" --count-ids 100 --count 101
bad cut.bin "truncated: the token count at byte offset 8 claims 100 tokens" --count-ids 100 --cut 1
bad trail.bin "trailing bytes: the token count at byte offset 8 claims 100 tokens" --count-ids 100 --extra 2
bad huge.bin "token count 2147483647 at byte offset 8: more than" --count-ids 10 --count 2147483647
bad negative.bin "token count -1 at byte offset 8, expected 1 or more" --count-ids 10 --count -1
bad header.bin "1000 bytes, too short for the 1024-byte header" --count-ids 0 --cut 24
: > empty.bin
err=$("$bin" train m.json --data tokens:empty.bin --no-db --quiet 2>&1); status "train empty.bin" 2 $?
check "train empty.bin" "empty.bin: empty (a token file starts with a header" "$err"
# the held-out file is read as strictly, and named
$mk good.bin --count-ids 100
err=$("$bin" train m.json --data tokens:good.bin,version.bin --no-db --quiet 2>&1); status "train ,version.bin" 2 $?
check "train ,version.bin" "version.bin: version 2 at byte offset 4" "$err"
err=$("$bin" train m.json --data tokens:good.bin,a,b --no-db --quiet 2>&1); status "tokens: grammar" 2 $?
check "tokens: grammar" "expected tokens:FILE or tokens:FILE,VAL_FILE" "$err"
err=$("$bin" train m.json --data tokens:/nonexistent/t.bin --no-db --quiet 2>&1); status "tokens: missing" 2 $?
check "tokens: missing" "/nonexistent/t.bin: cannot open" "$err"
# a good file, but a model whose spec gives no context length: refused naming it
err=$("$bin" train m.json --data tokens:good.bin --no-db --quiet 2>&1); status "train good.bin, no context" 2 $?
check "train good.bin, no context" "no context length (context)" "$err"
# text: empty, and the same refusal for a model that reads no tokens
: > empty.txt
err=$("$bin" train m.json --data text:empty.txt --no-db --quiet 2>&1); status "text empty" 2 $?
check "text empty" "empty.txt: empty: no text to read" "$err"
printf 'some text to read\n' > a.txt
err=$("$bin" validate m.json --data text:a.txt --policy "$here/../policies/presets/bf16-amp.json" 2>&1)
status "validate text, no context" 2 $?
check "validate text, no context" "no context length (context)" "$err"
# /dev/zero: a token file of magic 0, a text past the limit is never buffered whole
err=$(timeout 60 "$bin" train m.json --data tokens:/dev/zero --no-db --quiet 2>&1); status "tokens /dev/zero" 2 $?
check "tokens /dev/zero" "/dev/zero: magic 0 at byte offset 0" "$err"
# an unknown kind lists the token kinds
err=$("$bin" train m.json --data txt:a.txt --no-db --quiet 2>&1); status "unknown kind" 2 $?
check "unknown kind" "text:FILE, tokens:FILE[,VAL_FILE] or fortunes" "$err"

# a language model's policy: held to the held-out loss, no accuracy; the
# reader and the JSON Schema both take it, and both refuse another metric
cat > lm.policy.json <<'EOF2'
{"prectune_policy": 1, "default": {"fwd": "bf16", "dgrad": "bf16", "wgrad": "bf16"},
 "validation": {"steps": 200, "seeds": [1, 2], "baseline": {"final_loss": 2.41}, "policy": {"final_loss": 2.415,
  "skipped_fraction": 0, "nonfinite_params": 0}, "criteria": {"metric": "heldout_loss", "loss_rel": 0.005,
  "skipped_fraction": 0.01, "noise_floor": true}, "within_noise": false, "passed": true}}
EOF2
err=$("$bin" policy check lm.policy.json 2>&1); status "policy check heldout_loss" 0 $?
python3 "$here/policy_schema.py" "$here/../policies/policy.schema.json" lm.policy.json > schema.out 2>&1
status "schema heldout_loss" 0 $?
sed 's/"heldout_loss"/"accuracy"/' lm.policy.json > badmetric.json
err=$("$bin" policy check badmetric.json 2>&1); status "policy check metric accuracy" 2 $?
check "policy check metric accuracy" "badmetric.json: validation.criteria.metric" "$err"

[ $fail = 0 ] && echo "cli_tokens: all checks passed"
exit $fail
