#!/usr/bin/env bash
# How the quick start's learning rates were chosen: on the synthetic suite's validation split
# (disjoint from the training inputs and from the eval split that the quick start reports),
# never on eval. For each seed it trains the quick start's base model (the same command, so
# the same weights), then fine-tunes it on shift at each learning rate of a small grid, full
# fine-tuning and the three neuron-level methods alike (the neuron runs also at both scopes:
# one ranking over all layers, or each layer its share), and prints the validation accuracy as
# mean ± sd over the seeds per setting.
# Runs go two at a time, one thread each (scripts/lib/run_queue.sh), to NEFT_TUNE_OUT
# (default runs/tune); finished runs are skipped. NEFT_SEEDS (default "1 2 3") chooses the
# seeds. About 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
neft=${NEFT_BUILD_DIR:-build}/launch/neft
out=${NEFT_TUNE_OUT:-runs/tune}
seeds=(${NEFT_SEEDS:-1 2 3})
full_lrs=(0.001 0.002 0.005)
neuron_lrs=(0.01 0.03 0.1)
scorers=(cosine attribution random)
scopes=(global per-layer)
source scripts/lib/run_queue.sh
tenth() { awk "BEGIN { print $1 / 10 }"; }

queue() {
  queue_bases "$out" "${seeds[@]}"
  for seed in "${seeds[@]}"; do
    local base=$out/seed-$seed/base
    local common="$(finetune_args "$base" "$seed")"
    common+=" --eval-split validation"
    for lr in "${full_lrs[@]}"; do
      echo "$out/seed-$seed/full-lr$lr $base train $common --lr $lr --min-lr $(tenth "$lr")"
    done
    for scope in "${scopes[@]}"; do
      for scorer in "${scorers[@]}"; do
        for lr in "${neuron_lrs[@]}"; do
          echo "$out/seed-$seed/$scorer-$scope-lr$lr $base finetune $common --scorer $scorer" \
            "--budget 5%params --scope $scope --lr $lr --min-lr $(tenth "$lr")"
        done
      done
    done
  done
}
queue | run_queue

report=()
for lr in "${full_lrs[@]}"; do
  for seed in "${seeds[@]}"; do report+=("full lr $lr=$out/seed-$seed/full-lr$lr"); done
done
for scope in "${scopes[@]}"; do
  for scorer in "${scorers[@]}"; do
    for lr in "${neuron_lrs[@]}"; do
      for seed in "${seeds[@]}"; do
        report+=("$scorer $scope lr $lr=$out/seed-$seed/$scorer-$scope-lr$lr")
      done
    done
  done
done
"$neft" report "${report[@]}" --tasks shift --markdown "$out/validation.md"
