#include "train/distributed_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "lora/lora.h"
#include "model/hf_checkpoint.h"
#include "model/shard.h"
#include "parallel/mappings.h"
#include "parallel/text_messages.h"
#include "runtime/error.h"

namespace neft::train {

namespace {

// A stage's header: [[name, dtype, shape], ...] as JSON text.
std::string describe_tensors(const model::NamedTensors& tensors) {
  nlohmann::json header = nlohmann::json::array();
  for (const auto& [name, t] : tensors) header.push_back({name, dtype_name(t.dtype()), t.shape()});
  return header.dump();
}

// True when the TP shards of a neuron-level parameter hold different neurons (q/k/v/gate/up
// split by rows, o/down by columns: the neuron axis is the split one); false when every rank
// holds the whole tensor. Megatron's layout splits no neuron matrix the other way.
bool split_along_neurons(const Parameter& p) {
  NEFT_CHECK(p.shard_dim < 0 || p.shard_dim == p.neuron_axis, p.name,
             ": a neuron-level parameter split across its neurons, not between them");
  return p.shard_dim >= 0;
}

}  // namespace

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
  for (int32_t& i : index) i += int32_t(layout.neuron_offset());
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

model::NamedTensors collect_stages(model::NamedTensors stage, parallel::Communicator* pp) {
  if (!pp || pp->size() == 1) return stage;
  if (pp->rank() != 0) {
    parallel::send_text(describe_tensors(stage), *pp, 0);
    for (const auto& [name, t] : stage) pp->send(t.to(Device::CPU), 0);
    return {};
  }
  model::NamedTensors all = std::move(stage);
  for (int s = 1; s < pp->size(); ++s) {
    const nlohmann::json header = nlohmann::json::parse(parallel::recv_text(*pp, s));
    for (const auto& entry : header) {
      Tensor t = Tensor::empty(entry[2].get<Shape>(), dtype_from_name(entry[1].get<std::string>()));
      pp->recv(t, s);
      all.emplace_back(entry[0].get<std::string>(), std::move(t));
    }
  }
  return all;
}

void save_model(model::LlamaModel& model, const std::string& dir, bool write,
                parallel::Communicator* pp, const std::string& companions,
                const std::function<void(const std::string& dir)>& also) {
  const model::TensorParallel& tp = model.options().tp;
  // A LoRA adapter is not a weight of the HF model: it goes beside it in PEFT's format.
  const ParameterList adapters = lora::lora_parameters(model);
  std::vector<const Parameter*> mine;
  for (const Parameter* p : model.parameters())
    if (std::find(adapters.begin(), adapters.end(), p) == adapters.end()) mine.push_back(p);
  auto whole = [&](size_t i) { return gather_whole(mine[i]->value, *mine[i], tp); };

  if (pp && pp->rank() != 0) {  // a later stage: its TP group gathers, its rank here sends
    nlohmann::json plan = nlohmann::json::array();
    for (const Parameter* p : mine)
      plan.push_back({p->name, dtype_name(p->value.dtype()), p->full_shape});
    parallel::gather_text(plan.dump(), pp, 0);
    for (size_t i = 0; i < mine.size(); ++i) pp->send(whole(i).to(Device::CPU), 0);
    return;
  }
  if (!write) {  // a TP peer: takes part in its group's gathers, in the writer's order
    for (size_t i = 0; i < mine.size(); ++i) whole(i);
    return;
  }
  model::PlannedTensors planned;
  std::vector<int> stage_of;  // the stage that holds each planned tensor
  for (const Parameter* p : mine) {
    planned.emplace_back(p->name, model::TensorInfo{p->value.dtype(), p->full_shape, 0});
    stage_of.push_back(0);
  }
  const std::vector<std::string> stages = parallel::gather_text("[]", pp, 0);
  for (size_t s = 1; s < stages.size(); ++s)
    for (const auto& entry : nlohmann::json::parse(stages[s])) {
      planned.emplace_back(entry[0].get<std::string>(),
                           model::TensorInfo{dtype_from_name(entry[1].get<std::string>()),
                                             entry[2].get<Shape>(), 0});
      stage_of.push_back(int(s));
    }
  for (auto& [name, info] : planned) {
    int64_t n = 1;
    for (int64_t d : info.shape) n *= d;
    info.nbytes = size_t(n) * dtype_size(info.dtype);
  }
  // Tensor i made when it is written: gathered here (stage 0) or received from its stage, in
  // the order every stage sends its own.
  auto make = [&](size_t i) {
    if (stage_of[i] == 0) return whole(i);
    Tensor t = Tensor::empty(planned[i].second.shape, planned[i].second.dtype);
    pp->recv(t, stage_of[i]);
    return t;
  };
  model::save_hf_directory(model.config(), planned, make,
                           model::torch_dtype_name(model.options().dtype), dir, companions,
                           model::kDefaultShardBytes, also);
}

}  // namespace neft::train
