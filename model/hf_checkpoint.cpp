#include "model/hf_checkpoint.h"

#include <unistd.h>
#include <charconv>
#include <filesystem>
#include <optional>
#include <set>
#include <vector>

#include "model/config.h"
#include "model/hf_companion_files.h"
#include "model/shard.h"
#include "runtime/atomic_file.h"

namespace fs = std::filesystem;

namespace neft::model {

namespace {

// "model.layers.7.mlp.up_proj.weight" -> {7, "mlp.up_proj.weight"}; nullopt for other names.
std::optional<std::pair<int64_t, std::string>> layer_and_suffix(const std::string& name) {
  static const std::string prefix = "model.layers.";
  if (!name.starts_with(prefix)) return std::nullopt;
  const size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return std::nullopt;
  int64_t layer = 0;
  const char* begin = name.data() + prefix.size();
  const auto [end, ec] = std::from_chars(begin, name.data() + dot, layer);
  if (ec != std::errc() || end != name.data() + dot) return std::nullopt;
  return std::make_pair(layer, name.substr(dot + 1));
}

// A checkpoint tensor the model has no use for is an error: a file of another architecture
// (or a corrupt one) would otherwise load "successfully" into whatever names matched. The
// names a model of this config has are its own stage's parameters, the same per-layer
// weights of every other layer (a pipeline stage holds only its own), the embedding, the
// final norm and the head. What transformers itself skips is skipped: a tied model's stored
// lm_head.weight and the rotary inv_freq buffers older versions saved.
void refuse_unknown_tensors(LlamaModel& model, const Checkpoint& checkpoint) {
  const LlamaConfig& c = model.config();
  std::set<std::string> own, layer_suffixes;
  for (const Parameter* p : model.hf_parameters()) {
    own.insert(p->name);
    if (const auto ls = layer_and_suffix(p->name)) layer_suffixes.insert(ls->second);
  }
  const auto known = [&](const std::string& name) {
    if (own.count(name) || name == "model.embed_tokens.weight" || name == "model.norm.weight" ||
        name == "lm_head.weight" || name.ends_with("rotary_emb.inv_freq"))
      return true;
    const auto ls = layer_and_suffix(name);
    return ls && ls->first >= 0 && ls->first < c.layers && layer_suffixes.count(ls->second) > 0;
  };
  std::vector<std::string> unknown;
  for (const std::string& name : checkpoint.names())
    if (!known(name)) unknown.push_back(name);
  if (!unknown.empty())
    fail(checkpoint.file_of(unknown.front()).path(), ": tensor '", unknown.front(),
         "' is not a weight of ", c.name, " (", c.layers, " layers)",
         unknown.size() > 1 ? " (and " + std::to_string(unknown.size() - 1) + " more)" : "",
         "; is this checkpoint of another model?");
}

}  // namespace

void load_hf_weights(LlamaModel& model, const Checkpoint& checkpoint) {
  refuse_unknown_tensors(model, checkpoint);
  for (Parameter* p : model.hf_parameters()) {
    if (!checkpoint.has(p->name))
      fail(checkpoint.path(), ": no tensor '", p->name, "' (model ", model.config().name, ")");
    // A tensor-parallel rank reads only its rows or columns from the mapped file.
    p->value.copy_from(read_shard(checkpoint, p->name, *p, p->value.dtype(), p->value.device()));
  }
}

bool has_hf_weights(const std::string& dir) {
  // symlink_status: a dangling link still means weights were meant to be there, and opening
  // them says where it points (rather than the model starting from random weights).
  std::error_code ec;
  return fs::exists(fs::symlink_status(fs::path(dir) / kSafetensorsFile, ec)) ||
         fs::exists(fs::symlink_status(fs::path(dir) / kSafetensorsIndexFile, ec));
}

const char* torch_dtype_name(DType dtype) {
  return dtype == DType::BF16 ? "bfloat16" : dtype == DType::F16 ? "float16" : "float32";
}

void save_hf_directory(const LlamaConfig& config, const NamedTensors& weights,
                       const std::string& torch_dtype, const std::string& dir,
                       const std::string& companions, size_t max_shard_bytes) {
  save_hf_directory(
      config, plan_of(weights), [&](size_t i) { return weights[i].second; }, torch_dtype, dir,
      companions, max_shard_bytes);
}

void save_hf_directory(const LlamaConfig& config, const PlannedTensors& planned,
                       const std::function<Tensor(size_t)>& make, const std::string& torch_dtype,
                       const std::string& dir, const std::string& companions,
                       size_t max_shard_bytes,
                       const std::function<void(const std::string& dir)>& also) {
  write_directory_atomic(
      dir,
      [&](const std::string& temp) {
        save_safetensors_sharded(temp, planned, make, max_shard_bytes);
        save_hf_config(config, (fs::path(temp) / "config.json").string(), torch_dtype);
        write_companion_files(companions, config, temp);
        if (also) also(temp);
      },
      kTempDirectoryMarker + std::to_string(getpid()));
}

}  // namespace neft::model
