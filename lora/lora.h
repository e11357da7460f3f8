// LoRA on a Llama model: which projections get an adapter, their rank and scaling, attaching
// them to this rank's blocks, and the adapters' parameters (lora/lora_adapter.h). Every base
// weight is frozen; only A and B train. Per rank the adapters cost r (in + out) parameters per
// target and layer, sharded as lora_adapter.h says, and their AdamW state (12 bytes each).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/llama.h"

namespace neft::lora {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16;  // the update is scaled by alpha / rank
  std::vector<std::string> targets = {"q", "k", "v", "o", "gate", "up", "down"};
  double dropout = 0;  // on the adapters' input in training, as PEFT's (lora_dropout.h)
};

// The short target names (q, k, v, o, gate, up, down) from a comma-separated list of them, of
// HF module names (q_proj, ..., down_proj) or "all"; a one-line error naming an unknown one.
std::vector<std::string> parse_targets(const std::string& list);
// "q_proj" for "q": the module name PEFT's target_modules uses.
std::string target_module(const std::string& target);
// The HF name of a target's base weight in a layer, and its whole shape [out, in].
std::string target_weight(int64_t layer, const std::string& target);
std::pair<int64_t, int64_t> target_shape(const model::LlamaConfig& config,
                                         const std::string& target);

// Fails (one line naming the value) unless 1 <= rank <= the smaller side of every target
// matrix of `model`, alpha > 0 and 0 <= dropout < 1.
void check_config(const LoraConfig& config, const model::LlamaConfig& model);

// Puts an adapter on each target of every block of this pipeline stage and freezes every
// other parameter. A is drawn as PEFT draws it, uniform in ±1/sqrt(in) (kaiming-uniform with
// a = sqrt(5)), over the whole tensor from (seed, layer, target), so every layout draws the
// same values; B is zero, so the model starts as the base. With dropout, the training forwards
// (those with the model's micro-batch key set) drop the adapters' input by masks keyed by
// (seed, the key, layer, target) (lora/lora_dropout.h).
void attach_lora(model::LlamaModel& model, const LoraConfig& config, uint64_t seed);

// The parameters of the whole model's adapters: r (in + out) per target and layer.
int64_t parameter_count(const LoraConfig& config, const model::LlamaConfig& model);

// Folds every adapter into its base weight, W += (alpha / r) B A, and removes it, as PEFT's
// merge_and_unload: on a whole (one-rank) f32 model.
void merge_adapters(model::LlamaModel& model);

// The adapters' parameters on this rank (A and B of each target, layers in order).
ParameterList lora_parameters(model::LlamaModel& model);

}  // namespace neft::lora
