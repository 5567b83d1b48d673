#!/bin/sh
# Runs a fuzz harness once over every file of the given directories (the
# seed corpus, the inputs that once crashed it): no fuzzing, so it fails
# only if one of those inputs crashes or hangs the reader again.
set -eu
bin=$1; shift
files=""
for d in "$@"; do
    [ -d "$d" ] || continue
    for f in "$d"/*; do [ -f "$f" ] && files="$files $f"; done
done
[ -n "$files" ] || { echo "no inputs in $*"; exit 0; }
# shellcheck disable=SC2086
exec "$bin" -timeout=30 -rss_limit_mb=4096 $files
