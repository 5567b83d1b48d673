#!/bin/sh
# `prectune diagnose` on the shipped incidents (examples/incidents): the
# right step, layer, role and cause, and the patched policy trains without
# the incident; a clean run has none; bad input gives exit 2. Where a step
# comes from training (not from the data or the first forward pass), it is
# read from diagnose's own output and the replay is checked against it:
# another CPU's OpenBLAS sums in another order, so trained digits move.
set -u
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
src="$(cd "$(dirname "$0")" && pwd)/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { case "$3" in *"$2"*) ;; *) echo "FAIL: $1: expected '$2' in:"; echo "$3" | head -40; fail=1 ;; esac; }
status() { [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }; }
ex="$src/examples/fp16-overflow"

err=$("$bin" diagnose nope.db 2>&1); status "missing db" 2 $?

# ---- fp16 activation overflow ------------------------------------------------
"$bin" train "$ex/model.json" --data "csv:$ex/sensors.csv" --label state --no-standardize \
    --policy "$src/examples/incidents/fp16-activation-overflow.policy.json" --db a.db --quiet > /dev/null 2>&1
out=$("$bin" diagnose a.db --json --patch a.fix.json 2>/dev/null); status "incident exit" 1 $?
check "step" '"step":	0' "$out"
check "first bad tensor" '"layer":	"norm",' "$out"
check "origin" '"origin":	{
		"layer":	"fc1",' "$out"
check "cause" '"cause":	"activation_overflow"' "$out"
check "propagation named" "propagation, not another origin" "$out"
check "death spiral as the symptom" "this is the symptom" "$out"
out=$("$bin" train "$ex/model.json" --data "csv:$ex/sensors.csv" --label state --no-standardize \
      --policy a.fix.json --no-db --quiet); status "patched run" 0 $?
check "patched run skips nothing" "(0 skipped" "$out"

