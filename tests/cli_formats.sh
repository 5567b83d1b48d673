#!/bin/sh
# The `prectune formats` command as a user runs it: the issue's examples,
# the table, JSON output, and the errors (message names the line; exit 2).
set -u
bin="$1"
fail=0
check() { # description, expected substring, command output
    case "$3" in
        *"$2"*) ;;
        *) echo "FAIL: $1: expected '$2' in:"; echo "$3"; fail=1 ;;
    esac
}
status() { # description, expected exit code, actual
    [ "$2" = "$3" ] || { echo "FAIL: $1: exit $3, expected $2"; fail=1; }
}

out=$(echo 500 | "$bin" formats --cast fp8_e4m3); check "e4m3 saturates" "0x7e       448" "$out"
check "e4m3 note" "saturated" "$out"
out=$(echo 70000 | "$bin" formats --cast fp16); check "fp16 overflow" "0x7c00     inf" "$out"
out=$(echo 1.00390625 | "$bin" formats --cast bf16); check "bf16 tie to even" "0x3f80     1" "$out"
out=$(printf '0x1.8p+0\n\n-inf\nnan\n' | "$bin" formats --cast fp8_e5m2 --saturate)
check "hex-float" "0x3e       1.5" "$out"
check "saturating e5m2" "0xfb       -57344" "$out"
out=$(echo 1000 | "$bin" formats --cast fp8_e4m3 --scale 0.25); check "scale" "250" "$out"
check "scale column" "value/scale" "$out"
out=$("$bin" formats); check "table" "fp8_e4m3" "$out"; check "table max" "65504" "$out"
out=$("$bin" formats --json); check "json table" '"max_finite":	448' "$out"
out=$(echo 3 | "$bin" formats --cast fp16 --json); check "json cast" '"code":	"0x4200"' "$out"

err=$(printf '1\n2\nabc\n' | "$bin" formats --cast fp16 2>&1 >/dev/null); rc=$?
status "bad line" 2 $rc; check "bad line names the line" "stdin:3" "$err"
err=$(echo 1 | "$bin" formats --cast fp64 2>&1); rc=$?
status "bad format" 2 $rc; check "bad format lists formats" "fp8_e4m3" "$err"
err=$(echo 1 | "$bin" formats --cast fp16 --scale -1 2>&1); rc=$?
status "bad scale" 2 $rc; check "bad scale" "--scale" "$err"
"$bin" formats --bogus >/dev/null 2>&1; status "bad option" 2 $?
"$bin" nosuchcommand >/dev/null 2>&1; status "unknown command" 2 $?
out=$("$bin" --version); check "version" "prectune 0." "$out"
out=$("$bin" --help); check "help" "formats" "$out"
out=$("$bin" formats --help); check "formats help" "--cast FORMAT" "$out"

[ $fail = 0 ] && echo "cli_formats: all checks passed"
exit $fail
