// W-NCFT, the weighted variant of neuron-level continual fine-tuning (Leng & Xiong 2024,
// appendix A.2). After stage i of NCFT, which trained task k's neurons S_k at stage k, the
// model that answers task j is the last stage's with the neurons of every task trained so far
// recombined, weighted by how similar task j is to each:
//
//   f_t       the task vector: the mean of the base model's final hidden state over task t's
//             training tokens (the paper: the mean last-layer feature of 1000 samples);
//   w_j[k]    = softmax over k = 1..i of cos(f_j, f_k), no temperature;
//   W'(c)     = sum over k = 1..i of w_j[k] W_k(c) for each neuron c of S_1 ∪ ... ∪ S_i, where
//             W_k(c) are c's vectors in the model after stage k; every other weight is the
//             last stage's.
//
// The paper's equation 12 writes W' = Σ_k Sim_j[k] W_task-k, "combining the submatrices by
// columns", and leaves open what becomes of a neuron that several tasks chose and of one that
// only some stages changed. The rule above reads it as a convex combination of the stages'
// values of each neuron: a neuron no stage changed keeps its value, a neuron only task k
// changed moves from its base value towards task k's by w_j[k] and the weights of the later
// stages (which kept it), and with one task weighted 1 it is that stage's model exactly.
// It needs to know which task it answers (j), as the paper's does.
//
// Per rank it holds each stage's rows of the selected neurons it owns: i x |S_1 ∪ ... ∪ S_i|
// on that rank x hidden floats.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/llama.h"

namespace neft::neuron {

// w_j: softmax over k < trained of cos(vectors[task], vectors[k]).
std::vector<double> task_weights(const std::vector<std::vector<float>>& vectors, size_t task,
                                 size_t trained);

// A model's rows of its selected neurons (neuron/trainable.h train_only), per neuron-level
// parameter, host f32: one stage's W_k on this rank.
using NeuronRows = std::map<std::string, std::vector<float>>;
NeuronRows selected_neuron_rows(model::LlamaModel& model);

// Writes sum over k of weights[k] x stages[k] into the model's selected neurons (the same
// selection as the stages').
void write_weighted_rows(model::LlamaModel& model, const std::vector<NeuronRows>& stages,
                         const std::vector<double>& weights);

}  // namespace neft::neuron
