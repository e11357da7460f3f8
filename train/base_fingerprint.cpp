#include "train/base_fingerprint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "model/safetensors.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "train/sharded_checkpoint.h"

namespace neft::train {

namespace fs = std::filesystem;

namespace {

struct Fnv1a {
  uint64_t h = 14695981039346656037ull;
  void add(const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void add(const std::string& s) { add(s.data(), s.size() + 1); }  // with its terminator
};

}  // namespace

std::string base_fingerprint(const ModelSource& source, const model::LlamaConfig& config,
                             uint64_t seed) {
  Fnv1a hash;
  const std::string path = weights_path(source);
  if (path.empty()) {
    hash.add("random init with seed " + std::to_string(seed));
    for (int64_t n : {config.hidden, config.intermediate, config.layers, config.heads,
                      config.kv_heads, config.head_dim, config.vocab})
      hash.add(&n, sizeof n);
  } else if (ShardedCheckpoint::is_sharded(path)) {
    // A training checkpoint: its own base, and what it trained as its index places it.
    hash.add(saved_base(path).fingerprint);
    std::ifstream index(fs::path(path) / kCheckpointIndexFile, std::ios::binary);
    hash.add(std::string(std::istreambuf_iterator<char>(index), {}));
    std::vector<std::pair<std::string, uintmax_t>> files;
    for (const fs::directory_entry& e : fs::directory_iterator(path))
      if (e.path().extension() == ".safetensors")
        files.emplace_back(e.path().filename().string(), e.file_size());
    std::sort(files.begin(), files.end());
    for (const auto& [name, bytes] : files) {
      hash.add(name);
      hash.add(&bytes, sizeof bytes);
    }
  } else {
    const model::Checkpoint weights(path);
    std::vector<std::string> names = weights.names();
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const model::TensorInfo& info = weights.info(name);
      hash.add(name);
      hash.add(dtype_name(info.dtype));
      hash.add(info.shape.data(), info.shape.size() * sizeof(int64_t));
      if (info.shape.empty() || info.nbytes == 0 || !is_floating(info.dtype)) continue;
      const int64_t rows = info.shape[0];
      for (int64_t r : {int64_t(0), rows / 2, rows - 1}) {
        const Tensor row = info.shape.size() == 1 ? weights.read(name, DType::F32)
                                                  : weights.read_rows(name, r, 1, DType::F32);
        hash.add(row.raw(), row.nbytes());
        if (info.shape.size() == 1) break;
      }
    }
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", (unsigned long long)hash.h);
  return buf;
}

nlohmann::json base_record(const ModelSource& source, const model::LlamaConfig& config,
                           uint64_t seed) {
  const std::string path = weights_path(source);
  return {{"weights", path.empty() ? "" : fs::absolute(path).lexically_normal().string()},
          {"seed", seed},
          {"fingerprint", base_fingerprint(source, config, seed)}};
}

SavedBase saved_base(const std::string& checkpoint_dir) {
  const std::string path = (fs::path(checkpoint_dir) / "trainer_state.json").string();
  const nlohmann::json state = read_json_file(path);
  const nlohmann::json base =
      state.is_object() ? state.value("base", nlohmann::json()) : nlohmann::json();
  if (!base.is_object() || !base.value("weights", nlohmann::json()).is_string() ||
      !base.value("fingerprint", nlohmann::json()).is_string() ||
      !base.value("seed", nlohmann::json()).is_number_unsigned())
    fail(path, ": key 'base' must hold \"weights\", \"seed\" and \"fingerprint\" (got ",
         json_excerpt(base), ")");
  return {base["weights"].get<std::string>(), base["fingerprint"].get<std::string>(),
          base["seed"].get<uint64_t>()};
}

void check_same_base(const std::string& checkpoint_dir, const nlohmann::json& record) {
  const SavedBase saved = saved_base(checkpoint_dir);
  if (saved.fingerprint == record["fingerprint"].get<std::string>()) return;
  auto describe = [](const std::string& weights, uint64_t seed, const std::string& fingerprint) {
    return (weights.empty() ? "a random initialisation, seed " + std::to_string(seed) : weights) +
           ", " + fingerprint;
  };
  fail(checkpoint_dir, ": trained from other frozen weights (",
       describe(saved.weights, saved.seed, saved.fingerprint), ") than ",
       describe(record["weights"].get<std::string>(), record["seed"].get<uint64_t>(),
                record["fingerprint"].get<std::string>()),
       ": give the run's own --model, --init and --seed");
}

}  // namespace neft::train
