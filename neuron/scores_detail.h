// What the scorers share (neuron/scores.h): the walk over this rank's neurons in the order
// of NeuronSpace::owned, and per-neuron sums over a matrix's rows or columns.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/llama.h"
#include "neuron/local_scores.h"
#include "neuron/neuron_space.h"
#include "neuron/scores.h"

namespace neft::neuron::detail {

// Fails (naming `scorer`) unless the space has the model's tp and pp.
void check_layout(const NeuronSpace& space, const model::LlamaModel& model, const char* scorer);

// Calls f(layer, kind, local_units) for each layer on the model's stage and each enabled
// kind, in the order of NeuronSpace::owned (whose local indices then run 0..local_units-1).
template <class F>
void for_each_layer_kind(const NeuronSpace& space, const model::LlamaModel& model, F&& f) {
  const model::ModelOptions& o = model.options();
  const model::LayerRange r = model::stage_layers(space.config().layers, o.pp_stages, o.pp_stage);
  for (int64_t layer = r.first; layer < r.last; ++layer)
    for (NeuronKind k : space.kinds().list()) f(layer, k, space.units(k) / space.tp());
}

// A matrix's host f32 copy, by full name; fails naming `what` and the name when it is absent.
const Tensor& find_matrix(const WeightSnapshot& matrices, const std::string& name,
                          const char* what);

// Per unit i (row i for axis 0, column i for axis 1) of host f32 matrices a and b of one
// shape: the sums over the unit's vector of a*b, a*a and b*b, in double.
struct VectorSums {
  std::vector<double> ab, aa, bb;
};
VectorSums vector_sums(const Tensor& a, const Tensor& b, int axis);

// The L2 norm over all each neuron's vectors in `matrices` (the kinds' matrices of the
// model's stage, as snapshot_weights keys them): magnitude of weights or of gradients.
std::vector<float> neuron_norms(const NeuronSpace& space, const model::LlamaModel& model,
                                const WeightSnapshot& matrices, const char* what);

// The LocalScores of this rank: ids = space.owned(...), values in that order.
LocalScores local_scores(const NeuronSpace& space, const model::LlamaModel& model,
                         std::vector<float> values);

// A host f32 copy of any tensor (device, dtype).
Tensor host_f32(const Tensor& t);

}  // namespace neft::neuron::detail
