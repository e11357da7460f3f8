#include "launch/merge.h"

#include <cstdio>

#include "model/config.h"
#include "neuron/delta.h"
#include "train/distributed_checkpoint.h"
#include "train/model_setup.h"

namespace neft::launch {

int run_merge(const MergeOptions& o) {
  // One CPU process in f32: the merge is a copy of a few rows, and f32 holds the rows of a
  // delta of any dtype exactly.
  neuron::check_delta(o.delta, model::resolve_config(o.base));  // before loading the weights
  const auto model = train::build_model({o.base, ""}, {Device::CPU, DType::F32}, o.seed);
  neuron::apply_delta(*model, o.delta);
  train::save_model(*model, o.out, /*write=*/true, nullptr, o.base);
  std::printf("merged %s into %s: %s (HF format)\n", o.delta.c_str(), o.base.c_str(),
              o.out.c_str());
  return 0;
}

}  // namespace neft::launch
