#!/usr/bin/env python3
"""Makes the LoRA golden fixture: Hugging Face PEFT's LoRA on the gqa_untied fixture model.

The reference is PEFT's get_peft_model(LoraConfig(...)) on transformers' LlamaForCausalLM
(fp32, CPU, eager attention), rank 4, alpha 8, every projection targeted, dropout 0. PEFT
starts B at zero, which would make the adapter invisible in the logits and A's gradient
zero; so A and B are set to seeded random values first. It writes tests/golden/gqa_untied/lora/

  adapter_config.json, adapter_model.safetensors   exactly as PeftModel.save_pretrained
                                                   writes them (neft loads these);
  golden.safetensors   on golden.safetensors' tokens and targets:
    logits     F32 [B,T,V]
    loss       F32 [1]       mean cross-entropy over targets != -100
    grad.<name> F32          d loss / d A and d loss / d B, under neft's names
                             (model.layers.L.self_attn.q_proj.lora_A.weight, ...)

Run from the repository root:  python3 tests/golden/make_lora_fixture.py
needs: pip install torch transformers peft safetensors
"""

import os

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

SEED = 4321
RANK, ALPHA = 4, 8
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
IGNORE_INDEX = -100
PREFIX = "base_model.model."


def main():
    root = "tests/golden/gqa_untied"
    out = os.path.join(root, "lora")
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    model = LlamaForCausalLM.from_pretrained(
        root, dtype=torch.float32, attn_implementation="eager"
    )
    config = LoraConfig(
        r=RANK,
        lora_alpha=ALPHA,
        target_modules=TARGETS,
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_(0.3 * torch.randn_like(p))
    peft_model.save_pretrained(out)
    os.remove(os.path.join(out, "README.md"))  # PEFT's model card template: nothing to test

    golden = load_file(os.path.join(root, "golden.safetensors"))
    tokens = golden["tokens"].long()
    targets = golden["targets"].long()
    logits = peft_model(input_ids=tokens).logits
    loss = F.cross_entropy(
        logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=IGNORE_INDEX
    )
    loss.backward()
    tensors = {
        "logits": logits.detach().contiguous(),
        "loss": loss.detach().reshape(1),
    }
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            # base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight
            ours = name[len(PREFIX):].replace(".default.weight", ".weight")
            tensors["grad." + ours] = p.grad.detach().contiguous()
    save_file(tensors, os.path.join(out, "golden.safetensors"), metadata={"format": "pt"})
    print(f"wrote {out}: loss {loss.item():.6f}, {len(tensors) - 2} adapter gradients")


if __name__ == "__main__":
    main()
