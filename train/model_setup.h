// Where a command's model comes from: a preset or an HF directory for the shapes, and for
// the weights the --init checkpoint, else the model directory's own weights, else a seeded
// random initialisation. A weights directory that carries a PEFT adapter (a LoRA run's
// checkpoint or model/) gets it attached (lora/peft_format.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "model/llama.h"

namespace neft::train {

struct ModelSource {
  std::string model;  // preset name, HF model directory or config.json
  std::string init;   // HF checkpoint to load weights from ("" = none)
  // --num-layers: the model's first `num_layers` layers only (0: all). How a large shape with
  // few layers fits a small machine; loaded weights must hold exactly that many layers.
  int64_t num_layers = 0;
};

// The shape build_model builds: the preset's or config.json's, with num_layers applied.
model::LlamaConfig model_config(const ModelSource& source);

std::unique_ptr<model::LlamaModel> build_model(const ModelSource& source,
                                               const model::ModelOptions& options, uint64_t seed);
// --seq-len beyond the model's max_position_embeddings is refused before anything runs or is
// written (the forward would refuse it only at the first step).
void check_sequence_length(const model::LlamaConfig& config, int64_t seq_len);
// The checkpoint build_model loads, or "" for a random initialisation.
std::string weights_path(const ModelSource& source);
// True when build_model loads weights rather than initialising them.
bool has_pretrained_weights(const ModelSource& source);

}  // namespace neft::train
