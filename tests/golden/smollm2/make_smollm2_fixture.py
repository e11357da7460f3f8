#!/usr/bin/env python3
"""Makes the SmolLM2-135M-Instruct fixture: transformers' answers for the real model, read from
the same GGUF file `neft import-gguf` reads (scripts/fetch_smollm2.sh fetches it).

transformers loads the GGUF itself (dequantizing Q4_1 / Q8_0 and undoing llama.cpp's q/k
permutation) as LlamaForCausalLM in fp32 with eager attention, and builds its tokenizer from
the file's tokenizer.ggml.* keys. One correction: transformers does not know llama.cpp's
pre-tokenizer name "smollm" and falls back to GPT-2's split, which SmolLM2's own tokenizer.json
does not use (it puts every digit on its own first: Digits, then ByteLevel); the reference
here is given SmolLM2's own pre-tokenizer, as neft's import gives it.

Writes, next to this script:
  golden.safetensors  for each text k of TEXTS: ids_k I32 [T] (encode, no special tokens
                      added), and at every position the log-sum-exp of the logits
                      (lse_k F32 [T]), the argmax (argmax_k I32 [T]) and the logits of every
                      64th vocabulary id (logits_k F32 [T, 768]); metadata: the texts
  ids.jsonl           the ids of each string of ../tokenizers/strings.jsonl

Run from the repository root:  python3 tests/golden/smollm2/make_smollm2_fixture.py [GGUF]
needs: pip install torch transformers gguf accelerate safetensors
"""

import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
STRIDE = 64

TEXTS = [
    "The quick brown fox jumps over the lazy dog. In 2024, 3.14 people ate 1,000 pies.",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "Neurons that matter for a task can be found, and trained alone: café, naïve, 東京.",
]


def load_reference(gguf):
    """transformers' tokenizer and fp32 eager model from the GGUF, with SmolLM2's own split."""
    torch.manual_seed(0)
    d, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    model = AutoModelForCausalLM.from_pretrained(
        d, gguf_file=name, dtype=torch.float32, attn_implementation="eager").eval()
    return tok, model


def main() -> int:
    gguf = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_GGUF
    torch.set_num_threads(1)
    tok, model = load_reference(gguf)
    golden = {}
    with torch.no_grad():
        for k, text in enumerate(TEXTS):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            golden[f"ids_{k}"] = torch.tensor(ids, dtype=torch.int32)
            golden[f"lse_{k}"] = torch.logsumexp(logits, dim=-1)
            golden[f"argmax_{k}"] = logits.argmax(dim=-1).to(torch.int32)
            golden[f"logits_{k}"] = logits[:, ::STRIDE].contiguous()
    meta = {"texts": json.dumps(TEXTS), "stride": str(STRIDE), "gguf": name,
            "torch_version": torch.__version__, "transformers_version": transformers.__version__}
    save_file(golden, os.path.join(HERE, "golden.safetensors"), metadata=meta)
    os.chmod(os.path.join(HERE, "golden.safetensors"), 0o644)
    strings = os.path.join(ROOT, "tests", "golden", "tokenizers", "strings.jsonl")
    with open(strings, encoding="utf-8") as f, open(os.path.join(HERE, "ids.jsonl"), "w") as out:
        for line in f:
            ids = tok(json.loads(line)["text"], add_special_tokens=False)["input_ids"]
            out.write(json.dumps({"ids": ids}, separators=(",", ":")) + "\n")
    print("argmax of text 0:", tok.decode(golden["argmax_0"].tolist()[:12]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
