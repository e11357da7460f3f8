#!/usr/bin/env bash
# A new user's first command: install dependencies, build, then neuron-level fine-tuning end
# to end on the built-in synthetic tasks, for each of three seeds:
#   1. train a base model (examples/base.ini) on copy, reverse, sort and dedup;
#   2. fine-tune it on a task it never saw, shift (examples/finetune-shift.ini), four ways:
#      every weight (full), and 5% of the model's parameters as neurons chosen by NeFT's
#      cosine probe, by gradient attribution, and at random (each layer its share);
#   3. `neft report`: one row per method, its accuracy as mean ± sd over the seeds, and a map
#      of where the chosen neurons sit.
# The seed sets the base model's initial weights, every run's data order and the random
# scorer's draw. One seed's result is one draw, which a change of BLAS kernel alone moves by
# tens of points, so only differences larger than the spread over seeds mean anything.
# Runs go two at a time, one thread each (scripts/lib/run_queue.sh); each writes DIR.log.
# Run it again and finished runs are skipped, an interrupted one resumes.
# NEFT_SEEDS (default "1 2 3") chooses the seeds; NEFT_SKIP_BUILD=1 skips installing and
# building; NEFT_BUILD_DIR (default build) is where scripts/build.sh builds and where neft is
# run from; NEFT_QUICKSTART_OUT (default runs/quickstart) is where the runs go.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${NEFT_SKIP_BUILD:-}" ]; then
  scripts/install-deps.sh
  scripts/build.sh
fi
neft=${NEFT_BUILD_DIR:-build}/launch/neft
out=${NEFT_QUICKSTART_OUT:-runs/quickstart}
seeds=(${NEFT_SEEDS:-1 2 3})
budget=5%params
# Each layer its share: chosen on the validation split (scripts/tune_quickstart.sh), where one
# ranking over all layers (global, the NeFT paper's) crowded a quarter of layer 0 into the set
# and did worse than random.
scope=per-layer
source scripts/lib/run_queue.sh

# The queue: every base first, then each seed's fine-tuning runs. Full fine-tuning takes the
# learning rate chosen for it on the validation split (scripts/tune_quickstart.sh); the neuron
# runs take the config's (0.03, chosen there too).
queue() {
  queue_bases "$out" "${seeds[@]}"
  for seed in "${seeds[@]}"; do
    local base=$out/seed-$seed/base
    local finetune="$(finetune_args "$base" "$seed")"
    echo "$out/seed-$seed/full $base train $finetune --lr 0.002 --min-lr 0.0002"
    for scorer in cosine attribution random; do
      echo "$out/seed-$seed/$scorer $base finetune $finetune --scorer $scorer --budget $budget" \
        "--scope $scope"
    done
  done
}
echo "quickstart: ${#seeds[@]} seeds x (a base model, then full, NeFT, attribution and random" \
  "fine-tuning on shift), two runs at a time; logs in $out/seed-*/*.log"
start=$SECONDS
queue | run_queue
echo "quickstart: all runs done in $((SECONDS - start)) s"

# Runs under one label are one row: the seeds' mean ± sd.
report=()
for seed in "${seeds[@]}"; do
  d=$out/seed-$seed
  report+=(base="$d/base" full="$d/full" NeFT="$d/cosine" attribution="$d/attribution"
           random="$d/random")
done
"$neft" report "${report[@]}" --tasks shift,copy,reverse,sort,dedup \
  --png "$out/neuron-map.png" --markdown "$out/report.md"
