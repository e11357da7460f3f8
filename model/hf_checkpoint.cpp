#include "model/hf_checkpoint.h"

#include <unistd.h>
#include <filesystem>

#include "model/config.h"

namespace fs = std::filesystem;

namespace neft::model {

void load_hf_weights(LlamaModel& model, const Checkpoint& checkpoint) {
  for (Parameter* p : model.parameters()) {
    if (!checkpoint.has(p->name))
      fail(checkpoint.path(), ": no tensor '", p->name, "' (model ", model.config().name, ")");
    const TensorInfo& info = checkpoint.info(p->name);
    if (info.shape != p->full_shape)
      fail(checkpoint.path(), ": tensor '", p->name, "' has shape ", shape_str(info.shape),
           ", the model expects ", shape_str(p->full_shape));
    // A tensor-parallel rank reads only its rows or columns from the mapped file.
    const DType t = p->value.dtype();
    const Device d = p->value.device();
    const int64_t n = p->shard_dim < 0 ? 0 : p->value.size(p->shard_dim);
    p->value.copy_from(p->shard_dim < 0 ? checkpoint.read(p->name, t, d)
                       : p->shard_dim == 0
                           ? checkpoint.read_rows(p->name, p->shard_offset, n, t, d)
                           : checkpoint.read_cols(p->name, p->shard_offset, n, t, d));
  }
}

bool has_hf_weights(const std::string& dir) {
  return fs::exists(fs::path(dir) / kSafetensorsFile) ||
         fs::exists(fs::path(dir) / kSafetensorsIndexFile);
}

void save_hf_model(LlamaModel& model, const std::string& dir, size_t max_shard_bytes) {
  if (model.options().tp.size > 1)
    fail("saving ", dir, ": writing a tensor-parallel model (tp ", model.options().tp.size,
         ") as one HF checkpoint is not supported yet");
  const fs::path target = fs::path(dir).lexically_normal();
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  fs::create_directories(parent);
  const fs::path tmp = parent / (target.filename().string() + ".tmp-" + std::to_string(getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  NamedTensors tensors;
  for (Parameter* p : model.parameters()) tensors.emplace_back(p->name, p->value);
  save_safetensors_sharded(tmp.string(), tensors, max_shard_bytes);
  const char* dtype = model.options().dtype == DType::BF16  ? "bfloat16"
                      : model.options().dtype == DType::F16 ? "float16"
                                                            : "float32";
  save_hf_config(model.config(), (tmp / "config.json").string(), dtype);

  // Swap in: the old directory (if any) is moved aside first, then removed.
  const fs::path old = parent / (target.filename().string() + ".old-" + std::to_string(getpid()));
  std::error_code ec;
  if (fs::exists(target)) fs::rename(target, old);
  fs::rename(tmp, target);
  fs::remove_all(old, ec);
}

}  // namespace neft::model
