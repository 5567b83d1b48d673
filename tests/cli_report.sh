#!/bin/sh
# `prectune report` as a user runs it: the run list, CSV export with
# correct quoting, bad input (exit 2), and the HTML report rendered by
# headless Chromium (Debian's chromium), without errors, with its charts.
set -u
bin="$1"
src="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { case "$3" in *"$2"*) ;; *) echo "FAIL: $1: expected '$2' in:"; echo "$3" | head -20; fail=1 ;; esac; }
status() { [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }; }

err=$("$bin" report "$tmp/none.db" 2>&1); rc=$?
status "missing db" 2 $rc
printf 'not a database' > "$tmp/junk.db"
err=$("$bin" report "$tmp/junk.db" 2>&1); rc=$?
status "junk db" 2 $rc

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "SKIP the report checks: Debian's dataset-fashion-mnist is not installed"
    exit 77
fi
db="$tmp/run.db"
"$bin" train "$src/data/small-mlp.json" --data fashion-mnist --steps 300 --db "$db" --quiet \
    --policy "$src/../policies/presets/fp32.json" > /dev/null || fail=1
"$bin" train "$src/data/small-mlp.json" --data fashion-mnist --steps 300 --db "$db" --quiet \
    --policy "$src/../policies/presets/fp16-amp.json" --drift-every 50 > /dev/null || fail=1
out=$("$bin" report "$db"); check "run list" "fp16-amp.json" "$out"
check "run list status" "finished" "$out"
out=$("$bin" report "$db" --csv steps --run 2); check "csv header" '"run_id","step","loss","scale"' "$out"
rows=$(printf '%s\n' "$out" | wc -l); [ "$rows" = 301 ] || { echo "FAIL: csv has $rows lines, expected 301"; fail=1; }
out=$("$bin" report "$db" --csv events); check "csv events" '"id","run_id","step","severity","kind","message"' "$out"
err=$("$bin" report "$db" --csv passwords 2>&1); rc=$?
status "bad table" 2 $rc; check "bad table named" "unknown table" "$err"
"$bin" report "$db" --html "$tmp/r.html" --run 2 2>/dev/null; status "html" 0 $?
html=$(cat "$tmp/r.html")
check "html baseline" "fp32 baseline (run 1)" "$html"
check "html charts" "<svg" "$html"
check "html drift" "output SQNR per layer against fp32" "$html"
case "$html" in *"http://"[!w]*|*"https://"*|*"<script"*) echo "FAIL: the report must be self-contained"; fail=1 ;; esac

chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chrome" ]; then
    dom=$(timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --dump-dom "file://$tmp/r.html" 2>"$tmp/chrome.err")
    check "chromium renders the report" "prectune run report" "$dom"
    n=$(printf '%s' "$dom" | grep -o '<svg' | wc -l)
    [ "$n" -ge 10 ] || { echo "FAIL: chromium's DOM has $n charts"; fail=1; }
    if grep -qi "uncaught\|console.*error" "$tmp/chrome.err"; then echo "FAIL: errors in chromium:"; cat "$tmp/chrome.err"; fail=1; fi
    timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,3000 \
        --screenshot="$tmp/r.png" "file://$tmp/r.html" > /dev/null 2>&1
    [ -s "$tmp/r.png" ] || { echo "FAIL: no screenshot"; fail=1; }
else
    echo "note: chromium not installed, the rendering check was not run"
fi
[ $fail = 0 ] && echo "cli_report: all checks passed"
exit $fail
