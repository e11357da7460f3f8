#!/bin/bash
# What --distributed-optimizer (ZeRO-1) changes per rank, measured: small-20m (20M parameters,
# f32 on the CPU) trained in full for two steps of 4 sequences at dp 2 and dp 4, with and
# without it. Prints rank 0's optimizer state, gradients, weights and allocator peak (the
# first step's "ranks" record in metrics.jsonl), the data-parallel bytes it sent per step,
# and the losses, which must agree.
#
#   scripts/measure_distributed_optimizer.sh [OUT]      (default runs/distributed-optimizer)
set -euo pipefail
cd "$(dirname "$0")/.."
NEFT=${NEFT:-build/launch/neft}
OUT=${1:-runs/distributed-optimizer}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=passive
rm -rf "$OUT"
mkdir -p "$OUT"
for np in 2 4; do
  for split in "" --distributed-optimizer; do
    run="$OUT/dp$np${split:+-split}"
    mpirun -np "$np" ${NEFT_MPIEXEC_FLAGS:---allow-run-as-root --oversubscribe} "$NEFT" train \
      --model small-20m --steps 2 --micro-batch 1 --grad-accum $((4 / np)) --seq-len 64 \
      --log-every 1 --out "$run" $split > "$run.log" 2>&1
  done
done
python3 - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
MiB = 2**20
print("| dp | optimizer state | optimizer (MiB) | gradients (MiB) | weights (MiB) | peak (MiB) "
      "| dp sent per step (MiB) | losses |")
print("|---:|---|---:|---:|---:|---:|---:|---|")
for np in (2, 4):
    for split in ("", "-split"):
        records = [json.loads(l) for l in open(os.path.join(out, f"dp{np}{split}", "metrics.jsonl"))]
        r = next(x for x in records if "ranks" in x)["ranks"][0]
        losses = ", ".join(f"{x['loss']:.6f}" for x in records if "loss" in x)
        m = r["memory"]
        print(f"| {np} | {'split (--distributed-optimizer)' if split else 'replicated'} "
              f"| {m['optimizer'] / MiB:.2f} | {m['gradients'] / MiB:.2f} | {m['weights'] / MiB:.2f} "
              f"| {r['peak_allocated_bytes'] / MiB:.1f} | {r['dp_bytes_per_step'] / MiB:.2f} | {losses} |")
EOF
