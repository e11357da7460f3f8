#!/usr/bin/env python3
"""scripts/gpu/check.sh's judgements and report (standard library only).

    check_results.py skips UNIT.json UNIT.log --allow-cuda-skips 0|1
                                                       fail on a skipped CUDA case
    check_results.py learned CPU.jsonl DEVICE.jsonl --json OUT.json
                                                       did the device run learn (see learned())
    check_results.py summary --out DIR --dry 0|1 --pack DIR --seconds S
                                                       summary.md and summary.json in DIR
"""

import argparse
import datetime
import json
import math
import os
import subprocess
import sys

# The figures the GPU run is meant to reach; reported, not enforced.
TARGET_MFU = 0.45  # llama-1b bf16 full fine-tuning
TARGET_NEURON_VS_FULL = 0.7  # neuron-level 5% step time over full fine-tuning's
TARGET_VS_PYTORCH = 1.3  # neft tokens/s over PyTorch eager's


def skipped_tests(log_path: str) -> dict[str, str]:
    """Each skipped test of a gtest log, with the message it gave (the lines between its RUN
    and SKIPPED lines; gtest's JSON report leaves the message out)."""
    skipped, current, lines = {}, None, []
    with open(log_path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("[ RUN      ] "):
                current, lines = line[13:], []
            elif line.startswith("[  SKIPPED ] ") and current and line[13:].startswith(current):
                skipped[current] = " ".join(lines)
                current = None
            elif line.startswith(("[       OK ] ", "[  FAILED  ] ")):
                current = None
            elif current is not None:
                lines.append(line.strip())
    return skipped


def skips(args) -> int:
    """On a GPU every CUDA case must run: a skip that says CUDA was skipped (the tests' words
    for "no usable GPU") is a CUDA path not verified. Other skips are by design (an op with no
    bf16 form, the no-GPU error path when a GPU is present)."""
    with open(args.json) as f:
        report = json.load(f)
    skipped = skipped_tests(args.log)
    cuda = sorted(name for name, why in skipped.items() if "CUDA" in why and "skipped" in why)
    print(f"{report.get('tests', 0)} tests, {report.get('failures', 0)} failed, "
          f"{len(skipped)} skipped, {len(cuda)} of them CUDA cases")
    for name in cuda:
        print(f"  CUDA case skipped: {name}: {skipped[name]}")
    if cuda and args.allow_cuda_skips != "1":
        print("a skipped CUDA case on the GPU is a CUDA path not verified", file=sys.stderr)
        return 1
    return 0


def training_losses(path: str) -> list[float]:
    with open(path) as f:
        return [r["loss"] for r in map(json.loads, f) if "loss" in r]


def final_eval_loss(path: str):
    """The mean over tasks of the last evaluation's loss, or None."""
    last = None
    with open(path) as f:
        for r in map(json.loads, f):
            if "eval" in r and r["eval"]:
                last = r["eval"]
    if not last:
        return None
    losses = [s["loss"] for s in last.values() if "loss" in s]
    return sum(losses) / len(losses) if losses else None


def loss_drop(losses: list[float]) -> tuple[float, float]:
    """The mean of the first and of the last tenth of the steps' losses (at least one step)."""
    k = max(1, len(losses) // 10)
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


def learned(args) -> int:
    """The device run learns when its loss falls, end over start, at least half as far as the
    CPU run's of the same recipe (same seed, data and schedule; f32 there, bf16 on CUDA).
    Rounding moves the trajectory, so the runs are not compared step by step; but a device
    run whose loss ends above the midpoint between not learning (ratio 1) and the CPU's
    ratio has lost half of what the recipe learns, which no rounding difference explains."""
    cpu, dev = training_losses(args.cpu), training_losses(args.device)
    result = {"cpu_steps": len(cpu), "device_steps": len(dev)}
    ok = len(cpu) >= 2 and len(dev) == len(cpu) and all(math.isfinite(x) for x in cpu + dev)
    if ok:
        (c0, c1), (d0, d1) = loss_drop(cpu), loss_drop(dev)
        cpu_ratio, dev_ratio = c1 / c0, d1 / d0
        bound = (1 + cpu_ratio) / 2
        ok = cpu_ratio < 1 and dev_ratio <= bound
        result.update(cpu_loss_start=c0, cpu_loss_end=c1, cpu_ratio=cpu_ratio,
                      device_loss_start=d0, device_loss_end=d1, device_ratio=dev_ratio,
                      bound=bound, cpu_eval_loss=final_eval_loss(args.cpu),
                      device_eval_loss=final_eval_loss(args.device))
        print(f"loss, mean of the first -> last tenth of the steps: cpu {c0:.4f} -> {c1:.4f} "
              f"(x{cpu_ratio:.3f}), device {d0:.4f} -> {d1:.4f} (x{dev_ratio:.3f}); "
              f"must be <= x{bound:.3f}")
    else:
        print(f"unusable runs: {len(cpu)} CPU and {len(dev)} device steps, or a loss not finite")
    result["learned"] = ok
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print("learned" if ok else "did NOT learn")
    return 0 if ok else 1


def read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def read_jsonl(path: str) -> list:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError):
        return []


def command_output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def target_line(name: str, value, target: float, at_least: bool, fmt: str, dry: bool) -> str:
    if value is None:
        return f"| {name} | not measured | {'>=' if at_least else '<='} {target:{fmt}} | - |"
    met = value >= target if at_least else value <= target
    verdict = "n/a (dry run)" if dry else ("met" if met else "NOT met")
    return f"| {name} | {value:{fmt}} | {'>=' if at_least else '<='} {target:{fmt}} | {verdict} |"


def summary(args) -> int:
    out, dry = args.out, args.dry == "1"
    parts = []
    with open(os.path.join(out, "parts.tsv")) as f:
        for line in f:
            name, rc, seconds, cmd = line.rstrip("\n").split("\t", 3)
            parts.append({"part": name, "exit": int(rc), "seconds": int(seconds), "command": cmd})
    manifest = dict(line.rstrip("\n").split("=", 1)
                    for line in open(os.path.join(out, "pack-manifest.txt")) if "=" in line)
    gpu = command_output(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                          "--format=csv,noheader"]) or "none visible"
    train = read_json(os.path.join(out, "train-bench.json"))
    torch = read_json(os.path.join(out, "pytorch.json"))
    neuron = read_jsonl(os.path.join(out, "neuron-bench.jsonl"))
    learn = read_json(os.path.join(out, "learn.json"))
    neuron5 = next((r for r in neuron if r.get("config") != "full"), None)
    full = next((r for r in neuron if r.get("config") == "full"), None)

    mfu = train["mfu"] if train else None
    neuron_ratio = neuron5["step_time_vs_full_round_median"] if neuron5 else None
    vs_torch = (train["tokens_per_s"] / torch["tokens_per_s"]
                if train and torch and torch.get("tokens_per_s") else None)
    figures = {
        "mfu": mfu, "neuron_5pct_step_vs_full": neuron_ratio, "tokens_per_s_vs_pytorch": vs_torch,
        "neft_tokens_per_s": train["tokens_per_s"] if train else None,
        "pytorch_tokens_per_s": torch["tokens_per_s"] if torch else None,
        "pytorch_mfu": torch.get("mfu") if torch else None,
        "peak_gflops": train["peak_gflops"] if train else None,
    }
    failed = [p["part"] for p in parts if p["exit"] != 0]
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dry_run": dry, "gpu": gpu, "commit": manifest.get("commit"),
        "pack": manifest, "seconds": args.seconds, "parts": parts, "failed": failed,
        "figures": figures, "train_bench": train, "pytorch": torch, "neuron_bench": neuron,
        "learn": learn,
        "targets": {"mfu": TARGET_MFU, "neuron_5pct_step_vs_full": TARGET_NEURON_VS_FULL,
                    "tokens_per_s_vs_pytorch": TARGET_VS_PYTORCH},
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(result, f, indent=1)

    md = [f"# neft GPU check{' (dry run: CPU, tiny model)' if dry else ''}", "",
          f"- date: {result['date']}",
          f"- GPU: {gpu}",
          f"- commit: {manifest.get('commit')}{' (with uncommitted changes)' if manifest.get('dirty') == 'true' else ''}"
          f", packed {manifest.get('packed_at')}, CUDA architectures {manifest.get('cuda_architectures') or 'none (CPU-only build)'}",
          f"- result: {'all parts passed' if not failed else 'FAILED: ' + ', '.join(failed)}"
          f" in {args.seconds} s", "",
          "| part | exit | s | command |", "| --- | --- | --- | --- |"]
    md += [f"| {p['part']} | {p['exit']} | {p['seconds']} | `{p['command']}` |" for p in parts]
    md += ["", "## Figures", ""]
    unit = read_json(os.path.join(out, "unit-tests.json"))
    if unit:
        skipped = skipped_tests(os.path.join(out, "unit-tests.log"))
        cuda_skips = sum("CUDA" in why and "skipped" in why for why in skipped.values())
        md.append(f"- unit tests (CUDA cases and golden tests): {unit.get('tests', 0)} run, "
                  f"{unit.get('failures', 0)} failed, {len(skipped)} skipped, {cuda_skips} of "
                  f"them CUDA cases")
    if train:
        md.append(f"- neft, {train['preset']} full fine-tuning, {train['device']} {train['dtype']}, "
                  f"batch {train['batch']} x seq {train['seq']}: {train['tokens_per_s']:.0f} tokens/s, "
                  f"step {train['step_ms_median']:.1f} ms, MFU {100 * train['mfu']:.1f}% of "
                  f"{train['peak_gflops']:.0f} GFLOP/s, peak memory "
                  f"{train['memory_bytes']['peak_allocated'] / 2**30:.2f} GiB")
    if full and neuron5:
        md.append(f"- neuron-level {neuron5['config']} ({neuron5['selected_parameters']} of "
                  f"{neuron5['parameters']} parameters): step {neuron5['step_ms_median']:.1f} ms "
                  f"against full {full['step_ms_median']:.1f} ms (x{neuron_ratio:.3f}, the median "
                  f"of the rounds' ratios); training state x{neuron5['state_vs_full']:.4f}")
    if torch:
        md.append(f"- PyTorch {torch['torch_version']} eager ({torch['dtype']}"
                  f"{' autocast over f32 weights' if torch['dtype'] == 'bfloat16' else ''}, "
                  f"attn {torch['attn']}), same batch: {torch['tokens_per_s']:.0f} tokens/s"
                  + (f", MFU {100 * torch['mfu']:.1f}%" if torch.get("mfu") else "")
                  + (f"; neft / PyTorch x{vs_torch:.2f}" if vs_torch else ""))
    if learn and "cpu_ratio" in learn:
        md.append(f"- learning (synthetic tasks, {learn['device_steps']} steps): loss "
                  f"{learn['device_loss_start']:.3f} -> {learn['device_loss_end']:.3f} "
                  f"(x{learn['device_ratio']:.3f}) against the CPU's x{learn['cpu_ratio']:.3f}; "
                  f"bound x{learn['bound']:.3f}: {'learned' if learn['learned'] else 'did NOT learn'}")
    for title, name in (("Commands (pack/ is where the pack was unpacked)", "commands.txt"),
                        ("Environment", "environment.txt")):
        try:
            with open(os.path.join(out, name)) as f:
                md += ["", f"## {title}", "", "```", f.read().rstrip("\n"), "```"]
        except OSError:
            pass
    md += ["", "## Targets (reported, not enforced)", "",
           "| figure | measured | target | |", "| --- | --- | --- | --- |",
           target_line("MFU, full fine-tuning", mfu, TARGET_MFU, True, ".3f", dry),
           target_line("neuron-level 5% step / full", neuron_ratio, TARGET_NEURON_VS_FULL,
                       False, ".3f", dry),
           target_line("tokens/s, neft / PyTorch eager", vs_torch, TARGET_VS_PYTORCH, True,
                       ".2f", dry), ""]
    text = "\n".join(md)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("skips")
    p.add_argument("json")
    p.add_argument("log")
    p.add_argument("--allow-cuda-skips", default="0")
    p = sub.add_parser("learned")
    p.add_argument("cpu")
    p.add_argument("device")
    p.add_argument("--json", required=True)
    p = sub.add_parser("summary")
    p.add_argument("--out", required=True)
    p.add_argument("--dry", default="0")
    p.add_argument("--pack", required=True)
    p.add_argument("--seconds", type=int, default=0)
    args = parser.parse_args()
    return {"skips": skips, "learned": learned, "summary": summary}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
