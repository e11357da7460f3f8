// The Llama configuration: read from (and written to) a Hugging Face config.json, or one of
// the named presets, from tiny test models to the real shapes users mean (so the planner
// and the benchmarks can speak of them).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace neft::model {

struct LlamaConfig {
  std::string name;              // preset name, or the config.json it was read from
  int64_t hidden = 0;            // hidden_size
  int64_t intermediate = 0;      // intermediate_size
  int64_t layers = 0;            // num_hidden_layers
  int64_t heads = 0;             // num_attention_heads
  int64_t kv_heads = 0;          // num_key_value_heads (= heads when absent)
  int64_t head_dim = 0;          // head_dim (= hidden / heads when absent)
  int64_t vocab = 0;             // vocab_size
  int64_t max_positions = 2048;  // max_position_embeddings
  float rms_eps = 1e-6f;         // rms_norm_eps
  float rope_theta = 10000.0f;   // rope_theta
  bool tied_embeddings = false;  // tie_word_embeddings
  // Special token ids, kept so that a saved model still says where text begins and ends
  // (transformers' generate stops at eos): -1 / empty where the config has none. eos may be
  // a list (Llama-3.1 stops at several).
  int64_t bos_token_id = -1, pad_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  int64_t q_dim() const { return heads * head_dim; }
  int64_t kv_dim() const { return kv_heads * head_dim; }
  // Parameters in the model (the tied head counted once).
  int64_t parameter_count() const;
  // Fails with "<source>: <key> ..." when the shapes are inconsistent (non-positive sizes,
  // heads not divisible by kv_heads, hidden != heads * head_dim without an explicit
  // head_dim, odd head_dim, ...).
  void validate(const std::string& source) const;
};

// Reads a HF config.json (LlamaForCausalLM / model_type "llama"; also accepts the same
// architecture under other names, e.g. SmolLM2). Unsupported features (attention or MLP
// biases, an activation other than silu, rope_scaling) are a one-line error naming the key.
LlamaConfig load_hf_config(const std::string& path);
// Writes a config.json that HF transformers loads as LlamaForCausalLM (atomically).
void save_hf_config(const LlamaConfig& config, const std::string& path,
                    const std::string& torch_dtype = "float32");

// Named presets: "tiny" (tests), "tiny-tied", "small-20m" (the CPU benchmark), "smollm2-135m",
// "llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b", "llama3-70b", ...
LlamaConfig preset(const std::string& name);  // unknown name: error listing the known ones
std::vector<std::string> preset_names();
// A preset name, or a directory / config.json path.
LlamaConfig resolve_config(const std::string& name_or_path);

}  // namespace neft::model
