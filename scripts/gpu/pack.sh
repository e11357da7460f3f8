#!/usr/bin/env bash
# Packs what scripts/gpu/check.sh runs on a GPU machine that has the CUDA toolkit (and
# PyTorch) but none of neft's other dependencies: the CUDA build's test and benchmark
# programs and the neft CLI, the shared libraries they load that such a machine lacks
# (OpenBLAS, Open MPI with its plugins, Boost, the GCC runtime, ...), into one folder,
# gpu-pack/, of one compressed tar (stock tar and xz unpack it) and a manifest.
#
#   scripts/gpu/pack.sh                      # configure and build build-gpu (CUDA, sm_90), pack it
#   scripts/gpu/pack.sh --no-build --build-dir build   # pack an existing build as it is
#
# Left out on purpose, since the GPU machine's toolkit has them and they are hundreds of MiB:
# the CUDA driver and runtime, cuBLAS/cuBLASLt, NCCL and cuDNN (check.sh finds NCCL where
# the toolkit lacks it, e.g. in PyTorch's own CUDA libraries), and glibc (the programs are
# built on an older one than the GPU machine's). The test fixtures and example configs
# travel with the repository, not in the pack.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The build targets, and their programs relative to the build folder.
pack_targets=(neft_unit_tests neft_op_bench neft_train_bench neft_neuron_bench neft)
pack_binaries=(tests/neft_unit_tests benchmarks/neft_op_bench benchmarks/neft_train_bench
               benchmarks/neft_neuron_bench launch/neft)

# True for a library (by soname) that a GPU machine with the CUDA toolkit has itself: glibc's,
# the driver's, the toolkit's, and NCCL and cuDNN (with the toolkit or with PyTorch). Every
# other one travels in the pack.
provided_by_gpu_machine() {
  case "$1" in
    linux-vdso.so* | ld-linux-x86-64.so* | libc.so* | libm.so* | libpthread.so* | libdl.so* | \
      librt.so* | libutil.so* | libresolv.so* | libanl.so*) return 0 ;;
    libcuda.so* | libnvidia-*.so* | libcudart.so* | libcublas.so* | libcublasLt.so* | \
      libnvrtc*.so* | libnvJitLink.so* | libcurand.so* | libcufft.so* | libcusparse.so* | \
      libcusolver.so* | libnccl.so* | libcudnn*.so*) return 0 ;;
  esac
  return 1
}

build_dir=build-gpu
out=gpu-pack
build=1
limit_mib=40
usage="usage: scripts/gpu/pack.sh [--build-dir DIR] [--no-build] [--out DIR]
  --build-dir  the build to pack (default build-gpu)
  --no-build   pack the build as it is (a CPU-only one too, for check.sh --dry-run)
  --out        the pack's folder (default gpu-pack; git-ignored)"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "pack.sh: unknown argument '$1'" >&2; echo "$usage" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache
              -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  mkdir -p "$build_dir"
  cmake -S . -B "$build_dir" -DNEFT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >"$build_dir/configure.log" 2>&1 ||
    { cat "$build_dir/configure.log"; exit 1; }
  cmake --build "$build_dir" -j"$(nproc)" --target "${pack_targets[@]}"
fi

cache="$build_dir/CMakeCache.txt"
[ -f "$cache" ] || { echo "pack.sh: $build_dir is not a build (no CMakeCache.txt)" >&2; exit 1; }
# A CUDA build's programs carry its kernels (the .nv_fatbin section), compiled for the
# architectures its nvcc flags name. Hopper runs sm_90 machine code only: PTX of an older
# target would be compiled at start and use none of its own instructions.
cuda=false
arch=""
probe="$build_dir/${pack_binaries[0]}"
if [ -f "$probe" ] && [[ $(readelf -S "$probe" 2>/dev/null) == *.nv_fatbin* ]]; then
  cuda=true
  arch=$(find "$build_dir" -name flags.make -exec grep -ho 'sm_[0-9]*a\?' {} + | sort -u | tr '\n' ' ')
  arch=${arch% }
  case " $arch " in
    *" sm_90 "*|*" sm_90a "*) ;;
    *) echo "pack.sh: $build_dir compiles CUDA for '${arch:-unknown}', not sm_90 (Hopper)" >&2; exit 1 ;;
  esac
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for rel in "${pack_binaries[@]}"; do
  [ -x "$build_dir/$rel" ] || { echo "pack.sh: $build_dir/$rel is missing (build it first)" >&2; exit 1; }
  cp "$build_dir/$rel" "$stage/bin/"
