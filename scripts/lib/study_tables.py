#!/usr/bin/env python3
"""The deactivation and continual tables of a study (scripts/study_synthetic.sh,
scripts/study_smollm2.sh), as mean ± sd over the seeds, from the JSONL files the runs leave
under OUT/seed-<s>/ (Python's standard library only):

  study_tables.py OUT --seeds 1,2,3 --tasks copy,reverse,... \
      --step-times RUN [...]                   each seed's run directories' step times
      --overlap FILE                           each seed's `neft analyze overlap --out` file
      --deactivate LABEL=FILE [...]            each seed's `neft analyze deactivate --out` file
      [--deactivate-matrix]                    every set in one table (exact, then loss)
      --continual METHOD[=RUN[:unweighted]] ... each seed's `neft continual` run directory
      --continual-tasks shift,sort,reverse

A deactivation row is each seed's mean over its records (for "random", over the seed's random
sets), then mean ± sd over the seeds. A continual method's row is the average accuracy after
the last stage and the backward transfer, mean (in %, points) of A[last][j] and of A[last][j]
- A[j][j] over j < last; RUN:unweighted reads a W-NCFT run's unweighted matrix (NCFT's: the
same training).
"""
import argparse
import json
import statistics


def ms(xs, digits=1):
    m = f"{statistics.mean(xs):.{digits}f}"
    return f"{m} ± {statistics.stdev(xs):.{digits}f}" if len(xs) > 1 else m


def deactivation_per_seed(out, seeds, file):
    """(zeroed, task) -> [(exact %, loss)] per seed, each a mean over the seed's records."""
    per_seed = {}
    for s in seeds:
        groups = {}
        for r in map(json.loads, open(f"{out}/seed-{s}/{file}")):
            groups.setdefault((r["zeroed"], r["task"]), []).append(r)
        for key, rs in groups.items():
            per_seed.setdefault(key, []).append(
                (100 * statistics.mean(r["accuracy"] for r in rs),
                 statistics.mean(r["loss"] for r in rs)))
    return per_seed


def deactivation(out, seeds, tasks, label, file):
    per_seed = deactivation_per_seed(out, seeds, file)
    sets = len([1 for r in map(json.loads, open(f"{out}/seed-{seeds[0]}/{file}"))
                if r["zeroed"] == "random" and r["task"] == tasks[0]])
    names = {"none": "nothing", "set": f"{label}'s neurons",
             "random": f"random ({sets} sets a seed)"}
    print(f"\n## deactivation: {label}'s neurons against random sets (exact match %, loss)\n")
    print("| zeroed | task | exact (%) | loss |\n|---|---|---:|---:|")
    for task in tasks:
        for zeroed in ["none", "set", "random"]:
            v = per_seed[(zeroed, task)]
            print(f"| {names[zeroed]} | {task} | {ms([x[0] for x in v])} | "
                  f"{ms([x[1] for x in v], 3)} |")


def step_times(out, seeds, runs):
    """Each run's median step time after its first five steps (metrics.jsonl's elapsed_s),
    mean ± sd over the seeds."""
    print("\n## step time (ms): each run's median after its first five steps\n")
    print("| run | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd |")
    print("|---|" + "---:|" * (len(seeds) + 1))
    for run in runs:
        medians = []
        for s in seeds:
            elapsed = [r["elapsed_s"] for r in map(json.loads, open(
                f"{out}/seed-{s}/{run}/metrics.jsonl")) if "elapsed_s" in r]
            steps = [b - a for a, b in zip(elapsed, elapsed[1:])][4:]
            medians.append(1000 * statistics.median(steps))
        print(f"| {run} | " + " | ".join(f"{m:.0f}" for m in medians) + f" | {ms(medians, 0)} |")


