#include "train/distributed_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "model/hf_checkpoint.h"
#include "model/shard.h"
#include "parallel/mappings.h"
#include "runtime/error.h"

namespace neft::train {

namespace {

// The parameter an optimizer-state tensor belongs to: its name is "<parameter>.<kind>".
const Parameter& owner_of(const std::string& state_name,
                          const std::map<std::string, const Parameter*>& by_name) {
  const size_t dot = state_name.rfind('.');
  const auto it =
      dot == std::string::npos ? by_name.end() : by_name.find(state_name.substr(0, dot));
  NEFT_CHECK(it != by_name.end(), "optimizer state '", state_name, "' names no parameter");
  return *it->second;
}

// A stage's header: [[name, dtype, shape], ...] as JSON text, packed four bytes per i32 element
// (the element count carries no length: the text's byte count travels first).
std::string describe_tensors(const model::NamedTensors& tensors) {
  nlohmann::json header = nlohmann::json::array();
  for (const auto& [name, t] : tensors) header.push_back({name, dtype_name(t.dtype()), t.shape()});
  return header.dump();
}

void send_text(const std::string& text, parallel::Communicator& pp, int peer) {
  std::vector<int32_t> packed((text.size() + 3) / 4, 0);
  std::memcpy(packed.data(), text.data(), text.size());
  pp.send(Tensor::from_ints({int32_t(text.size())}, {1}), peer);
  if (!packed.empty()) pp.send(Tensor::from_ints(packed, {int64_t(packed.size())}), peer);
}

std::string recv_text(parallel::Communicator& pp, int peer) {
  Tensor length = Tensor::empty({1}, DType::I32);
  pp.recv(length, peer);
  const int32_t bytes = length.to_ints().front();
  NEFT_CHECK(bytes >= 0, "collecting stage ", peer, "'s tensors: a header of ", bytes, " bytes");
  Tensor packed = Tensor::empty({(bytes + 3) / 4}, DType::I32);
  if (bytes > 0) pp.recv(packed, peer);
  return std::string(static_cast<const char*>(packed.raw()), size_t(bytes));
}

std::map<std::string, const Parameter*> parameters_by_name(model::LlamaModel& model) {
  std::map<std::string, const Parameter*> by_name;
  for (const Parameter* p : model.parameters()) by_name[p->name] = p;
  return by_name;
}

// True when the TP shards of a neuron-level parameter hold different neurons (q/k/v/gate/up
// split by rows, o/down by columns: the neuron axis is the split one); false when every rank
// holds the whole tensor. Megatron's layout splits no neuron matrix the other way.
bool split_along_neurons(const Parameter& p) {
  NEFT_CHECK(p.shard_dim < 0 || p.shard_dim == p.neuron_axis, p.name,
             ": a neuron-level parameter split across its neurons, not between them");
  return p.shard_dim >= 0;
}

// The first whole-tensor index of this rank's neurons: its shard's offset when the parameter
// is split along the neuron axis, else 0.
int64_t neuron_offset(const Parameter& p) { return split_along_neurons(p) ? p.shard_offset : 0; }

// Rows [begin, begin + count) of the whole tensor's neuron axis live on this rank.
struct NeuronRange {
  int64_t begin = 0, count = 0;
  bool contains(int64_t i) const { return i >= begin && i < begin + count; }
};
NeuronRange neuron_range(const Parameter& p) {
  return {neuron_offset(p), p.value.size(p.neuron_axis)};
}

// `rows` (host, [K, C]) reordered so that `index` (whole indices, one per row) ascends.
NeuronRows sorted_by_index(const std::vector<int32_t>& index, const Tensor& rows,
                           const std::string& name) {
  std::vector<size_t> order(index.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return index[a] < index[b]; });
  const int64_t K = int64_t(index.size()), C = rows.size(1);
  const size_t row_bytes = size_t(C) * dtype_size(rows.dtype());
  NeuronRows out{Tensor::empty({K}, DType::I32), Tensor::empty({K, C}, rows.dtype())};
  for (size_t k = 0; k < order.size(); ++k) {
    out.neurons.data<int32_t>()[k] = index[order[k]];
    NEFT_CHECK(k == 0 || index[order[k]] != index[order[k - 1]], name, ": neuron ", index[order[k]],
               " is held twice");
    std::memcpy(static_cast<char*>(out.rows.raw()) + k * row_bytes,
                static_cast<const char*>(rows.raw()) + order[k] * row_bytes, row_bytes);
  }
  return out;
}

// The rows of this rank's neurons of a neuron-level parameter from the file `file`, where
// gather_optimizer_state saved them under `name` with the index "<parameter>.neurons": [K, C]
// f32 in the order of the model's neuron_index. The saved neurons within this rank's range
// must be exactly the model's.
Tensor read_neuron_rows(const model::Checkpoint& file, const std::string& name, const Parameter& p,
                        Device device) {
  const std::string key = p.name + ".neurons";
  if (!file.has(key))
    fail(file.path(), ": parameter '", p.name, "' trains selected neurons but the file has no '",
         key, "' (saved from a run that trained it whole)");
  const std::vector<int32_t> saved = file.read(key, DType::I32).to_ints();
  const NeuronRange range = neuron_range(p);
  std::map<int64_t, int64_t> saved_row;  // local index -> row in the file
  for (size_t j = 0; j < saved.size(); ++j)
    if (range.contains(saved[j])) saved_row[saved[j] - range.begin] = int64_t(j);
  const std::vector<int32_t> mine = p.neuron_index.to_ints();
  std::vector<int32_t> wanted = mine;
  std::sort(wanted.begin(), wanted.end());
  std::vector<int32_t> have;
  for (const auto& [local, row] : saved_row) have.push_back(int32_t(local));
  if (have != wanted) {
    std::vector<int32_t> either;
    std::set_symmetric_difference(have.begin(), have.end(), wanted.begin(), wanted.end(),
                                  std::back_inserter(either));
    fail(file.path(), ": parameter '", p.name, "': the saved neurons are not the ones this run ",
         "trains (", have.size(), " saved and ", wanted.size(), " trained in this rank's range [",
         range.begin, ", ", range.begin + range.count, "); neuron ", either.front() + range.begin,
         " is in one set only)");
  }
  const int64_t C = p.grad_shape()[1];
  const Shape want{int64_t(saved.size()), C};
  if (file.info(name).shape != want)
    fail(file.path(), ": tensor '", name, "' has shape ", shape_str(file.info(name).shape),
         ", expected ", shape_str(want), " (one row per saved neuron)");
  const std::vector<float> all = file.read(name, DType::F32).to_floats();
  std::vector<float> rows(mine.size() * size_t(C));
  for (size_t k = 0; k < mine.size(); ++k) {
    const int64_t j = saved_row.at(mine[k]);
    std::copy_n(all.begin() + j * C, C, rows.begin() + int64_t(k) * C);
  }
  return Tensor::from_floats(rows, {int64_t(mine.size()), C}, DType::F32, device);
}

}  // namespace

