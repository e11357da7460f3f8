#!/usr/bin/env python3
"""Writes two small text tasks as chat JSONL (TRL's {"messages": [...]} format, one line per
conversation, each naming its "task"), split three ways with no input shared between splits:

  dates: "Write 2021-07-14 as a date in words."  ->  "14 July 2021"
  sums:  "What is 47 + 38?"                     ->  "85"

An instruction-tuned model answers both, but in its own words ("July 14, 2021", "47 + 38 =
85."), so exact match of its greedy answer starts low; what fine-tuning has to learn is the
answer's form, and for sums to add right. train.jsonl is for training, validation.jsonl for
choosing settings, test.jsonl for the figures reported (never for choosing anything).

  examples/make_text_tasks.py [OUT_DIR]        (default: runs/text-tasks; Python's standard
                                                library only; the same files every time)
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


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("runs", "text-tasks")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261206)
    lines = {split: [] for split in SPLITS}
    for task, make in (("dates", date_item), ("sums", sum_item)):
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
