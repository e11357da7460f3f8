#include "lora/lora.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "lora/lora_adapter.h"
#include "model/block.h"
#include "model/shard.h"
#include "runtime/error.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gemm.h"
#include "runtime/text.h"

namespace neft::lora {

namespace {

constexpr const char* kTargets[] = {"q", "k", "v", "o", "gate", "up", "down"};

// The slot of a target in a block, and the kind of layer it is in.
struct Slot {
  model::LinearWeight* weight;
  BaseLayer layer;
};
Slot slot(model::Block& b, const std::string& target) {
  if (target == "q") return {&b.qkv().part(0), BaseLayer::Column};
  if (target == "k") return {&b.qkv().part(1), BaseLayer::Column};
  if (target == "v") return {&b.qkv().part(2), BaseLayer::Column};
  if (target == "o") return {&b.o().part(), BaseLayer::Row};
  if (target == "gate") return {&b.gate_up().part(0), BaseLayer::Column};
  if (target == "up") return {&b.gate_up().part(1), BaseLayer::Column};
  if (target == "down") return {&b.down().part(), BaseLayer::Row};
  fail("lora: unknown target '", target, "'");
}

}  // namespace

std::vector<std::string> parse_targets(const std::string& list) {
  if (trim(list) == "all") return {std::begin(kTargets), std::end(kTargets)};
  std::vector<std::string> out;
  for (std::string t : split_list(list)) {
    if (t.ends_with("_proj")) t.resize(t.size() - 5);
    if (std::find(std::begin(kTargets), std::end(kTargets), t) == std::end(kTargets))
      fail("lora targets: unknown target '", t,
           "' (expected q, k, v, o, gate, up, down, their _proj names, or all)");
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  if (out.empty()) fail("lora targets: the list is empty");
  return out;
}

std::string target_module(const std::string& target) { return target + "_proj"; }

std::string target_weight(int64_t layer, const std::string& target) {
  const bool attention = target == "q" || target == "k" || target == "v" || target == "o";
  return "model.layers." + std::to_string(layer) + (attention ? ".self_attn." : ".mlp.") +
         target_module(target) + ".weight";
}

std::pair<int64_t, int64_t> target_shape(const model::LlamaConfig& c, const std::string& t) {
  if (t == "q") return {c.q_dim(), c.hidden};
  if (t == "k" || t == "v") return {c.kv_dim(), c.hidden};
  if (t == "o") return {c.hidden, c.q_dim()};
  if (t == "gate" || t == "up") return {c.intermediate, c.hidden};
  return {c.hidden, c.intermediate};  // down
}

void check_config(const LoraConfig& l, const model::LlamaConfig& c) {
  if (l.targets.empty()) fail("lora: no target");
  for (const std::string& t : l.targets) {
    const auto [out, in] = target_shape(c, t);
    if (l.rank < 1 || l.rank > std::min(out, in))
      fail("lora: rank ", l.rank, " for ", target_module(t), " [", out, ", ", in, "] of ", c.name,
           ": it must be between 1 and ", std::min(out, in));
  }
  if (!(l.alpha > 0)) fail("lora: alpha ", l.alpha, " must be above 0");
  if (!(l.dropout >= 0 && l.dropout < 1))
    fail("lora: dropout ", l.dropout, " must be at least 0 and below 1");
}

void attach_lora(model::LlamaModel& model, const LoraConfig& l, uint64_t seed) {
  check_config(l, model.config());
  for (Parameter* p : model.parameters()) p->trainable = false;
  model.set_agreed_floor(std::nullopt);  // to be agreed again for what now trains
  // One working buffer for every adapter's dropout on this rank (lora_dropout.h).
  auto dropout_buffer = l.dropout > 0 ? std::make_shared<DropoutBuffer>() : nullptr;
  const model::LayerRange r = model.layers();
  for (int64_t layer = r.first; layer < r.last; ++layer)
    for (const std::string& t : l.targets) {
      const Slot s = slot(model.block(layer), t);
      if (s.weight->adapter)
        fail("lora: ", s.weight->weight.name,
             " has an adapter already (the model directory's own: fold it in with `neft merge` "
             "before training another)");
      auto adapter = std::make_unique<LoraAdapter>(s.weight->weight, s.layer, model.options().tp,
                                                   l.rank, l.alpha);
      // One Philox stream per (layer, target): the whole A drawn, this rank's part kept.
      Parameter& a = adapter->a();
      const int64_t in = a.full_shape[1];
      const float bound = float(1.0 / std::sqrt(double(in)));
      Tensor whole = Tensor::empty(a.full_shape, a.value.dtype(), a.value.device());
      const uint64_t target =
          uint64_t(std::find(std::begin(kTargets), std::end(kTargets), t) - std::begin(kTargets));
      ops::fill_uniform(whole, seed, (uint64_t(layer) * 8 + target + 1) << 40, -bound, bound);
      model::copy_shard(whole, a);
      ops::fill(adapter->b().value, 0.0f);
      if (dropout_buffer)
        adapter->set_dropout({float(l.dropout), seed, layer, int64_t(target),
                              &model.micro_batch_key(), dropout_buffer});
      adapter->set_activation_slot(&model.activation_slot());
      s.weight->adapter = std::move(adapter);
    }
}

int64_t parameter_count(const LoraConfig& l, const model::LlamaConfig& c) {
  int64_t per_layer = 0;
  for (const std::string& t : l.targets) {
    const auto [out, in] = target_shape(c, t);
    per_layer += l.rank * (in + out);
  }
  return per_layer * c.layers;
}

void merge_adapters(model::LlamaModel& model) {
  const model::LayerRange r = model.layers();
  for (int64_t layer = r.first; layer < r.last; ++layer)
    for (const char* t : kTargets) {
      model::LinearWeight& w = *slot(model.block(layer), t).weight;
      auto* adapter = dynamic_cast<LoraAdapter*>(w.adapter.get());
      if (!adapter) continue;
      NEFT_CHECK(w.weight.shard_dim < 0 && w.weight.value.dtype() == DType::F32,
                 "lora merge: runs on a whole f32 model");
      // W += s B A
      ops::gemm(adapter->b().value, false, adapter->a().value, false, w.weight.value,
                adapter->scaling(), 1.0f);
      w.adapter.reset();
    }
}

ParameterList lora_parameters(model::LlamaModel& model) {
  ParameterList out;
  const model::LayerRange r = model.layers();
  for (int64_t layer = r.first; layer < r.last; ++layer)
    for (Parameter* p : model.block(layer).adapter_parameters()) out.push_back(p);
  return out;
}

}  // namespace neft::lora
