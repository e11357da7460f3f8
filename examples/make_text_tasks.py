#!/usr/bin/env python3
"""Writes small text tasks as chat JSONL (TRL's {"messages": [...]} format, one line per
conversation, each naming its "task"), split three ways with no input shared between splits:

  dates: "Write 2021-07-14 as a date in words."       ->  "14 July 2021"
  sums:  "What is 47 + 38?"                          ->  "85"
  times: "Write 17:05 on a 12-hour clock."            ->  "5:05 pm"
  roman: "Write 1987 in Roman numerals."              ->  "MCMLXXXVII"

An instruction-tuned model answers both, but in its own words ("July 14, 2021", "47 + 38 =
85."), so exact match of its greedy answer starts low; what fine-tuning has to learn is the
answer's form, and for sums to add right. By default the files hold dates and sums (the README's
fine-tuning runs); --tasks chooses others (the continual study takes three). train.jsonl is for training, validation.jsonl for
choosing settings, test.jsonl for the figures reported (never for choosing anything).

  examples/make_text_tasks.py [OUT_DIR] [--tasks dates,sums,...]
      (default: runs/text-tasks, dates,sums; Python's standard library only; the same files
      every time for the same tasks, and each task's lines the same whatever comes after it)
"""
import datetime
import json
import os
import random
import sys

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
SPLITS = {"train": 400, "validation": 50, "test": 100}  # conversations per task


def date_item(rng):
    day = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(365 * 100))
    key = day.isoformat()
    return key, f"Write {key} as a date in words.", f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def sum_item(rng):
    a, b = rng.randrange(10, 100), rng.randrange(10, 100)
    return (a, b), f"What is {a} + {b}?", str(a + b)


def time_item(rng):
    hour, minute = rng.randrange(24), rng.randrange(60)
    twelve = f"{(hour + 11) % 12 + 1}:{minute:02d} {'am' if hour < 12 else 'pm'}"
    return (hour, minute), f"Write {hour:02d}:{minute:02d} on a 12-hour clock.", twelve


ROMAN = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
         (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def roman_item(rng):
    n = rng.randrange(1, 2100)
    left, numeral = n, ""
    for value, letters in ROMAN:
        while left >= value:
            numeral += letters
            left -= value
    return n, f"Write {n} in Roman numerals.", numeral


TASKS = {"dates": date_item, "sums": sum_item, "times": time_item, "roman": roman_item}


def main():
    args = sys.argv[1:]
    names = ["dates", "sums"]
    if "--tasks" in args:
        i = args.index("--tasks")
        if i + 1 == len(args):
            sys.exit("make_text_tasks.py: --tasks needs a comma-separated list")
        names = args[i + 1].split(",")
        del args[i:i + 2]
        for name in names:
            if name not in TASKS:
                sys.exit(f"make_text_tasks.py: unknown task '{name}' (known: {', '.join(TASKS)})")
    out = args[0] if args else os.path.join("runs", "text-tasks")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261206)
    lines = {split: [] for split in SPLITS}
    for task, make in ((name, TASKS[name]) for name in names):
        seen = set()
        for split, count in SPLITS.items():
            while sum(1 for l in lines[split] if l["task"] == task) < count:
                key, question, answer = make(rng)
                if key in seen:
                    continue  # every input belongs to one split only
                seen.add(key)
                lines[split].append({"task": task, "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer}]})
    for split, rows in lines.items():
        rng.shuffle(rows)
        path = os.path.join(out, split + ".jsonl")
        with open(path, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        print(f"{path}: {len(rows)} conversations")


if __name__ == "__main__":
    main()
