#!/usr/bin/env python3
"""The deactivation and continual tables of a study (scripts/study_synthetic.sh,
scripts/study_smollm2.sh), as mean ± sd over the seeds, from the JSONL files the runs leave
under OUT/seed-<s>/ (Python's standard library only):

  study_tables.py OUT --seeds 1,2,3 --tasks copy,reverse,... \
      --deactivate LABEL=FILE [...]            each seed's `neft analyze deactivate --out` file
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


def deactivation(out, seeds, tasks, label, file):
    per_seed = {}
    for s in seeds:
        groups = {}
        for r in map(json.loads, open(f"{out}/seed-{s}/{file}")):
            groups.setdefault((r["zeroed"], r["task"]), []).append(r)
        for key, rs in groups.items():
            per_seed.setdefault(key, []).append(
                (100 * statistics.mean(r["accuracy"] for r in rs),
                 statistics.mean(r["loss"] for r in rs)))
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
    p.add_argument("--deactivate", nargs="*", default=[], metavar="LABEL=FILE")
    p.add_argument("--continual", nargs="*", default=[], metavar="METHOD[=RUN[:unweighted]]")
    p.add_argument("--continual-tasks", default="")
    a = p.parse_args()
    seeds = a.seeds.split(",")
    for spec in a.deactivate:
        label, _, file = spec.partition("=")
        deactivation(a.out, seeds, a.tasks.split(","), label, file)
    if a.continual:
        continual(a.out, seeds, a.continual_tasks.split(","), a.continual)


if __name__ == "__main__":
    main()
