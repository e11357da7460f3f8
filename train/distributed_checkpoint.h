// Whole tensors from a model at any layout, for what leaves the job whole: the final HF model
// (save_model, streamed tensor by tensor), a neuron-level run's sparse delta
// (train/delta_checkpoint.h), a LoRA adapter. A tensor-parallel shard is gathered into its
// whole tensor over the model's TP group (rows: all-gather along dim 0; columns:
// gather_from_tp); a neuron-level parameter's compact rows ([K, C], K differing from rank to
// rank) are gathered keyed by the neurons' whole-tensor indices along the neuron axis. Training
// checkpoints gather nothing: every rank writes its own slices (train/sharded_checkpoint.h).
//
// The gathers are collectives over the TP group of the model passed in: every rank of that
// group calls them together. Which rank writes, and the barrier after, are the caller's.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/llama.h"
#include "model/safetensors.h"
#include "optim/adamw.h"
#include "parallel/communicator.h"

namespace neft::train {

// The whole tensor of which `shard` is the part that `layout` (a parameter of the model)
// describes: the shard itself when the parameter is not split.
Tensor gather_whole(const Tensor& shard, const Parameter& layout, const model::TensorParallel& tp);

// Every TP rank's compact rows of the neuron-level parameter `layout` (`rows` [K, C] on this
// rank, row k belonging to local neuron layout.neuron_index[k]), on the host: the whole-tensor
// indices, i32 [K_total] ascending, and the rows [K_total, C] in that order, in rows' dtype.
struct NeuronRows {
  Tensor neurons, rows;
};
// `rows` (host, [K, C]) reordered so that `index` (whole indices, one per row) ascends; a
// neuron held twice is an error naming `name`.
NeuronRows sorted_by_index(const std::vector<int32_t>& index, const Tensor& rows,
                           const std::string& name);
NeuronRows gather_neuron_rows(const Tensor& rows, const Parameter& layout,
                              const model::TensorParallel& tp);

// The model's weights as whole HF tensors, in parameters() order.
model::NamedTensors gather_weights(model::LlamaModel& model);
// Every pipeline stage's tensors, in stage order, on stage 0 of `pp`; each stage passes its
// own (whole, gathered over TP) and every stage of `pp` calls it together. Stage 0 gets the
// concatenation, the others an empty list; a null `pp` (or one stage) returns `stage` as is.
// Each stage s > 0 sends a header (names, dtypes, shapes) and then its tensors through host
// memory, whatever the device, so every transfer takes the same (MPI) path on both ends.
model::NamedTensors collect_stages(model::NamedTensors stage, parallel::Communicator* pp);

// Writes the model as an HF directory (config.json, the weights as HF shards with their index
// when they exceed one) from any layout, streaming: tensor by tensor, each gathered over its
// stage's TP group and sent to the writer, which holds one whole tensor at a time. Every rank
// of the model's TP group calls it, with `pp` the pipeline group of the writer's stage ranks
// (null elsewhere; collect_stages); the one with `write` set writes, atomically. A LoRA
// adapter's tensors are left out (they go beside the model in PEFT's format: `also`, which
// writes further files into the directory before it is renamed into place).
// `companions`: the directory whose tokenizer files and generation_config.json the model
// carries ("" for none; model/hf_companion_files.h).
void save_model(model::LlamaModel& model, const std::string& dir, bool write,
                parallel::Communicator* pp = nullptr, const std::string& companions = "",
                const std::function<void(const std::string& dir)>& also = nullptr);

}  // namespace neft::train
