#!/usr/bin/env python3
"""Makes the SmolLM2-135M-Instruct generation fixture: transformers' greedy generate() on the
real model, read from the same GGUF file `neft import-gguf` reads (as make_smollm2_fixture.py
loads it: load_reference there).

Each of the PROMPTS is a user message rendered with the model's chat template and the
assistant's header (apply_chat_template(add_generation_prompt=True)), then generated from
greedily (do_sample=False) for up to MAX_NEW tokens, stopping at eos. Writes greedy.jsonl
next to this script, one line per prompt:
  {"prompt": text, "prompt_ids": [...], "ids": [generated ids, a final eos included],
   "margins": per step, the gap between the best and the second-best logit}
The margin says how far each greedy choice was from a tie: where it is far above the two
implementations' logit differences (2e-6 of the logits' spread, test_gguf_smollm2.cpp), the
same token must come out.

Run from the repository root:  python3 tests/golden/smollm2/make_generation_fixture.py [GGUF]
needs: pip install torch transformers gguf accelerate
"""

import json
import os
import sys

import torch

from make_smollm2_fixture import load_reference

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
MAX_NEW = 40

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "What is 12 + 35?",
    "Explain photosynthesis in one sentence.",
    "Translate 'good morning' into Spanish.",
    "List three primary colors.",
    "Write a Python function that returns the square of a number.",
    "Who wrote Romeo and Juliet?",
    "What is the boiling point of water in Celsius?",
    "Give me a synonym for 'happy'.",
    "How many legs does a spider have?",
    "Name a planet in our solar system.",
    "What does CPU stand for?",
    "Summarize: The cat sat on the mat all day and refused to move.",
    "Is 17 a prime number?",
    "What is the opposite of 'cold'?",
    "Write one sentence about autumn leaves.",
    "What language is spoken in Brazil?",
    "Convert 3 kilometers to meters.",
    "Tell me a fun fact about octopuses.",
    "What is the chemical symbol for gold?",
    "Describe the color blue to someone who cannot see.",
    "東京はどこの国の首都ですか?",
    "Complete the sequence: 2, 4, 8, 16, ...",
]


def main() -> int:
    gguf = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_GGUF
    torch.set_num_threads(2)
    tok, model = load_reference(gguf)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    with open(os.path.join(HERE, "greedy.jsonl"), "w", encoding="utf-8") as out:
        for prompt in PROMPTS:
            text = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                           tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                g = model.generate(torch.tensor([ids]), max_new_tokens=MAX_NEW, do_sample=False,
                                   eos_token_id=eos, pad_token_id=eos, output_scores=True,
                                   return_dict_in_generate=True, temperature=None, top_p=None,
                                   top_k=None)
            new = g.sequences[0, len(ids):].tolist()
            margins = [round(float(s[0].topk(2).values[0] - s[0].topk(2).values[1]), 6)
                       for s in g.scores]
            margin = min(margins)
            out.write(json.dumps({"prompt": prompt, "prompt_ids": ids, "ids": new,
                                  "margins": margins}, ensure_ascii=False) + "\n")
            print(f"{margin:8.4f} {prompt[:40]!r} -> {tok.decode(new)[:60]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
