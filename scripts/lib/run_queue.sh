# Sourced by scripts/quickstart.sh and scripts/tune_quickstart.sh: runs many small `neft`
# runs, two at a time on two cores (one thread each), from a queue on standard input.
# Each line is: DIR NEEDS NEFT-ARGS...: the run's --out, a directory whose final model it
# needs first (its --init; "-" for none) and the neft arguments. A run whose final model is
# there is skipped; an interrupted one resumes; its output goes to DIR.log.
# Two single-thread processes side by side do 1.3x the work of one process on both cores at
# this model size (measured: 51 against 65 ms per 1024-token step of the tiny preset).
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

run_queued() {
  local dir=$1 needs=$2
  shift 2
  if [ -e "$dir/model/config.json" ]; then
    echo "  $dir is done"
    return 0
  fi
  # The queue is ordered so that this wait is short: bases first.
  while [ "$needs" != "-" ] && [ ! -e "$needs/model/config.json" ]; do
    [ -e "$needs.failed" ] && { echo "  $dir: skipped, $needs failed"; return 1; }
    sleep 1
  done
  mkdir -p "$(dirname "$dir")"
  rm -f "$dir.failed"
  local start=$SECONDS
  if "$NEFT" "$@" --out "$dir" --resume >"$dir.log" 2>&1; then
    # Its last evaluation line: "eval @300: shift 91%" (or "validation @300: ...").
    echo "  $dir: $(grep -aoE '(eval|validation) @[0-9]+:.*' "$dir.log" | tail -1) ($((SECONDS - start)) s)"
  else
    touch "$dir.failed"
    echo "  $dir FAILED ($((SECONDS - start)) s): $(tail -1 "$dir.log")"
    return 1
  fi
}
export -f run_queued

# run_queue: the lines on standard input, two at a time; fails if any run failed.
run_queue() {
  NEFT=$neft xargs -P 2 -L 1 bash -c 'run_queued "$@"' _
}

# The quick start's queue lines for its bases, one per seed: queue_bases OUT SEED...
queue_bases() {
  local out=$1
  shift
  for seed in "$@"; do
    echo "$out/seed-$seed/base - train --config examples/base.ini --seed $seed"
  done
}

# The fine-tuning arguments every quick-start run shares: finetune_args BASE SEED.
finetune_args() {
  echo "--config examples/finetune-shift.ini --init $1/model --seed $2"
}
