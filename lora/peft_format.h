// LoRA adapters in Hugging Face PEFT's format, so that `PeftModel.from_pretrained(base, DIR)`
// loads what neft trains and neft loads what PEFT saved:
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout",
//                              "target_modules": ["q_proj", ...], "bias": "none",
//                              "task_type": "CAUSAL_LM", ...}
//   adapter_model.safetensors  "base_model.model.<base module>.lora_A.weight" [r, in] and
//                              ".lora_B.weight" [out, r] for every layer and target.
// Only what neft computes is accepted: no bias, no DoRA or rsLoRA, no per-module ranks, no
// fan_in_fan_out. lora_dropout is PEFT's (lora_dropout.h): written as trained, read back (it
// changes nothing outside training). Tensors are whole here; training ranks keep their shards
// (lora_adapter.h) and the merge works on whole weights.
#pragma once
#include <string>

#include "lora/lora.h"
#include "model/llama.h"
#include "model/safetensors.h"

namespace neft::lora {

inline constexpr const char* kAdapterConfigFile = "adapter_config.json";
inline constexpr const char* kAdapterWeightsFile = "adapter_model.safetensors";

struct PeftAdapter {
  LoraConfig config;
  model::NamedTensors tensors;  // neft's names (lora_adapter.h lora_name), host f32, whole
};

// Writes `dir` atomically (the whole directory): the config and the tensors (neft's names,
// whole, any dtype; written as f32). base_model: what the config names as the base.
void save_peft_adapter(const std::string& dir, const PeftAdapter& adapter,
                       const std::string& base_model);
// The same two files into an existing directory (each atomically): a checkpoint's adapter.
void write_peft_files(const std::string& dir, const PeftAdapter& adapter,
                      const std::string& base_model);
// True when `dir` holds an adapter_config.json.
bool has_peft_adapter(const std::string& dir);
// One-line errors naming the file and key: not a LoRA adapter, a feature neft does not
// compute, a tensor missing or of the wrong shape for `model` (checked when given).
PeftAdapter load_peft_adapter(const std::string& dir, const model::LlamaConfig* model = nullptr);

// Copies the adapter's values into the adapters attached to `model` (attach_lora with the
// adapter's config): each rank its shards. Fails naming a tensor the file lacks.
void load_adapter_weights(model::LlamaModel& model, const PeftAdapter& adapter,
                          const std::string& dir);

// The adapter in `dir` attached to `model` (attach_lora) with its values: what a command
// does with a model directory that carries an adapter. Fails naming the file as above, or
// when the model already has adapters.
void attach_peft_adapter(model::LlamaModel& model, const std::string& dir);

// W += (alpha / r) B A for every adapted weight among `weights` (whole, host f32, HF names),
// in place: the adapter folded into its base, as PEFT's merge_and_unload does.
void merge_into(model::NamedTensors& weights, const PeftAdapter& adapter);

}  // namespace neft::lora
