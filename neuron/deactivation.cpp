#include "neuron/deactivation.h"

#include <algorithm>
#include <map>

#include "runtime/error.h"
#include "runtime/ops/gather_scatter.h"
#include "runtime/rng.h"

namespace neft::neuron {

namespace {
NeuronKind kind_of(model::UnitSite site) {
  switch (site) {
    case model::UnitSite::FfnHidden:
      return NeuronKind::Ffn;
    case model::UnitSite::AttentionOutput:
      return NeuronKind::QO;
    default:  // Key, Value: both halves of a kv unit
      return NeuronKind::KV;
  }
}
}  // namespace

Deactivation::Deactivation(model::LlamaModel& model, const NeuronSpace& space,
                           const std::vector<NeuronId>& ids)
    : model_(model) {
  const model::ModelOptions& o = model.options();
  if (space.tp() != o.tp.size || space.pp() != o.pp_stages)
    fail("deactivation: the neuron space is for tp ", space.tp(), " pp ", space.pp(),
         " but the model runs at tp ", o.tp.size, " pp ", o.pp_stages);
  const model::LayerRange r = model.layers();
  first_layer_ = r.first;
  std::vector<std::array<std::vector<int32_t>, kNeuronKinds>> local(size_t(r.last - r.first));
  for (NeuronId id : ids) {
    if (!space.contains(id)) fail("deactivation: ", id_str(id), " is not a neuron of the model");
    const NeuronOwner owner = space.owner(id);
    if (owner.tp_rank != o.tp.rank || owner.pp_stage != o.pp_stage) continue;
    local[size_t(id_layer(id) - r.first)][size_t(id_kind(id))].push_back(
        int32_t(owner.local_index));
    ++local_neurons_;
  }
  for (const auto& layer : local) {
    columns_.emplace_back();
    for (size_t k = 0; k < layer.size(); ++k)
      if (!layer[k].empty())
        columns_.back()[k] = Tensor::from_ints(layer[k], {int64_t(layer[k].size())}, o.device);
  }
  model_.set_unit_hooks(this);
}

Deactivation::~Deactivation() { model_.set_unit_hooks(nullptr); }

void Deactivation::zero_columns(int64_t layer, model::UnitSite site, Tensor& t) const {
  const Tensor& idx = columns_.at(size_t(layer - first_layer_))[size_t(kind_of(site))];
  if (!idx.defined()) return;
  const Tensor zeros = Tensor::zeros({t.size(0), idx.numel()}, t.dtype(), t.device());
  ops::scatter_cols(zeros, idx, t);
}

void Deactivation::forward(int64_t layer, model::UnitSite site, Tensor& out) {
  zero_columns(layer, site, out);
}

void Deactivation::backward(int64_t layer, model::UnitSite site, const Tensor&, Tensor& grad) {
  zero_columns(layer, site, grad);
}

RandomMatch random_match_from_name(const std::string& name) {
  if (name == "kind") return RandomMatch::Kind;
  if (name == "layer") return RandomMatch::Layer;
  fail("random match: unknown value '", name, "' (expected kind or layer)");
}

std::vector<NeuronId> random_like(const std::vector<NeuronId>& ids, const NeuronSpace& space,
                                  RandomMatch match, uint64_t seed) {
  // Groups keyed by (layer, kind), the layer -1 when only the kind is matched.
  std::map<std::pair<int64_t, int>, int64_t> counts;
  for (NeuronId id : ids) {
    if (!space.contains(id)) fail("random set: ", id_str(id), " is not a neuron of the model");
    ++counts[{match == RandomMatch::Layer ? id_layer(id) : -1, int(id_kind(id))}];
  }
  std::vector<NeuronId> out;
  uint64_t draw = 0;  // one Philox stream for the whole set: groups never share a draw
  for (const auto& [group, count] : counts) {
    const auto [layer, kind] = group;
    const NeuronKind k = NeuronKind(kind);
    std::vector<NeuronId> population;
    for (int64_t l = 0; l < space.config().layers; ++l)
      if (layer < 0 || l == layer)
        for (int64_t i = 0; i < space.units(k); ++i) population.push_back(make_id(l, k, i));
    // A partial Fisher-Yates shuffle: the first `count` places get a uniform sample. The
    // modulo's bias is below 2^-40 for any population a model has.
    for (int64_t i = 0; i < count; ++i) {
      const rng::U32x4 w = rng::random_words(seed, 0, draw++);
      const uint64_t r = (uint64_t(w.v[0]) << 32) | w.v[1];
      const uint64_t n = uint64_t(population.size()) - uint64_t(i);
      std::swap(population[size_t(i)], population[size_t(i) + size_t(r % n)]);
    }
    out.insert(out.end(), population.begin(), population.begin() + count);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace neft::neuron