# ---- static loss scale too high -------------------------------------------------
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    "$bin" train "$src/tests/data/small-mlp.json" --data fashion-mnist \
        --force --policy "$src/examples/incidents/static-scale-too-high.policy.json" --db s.db --quiet > /dev/null 2>&1
    out=$("$bin" diagnose s.db --json --patch s.fix.json 2>/dev/null); status "static exit" 1 $?
    check "static step" '"step":	0' "$out"
    check "static tensor" '"layer":	"head",
		"role":	"dw"' "$out"
    check "static cause" '"cause":	"gradient_overflow_not_absorbed"' "$out"
    check "static patch" '"mode":	"dynamic"' "$(cat s.fix.json)"
    out=$("$bin" train "$src/tests/data/small-mlp.json" --data fashion-mnist --policy s.fix.json \
          --steps 300 --no-db --quiet); status "static patched run" 0 $?
    check "static patched run skips nothing" "(0 skipped" "$out"
    "$bin" train "$src/tests/data/small-mlp.json" --data fashion-mnist \
        --force --policy "$src/examples/incidents/static-scale-too-high.policy.json" --checkpoint sc --quiet > /dev/null 2>&1
    out=$("$bin" diagnose sc/telemetry.db --replay --data fashion-mnist --checkpoint sc 2>&1)
    check "static replay verdict" "the patch fixes it" "$out"
    # ---- fp16 without loss scaling: gradients flush to zero ----------------------------
    "$bin" train "$src/tests/data/small-mlp.json" --data fashion-mnist --stats-every 20 \
        --force --policy "$src/examples/incidents/fp16-without-loss-scaling.policy.json" --db u.db --quiet > /dev/null 2>&1
    out=$("$bin" diagnose u.db --json --patch u.fix.json 2>/dev/null); status "underflow exit" 1 $?
    check "underflow cause" '"cause":	"gradient_underflow"' "$out"
    # the step is one with statistics (every 20), and the replay below starts from
    # the latest checkpoint (every 100) at or before it
    ustep=$(printf '%s\n' "$out" | sed -n 's/^	"step":	\([0-9]*\),$/\1/p' | head -1)
    case "$ustep" in ''|*[!0-9]*) echo "FAIL: underflow step: none in the diagnosis"; ustep=0; fail=1 ;; esac
    [ $((ustep % 20)) = 0 ] || { echo "FAIL: underflow step $ustep is not a step with statistics (every 20)"; fail=1; }
    check "underflow patch" '"mode":	"dynamic"' "$(cat u.fix.json)"
    "$bin" train "$src/tests/data/small-mlp.json" --data fashion-mnist --stats-every 20 --policy u.fix.json \
        --db u2.db --quiet > /dev/null 2>&1
    out=$("$bin" diagnose u2.db); status "underflow fixed" 0 $?
    "$bin" train "$src/tests/data/small-mlp.json" --data fashion-mnist --stats-every 20 \
        --force --policy "$src/examples/incidents/fp16-without-loss-scaling.policy.json" --checkpoint uc \
        --checkpoint-every 100 --stop-on-incident --quiet > /dev/null 2>&1; status "underflow stop" 1 $?
    out=$("$bin" diagnose uc/telemetry.db --replay --data fashion-mnist --checkpoint uc 2>&1)
    check "underflow replay from the checkpoint before it" "replay from the checkpoint of step $((ustep / 100 * 100)) " "$out"
    check "underflow replay verdict" "the patch fixes it" "$out"
    # ---- a learning rate too high: not a precision problem -----------------------
    lrm="$src/examples/incidents/lr-too-high.model.json"
    "$bin" train "$lrm" --data fashion-mnist --policy "$src/policies/presets/bf16-amp.json" --checkpoint lc \
        --quiet > /dev/null 2>&1
    out=$("$bin" diagnose lc/telemetry.db --json --patch lc.fix.json 2>/dev/null); status "lr exit" 1 $?
    # a loss spike or, where the spike comes later, the divergence it turns into
    lkind=$(printf '%s\n' "$out" | sed -n 's/^	"kind":	"\(loss spike\|divergence\)",$/\1/p' | head -1)
    [ -n "$lkind" ] || { echo "FAIL: lr kind: neither a loss spike nor a divergence:"; echo "$out" | head -20; fail=1; }
    lstep=$(printf '%s\n' "$out" | sed -n 's/^	"step":	\([0-9]*\),$/\1/p' | head -1)
    case "$lstep" in ''|*[!0-9]*) echo "FAIL: lr step: none in the diagnosis"; lstep=0; fail=1 ;; esac
    check "lr cause" '"cause":	"not_precision"' "$out"
    check "lr fix quotes the step" "at step $lstep); warm-up or gradient clipping also help" "$out"
    check "lr patch" '"lr_scale":	0.0625' "$(cat lc.fix.json)"
    check "lr patch keeps bf16" '"fwd":	"bf16"' "$(cat lc.fix.json)"
    out=$("$bin" diagnose lc/telemetry.db --replay --data fashion-mnist --checkpoint lc 2>&1)
    check "lr diagnosis in words" "(small-mlp-lr): $lkind at step $lstep (statistics every 10 steps around it)" "$out"
    # the replay runs to just past the step (its statistics interval, 10), and finds it there again
    check "lr replay to the step" "replay from the checkpoint of step 0 to step $((lstep + 10))," "$out"
    if [ "$lkind" = "loss spike" ]; then
        check "lr replay reproduces" "the incident comes back: the loss reached" "$out"
        check "lr replay at the same step" " at step $lstep (limit " "$out"
    else
        check "lr replay reproduces" "the incident comes back: the mean loss of the last steps was" "$out"
        check "lr replay at the same step" " at step $((lstep + 10)) (limit " "$out"
    fi
    check "lr replay verdict" "the patch fixes it" "$out"
    check "lr replay with the fp32 shadow" "statistics and the fp32 shadow on every step" "$out"
    check "lr replay shadow drift" "against the fp32 shadow the furthest layer output was 'head'" "$out"
    out=$("$bin" train "$lrm" --data fashion-mnist --policy lc.fix.json --no-db --quiet --json); status "lr patched run" 0 $?
    acc=$(printf '%s\n' "$out" | sed -n 's/^	"accuracy":	\([0-9.]*\),$/\1/p')
    awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.8) }' || { echo "FAIL: lr patched run: accuracy '$acc', expected >= 0.8"; fail=1; }
    "$bin" train "$lrm" --data fashion-mnist --db lf.db --quiet > /dev/null 2>&1
    out=$("$bin" diagnose lf.db --json); status "lr fp32 exit" 1 $?
    case "$out" in *'"kind":	"divergence"'*|*'"kind":	"loss spike"'*) ;;
        *) echo "FAIL: lr fp32: neither a divergence nor a loss spike:"; echo "$out" | head -20; fail=1 ;; esac
    check "lr fp32 cause" '"cause":	"not_precision"' "$out"
    # ---- a clean run ------------------------------------------------------------
    "$bin" train "$src/tests/data/small-mlp.json" --data fashion-mnist --steps 200 --db c.db --quiet > /dev/null 2>&1
    out=$("$bin" diagnose c.db); status "clean run" 0 $?
    check "clean run" "no incident" "$out"
