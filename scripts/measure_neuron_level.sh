#!/bin/bash
# Neuron-level training measured, everything a results file needs in one run: small-20m
# (20M parameters, f32 on the CPU), batch 8 x seq 128.
#
# 1. NeFT's own selection for this model: `neft score --scorer cosine` (a 20-step full
#    fine-tuning probe from the random init on the synthetic suite, then 1 - cos of each FFN
#    neuron's vectors before and after) and `neft select` of 5% of the parameters in one
#    ranking over all layers, as the NeFT paper selects.
# 2. neft_neuron_bench: full fine-tuning, random FFN neurons at 1, 5 and 10% of the
#    parameters and the NeFT selection (--selection), interleaved over the rounds: step time,
#    training state, neurons per layer.
# 3. compare_neft_reference.py: neft's random 5% step against the NeFT paper's code's way in
#    PyTorch (dense up_proj/down_proj, gradients masked after clipping, dense AdamW),
#    interleaved over the rounds (needs torch and transformers in $PYTHON); then again with
#    the whole model dense (--dense model), the other reading of that code.
#
#   scripts/measure_neuron_level.sh [OUT]            (default runs/neuron-level)
#   BUILD=build ROUNDS=6 PYTHON=python3 scripts/measure_neuron_level.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NEFT=${NEFT:-$BUILD/launch/neft}
BENCH=${NEFT_NEURON_BENCH:-$BUILD/benchmarks/neft_neuron_bench}
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-6}
OUT=${1:-runs/neuron-level}
mkdir -p "$OUT"

exec 3>&1
run() {  # prints the command (to the script's stdout, whatever the command's goes to), runs it
  echo "\$ $*" >&3
  "$@"
}

echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with local changes)')"
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} (neft waits passively unless told; PyTorch spins by default)"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

run "$NEFT" score --model small-20m --scorer cosine --probe-steps 20 --seq-len 128 \
  --out "$OUT/scores-cosine.safetensors" > "$OUT/score.log" 2>&1
run "$NEFT" select --scores "$OUT/scores-cosine.safetensors" --model small-20m \
  --budget 5%params --scope global --out "$OUT/neurons-cosine-5pct.safetensors" 2>&1 |
  tee "$OUT/select.log"
echo

# The table goes to stderr (and the log), one JSON line per configuration to the .jsonl.
run "$BENCH" --preset small-20m --batch 8 --seq 128 --fractions 0.01,0.05,0.1 \
  --selection "$OUT/neurons-cosine-5pct.safetensors" --rounds "$ROUNDS" --steps 3 --json \
  2> >(tee "$OUT/neuron_bench.log" >&2) > "$OUT/neuron_bench.jsonl"
echo

for dense in matrices model; do
  run "$PYTHON" benchmarks/compare_neft_reference.py --preset small-20m --batch 8 --seq 128 \
    --fraction 0.05 --dense "$dense" --rounds "$ROUNDS" --steps 3 --warmup 1 --bench "$BENCH" \
    --python "$PYTHON" | tee "$OUT/compare_neft_reference-$dense.log"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
