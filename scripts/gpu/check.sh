#!/usr/bin/env bash
# One command that verifies neft's CUDA paths on a GPU machine from a pack made by
# scripts/gpu/pack.sh (the machine needs the CUDA toolkit and python3 with PyTorch and
# transformers; nothing to build or install). Run at the repository root, with gpu-pack/
# beside it; in under 8 minutes it runs, each part under its own timeout:
#   unit-tests   the CUDA cases of the op harness and runtime, and the golden tests against
#                transformers (bf16 on CUDA); on a GPU a skipped CUDA case fails the part
#   op-bench     neft_op_bench --quick
#   train-bench  neft_train_bench, full fine-tuning of llama-1b: tokens/s and MFU
#   neuron-bench neft_neuron_bench, neuron-level at 5% of the parameters against full
#   pytorch      benchmarks/pytorch_train_step.py, the same model and batch (bf16 autocast)
#   learn-cpu, learn  `neft train` on the synthetic tasks on the CPU and on the device; the
#                device run must cut its loss by at least half as much as the CPU run does
# and writes each part's log, the JSON results, summary.md and summary.json to $OUT (default
# runs/gpu-check), and all of them again in all-logs.tar.gz. It never stops at a failed part;
# it exits 1 when any part failed.
#
#   bash scripts/gpu/check.sh              # on the GPU machine
#   bash scripts/gpu/check.sh --dry-run    # anywhere (also NEFT_GPU_CHECK_DRY=1): the same
#       steps on the CPU with tiny models and few steps, CUDA tests skipped
#
# NEFT_GPU_BATCH and NEFT_GPU_SEQ (default 8 and 1024) set the benchmarks' batch.
set -uo pipefail
cd "$(dirname "$0")/../.."

dry=${NEFT_GPU_CHECK_DRY:-0}
pack=gpu-pack
out=${OUT:-runs/gpu-check}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1; shift ;;
    --pack) pack=${2:?--pack needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -f "$pack/neft-gpu-pack.tar.xz" ] ||
  { echo "check.sh: $pack/neft-gpu-pack.tar.xz not found (make it with scripts/gpu/pack.sh)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$SECONDS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xJf "$pack/neft-gpu-pack.tar.xz" -C "$work"
bin=$work/bin
manifest_value() { sed -n "s/^$1=//p" "$work/manifest"; }
cp "$work/manifest" "$out/pack-manifest.txt"

if [ "$dry" = 1 ]; then
  device=cpu
else
  device=cuda
  if [ "$(manifest_value cuda)" != true ]; then
    echo "check.sh: the pack is a CPU-only build; pack a CUDA one (scripts/gpu/pack.sh)" >&2
    exit 2
  fi
fi

# The pack's libraries first, for the pack's programs alone (python3 and PyTorch keep the
# machine's own libstdc++, which may be newer); Open MPI from the pack (a lone process
# initialises MPI; no supporting daemon, which the machine lacks); fixtures from this checkout.
pack_library_path="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPAL_PREFIX="$work/openmpi"
if [ -f "$work/openmpi/plugin-dir" ]; then
  export OMPI_MCA_mca_base_component_path="$work/openmpi$(cat "$work/openmpi/plugin-dir")"
fi
export OMPI_MCA_ess_singleton_isolated=1
# hwloc (under Open MPI) with none of its optional plugins, here as on a machine without them.
mkdir -p "$work/no-hwloc-plugins"
export HWLOC_PLUGINS_PATH="$work/no-hwloc-plugins"
export NEFT_SOURCE_DIR=$PWD
export OMP_WAIT_POLICY=passive

# Libraries the pack leaves to the machine (NCCL, the toolkit's): where the loader does not
# find one, look in the toolkit and in PyTorch's CUDA libraries.
search_dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib)
if py_nvidia=$(python3 -c 'import nvidia, sys; print("\n".join(nvidia.__path__))' 2>/dev/null); then
  while read -r d; do [ -n "$d" ] && search_dirs+=("$d"); done <<<"$py_nvidia"