fi
# ---- --stop-on-incident keeps the checkpoint from before the incident ----------------
"$bin" train "$ex/model.json" --data "csv:$ex/sensors.csv" --label state --no-standardize \
    --policy "$src/examples/incidents/fp16-activation-overflow.policy.json" --checkpoint ck \
    --checkpoint-every 4 --stop-on-incident --quiet > /dev/null 2> stop.err; status "stop on incident" 1 $?
check "stop on incident" "incident: nonfinite_tensor at step 0" "$(cat stop.err)"
check "stop on incident names the tensor" "in norm/x" "$(cat stop.err)"
check "the checkpoint before it" "before the incident is ck/checkpoint-initial.ptck" "$(cat stop.err)"
check "incident recorded" '"incident","nonfinite_tensor"' "$("$bin" report ck/telemetry.db --csv events)"
[ -f ck/checkpoint-initial.ptck ] || { echo "FAIL: no initial checkpoint"; fail=1; }
out=$("$bin" diagnose ck/telemetry.db --replay --data "csv:$ex/sensors.csv" --label state --no-standardize \
      --checkpoint ck 2>&1)
check "replay reproduces" "with the run's policy   the incident comes back: non-finite values from step 0" "$out"
check "replay patch" "with the patch          no incident" "$out"
check "replay verdict" "the patch fixes it" "$out"
# the replay reads the data as the run did, without the flags repeated
out=$("$bin" diagnose ck/telemetry.db --replay --data "csv:$ex/sensors.csv" --checkpoint ck 2>&1)
check "replay without the data flags reproduces" "with the run's policy   the incident comes back: non-finite values from step 0" "$out"
check "replay without the data flags verdict" "the patch fixes it" "$out"
out=$("$bin" diagnose ck/telemetry.db --replay --checkpoint ck 2>&1)
check "replay on the run's own --data" "the patch fixes it" "$out"
# and refuses to read them otherwise, naming the difference
err=$("$bin" diagnose ck/telemetry.db --replay --data "csv:$ex/sensors.csv" --label flow --checkpoint ck 2>&1)
status "replay with another label" 2 $?
check "replay with another label" "--label flow: run 1 of ck/telemetry.db read its labels from column 'state'" "$err"
err=$("$bin" diagnose ck/telemetry.db --replay --data "csv:$ex/sensors.csv" --val-fraction 0.3 --checkpoint ck 2>&1)
status "replay with another split" 2 $?
check "replay with another split" "--val-fraction 0.3: run 1 of ck/telemetry.db held out 0.2 of its rows" "$err"
err=$("$bin" diagnose ck/telemetry.db --replay --data "csv:$ex/sensors.csv" --header --checkpoint ck 2>&1)
status "replay with another header" 2 $?
check "replay with another header" "--header: run 1 of ck/telemetry.db read its data with header detection" "$err"
err=$("$bin" diagnose ck/telemetry.db --replay --data fashion-mnist --checkpoint ck 2>&1)
status "replay on other data" 2 $?
check "replay on other data" "--data fashion-mnist: run 1 of ck/telemetry.db trained on csv:" "$err"

