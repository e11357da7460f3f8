// Checkpoints that do not depend on the layout they were taken at. On disk every tensor is
// whole, named and shaped as Hugging Face names and shapes the parameter it belongs to (the
// optimizer's moments too: "<parameter>.exp_avg", ...), so a checkpoint directory is an
// ordinary HF model directory whatever the tp of the run that wrote it. Saving gathers each
// tensor-parallel shard into its whole tensor over the model's TP group (rows: all-gather
// along dim 0; columns: gather_from_tp); loading has each rank read only its own rows or
// columns of the memory-mapped file, so a run saved at tp 2 resumes at tp 1 and vice versa.
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

namespace neft::launch {

// The whole tensor of which `shard` is the part that `layout` (a parameter of the model)
// describes: the shard itself when the parameter is not split.
Tensor gather_whole(const Tensor& shard, const Parameter& layout, const model::TensorParallel& tp);

// The model's weights as whole HF tensors, in parameters() order.
model::NamedTensors gather_weights(model::LlamaModel& model);
// The optimizer's state (optim::AdamW::state()) as whole tensors named as there.
model::NamedTensors gather_optimizer_state(model::LlamaModel& model, const optim::AdamW& optimizer);

// Every pipeline stage's tensors, in stage order, on stage 0 of `pp`; each stage passes its
// own (whole, gathered over TP) and every stage of `pp` calls it together. Stage 0 gets the
// concatenation, the others an empty list; a null `pp` (or one stage) returns `stage` as is.
// Each stage s > 0 sends a header (names, dtypes, shapes) and then its tensors through host
// memory, whatever the device, so every transfer takes the same (MPI) path on both ends.
model::NamedTensors collect_stages(model::NamedTensors stage, parallel::Communicator* pp);

// Restores the optimizer from whole tensors in the safetensors file `path` (as written from
// gather_optimizer_state): each rank reads its parameters' shards. A missing tensor or one of
// another shape is a one-line error naming the file and the tensor.
void load_optimizer_state(model::LlamaModel& model, optim::AdamW& optimizer,
                          const std::string& path, int64_t steps);

// Writes the model as an HF directory (config.json, model.safetensors) from any layout: every
// rank of the model's TP group calls it, with `pp` the pipeline group of the writer's stage
// ranks (null elsewhere; collect_stages); the one with `write` set writes, atomically.
void save_model(model::LlamaModel& model, const std::string& dir, bool write,
                parallel::Communicator* pp = nullptr);

}  // namespace neft::launch
