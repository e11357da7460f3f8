// The sparse delta of a neuron-level run: the weights of its trained neurons and nothing
// else, which is all that differs from the base model (every other weight stays bit for bit).
// A safetensors file that holds, for each matrix with trained neurons,
//   "<parameter>.neurons"  i32 [K]: the neurons' whole-tensor indices, ascending;
//   "<parameter>.rows"     [K, C] in the weight's dtype: one row per neuron (a column
//                          neuron of o_proj / down_proj stored transposed, as a row),
// and metadata naming the format ("neft-delta"), the base model's shape (hidden,
// intermediate, layers, heads, kv_heads, head_dim, vocab) and the neuron kinds. Its size is
// the trained neurons' parameters, a small fraction of the model's.
//
// Writing one is train/delta_checkpoint.h's (it gathers the rows over the TP ranks); this
// file owns the format and applying a delta to a model at any layout.
#pragma once
#include <string>
#include <vector>

#include "model/llama.h"
#include "model/safetensors.h"

namespace neft::neuron {

inline constexpr const char* kDeltaFormat = "neft-delta";

// The metadata of a delta for a model of `config` whose neuron-level matrices are `kinds`
// ("ffn", "ffn,qo,kv", ...; ffn_gate when gate_proj rows join the ffn neurons).
model::Metadata delta_metadata(const model::LlamaConfig& config, const std::string& kinds,
                               bool ffn_gate);
// The kinds of the model's neuron-level matrices on this rank, as delta_metadata takes them.
std::string neuron_level_kinds(model::LlamaModel& model, bool* ffn_gate);

// The neuron axis of a matrix that neurons live in, by HF name: 0 for q/k/v/gate/up (rows),
// 1 for o/down (columns); -1 for any other name.
int neuron_axis_of(const std::string& name);

// Checks the delta at `path` against a model of `config` (everything apply_delta checks),
// without a model: a bad delta fails before a large base is loaded.
void check_delta(const std::string& path, const model::LlamaConfig& config);

// Writes the delta's rows into the model's weights (cast to the weight dtype): each rank
// those of the neurons in its own shard and stage. Every user mistake is a one-line error
// naming the file: not a delta, a delta of another model shape, an unknown parameter, an
// index out of range or out of order, rows of the wrong width; the whole file is checked
// before any weight changes.
void apply_delta(model::LlamaModel& model, const std::string& path);

// Writes rows (host f32, [K, C]) of neurons at local indices `local` into the weight: rows
// of it (axis 0) or columns (axis 1).
void write_neurons(Parameter& p, int axis, const std::vector<int64_t>& local,
                   const std::vector<float>& rows);
// The inverse of selected_rows (runtime/parameter.h): writes rows (host f32, grad_shape()) into
// the neuron-level parameter's selected neurons.
void write_selected_rows(Parameter& p, const std::vector<float>& rows);

}  // namespace neft::neuron
