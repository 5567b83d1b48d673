#!/bin/sh
# prectune plan: the fused plan names what each pass writes for its
# neighbours, the plan with no fusion names none, and bad input exits 2.
set -eu
P=$1
S=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$P" plan "$S/examples/fmnist-mlp/model.json" --policy "$S/policies/presets/bf16-amp.json" > "$T/fused"
grep -q '^step plan (fused): the optimizer writes the weights'"'"' copy in bf16$' "$T/fused" || fail "no weight copy line"
grep -q '^  fc2 .*x cast by act1' "$T/fused" || fail "fc2's input cast is not act1's"
grep -q '^  act1 .*writes fc2'"'"'s x cast (bf16)' "$T/fused" || fail "act1 does not write fc2's cast"
grep -q '^  act1 .*writes fc1'"'"'s dy cast and bias gradient' "$T/fused" || fail "act1 does not write fc1's gradient"
grep -q '^  head .*dx as bf16 codes' "$T/fused" || fail "head's input gradient is not written as codes"
[ "$(grep -c '^  ' "$T/fused")" = 5 ] || fail "not one line a layer"

"$P" plan "$S/examples/fmnist-mlp/model.json" --policy "$S/policies/presets/bf16-amp.json" --no-fusion > "$T/plain"
grep -q '^step plan (no fusion)$' "$T/plain" || fail "no-fusion header"
! grep -q 'cast by\|codes\|writes\|materialize\|copy' "$T/plain" || fail "the plan with no fusion fuses"

"$P" plan "$S/examples/fmnist-mlp/model.json" > "$T/fp32"
grep -q '^  fc1 .*fwd fp32, dgrad fp32, wgrad fp32; dy cast' "$T/fp32" && fail "fp32 has no dy cast to fuse"
grep -q '^  fc1 .*bias gradient by act1' "$T/fp32" || fail "fp32: the bias gradient is not act1's"

set +e
"$P" plan "$T/missing.json" 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'missing.json' "$T/err" || fail "missing model: exit $rc"
echo '{"prectune_policy": 1, "layers": {"nope": {"fwd": "bf16", "dgrad": "bf16", "wgrad": "bf16"}}}' > "$T/bad.json"
"$P" plan "$S/examples/fmnist-mlp/model.json" --policy "$T/bad.json" 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'nope' "$T/err" || fail "policy naming no layer: exit $rc"
"$P" plan 2> /dev/null; rc=$?
[ $rc = 2 ] || fail "no model: exit $rc"
echo "cli_plan: ok"
