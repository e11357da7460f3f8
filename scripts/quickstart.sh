#!/usr/bin/env bash
# A new user's first command: install dependencies, build, then neuron-level fine-tuning end
# to end on the built-in synthetic tasks, as two CPU ranks splitting the model (--tp 2):
#   1. train a base model (examples/base.ini) on copy, reverse, sort and dedup;
#   2. fine-tune it on a task it never saw, shift (examples/finetune-shift.ini), four ways:
#      every weight (full), and 5% of the model's parameters as neurons chosen by NeFT's
#      cosine probe, by gradient attribution, and at random (one ranking over all layers);
#   3. `neft report`: one table row per run, and a map of where the chosen neurons sit.
# Run it again and finished runs are skipped, an interrupted one resumes.
# NEFT_SKIP_BUILD=1 skips installing and building; NEFT_BUILD_DIR (default build) is where
# scripts/build.sh builds and where neft is run from.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${NEFT_SKIP_BUILD:-}" ]; then
  scripts/install-deps.sh
  scripts/build.sh
fi
neft=${NEFT_BUILD_DIR:-build}/launch/neft
out=runs/quickstart
budget=5%params
scope=global  # one ranking over all layers, as in the NeFT paper; per-layer: each layer its share

mpi=(mpirun -np 2)
# Open MPI refuses root without this, and counts hardware threads, not ranks, as slots.
if [ "$(id -u)" -eq 0 ]; then mpi+=(--allow-run-as-root --oversubscribe); fi
# One thread per rank: two ranks on two cores.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

# A run is finished when its final model is there; otherwise start or resume it.
run() {
  local dir=$1
  shift
  if [ -e "$dir/model/config.json" ]; then
    echo "quickstart: $dir is done"
  else
    echo "quickstart: neft $* --out $dir"
    "${mpi[@]}" "$neft" "$@" --tp 2 --out "$dir" --resume
  fi
}

run "$out/base" train --config examples/base.ini
echo "quickstart: the base model on the new task, before fine-tuning:"
"${mpi[@]}" "$neft" eval --model "$out/base/model" --tasks shift --examples 128 --tp 2

finetune=(--config examples/finetune-shift.ini --init "$out/base/model")
run "$out/full" train "${finetune[@]}" --lr 0.002 --min-lr 0.0002
for scorer in cosine attribution random; do
  run "$out/$scorer" finetune "${finetune[@]}" --scorer "$scorer" --budget "$budget" --scope "$scope"
done

"$neft" report full="$out/full" NeFT="$out/cosine" attribution="$out/attribution" \
  random="$out/random" --png "$out/neuron-map.png" --markdown "$out/report.md"
