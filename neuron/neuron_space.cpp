#include "neuron/neuron_space.h"

#include <sstream>

#include "model/llama.h"
#include "runtime/error.h"

namespace neft::neuron {

namespace {
constexpr int kIndexBits = 32, kKindBits = 2;
constexpr NeuronKind kAllKinds[] = {NeuronKind::Ffn, NeuronKind::QO, NeuronKind::KV};
}  // namespace

const char* kind_name(NeuronKind k) {
  switch (k) {
    case NeuronKind::Ffn:
      return "ffn";
    case NeuronKind::QO:
      return "qo";
    case NeuronKind::KV:
      return "kv";
  }
  return "?";
}

NeuronKinds NeuronKinds::parse(const std::string& list, bool ffn_gate) {
  NeuronKinds k{false, false, false, ffn_gate};
  std::stringstream in(list);
  std::string item;
  bool any = false;
  while (std::getline(in, item, ',')) {
    if (item == "ffn") {
      k.ffn = true;
    } else if (item == "qo") {
      k.qo = true;
    } else if (item == "kv") {
      k.kv = true;
    } else if (item == "all") {
      k.ffn = k.qo = k.kv = true;
    } else {
      fail("neuron kinds: unknown kind '", item, "' in '", list,
           "' (expected a comma-separated list of ffn, qo, kv, or all)");
    }
    any = true;
  }
  if (!any) fail("neuron kinds: the list is empty (expected ffn, qo, kv or all)");
  return k;
}

std::string NeuronKinds::str() const {
  std::string s;
  for (NeuronKind k : list()) s += (s.empty() ? "" : ",") + std::string(kind_name(k));
  return s;
}

bool NeuronKinds::has(NeuronKind k) const {
  return k == NeuronKind::Ffn ? ffn : k == NeuronKind::QO ? qo : kv;
}

std::vector<NeuronKind> NeuronKinds::list() const {
  std::vector<NeuronKind> out;
  for (NeuronKind k : kAllKinds)
    if (has(k)) out.push_back(k);
  return out;
}

NeuronId make_id(int64_t layer, NeuronKind kind, int64_t index) {
  return (layer << (kIndexBits + kKindBits)) | (int64_t(kind) << kIndexBits) | index;
}
int64_t id_layer(NeuronId id) { return id >> (kIndexBits + kKindBits); }
NeuronKind id_kind(NeuronId id) {
  return NeuronKind(int((id >> kIndexBits) & ((1 << kKindBits) - 1)));
}
int64_t id_index(NeuronId id) { return id & ((int64_t(1) << kIndexBits) - 1); }
std::string id_str(NeuronId id) {
  return "layer " + std::to_string(id_layer(id)) + " " + kind_name(id_kind(id)) + " " +
         std::to_string(id_index(id));
}

NeuronSpace::NeuronSpace(const model::LlamaConfig& config, NeuronKinds kinds, int tp, int pp)
    : config_(config), kinds_(kinds), tp_(tp), pp_(pp) {
  if (kinds.list().empty()) fail("neuron kinds: none enabled");
  for (NeuronKind k : kinds.list())
    if (units(k) % tp != 0)
      fail("neuron space: tp ", tp, " does not divide the ", units(k), " ", kind_name(k),
           " units of a layer");
  model::stage_layers(config.layers, pp, 0);  // fails when pp > layers
}

int64_t neuron_units(const model::LlamaConfig& config, NeuronKind k) {
  switch (k) {
    case NeuronKind::Ffn:
      return config.intermediate;
    case NeuronKind::QO:
      return config.q_dim();
    case NeuronKind::KV:
      return config.kv_dim();
  }
  return 0;
}

std::vector<NeuronMatrix> neuron_matrices(NeuronKind k, bool ffn_gate) {
  switch (k) {
    case NeuronKind::Ffn:
      if (ffn_gate)
        return {
            {"mlp.gate_proj.weight", 0}, {"mlp.up_proj.weight", 0}, {"mlp.down_proj.weight", 1}};
      return {{"mlp.up_proj.weight", 0}, {"mlp.down_proj.weight", 1}};
    case NeuronKind::QO:
      return {{"self_attn.q_proj.weight", 0}, {"self_attn.o_proj.weight", 1}};
    case NeuronKind::KV:
      return {{"self_attn.k_proj.weight", 0}, {"self_attn.v_proj.weight", 0}};
  }
  return {};
}

std::string parameter_name(int64_t layer, const NeuronMatrix& m) {
  return "model.layers." + std::to_string(layer) + "." + m.name;
}

int64_t NeuronSpace::units(NeuronKind k) const { return neuron_units(config_, k); }

std::vector<NeuronMatrix> NeuronSpace::matrices(NeuronKind k) const {
  return neuron_matrices(k, kinds_.ffn_gate);
}

int64_t NeuronSpace::params_per_neuron(NeuronKind k) const {
  return int64_t(matrices(k).size()) * config_.hidden;
}

int64_t NeuronSpace::total_neurons() const {
  int64_t n = 0;
  for (NeuronKind k : kinds_.list()) n += units(k);
  return n * config_.layers;
}

int64_t NeuronSpace::total_params() const {
  int64_t n = 0;
  for (NeuronKind k : kinds_.list()) n += units(k) * params_per_neuron(k);
  return n * config_.layers;
}

bool NeuronSpace::contains(NeuronId id) const {
  if (id < 0) return false;
  const int64_t kind = (id >> kIndexBits) & ((1 << kKindBits) - 1);
  if (kind >= kNeuronKinds || !kinds_.has(NeuronKind(kind))) return false;
  return id_layer(id) < config_.layers && id_index(id) < units(NeuronKind(kind));
}

NeuronOwner NeuronSpace::owner(NeuronId id) const {
  NEFT_CHECK(contains(id), "neuron space: no neuron ", id, " in this model");
  const int64_t local_units = units(id_kind(id)) / tp_;
  NeuronOwner o;
  o.tp_rank = int(id_index(id) / local_units);
  o.local_index = id_index(id) % local_units;
  for (int s = 0; s < pp_; ++s) {
    const model::LayerRange r = model::stage_layers(config_.layers, pp_, s);
    if (id_layer(id) >= r.first && id_layer(id) < r.last) o.pp_stage = s;
  }
  return o;
}

std::vector<NeuronId> NeuronSpace::owned(int tp_rank, int pp_stage) const {
  const model::LayerRange r = model::stage_layers(config_.layers, pp_, pp_stage);
  std::vector<NeuronId> out;
  for (int64_t layer = r.first; layer < r.last; ++layer)
    for (NeuronKind k : kinds_.list()) {
      const int64_t local = units(k) / tp_;
      for (int64_t i = 0; i < local; ++i) out.push_back(make_id(layer, k, tp_rank * local + i));
    }
  return out;
}

NeuronId NeuronSpace::global_id(int64_t layer, NeuronKind k, int tp_rank, int64_t local) const {
  return make_id(layer, k, tp_rank * (units(k) / tp_) + local);
}

int64_t NeuronSpace::params_of(const std::vector<NeuronId>& ids) const {
  int64_t n = 0;
  for (NeuronId id : ids) n += params_of(id);
  return n;
}

int64_t NeuronSpace::lora_params(int64_t rank) const {
  const model::LlamaConfig& c = config_;
  int64_t per_layer = 0;
  // Each matrix is [units, hidden] or [hidden, units]: in + out = hidden + units.
  for (NeuronKind k : kinds_.list())
    per_layer += rank * (c.hidden + units(k)) * int64_t(matrices(k).size());
  return per_layer * c.layers;
}

}  // namespace neft::neuron