# ---- a layer norm in fp16 whose eps is 0 there ---------------------------------------
inc="$src/examples/incidents"
"$bin" train "$inc/fp16-norm-eps.model.json" --data "csv:$inc/frames.csv" --label mode --no-standardize \
    --policy "$inc/fp16-norm-eps.policy.json" --checkpoint ne --quiet > /dev/null 2>&1
out=$("$bin" policy check "$inc/fp16-norm-eps.policy.json" --model "$inc/fp16-norm-eps.model.json")
status "eps policy check" 0 $?
check "eps policy check warns" "warning: layers.norm_in: computed in fp16, its eps 1e-08 is 0" "$out"
out=$("$bin" diagnose ne/telemetry.db --json --patch ne.fix.json 2>/dev/null); status "eps exit" 1 $?
check "eps step" '"step":	0' "$out"
check "eps first bad tensor" '"layer":	"fc1",
		"role":	"x"' "$out"
check "eps origin" '"origin":	{
		"layer":	"norm_in",' "$out"
check "eps cause" '"cause":	"vanishing_constant"' "$out"
check "eps why" "its eps 1e-08 is 0 (fp16's smallest value is 5.96e-08)" "$out"
check "eps patch" '"norm_in":	{
			"fwd":	"fp32",' "$(cat ne.fix.json)"
out=$("$bin" diagnose ne/telemetry.db --replay --data "csv:$inc/frames.csv" --label mode --no-standardize \
      --checkpoint ne 2>&1)
check "eps replay reproduces" "the incident comes back: non-finite values from step 0" "$out"
check "eps replay verdict" "the patch fixes it" "$out"
out=$("$bin" train "$inc/fp16-norm-eps.model.json" --data "csv:$inc/frames.csv" --label mode --no-standardize \
      --policy ne.fix.json --no-db --quiet); status "eps patched run" 0 $?
check "eps patched run skips nothing" "(0 skipped" "$out"

# ---- fp8 delayed scaling behind a jump in amax --------------------------------------
f8="$src/examples/fp8-stale-scale"
"$bin" train "$f8/model.json" --data "csv:$f8/machines.csv" --label condition \
    --policy "$src/policies/presets/fp8-hybrid.json" --checkpoint f8 --quiet > /dev/null 2>&1
check "fp8 saturation event" '"fp8_saturation","fp8 values clamped: fc1/x' "$("$bin" report f8/telemetry.db --csv events)"
out=$("$bin" diagnose f8/telemetry.db --json --patch f8.fix.json 2>/dev/null); status "fp8 exit" 1 $?
check "fp8 kind" '"kind":	"fp8 saturation"' "$out"
check "fp8 step" '"step":	4' "$out"
check "fp8 tensor" '"layer":	"fc1",
		"role":	"x",
		"format":	"fp8_e4m3"' "$out"
check "fp8 cause" '"cause":	"fp8_scale_staleness"' "$out"
check "fp8 jump" "its amax 28.88 is 9.34x the 3.093" "$out"
check "fp8 patch: fc1 alone to current scaling" '"fc1":	{
			"fwd":	"fp8_e4m3",
			"dgrad":	"fp8_e5m2",
			"wgrad":	"fp8_e5m2",
			"reason":	"diagnose: amax of fc1/x jumped 9.34x past the delayed-scaling history at step 4",
			"fp8_recipe":	"current"' "$(cat f8.fix.json)"
check "fp8 patch keeps the run's recipe" '"recipe":	"delayed"' "$(cat f8.fix.json)"
out=$("$bin" diagnose f8/telemetry.db --replay --data "csv:$f8/machines.csv" --label condition --checkpoint f8 2>&1)
check "fp8 replay reproduces" "the incident comes back: 3 values of fc1/x clamped from step 4" "$out"
check "fp8 replay patch" "with the patch          no incident: no value of fc1/x clamped" "$out"
check "fp8 replay verdict" "the patch fixes it" "$out"
err=$("$bin" diagnose f8/telemetry.db --replay --data "csv:$f8/machines.csv" --no-standardize --checkpoint f8 2>&1)
status "replay unstandardized of a standardized run" 2 $?
check "replay unstandardized of a standardized run" "--no-standardize: run 1 of f8/telemetry.db standardized its features" "$err"

