#!/bin/sh
# `cmake --install` and pkg-config as a user of the library uses them:
# install into a temporary prefix, build a program against the installed
# headers and shared library through prectune.pc, run it; then the
# README's own library example, built the same way and run from the
# repository's root as the README says (where the data set is installed).
set -eu
build="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/app.c" <<'C'
#include <prectune/prectune.h>
#include <stdio.h>
int main(void)
{
    const pt_format_traits *t = pt_format_info(PT_FMT_FP16);
    printf("%s %s %.0f 0x%x\n", pt_version(), t->name, t->max_finite,
           pt_encode(PT_FMT_E4M3, 500.0f, 0));
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc "$tmp/app.c" $(pkg-config --cflags --libs prectune) -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/app"
out=$("$tmp/app")
expected="$(pkg-config --modversion prectune) fp16 65504 0x7e"
[ "$out" = "$expected" ] || { echo "FAIL: got '$out', expected '$expected'"; exit 1; }
echo "install_test: installed library and prectune.pc work ($out)"
src=$(cd "$(dirname "$0")/.." && pwd)
sed -n '/^```c$/,/^```$/p' "$src/README.md" | sed '1d;$d' > "$tmp/readme.c"
[ -s "$tmp/readme.c" ] || { echo "FAIL: no C example in README.md"; exit 1; }
# shellcheck disable=SC2046
cc -Wall -Werror "$tmp/readme.c" $(pkg-config --cflags --libs prectune) -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/readme"
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    out=$(cd "$src" && "$tmp/readme") || { echo "FAIL: the README's example exited $?: $out"; exit 1; }
    case "$out" in "loss "*", held-out accuracy "*%) ;; *) echo "FAIL: the README's example printed '$out'"; exit 1 ;; esac
    echo "install_test: the README's library example builds and runs ($out)"
else
    echo "install_test: the README's library example builds (not run: Debian's dataset-fashion-mnist is not installed)"
fi
