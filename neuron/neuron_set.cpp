#include "neuron/neuron_set.h"

#include <algorithm>

#include "model/safetensors.h"
#include "runtime/error.h"

namespace neft::neuron {

namespace {

// The model shape a set records, under the names of HF's config.json (the names the messages
// use).
struct ShapeField {
  const char* key;
  int64_t NeuronSet::*in_set;
  int64_t model::LlamaConfig::*in_config;
};
constexpr ShapeField kShape[] = {
    {"num_hidden_layers", &NeuronSet::layers, &model::LlamaConfig::layers},
    {"hidden_size", &NeuronSet::hidden, &model::LlamaConfig::hidden},
    {"intermediate_size", &NeuronSet::intermediate, &model::LlamaConfig::intermediate},
    {"num_attention_heads", &NeuronSet::heads, &model::LlamaConfig::heads},
    {"num_key_value_heads", &NeuronSet::kv_heads, &model::LlamaConfig::kv_heads},
    {"head_dim", &NeuronSet::head_dim, &model::LlamaConfig::head_dim},
};

const std::string& metadata_value(const model::Metadata& m, const std::string& key,
                                  const std::string& path) {
  const auto it = m.find(key);
  if (it == m.end()) fail(path, ": the metadata has no '", key, "'");
  return it->second;
}

int64_t metadata_int(const model::Metadata& m, const std::string& key, const std::string& path) {
  const std::string& text = metadata_value(m, key, path);
  size_t used = 0;
  int64_t v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < 0)
    fail(path, ": metadata '", key, "' is '", text, "', not a non-negative whole number");
  return v;
}

// A tensor of the file, one-dimensional, of the given dtype.
Tensor read_vector(const model::SafetensorsFile& f, const char* name, DType dtype) {
  if (!f.has(name)) fail(f.path(), ": no '", name, "' tensor");
  const model::TensorInfo& info = f.info(name);
  if (info.dtype != dtype)
    fail(f.path(), ": tensor '", name, "' is ", dtype_name(info.dtype), ", not ",
         dtype_name(dtype));
  if (info.shape.size() != 1)
    fail(f.path(), ": tensor '", name, "' has shape ", shape_str(info.shape),
         ", not one dimension");
  return f.read(name, dtype);
}

std::string described(NeuronId id) { return std::to_string(id) + " (" + id_str(id) + ")"; }

bool active(const parallel::Communicator* c) { return c != nullptr && c->size() > 1; }

// Every rank's ids and scores of `c`, in rank order (variable lengths: counts first).
void gather(std::vector<NeuronId>& ids, std::vector<float>& scores, parallel::Communicator* c) {
  if (!active(c)) return;
  const int size = c->size();
  Tensor count = Tensor::empty({1}, DType::I64), counts = Tensor::empty({size}, DType::I64);
  count.data<int64_t>()[0] = int64_t(ids.size());
  c->all_gather(count, counts);
  int64_t longest = 0;
  for (int r = 0; r < size; ++r) longest = std::max(longest, counts.data<int64_t>()[r]);
  if (longest == 0) return;
  // Padded to the longest part (all_gather moves equal sizes).
  Tensor my_ids = Tensor::zeros({longest}, DType::I64),
         my_scores = Tensor::zeros({longest}, DType::F32);
  std::copy(ids.begin(), ids.end(), my_ids.data<int64_t>());
  std::copy(scores.begin(), scores.end(), my_scores.data<float>());
  Tensor all_ids = Tensor::empty({size * longest}, DType::I64);
  Tensor all_scores = Tensor::empty({size * longest}, DType::F32);
  c->all_gather(my_ids, all_ids);
  c->all_gather(my_scores, all_scores);
  ids.clear();
  scores.clear();
  for (int r = 0; r < size; ++r) {
    const int64_t* part_ids = all_ids.data<int64_t>() + r * longest;
    const float* part_scores = all_scores.data<float>() + r * longest;
    ids.insert(ids.end(), part_ids, part_ids + counts.data<int64_t>()[r]);
    scores.insert(scores.end(), part_scores, part_scores + counts.data<int64_t>()[r]);
  }
}

}  // namespace

