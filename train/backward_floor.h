// The backward floor of a model split over tensor- and pipeline-parallel ranks
// (model/llama.h LlamaModel::backward_floor): the lowest layer that trains anything, over the
// whole model. Below it backward computes nothing, and at it no input gradient, so every rank
// must skip alike: a column-parallel layer's input gradient is summed over the tensor-parallel
// group (whose ranks may hold different selected neurons), and a stage sends its input
// gradient back only while an earlier stage trains. Agreed once trainability is set up (one
// 8-byte all-reduce on each group); data-parallel replicas train alike and need no sum.
#pragma once
#include "model/llama.h"
#include "parallel/communicator.h"

namespace neft::train {

// The minimum of lowest_trained_layer() over `tp` and `pp` (either may be null: no group),
// handed to the model. Call after every change of what trains, before training.
void agree_backward_floor(model::LlamaModel& model, parallel::Communicator* tp,
                          parallel::Communicator* pp);

}  // namespace neft::train