done
strip --strip-unneeded "$stage"/bin/* 2>/dev/null || true

# Open MPI's plugins and help texts, laid out under openmpi/ as under its install prefix, so
# that OPAL_PREFIX relocates them (a lone process initialises MPI too).
ompi_libdir=$(ompi_info --path libdir --parsable 2>/dev/null | sed -n 's/^path:libdir://p')
ompi_pkglibdir=$(ompi_info --path pkglibdir --parsable 2>/dev/null | sed -n 's/^path:pkglibdir://p')
ompi_pkgdatadir=$(ompi_info --path pkgdatadir --parsable 2>/dev/null | sed -n 's/^path:pkgdatadir://p')
ompi_prefix=$(ompi_info --path prefix --parsable 2>/dev/null | sed -n 's/^path:prefix://p')
plugins=()
if [ -n "$ompi_pkglibdir" ] && [ -d "$ompi_pkglibdir" ]; then
  dest="$stage/openmpi${ompi_pkglibdir#"$ompi_prefix"}"
  mkdir -p "$dest"
  cp -L "$ompi_pkglibdir"/*.so "$dest/"
  for f in "$dest"/*.so; do plugins+=("$f"); done
  data="$stage/openmpi${ompi_pkgdatadir#"$ompi_prefix"}"
  mkdir -p "$data"
  cp -L "$ompi_pkgdatadir"/*.txt "$data/" 2>/dev/null || true
  echo "${ompi_pkglibdir#"$ompi_prefix"}" >"$stage/openmpi/plugin-dir"
fi

# Every library the programs and plugins load (ldd lists them transitively), but what the
# GPU machine has itself.
declare -A packed=()
for f in "$stage"/bin/* "${plugins[@]}"; do
  while read -r name path; do
    [ -n "${packed[$name]:-}" ] && continue
    if provided_by_gpu_machine "$name"; then continue; fi
    cp -L "$path" "$stage/lib/$name"
    packed[$name]=$path
  done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
done
strip --strip-unneeded "$stage"/lib/* 2>/dev/null || true

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=false
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=true
{
  echo "commit=$commit"
  echo "dirty=$dirty"
  echo "cuda=$cuda"
  echo "cuda_architectures=$arch"
  echo "build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")"
  echo "source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:[A-Z]*=//p' "$cache")"
  echo "glibc=$(ldd --version | head -1 | awk '{print $NF}')"
  echo "packed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "libraries=${!packed[*]}"
} >"$stage/manifest"

rm -rf "$out"
mkdir -p "$out"
tar -C "$stage" -cf - . | xz -T0 -3 >"$out/neft-gpu-pack.tar.xz"
cp "$stage/manifest" "$out/manifest"
size=$(du -k "$out" | tail -1 | awk '{print $1}')
size_mib=$(awk -v k="$size" 'BEGIN {printf "%.1f", k / 1024}')
echo "pack.sh: $out/ is $size_mib MiB ($(ls "$stage/bin" | wc -l) programs, ${#packed[@]} libraries," \
  "cuda=$cuda${arch:+ ($arch)}, commit ${commit:0:12}$([ "$dirty" = true ] && echo ' +changes'))"
if awk -v s="$size_mib" -v l="$limit_mib" 'BEGIN {exit !(s > l)}'; then
  echo "pack.sh: the pack exceeds $limit_mib MiB" >&2
  exit 1
fi
