#!/usr/bin/env bash
# Installs what neft builds against, from Debian's packages: compiler and CMake, OpenBLAS,
# OpenMPI, Boost.Program_options, GoogleTest, nlohmann-json, PCRE2 and utf8proc (the
# tokenizer's split regexes and Unicode normalization), gnuplot (which draws `neft
# report --png`; nothing builds against it), and clang with its libFuzzer, sanitizer and
# OpenMP runtimes for scripts/fuzz.sh, and ccache, which CI uses to share objects between its
# builds. The CUDA toolkit (nvcc, cuBLASLt, NCCL) is not a Debian
# package; when it is installed under /usr/local/cuda the build uses it.
set -euo pipefail

packages=(build-essential cmake pkg-config libopenblas-dev libopenmpi-dev openmpi-bin
          libboost-program-options-dev libgtest-dev nlohmann-json3-dev gnuplot-nox
          libpcre2-dev libutf8proc-dev clang libclang-rt-14-dev libomp-14-dev ccache)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