Tensor gather_whole(const Tensor& shard, const Parameter& layout, const model::TensorParallel& tp) {
  if (layout.shard_dim < 0 || tp.size == 1) return shard;
  NEFT_CHECK(shard.shape() == layout.value.shape(), layout.name, ": shard ", shard.str(),
             " is not shaped like the parameter's ", layout.value.str());
  // Shards are equal slices in rank order (model/tensor_parallel.h): rank r's starts at r * n.
  const int64_t n = shard.size(layout.shard_dim);
  NEFT_CHECK(layout.shard_offset == tp.rank * n, layout.name, ": shard at ", layout.shard_offset,
             " is not rank ", tp.rank, "'s slice of ", n);
  Tensor whole = Tensor::empty(layout.full_shape, shard.dtype(), shard.device());
  if (layout.shard_dim == 0)
    tp.comm->all_gather(shard, whole);
  else
    parallel::gather_from_tp(shard, whole, *tp.comm);
  return whole;
}

NeuronRows gather_neuron_rows(const Tensor& rows, const Parameter& layout,
                              const model::TensorParallel& tp) {
  NEFT_CHECK(layout.neuron_level(), layout.name, ": not a neuron-level parameter");
  const Tensor host = rows.to(Device::CPU);
  const int64_t K = host.size(0), C = host.size(1);
  NEFT_CHECK(K == layout.neuron_index.numel(), layout.name, ": ", host.str(), " rows for ",
             layout.neuron_index.numel(), " neurons");
  std::vector<int32_t> index = layout.neuron_index.to_ints();
  for (int32_t& i : index) i += int32_t(neuron_offset(layout));
  // Replicated (or one rank): every rank holds the same neurons already.
  if (!split_along_neurons(layout) || tp.size == 1)
    return sorted_by_index(index, host, layout.name);

  // all_gather takes equal parts: each rank's count first, then rows and indices padded to
  // the largest count.
  Tensor counts = Tensor::empty({tp.size}, DType::I32);
  tp.comm->all_gather(Tensor::from_ints({int32_t(K)}, {1}), counts);
  const std::vector<int32_t> count = counts.to_ints();
  const int64_t most = *std::max_element(count.begin(), count.end());
  if (most == 0) return sorted_by_index({}, Tensor::empty({0, C}, host.dtype()), layout.name);
  Tensor padded = Tensor::zeros({most, C}, host.dtype());
  std::vector<int32_t> padded_index(size_t(most), -1);
  if (K > 0) padded.rows(0, K).copy_from(host);
  std::copy(index.begin(), index.end(), padded_index.begin());
  Tensor all_rows = Tensor::empty({tp.size * most, C}, host.dtype());
  Tensor all_index = Tensor::empty({tp.size * most}, DType::I32);
  tp.comm->all_gather(padded, all_rows);
  tp.comm->all_gather(Tensor::from_ints(padded_index, {most}), all_index);

  // Drop the padding, in rank order.
  const std::vector<int32_t> gathered = all_index.to_ints();
  std::vector<int32_t> whole_index;
  const int64_t total = std::accumulate(count.begin(), count.end(), int64_t(0));
  Tensor packed = Tensor::empty({total, C}, host.dtype());
  for (int r = 0; r < tp.size; ++r) {
    if (count[size_t(r)] == 0) continue;
    packed.rows(int64_t(whole_index.size()), count[size_t(r)])
        .copy_from(all_rows.rows(r * most, count[size_t(r)]));
    whole_index.insert(whole_index.end(), gathered.begin() + r * most,
                       gathered.begin() + r * most + count[size_t(r)]);
  }
  return sorted_by_index(whole_index, packed, layout.name);
}

