// Which weights of a model train: all of them, or only selected neurons. Neuron-level
// training freezes every parameter except the matrices of the neuron space's kinds, and
// marks those neuron-level (Parameter::neuron_index) with the selected neurons this rank
// owns — none is fine: the matrix then trains nothing here but still takes part in every
// collective, so the ranks of a group agree on which parameters have state.
#pragma once
#include <vector>

#include "model/llama.h"
#include "neuron/neuron_space.h"

namespace neft::neuron {

// `selected`: global ids in any order; those not on this rank's stage and TP shard are
// ignored. Call before the optimizer is built.
void train_only(model::LlamaModel& model, const NeuronSpace& space,
                const std::vector<NeuronId>& selected);
// Every parameter trains, whole (the default of a new model).
void train_all(model::LlamaModel& model);
// Every parameter is frozen (scoring: gradients flow, no weight gradient is computed).
void freeze_all(model::LlamaModel& model);

// The global ids of the neurons `model` trains on this rank (ascending), read back from the
// neuron-level parameters of the first matrix of each kind.
std::vector<NeuronId> trained_neurons(model::LlamaModel& model, const NeuronSpace& space);

}  // namespace neft::neuron
