#!/usr/bin/env bash
# The seeds' experiments of the NeFT and task-specific-neurons papers on a real model:
# SmolLM2-135M-Instruct (scripts/fetch_smollm2.sh) and three text tasks
# (examples/make_text_tasks.py --tasks sums,dates,times: two-digit sums, ISO dates in words,
# 24-hour times on a 12-hour clock), each over NEFT_SEEDS (default "1 2 3"):
#   1. single task, sums: full fine-tuning, NeFT's cosine neurons, attribution (task-specific)
#      neurons, random neurons and LoRA of rank NEFT_LORA_RANK (default 8) on q, k, v, o, up,
#      down, the neuron runs at LoRA's parameter count (--budget lora:R over every kind, each
#      layer its share: the NeFT paper's protocol); 40 steps each;
#   2. deactivation: a model fine-tuned on all three tasks (full, 60 steps, seed 1), each
#      task's attribution neurons (the top 5%, and the top 0.5%, of the FFN neurons, scored on
#      its training lines with the seed's draw) zeroed, against 3 random sets of the same size
#      per layer, and the three 5% sets' overlap (intersection over union);
#   3. continual: sums, then dates, then times, 30 steps a stage, with W-NCFT (whose records
#      hold NCFT's matrix too: the same training), SeqFT and SeqLoRA.
# Held out: the test split (100 conversations a task) for the single task; its first 40 a
# task for the deactivation and continual evaluations, which run many times.
# Learning rates: full fine-tuning's from the pretrained recipe (chosen on the validation split
# of the README's dates+sums runs); neuron-level and LoRA's by `scripts/study_smollm2.sh tune`
# on this data's validation split (sums), seed 1. Nothing reported was chosen on the test split.
# Runs go two at a time, one thread each (scripts/lib/run_queue.sh), into NEFT_STUDY_OUT
# (default runs/smollm2-study; about 2 hours on 2 cores, `tune` 25 minutes more); finished
# runs are skipped, interrupted ones resume. Prints the tables the results file holds.
set -euo pipefail
cd "$(dirname "$0")/.."
neft=${NEFT_BUILD_DIR:-build}/launch/neft
out=${NEFT_STUDY_OUT:-runs/smollm2-study}
seeds=(${NEFT_SEEDS:-1 2 3})
rank=${NEFT_LORA_RANK:-8}
targets=q,k,v,o,up,down  # the matrices ffn, qo and kv neurons span: budgets match exactly
lora_lr=${NEFT_LORA_LR:-3e-3}     # chosen by `tune` (the validation table in the results file)
neuron_lr=${NEFT_NEURON_LR:-3e-4}  # likewise
source scripts/lib/run_queue.sh
source scripts/lib/study.sh
tenth() { awk "BEGIN { print $1 / 10 }"; }

scripts/fetch_smollm2.sh
model=models/smollm2
[ -e "$model/config.json" ] ||
  "$neft" import-gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --out "$model"
data=$out/data
[ -e "$data/test.jsonl" ] || python3 examples/make_text_tasks.py "$data" --tasks sums,dates,times
# The first 40 test conversations of each task: the held-out lines of the evaluations that
# run after every continual stage and for every deactivated set.
[ -e "$data/test-40.jsonl" ] || python3 - "$data/test.jsonl" "$data/test-40.jsonl" <<'PY'
import json, sys
kept, out = {}, open(sys.argv[2], "w")
for line in open(sys.argv[1]):
    task = json.loads(line)["task"]
    kept[task] = kept.get(task, 0) + 1
    if kept[task] <= 40:
        out.write(line)
PY

# 40 steps of 4 rows of 128 tokens on the sums lines; the neuron runs at LoRA's budget.
single="--model $model --data sft:$data/train.jsonl --tasks sums --seq-len 128 --micro-batch 4"
single+=" --steps 40 --log-every 10"
neurons="--budget lora:$rank --kinds all --scope per-layer"
lora="--lora-rank $rank --lora-targets $targets"

if [ "${1:-}" = tune ]; then
  seed=${seeds[0]}
  lora_lrs="3e-4 1e-3 3e-3 1e-2" neuron_lrs="3e-4 1e-3 3e-3"
  run="$single --eval-data sft:$data/validation.jsonl --seed $seed"
  {
    for lr in $lora_lrs; do
      echo "$out/tune/lora-lr$lr - train $run $lora --lr $lr --min-lr $(tenth $lr)"
    done
    for lr in $neuron_lrs; do
      echo "$out/tune/cosine-lr$lr - finetune $run --scorer cosine $neurons --probe-steps 20" \
        "--lr $lr --min-lr $(tenth $lr)"
    done
  } | run_queue
  report=()
  for lr in $lora_lrs; do report+=("LoRA r$rank lr $lr=$out/tune/lora-lr$lr"); done
  for lr in $neuron_lrs; do report+=("NeFT lr $lr=$out/tune/cosine-lr$lr"); done
  "$neft" report "${report[@]}" --tasks sums --markdown "$out/tune/validation.md"
  exit 0
fi

