#include "neuron/trainable.h"

#include <algorithm>
#include <map>
#include <string>

namespace neft::neuron {

void train_all(model::LlamaModel& model) {
  model.set_agreed_floor(std::nullopt);  // to be agreed again for what now trains
  for (Parameter* p : model.parameters()) {
    p->trainable = true;
    p->neuron_index = Tensor();
    p->grad = Tensor();
  }
}

void freeze_all(model::LlamaModel& model) {
  model.set_agreed_floor(std::nullopt);  // to be agreed again for what now trains
  for (Parameter* p : model.parameters()) {
    p->trainable = false;
    p->neuron_index = Tensor();
    p->grad = Tensor();
  }
}

void train_only(model::LlamaModel& model, const NeuronSpace& space,
                const std::vector<NeuronId>& selected) {
  freeze_all(model);
  const model::ModelOptions& o = model.options();
  const model::LayerRange layers =
      model::stage_layers(space.config().layers, o.pp_stages, o.pp_stage);
  // This rank's selected local indices per (layer, kind), ascending.
  std::map<std::pair<int64_t, int>, std::vector<int32_t>> local;
  for (NeuronId id : selected) {
    if (!space.contains(id)) fail("neuron set: ", id_str(id), " is not a neuron of this model");
    const NeuronOwner w = space.owner(id);
    if (w.tp_rank == o.tp.rank && w.pp_stage == o.pp_stage)
      local[{id_layer(id), int(id_kind(id))}].push_back(int32_t(w.local_index));
  }
  for (int64_t layer = layers.first; layer < layers.last; ++layer)
    for (NeuronKind k : space.kinds().list()) {
      std::vector<int32_t>& idx = local[{layer, int(k)}];
      std::sort(idx.begin(), idx.end());
      if (std::adjacent_find(idx.begin(), idx.end()) != idx.end())
        fail("neuron set: a neuron of layer ", layer, " ", kind_name(k), " is listed twice");
      for (const NeuronMatrix& m : space.matrices(k)) {
        Parameter& p = model.parameter(parameter_name(layer, m));
        p.trainable = true;
        p.neuron_axis = m.axis;
        p.neuron_index = Tensor::from_ints(idx, {int64_t(idx.size())}, p.value.device());
      }
    }
}

std::vector<NeuronId> trained_neurons(model::LlamaModel& model, const NeuronSpace& space) {
  const model::ModelOptions& o = model.options();
  const model::LayerRange layers =
      model::stage_layers(space.config().layers, o.pp_stages, o.pp_stage);
  std::vector<NeuronId> out;
  for (int64_t layer = layers.first; layer < layers.last; ++layer)
    for (NeuronKind k : space.kinds().list()) {
      const Parameter& p = model.parameter(parameter_name(layer, space.matrices(k).front()));
      if (!p.neuron_level()) continue;
      const Tensor idx = p.neuron_index.to(Device::CPU);
      for (int64_t i = 0; i < idx.numel(); ++i)
        out.push_back(space.global_id(layer, k, o.tp.rank, idx.data<int32_t>()[i]));
    }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace neft::neuron
