#!/bin/bash
# Step time of a two-stage pipeline before and after its stages kept each in-flight
# micro-batch's activations (before: a stage ran a micro-batch's forward again right before its
# backward when another forward came in between). Builds nothing: takes two neft binaries, or
# one binary run without and with --recompute where that is the comparison wanted. Runs them
# side by side, interleaved round by round (load on the machine hits both alike), full training
# at pp 2 on synthetic data (MODEL, default tiny: small-20m ties its embeddings, which pp does
# not support; MICRO_BATCH 4, GRAD_ACCUM 8, SEQ_LEN 256 by default), and prints per binary the median step time over the
# rounds (each round's median over its steps after the first: metrics.jsonl's elapsed_s
# differences), rank 0's activation bytes and allocator peak, and the losses, which must agree.
#
#   scripts/measure_pipeline_activations.sh BEFORE_NEFT AFTER_NEFT [ROUNDS] [STEPS] [OUT]
#   (defaults: 5 rounds of 6 steps, runs/pipeline-activations; AFTER_NEFT may be "recompute:PATH"
#   or BEFORE_NEFT likewise, to run PATH with --recompute)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: $0 BEFORE_NEFT AFTER_NEFT [ROUNDS] [STEPS] [OUT]" >&2
  exit 2
fi
BEFORE=$1 AFTER=$2 ROUNDS=${3:-5} STEPS=${4:-6} OUT=${5:-runs/pipeline-activations}
MODEL=${MODEL:-tiny} MICRO_BATCH=${MICRO_BATCH:-4} GRAD_ACCUM=${GRAD_ACCUM:-8} SEQ_LEN=${SEQ_LEN:-256}
for b in "$BEFORE" "$AFTER"; do
  bin=${b#recompute:}
  [ -x "$bin" ] || { echo "$0: not an executable neft: $bin" >&2; exit 2; }
done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=passive
rm -rf "$OUT"
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for which in before after; do
    spec=$([ $which = before ] && echo "$BEFORE" || echo "$AFTER")
    bin=${spec#recompute:}
    extra=$([ "$bin" != "$spec" ] && echo --recompute || true)
    run="$OUT/$which-$round"
    mpirun -np 2 ${NEFT_MPIEXEC_FLAGS:---allow-run-as-root --oversubscribe} \
      -x OMP_NUM_THREADS -x OMP_WAIT_POLICY "$bin" train \
      --model "$MODEL" --pp 2 --micro-batch "$MICRO_BATCH" --grad-accum "$GRAD_ACCUM" \
      --seq-len "$SEQ_LEN" --steps "$STEPS" \
      --data synthetic --eval-every 0 --eval-examples 1 --save-every 0 --log-every 1 \
      --out "$run" $extra > "$run.log" 2>&1
  done
done
python3 - "$OUT" "$ROUNDS" "$BEFORE" "$AFTER" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
names = {"before": sys.argv[3], "after": sys.argv[4]}
MiB = 2**20
def run(which, r):
    records = [json.loads(l) for l in open(os.path.join(out, f"{which}-{r}", "metrics.jsonl"))]
    elapsed = [x["elapsed_s"] for x in records if "elapsed_s" in x]
    steps = [b - a for a, b in zip(elapsed, elapsed[1:])]  # the first step warms up: left out
    ranks = next(x for x in records if "ranks" in x)["ranks"][0]
    losses = [x["loss"] for x in records if "loss" in x]
    return statistics.median(steps), ranks, losses
medians = {}
for which in ("before", "after"):
    rs = [run(which, r) for r in range(1, rounds + 1)]
    medians[which] = statistics.median(m for m, _, _ in rs)
    ranks, losses = rs[0][1], rs[0][2]
    print(f"{which} ({names[which]}): step {medians[which]:.3f} s (median of round medians: "
          + ", ".join(f"{m:.3f}" for m, _, _ in rs) + ")")
    print(f"  rank 0: activations {ranks['memory']['activations'] / MiB:.2f} MiB, "
          f"peak allocated {ranks['peak_allocated_bytes'] / MiB:.1f} MiB")
    print("  losses: " + ", ".join(f"{l:.6f}" for l in losses))
print(f"after / before step time: {medians['after'] / medians['before']:.3f}")
PY