NeuronSet make_neuron_set(const NeuronSpace& space, std::vector<NeuronId> ids,
                          std::vector<float> scores, const std::string& scorer,
                          const std::string& budget, const std::string& scope) {
  NEFT_CHECK(ids.size() == scores.size(), "neuron set: ", ids.size(), " ids but ", scores.size(),
             " scores");
  NEFT_CHECK(std::is_sorted(ids.begin(), ids.end()) &&
                 std::adjacent_find(ids.begin(), ids.end()) == ids.end(),
             "neuron set: ids are not strictly ascending");
  NeuronSet s;
  s.params = space.params_of(ids);
  s.ids = std::move(ids);
  s.scores = std::move(scores);
  s.scorer = scorer;
  s.budget = budget;
  s.scope = scope;
  s.kinds = space.kinds();
  for (const ShapeField& f : kShape) s.*f.in_set = space.config().*f.in_config;
  return s;
}

void save_neuron_set(const std::string& path, const NeuronSet& set) {
  NEFT_CHECK(set.ids.size() == set.scores.size(), "neuron set: ", set.ids.size(), " ids but ",
             set.scores.size(), " scores");
  const int64_t k = int64_t(set.ids.size());
  Tensor ids = Tensor::empty({k}, DType::I64), scores = Tensor::empty({k}, DType::F32);
  if (k > 0) {
    std::copy(set.ids.begin(), set.ids.end(), ids.data<int64_t>());
    std::copy(set.scores.begin(), set.scores.end(), scores.data<float>());
  }
  model::Metadata m{
      {"format", kNeuronSetFormat},   {"scorer", set.scorer},
      {"budget", set.budget},         {"scope", set.scope},
      {"kinds", set.kinds.str()},     {"ffn_gate", set.kinds.ffn_gate ? "true" : "false"},
      {"neurons", std::to_string(k)}, {"params", std::to_string(set.params)}};
  for (const ShapeField& f : kShape) m[f.key] = std::to_string(set.*f.in_set);
  model::save_safetensors(path, {{"ids", ids}, {"scores", scores}}, m);
}

NeuronSet load_neuron_set(const std::string& path) {
  const model::SafetensorsFile f(path);
  const model::Metadata& m = f.metadata();
  const auto format = m.find("format");
  if (format == m.end()) fail(path, ": not a neuron file (its metadata names no format)");
  if (format->second != kNeuronSetFormat)
    fail(path, ": not a neuron file (format '", format->second, "', not '", kNeuronSetFormat, "')");

  NeuronSet s;
  s.scorer = metadata_value(m, "scorer", path);
  s.budget = metadata_value(m, "budget", path);
  s.scope = metadata_value(m, "scope", path);
  const std::string& gate = metadata_value(m, "ffn_gate", path);
  if (gate != "true" && gate != "false")
    fail(path, ": metadata 'ffn_gate' is '", gate, "', not true or false");
  try {
    s.kinds = NeuronKinds::parse(metadata_value(m, "kinds", path), gate == "true");
  } catch (const Error& e) {
    fail(path, ": metadata 'kinds': ", e.what());
  }
  for (const ShapeField& field : kShape) s.*field.in_set = metadata_int(m, field.key, path);
  s.params = metadata_int(m, "params", path);

  const Tensor ids = read_vector(f, "ids", DType::I64);
  const Tensor scores = read_vector(f, "scores", DType::F32);
  if (ids.numel() != scores.numel())
    fail(path, ": ", ids.numel(), " ids but ", scores.numel(), " scores");
  s.ids.assign(ids.data<int64_t>(), ids.data<int64_t>() + ids.numel());
  s.scores.assign(scores.data<float>(), scores.data<float>() + scores.numel());
  return s;
}

