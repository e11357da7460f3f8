#!/usr/bin/env python3
"""PyTorch's side of neft's training-step benchmark.

Builds HF transformers' LlamaForCausalLM with the shapes of a neft preset, random init, and
times full training steps: forward, cross-entropy over every token, backward, global-norm
clipping to 1.0, AdamW step. CPU runs fp32; CUDA runs bf16 autocast over fp32 parameters
(PyTorch's usual mixed precision: bf16 matmuls, fp32 master weights and optimizer state).

With --neuron-fraction F it times neuron-level training the way the NeFT paper's released
code does it instead: the matrices that hold the selected neurons train densely and masks
keep the rest still. Here the neurons are FFN neurons (neuron j of a layer: row j of up_proj
and column j of down_proj, as neft's neuron_bench picks them), a seeded random set holding
the most parameters that fit in F of the model's parameter count. Every parameter of
up_proj and down_proj of each layer that holds a selected neuron has requires_grad, the rest
of the model is frozen; backward computes those matrices' whole gradients, clipping takes
their global norm, then the gradients of the unselected rows and columns are zeroed (after
clipping, as that code does) and a dense torch.optim.AdamW steps every element of them
(its weight decay, 0.1 as in the full step, shrinks the unselected weights as well: the
dense way's cost is what this times, not its exact update). With --dense model every
parameter of the model keeps requires_grad instead, and every gradient but the selected
rows' and columns' is zeroed after clipping: the reading in which the dense way differentiates
and steps the whole model, as full fine-tuning does.

    python3 benchmarks/pytorch_train_step.py --preset small-20m
    python3 benchmarks/pytorch_train_step.py --preset small-20m --json   # one JSON line
    python3 benchmarks/pytorch_train_step.py --preset llama-1b --device cuda --peak-gflops 989000
    python3 benchmarks/pytorch_train_step.py --preset small-20m --seq 128 --neuron-fraction 0.05

Prints a line per timed step, then the median step time, tokens/s and, with --peak-gflops,
model FLOPs utilisation, and the training state: gradients plus AdamW's moments, every
element of the tensors that train. With --json the per-step lines go to stderr and stdout
holds one JSON object, to be placed beside neft's own figures.

needs: pip install torch transformers safetensors numpy
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

# Shapes copied from neft's preset table (model/config.cpp); keep the two in step.
# name: hidden, intermediate, layers, heads, kv_heads, vocab, tied
PRESETS = {
    "tiny": (128, 384, 4, 4, 2, 64, False),
    "tiny-tied": (128, 384, 4, 4, 2, 64, True),
    "small-20m": (512, 1536, 6, 8, 4, 4096, True),
    "smollm2-135m": (576, 1536, 30, 9, 3, 49152, True),
    "llama-1b": (2048, 8192, 16, 32, 8, 128256, True),
}
ROPE_THETA = {"smollm2-135m": 100000.0, "llama-1b": 500000.0}  # others: 10000


def build_model(preset: str, seq: int, attn: str, device: torch.device) -> LlamaForCausalLM:
    hidden, inter, layers, heads, kv_heads, vocab, tied = PRESETS[preset]
    config = LlamaConfig(
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        vocab_size=vocab,
        tie_word_embeddings=tied,
        rms_norm_eps=1e-5,
        rope_theta=ROPE_THETA.get(preset, 10000.0),
        max_position_embeddings=max(seq, 2048),
        attn_implementation=attn,
        dtype="float32",
        use_cache=False,
    )
    return LlamaForCausalLM(config).to(device).train()


def flops_per_token(model: LlamaForCausalLM, seq: int) -> tuple[int, int]:
    """Training FLOPs per token, PaLM (appendix B) / Megatron style.

    6 * (weights that take part in matmuls: every nn.Linear, the LM head included; the
    embedding lookup is free, but a tied head's matmul counts through lm_head) for forward
    (2) and backward (4), plus 12 * layers * seq * hidden for attention scores and the
    weighted sum of values. The attention term counts the full T x T matrix, not the causal
    half, as PaLM's and Megatron's formulas do, so figures compare with theirs.
    """
    matmul_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    c = model.config
    return 6 * matmul_params + 12 * c.num_hidden_layers * seq * c.hidden_size, matmul_params


def make_optimizer(model: LlamaForCausalLM, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the parameters that train (all of them, unless neurons froze the rest)."""
    trained = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trained if p.ndim >= 2]
    no_decay = [p for p in trained if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-4,
        betas=(0.9, 0.95),
        eps=1e-8,
        fused=device.type == "cuda",  # the fastest AdamW PyTorch has on each device
    )


