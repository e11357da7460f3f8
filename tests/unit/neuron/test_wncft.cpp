// W-NCFT's pieces (neuron/wncft.h): the task weights are a softmax of cosine similarities
// over the tasks trained so far, and the recombined neurons are the weighted sum of each
// stage's rows, so one stage weighted 1 gives that stage's weights bit for bit.
#include <gtest/gtest.h>

#include <cmath>

#include "../model/small_config.h"
#include "neuron/trainable.h"
#include "neuron/wncft.h"

namespace neft::neuron {
namespace {

TEST(Wncft, TaskWeightsAreASoftmaxOfCosineSimilarities) {
  const std::vector<std::vector<float>> v = {{1, 0}, {0, 1}, {1, 1}, {-1, 0}};
  EXPECT_EQ(task_weights(v, 3, 1), std::vector<double>{1.0});
  const std::vector<double> w = task_weights(v, 2, 3);  // cos 1/√2, 1/√2, 1
  ASSERT_EQ(w.size(), 3u);
  const double a = std::exp(1 / std::sqrt(2.0)), b = std::exp(1.0);
  EXPECT_NEAR(w[0], a / (2 * a + b), 1e-12);
  EXPECT_NEAR(w[1], w[0], 1e-15);
  EXPECT_NEAR(w[2], b / (2 * a + b), 1e-12);
  const std::vector<double> self = task_weights(v, 0, 4);  // cos 1, 0, 1/√2, -1
  EXPECT_GT(self[0], self[2]);
  EXPECT_GT(self[2], self[1]);
  EXPECT_GT(self[1], self[3]);
}

TEST(Wncft, WeightedRowsAreTheWeightedSumOfTheStages) {
  const model::LlamaConfig c = ::neft::testing::small_llama_config(false);
  const NeuronSpace space(c, NeuronKinds::parse("ffn,qo"));
  const std::vector<NeuronId> ids = {make_id(0, NeuronKind::Ffn, 2), make_id(1, NeuronKind::QO, 5)};
  model::LlamaModel a(c), b(c);
  a.init_random(1);
  b.init_random(2);
  train_only(a, space, ids);
  train_only(b, space, ids);
  const std::vector<NeuronRows> stages = {selected_neuron_rows(a), selected_neuron_rows(b)};
  EXPECT_EQ(stages[0].size(), 8u);  // up, down, q, o of both layers (some with no neuron)
  write_weighted_rows(b, stages, {1.0, 0.0});
  EXPECT_EQ(selected_neuron_rows(b), stages[0]);
  write_weighted_rows(b, stages, {0.25, 0.75});
  const NeuronRows mixed = selected_neuron_rows(b);
  for (const auto& [name, rows] : mixed)
    for (size_t i = 0; i < rows.size(); ++i)
      EXPECT_NEAR(rows[i], 0.25 * stages[0].at(name)[i] + 0.75 * stages[1].at(name)[i], 1e-7)
          << name;
  // Only the selected neurons changed: an unselected row of up_proj is b's own.
  model::LlamaModel fresh(c);
  fresh.init_random(2);
  EXPECT_EQ(b.parameter("model.layers.0.mlp.gate_proj.weight").value.to_floats(),
            fresh.parameter("model.layers.0.mlp.gate_proj.weight").value.to_floats());
}

}  // namespace
}  // namespace neft::neuron