# ---- telemetry of another framework (CSV) ------------------------------------------
out=$("$bin" diagnose "$src/tests/data/external_telemetry.csv" --json); status "external csv" 1 $?
check "external step" '"step":	200' "$out"
check "external origin" '"layer":	"fc1",' "$out"
check "external cause" '"cause":	"activation_overflow"' "$out"
check "external trend" "x8.37 per 100 steps" "$out"
# NaN in the batch itself: bad input data, which no precision change fixes
printf 'step,layer,role,count,nan,pos_inf,neg_inf,absmax\n0,fc1,x,10,0,0,0,1.5\n0,fc2,x,10,0,0,0,2.0\n1,fc1,x,10,2,0,0,1.5\n1,fc2,x,10,10,0,0,0\n' > badin.csv
out=$("$bin" diagnose badin.csv --json); status "bad input exit" 1 $?
check "bad input step" '"step":	1' "$out"
check "bad input cause" '"cause":	"bad_input_data"' "$out"
check "bad input fix" "clean the data: no precision change helps" "$out"
# steps skipped until the end with the scale at its minimum and no statistics of the cause: a death spiral
{ echo "step,layer,role,count,nan,pos_inf,neg_inf,absmax,loss,loss_scale,skipped"
  for i in $(seq 0 39); do
      if [ "$i" -ge 10 ]; then echo "$i,fc1,x,10,0,0,0,1.5,1.0,1,1"; else echo "$i,fc1,x,10,0,0,0,1.5,1.0,65536,0"; fi
  done; } > spiral.csv
out=$("$bin" diagnose spiral.csv --json); status "spiral exit" 1 $?
check "spiral step" '"step":	10' "$out"
check "spiral cause" '"cause":	"loss_scale_death_spiral"' "$out"
check "spiral says what is missing" "which tensor overflows is not in the telemetry" "$out"
# a loss spike with every tensor in range, from another framework: not precision, and no learning rate to cite
{ echo "step,layer,role,count,nan,pos_inf,neg_inf,absmax,loss"
  for i in $(seq 0 99); do echo "$i,fc1,x,10,0,0,0,1.5,1.0$((i % 10))"; done
  echo "100,fc1,x,10,0,0,0,1.5,9.0"; } > spike.csv
out=$("$bin" diagnose spike.csv --json); status "external spike" 1 $?
check "external spike step" '"step":	100' "$out"
check "external spike cause" '"cause":	"not_precision"' "$out"
check "external spike fix" "lower the learning rate (8x is a start: the telemetry does not record it)" "$out"
printf 'step,layer,role,count,nan,pos_inf,neg_inf,absmax\n0,fc1,x,10,0,0,0,abc\n' > bad.csv
err=$("$bin" diagnose bad.csv 2>&1); status "malformed csv" 2 $?
check "malformed csv position" "bad.csv:2:8: absmax 'abc' is not a number" "$err"
printf 'step,layer,role,count,nan,pos_inf,neg_inf,absmax\n0,fc1,x,10\n' > ragged.csv
err=$("$bin" diagnose ragged.csv 2>&1); status "ragged csv" 2 $?
check "ragged csv" "ragged.csv:2: 4 fields, the header has 8" "$err"
printf 'step,layer\n' > cols.csv
err=$("$bin" diagnose cols.csv 2>&1); status "missing column" 2 $?
check "missing column" "cols.csv:1: no 'role' column" "$err"