fi
: >"$out/libraries.txt"
for f in "$bin"/*; do
  for name in $(LD_LIBRARY_PATH=$pack_library_path ldd "$f" 2>/dev/null |
                awk '/not found/ {print $1}' | sort -u); do
    found=$(find "${search_dirs[@]}" -name "$name" 2>/dev/null | head -1)
    if [ -n "$found" ]; then
      pack_library_path="$pack_library_path:$(dirname "$found")"
      echo "$name: $found" >>"$out/libraries.txt"
    fi
  done
done
for f in "$bin"/*; do
  echo "== $(basename "$f")"
  LD_LIBRARY_PATH=$pack_library_path ldd "$f"
done >>"$out/libraries.txt" 2>&1
for v in pack_library_path OPAL_PREFIX OMPI_MCA_mca_base_component_path OMPI_MCA_ess_singleton_isolated \
  HWLOC_PLUGINS_PATH NEFT_SOURCE_DIR OMP_WAIT_POLICY; do
  value=${!v:-}
  value=${value//$work/pack}
  echo "$v=${value//$PWD/.}"
done >"$out/environment.txt"

batch=${NEFT_GPU_BATCH:-8}
seq=${NEFT_GPU_SEQ:-1024}
if [ "$dry" = 1 ]; then
  preset=tiny batch=2 seq=32 steps=2 warmup=1 op_device=cpu learn_steps=60
else
  preset=llama-1b steps=5 warmup=2 op_device=cuda learn_steps=200
fi

# part NAME TIMEOUT_S COMMAND...: runs the command under its timeout, its output in
# NAME.log; records the command, exit status and seconds for the summary.
: >"$out/parts.tsv"
: >"$out/commands.txt"
failed=0
part() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS rc
  # A shell around the command, so that a part can be one of the functions below; timeout
  # ends the part's whole process group.
  timeout --kill-after=10 "$limit" bash -c '"$@"' "$name" "$@" >"$out/$name.log" 2>&1
  rc=$?
  local cmd="$*"
  cmd=${cmd//$work\//pack\/}
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" "$cmd" >>"$out/parts.tsv"
  printf 'check: %-13s exit %3d in %4d s\n' "$name" "$rc" "$((SECONDS - t0))"
  [ "$rc" = 0 ] || failed=1
}

# Runs a command, writing it to commands.txt first (the pack's temporary folder as pack/).
# The pack's programs run with its libraries (pack_library_path in environment.txt).
cmd() {
  local line="$*"
  echo "${line//$work\//pack/}" >>"$out/commands.txt"
  if [[ $1 == "$bin"/* ]]; then LD_LIBRARY_PATH=$pack_library_path "$@"; else "$@"; fi
}

# The last line of a log that parses as JSON, into FILE.
last_json() { grep '^{' "$1" | tail -1 >"$2"; [ -s "$2" ]; }

# The CUDA cases (each test suite or parameter with CUDA in its name, and those that check the
# CPU and CUDA side by side) and the golden tests; on a GPU no CUDA case may skip.
unit_filter='*Cuda*:*cuda*:*CUDA*:*Gpu*:*Golden*:AdamWRows.*:CastSpecialValues.*:CrossEntropyShards.*'
unit_tests() {
  cmd "$bin/neft_unit_tests" --gtest_filter="$unit_filter" --gtest_output="json:$out/unit-tests.json" ||
    return 1
  cmd python3 scripts/gpu/check_results.py skips "$out/unit-tests.json" "$out/unit-tests.log" \
    --allow-cuda-skips "$dry"
}

op_bench() { cmd "$bin/neft_op_bench" --device "$op_device" --quick; }

train_bench() {
  cmd "$bin/neft_train_bench" --preset "$preset" --device "$device" --batch "$batch" --seq "$seq" \
    --steps "$steps" --warmup "$warmup" --json && last_json "$out/train-bench.log" "$out/train-bench.json"
}

neuron_bench() {
  cmd "$bin/neft_neuron_bench" --preset "$preset" --device "$device" --batch "$batch" --seq "$seq" \
    --fractions 0.05 --rounds 2 --steps 2 --warmup 1 --json &&
    grep '^{' "$out/neuron-bench.log" >"$out/neuron-bench.jsonl"
}

# The same model and batch in PyTorch eager: bf16 autocast over f32 weights on CUDA, f32 on the
# CPU (neft: bf16 weights and activations, f32 master weights and moments in AdamW).
pytorch() {
  if ! python3 -c 'import torch, transformers' 2>/dev/null; then
    echo "python3 cannot import torch and transformers"
    [ "$dry" = 1 ] && return 0 || return 1
  fi
  local peak=()
  [ -s "$out/train-bench.json" ] &&
    peak=(--peak-gflops "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_gflops"])' "$out/train-bench.json")")
  local threads=()
  [ "$dry" = 1 ] && threads=(--threads 2)
  cmd python3 benchmarks/pytorch_train_step.py --preset "$preset" --device "$device" --batch "$batch" \
    --seq "$seq" --steps "$steps" --warmup "$warmup" "${threads[@]}" "${peak[@]}" --json &&
    last_json "$out/pytorch.log" "$out/pytorch.json"
}

# The synthetic recipe of the quick start, shortened; the CPU run of the same recipe is the
# yardstick for the device run.
learn() {
  local name=$1 dev=$2
  cmd "$bin/neft" train --config examples/train-synthetic.ini --device "$dev" --steps "$learn_steps" \
    --warmup $((learn_steps / 10)) --eval-every "$learn_steps" --save-every 0 \
    --log-every $((learn_steps / 5)) --out "$work/$name" &&
    cp "$work/$name/metrics.jsonl" "$out/$name.metrics.jsonl"
}
learn_device() {
  learn learn-device "$device" &&
    cmd python3 scripts/gpu/check_results.py learned "$out/learn-cpu.metrics.jsonl" \
      "$out/learn-device.metrics.jsonl" --json "$out/learn.json"
}

# The parts run in shells of their own (under timeout), which need the functions and settings.
export -f cmd last_json unit_tests op_bench train_bench neuron_bench pytorch learn learn_device
export pack_library_path bin out work dry device op_device preset batch seq steps warmup learn_steps unit_filter
part unit-tests 100 unit_tests
part op-bench 40 op_bench
part train-bench 65 train_bench
part neuron-bench 70 neuron_bench
part pytorch 70 pytorch
part learn-cpu 75 learn learn-cpu cpu
part learn 55 learn_device

python3 scripts/gpu/check_results.py summary --out "$out" --dry "$dry" --pack "$pack" \
  --seconds $((SECONDS - start)) || failed=1
# Everything in one file too, for a caller that takes back only a few files.
tar -C "$out" --exclude=all-logs.tar.gz -czf "$work/all-logs.tar.gz" . && mv "$work/all-logs.tar.gz" "$out/"
echo "check: $(grep -c . "$out/parts.tsv") parts in $((SECONDS - start)) s; $out/summary.md"
exit "$failed"
