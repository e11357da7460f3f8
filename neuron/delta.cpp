#include "neuron/delta.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <utility>
#include <vector>

#include "neuron/neuron_space.h"
#include "runtime/error.h"

namespace neft::neuron {

namespace {

constexpr const char* kNeuronsSuffix = ".neurons";
constexpr const char* kRowsSuffix = ".rows";

// The model shape a delta records, and so must match: (metadata key, the config's value).
std::vector<std::pair<const char*, int64_t>> shape_keys(const model::LlamaConfig& c) {
  return {{"hidden", c.hidden}, {"intermediate", c.intermediate}, {"layers", c.layers},
          {"heads", c.heads},   {"kv_heads", c.kv_heads},         {"head_dim", c.head_dim},
          {"vocab", c.vocab}};
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The matrices neurons live in, by their name within a layer: the neuron axis, and the
// units along it (neurons of the matrix per layer).
struct NeuronMatrixShape {
  int axis = -1;
  int64_t units = 0;
};
NeuronMatrixShape matrix_shape(const std::string& matrix, const model::LlamaConfig& c) {
  for (NeuronKind k : NeuronKinds::parse("all").list())
    for (const NeuronMatrix& m : neuron_matrices(k, /*ffn_gate=*/true))
      if (matrix == m.name) return {m.axis, neuron_units(c, k)};
  return {};
}

// "model.layers.<L>.<matrix>" as (L, matrix), or (-1, "") for any other name.
std::pair<int64_t, std::string> split_layer_name(const std::string& name) {
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return {-1, ""};
  size_t end = prefix.size();
  while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
  if (end == prefix.size() || end - prefix.size() > 9 || end >= name.size() || name[end] != '.')
    return {-1, ""};
  return {std::stoll(name.substr(prefix.size(), end - prefix.size())), name.substr(end + 1)};
}

// The checks every delta passes before any weight changes.
void check_metadata(const model::SafetensorsFile& file, const model::LlamaConfig& config) {
  const model::Metadata& meta = file.metadata();
  const auto format = meta.find("format");
  if (format == meta.end() || format->second != kDeltaFormat)
    fail(file.path(), ": not a neuron delta (its metadata has no format \"", kDeltaFormat, "\")");
  for (const auto& [key, value] : shape_keys(config)) {
    const auto it = meta.find(key);
    if (it == meta.end()) fail(file.path(), ": the delta's metadata has no '", key, "'");
    if (it->second != std::to_string(value))
      fail(file.path(), ": a delta for a model with ", key, " ", it->second, ", this model has ",
           value, " (", config.name, ")");
  }
}

// The whole-tensor indices "<name>.neurons" holds: i32 [K], ascending, each in [0, units).
std::vector<int32_t> read_neurons(const model::SafetensorsFile& file, const std::string& name,
                                  int64_t units) {
  const std::string key = name + kNeuronsSuffix;
  if (!file.has(key)) fail(file.path(), ": '", name, kRowsSuffix, "' without '", key, "'");
  const model::TensorInfo& info = file.info(key);
  if (info.dtype != DType::I32 || info.shape.size() != 1)
    fail(file.path(), ": '", key, "' is ", dtype_name(info.dtype), shape_str(info.shape),
         ", expected i32 [K]");
  const std::vector<int32_t> index = file.read(key, DType::I32).to_ints();
  for (size_t k = 0; k < index.size(); ++k) {
    if (index[k] < 0 || index[k] >= units)
      fail(file.path(), ": '", key, "' holds index ", index[k], ", out of range [0, ", units, ")");
    if (k > 0 && index[k] <= index[k - 1])
      fail(file.path(), ": '", key, "' is not ascending (", index[k - 1], " then ", index[k], ")");
  }
  return index;
}

// One matrix of a delta, checked: its neuron axis and whole-tensor indices (ascending).
struct DeltaMatrix {
  std::string name;
  int axis = 0;
  std::vector<int32_t> index;
};

// Every matrix of the delta, after checking the whole file against a model of `config`.
std::vector<DeltaMatrix> read_delta(const model::SafetensorsFile& file,
                                    const model::LlamaConfig& config) {
  const std::string& path = file.path();
  check_metadata(file, config);
  std::vector<DeltaMatrix> delta;
  for (const std::string& key : file.names()) {
    if (ends_with(key, kNeuronsSuffix)) {
      const std::string name = key.substr(0, key.size() - std::string(kNeuronsSuffix).size());
      if (!file.has(name + kRowsSuffix))
        fail(path, ": '", key, "' without '", name, kRowsSuffix, "'");
      continue;
    }
    if (!ends_with(key, kRowsSuffix))
      fail(path, ": tensor '", key, "' is neither '<parameter>.neurons' nor '<parameter>.rows'");
    const std::string name = key.substr(0, key.size() - std::string(kRowsSuffix).size());
    const auto [layer, matrix] = split_layer_name(name);
    const NeuronMatrixShape shape = matrix_shape(matrix, config);
    if (layer < 0 || layer >= config.layers || shape.axis < 0)
      fail(path, ": unknown parameter '", name, "' (not a neuron matrix of ", config.name, ")");
    DeltaMatrix m{name, shape.axis, read_neurons(file, name, shape.units)};
    const model::TensorInfo& info = file.info(key);
    const Shape want{int64_t(m.index.size()), config.hidden};
    if (info.shape != want)
      fail(path, ": '", key, "' is ", shape_str(info.shape), ", expected ", shape_str(want),
           " (one row of ", config.hidden, " per neuron)");
    if (!is_floating(info.dtype))
      fail(path, ": '", key, "' is ", dtype_name(info.dtype), ", expected a float dtype");
    delta.push_back(std::move(m));
  }
  return delta;
}

}  // namespace

void write_neurons(Parameter& p, int axis, const std::vector<int64_t>& local,
                   const std::vector<float>& rows) {
  std::vector<float> w = p.value.to_floats();
  const int64_t cols = p.value.size(1), C = p.value.size(1 - axis);
  for (size_t k = 0; k < local.size(); ++k)
    for (int64_t c = 0; c < C; ++c)
      w[size_t(axis == 0 ? local[k] * cols + c : c * cols + local[k])] =
          rows[k * size_t(C) + size_t(c)];
  // The untouched entries go through f32 and back, which every weight dtype survives exactly.
  p.value.copy_from(Tensor::from_floats(w, p.value.shape(), p.value.dtype(), p.value.device()));
}

model::Metadata delta_metadata(const model::LlamaConfig& config, const std::string& kinds,
                               bool ffn_gate) {
  model::Metadata meta{
      {"format", kDeltaFormat}, {"kinds", kinds}, {"ffn_gate", ffn_gate ? "true" : "false"}};
  for (const auto& [key, value] : shape_keys(config)) meta[key] = std::to_string(value);
  return meta;
}

std::string neuron_level_kinds(model::LlamaModel& model, bool* ffn_gate) {
  bool ffn = false, qo = false, kv = false, gate = false;
  for (const Parameter* p : model.parameters()) {
    if (!p->neuron_level()) continue;
    ffn |= ends_with(p->name, "mlp.up_proj.weight");
    gate |= ends_with(p->name, "mlp.gate_proj.weight");
    qo |= ends_with(p->name, "self_attn.q_proj.weight");
    kv |= ends_with(p->name, "self_attn.k_proj.weight");
  }
  if (ffn_gate) *ffn_gate = gate;
  std::string kinds;
  for (const auto& [on, name] : {std::pair{ffn, "ffn"}, {qo, "qo"}, {kv, "kv"}})
    if (on) kinds += (kinds.empty() ? "" : ",") + std::string(name);
  return kinds;
}

int neuron_axis_of(const std::string& name) {
  const auto [layer, matrix] = split_layer_name(name);
  return layer < 0 ? -1 : matrix_shape(matrix, model::LlamaConfig{}).axis;
}

void check_delta(const std::string& path, const model::LlamaConfig& config) {
  read_delta(model::SafetensorsFile(path), config);
}

void apply_delta(model::LlamaModel& model, const std::string& path) {
  const model::SafetensorsFile file(path);
  // Every tensor is checked, on every rank, before any weight changes: a bad delta fails the
  // same way everywhere and leaves the model as it was.
  const std::vector<DeltaMatrix> delta = read_delta(file, model.config());
  std::map<std::string, Parameter*> here;  // this rank's parameters (its stage's)
  for (Parameter* p : model.parameters()) here[p->name] = p;
  for (const DeltaMatrix& m : delta) {
    const auto it = here.find(m.name);
    if (it == here.end()) continue;  // another pipeline stage's
    Parameter& p = *it->second;
    // This rank's neurons: a contiguous range of the ascending indices.
    NEFT_CHECK(p.shard_dim < 0 || p.shard_dim == m.axis, p.name, ": split across its neurons");
    const int64_t offset = p.shard_dim == m.axis ? p.shard_offset : 0;
    const int64_t count = p.value.size(m.axis);
    const auto lo = std::lower_bound(m.index.begin(), m.index.end(), offset);
    const auto hi = std::lower_bound(lo, m.index.end(), offset + count);
    if (lo == hi) continue;
    std::vector<int64_t> local;
    for (auto i = lo; i != hi; ++i) local.push_back(*i - offset);
    const std::vector<float> rows =
        file.read_rows(m.name + kRowsSuffix, lo - m.index.begin(), hi - lo, DType::F32).to_floats();
    write_neurons(p, m.axis, local, rows);
  }
}

void write_selected_rows(Parameter& p, const std::vector<float>& rows) {
  NEFT_CHECK(p.neuron_level(), p.name, ": not neuron-level");
  std::vector<int64_t> local;
  for (int32_t i : p.neuron_index.to_ints()) local.push_back(i);
  NEFT_CHECK(rows.size() == local.size() * size_t(p.value.size(1 - p.neuron_axis)), p.name, ": ",
             rows.size(), " values for ", local.size(), " neurons");
  write_neurons(p, p.neuron_axis, local, rows);
}

}  // namespace neft::neuron
