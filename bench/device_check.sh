#!/bin/sh
# The GPU check of a change, on a machine with CUDA but no Debian packages
# (the device tool's): unpacks the build dependencies carried as .debs in
# .dev/debs, builds this tree (and, with OLD=tarball, the tree before the
# change), and runs one stage:
#   hashes  GPU weights hashes of the fmnist MLP, CNN and layer-norm model,
#           this tree against the old one, and the quick GPU op tests
#   full    every GPU test (test_backend_ops in full, test_train_agrees,
#           torch_parity, the format, statistics and cast tests)
#   bench   bench_mlp4096_step against PyTorch in the same run
# usage: sh bench/device_check.sh STAGE...   (logs under $OUT)
set -u
R=$(pwd)
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/deps
for f in .dev/debs/*.deb; do dpkg -x "$f" /tmp/deps; done
Z=$(ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)
ln -sf "$Z" /tmp/deps/usr/lib/x86_64-linux-gnu/libz.so
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:/tmp/deps/usr/lib/x86_64-linux-gnu/openblas-pthread:${LD_LIBRARY_PATH:-}
mkdir -p /usr/share/datasets/fashion-mnist && cp .dev/data/*.gz /usr/share/datasets/fashion-mnist/ 2>/dev/null
build() { # src dir
    cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH=/tmp/deps/usr \
        -DCMAKE_LIBRARY_ARCHITECTURE=x86_64-linux-gnu > "$OUT/cmake-$(basename "$2").log" 2>&1 &&
        cmake --build "$2" -j "$(nproc)" > "$OUT/build-$(basename "$2").log" 2>&1 || { tail -30 "$OUT/build-$(basename "$2").log"; return 1; }
}
hashes() { # prectune -> one line a run
    P=$1; T=$(mktemp -d); PR=$R/policies/presets
    run() { n=$1; shift; echo "$n $($P train "$@" --device cuda --json --quiet 2>&1 | grep -o '"weights_hash":[^,]*' | tr -dc '0-9a-f' | tail -c 16)"; }
    for pol in fp32 tf32 bf16-amp fp16-amp fp8-hybrid; do
        run mlp-$pol $R/examples/fmnist-mlp/model.json --data fashion-mnist --steps 200 --policy $PR/$pol.json --no-db
        run mlp-$pol-s1 $R/examples/fmnist-mlp/model.json --data fashion-mnist --steps 200 --policy $PR/$pol.json --db $T/$pol.db --stats-every 1 --drift-every 7
        run mlp-$pol-s7 $R/examples/fmnist-mlp/model.json --data fashion-mnist --steps 200 --policy $PR/$pol.json --db $T/$pol-7.db --stats-every 7
    done
    for pol in bf16-amp fp8-hybrid; do
        run cnn-$pol $R/examples/fmnist-cnn/model.json --data fashion-mnist --steps 100 --policy $PR/$pol.json --db $T/c$pol.db --stats-every 5
    done
    run norm-fp16 $R/examples/incidents/fp16-norm-eps.model.json --data csv:$R/examples/incidents/frames.csv --label mode --no-standardize --policy $R/examples/incidents/fp16-norm-eps.policy.json --db $T/n.db --stats-every 1
    rm -rf "$T"
}
build . build-gpu || exit 1
for stage in "$@"; do
    case $stage in
    hashes)
        if [ -n "${OLD:-}" ]; then
            mkdir -p /tmp/old && tar -xf "$OLD" -C /tmp/old && build /tmp/old /tmp/old/build-gpu &&
                hashes /tmp/old/build-gpu/prectune > "$OUT/hashes-old.txt"
        fi
        hashes "$R/build-gpu/prectune" > "$OUT/hashes-new.txt"
        [ -n "${OLD:-}" ] && { diff "$OUT/hashes-old.txt" "$OUT/hashes-new.txt" && echo "GPU hashes: unchanged"; }
        cat "$OUT/hashes-new.txt"
        ctest --test-dir build-gpu -R 'test_backend_ops_quick|test_cuda_' --output-on-failure 2>&1 | tee "$OUT/quick.log" | tail -15 ;;
    full)
        ctest --test-dir build-gpu -L gpu -E quick --output-on-failure 2>&1 | tee "$OUT/gpu-tests.log" | tail -25 ;;
    bench)
        build-gpu/bench/bench_mlp4096_step 50 2>&1 | tee "$OUT/bench_mlp4096.log" | tail -30 ;;
    esac
done
