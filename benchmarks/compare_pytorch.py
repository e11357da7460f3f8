#!/usr/bin/env python3
"""neft against PyTorch on the same training step: tokens/s side by side.

Runs neft_train_bench and benchmarks/pytorch_train_step.py with the same preset, batch and
sequence length, interleaved (neft, pytorch, neft, pytorch, ... for --rounds rounds) so that
drift in the machine's speed hits both alike, each with --json, and prints per round the
tokens/s of each, then the medians and the ratio neft / pytorch. PyTorch's MFU is computed
against the same peak estimate neft reports. Where PyTorch (or transformers) is not
importable by the chosen interpreter it says so and runs neft alone.

    benchmarks/compare_pytorch.py --preset small-20m --batch 8 --seq 256 --rounds 3
    PYTHON=/path/to/venv/bin/python benchmarks/compare_pytorch.py

Standard library only; the interpreter that runs PyTorch is $PYTHON (default python3) or
--python.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTORCH_SCRIPT = os.path.join(HERE, "pytorch_train_step.py")


def default_bench(name: str = "neft_train_bench") -> str:
    """The first benchmark executable `name` found in the usual build directories."""
    for build in ("build", "build-release"):
        path = os.path.join(ROOT, build, "benchmarks", name)
        if os.path.exists(path):
            return path
    return os.path.join(ROOT, "build", "benchmarks", name)


def run_json_lines(cmd: list[str], env: dict) -> list[dict]:
    """Runs one benchmark; its JSON results, one per stdout line that holds an object (at
    least one; a library's stray line on stdout is passed over)."""
    name = os.path.basename(sys.argv[0])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        sys.exit(f"{name}: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n  "
                 + "\n  ".join(tail))
    try:
        results = [json.loads(line) for line in proc.stdout.splitlines()
                   if line.startswith("{")]
    except json.JSONDecodeError:
        results = []
    if not results:
        sys.exit(f"{name}: `{' '.join(cmd)}` printed no JSON line")
    return results


def run_json(cmd: list[str], env: dict) -> dict:
    """Runs one benchmark; its last JSON line is the result."""
    return run_json_lines(cmd, env)[-1]


def torch_missing(python: str) -> str | None:
    """None when `python` imports torch and transformers, else why not."""
    try:
        proc = subprocess.run([python, "-c", "import torch, transformers"],
                              capture_output=True, text=True)
    except OSError as e:
        return f"{python}: {e.strerror}"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return lines[-1] if lines else f"{python} exited {proc.returncode}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small-20m")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="neft + pytorch runs, interleaved")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--bench", default=os.environ.get("NEFT_TRAIN_BENCH", default_bench()),
                        help="the neft_train_bench executable ($NEFT_TRAIN_BENCH)")
    parser.add_argument("--python", default=os.environ.get("PYTHON", "python3"),
                        help="the interpreter with torch and transformers ($PYTHON)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if not os.access(args.bench, os.X_OK):
        parser.error(f"--bench {args.bench}: not an executable (build neft_train_bench, "
                     "or pass its path)")

    shape = ["--preset", args.preset, "--batch", str(args.batch), "--seq", str(args.seq),
             "--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
    env = dict(os.environ)
    missing = torch_missing(args.python)
    if missing:
        print(f"PyTorch not importable by {args.python} ({missing}): running neft alone")

    neft, torch = [], []
    for r in range(args.rounds):
        neft.append(run_json([args.bench, *shape, "--json"], env))
        print(f"round {r + 1}/{args.rounds}: neft {neft[-1]['tokens_per_s']:.0f} tokens/s",
              end="", flush=True)
        if not missing:
            # The same peak for both programs' MFU: neft's estimate of this device.
            peak = ["--peak-gflops", str(neft[-1]["peak_gflops"])]
            torch.append(run_json([args.python, PYTORCH_SCRIPT, *shape, *peak, "--json"], env))
            print(f", pytorch {torch[-1]['tokens_per_s']:.0f} tokens/s", end="")
        print(flush=True)

    first = neft[0]
    print(f"\n{args.preset}, batch {args.batch} x seq {args.seq}, {args.device} "
          f"{first['dtype']}, {first['threads']} threads, {args.steps} timed steps per run "
          f"(median), {first['flops_per_token'] / 1e6:.1f} MFLOP/token")
    if torch:
        print(f"pytorch {torch[0]['torch_version']}, transformers "
              f"{torch[0]['transformers_version']}, attn {torch[0]['attn']}")
    print()
    header = f"{'round':<8} {'neft tok/s':>12}"
    if torch:
        header += f" {'pytorch tok/s':>14} {'neft/pytorch':>13}"
    print(header)
    print("-" * len(header))
    for r in range(args.rounds):
        line = f"{r + 1:<8} {neft[r]['tokens_per_s']:>12.0f}"
        if torch:
            line += (f" {torch[r]['tokens_per_s']:>14.0f}"
                     f" {neft[r]['tokens_per_s'] / torch[r]['tokens_per_s']:>13.2f}")
        print(line)
    neft_median = statistics.median(x["tokens_per_s"] for x in neft)
    line = f"{'median':<8} {neft_median:>12.0f}"
    if torch:
        torch_median = statistics.median(x["tokens_per_s"] for x in torch)
        line += f" {torch_median:>14.0f} {neft_median / torch_median:>13.2f}"
    print(line)

    fpt = first["flops_per_token"]
    peak = first["peak_gflops"]
    print(f"\nneft:    {neft_median * fpt / 1e9:.1f} GFLOP/s, MFU "
          f"{100 * neft_median * fpt / 1e9 / peak:.1f}% of {peak:.0f} GFLOP/s")
    if torch:
        if torch[0]["flops_per_token"] != fpt:
            print(f"note: FLOPs/token differ (neft {fpt}, pytorch "
                  f"{torch[0]['flops_per_token']}): the shapes do not match")
        print(f"pytorch: {torch_median * fpt / 1e9:.1f} GFLOP/s, MFU "
              f"{100 * torch_median * fpt / 1e9 / peak:.1f}% of {peak:.0f} GFLOP/s")
        print(f"neft / pytorch (median tokens/s): {neft_median / torch_median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
