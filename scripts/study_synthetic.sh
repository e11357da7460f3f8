#!/usr/bin/env bash
# The seeds' experiments of the NeFT and task-specific-neurons papers on the synthetic suite,
# each over NEFT_SEEDS (default "1 2 3"), on the quick start's base models (examples/base.ini:
# the tiny preset trained on copy, reverse, sort and dedup):
#   1. single task: fine-tuning on shift, a task the base never saw, in full, by NeFT's cosine
#      neurons, by attribution (task-specific) neurons, by random neurons, and by LoRA of rank
#      NEFT_LORA_RANK (default 4) on the matrices the neurons span (q, k, v, o, up, down), the
#      neuron runs at LoRA's parameter count (--budget lora:R, the NeFT paper's protocol) over
#      every kind (ffn, qo, kv), each layer its share;
#   2. deactivation: the base's attribution neurons for copy (5% of its ffn neurons) zeroed,
#      against 5 random sets of the same size per layer, on the four tasks it knows;
#   3. continual: shift, then sort, then reverse, with NCFT, W-NCFT, SeqFT and SeqLoRA.
# Learning rates: full and neuron-level as the quick start chose them on the validation split
# (scripts/tune_quickstart.sh); LoRA's by `scripts/study_synthetic.sh tune` on the same split.
# Nothing reported here was chosen on the eval split it reports.
# Runs go two at a time, one thread each (scripts/lib/run_queue.sh), into NEFT_STUDY_OUT
# (default runs/study); finished runs are skipped. Prints the tables the results file holds.
set -euo pipefail
cd "$(dirname "$0")/.."
neft=${NEFT_BUILD_DIR:-build}/launch/neft
out=${NEFT_STUDY_OUT:-runs/study}
seeds=(${NEFT_SEEDS:-1 2 3})
rank=${NEFT_LORA_RANK:-4}
targets=q,k,v,o,up,down  # the matrices ffn, qo and kv neurons span: budgets match exactly
lora_lrs=(0.003 0.01 0.03)
lora_lr=${NEFT_LORA_LR:-0.01}  # chosen by `tune` (the validation table in the results file)
source scripts/lib/run_queue.sh
source scripts/lib/study.sh
tenth() { awk "BEGIN { print $1 / 10 }"; }

if [ "${1:-}" = tune ]; then
  {
    queue_bases "$out" "${seeds[@]}"
    for seed in "${seeds[@]}"; do
      base=$out/seed-$seed/base
      for lr in "${lora_lrs[@]}"; do
        echo "$out/seed-$seed/tune-lora-lr$lr $base train $(finetune_args "$base" "$seed")" \
          "--eval-split validation --lora-rank $rank --lora-targets $targets --lr $lr" \
          "--min-lr $(tenth "$lr")"
      done
    done
  } | run_queue
  report=()
  for lr in "${lora_lrs[@]}"; do
    for seed in "${seeds[@]}"; do report+=("lora lr $lr=$out/seed-$seed/tune-lora-lr$lr"); done
  done
  "$neft" report "${report[@]}" --tasks shift
  exit 0
fi

# 1. Single task.
{
  queue_bases "$out" "${seeds[@]}"
  for seed in "${seeds[@]}"; do
    base=$out/seed-$seed/base
    ft="$(finetune_args "$base" "$seed")"
    echo "$out/seed-$seed/full $base train $ft --lr 0.002 --min-lr 0.0002"
    for scorer in cosine attribution random; do
      echo "$out/seed-$seed/$scorer $base finetune $ft --scorer $scorer --budget lora:$rank" \
        "--kinds all --scope per-layer"
    done
    echo "$out/seed-$seed/lora $base train $ft --lora-rank $rank --lora-targets $targets" \
      "--lr $lora_lr --min-lr $(tenth "$lora_lr")"
  done
} | run_queue
single_task_report "$neft" "$out" shift "$rank" "${seeds[@]}"

# 2. Deactivation and 3. continual, two at a time.
for seed in "${seeds[@]}"; do
  d=$out/seed-$seed
  base=$d/base/model
  echo "deactivate $seed $base $d"
  for method in ncft wncft seqft seqlora; do echo "continual $seed $base $d $method"; done
done | OMP_NUM_THREADS=1 NEFT=$neft LORA_LR=$lora_lr RANK=$rank xargs -P 2 -L 1 bash -c '
  what=$1 seed=$2 base=$3 d=$4 method=${5:-}
  common="--seq-len 64 --seed $seed"
  if [ "$what" = deactivate ]; then
    [ -e "$d/deactivate.jsonl" ] && exit 0
    "$NEFT" score --init "$base" --model "$base" --tasks copy $common --scorer attribution \
      --score-batches 16 --out "$d/copy-scores.safetensors" >/dev/null &&
    "$NEFT" select --scores "$d/copy-scores.safetensors" --model "$base" --budget 5% \
      --out "$d/copy-neurons.safetensors" >/dev/null &&
    "$NEFT" analyze deactivate --model "$base" --neurons "$d/copy-neurons.safetensors" \
      --tasks copy,reverse,sort,dedup $common --examples 128 --random-sets 5 \
      --random-match layer --random-seed "$seed" --out "$d/deactivate.jsonl.tmp" \
      >"$d/deactivate.log" 2>&1 && mv "$d/deactivate.jsonl.tmp" "$d/deactivate.jsonl"
    echo "  $d: deactivation done"
    exit 0
  fi
  run=$d/continual-$method
  [ -e "$run/done" ] && exit 0
  case $method in
    seqft) lr="--lr 0.002 --min-lr 0.0002" ;;
    seqlora) lr="--lr $LORA_LR --min-lr $(awk "BEGIN { print $LORA_LR / 10 }") --lora-rank $RANK --lora-targets q,k,v,o,up,down" ;;
    *) lr="--lr 0.03 --min-lr 0.003" ;;
  esac
  resume=""; [ -e "$run/continual.jsonl" ] || [ -d "$run" ] && resume="--resume"
  "$NEFT" continual --init "$base" --tasks shift,sort,reverse --method "$method" $common \
    --micro-batch 8 --steps 300 --warmup 20 --weight-decay 0 --eval-examples 128 \
    --log-every 100 --save-every 100 $lr --out "$run" $resume >"$run.log" 2>&1 &&
    touch "$run/done" && echo "  $run: $(grep -a "average accuracy" "$run.log")"
' _

seed_list=$(IFS=,; echo "${seeds[*]}")
python3 scripts/lib/study_tables.py "$out" --seeds "$seed_list" --tasks copy,reverse,sort,dedup \
  --deactivate copy=deactivate.jsonl --continual ncft wncft seqft seqlora \
  --continual-tasks shift,sort,reverse
