// The evaluation's argmax over logits whose vocabulary is split over the TP group (every
// rank of the world): the same ids as argmax over the whole rows on one rank, on every rank,
// with ties within a shard and across shards going to the lowest id.
#include <gtest/gtest.h>

#include <random>

#include "helpers.h"
#include "parallel/process_groups.h"
#include "train/evaluate.h"

namespace neft::launch {
namespace {

using parallel::testing::world_size;

TEST(VocabParallelArgmax, MatchesTheArgmaxOfTheWholeRows) {
  const int tp = world_size();
  if (tp < 2) GTEST_SKIP() << "needs a vocabulary split over two ranks or more";
  const parallel::ProcessGroups groups =
      parallel::make_process_groups(tp, 1, parallel::Backend::MPI);
  const int64_t local = 5, V = local * tp, N = 6;
  // The same rows on every rank (one seed).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
  std::vector<float> whole(size_t(N * V));
  for (float& v : whole) v = uniform(rng);
  auto set = [&](int64_t row, int64_t id, float v) { whole[size_t(row * V + id)] = v; };
  set(1, V - 1, 9.0f);                                            // the maximum in the last shard
  set(2, 1, 8.0f), set(2, 3, 8.0f);                               // a tie inside the first shard
  set(3, local + 2, 7.0f), set(3, V - 2, 7.0f), set(3, 4, 7.0f);  // a tie across shards
  for (int64_t id = 0; id < V; ++id) set(4, id, -1.0f);           // every entry the maximum
  set(5, local, 6.0f);  // the first entry of the second shard

  std::vector<int32_t> expected;
  for (int64_t r = 0; r < N; ++r) {
    int64_t best = 0;
    for (int64_t id = 1; id < V; ++id)
      if (whole[size_t(r * V + id)] > whole[size_t(r * V + best)]) best = id;
    expected.push_back(int32_t(best));
  }
  EXPECT_EQ(expected[3], 4);
  EXPECT_EQ(expected[4], 0);

  const int rank = groups.tp->rank();
  std::vector<float> mine;
  for (int64_t r = 0; r < N; ++r)
    for (int64_t c = 0; c < local; ++c) mine.push_back(whole[size_t(r * V + rank * local + c)]);
  const model::TensorParallel shard{groups.tp.get(), rank, tp};
  EXPECT_EQ(
      train::vocab_parallel_argmax(Tensor::from_floats(mine, {N, local}), rank * local, shard),
      expected)
      << "rank " << rank;
  // One rank with the whole rows gives the same.
  EXPECT_EQ(train::vocab_parallel_argmax(Tensor::from_floats(whole, {N, V}), 0, {}), expected);
}

}  // namespace
}  // namespace neft::launch
