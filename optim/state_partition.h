// The distributed optimizer's split of the training state (ZeRO-1, as Megatron-core's
// DistributedOptimizer does it): the rows of each trainable parameter's gradient (compact
// [K, C] for a neuron-level one, its elements for a 1-D one) are divided over the
// data-parallel ranks in contiguous ranges, as even as they go: the first rows % size ranks
// own one row more. A rank keeps f32 master rows and moments for its own rows only, receives
// the sum of those rows' gradients (a reduce-scatter) and sends their updated values to the
// others (an all-gather): optim/distributed_optimizer.h.
//
// Why each parameter's rows rather than Megatron's ranges of one flat buffer: a row is one
// neuron's state, so a neuron-level update stays row by row, and a rank's share of a tensor
// is a box (or a set of neurons) that a checkpoint index names without a flattened-range
// format. The price is that every rank owns a piece of every parameter, so the collectives
// are packed per bucket, each rank's pieces padded to the largest share (rank 0's): at most
// one row per parameter of the bucket.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/parameter.h"

namespace neft::optim {

struct RowRange {
  int64_t begin = 0, count = 0;
};

// Rank `rank`'s rows of `rows` split over `size` ranks.
inline RowRange owned_rows(int64_t rows, int size, int rank) {
  const int64_t base = rows / size, extra = rows % size;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

// A parameter's optimizer-state rows and the elements in each (its gradient's shape).
struct StateShape {
  int64_t rows = 0, row_elems = 0;
};
inline StateShape state_shape(const Parameter& p) {
  const Shape s = p.grad_shape();
  if (s.size() == 1) return {s[0], 1};
  int64_t elems = 1;
  for (size_t d = 1; d < s.size(); ++d) elems *= s[d];
  return {s[0], elems};
}

// This rank's place in the data-parallel group the state is split over; {0, 1}: not split.
struct StatePartition {
  int rank = 0, size = 1;
  bool split() const { return size > 1; }
  RowRange of(const Parameter& p) const { return owned_rows(state_shape(p).rows, size, rank); }
};

// Consecutive parameters of one collective, grouped as parallel/grad_sync.h groups the
// all-reduced gradients (until a bucket's f32 gradients reach bucket_bytes). `block` is the
// elements of the largest share any rank owns in it (rank 0's): every rank's share is packed
// into a block of that size.
struct StateBucket {
  size_t first = 0, end = 0;  // [first, end) of the parameter list
  int64_t block = 0;
};
inline std::vector<StateBucket> state_buckets(const std::vector<StateShape>& shapes, int size,
                                              size_t bucket_bytes) {
  std::vector<StateBucket> out;
  StateBucket b;
  int64_t numel = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    numel += shapes[i].rows * shapes[i].row_elems;
    b.block += owned_rows(shapes[i].rows, size, 0).count * shapes[i].row_elems;
    b.end = i + 1;
    if (size_t(numel) * sizeof(float) >= bucket_bytes) {
      out.push_back(b);
      b = {i + 1, i + 1, 0};
      numel = 0;
    }
  }
  if (b.end > b.first) out.push_back(b);
  return out;
}

}  // namespace neft::optim
