#!/usr/bin/env python3
"""Checks that a model saved by neft loads in HF transformers and computes neft's logits.

    python3 tests/golden/check_hf_load.py MODEL_DIR LOGITS_FILE [--tol 1e-4] [--rtol 0]

MODEL_DIR    a model directory as neft saves it: config.json plus model.safetensors, or
             shards with model.safetensors.index.json; a LoRA run's (neft train
             --lora-rank) also holds adapter_config.json and adapter_model.safetensors, which
             transformers' PEFT integration attaches on loading (needs pip install peft):
             the check is then that PEFT computes neft's adapted logits.
LOGITS_FILE  a safetensors file with
               tokens     I32 [B,T]
               positions  I32 [B,T] or [T]  (optional; default 0..T-1 in every row)
               logits     F32 [B,T,V]       as neft computed them.
             A golden.safetensors from make_fixtures.py also qualifies (extra keys are
             ignored), which is how this script itself is tested.

The model is loaded with LlamaForCausalLM.from_pretrained in fp32 with eager attention,
whatever dtype config.json names, and run on CPU over the tokens with a plain causal mask
(no padding, no packed-document masking). The comparison is numpy.allclose's:
every |neft - hf| <= tol + rtol * |hf|.

Prints the max abs diff, its position, and the relative diff ||neft - hf|| / ||hf||.
Exit status: 0 within tolerance, 1 outside it, 2 when the inputs cannot be compared.

needs: pip install torch transformers safetensors numpy
"""

import argparse
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM
from transformers.utils import logging as hf_logging


def fail(message: str) -> None:
    print(f"check_hf_load: {message}", file=sys.stderr)
    sys.exit(2)


def read_logits_file(path: str):
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    try:
        tensors = load_file(path)
    except Exception as e:  # the library's errors are multi-line; keep ours to one
        fail(f"{path}: not a readable safetensors file ({type(e).__name__})")
    for key in ("tokens", "logits"):
        if key not in tensors:
            fail(f"{path}: missing tensor '{key}'")
    tokens, logits = tensors["tokens"], tensors["logits"]
    if tokens.ndim != 2:
        fail(f"{path}: 'tokens' must be [B,T], got {list(tokens.shape)}")
    if logits.ndim != 3 or list(logits.shape[:2]) != list(tokens.shape):
        fail(f"{path}: 'logits' must be [B,T,V] with [B,T] = {list(tokens.shape)}, "
             f"got {list(logits.shape)}")
    positions = tensors.get("positions")
    if positions is not None:
        if positions.ndim == 1:
            positions = positions.unsqueeze(0).expand_as(tokens)
        if list(positions.shape) != list(tokens.shape):
            fail(f"{path}: 'positions' must be [B,T] or [T] matching 'tokens' "
                 f"{list(tokens.shape)}, got {list(tensors['positions'].shape)}")
        positions = positions.long()
    return tokens.long(), positions, logits.float()


def load_model(model_dir: str) -> LlamaForCausalLM:
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        fail(f"{model_dir}: no config.json")
    model = LlamaForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager"
    )
    has_adapter = os.path.isfile(os.path.join(model_dir, "adapter_config.json"))
    if has_adapter and not hasattr(model, "peft_config"):
        fail(f"{model_dir}: has adapter_config.json but transformers loaded no adapter "
             "(is peft installed?)")
    if has_adapter:
        print(f"loaded the LoRA adapter of {model_dir} with PEFT")
    return model.eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("logits_file")
    parser.add_argument("--tol", type=float, default=1e-4, help="absolute tolerance")
    parser.add_argument("--rtol", type=float, default=0.0, help="tolerance relative to |hf|")
    args = parser.parse_args()

    torch.use_deterministic_algorithms(True)
    hf_logging.disable_progress_bar()
    tokens, positions, neft_logits = read_logits_file(args.logits_file)
    model = load_model(args.model_dir)
    vocab = model.config.vocab_size
    if neft_logits.shape[-1] != vocab:
        fail(f"{args.logits_file}: logits have V={neft_logits.shape[-1]} but "
             f"{args.model_dir}/config.json has vocab_size={vocab}")
    if tokens.min() < 0 or tokens.max() >= vocab:
        fail(f"{args.logits_file}: token ids outside [0, {vocab})")

    with torch.no_grad():
        hf_logits = model(input_ids=tokens, position_ids=positions, use_cache=False).logits

    diff = (neft_logits - hf_logits).abs()
    worst = diff.argmax().item()
    b, rest = divmod(worst, diff.shape[1] * diff.shape[2])
    t, v = divmod(rest, diff.shape[2])
    max_abs = diff.max().item()
    relative = ((neft_logits - hf_logits).norm() / hf_logits.norm().clamp_min(1e-30)).item()
    within = bool((diff <= args.tol + args.rtol * hf_logits.abs()).all())

    print(f"logits [B,T,V] = {list(hf_logits.shape)}")
    print(f"max abs diff   = {max_abs:.3e} at [b={b}, t={t}, v={v}] "
          f"(neft {neft_logits[b, t, v].item():.6f}, hf {hf_logits[b, t, v].item():.6f})")
    print(f"relative diff  = {relative:.3e}  (||neft - hf|| / ||hf||)")
    print(f"{'PASS' if within else 'FAIL'}: tol {args.tol:g}, rtol {args.rtol:g}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
