// The distributed optimizer's collectives (optim/distributed_optimizer.h) at whatever world
// size mpirun gives, on parameters of every kind (dense, 1-D, neuron-level rows and columns,
// frozen) with buckets small enough that they split the list: after the reduce-scatter each
// rank's owned rows hold the sum over the ranks (integer-valued, so every summation order is
// exact) and nothing else is read; after the all-gather every rank holds each owner's rows,
// and the entries of a neuron-level weight outside its selected neurons are untouched.
#include <gtest/gtest.h>

#include "helpers.h"
#include "optim/distributed_optimizer.h"
#include "parallel/process_groups.h"

namespace neft::optim {
namespace {

using parallel::testing::world_rank;
using parallel::testing::world_size;

std::vector<float> filled(int64_t n, float first, float step) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = first + step * float(i);
  return v;
}

std::vector<Parameter> make_params() {
  std::vector<Parameter> ps(5);
  ps[0] = {"dense", Tensor::from_floats(filled(7 * 3, 0, 1), {7, 3})};
  ps[1] = {"norm", Tensor::from_floats(filled(5, 0, 1), {5})};
  ps[2] = {"rows", Tensor::from_floats(filled(6 * 4, 0, 1), {6, 4})};
  ps[2].neuron_index = Tensor::from_ints({0, 2, 5}, {3});
  ps[3] = {"cols", Tensor::from_floats(filled(4 * 6, 0, 1), {4, 6})};
  ps[3].neuron_index = Tensor::from_ints({1, 3, 4, 5}, {4});
  ps[3].neuron_axis = 1;
  ps[4] = {"frozen", Tensor::from_floats(filled(3, 0, 1), {3})};
  ps[4].trainable = false;
  return ps;
}

// Rank r's gradient of parameter i: whole numbers, so the sum is exact in any order.
std::vector<float> gradient_of(int rank, size_t i, int64_t n) {
  return filled(n, float(100 * rank + 10 * int(i)), 1);
}

TEST(DistributedOptimizer, GradientsReduceScatterAndParametersAllGatherByOwnedRows) {
  auto world = std::move(parallel::make_process_groups(1, 1, parallel::Backend::MPI).world);
  const int S = world_size(), me = world_rank();
  constexpr size_t kBucketBytes = 64;  // 16 f32 elements: several buckets
  std::vector<Parameter> ps = make_params();
  ParameterList list;
  for (Parameter& p : ps) list.push_back(&p);
  for (size_t i = 0; i < 4; ++i) {
    const Shape shape = ps[i].grad_shape();
    const int64_t n = shape.size() == 1 ? shape[0] : shape[0] * shape[1];
    ps[i].grad = Tensor::from_floats(gradient_of(me, i, n), shape);
  }

  reduce_scatter_gradients(list, *world, kBucketBytes);
  for (size_t i = 0; i < 4; ++i) {
    const StateShape s = state_shape(ps[i]);
    const int64_t n = s.rows * s.row_elems;
    std::vector<float> sum(size_t(n), 0.0f);
    for (int r = 0; r < S; ++r) {
      const std::vector<float> g = gradient_of(r, i, n);
      for (int64_t e = 0; e < n; ++e) sum[size_t(e)] += g[size_t(e)];
    }
    const RowRange mine = owned_rows(s.rows, S, me);
    const std::vector<float> got = ps[i].grad.to_floats();
    for (int64_t e = mine.begin * s.row_elems; e < (mine.begin + mine.count) * s.row_elems; ++e)
      EXPECT_EQ(got[size_t(e)], sum[size_t(e)]) << ps[i].name << "[" << e << "]";
  }

  // Each rank writes 1000 (rank + 1) + the entry's index into the rows it owns.
  const std::vector<Parameter> before = make_params();
  auto owner_value = [](int r, int64_t e) { return float(1000 * (r + 1)) + float(e); };
  auto entries = [](const Parameter& p, int64_t row) {
    const StateShape s = state_shape(p);
    std::vector<int64_t> out;
    for (int64_t c = 0; c < s.row_elems; ++c) {
      if (!p.neuron_level()) {
        out.push_back(row * s.row_elems + c);
        continue;
      }
      const int64_t neuron = p.neuron_index.to_ints()[size_t(row)], cols = p.value.size(1);
      out.push_back(p.neuron_axis == 0 ? neuron * cols + c : c * cols + neuron);
    }
    return out;
  };
  for (size_t i = 0; i < 4; ++i) {
    std::vector<float> v = ps[i].value.to_floats();
    const RowRange mine = owned_rows(state_shape(ps[i]).rows, S, me);
    for (int64_t row = mine.begin; row < mine.begin + mine.count; ++row)
      for (int64_t e : entries(ps[i], row)) v[size_t(e)] = owner_value(me, e);
    ps[i].value.copy_from(Tensor::from_floats(v, ps[i].value.shape()));
  }
  all_gather_parameters(list, *world, kBucketBytes);
  for (size_t i = 0; i < ps.size(); ++i) {
    std::vector<float> want = before[i].value.to_floats();
    if (ps[i].trainable)
      for (int r = 0; r < S; ++r) {
        const RowRange rows = owned_rows(state_shape(ps[i]).rows, S, r);
        for (int64_t row = rows.begin; row < rows.begin + rows.count; ++row)
          for (int64_t e : entries(ps[i], row)) want[size_t(e)] = owner_value(r, e);
      }
    EXPECT_EQ(ps[i].value.to_floats(), want) << ps[i].name;
  }
}

}  // namespace
}  // namespace neft::optim