# 1. Single task, and the multi-task model the deactivation test needs.
{
  echo "$out/multitask - train --model $model --data sft:$data/train.jsonl --seq-len 128" \
    "--micro-batch 4 --steps 60 --log-every 20 --seed 1"
  for seed in "${seeds[@]}"; do
    d=$out/seed-$seed
    run="$single --eval-data sft:$data/test.jsonl --seed $seed"
    nlr="--lr $neuron_lr --min-lr $(tenth $neuron_lr)"
    echo "$d/full - train $run"
    echo "$d/cosine - finetune $run --scorer cosine $neurons --probe-steps 20 $nlr"
    echo "$d/attribution - finetune $run --scorer attribution $neurons --score-batches 8 $nlr"
    echo "$d/random - finetune $run --scorer random $neurons $nlr"
    echo "$d/lora - train $run $lora --lr $lora_lr --min-lr $(tenth $lora_lr)"
  done
} | run_queue
single_task_report "$neft" "$out" sums "$rank" "${seeds[@]}"

# 2. Deactivation and 3. continual, two at a time.
for seed in "${seeds[@]}"; do
  for task in sums dates times; do echo "deactivate $seed $task"; done
  for method in wncft seqft seqlora; do echo "continual $seed $method"; done
done | OMP_NUM_THREADS=1 NEFT=$neft OUT=$out MODEL=$model LORA="$lora" LORA_LR=$lora_lr \
  NEURON_LR=$neuron_lr xargs -P 2 -L 1 bash -c '
  what=$1 seed=$2 d=$OUT/seed-$2 data=$OUT/data
  common="--seq-len 128 --micro-batch 4 --seed $seed"
  if [ "$what" = deactivate ]; then
    task=$3 mt=$OUT/multitask/model
    [ -e "$d/$task-scores.safetensors" ] ||
      "$NEFT" score --model "$mt" --data "sft:$data/train.jsonl" --tasks "$task" $common \
        --scorer attribution --score-batches 8 --out "$d/$task-scores.safetensors" >/dev/null
    # The top 5% of the FFN neurons, and the top 0.5% (files with -0.5).
    for budget in 5 0.5; do
      suffix=""; [ "$budget" = 5 ] || suffix=-$budget
      [ -e "$d/deactivate-$task$suffix.jsonl" ] && continue
      "$NEFT" select --scores "$d/$task-scores.safetensors" --model "$mt" --budget "$budget%" \
        --out "$d/$task-neurons$suffix.safetensors" >/dev/null &&
      "$NEFT" analyze deactivate --model "$mt" --neurons "$d/$task-neurons$suffix.safetensors" \
        --data "sft:$data/test-40.jsonl" --micro-batch 8 --seed "$seed" --random-sets 3 \
        --random-match layer --random-seed "$seed" \
        --out "$d/deactivate-$task$suffix.jsonl.tmp" >"$d/deactivate-$task$suffix.log" 2>&1 &&
        mv "$d/deactivate-$task$suffix.jsonl.tmp" "$d/deactivate-$task$suffix.jsonl"
    done
    echo "  $d: deactivation of $task neurons done"
    exit 0
  fi
  method=$3 run=$d/continual-$3
  [ -e "$run/done" ] && exit 0
  case $method in
    seqft) lr="" ;;  # the recipe
    seqlora) lr="--lr $LORA_LR --min-lr $(awk "BEGIN { print $LORA_LR / 10 }") $LORA" ;;
    *) lr="--lr $NEURON_LR --min-lr $(awk "BEGIN { print $NEURON_LR / 10 }")" ;;
  esac
  resume=""; [ -d "$run" ] && resume="--resume"
  mkdir -p "$d"
  "$NEFT" continual --model "$MODEL" --init "$MODEL" --data "sft:$data/train.jsonl" \
    --eval-data "sft:$data/test-40.jsonl" --tasks sums,dates,times --method "$method" $common \
    --steps 30 --score-batches 8 --log-every 10 --save-every 10 $lr --out "$run" $resume \
    >"$run.log" 2>&1 && touch "$run/done" &&
    echo "  $run: $(grep -a "average accuracy" "$run.log" | head -1)"
' _

# The overlap of the three tasks' neuron sets, per seed.
for seed in "${seeds[@]}"; do
  d=$out/seed-$seed
  [ -e "$d/overlap.jsonl" ] || "$neft" analyze overlap sums="$d/sums-neurons.safetensors" \
    dates="$d/dates-neurons.safetensors" times="$d/times-neurons.safetensors" \
    --out "$d/overlap.jsonl" >/dev/null
done
seed_list=$(IFS=,; echo "${seeds[*]}")
python3 scripts/lib/study_tables.py "$out" --seeds "$seed_list" --tasks sums,dates,times \
  --step-times full cosine attribution random lora --overlap overlap.jsonl --deactivate-matrix \
  --deactivate "sums 5%=deactivate-sums.jsonl" "dates 5%=deactivate-dates.jsonl" \
  "times 5%=deactivate-times.jsonl" "sums 0.5%=deactivate-sums-0.5.jsonl" \
  "dates 0.5%=deactivate-dates-0.5.jsonl" "times 0.5%=deactivate-times-0.5.jsonl" \
  --continual ncft=wncft:unweighted wncft seqft seqlora --continual-tasks sums,dates,times
