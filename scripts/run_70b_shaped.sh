#!/bin/bash
# Llama-2-70B's real width on a small machine: hidden 8192, intermediate 28672, 64 heads,
# 8 kv heads, vocab 32000, with its 80 layers cut to 2 (`--num-layers 2`), random weights. NeFT
# at 5% of the parameters (random FFN neurons: the point is the machinery, not the choice):
#
#   1. tp 2 under mpirun: three steps, a checkpoint saved by both ranks at once (one file each),
#   2. resumed at pp 2 (one layer per stage) for two more steps,
#   3. each rank's measured peak (metrics.jsonl's "ranks" record) against `neft plan`'s.
#
#   scripts/run_70b_shaped.sh [OUT]      (default runs/70b-shaped; needs ~12 GB of memory)
#
# Every rank holds half the model: 4.4 GB of f32 weights at tp 2. The final model/ is streamed
# to disk tensor by tensor (8.8 GB): the writer holds one whole tensor at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
NEFT=${NEFT:-build/launch/neft}
OUT=${1:-runs/70b-shaped}
MPIRUN=(mpirun -np 2 ${NEFT_MPIEXEC_FLAGS:---allow-run-as-root --oversubscribe})
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=passive

rm -rf "$OUT"
mkdir -p "$OUT/config"
# The same shape as a config.json, for the commands that take a model directory (score, select).
cat > "$OUT/config/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8192,
 "intermediate_size": 28672, "num_attention_heads": 64, "num_key_value_heads": 8,
 "num_hidden_layers": 2, "vocab_size": 32000, "max_position_embeddings": 4096,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "hidden_act": "silu", "torch_dtype": "float32"}
EOF
SHAPE=(--model llama2-70b --num-layers 2)
RUN=(--seq-len 64 --micro-batch 1 --tasks copy --eval-examples 2 --log-every 1 --warmup 0 --lr 1e-4)

echo "== neurons: 5% of the parameters, random FFN neurons"
"${MPIRUN[@]}" "$NEFT" score --model "$OUT/config" --tp 2 --scorer random --seq-len 64 \
  --micro-batch 1 --tasks copy --out "$OUT/scores.safetensors"
"$NEFT" select --model "$OUT/config" --scores "$OUT/scores.safetensors" --budget 5%params \
  --out "$OUT/neurons.safetensors"

echo "== tp 2: steps 1-3 of 5, a checkpoint at step 3 written by both ranks, then stop"
"${MPIRUN[@]}" "$NEFT" train "${SHAPE[@]}" "${RUN[@]}" \
  --tp 2 --neurons "$OUT/neurons.safetensors" --steps 5 --save-every 3 --stop-after 3 \
  --out "$OUT/run"
ls -l "$OUT/run/checkpoints/step-00000003"

echo "== resumed at pp 2 (one layer per stage): steps 4 and 5, the final model streamed"
"${MPIRUN[@]}" "$NEFT" train "${SHAPE[@]}" "${RUN[@]}" \
  --pp 2 --neurons "$OUT/neurons.safetensors" --steps 5 --save-every 3 --resume \
  --out "$OUT/run"
ls -l "$OUT/run/checkpoints/step-00000005" "$OUT/run/model"

echo "== measured against planned, per rank"
for layout in "--tp 2" "--pp 2"; do
  # shellcheck disable=SC2086
  "$NEFT" plan "${SHAPE[@]}" --seq-len 64 --micro-batch 1 $layout --gpu cpu \
    --neurons "$OUT/neurons.safetensors" --json > "$OUT/plan-${layout// /}.json"
done
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
records = [json.loads(l) for l in open(f"{out}/run/metrics.jsonl") if '"ranks"' in l]
for layout, rec in zip(["--tp2", "--pp2"], records):
    plan = json.load(open(f"{out}/plan-{layout}.json"))
    planned = {(r["tp"], r["pp"]): r["memory"]["total"] for r in plan["ranks"]}
    for r in rec["ranks"]:
        p, m = planned[(r["tp"], r["pp"])], r["peak_allocated_bytes"]
        print(f"{layout[2:]:4} rank {r['rank']} (tp {r['tp']}, stage {r['pp']}): planned "
              f"{p / 2**30:.3f} GiB, measured {m / 2**30:.3f} GiB (allocator peak), "
              f"{r['peak_rss_bytes'] / 2**30:.3f} GiB peak RSS; measured / planned {m / p:.4f}")
EOF
