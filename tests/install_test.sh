#!/bin/sh
# `cmake --install` and pkg-config as a user of the library uses them:
# install into a temporary prefix, build a program against the installed
# headers and shared library through prectune.pc, run it.
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