model::NamedTensors gather_weights(model::LlamaModel& model) {
  const model::TensorParallel& tp = model.options().tp;
  model::NamedTensors whole;
  for (const Parameter* p : model.parameters())
    whole.emplace_back(p->name, gather_whole(p->value, *p, tp));
  return whole;
}

model::NamedTensors gather_optimizer_state(model::LlamaModel& model,
                                           const optim::AdamW& optimizer) {
  const model::TensorParallel& tp = model.options().tp;
  const auto by_name = parameters_by_name(model);
  model::NamedTensors whole;
  // state() lists the trainable parameters only, the same ones on every rank of the group
  // (neuron/trainable.h marks a matrix neuron-level on every rank, with no neurons on some).
  const Parameter* indexed = nullptr;  // the last parameter whose ".neurons" is listed
  for (const auto& [name, shard] : optimizer.state()) {
    const Parameter& p = owner_of(name, by_name);
    if (!p.neuron_level()) {
      whole.emplace_back(name, gather_whole(shard, p, tp));
      continue;
    }
    NeuronRows g = gather_neuron_rows(shard, p, tp);
    if (indexed != &p) whole.emplace_back(p.name + ".neurons", std::move(g.neurons));
    indexed = &p;
    whole.emplace_back(name, std::move(g.rows));
  }
  return whole;
}

model::NamedTensors collect_stages(model::NamedTensors stage, parallel::Communicator* pp) {
  if (!pp || pp->size() == 1) return stage;
  if (pp->rank() != 0) {
    send_text(describe_tensors(stage), *pp, 0);
    for (const auto& [name, t] : stage) pp->send(t.to(Device::CPU), 0);
    return {};
  }
  model::NamedTensors all = std::move(stage);
  for (int s = 1; s < pp->size(); ++s) {
    const nlohmann::json header = nlohmann::json::parse(recv_text(*pp, s));
    for (const auto& entry : header) {
      Tensor t = Tensor::empty(entry[2].get<Shape>(), dtype_from_name(entry[1].get<std::string>()));
      pp->recv(t, s);
      all.emplace_back(entry[0].get<std::string>(), std::move(t));
    }
  }
  return all;
}

void load_optimizer_state(model::LlamaModel& model, optim::AdamW& optimizer,
                          const std::string& path, int64_t steps) {
  const model::Checkpoint file(path);
  const auto by_name = parameters_by_name(model);
  model::NamedTensors shards;
  for (const auto& [name, current] : optimizer.state()) {
    // A master copy exists only where the weights are not f32; a checkpoint from the other
    // kind of run lacks it or has one too many, and AdamW::load_state copes with both.
    if (!file.has(name)) continue;
    const Parameter& p = owner_of(name, by_name);
    if (p.neuron_level()) {
      shards.emplace_back(name, read_neuron_rows(file, name, p, current.device()));
      continue;
    }
    if (file.has(p.name + ".neurons"))
      fail(path, ": parameter '", p.name,
           "' was saved training selected neurons; this run trains it whole");
    shards.emplace_back(name, model::read_shard(file, name, p, DType::F32, current.device()));
  }
  try {
    optimizer.load_state(shards, steps);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

void save_model(model::LlamaModel& model, const std::string& dir, bool write,
                parallel::Communicator* pp, const std::string& companions) {
  const model::NamedTensors weights = collect_stages(gather_weights(model), pp);
  if (write)
    model::save_hf_directory(model.config(), weights,
                             model::torch_dtype_name(model.options().dtype), dir, companions);
}

}  // namespace neft::train
