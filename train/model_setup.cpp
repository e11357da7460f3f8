#include "train/model_setup.h"

#include <filesystem>

#include "lora/peft_format.h"
#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "train/base_fingerprint.h"
#include "train/sharded_checkpoint.h"

namespace neft::train {

std::string weights_path(const ModelSource& source) {
  if (!source.init.empty()) return source.init;
  if (std::filesystem::is_directory(source.model) &&
      (model::has_hf_weights(source.model) || ShardedCheckpoint::is_sharded(source.model)))
    return source.model;
  return "";
}

bool has_pretrained_weights(const ModelSource& source) { return !weights_path(source).empty(); }

model::LlamaConfig model_config(const ModelSource& source) {
  model::LlamaConfig config = model::resolve_config(source.model);
  if (source.num_layers <= 0) return config;
  // A checkpoint is loaded whole: one of another depth is refused here, in one line, rather
  // than cut to its first layers (or failing later on the first layer it does not have).
  const std::string weights = weights_path(source);
  if (!weights.empty()) {
    const int64_t stored = model::resolve_config(weights).layers;
    if (stored != source.num_layers)
      fail("--num-layers ", source.num_layers, ": the weights in ", weights, " hold ", stored,
           " layers (weights load whole; leave --num-layers out, or give it with a preset or a "
           "config.json and no weights)");
  }
  config.layers = source.num_layers;
  return config;
}

std::unique_ptr<model::LlamaModel> build_model(const ModelSource& source,
                                               const model::ModelOptions& options, uint64_t seed) {
  const std::string weights = weights_path(source);
  if (!weights.empty() && ShardedCheckpoint::is_sharded(weights)) {
    // A training checkpoint holds what trained: its base first, then its weights over it.
    const SavedBase base = saved_base(weights);
    // The shapes from --model, or from the checkpoint's config.json when it is the --model
    // (as a directory it would name the checkpoint's weights again).
    const std::string shapes = weights == source.model
                                   ? (std::filesystem::path(weights) / "config.json").string()
                                   : source.model;
    auto from = build_model({shapes, base.weights, source.num_layers}, options, base.seed);
    check_same_base(weights, base_record({shapes, base.weights}, from->config(), base.seed));
    ShardedCheckpoint(weights).load_weights(*from);
    return from;
  }
  auto m = std::make_unique<model::LlamaModel>(model_config(source), options);
  if (weights.empty()) {
    m->init_random(seed);
    return m;
  }
  model::load_hf_weights(*m, model::Checkpoint(weights));
  // A LoRA run's directory carries its adapter beside the base (lora/peft_format.h).
  if (lora::has_peft_adapter(weights)) lora::attach_peft_adapter(*m, weights);
  return m;
}

void check_sequence_length(const model::LlamaConfig& config, int64_t seq_len) {
  if (seq_len > config.max_positions)
    fail("--seq-len ", seq_len, " exceeds max_position_embeddings ", config.max_positions, " of ",
         config.name);
}

}  // namespace neft::train
