#!/usr/bin/env python3
"""neft's neuron-level step against the NeFT paper's code's way of training neurons.

The NeFT paper's released code trains selected neurons by training the whole matrices that
hold them and masking the gradients of the rest (benchmarks/pytorch_train_step.py
--neuron-fraction: dense gradients, global-norm clipping, the unselected rows and columns
zeroed, a dense torch.optim.AdamW). neft trains the selected rows alone (neft_neuron_bench).
Both train a seeded random set of FFN neurons of the same size (the sets themselves differ)
holding --fraction of the model's parameters, on the same preset, batch and sequence length.

The two run interleaved over --rounds rounds, the one that goes first alternating, so that
drift in the machine's speed hits both alike; each round is one run of each, --warmup
untimed then --steps timed steps, their median step time. Per round it prints each step
time and PyTorch / neft (how many times faster neft's step is), then the median of those
ratios and the training-state ratio (PyTorch's gradients and AdamW moments over neft's
AdamW::state_bytes). neft's runs also time full fine-tuning, printed for context.

    benchmarks/compare_neft_reference.py --preset small-20m --batch 8 --seq 128 --rounds 5

Standard library only; the interpreter that runs PyTorch is $PYTHON (default python3) or
--python. Without torch and transformers there is nothing to compare: it says so and exits 1.
"""

import argparse
import os
import statistics
import sys

from compare_pytorch import PYTORCH_SCRIPT, default_bench, run_json_lines, torch_missing

