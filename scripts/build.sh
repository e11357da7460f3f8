#!/usr/bin/env bash
# Configures and builds neft into ./build (or $NEFT_BUILD_DIR). Extra arguments go to CMake,
# e.g. scripts/build.sh -DNEFT_CUDA=OFF or -DCMAKE_CUDA_ARCHITECTURES="80;90".
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${NEFT_BUILD_DIR:-build}"
mkdir -p "$build_dir"
log="$build_dir/configure.log"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$log" 2>&1 || { cat "$log"; exit 1; }
grep "neft:" "$log" || true
cmake --build "$build_dir" -j"$(nproc)"
