// optim/state_partition.h and the partitioned AdamW: every row has exactly one owner, the
// shares differ by at most a row, the buckets group as the gradient sync groups, and AdamW
// split over S ranks (each updating its rows, the others' rows copied in afterwards, as the
// all-gather does) equals the whole update bit for bit, state included, for dense, 1-D and
// neuron-level parameters of both axes.
#include <gtest/gtest.h>

#include <numeric>

#include "optim/adamw.h"
#include "optim/state_partition.h"

namespace neft::optim {
namespace {

TEST(StatePartition, EveryRowHasOneOwnerAndSharesDifferByAtMostOne) {
  for (int64_t rows = 0; rows <= 23; ++rows)
    for (int size = 1; size <= 5; ++size) {
      int64_t next = 0, most = 0, least = rows;
      for (int r = 0; r < size; ++r) {
        const RowRange o = owned_rows(rows, size, r);
        EXPECT_EQ(o.begin, next) << rows << " rows over " << size << ", rank " << r;
        next += o.count;
        most = std::max(most, o.count);
        least = std::min(least, o.count);
      }
      EXPECT_EQ(next, rows) << rows << " rows over " << size;
      EXPECT_LE(most - least, 1) << rows << " rows over " << size;
      EXPECT_EQ(owned_rows(rows, size, 0).count, most) << "rank 0 owns the most";
    }
}

TEST(StatePartition, BucketsCloseAsTheGradientSyncsAndPadToRankZerosShare) {
  // f32 gradients of 21, 5, 40 and 9 elements; buckets of 100 bytes close once they reach
  // 25 elements: after the first two (26), then after the third (40), then the last.
  const std::vector<StateShape> shapes = {{7, 3}, {5, 1}, {10, 4}, {3, 3}};
  const std::vector<StateBucket> b = state_buckets(shapes, 3, 100);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].first, 0u);
  EXPECT_EQ(b[0].end, 2u);
  EXPECT_EQ(b[0].block, 3 * 3 + 2 * 1);  // rank 0: 3 of 7 rows, 2 of 5
  EXPECT_EQ(b[1].first, 2u);
  EXPECT_EQ(b[1].end, 3u);
  EXPECT_EQ(b[1].block, 4 * 4);  // 4 of 10 rows
  EXPECT_EQ(b[2].first, 3u);
  EXPECT_EQ(b[2].end, 4u);
  EXPECT_EQ(b[2].block, 1 * 3);
}

// Values v(i) = i / 7 - 1 and a gradient per step that varies by element and step.
std::vector<float> ramp(int64_t n, float scale, float shift) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * (float(i % 11) / 7.0f - 1.0f) + shift;
  return v;
}

// Four parameters: a dense matrix, a 1-D weight without decay, neuron-level rows (axis 0)
// and neuron-level columns (axis 1).
std::vector<Parameter> make_params() {
  std::vector<Parameter> ps(4);
  ps[0] = {"dense", Tensor::from_floats(ramp(7 * 5, 1.0f, 0.0f), {7, 5}), {}, true};
  ps[1] = {"norm", Tensor::from_floats(ramp(9, 0.5f, 1.0f), {9}), {}, false};
  ps[2] = {"rows", Tensor::from_floats(ramp(10 * 4, 2.0f, 0.1f), {10, 4}), {}, true};
  ps[2].neuron_index = Tensor::from_ints({1, 4, 7, 8, 9}, {5});
  ps[3] = {"cols", Tensor::from_floats(ramp(4 * 10, 1.5f, -0.2f), {4, 10}), {}, true};
  ps[3].neuron_index = Tensor::from_ints({0, 2, 3, 5, 6, 9}, {6});
  ps[3].neuron_axis = 1;
  return ps;
}

void set_gradients(std::vector<Parameter>& ps, int step) {
  for (size_t i = 0; i < ps.size(); ++i) {
    const Shape shape = ps[i].grad_shape();
    const int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t(1),
                                      [](int64_t a, int64_t b) { return a * b; });
    ps[i].grad = Tensor::from_floats(ramp(n, 0.3f * float(step + 1), 0.01f * float(i)), shape);
  }
}

