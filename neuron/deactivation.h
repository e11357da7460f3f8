// Deactivation, the task-specific-neurons paper's test (Leng & Xiong 2024): the outputs of a
// set of neurons are zeroed and the model evaluated; zeroing a task's neurons should hurt the
// task far more than zeroing as many random ones. A neuron's output is where its unit hook
// site says (model/unit_hooks.h): ffn unit j's SwiGLU output h[:, j], qo unit i's attention
// output column i, kv unit i's k (before RoPE) and v columns i. Zeroed outputs also pass no
// gradient, so a deactivated model is a model in its own right.
//
// Each rank zeroes the neurons it owns (its tensor-parallel rank and pipeline stage); only
// their local indices are kept: memory ∝ the set's neurons on that rank.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/llama.h"
#include "model/unit_hooks.h"
#include "neuron/neuron_space.h"

namespace neft::neuron {

class Deactivation : public model::UnitHooks {
 public:
  // Installs itself on the model until destroyed. `space` is the model's layout with the
  // set's kinds; every id must be a neuron of it.
  Deactivation(model::LlamaModel& model, const NeuronSpace& space,
               const std::vector<NeuronId>& ids);
  ~Deactivation() override;
  Deactivation(const Deactivation&) = delete;
  Deactivation& operator=(const Deactivation&) = delete;

  int64_t local_neurons() const { return local_neurons_; }  // zeroed on this rank

  void forward(int64_t layer, model::UnitSite site, Tensor& out) override;
  void backward(int64_t layer, model::UnitSite site, const Tensor& out, Tensor& grad) override;
  bool wants_backward() const override { return local_neurons_ > 0; }

 private:
  // Zeroes the columns of `t` listed for (layer, site), if any.
  void zero_columns(int64_t layer, model::UnitSite site, Tensor& t) const;

  model::LlamaModel& model_;
  int64_t first_layer_ = 0, local_neurons_ = 0;
  // Per layer of the stage, per kind: local indices (i32 on the model's device), undefined
  // when none is zeroed.
  std::vector<std::array<Tensor, kNeuronKinds>> columns_;
};

// How a random control set mirrors the set it is compared with.
enum class RandomMatch { Kind, Layer };
RandomMatch random_match_from_name(const std::string& name);  // "kind" | "layer"

// A random set with as many neurons of each kind (Kind) or of each layer and kind (Layer) as
// `ids`, each drawn uniformly without replacement from all the space's neurons of that group
// (the set's own neurons included). The same on every rank and platform for one seed.
std::vector<NeuronId> random_like(const std::vector<NeuronId>& ids, const NeuronSpace& space,
                                  RandomMatch match, uint64_t seed);

}  // namespace neft::neuron
