#!/usr/bin/env python3
"""Makes the golden fixtures that neft's model tests compare against.

The reference is an independent implementation: Hugging Face transformers'
LlamaForCausalLM, fp32, on CPU, eager attention, deterministic algorithms, fixed seeds.
For each small random model below it writes tests/golden/<name>/ holding

  config.json, model.safetensors   exactly as model.save_pretrained() writes them, so the
                                   fixture doubles as "a model saved by HF";
  golden.safetensors               inputs and the reference's answers:
    tokens        I32 [B,T]
    targets       I32 [B,T]    next token; -100 = ignored (the first 3 positions of row 0
                               and the last position of every row)
    logits        F32 [B,T,V]
    loss          F32 [1]      F.cross_entropy(logits.view(-1,V), targets.view(-1),
                               ignore_index=-100): the mean over targets != -100, with no
                               label shifting (targets are already the next token)
    grad.<name>   F32          d loss / d parameter, one per HF parameter name (a tied
                               model has no lm_head.weight: its gradient is in
                               grad.model.embed_tokens.weight)
    adamw_losses  F32 [10]     loss before each of 10 AdamW steps on the same batch
    adamw_final.<name> F32     every parameter after those 10 steps
  and the training hyperparameters in the file's __metadata__.

Run from the repository root:  python3 tests/golden/make_fixtures.py
needs: pip install torch transformers safetensors numpy
"""

import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.utils import logging as hf_logging

SEED = 1234
BATCH, SEQ = 2, 12
IGNORE_INDEX = -100

# The training recipe neft's optimizer must reproduce. Weight decay touches only matrices
# (ndim >= 2: linear weights and the embedding); norm weights are never decayed, as in
# Megatron and llm.c. The learning rate is constant (no schedule).
ADAMW = {
    "lr": 1e-2,
    "beta1": 0.9,
    "beta2": 0.95,
    "eps": 1e-8,
    "weight_decay": 0.1,
    "max_grad_norm": 1.0,
    "steps": 10,
}

MODELS = {
    "gqa_untied": dict(
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=96,
        tie_word_embeddings=False,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        max_position_embeddings=64,
    ),
    "mha_tied": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=80,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        max_position_embeddings=64,
    ),
}


def build_model(shape: dict) -> LlamaForCausalLM:
    config = LlamaConfig(
        **shape,
        initializer_range=0.02,
        attn_implementation="eager",
        dtype="float32",
    )
    model = LlamaForCausalLM(config)  # HF's default init: N(0, 0.02) matrices, ones in norms
    # Norm weights of exactly 1 would hide a loader that drops them or a kernel that
    # ignores them, so give every norm its own random gain.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    assert model.config._attn_implementation == "eager"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    return model.train()  # dropout is 0 in Llama, so train() and eval() compute the same


def make_batch(vocab: int):
    tokens = torch.randint(0, vocab, (BATCH, SEQ), dtype=torch.int64)
    targets = torch.full_like(tokens, IGNORE_INDEX)
    targets[:, :-1] = tokens[:, 1:]  # the last position has no next token: ignored
    targets[0, :3] = IGNORE_INDEX  # a masked prompt, so masking is exercised mid-row
    return tokens, targets


def loss_of(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(
        logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=IGNORE_INDEX
    )


def forward_loss(model, tokens, targets):
    logits = model(input_ids=tokens, use_cache=False).logits
    return logits, loss_of(logits, targets)


def adamw_run(model, tokens, targets):
    """Ten clipped AdamW steps on one batch; returns the loss seen before each step."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": ADAMW["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=ADAMW["lr"],
        betas=(ADAMW["beta1"], ADAMW["beta2"]),
        eps=ADAMW["eps"],
        foreach=False,
    )
    losses = []
    for _ in range(ADAMW["steps"]):
        optimizer.zero_grad(set_to_none=True)
        _, loss = forward_loss(model, tokens, targets)
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=ADAMW["max_grad_norm"])
        optimizer.step()
    return torch.tensor(losses, dtype=torch.float32)


def metadata(shape: dict) -> dict:
    meta = {k: repr(v) for k, v in ADAMW.items()}
    meta.update(
        {
            "weight_decay_applies_to": "parameters with ndim >= 2 (norm weights: 0)",
            "lr_schedule": "constant",
            "grad_clip": "torch.nn.utils.clip_grad_norm_ over all parameters, each step",
            "loss": "mean cross-entropy over targets != -100, no label shifting",
            "ignore_index": str(IGNORE_INDEX),
            "batch": str(BATCH),
            "seq": str(SEQ),
            "seed": str(SEED),
            "reference": "transformers LlamaForCausalLM, fp32, CPU, eager attention",
            "torch_version": torch.__version__,
            "transformers_version": transformers.__version__,
            "model_shape": json.dumps(shape, sort_keys=True),
        }
    )
    return meta


def canonical_header(path: str) -> None:
    """Rewrites a safetensors header with its metadata keys sorted.

    The writer keeps metadata in a hash map, so its order changes from run to run; sorted,
    rerunning this script on the same versions leaves every fixture byte-identical.
    """
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes with spaces
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob[8 + header_len :])


def make_fixture(name: str, shape: dict, out_root: str) -> None:
    torch.manual_seed(SEED)
    model = build_model(shape)
    tokens, targets = make_batch(shape["vocab_size"])

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    # Save before training: the saved weights are the ones the logits and gradients are of.
    model.save_pretrained(out_dir, safe_serialization=True)

    logits, loss = forward_loss(model, tokens, targets)
    loss.backward()
    golden = {
        "tokens": tokens.to(torch.int32),
        "targets": targets.to(torch.int32),
        "logits": logits.detach(),
        "loss": loss.detach().reshape(1),
    }
    for pname, p in model.named_parameters():
        golden["grad." + pname] = p.grad.detach().clone()

    golden["adamw_losses"] = adamw_run(model, tokens, targets)
    for pname, p in model.named_parameters():
        golden["adamw_final." + pname] = p.detach().clone()

    golden = {k: v.contiguous() for k, v in golden.items()}
    golden_path = os.path.join(out_dir, "golden.safetensors")
    save_file(golden, golden_path, metadata=metadata(shape))
    canonical_header(golden_path)
    for f in os.listdir(out_dir):
        os.chmod(os.path.join(out_dir, f), 0o644)

    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(
        f"{name}: loss {loss.item():.6f}, adamw losses "
        f"{np.array2string(golden['adamw_losses'].numpy(), precision=4)}, "
        f"{total / 1e6:.2f} MB in {out_dir}"
    )


def main() -> int:
    # One thread and deterministic kernels: rerunning on the same versions gives the same bits.
    torch.use_deterministic_algorithms(True)
    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    out_root = os.path.dirname(os.path.abspath(__file__))
    for name, shape in MODELS.items():
        make_fixture(name, shape, out_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