def select_ffn_neurons(model: LlamaForCausalLM, fraction: float, seed: int,
                       dense: str) -> tuple[list, int]:
    """Picks a seeded random set of FFN neurons, as many as fit in `fraction` of the model's
    parameters (neft's neuron_bench budget: floor(fraction * parameters), whole neurons of
    2 * hidden each). dense "matrices": freezes the model but for the up_proj/down_proj of the
    layers that hold them; "model": freezes nothing. Returns the masks, (weight, mask) pairs
    for every parameter with a gradient: 1 on a selected row (up_proj) or column (down_proj),
    0 elsewhere, shaped to broadcast over the weight's gradient; and the count."""
    c = model.config
    budget = int(fraction * sum(p.numel() for p in model.parameters()))
    per_layer = c.intermediate_size
    count = min(budget // (2 * c.hidden_size), c.num_hidden_layers * per_layer)
    if count < 1:
        raise ValueError(f"--neuron-fraction {fraction}: {budget} parameters hold no FFN neuron "
                         f"({2 * c.hidden_size} parameters each)")
    chosen = torch.randperm(c.num_hidden_layers * per_layer,
                            generator=torch.Generator().manual_seed(seed))[:count]
    for p in model.parameters():
        p.requires_grad_(dense == "model")
    masks, masked = [], set()
    for layer, block in enumerate(model.model.layers):
        mine = chosen[(chosen >= layer * per_layer) & (chosen < (layer + 1) * per_layer)]
        if mine.numel() == 0:
            continue  # no neuron here: the layer's matrices stay frozen (or all masked)
        up, down = block.mlp.up_proj.weight, block.mlp.down_proj.weight
        keep = torch.zeros(per_layer, device=up.device)
        keep[mine - layer * per_layer] = 1.0
        up.requires_grad_(True)
        down.requires_grad_(True)
        masks += [(up, keep.view(-1, 1)), (down, keep.view(1, -1))]
        masked |= {id(up), id(down)}
    zero = torch.zeros((), device=next(model.parameters()).device)
    masks += [(p, zero) for p in model.parameters() if p.requires_grad and id(p) not in masked]
    return masks, count


def state_bytes(model: LlamaForCausalLM, optimizer: torch.optim.Optimizer) -> int:
    """Gradients plus every tensor the optimizer keeps (AdamW: exp_avg, exp_avg_sq, step)."""
    grads = sum(p.grad.nbytes for p in model.parameters() if p.grad is not None)
    moments = sum(t.nbytes for s in optimizer.state.values() for t in s.values()
                  if torch.is_tensor(t))
    return grads + moments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small-20m", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--peak-gflops", type=float, default=None,
                        help="the device's peak GFLOP/s for the dtype, to report utilisation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--neuron-fraction", type=float, default=None,
                        help="train a random set of FFN neurons holding this fraction of the "
                        "parameters, NeFT's code's way (dense matrices, masked gradients)")
    parser.add_argument("--dense", default="matrices", choices=["matrices", "model"],
                        help="with --neuron-fraction, what trains densely: the up_proj/down_proj "
                        "matrices holding the neurons (default), or the whole model")
    parser.add_argument("--neuron-seed", type=int, default=0,
                        help="seed of the random neuron set (default 0)")
    parser.add_argument("--json", action="store_true", help="stdout: one JSON line only")
    args = parser.parse_args()
    if args.steps < 1 or args.batch < 1 or args.seq < 1 or args.warmup < 0:
        parser.error("--steps, --batch and --seq must be >= 1, --warmup >= 0")
    if args.neuron_fraction is not None and not 0 < args.neuron_fraction <= 1:
        parser.error(f"--neuron-fraction must be in (0, 1], got {args.neuron_fraction}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible to PyTorch")

    log = sys.stderr if args.json else sys.stdout
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    model = build_model(args.preset, args.seq, args.attn, device)
    masks, neurons = [], 0
    if args.neuron_fraction is not None:
        try:
            masks, neurons = select_ffn_neurons(model, args.neuron_fraction, args.neuron_seed,
                                               args.dense)
        except ValueError as e:
            parser.error(str(e))
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(model, device)
    vocab = model.config.vocab_size
    tokens = torch.randint(0, vocab, (args.batch, args.seq + 1), device=device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    n_params = sum(p.numel() for p in model.parameters())
    fpt, matmul_params = flops_per_token(model, args.seq)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def train_step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(logits.float().view(-1, vocab), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, max_norm=1.0)
        for weight, keep in masks:  # after clipping: the norm saw the unselected gradients
            weight.grad.mul_(keep)
        optimizer.step()
        return loss.item()  # also waits for the step to finish

    print(f"pytorch {torch.__version__}, transformers {transformers.__version__}, "
          f"preset {args.preset}: {n_params / 1e6:.2f}M parameters "
          f"({matmul_params / 1e6:.2f}M in matmuls), {args.device} {str(dtype)[6:]}, "
          f"attn {args.attn}, threads {torch.get_num_threads()}, "
          f"batch {args.batch} x seq {args.seq}", file=log)
    if masks:
        print(f"neuron-level, dense and masked: {neurons} random FFN neurons "
              f"({neurons * 2 * model.config.hidden_size / 1e6:.3f}M parameters) in "
              f"up_proj/down_proj, dense over the {args.dense}, "
              f"{sum(p.numel() for p in trained) / 1e6:.3f}M parameters with gradients", file=log)
    for _ in range(args.warmup):
        train_step()

    tokens_per_step = args.batch * args.seq
    step_ms = []
    for i in range(args.steps):
        sync()
        start = time.perf_counter()
        loss = train_step()
        sync()
        step_ms.append((time.perf_counter() - start) * 1e3)
        print(f"step {i + 1}/{args.steps}: {step_ms[-1]:.1f} ms, "
              f"{tokens_per_step / step_ms[-1] * 1e3:.0f} tokens/s, loss {loss:.4f}", file=log)

    state = state_bytes(model, optimizer)
    median_ms = statistics.median(step_ms)
    tokens_per_s = tokens_per_step / median_ms * 1e3
    achieved_gflops = fpt * tokens_per_s / 1e9
    mfu = achieved_gflops / args.peak_gflops if args.peak_gflops else None
    print(f"median step {median_ms:.1f} ms, {tokens_per_s:.0f} tokens/s, "
          f"{fpt / 1e6:.1f} MFLOP/token, {achieved_gflops:.1f} GFLOP/s"
          + (f", MFU {100 * mfu:.1f}% of {args.peak_gflops:g} GFLOP/s" if mfu else "")
          + f", training state {state / 2**20:.1f} MiB", file=log)

    if args.json:
        print(json.dumps({
            "framework": "pytorch",
            "mode": "neuron-dense-masked" if masks else "full",
            "preset": args.preset,
            "tokens_per_s": round(tokens_per_s, 1),
            "step_ms_median": round(median_ms, 3),
            "flops_per_token": fpt,
            "matmul_parameters": matmul_params,
            "gflops": round(achieved_gflops, 2),
            "mfu": mfu,
            "device": args.device,
            "dtype": str(dtype)[6:],
            "attn": args.attn,
            "batch": args.batch,
            "seq": args.seq,
            "threads": torch.get_num_threads(),
            "steps": args.steps,
            "parameters": n_params,
            "trainable_parameters": sum(p.numel() for p in trained),
            "neuron_fraction": args.neuron_fraction,
            "dense": args.dense if args.neuron_fraction is not None else None,
            "neurons": neurons,
            "selected_parameters": neurons * 2 * model.config.hidden_size,
            "state_bytes": state,
            "step_ms": [round(ms, 3) for ms in step_ms],
            "torch_version": torch.__version__,
            "transformers_version": transformers.__version__,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
