#include "train/delta_checkpoint.h"

#include <vector>

#include "neuron/delta.h"
#include "train/distributed_checkpoint.h"

namespace neft::train {

model::NamedTensors delta_tensors(model::LlamaModel& model) {
  const model::TensorParallel& tp = model.options().tp;
  model::NamedTensors delta;
  for (const Parameter* p : model.parameters()) {
    if (!p->neuron_level()) continue;
    // The weight's own values of the selected neurons (not the optimizer's f32 master rows):
    // what a model with the delta applied holds, bit for bit, in the weight's dtype.
    NeuronRows g = gather_neuron_rows(selected_rows(*p), *p, tp);
    if (g.neurons.numel() == 0) continue;  // no rank trains a neuron of it
    delta.emplace_back(p->name + ".neurons", std::move(g.neurons));
    delta.emplace_back(p->name + ".rows", std::move(g.rows));
  }
  return delta;
}

void save_delta(model::LlamaModel& model, const std::string& path, bool write,
                parallel::Communicator* pp) {
  const model::NamedTensors delta = collect_stages(delta_tensors(model), pp);
  if (!write) return;
  // Every stage's neuron-level matrices are of the same kinds (neuron/trainable.h).
  bool ffn_gate = false;
  const std::string kinds = neuron::neuron_level_kinds(model, &ffn_gate);
  model::save_safetensors(path, delta, neuron::delta_metadata(model.config(), kinds, ffn_gate));
}

}  // namespace neft::train
