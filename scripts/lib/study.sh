# Sourced by scripts/study_synthetic.sh and scripts/study_smollm2.sh: the single-task table,
# `neft report` over each seed's five runs (OUT/seed-<s>/{full,cosine,attribution,random,lora})
# as mean ± sd, written to OUT/single-task.md too.
#   single_task_report NEFT OUT TASK RANK SEED...
single_task_report() {
  local neft=$1 out=$2 task=$3 rank=$4
  shift 4
  local report=() seed d
  for seed in "$@"; do
    d=$out/seed-$seed
    report+=(full="$d/full" NeFT="$d/cosine" attribution="$d/attribution" random="$d/random"
             "LoRA r$rank=$d/lora")
  done
  echo "## single task: $task"
  "$neft" report "${report[@]}" --tasks "$task" --markdown "$out/single-task.md"
}