# ---- language models (needs Debian's fortunes) ----------------------------------------
if [ -f /usr/share/games/fortunes/fortunes ]; then
    # fp16 attention scores past 65504: q . k / sqrt(64) is 131072 by construction (make_attn_init.py),
    # at the first step, before the softmax
    am="$src/examples/incidents/fp16-attention-logits.model.json"
    python3 "$src/examples/incidents/make_attn_init.py" attn.bin || { echo "FAIL: make_attn_init.py"; fail=1; }
    "$bin" train "$am" --data fortunes --init attn.bin --policy "$src/policies/presets/fp16-amp.json" \
        --checkpoint ak --quiet > /dev/null 2>&1
    out=$("$bin" diagnose ak/telemetry.db --json --patch ak.fix.json 2>/dev/null); status "attn exit" 1 $?
    check "attn step" '"step":	0' "$out"
    check "attn first bad tensor" '"layer":	"h0.attn.softmax",
		"role":	"x",
		"format":	"fp32"' "$out"
    check "attn origin" '"origin":	{
		"layer":	"h0.attn.qk",' "$out"
    check "attn cause" '"cause":	"activation_overflow"' "$out"
    check "attn why" "'h0.attn.qk' runs its forward GEMM in fp16 with finite inputs, and its output overflowed" "$out"
    check "attn patch" '"h0.attn.qk":	{
			"fwd":	"bf16",' "$(cat ak.fix.json)"
    out=$("$bin" diagnose ak/telemetry.db --replay --data fortunes --checkpoint ak 2>&1)
    check "attn replay reproduces" "with the run's policy   the incident comes back: non-finite values from step 0" "$out"
    check "attn replay verdict" "the patch fixes it" "$out"
    out=$("$bin" train "$am" --data fortunes --init attn.bin --policy ak.fix.json --no-db --quiet); status "attn patched run" 0 $?
    check "attn patched run finite" "all finite" "$out"
    # a character model's learning rate of 1: a spike (or the divergence it turns into), not precision
    lm="$src/examples/incidents/lm-lr-too-high.model.json"
    "$bin" train "$lm" --data fortunes --policy "$src/policies/presets/bf16-amp.json" --checkpoint lm --quiet \
        > /dev/null 2>&1
    out=$("$bin" diagnose lm/telemetry.db --json --patch lm.fix.json 2>/dev/null); status "lm lr exit" 1 $?
    mkind=$(printf '%s\n' "$out" | sed -n 's/^	"kind":	"\(loss spike\|divergence\)",$/\1/p' | head -1)
    [ -n "$mkind" ] || { echo "FAIL: lm lr kind: neither a loss spike nor a divergence:"; echo "$out" | head -20; fail=1; }
    mstep=$(printf '%s\n' "$out" | sed -n 's/^	"step":	\([0-9]*\),$/\1/p' | head -1)
    case "$mstep" in ''|*[!0-9]*) echo "FAIL: lm lr step: none in the diagnosis"; mstep=0; fail=1 ;; esac
    check "lm lr cause" '"cause":	"not_precision"' "$out"
    check "lm lr fix quotes the step" "at step $mstep); warm-up or gradient clipping also help" "$out"
    check "lm lr patch" '"lr_scale":	0.0625' "$(cat lm.fix.json)"
    check "lm lr patch keeps bf16" '"fwd":	"bf16"' "$(cat lm.fix.json)"
    out=$("$bin" diagnose lm/telemetry.db --replay --data fortunes --checkpoint lm 2>&1)
    check "lm lr diagnosis in words" "(charlm-lr): $mkind at step $mstep" "$out"
    if [ "$mkind" = "loss spike" ]; then
        check "lm lr replay reproduces at the same step" "the incident comes back: the loss reached" "$out"
        check "lm lr replay at the same step" " at step $mstep (limit " "$out"
    else
        check "lm lr replay reproduces" "the incident comes back: the mean loss of the last steps was" "$out"
    fi
    check "lm lr replay verdict" "the patch fixes it" "$out"
    "$bin" train "$lm" --data fortunes --policy lm.fix.json --db lmf.db --quiet > /dev/null 2>&1
    out=$("$bin" diagnose lmf.db); status "lm lr patched run: no incident" 0 $?
fi

[ $fail = 0 ] && echo "cli_diagnose: all checks passed"
exit $fail
