#include "launch/delta_checkpoint.h"

#include <cstring>
#include <vector>

#include "launch/distributed_checkpoint.h"
#include "neuron/delta.h"

namespace neft::launch {

model::NamedTensors delta_tensors(model::LlamaModel& model) {
  const model::TensorParallel& tp = model.options().tp;
  model::NamedTensors delta;
  for (const Parameter* p : model.parameters()) {
    if (!p->neuron_level()) continue;
    // The weight's own values of the selected neurons (not the optimizer's f32 master rows):
    // what a model with the delta applied holds, bit for bit, in the weight's dtype.
    const Tensor value = p->value.to(Device::CPU);
    const std::vector<int32_t> index = p->neuron_index.to_ints();
    const int64_t K = int64_t(index.size()), C = p->grad_shape()[1], cols = value.size(1);
    const size_t elem = dtype_size(value.dtype());
    Tensor rows = Tensor::empty({K, C}, value.dtype());
    char* out = static_cast<char*>(rows.raw());
    const char* in = static_cast<const char*>(value.raw());
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t at =
            p->neuron_axis == 0 ? index[size_t(k)] * cols + c : c * cols + index[size_t(k)];
        std::memcpy(out + size_t(k * C + c) * elem, in + size_t(at) * elem, elem);
      }
    NeuronRows g = gather_neuron_rows(rows, *p, tp);
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

}  // namespace neft::launch