# Reported, not enforced: what neuron-level training should buy over the dense-masked way.
TARGET_SPEEDUP = 2.0
TARGET_STATE_RATIO = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small-20m")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--fraction", type=float, default=0.05,
                        help="the neurons' share of the model's parameters (default 0.05)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per run")
    parser.add_argument("--rounds", type=int, default=5, help="neft + pytorch runs, interleaved")
    parser.add_argument("--seed", type=int, default=0, help="model, batches and neuron set")
    parser.add_argument("--dense", default="matrices", choices=["matrices", "model"],
                        help="what PyTorch trains densely: the up_proj/down_proj matrices "
                        "holding the neurons (default), or the whole model "
                        "(benchmarks/pytorch_train_step.py --dense)")
    parser.add_argument("--bench", default=os.environ.get("NEFT_NEURON_BENCH",
                                                          default_bench("neft_neuron_bench")),
                        help="the neft_neuron_bench executable ($NEFT_NEURON_BENCH)")
    parser.add_argument("--python", default=os.environ.get("PYTHON", "python3"),
                        help="the interpreter with torch and transformers ($PYTHON)")
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--rounds and --steps must be >= 1, --warmup >= 0")
    if not 0 < args.fraction <= 1:
        parser.error(f"--fraction must be in (0, 1], got {args.fraction}")
    if not os.access(args.bench, os.X_OK):
        parser.error(f"--bench {args.bench}: not an executable (build neft_neuron_bench, "
                     "or pass its path)")
    missing = torch_missing(args.python)
    if missing:
        sys.exit(f"compare_neft_reference: PyTorch not importable by {args.python} ({missing})")

    shape = ["--preset", args.preset, "--batch", str(args.batch), "--seq", str(args.seq),
             "--steps", str(args.steps), "--warmup", str(args.warmup), "--seed", str(args.seed)]
    neft_cmd = [args.bench, *shape, "--fractions", str(args.fraction), "--rounds", "1", "--json"]
    torch_cmd = [args.python, PYTORCH_SCRIPT, *shape, "--neuron-fraction", str(args.fraction),
                 "--neuron-seed", str(args.seed), "--dense", args.dense, "--json"]
    print("neft:    " + " ".join(neft_cmd))
    print("pytorch: " + " ".join(torch_cmd))
    # Each program runs as its users run it, with the environment given (compare_pytorch.py
    # does the same): neft waits passively in OpenMP unless told otherwise
    # (ensure_passive_openmp_wait), PyTorch spins by default. Export OMP_WAIT_POLICY=passive
    # to time PyTorch that way too (on a loaded machine spinning costs it several times over).
    env = dict(os.environ)

    full, neft, torch = [], [], []
    for r in range(args.rounds):
        def run_neft():
            rows = run_json_lines(neft_cmd, env)  # full first, then the fraction
            full.append(rows[0])
            neft.append(rows[-1])

        def run_torch():
            torch.append(run_json_lines(torch_cmd, env)[-1])

        for run in (run_neft, run_torch) if r % 2 == 0 else (run_torch, run_neft):
            run()
        print(f"round {r + 1}/{args.rounds}: neft {neft[-1]['step_ms_median']:.1f} ms, "
              f"pytorch dense-masked {torch[-1]['step_ms_median']:.1f} ms, "
              f"pytorch / neft {torch[-1]['step_ms_median'] / neft[-1]['step_ms_median']:.2f} "
              f"(neft full {full[-1]['step_ms_median']:.1f} ms)", flush=True)

    n, t = neft[0], torch[0]
    print(f"\n{args.preset}, batch {args.batch} x seq {args.seq}, {n['device']} {n['dtype']}, "
          f"{args.steps} timed steps per run after {args.warmup} warm-up (median); "
          f"pytorch {t['torch_version']}, transformers {t['transformers_version']}, "
          f"{t['threads']} threads, OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"neurons: neft {n['neurons']} ({n['selected_parameters'] / 1e6:.3f}M parameters), "
          f"pytorch {t['neurons']} ({t['selected_parameters'] / 1e6:.3f}M parameters), "
          f"random FFN neurons, {100 * args.fraction:g}% of {n['parameters'] / 1e6:.2f}M")
    if n["neurons"] != t["neurons"]:
        print("note: the two sets differ in size: the comparison is not like for like")
    what = ("up_proj and down_proj of the layers holding the neurons" if args.dense == "matrices"
            else "every parameter of the model, gradients masked")
    print(f"pytorch trains {t['trainable_parameters'] / 1e6:.3f}M parameters densely "
          f"({what}); neft "
          f"{n['trained_parameters'] / 1e6:.3f}M\n")

    header = (f"{'round':<8} {'neft ms':>9} {'pytorch ms':>11} {'pytorch/neft':>13} "
              f"{'neft full ms':>13}")
    print(header)
    print("-" * len(header))
    ratios = []
    for r in range(args.rounds):
        ratios.append(torch[r]["step_ms_median"] / neft[r]["step_ms_median"])
        print(f"{r + 1:<8} {neft[r]['step_ms_median']:>9.1f} {torch[r]['step_ms_median']:>11.1f} "
              f"{ratios[-1]:>13.2f} {full[r]['step_ms_median']:>13.1f}")
    neft_ms = statistics.median(x["step_ms_median"] for x in neft)
    torch_ms = statistics.median(x["step_ms_median"] for x in torch)
    print(f"{'median':<8} {neft_ms:>9.1f} {torch_ms:>11.1f} {statistics.median(ratios):>13.2f} "
          f"{statistics.median(x['step_ms_median'] for x in full):>13.1f}")

    speedup = statistics.median(ratios)
    state_ratio = t["state_bytes"] / n["state_bytes"]
    print(f"\nstep time: pytorch / neft, median of the per-round ratios {speedup:.2f} "
          f"(ratio of the medians {torch_ms / neft_ms:.2f}); tokens/s: neft "
          f"{statistics.median(x['tokens_per_s'] for x in neft):.0f}, pytorch "
          f"{statistics.median(x['tokens_per_s'] for x in torch):.0f}")
    # Both steps run the whole forward and every input gradient: 4 FLOPs per token per matmul
    # weight (M of them), plus attention; they differ in the weight gradients, 2 per trained
    # weight (D dense, S selected). So matmul work bounds the ratio by (4M + 2D) / (4M + 2S),
    # below 1.5 since D <= M: beyond that, a ratio comes from the dense way's other costs
    # (AdamW and clipping over whole matrices, their memory traffic).
    shared = t["flops_per_token"] - 2 * t["matmul_parameters"]
    bound = (shared + 2 * t["trainable_parameters"]) / (shared + 2 * n["selected_parameters"])
    print(f"FLOPs per token: pytorch {(shared + 2 * t['trainable_parameters']) / 1e6:.1f}M, neft "
          f"{(shared + 2 * n['selected_parameters']) / 1e6:.1f}M: the ratio's bound from "
          f"matmul work alone is {bound:.2f} (AdamW and clipping over dense matrices add to it)")
    print(f"training state: pytorch {t['state_bytes'] / 2**20:.1f} MiB (gradients + AdamW "
          f"moments of what trains densely), neft {n['state_bytes'] / 2**20:.1f} MiB "
          f"(AdamW::state_bytes), pytorch / neft {state_ratio:.2f}")
    print(f"targets (reported, not enforced): neft's step >= {TARGET_SPEEDUP:g}x faster: "
          f"{'met' if speedup >= TARGET_SPEEDUP else 'missed'}; >= {TARGET_STATE_RATIO:g}x "
          f"less training state: {'met' if state_ratio >= TARGET_STATE_RATIO else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
