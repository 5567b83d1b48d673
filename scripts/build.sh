#!/bin/sh
# Configures and builds prectune in ./build (CUDA backend too when nvcc is
# on PATH; pass -DPT_CUDA=OFF in CMAKE_ARGS to leave it out).
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
