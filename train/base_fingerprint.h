// The base model of a run, as every checkpoint's trainer_state.json records it: a checkpoint
// holds only what trains (train/sharded_checkpoint.h), so whatever loads it (a resumed run,
// an evaluation) must start from the same frozen weights, and is refused otherwise.
//
// The fingerprint of loaded weights is a 64-bit FNV-1a hash of every tensor's name, dtype and
// shape, and of three of its rows (the first, the middle and the last; a 1-D tensor whole),
// read from the memory-mapped files. It tells another model, another fine-tune or a damaged
// copy from the base; it reads ~3 rows per tensor (about 250 MB at Llama-2-70B), not the
// whole model, so a base edited only in rows it does not sample goes unnoticed. That of a
// random initialisation hashes the model's shape and the seed (init_random draws the same
// values at every layout).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "train/model_setup.h"

namespace neft::train {

// "fnv1a64:<16 hex digits>" of the weights `source` loads into a model of `config` (or of its
// random initialisation with `seed`).
std::string base_fingerprint(const ModelSource& source, const model::LlamaConfig& config,
                             uint64_t seed);

// trainer_state.json's "base": {"weights": absolute path or "" (random), "seed", "fingerprint"}.
nlohmann::json base_record(const ModelSource& source, const model::LlamaConfig& config,
                           uint64_t seed);

struct SavedBase {
  std::string weights, fingerprint;
  uint64_t seed = 0;
};
// The base named in `checkpoint_dir`/trainer_state.json; a one-line error naming the file
// when it is missing or malformed.
SavedBase saved_base(const std::string& checkpoint_dir);
// Fails, naming the checkpoint and both bases, unless `record` (base_record of the weights
// at hand) is the base saved in `checkpoint_dir`/trainer_state.json.
void check_same_base(const std::string& checkpoint_dir, const nlohmann::json& record);

}  // namespace neft::train
