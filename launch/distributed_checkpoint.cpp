#include "launch/distributed_checkpoint.h"

#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "model/hf_checkpoint.h"
#include "model/shard.h"
#include "parallel/mappings.h"
#include "runtime/error.h"

namespace neft::launch {

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
  for (const auto& [name, shard] : optimizer.state())
    whole.emplace_back(name, gather_whole(shard, owner_of(name, by_name), tp));
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
    shards.emplace_back(
        name, model::read_shard(file, name, owner_of(name, by_name), DType::F32, current.device()));
  }
  try {
    optimizer.load_state(shards, steps);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

void save_model(model::LlamaModel& model, const std::string& dir, bool write,
                parallel::Communicator* pp) {
  const model::NamedTensors weights = collect_stages(gather_weights(model), pp);
  if (write)
    model::save_hf_directory(model.config(), weights,
                             model::torch_dtype_name(model.options().dtype), dir);
}

}  // namespace neft::launch
