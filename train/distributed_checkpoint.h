// Checkpoints that do not depend on the layout they were taken at. On disk every tensor is
// whole, named and shaped as Hugging Face names and shapes the parameter it belongs to (the
// optimizer's moments too: "<parameter>.exp_avg", ...), so a checkpoint directory is an
// ordinary HF model directory whatever the tp of the run that wrote it. Saving gathers each
// tensor-parallel shard into its whole tensor over the model's TP group (rows: all-gather
// along dim 0; columns: gather_from_tp); loading has each rank read only its own rows or
// columns of the memory-mapped file, so a run saved at tp 2 resumes at tp 1 and vice versa.
//
// A neuron-level parameter (Parameter::neuron_level) has compact state, one row per selected
// neuron ([K, C], K differing from rank to rank). Its rows are saved keyed by the neurons'
// whole-tensor indices along the neuron axis: "<parameter>.neurons" i32 [K_total], ascending,
// and each state tensor [K_total, C] in that order. A rank loading it takes the rows of the
// neurons in its own shard, so neuron-level state moves between layouts like dense state.
//
// The gathers are collectives over the TP group of the model passed in: every rank of that
// group calls them together. Which rank writes, and the barrier after, are the caller's.
#pragma once
#include <cstdint>
#include <string>

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
NeuronRows gather_neuron_rows(const Tensor& rows, const Parameter& layout,
                              const model::TensorParallel& tp);

// The model's weights as whole HF tensors, in parameters() order.
model::NamedTensors gather_weights(model::LlamaModel& model);
// The optimizer's state (optim::AdamW::state()) as whole tensors named as there; a
// neuron-level parameter's as its rows of every rank, preceded by "<parameter>.neurons".
// Frozen parameters have no state, so they take part in no gather.
model::NamedTensors gather_optimizer_state(model::LlamaModel& model, const optim::AdamW& optimizer);

// Every pipeline stage's tensors, in stage order, on stage 0 of `pp`; each stage passes its
// own (whole, gathered over TP) and every stage of `pp` calls it together. Stage 0 gets the
// concatenation, the others an empty list; a null `pp` (or one stage) returns `stage` as is.
// Each stage s > 0 sends a header (names, dtypes, shapes) and then its tensors through host
// memory, whatever the device, so every transfer takes the same (MPI) path on both ends.
model::NamedTensors collect_stages(model::NamedTensors stage, parallel::Communicator* pp);

// Restores the optimizer from whole tensors in the safetensors file `path` (as written from
// gather_optimizer_state): each rank reads its parameters' shards, and for a neuron-level
// parameter the rows of its own neurons. A missing tensor or one of another shape, or a saved
// neuron set (within this rank's shard) other than the one the model trains, is a one-line
// error naming the file and the tensor or parameter.
void load_optimizer_state(model::LlamaModel& model, optim::AdamW& optimizer,
                          const std::string& path, int64_t steps);

// Writes the model as an HF directory (config.json, model.safetensors) from any layout: every
// rank of the model's TP group calls it, with `pp` the pipeline group of the writer's stage
// ranks (null elsewhere; collect_stages); the one with `write` set writes, atomically.
// `companions`: the directory whose tokenizer files and generation_config.json the model
// carries ("" for none; model/hf_companion_files.h).
void save_model(model::LlamaModel& model, const std::string& dir, bool write,
                parallel::Communicator* pp = nullptr, const std::string& companions = "");

}  // namespace neft::train
