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

# ---- names made to break out of the report: inert text in Chromium's DOM ------------
# (layer names reach the heat maps' <title>s, the histograms' and the drift
# legend's <text>s; the model's name the page's <title> and heading)
chrome=$(command -v chromium || command -v chromium-browser || true)
awk 'BEGIN { print "a,b,y"; for (i = 0; i < 400; i++) printf "%d,%d,%d\n", i % 7, i % 5, i % 3 }' > "$tmp/h.csv"
cat > "$tmp/hostile.json" <<'EOF2'
{"name": "</title><script>document.title='pwned-model'</script>", "input": [2],
 "layers": [{"name": "</title><script>document.title='pwned'</script>", "type": "linear", "out": 8},
            {"name": "act", "type": "gelu"},
            {"name": "\"><img src=x onerror=\"document.title='pwned-img'\">", "type": "linear", "out": 8},
            {"name": "]]><svg onload=\"document.title='pwned-svg'\"></svg>", "type": "linear", "out": 8},
            {"name": "=HYPERLINK(\"http://x\",\"y\")", "type": "linear", "out": 8},
            {"name": "q'uo\"te&amp;<b>bold</b>", "type": "linear", "out": 3}],
 "loss": "softmax_cross_entropy", "train": {"batch": 16, "steps": 20}}
EOF2
"$bin" train "$tmp/hostile.json" --data "csv:$tmp/h.csv" --stats-every 1 --drift-every 1 --db "$tmp/h.db" \
    --policy "$src/../policies/presets/bf16-amp.json" --quiet > /dev/null 2>&1; status "train the hostile names" 0 $?
"$bin" report "$tmp/h.db" --html "$tmp/h.html" 2>/dev/null; status "html of the hostile names" 0 $?
# a name that a spreadsheet would run as a formula is exported as text (a leading ')
out=$("$bin" report "$tmp/h.db" --csv layer_stats 2>&1); status "csv of the hostile names" 0 $?
check "csv: a formula-like name as text" "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" "$out"
case "$out" in *'"=HYPERLINK'*) echo "FAIL: csv: a name written as a formula"; fail=1 ;; esac
html=$(cat "$tmp/h.html")
case "$html" in *"<script"*|*"<img"*|*"<svg onload"*|*"<b>"*) echo "FAIL: a name was written into the report as markup:";
    grep -o '.\{40\}\(<script\|<img\|<svg onload\|<b>\).\{40\}' "$tmp/h.html" | head; fail=1 ;; esac
if [ -n "$chrome" ]; then
    dom=$(timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --dump-dom "file://$tmp/h.html" 2>/dev/null)
    check "chromium renders the hostile report" "prectune run report" "$dom"
    for tag in "<script" "<img" "<b>"; do
        case "$dom" in *"$tag"*) echo "FAIL: chromium's DOM has an injected '$tag'"; fail=1 ;; esac
    done
    # an event handler as an attribute of an element (as text it is "&lt;svg onload=")
    printf '%s' "$dom" | grep -Eq '<[^>]* on(load|error)=' &&
        { echo "FAIL: chromium's DOM has an injected event handler"; fail=1; }
    case "$dom" in *"<title>pwned"*) echo "FAIL: an injected script ran (the page's title changed)"; fail=1 ;; esac
    check "a name in the heat maps' titles, as text" "&lt;/title&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;, step" "$dom"
    check "a name breaking out of an attribute, as text" "\"&gt;&lt;img src=x onerror=\"document.title='pwned-img'\"&gt;" "$dom"
    check "a name closing CDATA, as text" "]]&gt;&lt;svg onload=" "$dom"
    check "quotes and an entity, as text" "q'uo\"te&amp;amp;&lt;b&gt;bold&lt;/b&gt;" "$dom"
    check "the model's name in the heading, as text" "prectune run report: &lt;/title&gt;&lt;script&gt;" "$dom"
else
    echo "note: chromium not installed, the hostile names were checked in the HTML only"
fi

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
