#!/usr/bin/env python3
"""neft's tokenizer against Hugging Face tokenizers on the same text: encode MB/s, one thread.

For each family's tokenizer.json under tests/golden/tokenizers/ it runs, interleaved for
--rounds rounds (neft, HF, neft, HF, ...) so that drift in the machine's speed hits both
alike, neft_tokenizer_bench and tokenizers' Tokenizer.encode_batch under
RAYON_NUM_THREADS=1 (one thread, the loop in Rust: tokenizers at its fastest on one core),
each on every line of the same JSONL --passes times with a freshly loaded tokenizer, and
prints the median MB/s of each and the ratio neft / HF.

    benchmarks/tokenizer_vs_hf.py --rounds 5
    PYTHON=/path/to/venv/bin/python benchmarks/tokenizer_vs_hf.py --families gpt2,llama2

Standard library only; the interpreter that runs tokenizers is $PYTHON (default python3) or
--python.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "golden", "tokenizers")
FAMILIES = "gpt2,llama3,smollm2,qwen2,llama2,mistral"


def hf_worker(tokenizer: str, input_path: str, passes: int) -> None:
    """Runs in the tokenizers interpreter: one timed round, printed as a JSON line."""
    from tokenizers import Tokenizer

    with open(input_path, encoding="utf-8") as f:
        lines = [json.loads(line)["text"] for line in f]
    nbytes = sum(len(s.encode("utf-8")) for s in lines)
    tok = Tokenizer.from_file(os.path.join(tokenizer, "tokenizer.json"))
    t0 = time.perf_counter()
    tokens = 0
    for _ in range(passes):
        tokens = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
    sec = time.perf_counter() - t0
    print(json.dumps({"framework": "tokenizers", "mb_per_s": nbytes * passes / sec / 1e6,
                      "tokens": tokens}))


def run_json(cmd: list, env: dict) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"tokenizer_vs_hf: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n"
                 + (proc.stderr or proc.stdout)[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", default=FAMILIES)
    p.add_argument("--input", default=os.path.join(FIXTURES, "strings.jsonl"))
    p.add_argument("--passes", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks",
                                                   "neft_tokenizer_bench"))
    p.add_argument("--python", default=os.environ.get("PYTHON", "python3"))
    p.add_argument("--hf-worker", nargs=2, metavar=("TOKENIZER", "PASSES"),
                   help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.hf_worker:
        hf_worker(a.hf_worker[0], a.input, int(a.hf_worker[1]))
        return 0
    env = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1")
    print(f"input {os.path.relpath(a.input, ROOT)}, {a.passes} passes a round, {a.rounds} rounds, "
          "one thread")
    print("| family | neft MB/s | tokenizers MB/s | neft / tokenizers |")
    print("|---|---|---|---|")
    for family in a.families.split(","):
        d = os.path.join(FIXTURES, family)
        ours, theirs = [], []
        for _ in range(a.rounds):
            ours.append(run_json([a.bench, "--tokenizer", d, "--input", a.input, "--passes",
                                  str(a.passes), "--rounds", "1", "--json"], env)["mb_per_s"])
            theirs.append(run_json([a.python, __file__, "--input", a.input, "--hf-worker", d,
                                    str(a.passes)], env)["mb_per_s"])
        m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
        print(f"| {family} | {m_ours:.2f} | {m_theirs:.2f} | {m_ours / m_theirs:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
