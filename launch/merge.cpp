#include "launch/merge.h"

#include <cstdio>

#include "lora/lora.h"
#include "lora/peft_format.h"
#include "model/config.h"
#include "neuron/delta.h"
#include "train/distributed_checkpoint.h"
#include "train/model_setup.h"

namespace neft::launch {

int run_merge(const MergeOptions& o) {
  // One CPU process in f32: the merge is a copy of a few rows, and f32 holds the rows of a
  // delta of any dtype exactly.
  if (!o.delta.empty())
    neuron::check_delta(o.delta, model::resolve_config(o.base));  // before loading the weights
  // A base that carries a LoRA adapter (a LoRA run's model/) comes with it attached.
  const auto model = train::build_model({o.base, ""}, {Device::CPU, DType::F32}, o.seed);
  if (!o.adapter.empty()) lora::attach_peft_adapter(*model, o.adapter);
  const bool adapters = !lora::lora_parameters(*model).empty();
  if (o.delta.empty() && !adapters)
    fail("merge: nothing to merge: give --delta FILE or --adapter DIR (", o.base,
         " carries no adapter)");
  lora::merge_adapters(*model);
  if (!o.delta.empty()) neuron::apply_delta(*model, o.delta);
  train::save_model(*model, o.out, /*write=*/true, nullptr, o.base);
  std::printf("merged %s into %s: %s (HF format)\n",
              !o.delta.empty()     ? o.delta.c_str()
              : !o.adapter.empty() ? o.adapter.c_str()
                                   : "its LoRA adapter",
              o.base.c_str(), o.out.c_str());
  return 0;
}

}  // namespace neft::launch
