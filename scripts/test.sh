#!/bin/sh
# Installs the dependencies, builds, and runs the whole test suite; then
# the command-line tests a second time under other OpenBLAS kernels than
# this CPU's (OPENBLAS_CORETYPE, default Sandybridge; any x86-64 runs
# them: trained digits move from one CPU to another, and a test that holds
# on one machine only fails here, not on a user's). Tests labelled gpu
# skip (and say so) where no CUDA device is present. Then
# scripts/robustness.sh: the CPU tests again under ASan and UBSan, the
# fuzz harnesses (their corpora and past crashes, then 60 s each) and a
# quick crash campaign.
set -eu
cd "$(dirname "$0")/.."
sh ./scripts/deps.sh
sh ./scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "$(uname -m)" = x86_64 ]; then
    core=${PT_TEST_OTHER_CORETYPE:-Sandybridge}
    echo "the command-line tests again, under OpenBLAS's $core kernels (OPENBLAS_CORETYPE=$core)"
    OPENBLAS_CORETYPE=$core ctest --test-dir build --output-on-failure -j "$(nproc)" -L cpu -R '^cli_'
fi
sh ./scripts/robustness.sh