NeuronSpace space_of(const NeuronSet& set, const model::LlamaConfig& config, int tp, int pp,
                     const std::string& path) {
  for (const ShapeField& f : kShape)
    if (set.*f.in_set != config.*f.in_config)
      fail(path, ": made for a model with ", f.key, " ", set.*f.in_set, "; this model has ",
           config.*f.in_config);
  if (set.ids.empty()) fail(path, ": selects no neuron");
  NEFT_CHECK(set.ids.size() == set.scores.size(), path, ": ", set.ids.size(), " ids but ",
             set.scores.size(), " scores");

  NeuronSpace space(config, set.kinds, tp, pp);
  for (size_t i = 0; i < set.ids.size(); ++i) {
    const NeuronId id = set.ids[i];
    if (id < 0 || int(id_kind(id)) >= kNeuronKinds) fail(path, ": id ", id, " is not a neuron id");
    if (id_layer(id) >= config.layers)
      fail(path, ": id ", described(id), " is out of range: the model has ", config.layers,
           " layers");
    if (!set.kinds.has(id_kind(id)))
      fail(path, ": id ", described(id), " is of kind ", kind_name(id_kind(id)),
           ", which is not among the set's kinds (", set.kinds.str(), ")");
    if (id_index(id) >= space.units(id_kind(id)))
      fail(path, ": id ", described(id), " is out of range: a layer has ", space.units(id_kind(id)),
           " ", kind_name(id_kind(id)), " neurons");
    if (i > 0 && id == set.ids[i - 1]) fail(path, ": id ", described(id), " appears twice");
    if (i > 0 && id < set.ids[i - 1])
      fail(path, ": ids are not ascending: ", described(id), " follows ",
           described(set.ids[i - 1]));
  }
  const int64_t params = space.params_of(set.ids);
  if (params != set.params)
    fail(path, ": says its neurons hold ", set.params, " parameters, but in this model they hold ",
         params);
  return space;
}

void check_same_model(const NeuronSet& a, const std::string& path_a, const NeuronSet& b,
                      const std::string& path_b) {
  for (const ShapeField& f : kShape)
    if (a.*f.in_set != b.*f.in_set)
      fail(path_b, ": made for a model with ", f.key, " ", b.*f.in_set, ", but ", path_a,
           " for one with ", a.*f.in_set);
}

LocalScores local_scores(const NeuronSet& all, const NeuronSpace& space, int tp_rank, int pp_stage,
                         const std::string& path) {
  LocalScores mine;
  mine.ids = space.owned(tp_rank, pp_stage);
  mine.values.reserve(mine.ids.size());
  for (NeuronId id : mine.ids) {
    const auto it = std::lower_bound(all.ids.begin(), all.ids.end(), id);
    if (it == all.ids.end() || *it != id)
      fail(path, ": no score for ", id_str(id),
           " (a scores file scores every neuron; this one has ", all.ids.size(), " of the model's ",
           space.total_neurons(), " ", space.kinds().str(), " neurons)");
    mine.values.push_back(all.scores[size_t(it - all.ids.begin())]);
  }
  return mine;
}

std::pair<std::vector<NeuronId>, std::vector<float>> gather_to_first(
    const std::vector<NeuronId>& ids, const std::vector<float>& scores,
    const SelectionGroups& groups) {
  NEFT_CHECK(ids.size() == scores.size(), "gather_to_first: ", ids.size(), " ids but ",
             scores.size(), " scores");
  std::vector<NeuronId> all_ids = ids;
  std::vector<float> all_scores = scores;
  gather(all_ids, all_scores, groups.tp);
  const bool tp_first = !active(groups.tp) || groups.tp->rank() == 0;
  // A pp group holds ranks of one tp rank: only tp rank 0's go on, the others never meet.
  if (!tp_first) return {};
  gather(all_ids, all_scores, groups.pp);
  if (active(groups.pp) && groups.pp->rank() != 0) return {};

  std::vector<size_t> order(all_ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return all_ids[a] < all_ids[b]; });
  std::pair<std::vector<NeuronId>, std::vector<float>> out;
  for (size_t i : order) {
    out.first.push_back(all_ids[i]);
    out.second.push_back(all_scores[i]);
  }
  return out;
}

}  // namespace neft::neuron
