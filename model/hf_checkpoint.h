// The model in Hugging Face's layout: a directory with config.json and model.safetensors
// (or shards with model.safetensors.index.json), HF tensor names. A model saved here loads
// in transformers' LlamaForCausalLM, and one saved by transformers loads here.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "model/llama.h"
#include "model/safetensors.h"

namespace neft::model {

// Copies every parameter from the checkpoint (converting dtype; shapes must match exactly).
// A tied model ignores a stored lm_head.weight; an untied one requires it. Fails naming the
// checkpoint and the tensor.
void load_hf_weights(LlamaModel& model, const Checkpoint& checkpoint);
// True when `dir` holds weights (model.safetensors or its index), not just a config.json.
bool has_hf_weights(const std::string& dir);

// Writes config.json and whole tensors with HF names and shapes (`weights`, in the order to
// write them; shards of at most max_shard_bytes) into `dir`, through a temporary sibling
// directory renamed into place, so an interrupted save leaves either the old directory or
// the new one. `torch_dtype` is config.json's ("float32", "bfloat16", "float16"). A model
// at any layout gets its whole tensors from train/distributed_checkpoint.h (save_model).
constexpr size_t kDefaultShardBytes = size_t(5) << 30;
// `companions`: the directory whose tokenizer files and generation_config.json the saved model
// carries (model/hf_companion_files.h), "" for none.
void save_hf_directory(const LlamaConfig& config, const NamedTensors& weights,
                       const std::string& torch_dtype, const std::string& dir,
                       const std::string& companions = "",
                       size_t max_shard_bytes = kDefaultShardBytes);
// The same, streaming: tensor i is made by make(i) when it is written (in order), so that the
// writer holds one tensor at a time; `also` writes any further files into the directory
// before it is renamed into place (null for none).
void save_hf_directory(const LlamaConfig& config, const PlannedTensors& planned,
                       const std::function<Tensor(size_t)>& make, const std::string& torch_dtype,
                       const std::string& dir, const std::string& companions,
                       size_t max_shard_bytes = kDefaultShardBytes,
                       const std::function<void(const std::string& dir)>& also = nullptr);
// The config.json `torch_dtype` of a model dtype.
const char* torch_dtype_name(DType dtype);

}  // namespace neft::model
