// Generation with the KV cache against the model without one: every greedy token is the
// argmax of one full forward over the prompt and the tokens so far (the definition), for
// prompts of different lengths batched together (left padding) and alone; the batch a prompt
// is in changes nothing, greedy or sampled; sampling keeps to top_k and top_p.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "model/llama.h"
#include "tests/unit/model/small_config.h"
#include "train/generation.h"
#include "train/sampling.h"

namespace neft::train {
namespace {

std::unique_ptr<model::LlamaModel> small_model(uint64_t seed) {
  auto m = std::make_unique<model::LlamaModel>(testing::small_llama_config(false));
  // A larger std than HF's default, so that the logits are far from ties and the cached and
  // full computations (the same f32 math summed in other orders) pick the same tokens.
  m->init_random(seed, 0.3f);
  return m;
}

// The argmax of the last position's logits of one forward over `ids` (one row, positions
// 0..n-1), without a cache.
int32_t full_forward_argmax(model::LlamaModel& m, const std::vector<int32_t>& ids) {
  const int64_t n = int64_t(ids.size());
  const Tensor tokens = Tensor::from_ints(ids, {1, n});
  const Tensor targets = Tensor::from_ints(std::vector<int32_t>(ids.size(), -100), {1, n});
  m.forward(tokens, targets);
  const std::vector<float> logits = m.logits().to_floats();
  const int64_t V = m.logits().size(1);
  auto row = logits.begin() + (n - 1) * V;
  return int32_t(std::max_element(row, row + V) - row);
}

const std::vector<std::vector<int32_t>> kPrompts = {
    {3, 7, 1}, {5}, {2, 9, 11, 4, 17, 8, 6, 1, 13}, {23, 0, 12, 12}};

TEST(Generation, GreedyWithTheCacheIsTheArgmaxOfFullForwards) {
  auto m = small_model(5);
  GenerationOptions o;
  o.max_new_tokens = 12;
  o.batch = 4;  // all four prompts in one left-padded batch
  const std::vector<Generated> out = generate(*m, kPrompts, o);
  ASSERT_EQ(out.size(), kPrompts.size());
  for (size_t p = 0; p < kPrompts.size(); ++p) {
    ASSERT_EQ(out[p].ids.size(), 12u) << "no eos given: every prompt runs to max_new_tokens";
    std::vector<int32_t> seq = kPrompts[p];
    for (size_t i = 0; i < out[p].ids.size(); ++i) {
      EXPECT_EQ(out[p].ids[i], full_forward_argmax(*m, seq)) << "prompt " << p << " token " << i;
      seq.push_back(out[p].ids[i]);
    }
  }
}

TEST(Generation, TheBatchAPromptIsInChangesNothing) {
  auto m = small_model(6);
  for (double temperature : {0.0, 1.0}) {
    GenerationOptions o;
    o.max_new_tokens = 10;
    o.sampling.temperature = temperature;
    o.sampling.seed = 42;
    o.batch = 4;
    const std::vector<Generated> together = generate(*m, kPrompts, o);
    o.batch = 1;
    const std::vector<Generated> alone = generate(*m, kPrompts, o);
    for (size_t p = 0; p < kPrompts.size(); ++p)
      EXPECT_EQ(together[p].ids, alone[p].ids)
          << "prompt " << p << " at temperature " << temperature;
  }
}

TEST(Generation, StopsAtEosAndKeepsIt) {
  auto m = small_model(7);
  GenerationOptions o;
  o.max_new_tokens = 12;
  const std::vector<Generated> free_run = generate(*m, {kPrompts[2]}, o);
  // Make the third generated token an eos: generation must stop right after it.
  o.eos = {free_run[0].ids[2]};
  const std::vector<Generated> stopped = generate(*m, {kPrompts[2]}, o);
  const auto first = std::find(free_run[0].ids.begin(), free_run[0].ids.end(), o.eos[0]);
  const std::vector<int32_t> expected(free_run[0].ids.begin(), first + 1);
  EXPECT_EQ(stopped[0].ids, expected);
  EXPECT_TRUE(stopped[0].stopped_at_eos);
  EXPECT_FALSE(free_run[0].stopped_at_eos);
}

TEST(Sampling, KeepsToTopKAndTopPAndIsSeeded) {
  const std::vector<float> logits = {0.0f, 3.0f, 1.0f, 2.9f, -1.0f, 2.0f};
  SamplingOptions s;
  s.temperature = 1.0;
  s.top_k = 3;  // ids 1, 3, 5
  std::set<int32_t> seen;
  for (uint64_t step = 0; step < 400; ++step) seen.insert(sample_token(logits, s, 0, step));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 3, 5}));
  // p(1) = 0.40, p(3) = 0.36 of the whole softmax: top_p 0.5 keeps both, 0.3 only id 1.
  s.top_k = 0;
  s.top_p = 0.5;
  seen.clear();
  for (uint64_t step = 0; step < 400; ++step) seen.insert(sample_token(logits, s, 0, step));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 3}));
  s.top_p = 0.3;
  for (uint64_t step = 0; step < 50; ++step) EXPECT_EQ(sample_token(logits, s, 0, step), 1);
  s.top_p = 1.0;
  EXPECT_EQ(sample_token(logits, s, 7, 3), sample_token(logits, s, 7, 3));
  s.temperature = 0.0;
  EXPECT_EQ(sample_token(logits, s, 0, 0), 1);  // greedy
}

}  // namespace
}  // namespace neft::train
