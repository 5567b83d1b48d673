#!/bin/sh
# `prectune sample` on a language model trained here for a few steps: the
# same seed prints the same text; at temperature 0 every token is the
# argmax of the logits that --json reports for its step, and the text
# printed is those tokens' bytes; a policy's formats run the forward;
# bad input (a prompt longer than the context, a model that reads no
# tokens, a missing or foreign checkpoint, a bad temperature) exits 2
# naming the option or field. Also: train.eval_samples limits what an
# evaluation reads.
set -u
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here=$(cd "$(dirname "$0")" && pwd)
src="$here/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { case "$3" in *"$2"*) ;; *) echo "FAIL: $1: expected '$2' in:"; echo "$3" | head -20; fail=1 ;; esac; }
status() { [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }; }
command -v python3 > /dev/null || { echo "python3 is missing: run scripts/deps.sh"; exit 1; }

cat > lm.json <<'EOF2'
{"name": "lm", "input": [16],
 "layers": [{"name": "wte", "type": "embedding", "vocab": 256, "out": 32},
            {"name": "wpe", "type": "position_embedding"},
            {"name": "h", "type": "gpt_block", "heads": 2},
            {"name": "lnf", "type": "layernorm"},
            {"name": "head", "type": "linear", "out": 256, "tie": "wte", "bias": false}],
 "optimizer": {"lr": 3e-3},
 "train": {"batch": 4, "steps": 40, "seed": 2, "eval_samples": 8}}
EOF2
i=0
while [ $i -lt 200 ]; do echo "the cat sat on the mat; the dog sat on the log. $i"; i=$((i + 1)); done > text.txt
out=$("$bin" train lm.json --data text:text.txt --checkpoint ck --quiet 2>&1); status "train" 0 $?
# train.eval_samples: the evaluation reads that many held-out samples
check "eval_samples" "bits per byte (8 samples)" "$out"
sed 's/"eval_samples": 8/"eval_samples": -1/' lm.json > neg.json
err=$("$bin" train neg.json --data text:text.txt --no-db --quiet 2>&1); status "negative eval_samples" 2 $?
check "negative eval_samples" "train.eval_samples" "$err"

a=$("$bin" sample lm.json --checkpoint ck --prompt "the " --tokens 40 --seed 7 2>&1); status "sample" 0 $?
b=$("$bin" sample lm.json --checkpoint ck/checkpoint.ptck --prompt "the " --tokens 40 --seed 7 2>&1); status "sample again" 0 $?
[ "$a" = "$b" ] || { echo "FAIL: the same seed printed other text:"; echo "$a"; echo "$b"; fail=1; }
check "the prompt comes first" "the " "$a"

# temperature 0: each token the argmax of its step's logits; the text is their bytes
"$bin" sample lm.json --checkpoint ck --prompt "the c" --tokens 12 --temperature 0 --json > g.json; status "json" 0 $?
txt=$("$bin" sample lm.json --checkpoint ck --prompt "the c" --tokens 12 --temperature 0); status "greedy" 0 $?
printf '%s' "$txt" > greedy.txt
out=$(python3 - <<'EOF2'
import json
g = json.load(open("g.json"))
assert len(g["steps"]) == 12 and len(g["tokens"]) == 12, "12 steps"
assert g["prompt"] == list(b"the c"), g["prompt"]
for k, s in enumerate(g["steps"]):
    z = s["logits"]
    assert len(z) == 256, len(z)
    assert s["token"] == g["tokens"][k]
    # the first of equal maxima, as the sampler takes it
    assert s["token"] == max(range(256), key=lambda j: (z[j], -j)), (k, s["token"])
# the printed text: the prompt and the tokens, bytes below 32 or past 126 escaped
def esc(b):
    if b == 92: return "\\\\"
    if b in (9, 10) or 32 <= b <= 126: return chr(b)
    return "\\x%02x" % b
want = "".join(esc(b) for b in g["prompt"] + g["tokens"])
got = open("greedy.txt").read()
assert got == want.rstrip("\n"), (got, want)
print("ok")
EOF2
)
check "argmax agrees with the logits" "ok" "$out"

# a policy's formats run the forward
out=$("$bin" sample lm.json --checkpoint ck --policy "$src/policies/presets/bf16-amp.json" --tokens 10 2>&1)
status "bf16 policy" 0 $?

# bad input: exit 2, naming what is wrong
err=$("$bin" sample lm.json --checkpoint ck --prompt "0123456789abcdefg" 2>&1); status "long prompt" 2 $?
check "long prompt" "--prompt: 17 tokens, longer than the model's context of 16" "$err"
err=$("$bin" sample "$src/tests/data/small-mlp.json" --checkpoint ck 2>&1); status "token-free model" 2 $?
check "token-free model" "layers[0]: the model reads no tokens" "$err"
err=$("$bin" sample lm.json --checkpoint nowhere 2>&1); status "missing checkpoint" 2 $?
check "missing checkpoint" "--checkpoint nowhere: no checkpoint" "$err"
err=$("$bin" sample lm.json 2>&1); status "no checkpoint option" 2 $?
check "no checkpoint option" "--checkpoint DIR is required" "$err"
err=$("$bin" sample lm.json --checkpoint ck --temperature -1 2>&1); status "bad temperature" 2 $?
check "bad temperature" "--temperature '-1'" "$err"
sed 's/"out": 32}/"out": 16}/' lm.json > other.json
err=$("$bin" sample other.json --checkpoint ck 2>&1); status "another model's checkpoint" 2 $?
check "another model's checkpoint" "ck/checkpoint.ptck: " "$err"
printf 'PTCKPT' > ck2.ptck
err=$("$bin" sample lm.json --checkpoint ck2.ptck 2>&1); status "damaged checkpoint" 2 $?
check "damaged checkpoint" "ck2.ptck" "$err"

[ $fail = 0 ] && echo "cli_sample: all passed"
exit $fail
