// The tensor-parallel mappings over a tp group of the whole world: scatter and gather along
// the last dimension undo each other, and the copy/reduce pair makes a column-parallel then
// row-parallel linear pair equal the unsharded one, forward and backward.
#include <gtest/gtest.h>

#include <cmath>

#include "helpers.h"
#include "parallel/mappings.h"
#include "parallel/process_groups.h"
#include "runtime/ops/gemm.h"

namespace neft::parallel {
namespace {

using testing::error_of;
using testing::rank_values;
using testing::world_rank;
using testing::world_size;

std::unique_ptr<Communicator> tp_of_world() {
  return std::move(make_process_groups(world_size(), 1, Backend::MPI).tp);
}

TEST(Mappings, ScatterKeepsThisRanksColumnsAndGatherRestoresTheWhole) {
  auto tp = tp_of_world();
  const int S = tp->size();
  for (const Shape& shard_shape : {Shape{5, 3}, Shape{2, 3, 2}, Shape{4}}) {
    Shape full_shape = shard_shape;
    full_shape.back() *= S;
    int64_t numel = 1;
    for (int64_t d : full_shape) numel *= d;
    const Tensor full = Tensor::from_floats(rank_values(7, numel), full_shape);
    Tensor shard = Tensor::empty(shard_shape, DType::F32);
    scatter_to_tp(full, shard, *tp);

    const int64_t c = shard_shape.back(), rows = shard.numel() / c;
    const std::vector<float> all = full.to_floats(), part = shard.to_floats();
    for (int64_t n = 0; n < rows; ++n)
      for (int64_t j = 0; j < c; ++j)
        ASSERT_EQ(part[size_t(n * c + j)], all[size_t(n * c * S + tp->rank() * c + j)])
            << shape_str(shard_shape) << " row " << n << " column " << j;

    Tensor back = Tensor::zeros(full_shape, DType::F32);
    gather_from_tp(shard, back, *tp);
    EXPECT_EQ(back.to_floats(), all) << shape_str(shard_shape);
  }
}

TEST(Mappings, GatherPlacesEachRanksShardInItsColumns) {
  auto tp = tp_of_world();
  const int S = tp->size(), rows = 3, c = 2;
  const Tensor shard = Tensor::from_floats(rank_values(tp->rank(), rows * c), {rows, c});
  Tensor full = Tensor::empty({rows, S * c}, DType::F32);
  gather_from_tp(shard, full, *tp);
  std::vector<float> expected;
  for (int n = 0; n < rows; ++n)
    for (int r = 0; r < S; ++r)
      for (int j = 0; j < c; ++j) expected.push_back(rank_values(r, rows * c)[size_t(n * c + j)]);
  EXPECT_EQ(full.to_floats(), expected);
}

TEST(Mappings, ShapesThatDoNotSplitAreOneLineErrors) {
  auto tp = tp_of_world();
  const int S = tp->size();
  const Tensor full = Tensor::zeros({2, 3 * S}, DType::F32);
  Tensor bad_shard = Tensor::empty({2, 4}, DType::F32);
  EXPECT_EQ(error_of([&] { scatter_to_tp(full, bad_shard, *tp); }),
            "scatter_to_tp: shard f32[2, 4] cpu must be f32[2, 3] for " + full.str() + " at tp " +
                std::to_string(S));
  if (S == 1) return;  // every width divides by one
  const Tensor odd = Tensor::zeros({2, 3 * S + 1}, DType::F32);
  Tensor shard = Tensor::empty({2, 3}, DType::F32);
  EXPECT_EQ(error_of([&] { scatter_to_tp(odd, shard, *tp); }),
            "scatter_to_tp: last dimension " + std::to_string(3 * S + 1) + " of " + odd.str() +
                " is not divisible by tp " + std::to_string(S));
  Tensor odd_out = odd;
  EXPECT_NE(
      error_of([&] { gather_from_tp(shard, odd_out, *tp); }).find("gather_from_tp: last dimension"),
      std::string::npos);
}

// y = (x A^T) B^T with A [F, H] split by rows (column-parallel) and B [H, F] by columns
// (row-parallel), and dx for a given dy, both against the unsharded computation.
TEST(Mappings, CopyAndReduceMakeColumnThenRowParallelEqualTheDenseLayers) {
  auto tp = tp_of_world();
  const int S = tp->size();
  const int N = 3, H = 5, f = 2, F = f * S;
  auto filled = [](Shape shape, int seed) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = std::sin(0.7f * float(i) + float(seed));
    return Tensor::from_floats(v, shape);
  };
  const Tensor x = filled({N, H}, 1), A = filled({F, H}, 2), B = filled({H, F}, 3);
  const Tensor dy = filled({N, H}, 4);

  // Dense reference.
  Tensor z = Tensor::empty({N, F}, DType::F32), y = Tensor::empty({N, H}, DType::F32);
  ops::gemm(x, false, A, true, z);
  ops::gemm(z, false, B, true, y);
  Tensor dz = Tensor::empty({N, F}, DType::F32), dx = Tensor::empty({N, H}, DType::F32);
  ops::gemm(dy, false, B, false, dz);
  ops::gemm(dz, false, A, false, dx);

  // This rank's shards: rows of A, columns of B.
  const Tensor A_r = A.rows(tp->rank() * f, f).clone();
  Tensor B_r = Tensor::empty({H, f}, DType::F32);
  scatter_to_tp(B, B_r, *tp);

  Tensor x_in = x.clone();
  copy_to_tp_forward(x_in, *tp);
  Tensor z_r = Tensor::empty({N, f}, DType::F32), y_r = Tensor::empty({N, H}, DType::F32);
  ops::gemm(x_in, false, A_r, true, z_r);
  ops::gemm(z_r, false, B_r, true, y_r);  // a partial sum of y
  reduce_from_tp_forward(y_r, *tp);

  Tensor dy_in = dy.clone();
  reduce_from_tp_backward(dy_in, *tp);
  Tensor dz_r = Tensor::empty({N, f}, DType::F32), dx_r = Tensor::empty({N, H}, DType::F32);
  ops::gemm(dy_in, false, B_r, false, dz_r);
  ops::gemm(dz_r, false, A_r, false, dx_r);  // a partial sum of dx
  copy_to_tp_backward(dx_r, *tp);

  const std::vector<float> y_ref = y.to_floats(), y_tp = y_r.to_floats();
  const std::vector<float> dx_ref = dx.to_floats(), dx_tp = dx_r.to_floats();
  for (size_t i = 0; i < y_ref.size(); ++i) {
    EXPECT_NEAR(y_tp[i], y_ref[i], 1e-5f) << "y[" << i << "]";
    EXPECT_NEAR(dx_tp[i], dx_ref[i], 1e-5f) << "dx[" << i << "]";
  }
}

}  // namespace
}  // namespace neft::parallel