def overlap(out, seeds, file):
    pairs = {}
    for s in seeds:
        for r in map(json.loads, open(f"{out}/seed-{s}/{file}")):
            pairs.setdefault((r["a"], r["b"]), []).append(r)
    print("\n## overlap: intersection over union of the neuron sets\n")
    print("| sets | neurons (each) | common | IoU |\n|---|---:|---:|---:|")
    for (a, b), rs in pairs.items():
        print(f"| {a} & {b} | {ms([r['a_neurons'] for r in rs], 0)} | "
              f"{ms([r['common'] for r in rs], 1)} | {ms([r['iou'] for r in rs], 3)} |")


def deactivation_matrix(out, seeds, tasks, specs):
    """Every set in one table: exact match, then loss, per task (columns)."""
    rows = []
    for spec in specs:
        label, _, file = spec.partition("=")
        per_seed = deactivation_per_seed(out, seeds, file)
        if not rows:
            rows.append(("nothing", {t: per_seed[("none", t)] for t in tasks}))
        rows.append((f"{label} neurons", {t: per_seed[("set", t)] for t in tasks}))
        rows.append((f"random, as many as {label}", {t: per_seed[("random", t)] for t in tasks}))
    for what, k, digits in (("exact match %", 0, 1), ("loss", 1, 3)):
        print(f"\n## deactivation: {what} with each set zeroed (random: each seed's mean over "
              "its sets)\n")
        print("| zeroed | " + " | ".join(tasks) + " |\n|---|" + "---:|" * len(tasks))
        for name, v in rows:
            print(f"| {name} | " + " | ".join(ms([x[k] for x in v[t]], digits) for t in tasks)
                  + " |")


def continual(out, seeds, tasks, methods):
    print(f"\n## continual: {', '.join(tasks)} (exact match %, after the last stage)\n")
    print("| method | average accuracy | backward transfer (points) | " + " | ".join(tasks) + " |")
    print("|---|---:|---:|" + "---:|" * len(tasks))
    for spec in methods:
        method, _, source = spec.partition("=")
        run, _, matrix = (source or method).partition(":")
        avg, bwt, last = [], [], {t: [] for t in tasks}
        for s in seeds:
            recs = [json.loads(l) for l in open(f"{out}/seed-{s}/continual-{run}/continual.jsonl")]
            acc = [(r[matrix] if matrix else r)["accuracy"] for r in recs]
            order = [r["task"] for r in recs]
            a = [[row[t] for t in order] for row in acc]
            avg.append(100 * statistics.mean(a[-1]))
            bwt.append(100 * statistics.mean(a[-1][j] - a[j][j] for j in range(len(a) - 1)))
            for t in tasks:
                last[t].append(100 * acc[-1][t])
        print(f"| {method} | {ms(avg)} | {ms(bwt)} | " + " | ".join(ms(last[t]) for t in tasks)
              + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--seeds", required=True)
    p.add_argument("--tasks", required=True, help="the tasks the deactivation runs evaluate")
    p.add_argument("--step-times", nargs="*", default=[], metavar="RUN")
    p.add_argument("--overlap", default="", metavar="FILE")
    p.add_argument("--deactivate", nargs="*", default=[], metavar="LABEL=FILE")
    p.add_argument("--deactivate-matrix", action="store_true",
                   help="the deactivation sets in one table per measure, not one table a set")
    p.add_argument("--continual", nargs="*", default=[], metavar="METHOD[=RUN[:unweighted]]")
    p.add_argument("--continual-tasks", default="")
    a = p.parse_args()
    seeds = a.seeds.split(",")
    if a.step_times:
        step_times(a.out, seeds, a.step_times)
    if a.overlap:
        overlap(a.out, seeds, a.overlap)
    if a.deactivate_matrix:
        deactivation_matrix(a.out, seeds, a.tasks.split(","), a.deactivate)
    for spec in [] if a.deactivate_matrix else a.deactivate:
        label, _, file = spec.partition("=")
        deactivation(a.out, seeds, a.tasks.split(","), label, file)
    if a.continual:
        continual(a.out, seeds, a.continual_tasks.split(","), a.continual)


if __name__ == "__main__":
    main()
