// Which micro-batch of which optimizer step a training forward runs on: the key of the
// random masks a training pass draws (LoRA's dropout, lora/lora_dropout.h). `index` counts the
// step's micro-batches over every data-parallel rank (train/step_data.h deals them out), so
// each micro-batch has the same key at every layout. A forward's key goes with its activations
// (model/stage_activations.h): its backward, and with recompute the blocks' forwards run again
// in it, draw the same masks, whatever micro-batch a pipeline stage has begun since. A forward
// without a key (evaluation, generation, scoring) is not training and draws nothing.
#pragma once
#include <cstdint>

namespace neft::model {

struct MicroBatchKey {
  int64_t step = 0;   // the optimizer step, from 0
  int64_t index = 0;  // the micro-batch among the step's, over every data-parallel rank
};

}  // namespace neft::model
