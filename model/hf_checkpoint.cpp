#include "model/hf_checkpoint.h"

#include <unistd.h>
#include <filesystem>

#include "model/config.h"
#include "model/shard.h"
#include "runtime/atomic_file.h"

namespace fs = std::filesystem;

namespace neft::model {

void load_hf_weights(LlamaModel& model, const Checkpoint& checkpoint) {
  for (Parameter* p : model.parameters()) {
    if (!checkpoint.has(p->name))
      fail(checkpoint.path(), ": no tensor '", p->name, "' (model ", model.config().name, ")");
    // A tensor-parallel rank reads only its rows or columns from the mapped file.
    p->value.copy_from(read_shard(checkpoint, p->name, *p, p->value.dtype(), p->value.device()));
  }
}

bool has_hf_weights(const std::string& dir) {
  return fs::exists(fs::path(dir) / kSafetensorsFile) ||
         fs::exists(fs::path(dir) / kSafetensorsIndexFile);
}

const char* torch_dtype_name(DType dtype) {
  return dtype == DType::BF16 ? "bfloat16" : dtype == DType::F16 ? "float16" : "float32";
}

void save_hf_directory(const LlamaConfig& config, const NamedTensors& weights,
                       const std::string& torch_dtype, const std::string& dir,
                       size_t max_shard_bytes) {
  write_directory_atomic(
      dir,
      [&](const std::string& temp) {
        save_safetensors_sharded(temp, weights, max_shard_bytes);
        save_hf_config(config, (fs::path(temp) / "config.json").string(), torch_dtype);
      },
      ".tmp-" + std::to_string(getpid()));
}

}  // namespace neft::model
