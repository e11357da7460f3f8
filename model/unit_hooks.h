// Hooks on the outputs of a block's units, the quantities neuron-level analysis reads and
// changes without the model knowing why: attribution scoring reads each unit's output and the
// loss's gradient with respect to it; deactivation zeroes chosen units' outputs. The sites
// are the outputs of the neurons of neuron/neuron_space.h:
//   FfnHidden        h = silu(gate) * up, [N, F_local]: ffn unit j is column j (down_proj's
//                    input column j);
//   AttentionOutput  the attention output, [N, q_local]: qo unit i is column i (o_proj's
//                    input column i);
//   Key, Value       k before RoPE and v, [N, kv_local]: kv unit i is column i of both (row i
//                    of k_proj and of v_proj times the normed input).
// One set of hooks is installed on the model at a time (LlamaModel::set_unit_hooks).
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace neft::model {

enum class UnitSite { FfnHidden, AttentionOutput, Key, Value };

class UnitHooks {
 public:
  virtual ~UnitHooks() = default;
  // In every forward (training, evaluation and cached generation), right after the site's
  // outputs are computed: may change them in place.
  virtual void forward(int64_t /*layer*/, UnitSite /*site*/, Tensor& /*out*/) {}
  // In backward, with the site's outputs and the loss's gradient with respect to them, before
  // the gradient flows on: may change the gradient in place. Called only when
  // wants_backward() (the block rebuilds k before RoPE for it).
  virtual void backward(int64_t /*layer*/, UnitSite /*site*/, const Tensor& /*out*/,
                        Tensor& /*grad*/) {}
  virtual bool wants_backward() const { return false; }
};

}  // namespace neft::model
