#!/usr/bin/env python3
"""Makes the packed-rows fixture: several examples in one row, each attending only to itself.

The reference is transformers' LlamaForCausalLM (fp32, CPU, eager attention) loaded from the
gqa_untied fixture (make_fixtures.py), run on packed rows with position_ids that restart per
example and a 4D additive mask that is causal within each example and closed between them:
what a correct packed batch means. The script checks that answer against the examples run
one at a time, unpadded, and writes tests/golden/gqa_untied/packed.safetensors:

  tokens, positions, targets  I32 [B,T]  two rows of examples laid out as neft lays them:
                                         position i predicts token i+1 where that is a
                                         response token, -100 elsewhere; the rest of a row is
                                         padding (token 0, position 0, target -100)
  logits                      F32 [B,T,V]
  token_losses                F32 [B,T]  per-token cross-entropy, 0 where the target is -100
  loss                        F32 [1]    the mean over the counted tokens
  example_row, example_start, example_length  I32 [E]  where each example sits
  example_loss                F32 [E]    the mean over each example's counted tokens
  grad.<name>                 F32        d loss / d parameter

Run from the repository root:  python3 tests/golden/make_packed_fixture.py
needs: pip install torch transformers safetensors numpy
"""

import os
import sys

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import LlamaForCausalLM
from transformers.utils import logging as hf_logging

from make_fixtures import IGNORE_INDEX, canonical_header

SEED = 4321
T = 32
# (prompt, response) lengths per row; row 0 ends in 5 tokens of padding, row 1 is full. One
# example crosses nothing, one starts at column 0 of row 1, lengths are odd and even.
ROWS = [[(4, 5), (2, 4), (7, 5)], [(6, 8), (9, 9)]]


def layout(vocab: int):
    g = torch.Generator().manual_seed(SEED)
    tokens = torch.zeros(len(ROWS), T, dtype=torch.int64)
    positions = torch.zeros_like(tokens)
    targets = torch.full_like(tokens, IGNORE_INDEX)
    examples = []  # (row, start, prompt, length)
    for r, row in enumerate(ROWS):
        col = 0
        for prompt, response in row:
            n = prompt + response
            tokens[r, col : col + n] = torch.randint(1, vocab, (n,), generator=g)
            positions[r, col : col + n] = torch.arange(n)
            for i in range(n - 1):
                if i + 1 >= prompt:
                    targets[r, col + i] = tokens[r, col + i + 1]
            examples.append((r, col, prompt, n))
            col += n
        assert col <= T
    return tokens, positions, targets, examples


def document_mask(positions: torch.Tensor) -> torch.Tensor:
    """[B,1,T,T] additive: 0 where key j is in query i's example and j <= i, else -inf."""
    B = positions.shape[0]
    starts = torch.zeros_like(positions)
    for b in range(B):
        for t in range(T):
            starts[b, t] = t if t == 0 or positions[b, t] != positions[b, t - 1] + 1 else starts[b, t - 1]
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = (j <= i) & (j >= starts[:, :, None])
    return torch.where(allowed, 0.0, torch.finfo(torch.float32).min)[:, None]


def main() -> int:
    torch.use_deterministic_algorithms(True)
    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)
    here = os.path.dirname(os.path.abspath(__file__))
    fixture = os.path.join(here, "gqa_untied")
    model = LlamaForCausalLM.from_pretrained(
        fixture, attn_implementation="eager", dtype=torch.float32
    ).train()
    vocab = model.config.vocab_size
    tokens, positions, targets, examples = layout(vocab)

    logits = model(
        input_ids=tokens, position_ids=positions, attention_mask=document_mask(positions),
        use_cache=False,
    ).logits
    token_losses = F.cross_entropy(
        logits.view(-1, vocab), targets.view(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(targets.shape)
    counted = targets != IGNORE_INDEX
    loss = token_losses.sum() / counted.sum()
    loss.backward()

    example_loss = []
    with torch.no_grad():
        for r, start, _, n in examples:
            sl = slice(start, start + n)
            example_loss.append(token_losses[r, sl].sum() / counted[r, sl].sum())
            # The same example alone in a row of its own: the packed answer must be this one.
            alone = model(input_ids=tokens[r : r + 1, sl], use_cache=False).logits[0]
            alone_losses = F.cross_entropy(
                alone, targets[r, sl], ignore_index=IGNORE_INDEX, reduction="none"
            )
            assert torch.allclose(alone_losses, token_losses[r, sl], atol=1e-5), (r, start)
            assert torch.allclose(alone, logits[r, sl], atol=1e-5), (r, start)

    golden = {
        "tokens": tokens.to(torch.int32),
        "positions": positions.to(torch.int32),
        "targets": targets.to(torch.int32),
        "logits": logits.detach(),
        "token_losses": token_losses.detach(),
        "loss": loss.detach().reshape(1),
        "example_row": torch.tensor([e[0] for e in examples], dtype=torch.int32),
        "example_start": torch.tensor([e[1] for e in examples], dtype=torch.int32),
        "example_length": torch.tensor([e[3] for e in examples], dtype=torch.int32),
        "example_loss": torch.stack(example_loss).to(torch.float32),
    }
    for name, p in model.named_parameters():
        golden["grad." + name] = p.grad.detach().clone()
    golden = {k: v.contiguous() for k, v in golden.items()}
    path = os.path.join(fixture, "packed.safetensors")
    meta = {
        "reference": "transformers LlamaForCausalLM, fp32, CPU, eager attention, "
        "4D additive document mask, position_ids restarting per example",
        "rows": repr(ROWS),
        "seq": str(T),
        "seed": str(SEED),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
    }
    save_file(golden, path, metadata=meta)
    canonical_header(path)
    os.chmod(path, 0o644)
    print(f"loss {loss.item():.6f}, example losses "
          f"{[round(x.item(), 6) for x in example_loss]}, {os.path.getsize(path) / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
