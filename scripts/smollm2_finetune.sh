#!/usr/bin/env bash
# The README's "Fine-tune a real model", end to end: SmolLM2-135M-Instruct (fetched, imported
# from its GGUF file) fine-tuned on two text tasks (examples/make_text_tasks.py: dates
# written in words, two-digit sums) in TRL's chat JSONL, full fine-tuning and NeFT (`neft
# finetune --scorer cosine`, 5% of the parameters as FFN neurons), each with the pretrained
# recipe's defaults (launch/recipe.h), for three seeds. Every run evaluates the held-out test
# split before and after (exact match of the greedy answer, and the loss); `neft report`
# puts the runs side by side as mean ± sd; `neft generate` answers the test prompts with the
# first seed's NeFT model, and their exact match is counted from the generated text.
#
#   scripts/smollm2_finetune.sh          the runs the README reports (test split)
#   scripts/smollm2_finetune.sh tune     how the recipe's learning rates were chosen: each
#                                        method at three rates, on the validation split only
#
# Runs go two at a time, one thread each (scripts/lib/run_queue.sh), to NEFT_SMOLLM2_OUT
# (default runs/smollm2); finished runs are skipped, an interrupted one resumes. NEFT_SEEDS
# chooses the seeds (default "1 2 3"; "1" when tuning).
set -euo pipefail
cd "$(dirname "$0")/.."
neft=${NEFT_BUILD_DIR:-build}/launch/neft
out=${NEFT_SMOLLM2_OUT:-runs/smollm2}
mode=${1:-report}
source scripts/lib/run_queue.sh

scripts/fetch_smollm2.sh
model=models/smollm2
[ -e "$model/config.json" ] ||
  "$neft" import-gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --out "$model"
python3 examples/make_text_tasks.py "$out/data"

# 40 steps of 4 rows of 128 tokens (about 9 conversations a step, 360 in all, under half the
# training file); the NeFT probe is 20 steps of full fine-tuning.
common="--model $model --data sft:$out/data/train.jsonl --seq-len 128 --micro-batch 4"
common+=" --steps 40 --log-every 5"
neft_args="--scorer cosine --budget 5%params --probe-steps 20"

if [ "$mode" = tune ]; then
  seeds=(${NEFT_SEEDS:-1})
  full_lrs=(3e-5 1e-4 3e-4)
  neft_lrs=(1e-4 3e-4 1e-3 3e-3)
  tenth() { awk "BEGIN { print $1 / 10 }"; }
  queue() {
    for seed in "${seeds[@]}"; do
      local run="$common --eval-data sft:$out/data/validation.jsonl --seed $seed"
      for lr in "${full_lrs[@]}"; do
        echo "$out/tune/seed-$seed/full-lr$lr - train $run --lr $lr"
      done
      for lr in "${neft_lrs[@]}"; do
        echo "$out/tune/seed-$seed/neft-lr$lr - finetune $run $neft_args --lr $lr"
      done
    done
  }
  queue | run_queue
  report=()
  for lr in "${full_lrs[@]}"; do
    for seed in "${seeds[@]}"; do report+=("full lr $lr=$out/tune/seed-$seed/full-lr$lr"); done
  done
  for lr in "${neft_lrs[@]}"; do
    for seed in "${seeds[@]}"; do report+=("NeFT lr $lr=$out/tune/seed-$seed/neft-lr$lr"); done
  done
  "$neft" report "${report[@]}" --tasks dates,sums --markdown "$out/tune/validation.md"
  exit 0
fi

seeds=(${NEFT_SEEDS:-1 2 3})
test_split=sft:$out/data/test.jsonl
queue() {
  for seed in "${seeds[@]}"; do
    local run="$common --eval-data $test_split --seed $seed"
    echo "$out/seed-$seed/full - train $run"
    echo "$out/seed-$seed/neft - finetune $run $neft_args"
  done
}
echo "smollm2: ${#seeds[@]} seeds x (full fine-tuning, NeFT), two runs at a time; logs in" \
  "$out/seed-*/*.log"
start=$SECONDS
queue | run_queue
echo "smollm2: all runs done in $((SECONDS - start)) s"

echo "smollm2: the model before fine-tuning, on the test split"
"$neft" eval --model "$model" --data "$test_split" --micro-batch 8
report=()
for seed in "${seeds[@]}"; do
  report+=(full="$out/seed-$seed/full" NeFT="$out/seed-$seed/neft")
done
"$neft" report "${report[@]}" --tasks dates,sums --markdown "$out/report.md"

# The test questions as prompts, answered by generation with the NeFT run's delta on the base.
python3 - "$out/data/test.jsonl" "$out/data/test-prompts.jsonl" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        m = json.loads(line)["messages"]
        out.write(json.dumps({"prompt": m[0]["content"], "answer": m[1]["content"]}) + "\n")
PY
first=$out/seed-${seeds[0]}/neft
"$neft" generate --model "$model" --delta "$first/delta.safetensors" \
  --input "$out/data/test-prompts.jsonl" --max-new-tokens 12 --batch-size 16 \
  --out "$first/test-generations.jsonl"
python3 - "$first/test-generations.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
right = sum(r["completion"] == r["answer"] for r in rows)
print(f"generated answers equal to the test answer: {right} of {len(rows)}")
for r in rows[:3]:
    print(f"  {r['prompt']!r} -> {r['completion']!r}")
PY
echo "$model answers:"
"$neft" generate --model "$model" --delta "$first/delta.safetensors" \
  --prompt "Write 1999-12-31 as a date in words." --max-new-tokens 12
