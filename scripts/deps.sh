#!/bin/sh
# Installs what prectune needs to build and test, from Debian's packages.
# Run as root (or with sudo) on Debian 12 or later.
set -eu
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    build-essential cmake pkg-config \
    check libsubunit-dev \
    libcjson-dev libcsv-dev libopenblas-dev zlib1g-dev libsqlite3-dev libxxhash-dev \
    python3-jsonschema python3-yaml python3-torch python3-numpy dataset-fashion-mnist fortunes chromium \
    clang libclang-rt-14-dev sqlite3
