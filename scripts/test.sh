#!/bin/sh
# Installs the dependencies, builds, and runs the whole test suite.
# Tests labelled gpu skip (and say so) where no CUDA device is present.
set -eu
cd "$(dirname "$0")/.."
sh ./scripts/deps.sh
sh ./scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