ParameterList pointers(std::vector<Parameter>& ps) {
  ParameterList out;
  for (Parameter& p : ps) out.push_back(&p);
  return out;
}

// The entries of p's value that row r of its state covers (flat indices).
std::vector<int64_t> entries_of_row(const Parameter& p, int64_t r) {
  const StateShape s = state_shape(p);
  std::vector<int64_t> out;
  if (!p.neuron_level()) {
    for (int64_t c = 0; c < s.row_elems; ++c) out.push_back(r * s.row_elems + c);
    return out;
  }
  const int64_t neuron = p.neuron_index.to_ints()[size_t(r)], cols = p.value.size(1);
  for (int64_t c = 0; c < s.row_elems; ++c)
    out.push_back(p.neuron_axis == 0 ? neuron * cols + c : c * cols + neuron);
  return out;
}

TEST(StatePartition, AdamWSplitOverRanksEqualsTheWholeUpdateBitForBit) {
  const AdamWConfig config{0.9f, 0.95f, 1e-8f, 0.1f};
  std::vector<Parameter> whole = make_params();
  AdamW reference(pointers(whole), config);
  for (int step = 0; step < 3; ++step) {
    set_gradients(whole, step);
    reference.step(1e-2f, 0.8f);
  }
  for (int S : {2, 3, 4}) {
    std::vector<std::vector<Parameter>> ranks(static_cast<size_t>(S));
    std::vector<std::unique_ptr<AdamW>> optimizers;
    for (int r = 0; r < S; ++r) {
      ranks[size_t(r)] = make_params();
      optimizers.push_back(
          std::make_unique<AdamW>(pointers(ranks[size_t(r)]), config, StatePartition{r, S}));
    }
    for (int step = 0; step < 3; ++step) {
      for (int r = 0; r < S; ++r) {
        set_gradients(ranks[size_t(r)], step);
        optimizers[size_t(r)]->step(1e-2f, 0.8f);
      }
      // The all-gather: each rank's rows, as its update left them, into every other rank.
      for (size_t i = 0; i < whole.size(); ++i)
        for (int owner = 0; owner < S; ++owner) {
          const std::vector<float> src = ranks[size_t(owner)][i].value.to_floats();
          const RowRange rows = optimizers[size_t(owner)]->owned_rows(ranks[size_t(owner)][i]);
          for (int r = 0; r < S; ++r) {
            if (r == owner) continue;
            Parameter& dst = ranks[size_t(r)][i];
            std::vector<float> v = dst.value.to_floats();
            for (int64_t row = rows.begin; row < rows.begin + rows.count; ++row)
              for (int64_t e : entries_of_row(dst, row)) v[size_t(e)] = src[size_t(e)];
            dst.value.copy_from(Tensor::from_floats(v, dst.value.shape()));
          }
        }
    }
    for (int r = 0; r < S; ++r)
      for (size_t i = 0; i < whole.size(); ++i)
        EXPECT_EQ(ranks[size_t(r)][i].value.to_floats(), whole[i].value.to_floats())
            << whole[i].name << " on rank " << r << " of " << S;
    // The state: each rank's rows of each tensor, in rank order, are the whole state.
    const auto want = reference.state();
    for (size_t t = 0; t < want.size(); ++t) {
      std::vector<float> joined;
      for (int r = 0; r < S; ++r) {
        const auto part = optimizers[size_t(r)]->state()[t];
        EXPECT_EQ(part.first, want[t].first);
        const std::vector<float> v = part.second.to_floats();
        joined.insert(joined.end(), v.begin(), v.end());
      }
      EXPECT_EQ(joined, want[t].second.to_floats()) << want[t].first << " over " << S;
    }
    EXPECT_EQ(optimizers[0]->trained_parameters(), reference.trained_parameters());
  }
}

}  // namespace
}  // namespace neft::optim
