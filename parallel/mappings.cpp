#include "parallel/mappings.h"

#include <algorithm>
#include <vector>

#include "runtime/ops/gather_scatter.h"

namespace neft::parallel {

void copy_to_tp_backward(Tensor& dx, Communicator& tp) { tp.all_reduce(dx); }

void reduce_from_tp_forward(Tensor& y, Communicator& tp) { tp.all_reduce(y); }

void gather_from_sp_forward(const Tensor& shard, Tensor& whole, Communicator& tp) {
  tp.all_gather(shard, whole);
}

void gather_from_sp_backward(const Tensor& dwhole, Tensor& dshard, Communicator& tp) {
  tp.reduce_scatter(dwhole, dshard);
}

namespace {

// full [..., S * c] and shard [..., c], S = the group's size; returns c.
int64_t check_split(const char* op, const Tensor& full, const Tensor& shard,
                    const Communicator& tp) {
  NEFT_CHECK(full.defined() && shard.defined(), op, ": undefined tensor");
  const int64_t columns = full.size(-1);
  if (columns % tp.size() != 0)
    fail(op, ": last dimension ", columns, " of ", full.str(), " is not divisible by tp ",
         tp.size());
  Shape expected = full.shape();
  expected.back() = columns / tp.size();
  if (shard.shape() != expected || shard.dtype() != full.dtype())
    fail(op, ": shard ", shard.str(), " must be ", dtype_name(full.dtype()), shape_str(expected),
         " for ", full.str(), " at tp ", tp.size());
  return expected.back();
}

Tensor index(const std::vector<int32_t>& idx, Device device) {
  return Tensor::from_ints(idx, {int64_t(idx.size())}, device);
}

}  // namespace

void scatter_to_tp(const Tensor& full, Tensor& shard, Communicator& tp) {
  const int64_t c = check_split("scatter_to_tp", full, shard, tp);
  if (tp.size() == 1) return shard.copy_from(full);
  const int64_t rows = shard.numel() / std::max<int64_t>(c, 1);
  // Viewed as [rows * tp, c], full's row n * tp + r is rank r's part of row n.
  std::vector<int32_t> idx;
  for (int64_t n = 0; n < rows; ++n) idx.push_back(int32_t(n * tp.size() + tp.rank()));
  Tensor out = shard.view({rows, c});
  ops::gather_rows(full.view({rows * tp.size(), c}), index(idx, full.device()), out);
}

void gather_from_tp(const Tensor& shard, Tensor& full, Communicator& tp) {
  const int64_t c = check_split("gather_from_tp", full, shard, tp);
  if (tp.size() == 1) return full.copy_from(shard);
  const int64_t rows = shard.numel() / std::max<int64_t>(c, 1);
  const int ranks = tp.size();
  // All-gather stacks the shards rank by rank: row r * rows + n is rank r's part of row n.
  Tensor stacked = Tensor::empty({ranks * rows, c}, shard.dtype(), shard.device());
  tp.all_gather(shard.view({rows, c}), stacked);
  std::vector<int32_t> idx;  // full row n * ranks + r <- stacked row r * rows + n
  for (int64_t n = 0; n < rows; ++n)
    for (int r = 0; r < ranks; ++r) idx.push_back(int32_t(r * rows + n));
  Tensor out = full.view({rows * ranks, c});
  ops::gather_rows(stacked, index(idx, full.device()), out);
}

}  // namespace neft::parallel
